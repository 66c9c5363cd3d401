/* kws_nn_dw3x3 (kws_nn_internal.h): the DSP path of kws_dwconv2d_s8 for 3x3 windows of stride 1
 * (bit for bit the same outputs as kws_dwconv2d_s8.c's dw_pass4; its own source, as the code
 * added to kws_dwconv2d_s8.c changed GCC's inlining there: 1.6 K more instructions for a
 * streaming step's depthwise row through the usual path).
 *
 * Per 4 channels and band of output rows, the inputs the band reads are unpacked once into one
 * plane per channel: rows of PW int16 (x + offset; 0 for padding, so every window is whole),
 * PW = W_out + 2 rounded up to even, so that word i of a row holds columns (2i, 2i + 1). With a
 * kernel row's weights as the pairs W01 = (w0, w1), W12 = (w1, w2), the words A = (x0, x1),
 * B = (x2, x3) of the row give two neighbouring outputs in 4 instructions for 6 MACs:
 *   out[0] += SMLAD(A, W01) + SMLABT(B, W12)   (x0 w0 + x1 w1, x2 w2)
 *   out[1] += SMLATB(A, W01) + SMLAD(B, W12)   (x1 w0, x2 w1 + x3 w2)
 * Outputs four at a time (then two, then one), their accumulators in registers from the bias
 * to the requantisation. */
#include "kws_nn_internal.h"

#if KWS_NN_DSP

#define KWS_DW3_WORDS 256 /* the 4 planes of a band: 1 KB of stack */

typedef struct {
    int32_t pw_words;  /* words per plane row: PW / 2 */
    int32_t band_rows; /* output rows per band */
} dw3_plan_t;

/* Output rows from which the planes pay off: a streaming step's one row (3 x 5 x 64 valid in
 * time) takes 24.6 K instructions through them on the M4 against 18.8 K by dw_pass4. */
#define KWS_DW3_MIN_ROWS 3

/* The planes' geometry for a 3x3 stride-1 window, or band_rows 0 where it does not apply. */
static dw3_plan_t dw3_plan(const kws_window_t *win, const kws_dims_t *out_dims)
{
    dw3_plan_t plan;
    const int32_t rows = KWS_DW3_WORDS / 4 / ((out_dims->w + 3) >> 1);
    plan.pw_words = (out_dims->w + 3) >> 1;
    plan.band_rows = 0;
    if (win->kernel_h == 3 && win->kernel_w == 3 && win->stride_h == 1 && win->stride_w == 1 &&
        out_dims->h >= KWS_DW3_MIN_ROWS && rows >= 3) {
        plan.band_rows = rows - 2;
    }
    return plan;
}

/* Plane rows [0, n_rows) of channels [ch, ch + 4) for input rows iy0.. (outside the input:
 * zeros); plane j at planes + j * plane_len, rows pw apart. Only the input's columns are
 * written: the padding columns stay the zeros dw3_run put there. */
KWS_NN_OUTLINED void dw3_unpack(const int8_t *input, const kws_dims_t *in_dims, int32_t pad_left,
                                int32_t iy0, int32_t n_rows, int32_t ch, int32_t pw,
                                int32_t plane_len, int32_t off2, int16_t *planes)
{
    const int32_t c = in_dims->c, in_w = in_dims->w;
    int32_t r, i;
    for (r = 0; r < n_rows; r++) {
        const int32_t iy = iy0 + r;
        int16_t *p0 = planes + r * pw + pad_left, *p1 = p0 + plane_len;
        int16_t *p2 = p1 + plane_len, *p3 = p2 + plane_len;
        if (iy < 0 || iy >= in_dims->h) {
            memset(p0 - pad_left, 0, 2 * (size_t)pw);
            memset(p1 - pad_left, 0, 2 * (size_t)pw);
            memset(p2 - pad_left, 0, 2 * (size_t)pw);
            memset(p3 - pad_left, 0, 2 * (size_t)pw);
            continue;
        }
        const int8_t *src = input + iy * in_w * c + ch;
        for (i = 0; i < in_w; i++, src += c) {
            const uint32_t v = load4(src);
            const int32_t a02 = __sxtab16(off2, v), a13 = sxtab16_ror8(off2, v);
            *p0++ = (int16_t)a02;
            *p1++ = (int16_t)a13;
            *p2++ = (int16_t)(a02 >> 16);
            *p3++ = (int16_t)(a13 >> 16);
        }
    }
}

