/* Wake-word recogniser. Each step mirrors kws/detector.py (the reference); the step numbers are
 * the ones documented there and in kws_detector.h. All arithmetic is uint32 and exact:
 * e * 255 + sum / 2 <= 32767 * (255 + MAX_CLASSES), Σ p <= 255 * MAX_WINDOW. */
#include "kws_detector.h"

#include <stddef.h>
#include <string.h>

kws_status_t kws_detector_init(kws_detector_t *state, const kws_detector_settings_t *s)
{
    int32_t i;
    if (state == NULL || s == NULL || s->n_classes < 1 || s->n_classes > KWS_DETECTOR_MAX_CLASSES ||
        s->average_window < 1 || s->average_window > KWS_DETECTOR_MAX_WINDOW ||
        s->min_count < 1 || s->min_count > s->average_window || s->threshold < 0 ||
        s->threshold > KWS_DETECTOR_P_ONE || s->suppression_frames < 0 || s->infer_every < 1 ||
        s->exp_lut[0] != KWS_DETECTOR_EXP_ONE) {
        return KWS_ERR_ARG;
    }
    for (i = 1; i < KWS_DETECTOR_EXP_LUT_LEN; i++) {
        if (s->exp_lut[i] > KWS_DETECTOR_EXP_ONE) {
            return KWS_ERR_ARG;
        }
    }
    memset(state, 0, sizeof(*state));
    state->settings = s;
    return KWS_OK;
}

/* Step 1. */
kws_status_t kws_detector_softmax(const kws_detector_settings_t *s, const int8_t *logits,
                                  uint8_t *p)
{
    int32_t c;
    int32_t max_l = -128;
    uint32_t sum = 0;
    if (s == NULL || logits == NULL || p == NULL || s->n_classes < 1 ||
        s->n_classes > KWS_DETECTOR_MAX_CLASSES) {
        return KWS_ERR_ARG;
    }
    for (c = 0; c < s->n_classes; c++) {
        if (logits[c] > max_l) {
            max_l = logits[c];
        }
    }
    for (c = 0; c < s->n_classes; c++) {
        sum += s->exp_lut[max_l - logits[c]];
    }
    /* sum >= exp_lut[0] = 32767 > 0: the maximum contributes it. */
    for (c = 0; c < s->n_classes; c++) {
        const uint32_t e = s->exp_lut[max_l - logits[c]];
        p[c] = (uint8_t)((e * (uint32_t)KWS_DETECTOR_P_ONE + sum / 2u) / sum);
    }
    return KWS_OK;
}

kws_status_t kws_detector_push(kws_detector_t *state, uint32_t frame_index, const int8_t *logits,
                               int32_t *fired, kws_detection_t *event)
{
    uint8_t p[KWS_DETECTOR_MAX_CLASSES];
    const kws_detector_settings_t *s;
    int32_t c;
    int32_t top = 0;
    uint32_t top_score = 0;
    if (state == NULL || state->settings == NULL || logits == NULL || fired == NULL ||
        event == NULL) {
        return KWS_ERR_ARG;
    }
    s = state->settings;
    *fired = 0;
    kws_detector_softmax(s, logits, p);

    /* Step 2: the ring holds the last n <= W vectors; replace the oldest once full. */
    uint8_t *slot = state->ring[state->head];
    const uint32_t n = (uint32_t)(state->n < s->average_window ? state->n + 1 : state->n);
    for (c = 0; c < s->n_classes; c++) {
        if ((uint32_t)state->n == n) {          /* full: slot holds the oldest vector */
            state->sum[c] -= slot[c];
        }
        slot[c] = p[c];
        state->sum[c] += p[c];
    }
    state->n = (int32_t)n;
    state->head = state->head + 1 == s->average_window ? 0 : state->head + 1;

    /* Step 3. */
    for (c = 0; c < s->n_classes; c++) {
        const uint32_t smoothed = (state->sum[c] + n / 2u) / n;
        if (c == 0 || smoothed > top_score) {
            top = c;
            top_score = smoothed;
        }
    }
    if (state->n >= s->min_count && s->is_keyword[top] && top_score >= (uint32_t)s->threshold &&
        (!state->has_fired ||
         frame_index - state->last_fire_frame >= (uint32_t)s->suppression_frames)) {
        state->has_fired = 1;
        state->last_fire_frame = frame_index;
        event->frame_index = frame_index;
        event->label = top;
        event->score = (int32_t)top_score;
        *fired = 1;
    }
    return KWS_OK;
}
