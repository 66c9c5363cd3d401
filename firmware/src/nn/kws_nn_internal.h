/* Private to firmware/src/nn/: what the int8 kernels (kws_nn.h, one source per kernel family)
 * share -- argument checks, the output stage, the multiply-accumulate tiles, runs of
 * requantisation. Each kernel mirrors a function of kws/golden/network.py bit for bit.
 *
 * One structure, two sets of inner loops:
 *   - portable C99 (any CPU: the host tests build it with ASan/UBSan; a Cortex-M3 runs it);
 *   - cores with the Arm DSP extension (__ARM_FEATURE_DSP: Cortex-M4, M7, M33...): 4 int8 at a
 *     time as CMSIS-NN does it -- one word load (memcpy: an unaligned LDR), SXTB16 / SXTAB16
 *     (which also adds the input offset) into two pairs of int16, SMLAD for two 16-bit MACs per
 *     instruction (depthwise: SMLABB/SMLATT, one channel per 16-bit lane). The innermost loops
 *     are inline asm (see KWS_NN_ASM). -DKWS_NN_PORTABLE selects the portable loops there too.
 * Each fast path sits behind labelled #if KWS_NN_DSP (or KWS_NN_ASM) blocks whose branches hold
 * complete definitions (types, inline functions) or, inside matmul_s8, complete statements: no
 * statement is ever split across branches. The portable branch is the reference.
 * No heap; each kernel keeps fixed-size buffers on the stack (sizes in its source, about 1 KB at
 * most).
 *
 * Exactness. Accumulators are sums modulo 2^32 (uint32_t in the portable C, where wrapping is
 * defined; SMLAD/SMLABB wrap too). The value kws_nn.h defines fits int32 (the caller's
 * guarantee), so its residue modulo 2^32 *is* that value whatever the order of the terms and
 * whatever the partial sums on the way. That lets kernels fold input_offset * sum(w) into the
 * bias where the window has no padding (the inner loop is then a plain int8 x int8 dot
 * product), and add the offset to each valid input where it has. Requantisation is
 * kws_requantize (CMSIS-NN's double rounding) rewritten as one 64-bit multiply-accumulate and
 * one shift (requantize(), with the proof), done channel by channel over runs of pixels
 * (requant_run) so that a channel's constants stay in registers.
 *
 * Static functions here are compiled into each kernel source that calls them (KWS_NN_SHARED:
 * no warning where one is unused), so every kernel keeps its helpers inlinable. KWS_NN_OUTLINED
 * ones stay calls, as they were when the kernels shared one source: the argument checks run
 * once per kernel call and a copy in every kernel would only cost flash, and requant_run keeps
 * one body per source whatever the number of its callers. */
#ifndef KWS_NN_INTERNAL_H
#define KWS_NN_INTERNAL_H

#include <string.h>

#include "kws_nn.h"

#include "kws_requantize.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(KWS_NN_PORTABLE)
#include <arm_acle.h>
#define KWS_NN_DSP 1
#else /* no DSP extension, or KWS_NN_PORTABLE */
#define KWS_NN_DSP 0
#endif /* __ARM_FEATURE_DSP */

/* The DSP path's innermost loops are inline asm blocks of up to 13 registers (the compiler's
 * own schedule of the same intrinsics spills). An unoptimised build (-O0) runs the same loops
 * written with intrinsics instead, as does -DKWS_NN_NO_ASM. */
#if KWS_NN_DSP && defined(__OPTIMIZE__) && !defined(KWS_NN_NO_ASM)
#define KWS_NN_ASM 1
#else
#define KWS_NN_ASM 0
#endif

#if defined(__GNUC__)
#define KWS_INLINE static inline __attribute__((always_inline))
#define KWS_NN_SHARED static __attribute__((unused))
#define KWS_NN_OUTLINED static __attribute__((unused, noinline))
#define KWS_LIKELY(c) __builtin_expect(!!(c), 1)
#else
#define KWS_INLINE static inline
#define KWS_NN_SHARED static
#define KWS_NN_OUTLINED static
#define KWS_LIKELY(c) (c)
#endif

#define INT8_LO (-128)
#define INT8_HI 127

/* ---- argument checks --------------------------------------------------------------------- */

