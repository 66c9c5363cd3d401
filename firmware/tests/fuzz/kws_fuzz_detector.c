/* Fuzz harness: the recogniser (kws_detector.h) over arbitrary logit sequences.
 *
 * An input draws settings -- classes, which are keywords, the averaging window, min_count,
 * threshold, suppression (up to INT32_MAX frames), an exp table (make_exp_lut's shape for a
 * random scale, or arbitrary values with [0] = 32767) -- then up to 200 inferences: int8 logits
 * (the input's bytes, all equal, one class far above the rest) at frame indices that grow by
 * steps of 1 to 64, rarely up to 2^31 (so the uint32 counter may wrap). About one input in
 * eight breaks one setting instead: kws_detector_init must return KWS_ERR_ARG.
 *
 * Checks: every call returns KWS_OK; kws_detector_softmax and each push equal a plain reference
 * written here from the header's three steps (softmax, moving average, decision); an event is a
 * keyword at or above the threshold. Recorded: "settings" (int32: n_classes, average_window,
 * min_count, threshold, suppression_frames, infer_every), "is_keyword" (uint8), "exp_lut"
 * (uint16), "frames" (uint32), "logits" (int8 [n][classes]), "p" (uint8 [n][classes]), "events"
 * (int64 [k][3]: inference, label, score); kws.toolchain.fuzz replays them through
 * kws.golden.detector (inputs whose frame counter wrapped are not compared: the golden
 * Recognizer counts frames in int64). */
#include <string.h>

#include "kws_detector.h"
#include "kws_fuzz.h"

const char kws_fuzz_name[] = "detector";

#define MAX_PUSHES 200

static int8_t logits[MAX_PUSHES][KWS_DETECTOR_MAX_CLASSES];
static uint8_t probs[MAX_PUSHES][KWS_DETECTOR_MAX_CLASSES];
static uint32_t frames[MAX_PUSHES];
static int64_t events[MAX_PUSHES][3];

/* The reference's state: the header's steps, written out plainly. */
typedef struct {
    uint8_t held[KWS_DETECTOR_MAX_WINDOW][KWS_DETECTOR_MAX_CLASSES]; /* oldest first */
    int32_t n;
    int fired_before;
    uint32_t last_fire;
} reference_t;

static void reference_softmax(const kws_detector_settings_t *s, const int8_t *l, uint8_t *p)
{
    int32_t c, max = -128;
    uint64_t sum = 0;
    for (c = 0; c < s->n_classes; c++) {
        max = l[c] > max ? l[c] : max;
    }
    for (c = 0; c < s->n_classes; c++) {
        sum += s->exp_lut[max - l[c]];
    }
    for (c = 0; c < s->n_classes; c++) {
        p[c] = (uint8_t)(((uint64_t)s->exp_lut[max - l[c]] * 255 + sum / 2) / sum);
    }
}

/* One inference; returns 1 and the label and score when it fires. */
static int reference_push(reference_t *r, const kws_detector_settings_t *s, uint32_t frame,
                          const uint8_t *p, int32_t *label, int32_t *score)
{
    int32_t c, i, top = 0;
    uint32_t smoothed[KWS_DETECTOR_MAX_CLASSES];
    if (r->n == s->average_window) {
        memmove(r->held[0], r->held[1], (size_t)(r->n - 1) * KWS_DETECTOR_MAX_CLASSES);
        r->n--;
    }
    memcpy(r->held[r->n++], p, (size_t)s->n_classes);
    for (c = 0; c < s->n_classes; c++) {
        uint32_t total = 0;
        for (i = 0; i < r->n; i++) {
            total += r->held[i][c];
        }
        smoothed[c] = (total + (uint32_t)r->n / 2) / (uint32_t)r->n;
        top = smoothed[c] > smoothed[top] ? c : top;
    }
    if (r->n >= s->min_count && s->is_keyword[top] && (int32_t)smoothed[top] >= s->threshold &&
        (!r->fired_before || frame - r->last_fire >= (uint32_t)s->suppression_frames)) {
        r->fired_before = 1;
        r->last_fire = frame;
        *label = top;
        *score = (int32_t)smoothed[top];
        return 1;
    }
    return 0;
}

