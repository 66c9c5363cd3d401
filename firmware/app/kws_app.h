/* The application: the wake-word loop wired to the generated model (kws_model_invoke, its
 * detector settings and MFCC tables), with static buffers only, sized by the generated headers.
 * Plain C: the host demo (examples/demo), the verify stage's harness and the Cortex-M target
 * check link the same file. */
#ifndef KWS_APP_H
#define KWS_APP_H

#include <stdint.h>

#include "kws_wakeword.h"

/* Samples the audio ring holds: a power of two, several strides. */
#define KWS_APP_AUDIO_CAPACITY 4096

/* Starts the loop over the generated model with its detector settings; on_detection gets
 * each event. Returns KWS_OK or the failing call's status. */
kws_status_t kws_app_init(kws_on_detection_fn on_detection, void *user);

/* Feeds n samples (any n) through the audio ring and processes them. */
kws_status_t kws_app_feed(const int16_t *samples, int32_t n);

/* The loop's counters (frames, inferences, detections so far). */
const kws_wakeword_t *kws_app_state(void);

#endif /* KWS_APP_H */
