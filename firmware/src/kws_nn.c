/* int8 network kernels. Each mirrors a function of kws/golden.py bit for bit (see kws_nn.h).
 *
 * One structure, two sets of inner loops:
 *   - portable C99 (any CPU: the host tests build it with ASan/UBSan; a Cortex-M3 runs it);
 *   - cores with the Arm DSP extension (__ARM_FEATURE_DSP: Cortex-M4, M7, M33...): 4 int8 at a
 *     time as CMSIS-NN does it -- one word load (memcpy: an unaligned LDR), SXTB16 / SXTAB16
 *     (which also adds the input offset) into two pairs of int16, SMLAD for two 16-bit MACs per
 *     instruction (depthwise: SMLABB/SMLATT, one channel per 16-bit lane). The innermost loops
 *     are inline asm (see KWS_NN_ASM). -DKWS_NN_PORTABLE selects the portable loops there too.
 * No heap; each kernel keeps fixed-size buffers on the stack (sizes below, about 1 KB at most).
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
 * The layers:
 *   - pointwise conv and fully connected (matmul_s8): a matrix product; output channel pairs
 *     outer, pixel pairs inner (each loaded input serves 2 channels, each weight 2 pixels).
 *     DSP: the pair's weights unpacked once into SMLAD order, then per 4 taps one LDM of the
 *     weights, one LDR + 2 SXTB16 per pixel and 8 SMLAD: 15 instructions for 16 MACs.
 *     Portable: the pair's weights packed as w0 + w1 * 2^22, so that one 32 x 32 -> 64-bit
 *     multiply-accumulate (SMLAL) per pixel and tap does both channels' MACs (split_add).
 *   - convolution: windows of up to KWS_CONV_COL_TAPS taps are copied for two pixels at a time
 *     (im2col, x + offset, 0 for padding) and run as a 2 x 2 tile of one contiguous dot product
 *     per channel pair (DSP: int16 in SMLAD order, 15 instructions per 16 MACs; portable: the
 *     two pixels packed as x0 + x1 * 2^22 for SMLAL). Larger windows: conv_direct, the same
 *     tiles over each kernel row's valid run of input.
 *   - depthwise: passes of 4 channels over the whole output, bias, requantisation and (DSP)
 *     the unpacked weights loaded once per pass; 3-wide windows unrolled.
 *   - average pool: one channel at a time (memory-bound and small). */
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
#else
#define KWS_INLINE static inline
#endif

#if defined(__GNUC__)
#define KWS_LIKELY(c) __builtin_expect(!!(c), 1)
#else
#define KWS_LIKELY(c) (c)
#endif

#define INT8_LO (-128)
#define INT8_HI 127

/* ---- argument checks --------------------------------------------------------------------- */

/* a, b, c >= 1 and a*b*c fits int32: every index the kernels form is then below INT32_MAX. */
static int positive_product_fits(int32_t a, int32_t b, int32_t c)
{
    if (a < 1 || b < 1 || c < 1) {
        return 0;
    }
    const int64_t ab = (int64_t)a * b;                 /* < 2^62: no int64 overflow */
    return ab <= INT32_MAX && ab * c <= INT32_MAX;
}

static int dims_ok(const kws_dims_t *d)
{
    return d != 0 && positive_product_fits(d->h, d->w, d->c);
}

static int quant_ok(const kws_quant_t *q)
{
    return q != 0 && q->input_offset >= -127 && q->input_offset <= 128 &&
           q->output_offset >= INT8_LO && q->output_offset <= INT8_HI &&
           q->act_min >= INT8_LO && q->act_min <= q->act_max && q->act_max <= INT8_HI;
}

/* The shift range keeps every shift in kws_requantize defined; a multiplier of 0 is allowed
 * (kws.intmath.quantize_multiplier returns (0, 0) for a negligible scale). */
static int requant_ok(int32_t multiplier, int32_t shift)
{
    return multiplier >= 0 && shift >= -31 && shift <= 30;
}

static int channels_ok(const int32_t *multiplier, const int32_t *shift, const int32_t *bias,
                       int32_t n)
{
    int32_t i;
    if (multiplier == 0 || shift == 0 || bias == 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!requant_ok(multiplier[i], shift[i])) {
            return 0;
        }
    }
    return 1;
}

/* One axis of TF "same" padding: out == ceil(in / stride), pad == the padding before. */
static int same_axis_ok(int32_t in, int32_t out, int32_t kernel, int32_t stride, int32_t pad)
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