static void draw_settings(kws_fuzz_input_t *in, kws_detector_settings_t *s)
{
    int32_t c, d;
    memset(s, 0, sizeof *s);
    s->n_classes = kws_fuzz_range(in, 1, KWS_DETECTOR_MAX_CLASSES);
    for (c = 0; c < s->n_classes; c++) {
        s->is_keyword[c] = (uint8_t)(kws_fuzz_u8(in) & 1);
    }
    s->average_window = kws_fuzz_u8(in) < 64 ? KWS_DETECTOR_MAX_WINDOW
                                            : kws_fuzz_range(in, 1, KWS_DETECTOR_MAX_WINDOW);
    s->min_count = kws_fuzz_range(in, 1, s->average_window);
    s->threshold = kws_fuzz_range(in, 0, KWS_DETECTOR_P_ONE);
    s->suppression_frames = kws_fuzz_u8(in) < 32 ? INT32_MAX : kws_fuzz_range(in, 0, 3000);
    s->infer_every = kws_fuzz_range(in, 1, 64);
    if (kws_fuzz_u8(in) < 192) { /* make_exp_lut's shape: 32767 * r^d, r from the input */
        const uint32_t r = (uint32_t)kws_fuzz_range(in, 0, 65535); /* Q16 */
        uint64_t v = (uint64_t)KWS_DETECTOR_EXP_ONE << 16;
        for (d = 0; d < KWS_DETECTOR_EXP_LUT_LEN; d++) {
            s->exp_lut[d] = (uint16_t)((v + 32768) >> 16);
            v = (v * r) >> 16;
        }
    } else {
        for (d = 0; d < KWS_DETECTOR_EXP_LUT_LEN; d++) {
            s->exp_lut[d] = (uint16_t)kws_fuzz_range(in, 0, KWS_DETECTOR_EXP_ONE);
        }
    }
    s->exp_lut[0] = KWS_DETECTOR_EXP_ONE;
}

/* Breaks one setting; the detector must refuse it. */
static void check_refuses(kws_fuzz_input_t *in, kws_detector_settings_t *s)
{
    kws_detector_t state;
    const uint8_t which = kws_fuzz_u8(in) % 9;
    switch (which) {
    case 0: s->n_classes = kws_fuzz_u8(in) & 1 ? 0 : KWS_DETECTOR_MAX_CLASSES + 1; break;
    case 1: s->average_window = kws_fuzz_u8(in) & 1 ? 0 : KWS_DETECTOR_MAX_WINDOW + 1; break;
    case 2: s->min_count = kws_fuzz_u8(in) & 1 ? 0 : s->average_window + 1; break;
    case 3: s->threshold = kws_fuzz_u8(in) & 1 ? -1 : KWS_DETECTOR_P_ONE + 1; break;
    case 4: s->suppression_frames = -1 - (int32_t)kws_fuzz_u8(in); break;
    case 5: s->infer_every = -(int32_t)kws_fuzz_u8(in); break;
    case 6: s->exp_lut[0] = (uint16_t)kws_fuzz_range(in, 0, KWS_DETECTOR_EXP_ONE - 1); break;
    case 7:
        s->exp_lut[kws_fuzz_range(in, 1, KWS_DETECTOR_EXP_LUT_LEN - 1)] =
            (uint16_t)kws_fuzz_range(in, KWS_DETECTOR_EXP_ONE + 1, 65535);
        break;
    default:
        KWS_FUZZ_CHECK(kws_detector_init(NULL, s) == KWS_ERR_ARG &&
                           kws_detector_init(&state, NULL) == KWS_ERR_ARG,
                       "kws_detector_init accepted a NULL");
        return;
    }
    KWS_FUZZ_CHECK(kws_detector_init(&state, s) == KWS_ERR_ARG,
                   "kws_detector_init accepted setting %d out of range", (int)which);
}