/* Two int16 of a plane as one word (an aligned LDR; memcpy: no aliasing question). */
KWS_INLINE int32_t load_pair(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Channel ch's kernel rows as (W01, W12) pairs: wq[2 r], wq[2 r + 1]. */
static void dw3_weights(const int8_t *weights, int32_t c, int32_t ch, uint32_t wq[6])
{
    int32_t r;
    for (r = 0; r < 3; r++) {
        const int8_t *w = weights + 3 * r * c + ch;
        const uint32_t w0 = (uint16_t)w[0], w1 = (uint16_t)w[c], w2 = (uint16_t)w[2 * c];
        wq[2 * r] = w0 | (w1 << 16);
        wq[2 * r + 1] = w1 | (w2 << 16);
    }
}

#if KWS_NN_ASM
/* One kernel row of dw3_outputs: outputs 0..3 from the row's words A, B, C (r8, r9, r10: one
 * LDM) and the row's weights at w + wo. */
#define DW3_ROW4(wo)                                                                            \
    "ldm    %[x], {%[xa], %[xb], %[xc]}\n\t"                                                    \
    "ldrd   %[w01], %[w12], [%[w], #" wo "]\n\t"                                                \
    "smlad  %[a0], %[xa], %[w01], %[a0]\n\t"                                                    \
    "smlabt %[a0], %[xb], %[w12], %[a0]\n\t"                                                    \
    "smlatb %[a1], %[xa], %[w01], %[a1]\n\t"                                                    \
    "smlad  %[a1], %[xb], %[w12], %[a1]\n\t"                                                    \
    "smlad  %[a2], %[xb], %[w01], %[a2]\n\t"                                                    \
    "smlabt %[a2], %[xc], %[w12], %[a2]\n\t"                                                    \
    "smlatb %[a3], %[xb], %[w01], %[a3]\n\t"                                                    \
    "smlad  %[a3], %[xc], %[w12], %[a3]\n\t"
#define DW3_ROW2(wo)                                                                            \
    "ldrd   %[xa], %[xb], [%[x]]\n\t"                                                           \
    "ldrd   %[w01], %[w12], [%[w], #" wo "]\n\t"                                                \
    "smlad  %[a0], %[xa], %[w01], %[a0]\n\t"                                                    \
    "smlabt %[a0], %[xb], %[w12], %[a0]\n\t"                                                    \
    "smlatb %[a1], %[xa], %[w01], %[a1]\n\t"                                                    \
    "smlad  %[a1], %[xb], %[w12], %[a1]\n\t"
#define DW3_ROW1(wo)                                                                            \
    "ldrd   %[xa], %[xb], [%[x]]\n\t"                                                           \
    "ldrd   %[w01], %[w12], [%[w], #" wo "]\n\t"                                                \
    "smlad  %[a0], %[xa], %[w01], %[a0]\n\t"                                                    \
    "smlabt %[a0], %[xb], %[w12], %[a0]\n\t"
#define DW3_NEXT "add    %[x], %[x], %[stride]\n\t"
#define DW3_WINDOW(ROW) ROW("0") DW3_NEXT ROW("8") DW3_NEXT ROW("16")
#endif /* KWS_NN_ASM */

/* acc[i] += output i's 3x3 window for n = 4, 2 or 1 (a constant) outputs from word 0 of plane
 * row x (rows pw_words apart). */
KWS_INLINE void dw3_outputs(const int16_t *x, int32_t pw_words, const uint32_t wq[6], int32_t n,
                            int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if KWS_NN_ASM
    register uint32_t xa __asm__("r8");
    register uint32_t xb __asm__("r9");
    register uint32_t xc __asm__("r10");
    uint32_t w01, w12;
    const int32_t stride = 4 * pw_words;
    if (n == 4) {
        __asm__(DW3_WINDOW(DW3_ROW4)
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x),
                  [xa] "=&r"(xa), [xb] "=&r"(xb), [xc] "=&r"(xc), [w01] "=&r"(w01),
                  [w12] "=&r"(w12)
                : [w] "r"(wq), [stride] "r"(stride)
                : "memory");
    } else if (n == 2) {
        __asm__(DW3_WINDOW(DW3_ROW2)
                : [a0] "+r"(a0), [a1] "+r"(a1), [x] "+r"(x), [xa] "=&r"(xa), [xb] "=&r"(xb),
                  [w01] "=&r"(w01), [w12] "=&r"(w12)
                : [w] "r"(wq), [stride] "r"(stride)
                : "memory");
    } else {
        __asm__(DW3_WINDOW(DW3_ROW1)
                : [a0] "+r"(a0), [x] "+r"(x), [xa] "=&r"(xa), [xb] "=&r"(xb), [w01] "=&r"(w01),
                  [w12] "=&r"(w12)
                : [w] "r"(wq), [stride] "r"(stride)
                : "memory");
    }
#else /* KWS_NN_ASM */
    int32_t r;
    for (r = 0; r < 3; r++, x += 2 * pw_words) {
        const int32_t w01 = (int32_t)wq[2 * r], w12 = (int32_t)wq[2 * r + 1];
        const int32_t xa = load_pair(x), xb = load_pair(x + 2);
        a0 = __smlabt(xb, w12, __smlad(xa, w01, a0));
        if (n > 1) {
            a1 = __smlad(xb, w12, __smlatb(xa, w01, a1));
        }
        if (n > 2) {
            const int32_t xc = load_pair(x + 4);
            a2 = __smlabt(xc, w12, __smlad(xb, w01, a2));
            a3 = __smlad(xc, w12, __smlatb(xb, w01, a3));
        }
    }
#endif /* KWS_NN_ASM */
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The requantisation of one channel: finish_usual's constants, or finish's. */
typedef struct {
    int32_t m, sh, e1, high;
    out_stage_t stage;
} dw3_rq_t;

KWS_INLINE int8_t dw3_finish(int32_t acc, const dw3_rq_t *q, int usual)
{
    return usual ? finish_usual(acc, q->m, q->e1, q->high, q->stage.offset)
                 : finish(acc, q->m, q->sh, q->stage);
}

/* n (a constant: 4, 2 or 1) outputs of a row at plane row word x, stored c apart from out. */
KWS_INLINE void dw3_chunk(const int16_t *x, int32_t pw_words, const uint32_t wq[6], int32_t n,
                          int32_t b, const dw3_rq_t *q, int usual, int8_t *out, int32_t c)
{
    int32_t acc[4] = {b, b, b, b};
    dw3_outputs(x, pw_words, wq, n, acc);
    out[0] = dw3_finish(acc[0], q, usual);
    if (n > 1) {
        out[c] = dw3_finish(acc[1], q, usual);
    }
    if (n > 2) {
        out[2 * c] = dw3_finish(acc[2], q, usual);
        out[3 * c] = dw3_finish(acc[3], q, usual);
    }
}

/* Output rows [0, n_rows) of one channel from its plane (row r's windows start at plane row
 * r); out: the band's first output of the channel. usual: a constant (two copies). */
KWS_INLINE void dw3_rows(const int16_t *plane, int32_t pw_words, int32_t n_rows, int32_t w_out,
                         const uint32_t wq[6], int32_t b, const dw3_rq_t *q, int usual,
                         int8_t *out, int32_t c)
{
    int32_t r, ox;
    for (r = 0; r < n_rows; r++, plane += 2 * pw_words) {
        for (ox = 0; ox + 4 <= w_out; ox += 4, out += 4 * c) {
            dw3_chunk(plane + ox, pw_words, wq, 4, b, q, usual, out, c);
        }
        if (ox + 2 <= w_out) {
            dw3_chunk(plane + ox, pw_words, wq, 2, b, q, usual, out, c);
            ox += 2;
            out += 2 * c;
        }
        if (ox < w_out) {
            dw3_chunk(plane + ox, pw_words, wq, 1, b, q, usual, out, c);
            out += c;
        }
    }
}

static void dw3_channel(const int16_t *plane, int32_t pw_words, int32_t n_rows, int32_t w_out,
                        const uint32_t wq[6], int32_t b, int32_t m, int32_t sh,
                        out_stage_t stage, int8_t *out, int32_t c)
{
    dw3_rq_t q;
    q.m = m;
    q.sh = sh;
    q.e1 = -sh - 1;
    q.high = sh <= -2 ? (int32_t)1 << (q.e1 - 1) : 0;
    q.stage = stage;
    if (KWS_LIKELY(full_range(stage) && sh <= -2)) {
        dw3_rows(plane, pw_words, n_rows, w_out, wq, b, &q, 1, out, c);
    } else {
        dw3_rows(plane, pw_words, n_rows, w_out, wq, b, &q, 0, out, c);
    }
}

/* The 3x3 stride-1 depthwise convolution of channels [0, c & ~3) (plan: dw3_plan). */
int kws_nn_dw3x3_applies(const kws_window_t *win, const kws_dims_t *out_dims)
{
    return dw3_plan(win, out_dims).band_rows > 0;
}

void kws_nn_dw3x3(const kws_window_t *win, const kws_dims_t *in_dims, const kws_dims_t *out_dims,
                  const int8_t *input, const int8_t *weights, const int32_t *bias,
                  const int32_t *multiplier, const int32_t *shift, int32_t offset,
                  out_stage_t stage, int8_t *output)
{
    const dw3_plan_t plan = dw3_plan(win, out_dims);
    union {
        uint32_t words[KWS_DW3_WORDS]; /* word-aligned rows: LDM, LDRD */
        int16_t h[2 * KWS_DW3_WORDS];
    } buf;
    int16_t *const planes = buf.h;
    uint32_t wq[4][6];
    const int32_t c = in_dims->c, w_out = out_dims->w, off2 = offset2(offset);
    const int32_t band_rows = out_dims->h < plan.band_rows ? out_dims->h : plan.band_rows;
    const int32_t pw = 2 * plan.pw_words, plane_len = (band_rows + 2) * pw;
    int32_t ch, oy0, j;
    /* the padding columns, for every band (a streaming step's one row: 192 B of 1 KB) */
    memset(buf.h, 0, 4 * sizeof(int16_t) * (size_t)plane_len);
    for (ch = 0; ch + 4 <= c; ch += 4) {
        for (j = 0; j < 4; j++) {
            dw3_weights(weights, c, ch + j, wq[j]);
        }
        for (oy0 = 0; oy0 < out_dims->h; oy0 += band_rows) {
            const int32_t n_rows = out_dims->h - oy0 < band_rows ? out_dims->h - oy0 : band_rows;
            dw3_unpack(input, in_dims, win->pad_left, oy0 - win->pad_top, n_rows + 2, ch, pw,
                       plane_len, off2, planes);
            for (j = 0; j < 4; j++) {
                dw3_channel(planes + j * plane_len, plan.pw_words, n_rows, w_out, wq[j],
                            bias[ch + j], multiplier[ch + j], shift[ch + j], stage,
                            output + oy0 * w_out * c + ch + j, c);
            }
        }
    }
}

#else /* KWS_NN_DSP */

/* ISO C forbids an empty translation unit. */
typedef int kws_dw3x3_unused;

#endif /* KWS_NN_DSP */
