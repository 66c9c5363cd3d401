/* kws_dwconv2d_s8: int8 depthwise convolution (kws_nn.h), mirroring kws.golden.network's
 * depthwise conv bit for bit.
 *
 * Four channels per pass over the whole output (the pass's bias, requantisation and, on the DSP
 * path, its weights unpacked to int16 pairs are loaded once), the accumulators in registers;
 * windows 3 taps wide (a 3x3 kernel away from the left and right edges) unrolled. The last
 * c % 4 channels one by one. What differs between the paths -- the weights' form, what a window
 * needs for the input offset, the window's accumulation, which channels take passes -- is the
 * one #if KWS_NN_DSP block below; dw_pass4, dw_channel and the kernel are common. */
#include "kws_nn_internal.h"

#define KWS_DW_TAPS 25 /* DSP: kernels up to 25 taps unpack their weights (200 B of stack) */
#define KWS_DW_RUN 16  /* pixels per requantisation run: 4 x 16 accumulators on the stack */

#if KWS_NN_DSP

/* One tap for 4 channels: one word of inputs (+ offset by SXTAB16), the tap's two unpacked weight
 * words, one SMLABB/SMLATT per channel. */
#define DW_TAP4(xq, wq)                                                                         \
    do {                                                                                        \
        const uint32_t vx_ = load4(xq);                                                         \
        const int32_t x02_ = __sxtab16(off2, vx_), x13_ = sxtab16_ror8(off2, vx_);              \
        const int32_t w02_ = (int32_t)(wq)[0], w13_ = (int32_t)(wq)[1];                         \
        a0 = __smlabb(x02_, w02_, a0);                                                          \
        a2 = __smlatt(x02_, w02_, a2);                                                          \
        a1 = __smlabb(x13_, w13_, a1);                                                          \
        a3 = __smlatt(x13_, w13_, a3);                                                          \
    } while (0)
#define DW_W_TAP 2 /* weight words per tap in the unpacked weights */
typedef uint32_t dw_w_t;
/* The unpacked weights of one pass: 2 words per tap. */
#define DW_UNPACKED_LEN (2 * KWS_DW_TAPS)

/* What a window needs for the input offset: the offset in both halfwords (SXTAB16). */
typedef struct {
    int32_t off2;
} dw_fold_t;

KWS_INLINE dw_fold_t dw_fold(const kws_window_t *win, const dw_w_t *w_pass, int32_t w_tap,
                             int32_t offset)
{
    dw_fold_t f;
    (void)win;
    (void)w_pass;
    (void)w_tap;
    f.off2 = offset2(offset);
    return f;
}

/* Passes of 4 channels only for kernels whose unpacked weights fit the stack buffer: larger
 * kernels run every channel through dw_channel. */
KWS_INLINE int dw_passes_ok(int32_t taps)
{
    return taps <= KWS_DW_TAPS;
}

/* Tap t of channels [ch, ch + 4) is at w + t * dw_w_tap(c). */
KWS_INLINE int32_t dw_w_tap(int32_t c)
{
    (void)c;
    return DW_W_TAP;
}

/* The pass's weights, unpacked once into int16 pairs in SMLABB/SMLATT order. */
KWS_INLINE const dw_w_t *dw_pass_weights(const int8_t *weights, int32_t c, int32_t ch,
                                         int32_t taps, dw_w_t *unpacked)
{
    int32_t t;
    for (t = 0; t < taps; t++) {
        const uint32_t v = load4(weights + t * c + ch);
        unpacked[2 * t] = (uint32_t)__sxtb16(v);
        unpacked[2 * t + 1] = (uint32_t)sxtb16_ror8(v);
    }
    return unpacked;
}

#if KWS_NN_ASM
/* Taps of a window row as asm blocks (the compiler's schedule spills): a tap reads 4 inputs at
 * x (+ c) and its two unpacked weight words at w + wo bytes. 12 registers, so that any -O level
 * with or without a frame pointer can allocate them. */