void kws_fuzz_one(const uint8_t *data, size_t size, kws_fuzz_record_t *rec)
{
    kws_fuzz_input_t in = {data, size, 0};
    kws_detector_settings_t s;
    kws_detector_t state;
    reference_t ref;
    int32_t n = 0, n_events = 0, c, wrapped = 0;
    uint32_t frame;
    const uint8_t head = kws_fuzz_u8(&in);

    draw_settings(&in, &s);
#ifdef KWS_FUZZ_PLANT /* tests/test_fuzz_c.py: a fault the engines must find, a read past logits */
    if (s.n_classes == 7 && s.threshold >= 200) {
        volatile size_t past = MAX_PUSHES;
        volatile int8_t v = logits[past][0];
        (void)v;
    }
#endif
    if (head % 8 == 7) {
        check_refuses(&in, &s);
        return;
    }
    KWS_FUZZ_CHECK(kws_detector_init(&state, &s) == KWS_OK, "kws_detector_init refused settings "
                   "in range");
    memset(&ref, 0, sizeof ref);
    frame = kws_fuzz_u8(&in) < 16 ? UINT32_MAX - (uint32_t)kws_fuzz_range(&in, 0, 1000)
                                  : (uint32_t)kws_fuzz_range(&in, 0, 100000);
    while (n < MAX_PUSHES && kws_fuzz_left(&in) > 0) {
        const uint8_t kind = kws_fuzz_u8(&in) % 4;
        const int32_t hot = kws_fuzz_range(&in, 0, s.n_classes - 1);
        const int8_t level = (int8_t)kws_fuzz_u8(&in);
        int32_t fired = -1, want_label = -1, want_score = -1;
        kws_detection_t event = {0, -1, -1};
        uint8_t p[KWS_DETECTOR_MAX_CLASSES];
        for (c = 0; c < s.n_classes; c++) {
            logits[n][c] = kind == 0   ? (int8_t)kws_fuzz_u8(&in)
                           : kind == 1 ? level
                           : kind == 2 ? (int8_t)(c == hot ? 127 : -128)
                                       : (int8_t)(c == hot ? level : (int8_t)kws_fuzz_u8(&in) / 4);
        }
        KWS_FUZZ_CHECK(kws_detector_softmax(&s, logits[n], p) == KWS_OK, "softmax failed");
        reference_softmax(&s, logits[n], probs[n]);
        KWS_FUZZ_CHECK(memcmp(p, probs[n], (size_t)s.n_classes) == 0,
                       "kws_detector_softmax differs from the reference at inference %ld",
                       (long)n);
        frames[n] = frame;
        KWS_FUZZ_CHECK(kws_detector_push(&state, frame, logits[n], &fired, &event) == KWS_OK,
                       "kws_detector_push failed");
        const int want = reference_push(&ref, &s, frame, probs[n], &want_label, &want_score);
        KWS_FUZZ_CHECK(fired == want, "inference %ld (frame %lu): fired %ld, the reference %d",
                       (long)n, (unsigned long)frame, (long)fired, want);
        if (fired) {
            KWS_FUZZ_CHECK(event.frame_index == frame && event.label == want_label &&
                               event.score == want_score && s.is_keyword[event.label] &&
                               event.score >= s.threshold && event.score <= 255,
                           "inference %ld: event (%lu, %ld, %ld), the reference (%lu, %ld, %ld)",
                           (long)n, (unsigned long)event.frame_index, (long)event.label,
                           (long)event.score, (unsigned long)frame, (long)want_label,
                           (long)want_score);
            events[n_events][0] = n;
            events[n_events][1] = event.label;
            events[n_events][2] = event.score;
            n_events++;
        }
        n++;
        {
            const uint32_t step = kws_fuzz_u8(&in) < 252 ? (uint32_t)kws_fuzz_range(&in, 1, 64)
                                                        : (uint32_t)kws_fuzz_range(&in, 1,
                                                                                   INT32_MAX);
            wrapped |= frame + step < frame;
            frame += step;
        }
    }
    if (rec != NULL) {
        const int32_t settings[6] = {s.n_classes, s.average_window, s.min_count, s.threshold,
                                     s.suppression_frames, s.infer_every};
        const uint32_t d6[1] = {6}, dk[1] = {(uint32_t)s.n_classes};
        const uint32_t dl[1] = {KWS_DETECTOR_EXP_LUT_LEN}, dn[1] = {(uint32_t)n};
        const uint32_t de[2] = {(uint32_t)n_events, 3};
        uint8_t packed_logits[MAX_PUSHES * KWS_DETECTOR_MAX_CLASSES];
        uint8_t packed_p[MAX_PUSHES * KWS_DETECTOR_MAX_CLASSES];
        const uint32_t dm[2] = {(uint32_t)n, (uint32_t)s.n_classes};
        int32_t i;
        for (i = 0; i < n; i++) {
            memcpy(packed_logits + i * s.n_classes, logits[i], (size_t)s.n_classes);
            memcpy(packed_p + i * s.n_classes, probs[i], (size_t)s.n_classes);
        }
        kws_fuzz_put(rec, "settings", KWS_RESULTS_INT32, 1, d6, settings);
        kws_fuzz_put(rec, "is_keyword", KWS_RESULTS_UINT8, 1, dk, s.is_keyword);
        kws_fuzz_put(rec, "exp_lut", KWS_RESULTS_UINT16, 1, dl, s.exp_lut);
        kws_fuzz_put(rec, "frames", KWS_RESULTS_UINT32, 1, dn, frames);
        kws_fuzz_put(rec, "logits", KWS_RESULTS_INT8, 2, dm, packed_logits);
        kws_fuzz_put(rec, "p", KWS_RESULTS_UINT8, 2, dm, packed_p);
        kws_fuzz_put(rec, "events", KWS_RESULTS_INT64, 2, de, events);
        kws_fuzz_put_i64(rec, "wrapped", wrapped);
    }
}