/* a, b, c >= 1 and a*b*c fits int32: every index the kernels form is then below INT32_MAX. */
KWS_NN_SHARED int positive_product_fits(int32_t a, int32_t b, int32_t c)
{
    if (a < 1 || b < 1 || c < 1) {
        return 0;
    }
    const int64_t ab = (int64_t)a * b;                 /* < 2^62: no int64 overflow */
    return ab <= INT32_MAX && ab * c <= INT32_MAX;
}

KWS_NN_OUTLINED int dims_ok(const kws_dims_t *d)
{
    return d != 0 && positive_product_fits(d->h, d->w, d->c);
}

KWS_INLINE int quant_in_range(const kws_quant_t *q)
{
    return q != 0 && q->input_offset >= -127 && q->input_offset <= 128 &&
           q->output_offset >= INT8_LO && q->output_offset <= INT8_HI &&
           q->act_min >= INT8_LO && q->act_min <= q->act_max && q->act_max <= INT8_HI;
}

/* quant_in_range as a call (see KWS_NN_OUTLINED); kws_fc_s8, the smallest kernel, checks inline */
KWS_NN_OUTLINED int quant_ok(const kws_quant_t *q)
{
    return quant_in_range(q);
}

/* The shift range keeps every shift in kws_requantize defined; a multiplier of 0 is allowed
 * (kws.golden.intmath.quantize_multiplier returns (0, 0) for a negligible scale). */
KWS_NN_SHARED int requant_ok(int32_t multiplier, int32_t shift)
{
    return multiplier >= 0 && shift >= -31 && shift <= 30;
}

/* requant_ok for each of n channels, without a branch per channel: the sign bit of `bad`
 * collects a negative multiplier, and a shift below -31 (shift + 31 < 0) or above 30
 * (30 - shift < 0; modulo 2^32 either sum wraps to a set sign bit exactly when the shift is
 * outside, whatever its int32 value). Two channels per iteration. */
KWS_NN_SHARED int channels_ok(const int32_t *multiplier, const int32_t *shift,
                              const int32_t *bias, int32_t n)
{
    uint32_t bad = 0;
    int32_t i;
    if (multiplier == 0 || shift == 0 || bias == 0) {
        return 0;
    }
    for (i = 0; i + 2 <= n; i += 2) {
        const uint32_t s0 = (uint32_t)shift[i], s1 = (uint32_t)shift[i + 1];
        bad |= (uint32_t)multiplier[i] | (uint32_t)multiplier[i + 1];
        bad |= (s0 + 31u) | (30u - s0) | (s1 + 31u) | (30u - s1);
    }
    if (i < n) {
        const uint32_t s0 = (uint32_t)shift[i];
        bad |= (uint32_t)multiplier[i] | (s0 + 31u) | (30u - s0);
    }
    return (bad >> 31) == 0;
}

/* One axis of TF "same" padding: out == ceil(in / stride), pad == the padding before. */
KWS_NN_SHARED int same_axis_ok(int32_t in, int32_t out, int32_t kernel, int32_t stride,
                               int32_t pad)
{
    if (kernel < 1 || stride < 1 || out != in / stride + (in % stride != 0)) {
        return 0;
    }
    int64_t total = (int64_t)(out - 1) * stride + kernel - in;
    if (total < 0) {
        total = 0;
    }
    return pad == (int32_t)(total / 2);
}

/* One axis without padding ("valid", the time axis of a streaming network): the kernel fits,
 * pad == 0 and out == (in - kernel) / stride + 1, the windows that fit. */
KWS_NN_SHARED int valid_axis_ok(int32_t in, int32_t out, int32_t kernel, int32_t stride,
                                int32_t pad)
{
    return kernel >= 1 && stride >= 1 && kernel <= in && pad == 0 &&
           out == (in - kernel) / stride + 1;
}

/* Each axis TF "same" or "valid" (our networks: W "same"; imported ones may be valid there). */
KWS_NN_OUTLINED int window_ok(const kws_window_t *win, const kws_dims_t *in,
                            const kws_dims_t *out)
{
    return win != 0 &&
           (same_axis_ok(in->h, out->h, win->kernel_h, win->stride_h, win->pad_top) ||
            valid_axis_ok(in->h, out->h, win->kernel_h, win->stride_h, win->pad_top)) &&
           (same_axis_ok(in->w, out->w, win->kernel_w, win->stride_w, win->pad_left) ||
            valid_axis_ok(in->w, out->w, win->kernel_w, win->stride_w, win->pad_left));
}