#define DW_ASM_TAP(xo, wo)                                                                      \
    "ldr    %[vx], [%[x]" xo "]\n\t"                                                            \
    "ldrd   %[w02], %[w13], [%[w], #" wo "]\n\t"                                                \
    "sxtab16 %[t0], %[off2], %[vx]\n\t"                                                        \
    "sxtab16 %[vx], %[off2], %[vx], ror #8\n\t"                                                \
    "smlabb %[a0], %[t0], %[w02], %[a0]\n\t"                                                   \
    "smlatt %[a2], %[t0], %[w02], %[a2]\n\t"                                                   \
    "smlabb %[a1], %[vx], %[w13], %[a1]\n\t"                                                   \
    "smlatt %[a3], %[vx], %[w13], %[a3]\n\t"
/* three taps c apart (x ends one tap on: x + c), weights at w + wo0, wo1, wo2 */
#define DW_ASM_ROW3(wo0, wo1, wo2)                                                              \
    DW_ASM_TAP("", wo0) DW_ASM_TAP(", %[c]", wo1) "add    %[x], %[x], %[c]\n\t"                \
    DW_ASM_TAP(", %[c]", wo2)
/* two taps c apart (x unchanged) */
#define DW_ASM_ROW2 DW_ASM_TAP("", "0") DW_ASM_TAP(", %[c]", "8")
#define DW_ASM_OPERANDS                                                                         \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(xr), [vx] "=&r"(vx), \
      [t0] "=&r"(t0), [w02] "=&r"(w02), [w13] "=&r"(w13)                                        \
    : [w] "r"(wr), [c] "r"(c), [off2] "r"(off2)                                                 \
    : "memory"

/* acc[j] += the window's sum for channel j: `rows` rows of `cols` taps from xr (inputs, rows
 * x_row apart, taps c apart) and wr (unpacked weights, rows w_row apart). Whole 3x3 windows,
 * 3-wide and 2-wide rows as asm, other windows tap by tap.
 * dw_window is plain `static inline` on every path, left to the regular inliner: forced inlining
 * (KWS_INLINE) gives dw_pass4 a register allocation that spills in its requantisation loop, 560
 * more instructions per DS-CNN depthwise layer on the M4 (bench/kernels.py); this way the M4
 * takes 360 fewer than the code before dw_window, and the M3 the same number. */
