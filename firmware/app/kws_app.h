/* The application: the wake-word loop wired to the generated model (its detector settings and
 * MFCC tables), with static buffers only, sized by the generated headers. Plain C: the host demo
 * (examples/demo), the verify stage's harness and the Cortex-M target check link the same file.
 *
 * The model path, by the generated kws_model.h (KWS_APP_STREAMING; a build may set it with -D):
 *   KWS_APP_STREAMING 1  (default when KWS_MODEL_STREAMING is 1) kws_model_step every
 *                        KWS_MODEL_STEP_FRAMES frames; features buffer [KWS_MODEL_STEP_FRAMES]
 *                        [coeffs]; the network's state is kws_model.c's (KWS_MODEL_STATE_BYTES)
 *   KWS_APP_STREAMING 0  (default otherwise) kws_model_invoke on a window [KWS_MODEL_INPUT_FRAMES]
 *                        [coeffs] every KWS_INFER_EVERY_FRAMES frames
 * Both give the same detection events for a streaming network (its detector settings infer
 * every KWS_MODEL_STEP_FRAMES frames). */
#ifndef KWS_APP_H
#define KWS_APP_H

#include <stdint.h>

#include "kws_model.h"
#include "kws_wakeword.h"

#ifndef KWS_APP_STREAMING
#define KWS_APP_STREAMING KWS_MODEL_STREAMING
#endif

/* Samples the audio ring holds: a power of two, several strides. */
#define KWS_APP_AUDIO_CAPACITY 4096

/* Starts the loop over the generated model with its detector settings; on_detection gets
 * each event. Returns KWS_OK or the failing call's status. */
kws_status_t kws_app_init(kws_on_detection_fn on_detection, void *user);

/* Feeds n samples (any n) through the audio ring and processes them. */
kws_status_t kws_app_feed(const int16_t *samples, int32_t n);

/* Back to the start: the loop and the model as kws_app_init left them (kws_wakeword_reset);
 * frame indices restart at 0. */
kws_status_t kws_app_reset(void);

/* The loop's counters (frames, inferences, detections so far). */
const kws_wakeword_t *kws_app_state(void);

#endif /* KWS_APP_H */