static int window_ok(const kws_window_t *win, const kws_dims_t *in, const kws_dims_t *out)
{
    return win != 0 &&
           same_axis_ok(in->h, out->h, win->kernel_h, win->stride_h, win->pad_top) &&
           same_axis_ok(in->w, out->w, win->kernel_w, win->stride_w, win->pad_left);
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
 * shifted right by e - 1, i.e. one SMLAL and one ASR. Checked against kws.intmath.requantize
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

static out_stage_t out_stage(const kws_quant_t *q)
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
static void valid_taps(int32_t origin, int32_t kernel, int32_t size, int32_t *k0, int32_t *k1)
{
    *k0 = origin < 0 ? -origin : 0;
    *k1 = size - origin < kernel ? size - origin : kernel;
}

/* ---- multiply-accumulate tiles ----------------------------------------------------------- *
 * tile_2x2: acc[2 * p + o] += sum over `rows` rows of `run` taps of (x_p[i] + offset) * w_o[i]
 * for two pixels x_0 = x, x_1 = x + xk and two output channels w_0 = w, w_1 = w + wk; the rows
 * are x_step / w_step apart. tile_1x2: one pixel (acc[0], acc[1]). acc_t holds a sum modulo 2^32
 * (see the top). The pointwise and im2col kernels have their own, faster tiles below. */

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

/* The weights of two output channels (rows w and w + wk), taps [0, n) with n % 4 == 0, unpacked
 * once into int16 pairs in SMLAD order: per 4 taps, channel 0's (t, t+2), (t+1, t+3), then
 * channel 1's. */
static void pack_weights_2(const int8_t *w, int32_t wk, int32_t n, uint32_t *dst)
{
    int32_t t;
    for (t = 0; t < n; t += 4, dst += 4) {
        const uint32_t ua = load4(w + t), ub = load4(w + wk + t);
        dst[0] = (uint32_t)__sxtb16(ua);
        dst[1] = (uint32_t)sxtb16_ror8(ua);
        dst[2] = (uint32_t)__sxtb16(ub);
        dst[3] = (uint32_t)sxtb16_ror8(ub);
    }
}

/* 4 taps of dot_2x2_packed: one LDM of the 4 unpacked weight words, per pixel one word of inputs
 * and two SXTB16, 8 SMLAD: 15 instructions for 16 MACs. */
#define KWS_DOT_PACKED_4TAPS                                                                    \
    "ldmia  %[wp]!, {%[w0], %[w1], %[w2], %[w3]}\n\t"                                           \
    "ldr    %[xv], [%[x]], #4\n\t"                                                              \
    "sxtb16 %[x02], %[xv]\n\t"                                                                  \
    "sxtb16 %[xv], %[xv], ror #8\n\t"                                                           \
    "smlad  %[a00], %[x02], %[w0], %[a00]\n\t"                                                  \
    "smlad  %[a00], %[xv], %[w1], %[a00]\n\t"                                                   \
    "smlad  %[a01], %[x02], %[w2], %[a01]\n\t"                                                  \
    "smlad  %[a01], %[xv], %[w3], %[a01]\n\t"                                                   \
    "ldr    %[xv], [%[x], %[km4]]\n\t"                                                          \
    "sxtb16 %[x02], %[xv]\n\t"                                                                  \
    "sxtb16 %[xv], %[xv], ror #8\n\t"                                                           \
    "smlad  %[a10], %[x02], %[w0], %[a10]\n\t"                                                  \
    "smlad  %[a10], %[xv], %[w1], %[a10]\n\t"                                                   \
    "smlad  %[a11], %[x02], %[w2], %[a11]\n\t"                                                  \
    "smlad  %[a11], %[xv], %[w3], %[a11]\n\t"

/* acc[2p + o] += sum_t x_p[t] * w_o[t] for t < n (n % 4 == 0, n >= 4): pixels x and x + k, the
 * two channels' weights packed by pack_weights_2. The four weight registers are pinned in
 * ascending order for LDM. */
#if !KWS_NN_ASM
KWS_INLINE void dot_2x2_packed(const int8_t *x, int32_t k, const uint32_t *wp, int32_t n,
                               acc_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int8_t *const end = x + n;
    for (; x != end; x += 4, wp += 4) {
        const int32_t w0 = (int32_t)wp[0], w1 = (int32_t)wp[1];
        const int32_t w2 = (int32_t)wp[2], w3 = (int32_t)wp[3];
        uint32_t v = load4(x);
        a00 = __smlad(__sxtb16(v), w0, a00);
        a00 = __smlad(sxtb16_ror8(v), w1, a00);
        a01 = __smlad(__sxtb16(v), w2, a01);
        a01 = __smlad(sxtb16_ror8(v), w3, a01);
        v = load4(x + k);
        a10 = __smlad(__sxtb16(v), w0, a10);
        a10 = __smlad(sxtb16_ror8(v), w1, a10);
        a11 = __smlad(__sxtb16(v), w2, a11);
        a11 = __smlad(sxtb16_ror8(v), w3, a11);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}
#else /* !KWS_NN_ASM */
KWS_INLINE void dot_2x2_packed(const int8_t *x, int32_t k, const uint32_t *wp, int32_t n,
                               acc_t acc[4])
{
    register uint32_t w0 __asm__("r8");
    register uint32_t w1 __asm__("r9");
    register uint32_t w2 __asm__("r10");
    register uint32_t w3 __asm__("r11");
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    uint32_t xv, x02;
    if (n & 4) {
        __asm__(KWS_DOT_PACKED_4TAPS
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                  [x] "+r"(x), [wp] "+r"(wp), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2),
                  [w3] "=&r"(w3), [xv] "=&r"(xv), [x02] "=&r"(x02)
                : [km4] "r"(k - 4)
                : "memory");
    }
    if (n >= 8) {
        const int8_t *const end = x + (n & ~7);
        do {
            __asm__(KWS_DOT_PACKED_4TAPS KWS_DOT_PACKED_4TAPS
                    : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                      [x] "+r"(x), [wp] "+r"(wp), [w0] "=&r"(w0), [w1] "=&r"(w1),
                      [w2] "=&r"(w2), [w3] "=&r"(w3), [xv] "=&r"(xv), [x02] "=&r"(x02)
                    : [km4] "r"(k - 4)
                    : "memory");
        } while (x != end);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}
#endif /* !KWS_NN_ASM */

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

#endif /* KWS_NN_DSP */

/* ---- output runs ------------------------------------------------------------------------ */

/* dst[i * step] = finish(acc[i], multiplier, shift) for i < n: one channel's outputs, its
 * requantisation constants and the clamp in registers. */
static void requant_run(const acc_t *acc, int32_t n, int32_t multiplier, int32_t shift,
                        out_stage_t stage, int8_t *dst, int32_t step)
{
    const int32_t lo = stage.lo, hi = stage.hi, zero = stage.offset;
    int32_t i;
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

/* ---- convolution ------------------------------------------------------------------------- *
 * Small windows (kernel_h * kernel_w * in_c <= KWS_CONV_COL_TAPS, e.g. the DS-CNN's 10x4x1) go
 * through im2col: the windows of two output pixels are copied as x + offset, 0 for the padded
 * taps, into buffers on the stack (DSP: 324 B, int16 in SMLAD order; portable: 512 B, the pair
 * packed as x0 + x1 * 2^22), and every output channel pair is then a 2 x 2 tile of one contiguous
 * dot product, padding or not. Larger windows run the direct loop (conv_direct). */

#define KWS_CONV_COL_TAPS 64

#if KWS_NN_DSP
/* im2col layout for SMLAD: per 4 taps t..t+3, pixel 0's (t, t+2) and (t+1, t+3) halfword pairs,
 * then pixel 1's: the order in which SXTB16 / SXTB16 ROR 8 unpack 4 weights. */
#define COL_INDEX(t, slot, taps) \
    (8 * ((t) >> 2) + 4 * (slot) + ((((t) & 1) << 1) | (((t) >> 1) & 1)))
typedef int8_t col_fill_t; /* the window as int8, padding = -offset (x + offset = 0) */
#else /* KWS_NN_DSP */
#define COL_INDEX(t, slot, taps) ((slot) * (taps) + (t))
typedef int16_t col_fill_t; /* the window as int16 x + offset, padding = 0 */
#endif /* KWS_NN_DSP */

/* The window of output pixel (oy, ox), tap after tap in the weights' order (ky, kx, ci). */
static void im2col_fill(const kws_window_t *win, const kws_dims_t *in_dims, const int8_t *input,
                        int32_t oy, int32_t ox, int32_t offset, col_fill_t *dst)
{
    const int32_t in_c = in_dims->c, kw = win->kernel_w;
    const int32_t iy0 = oy * win->stride_h - win->pad_top;
    const int32_t ix0 = ox * win->stride_w - win->pad_left;
#if KWS_NN_DSP
    const col_fill_t pad = (col_fill_t)-offset; /* in [-128, 127] */
#define COL_VALUE(v) (v)
#else /* KWS_NN_DSP */
    const col_fill_t pad = 0;
#define COL_VALUE(v) ((col_fill_t)((v) + offset))
#endif /* KWS_NN_DSP */
    int32_t kx0, kx1, ky, i;
    valid_taps(ix0, kw, in_dims->w, &kx0, &kx1);
    for (ky = 0; ky < win->kernel_h; ky++) {
        const int32_t iy = iy0 + ky;
        if (iy < 0 || iy >= in_dims->h) {
            for (i = kw * in_c; i > 0; i--) {
                *dst++ = pad;
            }
            continue;
        }
        const int8_t *src = input + (iy * in_dims->w + ix0 + kx0) * in_c;
        for (i = kx0 * in_c; i > 0; i--) {
            *dst++ = pad;
        }
        for (i = (kx1 - kx0) * in_c; i > 0; i--) {
            *dst++ = COL_VALUE(*src++);
        }
        for (i = (kw - kx1) * in_c; i > 0; i--) {
            *dst++ = pad;
        }
    }
#undef COL_VALUE
}

#if KWS_NN_DSP

/* acc[2p + o] += sum_t col_p[t] * w_o[t], t < taps; w_1 = w + wk. 4 taps: one LDM of the 4
 * im2col words (registers pinned in ascending order), per channel one weight word unpacked by
 * two SXTB16, 8 SMLAD: 15 instructions for 16 MACs. */
KWS_INLINE void dot_2x2_col(const int16_t *col, const int8_t *w, int32_t wk, int32_t taps,
                            acc_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int32_t blocks = taps >> 2;
    int32_t t;
#if !KWS_NN_ASM
    for (t = 0; t < blocks; t++, w += 4) {
        const uint32_t *const cw = (const uint32_t *)(const void *)(col + 8 * t);
        const uint32_t ua = load4(w), ub = load4(w + wk);
        const int32_t wa02 = __sxtb16(ua), wa13 = sxtb16_ror8(ua);
        const int32_t wb02 = __sxtb16(ub), wb13 = sxtb16_ror8(ub);
        a00 = __smlad((int32_t)cw[0], wa02, a00);
        a00 = __smlad((int32_t)cw[1], wa13, a00);
        a10 = __smlad((int32_t)cw[2], wa02, a10);
        a10 = __smlad((int32_t)cw[3], wa13, a10);
        a01 = __smlad((int32_t)cw[0], wb02, a01);
        a01 = __smlad((int32_t)cw[1], wb13, a01);
        a11 = __smlad((int32_t)cw[2], wb02, a11);
        a11 = __smlad((int32_t)cw[3], wb13, a11);
    }
#else /* !KWS_NN_ASM */
    if (blocks > 0) {
        register uint32_t c0 __asm__("r8");
        register uint32_t c1 __asm__("r9");
        register uint32_t c2 __asm__("r10");
        register uint32_t c3 __asm__("r11");
        const int16_t *x = col;
        const int16_t *const end = col + 8 * blocks;
        uint32_t t0, t1;
        do {
            __asm__("ldmia  %[x]!, {%[c0], %[c1], %[c2], %[c3]}\n\t"
                    "ldr    %[t0], [%[w]], #4\n\t"
                    "sxtb16 %[t1], %[t0]\n\t"
                    "sxtb16 %[t0], %[t0], ror #8\n\t"
                    "smlad  %[a00], %[c0], %[t1], %[a00]\n\t"
                    "smlad  %[a00], %[c1], %[t0], %[a00]\n\t"
                    "smlad  %[a10], %[c2], %[t1], %[a10]\n\t"
                    "smlad  %[a10], %[c3], %[t0], %[a10]\n\t"
                    "ldr    %[t0], [%[w], %[wkm4]]\n\t"
                    "sxtb16 %[t1], %[t0]\n\t"
                    "sxtb16 %[t0], %[t0], ror #8\n\t"
                    "smlad  %[a01], %[c0], %[t1], %[a01]\n\t"
                    "smlad  %[a01], %[c1], %[t0], %[a01]\n\t"
                    "smlad  %[a11], %[c2], %[t1], %[a11]\n\t"
                    "smlad  %[a11], %[c3], %[t0], %[a11]\n\t"
                    : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                      [x] "+r"(x), [w] "+r"(w), [c0] "=&r"(c0), [c1] "=&r"(c1), [c2] "=&r"(c2),
                      [c3] "=&r"(c3), [t0] "=&r"(t0), [t1] "=&r"(t1)
                    : [wkm4] "r"(wk - 4)
                    : "memory");
        } while (x != end);
    }
#endif /* !KWS_NN_ASM */
    for (t = 4 * blocks; t < taps; t++) {
        const int32_t ca = *w, cb = w[wk];
        const int32_t va = col[COL_INDEX(t, 0, taps)], vb = col[COL_INDEX(t, 1, taps)];
        a00 = __smlabb(va, ca, a00);
        a01 = __smlabb(va, cb, a01);
        a10 = __smlabb(vb, ca, a10);
        a11 = __smlabb(vb, cb, a11);
        w++;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

#else /* KWS_NN_DSP */

/* acc[2p + o] += sum_t x_p[t] * w_o[t] for t < taps (<= 64): col[t] = x_0[t] + x_1[t] * 2^22,
 * one SMLAL per channel and tap (see split_add). */
typedef char kws_conv_col_check[KWS_CONV_COL_TAPS <= 64 ? 1 : -1];

KWS_INLINE void dot_2x2_col(const int32_t *col, const int8_t *w, int32_t wk, int32_t taps,
                            acc_t acc[4])
{
    int64_t s0 = 0, s1 = 0;
    const int32_t *xp = col;
    const int32_t *end = col + (taps & ~3);
    while (xp != end) {
        s0 += (int64_t)xp[0] * w[0];
        s1 += (int64_t)xp[0] * w[wk];
        s0 += (int64_t)xp[1] * w[1];
        s1 += (int64_t)xp[1] * w[wk + 1];
        s0 += (int64_t)xp[2] * w[2];
        s1 += (int64_t)xp[2] * w[wk + 2];
        s0 += (int64_t)xp[3] * w[3];
        s1 += (int64_t)xp[3] * w[wk + 3];
        xp += 4;
        w += 4;
    }
    for (end += taps & 3; xp != end; xp++, w++) {
        s0 += (int64_t)xp[0] * w[0];
        s1 += (int64_t)xp[0] * w[wk];
    }
    split_add(s0, &acc[0], &acc[2]);
    split_add(s1, &acc[1], &acc[3]);
}

#endif /* KWS_NN_DSP */

static void conv_im2col(const kws_window_t *window, const kws_quant_t *quant,
                        const int32_t *multiplier, const int32_t *shift,
                        const kws_dims_t *in_dims, const int8_t *input, const int8_t *weights,
                        const int32_t *bias, const kws_dims_t *out_dims, int8_t *output)
{
#if KWS_NN_DSP
    int16_t col[2 * KWS_CONV_COL_TAPS + 8] __attribute__((aligned(4)));
    int8_t fill[KWS_CONV_COL_TAPS + 4];
    const int32_t off2 = offset2(quant->input_offset);
    int32_t b, slot;
#else /* KWS_NN_DSP */
    int16_t fill[2 * KWS_CONV_COL_TAPS];
    int32_t col[KWS_CONV_COL_TAPS];
    int32_t t;
#endif /* KWS_NN_DSP */
    const int32_t out_w = out_dims->w, out_c = out_dims->c;
    const int32_t n_px = out_dims->h * out_w;
    const int32_t taps = window->kernel_h * window->kernel_w * in_dims->c;
    const int32_t offset = quant->input_offset;
    const out_stage_t stage = out_stage(quant);
    int32_t p, oc;
    for (p = 0; p < n_px; p += 2) {
        /* an odd pixel count: the last pass computes its pixel twice */
        const int32_t p1 = p + 1 < n_px ? p + 1 : p;
        int8_t *const out0 = output + p * out_c, *const out1 = output + p1 * out_c;
        const int8_t *w = weights;
#if KWS_NN_DSP
        /* each pixel's window as int8, then 4 taps at a time into the SMLAD layout (SXTAB16
         * adds the offset; the padding after the last tap becomes 0 and is never used) */
        for (slot = 0; slot < 2; slot++) {
            const int32_t q = slot ? p1 : p;
            uint32_t *dst = (uint32_t *)(void *)col + 2 * slot;
            im2col_fill(window, in_dims, input, q / out_w, q % out_w, offset, fill);
            memset(fill + taps, (int8_t)-offset, 4);
            for (b = 0; b < taps; b += 4, dst += 4) {
                const uint32_t v = load4(fill + b);
                dst[0] = (uint32_t)__sxtab16(off2, v);
                dst[1] = (uint32_t)sxtab16_ror8(off2, v);
            }
        }
#else /* KWS_NN_DSP */
        /* both windows as int16 x + offset, then packed in pairs: col[t] = x_0 + x_1 * 2^22 */
        im2col_fill(window, in_dims, input, p / out_w, p % out_w, offset, fill);
        im2col_fill(window, in_dims, input, p1 / out_w, p1 % out_w, offset, fill + taps);
        for (t = 0; t < taps; t++) {
            col[t] = (int32_t)fill[t] + (int32_t)fill[taps + t] * (1 << 22);
        }
#endif /* KWS_NN_DSP */
        for (oc = 0; oc < out_c; oc += 2, w += 2 * taps) {
            /* an odd channel count: the last pass computes its channel twice */
            const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
            acc_t acc[4];
            acc[0] = acc[2] = acc_init(bias[oc]);
            acc[1] = acc[3] = acc_init(bias[oc1]);
            dot_2x2_col(col, w, (oc1 - oc) * taps, taps, acc);
            out0[oc] = finish(acc_value(acc[0]), multiplier[oc], shift[oc], stage);
            out1[oc] = finish(acc_value(acc[2]), multiplier[oc], shift[oc], stage);
            if (oc1 != oc) {
                out0[oc1] = finish(acc_value(acc[1]), multiplier[oc1], shift[oc1], stage);
                out1[oc1] = finish(acc_value(acc[3]), multiplier[oc1], shift[oc1], stage);
            }
        }
    }
}

/* The direct loop, for windows too large for the im2col buffer: the valid taps of each kernel
 * row are one contiguous run of input (NHWC) and of weights ([out_c][kh][kw][in_c]). */
static void conv_direct(const kws_window_t *window, const kws_quant_t *quant,
                        const int32_t *multiplier, const int32_t *shift,
                        const kws_dims_t *in_dims, const int8_t *input, const int8_t *weights,
                        const int32_t *bias, const kws_dims_t *out_dims, int8_t *output)
{
    const int32_t in_w = in_dims->w, in_c = in_dims->c;
    const int32_t kh = window->kernel_h, kw = window->kernel_w;
    const int32_t out_h = out_dims->h, out_w = out_dims->w, out_c = out_dims->c;
    const int32_t filter_size = kh * kw * in_c; /* weights of one output channel */
    const int32_t x_row = in_w * in_c, w_row = kw * in_c; /* one kernel row down */
    const int32_t x_pair = window->stride_h * x_row;    /* one output row down, in the input */
    const int32_t out_row = out_w * out_c;
    const int32_t offset = quant->input_offset;
    const out_stage_t stage = out_stage(quant);
    int32_t oy, ox, oc, pass;

    for (oy = 0; oy < out_h; oy += pass) {
        const int32_t iy = oy * window->stride_h - window->pad_top;
        int32_t ky0, ky1;
        valid_taps(iy, kh, in_dims->h, &ky0, &ky1);
        /* Two output rows per pass when the next one's window covers the same kernel rows. */
        pass = 1;
        if (oy + 1 < out_h) {
            int32_t ky0b, ky1b;
            valid_taps(iy + window->stride_h, kh, in_dims->h, &ky0b, &ky1b);
            pass = ky0b == ky0 && ky1b == ky1 ? 2 : 1;
        }
        for (ox = 0; ox < out_w; ox++) {
            const int32_t ix = ox * window->stride_w - window->pad_left;
            int32_t kx0, kx1;
            valid_taps(ix, kw, in_w, &kx0, &kx1);
            /* In NHWC the valid taps of one kernel row are one contiguous run of input, and
             * in [out_c][kh][kw][in_c] the matching weights are contiguous too. */
            const int32_t rows = ky1 - ky0, run = (kx1 - kx0) * in_c;
            const int8_t *x = input + ((iy + ky0) * in_w + ix + kx0) * in_c;
            const int8_t *w = weights + (ky0 * kw + kx0) * in_c;
            int8_t *out = output + (oy * out_w + ox) * out_c;
            for (oc = 0; oc < out_c; oc += 2, w += 2 * filter_size) {
                /* an odd channel count: the last pass computes its channel twice */
                const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
                const int32_t wk = (oc1 - oc) * filter_size;
                if (pass == 2) {
                    acc_t acc[4];
                    acc[0] = acc[2] = acc_init(bias[oc]);
                    acc[1] = acc[3] = acc_init(bias[oc1]);
                    tile_2x2(x, x_pair, w, wk, rows, run, x_row, w_row, offset, acc);
                    out[oc] = finish(acc_value(acc[0]), multiplier[oc], shift[oc], stage);
                    out[out_row + oc] = finish(acc_value(acc[2]), multiplier[oc], shift[oc], stage);
                    if (oc1 != oc) {
                        out[oc1] = finish(acc_value(acc[1]), multiplier[oc1], shift[oc1], stage);
                        out[out_row + oc1] =
                            finish(acc_value(acc[3]), multiplier[oc1], shift[oc1], stage);
                    }
                } else {
                    acc_t acc[2];
                    acc[0] = acc_init(bias[oc]);
                    acc[1] = acc_init(bias[oc1]);
                    tile_1x2(x, w, wk, rows, run, x_row, w_row, offset, acc);
                    out[oc] = finish(acc_value(acc[0]), multiplier[oc], shift[oc], stage);
                    if (oc1 != oc) {
                        out[oc1] = finish(acc_value(acc[1]), multiplier[oc1], shift[oc1], stage);
                    }
                }
            }
        }
    }
}

kws_status_t kws_conv2d_s8(const kws_window_t *window, const kws_quant_t *quant,
                           const int32_t *multiplier, const int32_t *shift,
                           const kws_dims_t *in_dims, const int8_t *input,
                           const int8_t *weights, const int32_t *bias,
                           const kws_dims_t *out_dims, int8_t *output)
{
    if (!dims_ok(in_dims) || !dims_ok(out_dims) || !window_ok(window, in_dims, out_dims) ||
        !quant_ok(quant) || input == 0 || weights == 0 || output == 0 ||
        !positive_product_fits(window->kernel_h, window->kernel_w, in_dims->c) ||
        !positive_product_fits(window->kernel_h * window->kernel_w * in_dims->c, out_dims->c,
                               1) ||
        !channels_ok(multiplier, shift, bias, out_dims->c)) {
        return KWS_ERR_ARG;
    }
    if (window->kernel_h * window->kernel_w * in_dims->c <= KWS_CONV_COL_TAPS) {
        conv_im2col(window, quant, multiplier, shift, in_dims, input, weights, bias, out_dims,
                    output);
    } else {
        conv_direct(window, quant, multiplier, shift, in_dims, input, weights, bias, out_dims,
                    output);
    }
    return KWS_OK;
}

/* ---- depthwise convolution --------------------------------------------------------------- *
 * Four channels per pass over the whole output (the pass's bias, requantisation and, on the DSP
 * path, its weights unpacked to int16 pairs are loaded once), the accumulators in registers;
 * windows 3 taps wide (a 3x3 kernel away from the left and right edges) unrolled. The last
 * c % 4 channels one by one. */

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
#endif /* KWS_NN_DSP */

/* Channels [ch, ch + 4) of the depthwise convolution; w_pass: their weights, tap t at
 * w_pass + t * w_tap (w_tap: c int8 in place, or 2 words unpacked). */
static void dw_pass4(const kws_window_t *win, const kws_dims_t *in_dims,
                     const kws_dims_t *out_dims, const int8_t *input, const dw_w_t *w_pass,
                     int32_t w_tap, int32_t ch, int32_t offset, const int32_t *bias,
                     const int32_t *multiplier, const int32_t *shift, out_stage_t stage,
                     int8_t *output)
{
    const int32_t c = in_dims->c, in_w = in_dims->w, kw = win->kernel_w;
    const int32_t x_row = in_w * c, w_row = kw * w_tap;
    const int32_t b0 = bias[ch], b1 = bias[ch + 1], b2 = bias[ch + 2], b3 = bias[ch + 3];
    int32_t k;
#if KWS_NN_DSP
    const int32_t off2 = offset2(offset);
#else /* KWS_NN_DSP */
    /* a whole window's offset * sum(w), per channel: its taps are then plain products */
    const int32_t kh = win->kernel_h;
    uint32_t f0 = 0, f1 = 0, f2 = 0, f3 = 0;
    for (k = 0; k < kh * kw; k++) {
        f0 += (uint32_t)(int32_t)w_pass[k * w_tap];
        f1 += (uint32_t)(int32_t)w_pass[k * w_tap + 1];
        f2 += (uint32_t)(int32_t)w_pass[k * w_tap + 2];
        f3 += (uint32_t)(int32_t)w_pass[k * w_tap + 3];
    }
    f0 *= (uint32_t)offset;
    f1 *= (uint32_t)offset;
    f2 *= (uint32_t)offset;
    f3 *= (uint32_t)offset;
#endif /* KWS_NN_DSP */
    acc_t runs[4][KWS_DW_RUN];
    const int32_t n_px = out_dims->h * out_dims->w;
    int32_t p0, i, r, oy = 0, ox = 0;
    input += ch;
    /* the pixels in runs of up to KWS_DW_RUN: accumulators, then each channel's requantisation
     * with its constants in registers */
    for (p0 = 0; p0 < n_px; p0 += KWS_DW_RUN) {
        const int32_t n = n_px - p0 < KWS_DW_RUN ? n_px - p0 : KWS_DW_RUN;
        for (i = 0; i < n; i++) {
            const int32_t iy = oy * win->stride_h - win->pad_top;
            const int32_t ix = ox * win->stride_w - win->pad_left;
            int32_t ky0, ky1, kx0, kx1;
            valid_taps(iy, win->kernel_h, in_dims->h, &ky0, &ky1);
            valid_taps(ix, kw, in_w, &kx0, &kx1);
            const int32_t rows = ky1 - ky0, cols = kx1 - kx0;
            const int8_t *xr = input + (iy + ky0) * x_row + (ix + kx0) * c;
            const dw_w_t *wr = w_pass + ky0 * w_row + kx0 * w_tap;
            acc_t a0 = acc_init(b0), a1 = acc_init(b1), a2 = acc_init(b2), a3 = acc_init(b3);
            if (++ox == out_dims->w) {
                ox = 0;
                oy++;
            }
#if KWS_NN_ASM
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
#elif KWS_NN_DSP
            {
#else /* portable */
            if (rows == kh && cols == kw) { /* a whole window: the offset in the bias */
                a0 += f0;
                a1 += f1;
                a2 += f2;
                a3 += f3;
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
#endif /* KWS_NN_ASM */
                for (r = 0; r < rows; r++, xr += x_row, wr += w_row) {
                    for (k = 0; k < cols; k++) {
                        DW_TAP4(xr + k * c, wr + k * w_tap);
                    }
                }
            }
            runs[0][i] = a0;
            runs[1][i] = a1;
            runs[2][i] = a2;
            runs[3][i] = a3;
        }
        for (k = 0; k < 4; k++) {
            requant_run(runs[k], n, multiplier[ch + k], shift[ch + k], stage,
                        output + p0 * c + ch + k, c);
        }
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
    if (taps <= KWS_DW_TAPS) {
        uint32_t unpacked[2 * KWS_DW_TAPS];
        int32_t t;
        for (; ch + 4 <= c; ch += 4) {
            for (t = 0; t < taps; t++) {
                const uint32_t v = load4(weights + t * c + ch);
                unpacked[2 * t] = (uint32_t)__sxtb16(v);
                unpacked[2 * t + 1] = (uint32_t)sxtb16_ror8(v);
            }
            dw_pass4(window, in_dims, out_dims, input, unpacked, DW_W_TAP, ch, offset, bias,
                     multiplier, shift, stage, output);
        }
    }
#else /* KWS_NN_DSP */
    (void)taps;
    for (; ch + 4 <= c; ch += 4) {
        dw_pass4(window, in_dims, out_dims, input, weights + ch, c, ch, offset, bias, multiplier,
                 shift, stage, output);
    }
#endif /* KWS_NN_DSP */
    for (; ch < c; ch++) {
        dw_channel(window, in_dims, out_dims, input, weights, ch, offset, bias, multiplier, shift,
                   stage, output);
    }
    return KWS_OK;
}

/* ---- pointwise (1x1) convolution and fully connected: one matrix product ---------------- */

/* offset * sum of w[0..n), modulo 2^32. */
static uint32_t offset_times_sum(const int8_t *w, int32_t n, int32_t offset)
{
    uint32_t sum = 0;
    int32_t i;
    for (i = 0; i < n; i++) {
        sum += (uint32_t)(int32_t)w[i];
    }
    return sum * (uint32_t)offset;
}

/* taps per weight packing: 64 words on the stack (DSP: 2 x 64 int16; portable: 64 int32) */
#define KWS_PW_KCHUNK 64

#if !KWS_NN_DSP
/* split_add's bound: at most 128 products of an int8 x and a weight */
typedef char kws_pw_chunk_check[KWS_PW_KCHUNK <= 128 ? 1 : -1];


/* s0 += sum x[t] * W[t], s1 += sum x[k + t] * W[t] for t < n: two pixels, k apart. */
KWS_INLINE void dot_pair_2px(const int8_t *x, int32_t k, const int32_t *wp, int32_t n,
                             int64_t *s0, int64_t *s1)
{
    int64_t a = *s0, b = *s1;
    const int8_t *end = x + (n & ~3);
    while (x != end) {
        b += (int64_t)x[k] * wp[0];
        a += (int64_t)x[0] * wp[0];
        b += (int64_t)x[k + 1] * wp[1];
        a += (int64_t)x[1] * wp[1];
        b += (int64_t)x[k + 2] * wp[2];
        a += (int64_t)x[2] * wp[2];
        b += (int64_t)x[k + 3] * wp[3];
        a += (int64_t)x[3] * wp[3];
        x += 4;
        wp += 4;
    }
    for (end += n & 3; x != end; x++, wp++) {
        b += (int64_t)x[k] * wp[0];
        a += (int64_t)x[0] * wp[0];
    }
    *s0 = a;
    *s1 = b;
}
#endif /* !KWS_NN_DSP */

/* pixels per requantisation run: 2 x 32 accumulators on the stack */
#define KWS_MM_CHUNK 32

/* out[p * n_oc + o] = finish(bias[o] + sum_i (x[p * k + i] + offset) * w[o * k + i]) for
 * pixels p < n_px and channels o < n_oc; the requantisation of channel o is multiplier[o * rq],
 * shift[o * rq] (rq = 1: per channel; 0: per tensor). Channel pairs outer, with their weights
 * (unpacked or packed per KWS_PW_KCHUNK taps) and bias + offset * sum(w) hoisted (the sums are
 * modulo 2^32, so folding the offset into the bias is exact and the inner loop is a pure
 * int8 x int8 dot product; a single pixel, fully connected, adds the offset to its inputs
 * instead); pixel pairs inner, their accumulators collected for KWS_MM_CHUNK pixels and then
 * requantised channel by channel. */
static void matmul_s8(const int8_t *x, int32_t n_px, int32_t k, const int8_t *w, int32_t n_oc,
                      const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                      int32_t rq, int32_t offset, out_stage_t stage, int8_t *out)
{
    acc_t runs[2][KWS_MM_CHUNK];
#if KWS_NN_DSP
    uint32_t packed[KWS_PW_KCHUNK]; /* two channels x KWS_PW_KCHUNK taps as int16 */
#else /* KWS_NN_DSP */
    int32_t packed[KWS_PW_KCHUNK]; /* two channels x KWS_PW_KCHUNK taps, w0 + w1 * 2^22 */
#endif /* KWS_NN_DSP */
    int32_t o, p0, p;
    for (o = 0; o < n_oc; o += 2) {
        /* an odd channel count: the last pass computes its channel twice */
        const int32_t o1 = o + 1 < n_oc ? o + 1 : o;
        const int8_t *const w0 = w + o * k;
        const int32_t wk = (o1 - o) * k;
        /* one pixel (fully connected): the offset is added to the inputs instead */
        const int32_t off1 = n_px > 1 ? 0 : offset;
        const acc_t b0 = acc_add(acc_init(bias[o]), off1 ? 0 : offset_times_sum(w0, k, offset));
        const acc_t b1 =
            acc_add(acc_init(bias[o1]), off1 ? 0 : offset_times_sum(w0 + wk, k, offset));
        for (p0 = 0; p0 < n_px; p0 += KWS_MM_CHUNK) {
            const int32_t n = n_px - p0 < KWS_MM_CHUNK ? n_px - p0 : KWS_MM_CHUNK;
#if KWS_NN_DSP
            /* the taps in blocks of 4 with the weights unpacked once per KWS_PW_KCHUNK taps,
             * then the last k % 4 taps */
            const int32_t k4 = k & ~3;
            int32_t kc, t;
            for (p = 0; p < n; p++) {
                runs[0][p] = b0;
                runs[1][p] = b1;
            }
            for (kc = 0; kc < k4; kc += KWS_PW_KCHUNK) {
                const int32_t len = k4 - kc < KWS_PW_KCHUNK ? k4 - kc : KWS_PW_KCHUNK;
                const int8_t *xp = x + p0 * k + kc;
                if (n >= 2) { /* unpacking pays off from one pixel pair on */
                    pack_weights_2(w0 + kc, wk, len, packed);
                }
                for (p = 0; p + 2 <= n; p += 2, xp += 2 * k) {
                    acc_t acc[4];
                    acc[0] = runs[0][p];
                    acc[1] = runs[1][p];
                    acc[2] = runs[0][p + 1];
                    acc[3] = runs[1][p + 1];
                    dot_2x2_packed(xp, k, packed, len, acc);
                    runs[0][p] = acc[0];
                    runs[1][p] = acc[1];
                    runs[0][p + 1] = acc[2];
                    runs[1][p + 1] = acc[3];
                }
                if (p < n) { /* an odd pixel count leaves one */
                    acc_t acc[2];
                    acc[0] = runs[0][p];
                    acc[1] = runs[1][p];
                    tile_1x2(xp, w0 + kc, wk, 1, len, 0, 0, off1, acc);
                    runs[0][p] = acc[0];
                    runs[1][p] = acc[1];
                }
            }
            for (t = k4; t < k; t++) {
                const int32_t ca = w0[t], cb = w0[wk + t];
                for (p = 0; p < n; p++) {
                    const int32_t v = x[(p0 + p) * k + t] + off1;
                    runs[0][p] = __smlabb(v, ca, runs[0][p]);
                    runs[1][p] = __smlabb(v, cb, runs[1][p]);
                }
            }
#else /* KWS_NN_DSP */
            /* Two channels per multiply: W = w0 + w1 * 2^22 (exact in int32), and for one pixel
             * S = sum x * W = L + H * 2^22 in int64, L = sum x * w0, H = sum x * w1 (see
             * split_add); one 32 x 32 -> 64-bit multiply-accumulate (SMLAL) does 2 MACs. */
            int32_t kc, t;
            for (p = 0; p < n; p++) {
                runs[0][p] = b0;
                runs[1][p] = b1;
            }
            for (kc = 0; kc < k; kc += KWS_PW_KCHUNK) {
                const int32_t len = k - kc < KWS_PW_KCHUNK ? k - kc : KWS_PW_KCHUNK;
                const int8_t *xp = x + p0 * k + kc;
                if (n < 2) { /* one pixel (fully connected): plain products */
                    acc_t acc[2];
                    acc[0] = runs[0][0];
                    acc[1] = runs[1][0];
                    tile_1x2(xp, w0 + kc, wk, 1, len, 0, 0, off1, acc);
                    runs[0][0] = acc[0];
                    runs[1][0] = acc[1];
                    continue;
                }
                for (t = 0; t < len; t++) {
                    packed[t] = (int32_t)w0[kc + t] + (int32_t)w0[wk + kc + t] * (1 << 22);
                }
                for (p = 0; p + 2 <= n; p += 2, xp += 2 * k) {
                    int64_t s0 = 0, s1 = 0;
                    dot_pair_2px(xp, k, packed, len, &s0, &s1);
                    split_add(s0, &runs[0][p], &runs[1][p]);
                    split_add(s1, &runs[0][p + 1], &runs[1][p + 1]);
                }
                if (p < n) { /* an odd pixel count leaves one */
                    int64_t s0 = 0;
                    for (t = 0; t < len; t++) {
                        s0 += (int64_t)xp[t] * packed[t];
                    }
                    split_add(s0, &runs[0][p], &runs[1][p]);
                }
            }
#endif /* KWS_NN_DSP */
            requant_run(runs[0], n, multiplier[o * rq], shift[o * rq], stage,
                        out + p0 * n_oc + o, n_oc);
            if (o1 != o) {
                requant_run(runs[1], n, multiplier[o1 * rq], shift[o1 * rq], stage,
                            out + p0 * n_oc + o1, n_oc);
            }
        }
    }
}

kws_status_t kws_pwconv2d_s8(const kws_quant_t *quant, const int32_t *multiplier,
                             const int32_t *shift, const kws_dims_t *in_dims,
                             const int8_t *input, const int8_t *weights, const int32_t *bias,
                             int32_t out_c, int8_t *output)
{
    if (!dims_ok(in_dims) || !quant_ok(quant) || input == 0 || weights == 0 || output == 0 ||
        !positive_product_fits(in_dims->h, in_dims->w, out_c) ||
        !positive_product_fits(in_dims->c, out_c, 1) ||
        !channels_ok(multiplier, shift, bias, out_c)) {
        return KWS_ERR_ARG;
    }
    matmul_s8(input, in_dims->h * in_dims->w, in_dims->c, weights, out_c, bias, multiplier, shift,
              1, quant->input_offset, out_stage(quant), output);
    return KWS_OK;
}

/* ---- global average pool ----------------------------------------------------------------- */

kws_status_t kws_avgpool_s8(const kws_dims_t *in_dims, const int8_t *input, int8_t *output)
{
    /* count <= 2^23 keeps |sum| + count / 2 within int32 (|sum| <= 128 * count). */
    if (!dims_ok(in_dims) || input == 0 || output == 0 ||
        (int64_t)in_dims->h * in_dims->w > ((int32_t)1 << 23)) {
        return KWS_ERR_ARG;
    }
    const int32_t c = in_dims->c;
    const int32_t count = in_dims->h * in_dims->w;
    const int32_t half = count / 2;
    int32_t ch, p;

    for (ch = 0; ch < c; ch++) {
        const int8_t *x = input + ch;
        int32_t sum = 0;
        for (p = 0; p < count; p++) {
            sum += x[p * c];
        }
        /* TFLite reference: divide rounding half away from zero (C division truncates, so
         * round the magnitude). A mean of int8 values is int8 again; clamp for form's sake. */
        int32_t avg = sum >= 0 ? (sum + half) / count : -((-sum + half) / count);
        avg = avg < INT8_LO ? INT8_LO : avg;
        avg = avg > INT8_HI ? INT8_HI : avg;
        output[ch] = (int8_t)avg;
    }
    return KWS_OK;
}

/* ---- fully connected --------------------------------------------------------------------- */

kws_status_t kws_fc_s8(const kws_quant_t *quant, int32_t multiplier, int32_t shift,
                       int32_t in_n, const int8_t *input, const int8_t *weights,
                       const int32_t *bias, int32_t out_n, int8_t *output)
{
    if (!quant_ok(quant) || !requant_ok(multiplier, shift) || input == 0 || weights == 0 ||
        bias == 0 || output == 0 || !positive_product_fits(in_n, out_n, 1)) {
        return KWS_ERR_ARG;
    }
    /* one pixel of in_n values times [out_n][in_n]; one multiplier and shift for all */
    matmul_s8(input, 1, in_n, weights, out_n, bias, &multiplier, &shift, 0, quant->input_offset,
              out_stage(quant), output);
    return KWS_OK;
}
