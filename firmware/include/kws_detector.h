/* Wake-word recogniser: int8 logits per inference in, detection events out.
 *
 * The numpy golden model kws/detector.py (Recognizer, softmax_u8) defines every integer this code
 * produces; the steps are documented there and mirrored in src/kws_detector.c:
 *
 *   1. integer softmax  d = max(l) - l[c]; e = exp_lut[d]; sum = Σ e (>= 32767);
 *                       p[c] = (e * 255 + sum / 2) / sum                      (uint8)
 *   2. smoothing        the last average_window p vectors in a ring; n = min(inferences, W);
 *                       smoothed[c] = (Σ p[c] + n / 2) / n                    (uint8)
 *   3. decision         top = argmax smoothed (ties → lowest index); fire when n >= min_count,
 *                       is_keyword[top], smoothed[top] >= threshold, and nothing fired yet or
 *                       frame_index - previous detection's frame >= suppression_frames
 *                       (uint32 arithmetic, so the frame counter may wrap).
 *
 * exp_lut comes from Python (kws.detector.make_exp_lut: round(32767 * exp(-d * output_scale))).
 * No heap: the ring is a fixed array in the state, sized by the macros below.
 */
#ifndef KWS_DETECTOR_H
#define KWS_DETECTOR_H

#include <stdint.h>

#include "kws_limits.h" /* KWS_DETECTOR_MAX_CLASSES, _MAX_WINDOW, _EXP_LUT_LEN, _EXP_ONE, _P_ONE */
#include "kws_status.h"

typedef struct {
    int32_t n_classes;                          /* [1, KWS_DETECTOR_MAX_CLASSES] */
    uint8_t is_keyword[KWS_DETECTOR_MAX_CLASSES]; /* 0 for _silence_ and _unknown_ */
    int32_t average_window;                     /* W in inferences, [1, KWS_DETECTOR_MAX_WINDOW] */
    int32_t min_count;                          /* [1, average_window] */
    int32_t threshold;                          /* [0, 255] */
    int32_t suppression_frames;                 /* >= 0 */
    int32_t infer_every;                        /* K frames between inferences, >= 1 (the loop's) */
    uint16_t exp_lut[KWS_DETECTOR_EXP_LUT_LEN]; /* [0] == 32767, all <= 32767 */
} kws_detector_settings_t;

/* A detection: what the responder receives. */
typedef struct {
    uint32_t frame_index;   /* newest MFCC frame of the window that fired */
    int32_t label;          /* class index */
    int32_t score;          /* smoothed probability of that class, 0..255 */
} kws_detection_t;

/* Recogniser state. settings is referenced, not copied: keep it alive and unchanged. */
typedef struct {
    const kws_detector_settings_t *settings;
    uint8_t ring[KWS_DETECTOR_MAX_WINDOW][KWS_DETECTOR_MAX_CLASSES]; /* p vectors */
    uint32_t sum[KWS_DETECTOR_MAX_CLASSES];     /* Σ over the n held vectors */
    int32_t head;                               /* ring slot the next vector goes to */
    int32_t n;                                  /* vectors held: min(inferences, W) */
    int32_t has_fired;
    uint32_t last_fire_frame;
} kws_detector_t;

/* Checks the settings (KWS_ERR_ARG if out of range) and starts with nothing held. */
kws_status_t kws_detector_init(kws_detector_t *state, const kws_detector_settings_t *settings);

/* Step 1 alone: logits [n_classes] → p [n_classes]. */
kws_status_t kws_detector_softmax(const kws_detector_settings_t *settings, const int8_t *logits,
                                  uint8_t *p);

/* One inference: logits [n_classes] of the window ending at frame_index. *fired is set to 1 and
 * *event filled when it fires, else *fired = 0 (event untouched). */
kws_status_t kws_detector_push(kws_detector_t *state, uint32_t frame_index, const int8_t *logits,
                               int32_t *fired, kws_detection_t *event);

#endif /* KWS_DETECTOR_H */
