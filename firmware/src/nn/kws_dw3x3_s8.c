/* kws_nn_dw3x3 (kws_nn_internal.h): the DSP path of kws_dwconv2d_s8 for 3x3 windows of stride 1
 * (bit for bit the same outputs as kws_dwconv2d_s8.c's dw_pass4; its own source, as the code
 * added to kws_dwconv2d_s8.c changed GCC's inlining there).
 *
 * Per 4 channels and band of output rows, the inputs the band reads are unpacked once into one
 * plane per channel, transposed: plane row u is input column u - pad_left down the band's
 * rows, PW int16 (x + offset; 0 for padding, so every window is whole; PW even), so that word i
 * of a plane row holds two vertical neighbours (2i, 2i + 1) -- the long axis of a KWS map (25 x
 * 5) is then the contiguous one. With a kernel column's weights as the pairs W01 = (w0, w1),
 * W12 = (w1, w2) (down the column), the words A = (x0, x1), B = (x2, x3) of a plane row give two
 * vertically neighbouring outputs in 4 instructions for 6 MACs:
 *   out[0] += SMLAD(A, W01) + SMLABT(B, W12)   (x0 w0 + x1 w1, x2 w2)
 *   out[1] += SMLATB(A, W01) + SMLAD(B, W12)   (x1 w0, x2 w1 + x3 w2)
 * Outputs four at a time (then two, then one) down an output column, their accumulators then
 * requantised as a run with the channel's constants in registers (requant_run_inline). */
#include "kws_nn_internal.h"

#if KWS_NN_DSP

#define KWS_DW3_WORDS 256 /* the 4 planes of a band: 1 KB of stack */

/* Output rows from which the planes pay off: a streaming step's one row (3 x 5 x 64 valid in
 * time) took 24.6 K instructions through them on the M4 against 18.8 K by dw_pass4. */
#define KWS_DW3_MIN_ROWS 3

typedef struct {
    int32_t pw;        /* int16 per plane row: band_rows + 2, even */
    int32_t band_rows; /* output rows per band; 0: the planes do not apply */
} dw3_plan_t;

/* The planes' geometry for a 3x3 stride-1 window: the most rows whose W_out + 2 plane rows of
 * the 4 channels fit KWS_DW3_WORDS, at least 2 per band. */
static dw3_plan_t dw3_plan(const kws_window_t *win, const kws_dims_t *out_dims)
{
    dw3_plan_t plan;
    const int32_t pw = (2 * KWS_DW3_WORDS / 4 / (out_dims->w + 2)) & ~1;
    const int32_t need = ((out_dims->h + 2) + 1) & ~1;
    plan.pw = pw < need ? pw : need;
    plan.band_rows = 0;
    if (win->kernel_h == 3 && win->kernel_w == 3 && win->stride_h == 1 && win->stride_w == 1 &&
        out_dims->h >= KWS_DW3_MIN_ROWS && plan.pw >= 4) {
        plan.band_rows = plan.pw - 2;
    }
    return plan;
}

/* Entry r of the input's plane rows of the 4 planes: 0 (strided stores, not a memset). */
static void dw3_zero_entry(int16_t *first, int32_t r, int32_t in_w, int32_t pw,
                           int32_t plane_len)
{
    int32_t k, ix;
    for (k = 0; k < 4 * plane_len; k += plane_len) {
        int16_t *p = first + k + r;
        for (ix = 0; ix < in_w; ix++, p += pw) {
            *p = 0;
        }
    }
}

/* The band's plane entries [0, n_rows) of channels [ch, ch + 4) for input rows iy0.. (outside
 * the input: zeros), plane j at planes + j * plane_len, plane row u = pad_left + input column.
 * The padding plane rows stay the zeros kws_nn_dw3x3 put there. */
