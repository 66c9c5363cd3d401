/* A deterministic stand-in for the network, for host tests of the wake-word loop ONLY.
 *
 * Not a model of anything: four classes from two feature means, so that different audio gives
 * different classes (silence → 0 "_silence_", loud broadband noise → 1 "_unknown_",
 * low tones → 2, high tones → 3). kws/toolchain/detector_harness.py implements the same integers
 * in numpy (standin_logits); a real build links the generated kws_model_invoke instead
 * (kws_detector_tool.c, KWS_TOOL_INVOKE).
 *
 *   a[f][k] = features[f][k] - KWS_MFCC_OUT_ZERO_POINT          (k = 0, 1; f < F)
 *   m_k     = floor(Σ_f a[f][k] / F)
 *   logits  = clamp([-m0 - 120, m0 + 20, 2*m1 - 30, -3*m1 - 50], -128, 127)
 */
#include <stddef.h>
#include <stdint.h>

#include "kws_mfcc_tables.h"
#include "kws_status.h"

#define STANDIN_FRAMES KWS_MFCC_FRAMES_PER_CLIP
#define STANDIN_N_CLASSES 4

kws_status_t kws_standin_invoke(const int8_t *features, int8_t *logits);

static int32_t floor_div(int32_t a, int32_t b) /* b > 0 */
{
    int32_t q = a / b;
    if (a % b != 0 && a < 0) {
        q--;
    }
    return q;
}

static int8_t clamp8(int32_t x)
{
    return (int8_t)(x < -128 ? -128 : x > 127 ? 127 : x);
}

kws_status_t kws_standin_invoke(const int8_t *features, int8_t *logits)
{
    int32_t s0 = 0;
    int32_t s1 = 0;
    int32_t f;
    if (features == NULL || logits == NULL) {
        return KWS_ERR_ARG;
    }
    for (f = 0; f < STANDIN_FRAMES; f++) {
        s0 += features[f * KWS_MFCC_N_OUT] - KWS_MFCC_OUT_ZERO_POINT;
        s1 += KWS_MFCC_N_OUT > 1 ? features[f * KWS_MFCC_N_OUT + 1] - KWS_MFCC_OUT_ZERO_POINT : 0;
    }
    const int32_t m0 = floor_div(s0, STANDIN_FRAMES);
    const int32_t m1 = floor_div(s1, STANDIN_FRAMES);
    logits[0] = clamp8(-m0 - 120);
    logits[1] = clamp8(m0 + 20);
    logits[2] = clamp8(2 * m1 - 30);
    logits[3] = clamp8(-3 * m1 - 50);
    return KWS_OK;
}