static inline void dw_window(const int8_t *xr, const dw_w_t *wr, int32_t rows, int32_t cols,
                          int32_t kw, int32_t c, int32_t x_row, int32_t w_row,
                          int32_t w_tap, dw_fold_t fold, acc_t acc[4])
{
    const int32_t off2 = fold.off2;
    acc_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t r, k;
    if (cols == 3 && rows == 3 && kw == 3) { /* a whole 3x3 window */
        uint32_t vx, t0, w02, w13;
        __asm__(DW_ASM_ROW3("0", "8", "16") DW_ASM_OPERANDS);
        xr += x_row - c;
        __asm__(DW_ASM_ROW3("24", "32", "40") DW_ASM_OPERANDS);
        xr += x_row - c;
        __asm__(DW_ASM_ROW3("48", "56", "64") DW_ASM_OPERANDS);
    } else if (cols == 3) {
        for (r = 0; r < rows; r++, xr += x_row - c, wr += w_row) {
            uint32_t vx, t0, w02, w13;
            __asm__(DW_ASM_ROW3("0", "8", "16") DW_ASM_OPERANDS);
        }
    } else if (cols == 2) {
        for (r = 0; r < rows; r++, xr += x_row, wr += w_row) {
            uint32_t vx, t0, w02, w13;
            __asm__(DW_ASM_ROW2 DW_ASM_OPERANDS);
        }
    } else {
        for (r = 0; r < rows; r++, xr += x_row, wr += w_row) {
            for (k = 0; k < cols; k++) {
                DW_TAP4(xr + k * c, wr + k * w_tap);
            }
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#else /* KWS_NN_ASM */
/* acc[j] += the window's sum for channel j (see the asm version), tap by tap. */
static inline void dw_window(const int8_t *xr, const dw_w_t *wr, int32_t rows, int32_t cols,
                          int32_t kw, int32_t c, int32_t x_row, int32_t w_row,
                          int32_t w_tap, dw_fold_t fold, acc_t acc[4])
{
    const int32_t off2 = fold.off2;
    acc_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t r, k;
    (void)kw;
    for (r = 0; r < rows; r++, xr += x_row, wr += w_row) {
        for (k = 0; k < cols; k++) {
            DW_TAP4(xr + k * c, wr + k * w_tap);
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif /* KWS_NN_ASM */

#else /* KWS_NN_DSP */

/* Byte loads and MLAs (sums modulo 2^32); off: the input offset, or 0 where the window's
 * offset * sum(w) is already in the accumulators. */
#define DW_TAP4_OFF(xq, wq, off)                                                                \
    do {                                                                                        \
        const int8_t *const xq_ = (xq), *const wq_ = (wq);                                      \
        MAC(a0, (int32_t)xq_[0] + (off), wq_[0]);                                               \
        MAC(a1, (int32_t)xq_[1] + (off), wq_[1]);                                               \
        MAC(a2, (int32_t)xq_[2] + (off), wq_[2]);                                               \
        MAC(a3, (int32_t)xq_[3] + (off), wq_[3]);                                               \
    } while (0)
#define DW_TAP4(xq, wq) DW_TAP4_OFF(xq, wq, offset)
typedef int8_t dw_w_t;
#define DW_UNPACKED_LEN 1 /* the weights are used in place */

/* What a window needs for the input offset: the offset, and a whole window's offset * sum(w)
 * per channel (its taps are then plain products); kh tells a whole window. */
typedef struct {
    int32_t offset;
    int32_t kh;
    uint32_t f[4];
} dw_fold_t;

KWS_INLINE dw_fold_t dw_fold(const kws_window_t *win, const dw_w_t *w_pass, int32_t w_tap,
                             int32_t offset)
{
    dw_fold_t fold;
    const int32_t kh = win->kernel_h, kw = win->kernel_w;
    uint32_t f0 = 0, f1 = 0, f2 = 0, f3 = 0;
    int32_t k;
    for (k = 0; k < kh * kw; k++) {
        f0 += (uint32_t)(int32_t)w_pass[k * w_tap];
        f1 += (uint32_t)(int32_t)w_pass[k * w_tap + 1];
        f2 += (uint32_t)(int32_t)w_pass[k * w_tap + 2];
        f3 += (uint32_t)(int32_t)w_pass[k * w_tap + 3];
    }
    fold.offset = offset;
    fold.kh = kh;
    fold.f[0] = f0 * (uint32_t)offset;
    fold.f[1] = f1 * (uint32_t)offset;
    fold.f[2] = f2 * (uint32_t)offset;
    fold.f[3] = f3 * (uint32_t)offset;
    return fold;
}

/* Every kernel size takes passes of 4 channels (the weights are read in place). */
KWS_INLINE int dw_passes_ok(int32_t taps)
{
    (void)taps;
    return 1;
}

/* Tap t of channels [ch, ch + 4) is at w + t * dw_w_tap(c): the weights' own layout. */
KWS_INLINE int32_t dw_w_tap(int32_t c)
{
    return c;
}

KWS_INLINE const dw_w_t *dw_pass_weights(const int8_t *weights, int32_t c, int32_t ch,
                                         int32_t taps, dw_w_t *unpacked)
{
    (void)c;
    (void)taps;
    (void)unpacked;
    return weights + ch;
}

/* acc[j] += the window's sum for channel j: `rows` rows of `cols` taps from xr (inputs, rows
 * x_row apart, taps c apart) and wr (weights, rows w_row apart, taps w_tap apart). A whole
 * window takes the offset from the fold; 3-wide rows unrolled. */
static inline void dw_window(const int8_t *xr, const dw_w_t *wr, int32_t rows, int32_t cols,
                          int32_t kw, int32_t c, int32_t x_row, int32_t w_row,
                          int32_t w_tap, dw_fold_t fold, acc_t acc[4])
{
    const int32_t offset = fold.offset;
    acc_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t r, k;
    if (rows == fold.kh && cols == kw) { /* a whole window: the offset in the bias */
        a0 += fold.f[0];
        a1 += fold.f[1];
        a2 += fold.f[2];
        a3 += fold.f[3];
        if (cols == 3) {
            for (r = 0; r < rows; r++, xr += x_row, wr += w_row) {
                DW_TAP4_OFF(xr, wr, 0);
                DW_TAP4_OFF(xr + c, wr + w_tap, 0);
                DW_TAP4_OFF(xr + 2 * c, wr + 2 * w_tap, 0);
            }
        } else {
            for (r = 0; r < rows; r++, xr += x_row, wr += w_row) {
                for (k = 0; k < cols; k++) {
                    DW_TAP4_OFF(xr + k * c, wr + k * w_tap, 0);
                }
            }
        }
    } else if (cols == 3) {
        for (r = 0; r < rows; r++, xr += x_row, wr += w_row) {
            DW_TAP4(xr, wr);
            DW_TAP4(xr + c, wr + w_tap);
            DW_TAP4(xr + 2 * c, wr + 2 * w_tap);
        }
    } else {
        for (r = 0; r < rows; r++, xr += x_row, wr += w_row) {
            for (k = 0; k < cols; k++) {
                DW_TAP4(xr + k * c, wr + k * w_tap);
            }
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#endif /* KWS_NN_DSP: depthwise passes and windows */

#if KWS_NN_DSP
/* ---- 3x3, stride 1: planes of int16 pairs along the row ---------------------------------- *
 * Per 4 channels and band of output rows, the inputs the band reads are unpacked once into one
 * plane per channel: rows of PW int16 (x + offset; 0 for padding, so every window is whole),
 * PW = W_out + 2 rounded up to even, so that word i of a row holds columns (2i, 2i + 1). With a
 * kernel row's weights as the pairs W01 = (w0, w1), W12 = (w1, w2), the words A = (x0, x1),
 * B = (x2, x3) of the row give two neighbouring outputs in 4 instructions for 6 MACs:
 *   out[0] += SMLAD(A, W01) + SMLABT(B, W12)   (x0 w0 + x1 w1, x2 w2)
 *   out[1] += SMLATB(A, W01) + SMLAD(B, W12)   (x1 w0, x2 w1 + x3 w2)
 * Outputs four at a time (then two, then one), their accumulators in registers from the bias
 * to the requantisation. */
#define KWS_DW3_WORDS 256 /* the 4 planes of a band: 1 KB of stack */

typedef struct {
    int32_t pw_words;  /* words per plane row: PW / 2 */
    int32_t band_rows; /* output rows per band */
} dw3_plan_t;

/* The planes' geometry for a 3x3 stride-1 window, or band_rows 0 where it does not apply. */
static dw3_plan_t dw3_plan(const kws_window_t *win, const kws_dims_t *out_dims)
{
    dw3_plan_t plan;
    const int32_t rows = KWS_DW3_WORDS / 4 / ((out_dims->w + 3) >> 1);
    plan.pw_words = (out_dims->w + 3) >> 1;
    plan.band_rows = 0;
    if (win->kernel_h == 3 && win->kernel_w == 3 && win->stride_h == 1 && win->stride_w == 1 &&
        rows >= 3) {
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
static void dw3_run(const kws_window_t *win, const kws_dims_t *in_dims, const kws_dims_t *out_dims,
                    dw3_plan_t plan, const int8_t *input, const int8_t *weights,
                    const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                    int32_t offset, out_stage_t stage, int8_t *output)
{
    union {
        uint32_t words[KWS_DW3_WORDS]; /* word-aligned rows: LDM, LDRD */
        int16_t h[2 * KWS_DW3_WORDS];
    } buf;
    int16_t *const planes = buf.h;
    uint32_t wq[4][6];
    const int32_t c = in_dims->c, w_out = out_dims->w, off2 = offset2(offset);
    const int32_t pw = 2 * plan.pw_words, plane_len = (plan.band_rows + 2) * pw;
    int32_t ch, oy0, j;
    memset(buf.h, 0, sizeof buf.h); /* the padding columns, for every band */
    for (ch = 0; ch + 4 <= c; ch += 4) {
        for (j = 0; j < 4; j++) {
            dw3_weights(weights, c, ch + j, wq[j]);
        }
        for (oy0 = 0; oy0 < out_dims->h; oy0 += plan.band_rows) {
            const int32_t n_rows = out_dims->h - oy0 < plan.band_rows ? out_dims->h - oy0
                                                                      : plan.band_rows;
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
#endif /* KWS_NN_DSP: 3x3 planes */

/* Where output pixel i of a run reads: its window's first valid input (x, bytes from the input's
 * channel 0), first valid tap (w, taps from the kernel's first) and the valid rows and columns.
 * The same for every pass of 4 channels, so computed once per run. */
typedef struct {
    int32_t x, w, rows, cols;
} dw_geometry_t;

static void dw_geometry(const kws_window_t *win, const kws_dims_t *in_dims,
                        const kws_dims_t *out_dims, int32_t p0, int32_t n, dw_geometry_t *geo)
{
    const int32_t c = in_dims->c, kw = win->kernel_w;
    int32_t i, oy = p0 / out_dims->w, ox = p0 % out_dims->w;
    for (i = 0; i < n; i++) {
        const int32_t iy = oy * win->stride_h - win->pad_top;
        const int32_t ix = ox * win->stride_w - win->pad_left;
        int32_t ky0, ky1, kx0, kx1;
        valid_taps(iy, win->kernel_h, in_dims->h, &ky0, &ky1);
        valid_taps(ix, kw, in_dims->w, &kx0, &kx1);
        geo[i].x = ((iy + ky0) * in_dims->w + ix + kx0) * c;
        geo[i].w = ky0 * kw + kx0;
        geo[i].rows = ky1 - ky0;
        geo[i].cols = kx1 - kx0;
        if (++ox == out_dims->w) {
            ox = 0;
            oy++;
        }
    }
}

/* Channels [ch, ch + 4) of a run of n pixels (geo) of the depthwise convolution; w_pass: their
 * weights, tap t at w_pass + t * w_tap (w_tap: c int8 in place, or 2 words unpacked); output:
 * the run's first pixel. */
static void dw_pass4(const kws_window_t *win, const kws_dims_t *in_dims,
                     const dw_geometry_t *geo, int32_t n, const int8_t *input,
                     const dw_w_t *w_pass, int32_t w_tap, int32_t ch, int32_t offset,
                     const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                     out_stage_t stage, int8_t *output)
{
    const int32_t c = in_dims->c, kw = win->kernel_w;
    const int32_t x_row = in_dims->w * c, w_row = kw * w_tap;
    const int32_t b0 = bias[ch], b1 = bias[ch + 1], b2 = bias[ch + 2], b3 = bias[ch + 3];
    const dw_fold_t fold = dw_fold(win, w_pass, w_tap, offset);
    acc_t runs[4][KWS_DW_RUN];
    int32_t i, k;
    input += ch;
    for (i = 0; i < n; i++) {
        acc_t acc[4];
        acc[0] = acc_init(b0);
        acc[1] = acc_init(b1);
        acc[2] = acc_init(b2);
        acc[3] = acc_init(b3);
        dw_window(input + geo[i].x, w_pass + geo[i].w * w_tap, geo[i].rows, geo[i].cols, kw, c,
                  x_row, w_row, w_tap, fold, acc);
        runs[0][i] = acc[0];
        runs[1][i] = acc[1];
        runs[2][i] = acc[2];
        runs[3][i] = acc[3];
    }
    /* each channel's requantisation with its constants in registers */
    for (k = 0; k < 4; k++) {
        requant_run_inline(runs[k], n, multiplier[ch + k], shift[ch + k], stage,
                           output + ch + k, c);
    }
}

/* One channel of the depthwise convolution, plain: the last c % 4 channels, and on the DSP path
 * every channel of a kernel of more than KWS_DW_TAPS taps. */
static void dw_channel(const kws_window_t *win, const kws_dims_t *in_dims,
                       const kws_dims_t *out_dims, const int8_t *input, const int8_t *weights,
                       int32_t ch, int32_t offset, const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, out_stage_t stage, int8_t *output)
{
    const int32_t c = in_dims->c, in_w = in_dims->w, kw = win->kernel_w;
    int32_t oy, ox, r, k;
    for (oy = 0; oy < out_dims->h; oy++) {
        const int32_t iy = oy * win->stride_h - win->pad_top;
        int32_t ky0, ky1;
        valid_taps(iy, win->kernel_h, in_dims->h, &ky0, &ky1);
        for (ox = 0; ox < out_dims->w; ox++) {
            const int32_t ix = ox * win->stride_w - win->pad_left;
            int32_t kx0, kx1;
            valid_taps(ix, kw, in_w, &kx0, &kx1);
            int32_t acc = bias[ch];
            for (r = ky0; r < ky1; r++) {
                for (k = kx0; k < kx1; k++) {
                    acc += ((int32_t)input[((iy + r) * in_w + ix + k) * c + ch] + offset) *
                           weights[(r * kw + k) * c + ch];
                }
            }
            output[(oy * out_dims->w + ox) * c + ch] =
                finish(acc, multiplier[ch], shift[ch], stage);
        }
    }
}

kws_status_t kws_dwconv2d_s8(const kws_window_t *window, const kws_quant_t *quant,
                             const int32_t *multiplier, const int32_t *shift,
                             const kws_dims_t *in_dims, const int8_t *input,
                             const int8_t *weights, const int32_t *bias,
                             const kws_dims_t *out_dims, int8_t *output)
{
    if (!dims_ok(in_dims) || !dims_ok(out_dims) || out_dims->c != in_dims->c ||
        !window_ok(window, in_dims, out_dims) || !quant_ok(quant) || input == 0 ||
        weights == 0 || output == 0 ||
        !positive_product_fits(window->kernel_h, window->kernel_w, in_dims->c) ||
        !channels_ok(multiplier, shift, bias, in_dims->c)) {
        return KWS_ERR_ARG;
    }
    const int32_t c = in_dims->c, taps = window->kernel_h * window->kernel_w;
    const int32_t offset = quant->input_offset;
    const out_stage_t stage = out_stage(quant);
    int32_t ch = 0;
#if KWS_NN_DSP
    const dw3_plan_t plan = dw3_plan(window, out_dims);
    if (plan.band_rows > 0) {
        dw3_run(window, in_dims, out_dims, plan, input, weights, bias, multiplier, shift, offset,
                stage, output);
        ch = c & ~3;
    } else
#endif /* KWS_NN_DSP: 3x3 planes */
    if (dw_passes_ok(taps)) {
        /* the pixels in runs of up to KWS_DW_RUN, their geometry computed once per run; per run
         * every pass of 4 channels */
        dw_w_t unpacked[DW_UNPACKED_LEN];
        dw_geometry_t geo[KWS_DW_RUN];
        const int32_t n_px = out_dims->h * out_dims->w;
        int32_t p0;
        for (p0 = 0; p0 < n_px; p0 += KWS_DW_RUN) {
            const int32_t n = n_px - p0 < KWS_DW_RUN ? n_px - p0 : KWS_DW_RUN;
            dw_geometry(window, in_dims, out_dims, p0, n, geo);
            for (ch = 0; ch + 4 <= c; ch += 4) {
                dw_pass4(window, in_dims, geo, n, input,
                         dw_pass_weights(weights, c, ch, taps, unpacked), dw_w_tap(c), ch,
                         offset, bias, multiplier, shift, stage, output + p0 * c);
            }
        }
    }
    for (; ch < c; ch++) {
        dw_channel(window, in_dims, out_dims, input, weights, ch, offset, bias, multiplier, shift,
                   stage, output);
    }
    return KWS_OK;
}