KWS_NN_OUTLINED void dw3_unpack(const int8_t *input, const kws_dims_t *in_dims, int32_t pad_left,
                                int32_t iy0, int32_t n_rows, int32_t ch, int32_t pw,
                                int32_t plane_len, int32_t off2, int16_t *planes)
{
    const int32_t c = in_dims->c, in_w = in_dims->w, row_bytes = in_w * c;
    const int32_t r0 = iy0 < 0 ? -iy0 : 0;
    const int32_t r1 = in_dims->h - iy0 < n_rows ? in_dims->h - iy0 : n_rows;
    int16_t *const first = planes + pad_left * pw;
    int32_t ix, r;
    for (r = 0; r < r0; r++) { /* the band's rows above the input */
        dw3_zero_entry(first, r, in_w, pw, plane_len);
    }
    for (r = r1; r < n_rows; r++) { /* and below */
        dw3_zero_entry(first, r, in_w, pw, plane_len);
    }
    const int8_t *col = input + (iy0 + r0) * row_bytes + ch;
    for (ix = 0; ix < in_w; ix++, col += c) {
        int16_t *p0 = first + ix * pw + r0;
        int16_t *p1 = p0 + plane_len, *p2 = p1 + plane_len, *p3 = p2 + plane_len;
        const int8_t *src = col;
        for (r = r0; r < r1; r++, src += row_bytes) {
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

/* Channel ch's kernel columns as (W01, W12) pairs down the column: wq[2 kx], wq[2 kx + 1]; then
 * its bias 4 times (wq[6..9]: the accumulators' first values, one LDRD for two). */
#define DW3_WQ 10
static void dw3_weights(const int8_t *weights, const int32_t *bias, int32_t c, int32_t ch,
                        uint32_t wq[DW3_WQ])
{
    int32_t kx;
    for (kx = 0; kx < 3; kx++) {
        const int8_t *w = weights + kx * c + ch; /* [ky][kx][c] */
        const uint32_t w0 = (uint16_t)w[0], w1 = (uint16_t)w[3 * c], w2 = (uint16_t)w[6 * c];
        wq[2 * kx] = w0 | (w1 << 16);
        wq[2 * kx + 1] = w1 | (w2 << 16);
    }
    wq[6] = wq[7] = wq[8] = wq[9] = (uint32_t)bias[ch];
}

#if KWS_NN_ASM
/* One plane row of dw3_outputs: outputs 0..3 from the row's words A, B, C (r8, r9, r10: one
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
/* the accumulators from the bias copies after the weights (wq[6..9]) */
#define DW3_INIT4                                                                               \
    "ldrd   %[a0], %[a1], [%[w], #24]\n\t"                                                     \
    "ldrd   %[a2], %[a3], [%[w], #32]\n\t"
#define DW3_INIT2 "ldrd   %[a0], %[a1], [%[w], #24]\n\t"
#define DW3_INIT1 "ldr    %[a0], [%[w], #24]\n\t"
#endif /* KWS_NN_ASM */

/* acc[i] = the bias + output i's 3x3 window for n = 4, 2 or 1 (a constant) outputs from word 0
 * of plane row x (plane rows pw_words apart; wq: the window's (W01, W12) per plane row, then
 * the bias 4 times: DW3_WQ words). */
KWS_INLINE void dw3_outputs(const int16_t *x, int32_t pw_words, const uint32_t wq[DW3_WQ],
                            int32_t n, int32_t acc[4])
{
    int32_t a0, a1, a2, a3;
#if KWS_NN_ASM
    register uint32_t xa __asm__("r8");
    register uint32_t xb __asm__("r9");
    register uint32_t xc __asm__("r10");
    uint32_t w01, w12;
    const int32_t stride = 4 * pw_words;
    a1 = a2 = a3 = 0; /* unused below n */
    if (n == 4) {
        __asm__(DW3_INIT4 DW3_WINDOW(DW3_ROW4)
                : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [x] "+r"(x),
                  [xa] "=&r"(xa), [xb] "=&r"(xb), [xc] "=&r"(xc), [w01] "=&r"(w01),
                  [w12] "=&r"(w12)
                : [w] "r"(wq), [stride] "r"(stride)
                : "memory");
    } else if (n == 2) {
        __asm__(DW3_INIT2 DW3_WINDOW(DW3_ROW2)
                : [a0] "=&r"(a0), [a1] "=&r"(a1), [x] "+r"(x), [xa] "=&r"(xa), [xb] "=&r"(xb),
                  [w01] "=&r"(w01), [w12] "=&r"(w12)
                : [w] "r"(wq), [stride] "r"(stride)
                : "memory");
    } else {
        __asm__(DW3_INIT1 DW3_WINDOW(DW3_ROW1)
                : [a0] "=&r"(a0), [x] "+r"(x), [xa] "=&r"(xa), [xb] "=&r"(xb), [w01] "=&r"(w01),
                  [w12] "=&r"(w12)
                : [w] "r"(wq), [stride] "r"(stride)
                : "memory");
    }
#else /* KWS_NN_ASM */
    int32_t r;
    a0 = a1 = a2 = a3 = (int32_t)wq[6];
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
    if (n > 1) {
        acc[1] = a1;
    }
    if (n > 2) {
        acc[2] = a2;
        acc[3] = a3;
    }
}

/* dst[i * step] = the requantised acc[i], i < n: finish_usual two per loop turn where it
 * applies, else requant_run. */
static void dw3_requant(const int32_t *acc, int32_t n, int32_t m, int32_t sh, out_stage_t stage,
                        int8_t *dst, int32_t step)
{
    if (KWS_LIKELY(sh <= -2) && full_range(stage)) {
        const int32_t e1 = -sh - 1, high = (int32_t)1 << (e1 - 1), zero = stage.offset;
        int32_t i;
        for (i = 0; i + 2 <= n; i += 2, dst += 2 * step) {
            dst[0] = finish_usual(acc[i], m, e1, high, zero);
            dst[step] = finish_usual(acc[i + 1], m, e1, high, zero);
        }
        if (i < n) {
            *dst = finish_usual(acc[i], m, e1, high, zero);
        }
        return;
    }
    requant_run(acc, n, m, sh, stage, dst, step);
}

/* Output rows [0, n_rows) of one channel from its plane: per output column ox (plane rows ox,
 * ox + 1, ox + 2) its n_rows accumulators, requantised as one run; out: the band's first output
 * of the channel, rows w_out * c apart. */
static void dw3_channel(const int16_t *plane, int32_t pw, int32_t n_rows, int32_t w_out,
                        const uint32_t wq[DW3_WQ], int32_t m, int32_t sh,
                        out_stage_t stage, int8_t *out, int32_t c)
{
    int32_t acc[KWS_DW3_WORDS / 4];
    const int32_t pw_words = pw >> 1, step = w_out * c;
    int32_t ox, oy;
    for (ox = 0; ox < w_out; ox++, plane += pw, out += c) {
        for (oy = 0; oy + 4 <= n_rows; oy += 4) {
            dw3_outputs(plane + oy, pw_words, wq, 4, acc + oy);
        }
        if (oy + 2 <= n_rows) {
            dw3_outputs(plane + oy, pw_words, wq, 2, acc + oy);
            oy += 2;
        }
        if (oy < n_rows) {
            dw3_outputs(plane + oy, pw_words, wq, 1, acc + oy);
        }
        dw3_requant(acc, n_rows, m, sh, stage, out, step);
    }
}

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
        uint32_t words[KWS_DW3_WORDS]; /* word-aligned plane rows: LDM, LDRD */
        int16_t h[2 * KWS_DW3_WORDS];
    } buf;
    uint32_t wq[4][DW3_WQ];
    const int32_t c = in_dims->c, w_out = out_dims->w, off2 = offset2(offset);
    const int32_t plane_len = (w_out + 2) * plan.pw;
    int32_t ch, oy0, j;
    memset(buf.h, 0, 4 * sizeof(int16_t) * (size_t)plane_len); /* the padding plane rows */
    for (ch = 0; ch + 4 <= c; ch += 4) {
        for (j = 0; j < 4; j++) {
            dw3_weights(weights, bias, c, ch + j, wq[j]);
        }
        for (oy0 = 0; oy0 < out_dims->h; oy0 += plan.band_rows) {
            const int32_t n_rows =
                out_dims->h - oy0 < plan.band_rows ? out_dims->h - oy0 : plan.band_rows;
            dw3_unpack(input, in_dims, win->pad_left, oy0 - win->pad_top, n_rows + 2, ch,
                       plan.pw, plane_len, off2, buf.h);
            for (j = 0; j < 4; j++) {
                dw3_channel(buf.h + j * plane_len, plan.pw, n_rows, w_out, wq[j],
                            multiplier[ch + j], shift[ch + j], stage,
                            output + oy0 * w_out * c + ch + j, c);
            }
        }
    }
}

#else /* KWS_NN_DSP */

/* ISO C forbids an empty translation unit. */
typedef int kws_dw3x3_unused;

#endif /* KWS_NN_DSP */