/* ---- output stage ------------------------------------------------------------------------ */

/* kws_requantize(acc, multiplier, shift), the same integer for every argument in its range,
 * in about a third of the instructions.
 *
 * shift >= 0: kws_requantize is then the rounding doubling high multiply of acc * 2^shift alone.
 * shift < 0, e = -shift in [1, 31]: with P = acc * multiplier (|P| < 2^62), kws_requantize is
 *   x = floor((P + 2^30) / 2^31), then x / 2^e rounded half away from zero
 *     = floor((x + 2^(e-1) - [x < 0]) / 2^e)                           (as e >= 1)
 *     = floor((P + 2^30 + (2^(e-1) - [x < 0]) * 2^31) / 2^(31+e))      (floor(floor(a/b) + j)/c)
 *                                                                         = floor((a + jb)/(bc)))
 * and [x < 0] may be replaced by [acc < 0]: they differ only when -2^30 <= P < 0, where x = 0
 * and both choices give 0. So with k = 2^(e-1) - [acc < 0] (in [0, 2^30]) the result is
 * (P + k * 2^31 + 2^30) >> (31 + e): the high word of that int64 (no overflow: |.| < 2^63)
 * shifted right by e - 1, i.e. one SMLAL and one ASR. Checked against kws.golden.intmath.requantize
 * on every shift with random, tie and extreme accumulators and multipliers; the kernel tests
 * compare whole layers. */
KWS_INLINE int32_t requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    if (KWS_LIKELY(shift < 0)) { /* the usual case: a scale below 0.5 */
        const int32_t e1 = -shift - 1;
        const uint32_t k = ((uint32_t)1 << e1) - (uint32_t)(acc < 0);
        const int64_t c = (int64_t)(((uint64_t)(k >> 1) << 32) | ((k << 31) | 0x40000000u));
        return (int32_t)(((int64_t)acc * multiplier + c) >> 32) >> e1;
    }
    return kws_doubling_high_mult_no_sat(acc * ((int32_t)1 << shift), multiplier);
}

/* Output stage of a layer, passed by value so that it stays in registers (an int8 store may
 * alias anything a pointer points to). Clamping BEFORE adding the zero point is the same as
 * clamp(q + offset, act_min, act_max) but cannot overflow when q is near the int32 limits. */
typedef struct {
    int32_t offset;
    int32_t lo; /* act_min - offset */
    int32_t hi; /* act_max - offset */
} out_stage_t;

KWS_NN_SHARED out_stage_t out_stage(const kws_quant_t *q)
{
    out_stage_t s;
    s.offset = q->output_offset;
    s.lo = q->act_min - q->output_offset;
    s.hi = q->act_max - q->output_offset;
    return s;
}

KWS_INLINE int8_t finish(int32_t acc, int32_t multiplier, int32_t shift, out_stage_t s)
{
    int32_t q = requantize(acc, multiplier, shift);
    q = q < s.lo ? s.lo : q;
    q = q > s.hi ? s.hi : q;
    return (int8_t)(q + s.offset);
}

/* The taps [*k0, *k1) of a kernel placed at `origin` (may be negative: padding) that fall
 * inside [0, size). Padded taps contribute nothing, so they are simply skipped. */
KWS_NN_SHARED void valid_taps(int32_t origin, int32_t kernel, int32_t size, int32_t *k0,
                              int32_t *k1)
{
    *k0 = origin < 0 ? -origin : 0;
    *k1 = size - origin < kernel ? size - origin : kernel;
}

/* ---- multiply-accumulate tiles ----------------------------------------------------------- *
 * tile_2x2: acc[2 * p + o] += sum over `rows` rows of `run` taps of (x_p[i] + offset) * w_o[i]
 * for two pixels x_0 = x, x_1 = x + xk and two output channels w_0 = w, w_1 = w + wk; the rows
 * are x_step / w_step apart. tile_1x2: one pixel (acc[0], acc[1]). acc_t holds a sum modulo 2^32
 * (see the top). The pointwise and im2col kernels have their own, faster tiles in their sources. */

#if KWS_NN_DSP

typedef int32_t acc_t;

