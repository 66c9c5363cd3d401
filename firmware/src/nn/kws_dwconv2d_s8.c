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

/* kws_dwconv2d_s8 once its arguments are checked, but for the 3x3 planes: passes of 4 channels
 * over runs of pixels, then the last c % 4 channels (on DSP cores a function of its own, so that
 * the planes' path does not carry this one's buffers on the stack; inline elsewhere). */
#if KWS_NN_DSP
#define DW_RUNS_FUNCTION KWS_NN_OUTLINED
#else
#define DW_RUNS_FUNCTION KWS_INLINE
#endif
DW_RUNS_FUNCTION void dw_runs(const kws_window_t *window, const kws_quant_t *quant,
                             const int32_t *multiplier, const int32_t *shift,
                             const kws_dims_t *in_dims, const int8_t *input,
                             const int8_t *weights, const int32_t *bias,
                             const kws_dims_t *out_dims, int8_t *output)
{
    const int32_t c = in_dims->c, taps = window->kernel_h * window->kernel_w;
    const int32_t offset = quant->input_offset;
    const out_stage_t stage = out_stage(quant);
    int32_t ch = 0;
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
#if KWS_NN_DSP
    if (kws_nn_dw3x3_applies(window, out_dims)) { /* kws_dw3x3_s8.c, then the last c % 4 */
        const int32_t c = in_dims->c;
        int32_t ch;
        kws_nn_dw3x3(window, in_dims, out_dims, input, weights, bias, multiplier, shift,
                     quant->input_offset, out_stage(quant), output);
        for (ch = c & ~3; ch < c; ch++) {
            dw_channel(window, in_dims, out_dims, input, weights, ch, quant->input_offset, bias,
                       multiplier, shift, out_stage(quant), output);
        }
        return KWS_OK;
    }
#endif /* KWS_NN_DSP: 3x3 planes */
    dw_runs(window, quant, multiplier, shift, in_dims, input, weights, bias, out_dims, output);
    return KWS_OK;
}