KWS_INLINE acc_t acc_init(int32_t v)
{
    return v;
}

KWS_INLINE int32_t acc_value(acc_t a)
{
    return a;
}

/* a + v modulo 2^32 (no signed overflow in C; compiles to one ADD). */
KWS_INLINE acc_t acc_add(acc_t a, uint32_t v)
{
    const uint32_t u = (uint32_t)a + v;
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : (int32_t)(u - 0x80000000u) - INT32_MAX - 1;
}

/* Four int8 as one little-endian word; memcpy makes the unaligned access well defined and
 * compiles to one LDR (Cortex-M4/M7 load unaligned words). */
KWS_INLINE uint32_t load4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Bytes 1 and 3 of v sign-extended into two halfwords (ACLE has no rotate operand). */
KWS_INLINE int32_t sxtb16_ror8(uint32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* a + bytes 1 and 3 of v, halfword by halfword. */
KWS_INLINE int32_t sxtab16_ror8(int32_t a, uint32_t v)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

/* The offset in both halfwords: SXTAB16 then gives x + offset (in [-255, 255]) per lane. */
KWS_INLINE int32_t offset2(int32_t offset)
{
    return (int32_t)(((uint32_t)offset << 16) | ((uint32_t)offset & 0xFFFFu));
}

KWS_INLINE void tile_2x2(const int8_t *x, int32_t xk, const int8_t *w, int32_t wk, int32_t rows,
                         int32_t run, int32_t x_step, int32_t w_step, int32_t offset,
                         acc_t acc[4])
{
    const int32_t off2 = offset2(offset);
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t r, i;
    for (r = 0; r < rows; r++) {
        const int8_t *xp = x, *wp = w;
        for (i = run >> 2; i > 0; i--) {
            const uint32_t ua = load4(wp), ub = load4(wp + wk);
            const int32_t wa02 = __sxtb16(ua), wa13 = sxtb16_ror8(ua);
            const int32_t wb02 = __sxtb16(ub), wb13 = sxtb16_ror8(ub);
            uint32_t v = load4(xp);
            int32_t x02 = __sxtab16(off2, v), x13 = sxtab16_ror8(off2, v);
            a00 = __smlad(x02, wa02, a00);
            a00 = __smlad(x13, wa13, a00);
            a01 = __smlad(x02, wb02, a01);
            a01 = __smlad(x13, wb13, a01);
            v = load4(xp + xk);
            x02 = __sxtab16(off2, v);
            x13 = sxtab16_ror8(off2, v);
            a10 = __smlad(x02, wa02, a10);
            a10 = __smlad(x13, wa13, a10);
            a11 = __smlad(x02, wb02, a11);
            a11 = __smlad(x13, wb13, a11);
            xp += 4;
            wp += 4;
        }
        for (i = run & 3; i > 0; i--) {
            const int32_t va = xp[0] + offset, vb = xp[xk] + offset;
            const int32_t ca = wp[0], cb = wp[wk];
            a00 = __smlabb(va, ca, a00);
            a01 = __smlabb(va, cb, a01);
            a10 = __smlabb(vb, ca, a10);
            a11 = __smlabb(vb, cb, a11);
            xp++;
            wp++;
        }
        x += x_step;
        w += w_step;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

KWS_INLINE void tile_1x2(const int8_t *x, const int8_t *w, int32_t wk, int32_t rows, int32_t run,
                         int32_t x_step, int32_t w_step, int32_t offset, acc_t acc[2])
{
    const int32_t off2 = offset2(offset);
    int32_t a0 = acc[0], a1 = acc[1];
    int32_t r, i;
    for (r = 0; r < rows; r++) {
        const int8_t *xp = x, *wp = w;
        for (i = run >> 2; i > 0; i--) {
            const uint32_t v = load4(xp), ua = load4(wp), ub = load4(wp + wk);
            const int32_t x02 = __sxtab16(off2, v), x13 = sxtab16_ror8(off2, v);
            a0 = __smlad(x02, __sxtb16(ua), a0);
            a0 = __smlad(x13, sxtb16_ror8(ua), a0);
            a1 = __smlad(x02, __sxtb16(ub), a1);
            a1 = __smlad(x13, sxtb16_ror8(ub), a1);
            xp += 4;
            wp += 4;
        }
        for (i = run & 3; i > 0; i--) {
            const int32_t v = *xp++ + offset;
            a0 = __smlabb(v, wp[0], a0);
            a1 = __smlabb(v, wp[wk], a1);
            wp++;
        }
        x += x_step;
        w += w_step;
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* ---- short rows: one output channel against a tile of up to KWS_TILE_PX pixels ---------- *
 * For a streaming step's 1 x W rows (W = 5 or 10 pixels), where unpacking each channel's weights
 * once would be amortised over a handful of pixels: the inputs are unpacked instead, once per
 * call, as x + offset (SXTAB16: each lane in [-255, 255]) in int16 pairs, grouped by 4 taps:
 * for a tile of P pixels, group g holds pixel 0's words (t, t+2), (t+1, t+3) for t = 4g, then
 * pixel 1's, ... (tile_unpack_px). Each group of a channel's 4 weights (one LDR, two
 * SXTB16) then serves the tile's P pixels (one LDRD, two SMLAD each): 3 + 3P instructions for
 * 4P MACs, no weight sums (the offset is in the inputs). */
#define KWS_TILE_PX 5

/* Pixel `slot` of a tile of n_px: taps [0, 4 groups) of x, as x + offset, into tile (the
 * tile's words: group g's 2 n_px words, this pixel's two at 2 slot). */
KWS_INLINE void tile_unpack_px(const int8_t *x, int32_t groups, int32_t slot, int32_t n_px,
                               int32_t off2, uint32_t *tile)
{
    uint32_t *dst = tile + 2 * slot;
    const int32_t step = 2 * n_px;
    int32_t g;
    for (g = 0; g + 2 <= groups; g += 2, x += 8, dst += 2 * step) { /* two groups per turn */
        const uint32_t u = load4(x), v = load4(x + 4);
        dst[0] = (uint32_t)__sxtab16(off2, u);
        dst[1] = (uint32_t)sxtab16_ror8(off2, u);
        dst[step] = (uint32_t)__sxtab16(off2, v);
        dst[step + 1] = (uint32_t)sxtab16_ror8(off2, v);
    }
    if (g < groups) {
        const uint32_t v = load4(x);
        dst[0] = (uint32_t)__sxtab16(off2, v);
        dst[1] = (uint32_t)sxtab16_ror8(off2, v);
    }
}

/* The pixel count of tile i of n pixels in ceil(n / KWS_TILE_PX) tiles as even as can be (5, 5
 * for 10; 4, 3 for 7). */
KWS_INLINE int32_t tile_size(int32_t n, int32_t done)
{
    const int32_t left = n - done;
    const int32_t tiles = (left + KWS_TILE_PX - 1) / KWS_TILE_PX;
    return (left + tiles - 1) / tiles;
}

/* n_tiles tiles of pixels (tile_px[t] each, 1..KWS_TILE_PX), unpacked one after another in
 * `tiles` (k / 2 words per pixel, k % 4 == 0), times the weights w [n_oc][k]: out[p * n_oc + o]
 * = finish(bias[o] + sum_i x_p[i] * w[o][i]), multiplier[o * rq], shift[o * rq] (kws_nn_tiles.c;
 * the short pointwise rows, the fully connected layer and the short convolution maps). */
void kws_nn_tiles_times_weights(const uint32_t *tiles, const int8_t *tile_px, int32_t n_tiles,
                                int32_t k, const int8_t *w, int32_t n_oc, const int32_t *bias,
                                const int32_t *multiplier, const int32_t *shift, int32_t rq,
                                out_stage_t stage, int8_t *out);

/* The same product with the weights as kws_pwconv2d_s8_packed's int16 pairs (kws_nn.h). */
void kws_nn_tiles_times_packed(const uint32_t *tiles, const int8_t *tile_px, int32_t n_tiles,
                               int32_t k, const int32_t *w, int32_t n_oc, const int32_t *bias,
                               const int32_t *multiplier, const int32_t *shift, int32_t rq,
                               out_stage_t stage, int8_t *out);

/* kws_dwconv2d_s8's 3x3 stride-1 windows of at least KWS_DW3_MIN_ROWS output rows whose rows
 * fit its planes (kws_dw3x3_s8.c): whether they apply, and channels [0, c & ~3) of the layer
 * (the arguments checked by kws_dwconv2d_s8). */
int kws_nn_dw3x3_applies(const kws_window_t *win, const kws_dims_t *out_dims);
void kws_nn_dw3x3(const kws_window_t *win, const kws_dims_t *in_dims, const kws_dims_t *out_dims,
                  const int8_t *input, const int8_t *weights, const int32_t *bias,
                  const int32_t *multiplier, const int32_t *shift, int32_t offset,
                  out_stage_t stage, int8_t *output);

#else /* portable */

typedef uint32_t acc_t;

KWS_INLINE acc_t acc_init(int32_t v)
{
    return (uint32_t)v;
}

/* The int32 with the bits of a (no implementation-defined conversion; compiles to nothing). */
KWS_INLINE int32_t acc_value(acc_t a)
{
    return a <= (uint32_t)INT32_MAX ? (int32_t)a : (int32_t)(a - 0x80000000u) - INT32_MAX - 1;
}

KWS_INLINE acc_t acc_add(acc_t a, uint32_t v)
{
    return a + v;
}

/* Products fit int32 (|x + offset| <= 255, |w| <= 127); sums wrap as uint32. One tap per
 * iteration keeps the 4 accumulators, 4 values and the pointers in registers (Cortex-M3: two
 * post-incremented and two register-offset LDRSB, four MLA). */
#define MAC(acc, x, w) ((acc) += (uint32_t)((x) * (w)))

KWS_INLINE void tile_2x2(const int8_t *x, int32_t xk, const int8_t *w, int32_t wk, int32_t rows,
                         int32_t run, int32_t x_step, int32_t w_step, int32_t offset,
                         acc_t acc[4])
{
    uint32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t r;
    for (r = 0; r < rows; r++) {
        const int8_t *xp = x, *wp = w;
        const int8_t *const end = x + run;
        while (xp != end) {
            const int32_t vb = xp[xk] + offset, va = *xp++ + offset;
            const int32_t cb = wp[wk], ca = *wp++;
            MAC(a00, va, ca);
            MAC(a01, va, cb);
            MAC(a10, vb, ca);
            MAC(a11, vb, cb);
        }
        x += x_step;
        w += w_step;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

KWS_INLINE void tile_1x2(const int8_t *x, const int8_t *w, int32_t wk, int32_t rows, int32_t run,
                         int32_t x_step, int32_t w_step, int32_t offset, acc_t acc[2])
{
    uint32_t a0 = acc[0], a1 = acc[1];
    int32_t r;
    for (r = 0; r < rows; r++) {
        const int8_t *xp = x, *wp = w;
        const int8_t *const end = x + run;
        while (xp != end) {
            const int32_t v = *xp++ + offset;
            const int32_t cb = wp[wk], ca = *wp++;
            MAC(a0, v, ca);
            MAC(a1, v, cb);
        }
        x += x_step;
        w += w_step;
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* Two sums in one int64: s = L + H * 2^22, where L and H are sums of products x * w (the
 * portable kernels multiply x by w0 + w1 * 2^22, or x0 + x1 * 2^22 by w: one 32 x 32 -> 64-bit
 * multiply-accumulate, SMLAL on a Cortex-M3, does two MACs). When |L| < 2^21 -- at most 128
 * products of an int8 x (|x * w| <= 128 * 127) or 64 of an x + offset (|x * w| <= 255 * 127) --
 * L is the low 22 bits of s sign-extended and H = (s - L) / 2^22 exactly. split_add adds them to
 * two accumulators (modulo 2^32). */
KWS_INLINE void split_add(int64_t s, acc_t *lo, acc_t *hi)
{
    const int32_t l = (int32_t)(((uint32_t)s & 0x3FFFFFu) ^ 0x200000u) - 0x200000;
    const int64_t h = (s - l) >> 22;
    *lo += (uint32_t)l;
    *hi += (uint32_t)h;
}

#endif /* KWS_NN_DSP: multiply-accumulate tiles */

/* ---- output runs ------------------------------------------------------------------------ */

#if KWS_NN_DSP
/* The usual layer's output stage: the whole int8 range as the clamp (act_min = -128,
 * act_max = 127; a ReLU whose zero point is -128 too). */
KWS_INLINE int full_range(out_stage_t stage)
{
    return stage.lo == INT8_LO - stage.offset && stage.hi == INT8_HI - stage.offset;
}

/* finish(acc, multiplier, shift, stage) for shift <= -2 and a full_range stage, with
 * e1 = -shift - 1 >= 1 and high = 2^(e1 - 1). requantize()'s constant is then, with
 * s = [acc < 0]: high word 2^(e1 - 1) - s, low word 2^30 + s * 2^31 (k = 2^e1 - s:
 * k >> 1 = 2^(e1-1) - s, k << 31 = s * 2^31), i.e. one AND, one ORR and an ADD of acc >> 31;
 * and clamp(q + offset) is q + offset saturated to int32 (QADD: exact, as |q| < 2^31 and the
 * clamp lies inside) and then to int8 (SSAT). */
KWS_INLINE int8_t finish_usual(int32_t a, int32_t multiplier, int32_t e1, int32_t high,
                               int32_t zero)
{
    const uint32_t c_lo = ((uint32_t)a & 0x80000000u) | 0x40000000u;
    const int64_t c = (int64_t)(((uint64_t)(uint32_t)(high + (a >> 31)) << 32) | c_lo);
    const int32_t q = (int32_t)(((int64_t)a * multiplier + c) >> 32) >> e1;
    return (int8_t)__ssat(__qadd(q, zero), 8);
}

#endif /* KWS_NN_DSP: the usual output stage */

/* requant_run, with the usual layer's loop inline (the DSP path): no call per channel of a
 * kernel whose every channel has a few outputs (a streaming step's depthwise rows). */
KWS_NN_OUTLINED void requant_run(const acc_t *acc, int32_t n, int32_t multiplier, int32_t shift,
                               out_stage_t stage, int8_t *dst, int32_t step);

KWS_INLINE void requant_run_inline(const acc_t *acc, int32_t n, int32_t multiplier,
                                   int32_t shift, out_stage_t stage, int8_t *dst, int32_t step)
{
#if KWS_NN_DSP
    if (KWS_LIKELY(shift <= -2) && full_range(stage)) {
        const int32_t e1 = -shift - 1, high = (int32_t)1 << (e1 - 1);
        int32_t i;
        for (i = 0; i < n; i++, dst += step) {
            *dst = finish_usual(acc_value(acc[i]), multiplier, e1, high, stage.offset);
        }
        return;
    }
#endif /* KWS_NN_DSP: the usual layer inline */
    requant_run(acc, n, multiplier, shift, stage, dst, step);
}

/* dst[i * step] = finish(acc[i], multiplier, shift) for i < n: one channel's outputs, its
 * requantisation constants and the clamp in registers. */
KWS_NN_OUTLINED void requant_run(const acc_t *acc, int32_t n, int32_t multiplier, int32_t shift,
                               out_stage_t stage, int8_t *dst, int32_t step)
{
    const int32_t lo = stage.lo, hi = stage.hi, zero = stage.offset;
    int32_t i;
#if KWS_NN_DSP
    /* the usual layer: finish_usual */
    if (KWS_LIKELY(shift <= -2) && full_range(stage)) {
        const int32_t e1 = -shift - 1;
        const int32_t high = (int32_t)1 << (e1 - 1);
        for (i = 0; i < n; i++) {
            *dst = finish_usual(acc_value(acc[i]), multiplier, e1, high, zero);
            dst += step;
        }
        return;
    }
#endif /* KWS_NN_DSP: the usual layer */
    if (KWS_LIKELY(shift < 0)) { /* requantize() with the shift's constants hoisted */
        const int32_t e1 = -shift - 1;
        const uint32_t pow = (uint32_t)1 << e1;
        for (i = 0; i < n; i++) {
            const int32_t a = acc_value(acc[i]);
            const uint32_t k = pow - (uint32_t)(a < 0);
            const int64_t c = (int64_t)(((uint64_t)(k >> 1) << 32) | ((k << 31) | 0x40000000u));
            int32_t q = (int32_t)(((int64_t)a * multiplier + c) >> 32) >> e1;
            q = q < lo ? lo : q;
            q = q > hi ? hi : q;
            *dst = (int8_t)(q + zero);
            dst += step;
        }
    } else {
        for (i = 0; i < n; i++) {
            *dst = finish(acc_value(acc[i]), multiplier, shift, stage);
            dst += step;
        }
    }
}

#endif /* KWS_NN_INTERNAL_H */
