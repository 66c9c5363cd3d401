/* Fixed-point MFCC front end. Each step mirrors kws/mfcc_fixed.py (the reference); the step
 * numbers below are the ones documented there, and every integer this code produces equals the
 * reference's. The work is arranged differently where integer arithmetic makes that exact:
 *
 *  - Steps 1-2, two passes. Products p = x w of each sample pair (z[n] before normalisation),
 *    stored at their bit-reversed places, while the |p| are OR-ed (the OR's bit length is the
 *    peak's, all that the normalisation needs). Then, in place, the normalisation fused with
 *    the FFT's stages 1-2 (twiddles 1 and -j: additions only, as the reference's radix-4 pass).
 *  - The FFT holds u = 2z instead of z (|u| < 2^31, see Bounds). With a twiddle scaled by 2^16,
 *    floor(b W / 2^15) for b = u / 2 is the high word of the 64-bit u * (W 2^16): one SMULL and
 *    one SMLAL per component, nothing else. W = 1 and W = -j (j = 0 and j = h/2 of each stage)
 *    are additions only; a twiddle with W_re = +1 or W_im = -1 (its scaled form or the negated
 *    W_im would not fit; only near those two) takes the generic 64-bit path (>> 16). Stages run
 *    one at a time: twiddles outer while a stage has eight groups or more, inner after that.
 *  - The split (step 3) and the power (step 4) run only over the bins the mel filters use, as
 *    the reference does. P' is kept as its low word (read as signed) and its high word plus that
 *    word's sign, so that each weight of the mel sums (step 5) costs one SMLAL and one MLA.
 *  - Log (step 6) finds its 32-bit mantissa window with CLZ; the DCT (step 7) uses SMLALD on
 *    pairs of log values when all fit in int16 (DSP extension).
 * Target specifics, none changing a result: on Thumb-2 cores (Cortex-M3/M4/M7) the FFT's fast
 * loops and the split are assembly (GCC formed neither LDRD / STRD nor spill-free loops from the
 * C reliably; the C versions beside them compute the same and are used elsewhere, e.g. the host
 * tests); with the DSP extension (Cortex-M4/M7) the window products are SMULBB / SMULTT on
 * sample pairs (their loop in assembly too) and the DCT uses SMLALD. -DKWS_MFCC_NO_ASM turns the
 * assembly off. Step by step, per frame on the Cortex-M4 (bench/mfcc_target.py --profile):
 * products + peak 3.5 K instructions, normalisation + stages 1-2 2.9 K, stages 3-8 14.2 K,
 * split + power 4.9 K, mel + log 3.8 K, DCT + int8 1.5 K; 92 K in all before this arrangement.
 *
 * Bounds. |v| <= 2^B (B = norm_bits = 29 - log2 M). At most N - 1 samples are non-zero (Hann's
 * window_q15[0] is 0, or window_len < fft_len; other tables are rejected with KWS_ERR_ARG), so
 * every FFT component, a sum of them times twiddles of modulus <= 1 + 2^-15.5 (at most 9 stages
 * of non-trivial ones) plus the floors (< sqrt(2) M in all), stays below 2^30: u = 2z fits in
 * int32. The split's A - B = 2j Vo and A + B = 2 Ve (Ve, Vo: DFTs of the even and odd samples)
 * stay below 2 ceil(window_len / 2) 2^B, so 2 (A +- B) fits in int32 when window_len <=
 * fft_len - 2; otherwise the split takes the generic path. The twiddles are exp(-2 pi i t / n)
 * rounded to Q15 as kws.mfcc_tables makes them: W_re only falls from t = 0 and -W_im only
 * peaks at a quarter turn, so the twiddles that need the generic path form short runs there
 * (see twiddle_runs). */
#include "kws_mfcc.h"

#include <string.h>

#include "kws_requantize.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(__ARM_BIG_ENDIAN)
#include <arm_acle.h>
#define KWS_MFCC_DSP 1
#else
#define KWS_MFCC_DSP 0
#endif

/* Thumb-2 assembly for the FFT's inner loops (Cortex-M3/M4/M7: SMULL, SMLAL, LDRD, STRD). */
#if defined(__GNUC__) && defined(__thumb2__) && !defined(__ARM_BIG_ENDIAN) && \
    !defined(KWS_MFCC_NO_ASM)
#define KWS_MFCC_ASM 1
#else
#define KWS_MFCC_ASM 0
#endif

#define LOG2_LUT_BITS 7
#define LOG2_INTERP_BITS 16
#define LN2_Q15 22713 /* round(ln 2 * 2^15) */
#define Q15_ONE 32768

/* Profiling (off by default): -DKWS_MFCC_PROFILE=fn calls fn(step) after each step. */
#if defined(KWS_MFCC_PROFILE)
void KWS_MFCC_PROFILE(int step);
#define PROFILE_STEP(step) KWS_MFCC_PROFILE(step)
#else
#define PROFILE_STEP(step) ((void)0)
#endif

typedef kws_mfcc_cell_t cell_t;

/* Inlined into each caller, so that a constant mode argument selects one path at compile time. */
#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define NOINLINE static __attribute__((noinline))
#else
#define ALWAYS_INLINE static inline
#define NOINLINE static
#endif

static int32_t clz32(uint32_t x) /* x > 0 */
{
#if defined(__GNUC__)
    return __builtin_clz(x);
#else
    int32_t n = 0;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

static uint32_t abs32(int32_t p) /* |p|, p > INT32_MIN */
{
    const int32_t s = p >> 31;
    return (uint32_t)((p ^ s) - s);
}

/* A cell as one 64-bit access (LDRD / STRD on Arm); the barrier keeps each half a plain 32-bit
 * value, so that the products below stay single SMULL / SMLAL instructions. */
#if defined(__GNUC__)
#define REG32(x) __asm__("" : "+r"(x))
#else
#define REG32(x) ((void)0)
#endif
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CELL_AS_INT64 1
#else
#define CELL_AS_INT64 0
#endif

static inline void cell_load(const cell_t *p, int32_t *re, int32_t *im)
{
#if CELL_AS_INT64
    const uint64_t v = (uint64_t)p->v;
    int32_t r = (int32_t)(uint32_t)v, i = (int32_t)(uint32_t)(v >> 32);
    REG32(r);
    REG32(i);
    *re = r;
    *im = i;
#else
    *re = p->c.re;
    *im = p->c.im;
#endif
}

/* cell_load and p++ (one LDRD with write-back on Thumb-2). */
static inline void cell_load_next(const cell_t **p, int32_t *re, int32_t *im)
{
#if KWS_MFCC_ASM
    int32_t r, i;
    __asm__("ldrd %0, %1, [%2], #8" : "=&r"(r), "=&r"(i), "+r"(*p) : "m"(**p));
    *re = r;
    *im = i;
#else
    cell_load(*p, re, im);
    (*p)++;
#endif
}

static inline void cell_store(cell_t *p, int32_t re, int32_t im)
{
#if CELL_AS_INT64
    p->v = (int64_t)(((uint64_t)(uint32_t)im << 32) | (uint32_t)re);
#else
    p->c.re = re;
    p->c.im = im;
#endif
}

static int32_t ceil_div(int32_t a, int32_t b) /* a >= 0, b > 0 */
{
    return (a + b - 1) / b;
}

static int32_t clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* ---------------------------------------------------------------- steps 1-2 (+ FFT stages 1-2) */

#if KWS_MFCC_DSP
/* Two int16 from memory (any alignment) as one word: the first in the low half (the DSP path's
 * only: clang warns about an unused static function). */
static inline uint32_t load_pair16(const int16_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define LO16(v) ((int32_t)(int16_t)(v))
#define HI16(v) ((int32_t)(v) >> 16)
#endif

/* Step 1 for the pairs whose bit-reversed places br .. br_end - 1 lists (two samples each from x
 * and w): p = x w stored at work[*br]; returns the OR of every |p|. */
#if KWS_MFCC_DSP
#define PAIR_PRODUCTS(x, w, p0, p1)                                                           \
    do {                                                                                      \
        const uint32_t xx_ = load_pair16(x), ww_ = load_pair16(w);                            \
        p0 = LO16(xx_) * LO16(ww_);                                                           \
        p1 = HI16(xx_) * HI16(ww_);                                                           \
    } while (0)
#else
#define PAIR_PRODUCTS(x, w, p0, p1)                                                           \
    do {                                                                                      \
        p0 = (int32_t)(x)[0] * (w)[0];                                                        \
        p1 = (int32_t)(x)[1] * (w)[1];                                                        \
    } while (0)
#endif
#if KWS_MFCC_ASM /* one STRD (GCC: STR with a register offset, ADD, STR) */
#define PAIR_STORE(o, p0, p1) __asm__("strd %1, %2, [%3]" : "=m"(*(o)) : "r"(p0), "r"(p1), "r"(o))
#else
#define PAIR_STORE(o, p0, p1) cell_store(o, p0, p1)
#endif

NOINLINE uint32_t pair_products(const int16_t *x, const int16_t *w, const uint16_t *br,
                                const uint16_t *br_end, cell_t *work)
{
    uint32_t acc = 0;
#if KWS_MFCC_ASM && KWS_MFCC_DSP
    if ((br_end - br) & 1) {
        int32_t p0, p1;
        PAIR_PRODUCTS(x, w, p0, p1);
        acc = abs32(p0) | abs32(p1);
        PAIR_STORE(work + *br, p0, p1);
        br++;
        x += 2;
        w += 2;
    }
    if (br < br_end) { /* two pairs per turn: SMULBB / SMULTT, |p| OR-ed, one STRD per pair */
        int32_t a, b, c, d, e;
        __asm__ volatile("1:\n\t"
                         "ldr    %[a], [%[x]], #4\n\t"
                         "ldr    %[b], [%[w]], #4\n\t"
                         "ldrh   %[c], [%[br]], #2\n\t"
                         "smulbb %[d], %[a], %[b]\n\t"
                         "smultt %[e], %[a], %[b]\n\t"
                         "add    %[c], %[work], %[c], lsl #3\n\t"
                         "strd   %[d], %[e], [%[c]]\n\t"
                         "eor    %[a], %[d], %[d], asr #31\n\t"
                         "sub    %[a], %[a], %[d], asr #31\n\t"
                         "orr    %[acc], %[acc], %[a]\n\t"
                         "eor    %[a], %[e], %[e], asr #31\n\t"
                         "sub    %[a], %[a], %[e], asr #31\n\t"
                         "orr    %[acc], %[acc], %[a]\n\t"
                         "ldr    %[a], [%[x]], #4\n\t"
                         "ldr    %[b], [%[w]], #4\n\t"
                         "ldrh   %[c], [%[br]], #2\n\t"
                         "smulbb %[d], %[a], %[b]\n\t"
                         "smultt %[e], %[a], %[b]\n\t"
                         "add    %[c], %[work], %[c], lsl #3\n\t"
                         "strd   %[d], %[e], [%[c]]\n\t"
                         "eor    %[a], %[d], %[d], asr #31\n\t"
                         "sub    %[a], %[a], %[d], asr #31\n\t"
                         "orr    %[acc], %[acc], %[a]\n\t"
                         "eor    %[a], %[e], %[e], asr #31\n\t"
                         "sub    %[a], %[a], %[e], asr #31\n\t"
                         "orr    %[acc], %[acc], %[a]\n\t"
                         "cmp    %[br], %[end]\n\t"
                         "blo    1b\n\t"
                         : [x] "+r"(x), [w] "+r"(w), [br] "+r"(br), [acc] "+r"(acc),
                           [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c), [d] "=&r"(d), [e] "=&r"(e)
                         : [end] "r"(br_end), [work] "r"(work)
                         : "cc", "memory");
    }
#else
    while (br < br_end) {
        int32_t p0, p1;
        cell_t *const o = work + *br++;
        PAIR_PRODUCTS(x, w, p0, p1);
        x += 2;
        w += 2;
        acc |= abs32(p0);
        acc |= abs32(p1);
        PAIR_STORE(o, p0, p1);
    }
#endif
    return acc;
}

/* Step 1 and the peak of step 2: p = x w for sample pairs n (z[n] before normalisation), stored
 * at their bit-reversed positions work[bitrev[n]] (zero past the window). Returns the OR of
 * every |p|: its bit length is the peak's. */
static uint32_t window_products(const kws_mfcc_tables_t *t, const int16_t *x, cell_t *work)
{
    const int16_t *w = t->window_q15;
    const uint16_t *br = t->bitrev;
    const int32_t m = t->fft_len / 2, len = t->window_len, full = len / 2;
    uint32_t acc = full > 0 ? pair_products(x, w, br, br + full, work) : 0;
    int32_t n = full;
    if (2 * n < len) { /* odd window: half a pair */
        const int32_t p0 = (int32_t)x[2 * n] * w[2 * n];
        acc |= abs32(p0);
        cell_store(work + br[n], p0, 0);
        n++;
    }
    for (; n < m; n++) {
        cell_store(work + br[n], 0, 0);
    }
    return acc;
}

/* Normalisation of step 2, doubled (2 v): NORM_LEFT (sh >= 0) p * 2^shift with shift = sh + 1;
 * NORM_RIGHT (sh < 0) v = (p + 2^(shift - 1)) >> shift with shift = -sh, doubled later. */
#define NORM_LEFT 0
#define NORM_RIGHT 1

ALWAYS_INLINE int32_t normalise(int32_t p, int mode, int32_t shift, int32_t half)
{
    return mode == NORM_LEFT ? p * ((int32_t)1 << shift) : (p + half) >> shift;
}

/* Step 2 and FFT stages 1-2 (twiddles 1, 1, -j: exact additions, as the reference's radix-4
 * pass), in place: work[4k + q] holds z[bitrev[4k + q]] before normalisation; afterwards
 * work[4k .. 4k + 3] = 2 * (stages 1-2 of them). */
ALWAYS_INLINE void normalise_radix4(cell_t *work, int32_t m, int mode, int32_t shift)
{
    const int32_t half = mode == NORM_RIGHT ? (int32_t)1 << (shift - 1) : 0;
    cell_t *o = work;
    cell_t *const end = work + m;
    do {
        int32_t a0r, a0i, a1r, a1i, a2r, a2i, a3r, a3i;
        int32_t s0r, s0i, d0r, d0i, s1r, s1i, d1r, d1i;
        cell_load(o, &a0r, &a0i);
        cell_load(o + 1, &a1r, &a1i);
        a0r = normalise(a0r, mode, shift, half);
        a0i = normalise(a0i, mode, shift, half);
        a1r = normalise(a1r, mode, shift, half);
        a1i = normalise(a1i, mode, shift, half);
        if (mode == NORM_RIGHT) { /* doubled here: 2 (a + b) = 2a + 2b */
            s0r = 2 * a0r + 2 * a1r;
            d0r = 2 * a0r - 2 * a1r;
            s0i = 2 * a0i + 2 * a1i;
            d0i = 2 * a0i - 2 * a1i;
        } else {
            s0r = a0r + a1r;
            d0r = a0r - a1r;
            s0i = a0i + a1i;
            d0i = a0i - a1i;
        }
        cell_load(o + 2, &a2r, &a2i);
        cell_load(o + 3, &a3r, &a3i);
        a2r = normalise(a2r, mode, shift, half);
        a2i = normalise(a2i, mode, shift, half);
        a3r = normalise(a3r, mode, shift, half);
        a3i = normalise(a3i, mode, shift, half);
        if (mode == NORM_RIGHT) {
            s1r = 2 * a2r + 2 * a3r;
            d1r = 2 * a2r - 2 * a3r;
            s1i = 2 * a2i + 2 * a3i;
            d1i = 2 * a2i - 2 * a3i;
        } else {
            s1r = a2r + a3r;
            d1r = a2r - a3r;
            s1i = a2i + a3i;
            d1i = a2i - a3i;
        }
        cell_store(o, s0r + s1r, s0i + s1i);
        cell_store(o + 1, d0r + d1i, d0i - d1r); /* d0 + (-j) d1 */
        cell_store(o + 2, s0r - s1r, s0i - s1i);
        cell_store(o + 3, d0r - d1i, d0i + d1r);
        o += 4;
    } while (o < end);
}

NOINLINE void normalise_left(cell_t *work, int32_t m, int32_t shift)
{
    normalise_radix4(work, m, NORM_LEFT, shift);
}

NOINLINE void normalise_right(cell_t *work, int32_t m, int32_t shift)
{
    normalise_radix4(work, m, NORM_RIGHT, shift);
}

/* ---------------------------------------------------------------- step 3: FFT stages 3..log2 M */

#define TW_FAST 0    /* W * 2^16 fits in int32: t is the high word of the product */
#define TW_GENERIC 1 /* any Q15 twiddle: 64-bit product >> 16 */

typedef struct {
    int32_t r, i, ni; /* W_re, W_im, -W_im; times 2^16 for TW_FAST */
} twiddle_t;

static inline twiddle_t twiddle_at(const int32_t *w2, int mode)
{
    twiddle_t w;
    w.r = w2[0];
    w.i = w2[1];
    if (mode == TW_FAST) {
        w.r *= 65536;
        w.i *= 65536;
    }
    w.ni = -w.i;
    return w;
}

/* One butterfly on doubled values: t = floor(b W / 2^15) with b = u_b / 2, then
 * u_a' = u_a + 2t, u_b' = u_a - 2t. */
ALWAYS_INLINE void butterfly(cell_t *pa, cell_t *pb, twiddle_t w, int mode)
{
    int32_t ar, ai, br, bi, tr2, ti2;
    cell_load(pb, &br, &bi);
    if (mode == TW_FAST) {
        tr2 = 2 * (int32_t)(((int64_t)br * w.r + (int64_t)bi * w.ni) >> 32);
        ti2 = 2 * (int32_t)(((int64_t)br * w.i + (int64_t)bi * w.r) >> 32);
    } else {
        tr2 = 2 * (int32_t)(((int64_t)br * w.r + (int64_t)bi * w.ni) >> 16);
        ti2 = 2 * (int32_t)(((int64_t)br * w.i + (int64_t)bi * w.r) >> 16);
    }
    cell_load(pa, &ar, &ai);
    cell_store(pa, ar + tr2, ai + ti2);
    cell_store(pb, ar - tr2, ai - ti2);
}

/* One radix-2 stage of half h (butterflies (j, j + h) in every group of 2h, twiddle
 * W_M^(j M / 2h)) for j in [j0, j1): twiddles outer (each loaded once), groups inner. */
ALWAYS_INLINE void stage_j_outer(cell_t *work, int32_t m, int32_t h, const int32_t *tw,
                                 int32_t j0, int32_t j1, int mode)
{
    const int32_t s1 = m / (2 * h);
    cell_t *const end = work + m;
    int32_t j;
    for (j = j0; j < j1; j++) {
        const twiddle_t w = twiddle_at(tw + 2 * j * s1, mode);
        cell_t *pa = work + j;
        cell_t *pb = pa + h;
        do {
            butterfly(pa, pb, w, mode);
            pa += 2 * h;
            pb += 2 * h;
        } while (pa < end);
    }
}

/* The fast loops, the hot spots of the whole front end: in Thumb-2 assembly on Arm M-profile
 * cores (GCC formed neither LDRD / STRD nor a spill-free loop from the C reliably), the same in C
 * elsewhere. Both compute exactly butterfly(..., TW_FAST).
 *
 * bfly_fast_strided: butterflies (pa, pb), (pa + stride, pb + stride), ... while pa < end, one
 * twiddle (already times 2^16: wr, wi, wn = -wi). */
NOINLINE void bfly_fast_strided(cell_t *pa, cell_t *pb, const cell_t *end, int32_t stride,
                                int32_t wr, int32_t wi, int32_t wn)
{
#if KWS_MFCC_ASM
    int32_t ar, ai, br, bi, tr, ti;
    const int32_t bytes = stride * (int32_t)sizeof(cell_t);
    __asm__ volatile("1:\n\t"
                     "ldrd   %[br], %[bi], [%[pb]]\n\t"
                     "smull  %[ar], %[tr], %[br], %[wr]\n\t" /* ar: low words, discarded */
                     "smlal  %[ar], %[tr], %[bi], %[wn]\n\t" /* tr = hi(br wr - bi wi) */
                     "smull  %[ar], %[ti], %[br], %[wi]\n\t"
                     "smlal  %[ar], %[ti], %[bi], %[wr]\n\t" /* ti = hi(br wi + bi wr) */
                     "ldrd   %[ar], %[ai], [%[pa]]\n\t"
                     "add    %[br], %[ar], %[tr], lsl #1\n\t"
                     "add    %[bi], %[ai], %[ti], lsl #1\n\t"
                     "strd   %[br], %[bi], [%[pa]]\n\t"
                     "sub    %[ar], %[ar], %[tr], lsl #1\n\t"
                     "sub    %[ai], %[ai], %[ti], lsl #1\n\t"
                     "strd   %[ar], %[ai], [%[pb]]\n\t"
                     "add    %[pa], %[pa], %[bytes]\n\t"
                     "add    %[pb], %[pb], %[bytes]\n\t"
                     "cmp    %[pa], %[end]\n\t"
                     "blo    1b\n\t"
                     : [pa] "+r"(pa), [pb] "+r"(pb), [ar] "=&r"(ar), [ai] "=&r"(ai),
                       [br] "=&r"(br), [bi] "=&r"(bi), [tr] "=&r"(tr), [ti] "=&r"(ti)
                     : [end] "r"(end), [bytes] "r"(bytes), [wr] "r"(wr), [wi] "r"(wi),
                       [wn] "r"(wn)
                     : "cc", "memory");
#else
    twiddle_t w;
    w.r = wr;
    w.i = wi;
    w.ni = wn;
    do {
        butterfly(pa, pb, w, TW_FAST);
        pa += stride;
        pb += stride;
    } while (pa < end);
#endif
}

/* bfly_fast_walk: butterflies (pa, pb), (pa + 1, pb + 1), ... while pa < end, twiddle Q15
 * pairs from w2, w2 + w_step, ... (scaled here). The assembly loads the twiddle with a
 * post-increment: an immediate for the steps of the last stages (one, two or four groups). */
#if KWS_MFCC_ASM
#define WALK_LOOP(TW_LOAD)                                                                     \
    __asm__ volatile("1:\n\t" TW_LOAD                                                         \
                     "lsl    %[wr], %[wr], #16\n\t"                                           \
                     "lsl    %[wi], %[wi], #16\n\t"                                           \
                     "rsb    %[ai], %[wi], #0\n\t" /* ai: -wi until a is loaded */            \
                     "ldrd   %[br], %[bi], [%[pb]]\n\t"                                       \
                     "smull  %[ar], %[tr], %[br], %[wr]\n\t"                                  \
                     "smlal  %[ar], %[tr], %[bi], %[ai]\n\t"                                  \
                     "smull  %[ar], %[ti], %[br], %[wi]\n\t"                                  \
                     "smlal  %[ar], %[ti], %[bi], %[wr]\n\t"                                  \
                     "ldrd   %[ar], %[ai], [%[pa]]\n\t"                                       \
                     "add    %[br], %[ar], %[tr], lsl #1\n\t"                                 \
                     "add    %[bi], %[ai], %[ti], lsl #1\n\t"                                 \
                     "strd   %[br], %[bi], [%[pa]], #8\n\t"                                   \
                     "sub    %[ar], %[ar], %[tr], lsl #1\n\t"                                 \
                     "sub    %[ai], %[ai], %[ti], lsl #1\n\t"                                 \
                     "strd   %[ar], %[ai], [%[pb]], #8\n\t"                                   \
                     "cmp    %[pa], %[end]\n\t"                                               \
                     "blo    1b\n\t"                                                          \
                     : [pa] "+r"(pa), [pb] "+r"(pb), [w2] "+r"(w2), [ar] "=&r"(ar),           \
                       [ai] "=&r"(ai), [br] "=&r"(br), [bi] "=&r"(bi), [tr] "=&r"(tr),        \
                       [ti] "=&r"(ti), [wr] "=&r"(wr), [wi] "=&r"(wi)                         \
                     : [end] "r"(end), [bytes] "r"(bytes)                                     \
                     : "cc", "memory")
#endif

NOINLINE void bfly_fast_walk(cell_t *pa, cell_t *pb, const cell_t *end, const int32_t *w2,
                             int32_t w_step)
{
#if KWS_MFCC_ASM
    int32_t ar, ai, br, bi, tr, ti, wr, wi;
    const int32_t bytes = w_step * (int32_t)sizeof(int32_t);
    if (w_step == 2) {
        WALK_LOOP("ldrd   %[wr], %[wi], [%[w2]], #8\n\t");
    } else if (w_step == 4) {
        WALK_LOOP("ldrd   %[wr], %[wi], [%[w2]], #16\n\t");
    } else if (w_step == 8) {
        WALK_LOOP("ldrd   %[wr], %[wi], [%[w2]], #32\n\t");
    } else {
        WALK_LOOP("ldrd   %[wr], %[wi], [%[w2]]\n\t"
                  "add    %[w2], %[w2], %[bytes]\n\t");
    }
#else
    do {
        butterfly(pa, pb, twiddle_at(w2, TW_FAST), TW_FAST);
        w2 += w_step;
        pa++;
        pb++;
    } while (pa < end);
#endif
}

/* The twiddles that do not fit scaled (other than exactly 1 or -j): plain C. */
NOINLINE void stage_generic(cell_t *work, int32_t m, int32_t h, const int32_t *tw, int32_t j0,
                            int32_t j1)
{
    stage_j_outer(work, m, h, tw, j0, j1, TW_GENERIC);
}

/* Exact twiddles, additions only: W = 1 (t = b) and W = -j (t = (b_im, -b_re)), on doubled
 * values 2t = W u_b. Butterflies (pa, pb), (pa + stride, pb + stride), ... while pa < end. */
NOINLINE void bfly_unit(cell_t *pa, cell_t *pb, const cell_t *end, int32_t stride)
{
    do {
        int32_t ar, ai, br, bi;
        cell_load(pb, &br, &bi);
        cell_load(pa, &ar, &ai);
        cell_store(pa, ar + br, ai + bi);
        cell_store(pb, ar - br, ai - bi);
        pa += stride;
        pb += stride;
    } while (pa < end);
}

NOINLINE void bfly_minus_j(cell_t *pa, cell_t *pb, const cell_t *end, int32_t stride)
{
    do {
        int32_t ar, ai, br, bi;
        cell_load(pb, &br, &bi);
        cell_load(pa, &ar, &ai);
        cell_store(pa, ar + bi, ai - br);
        cell_store(pb, ar - bi, ai + br);
        pa += stride;
        pb += stride;
    } while (pa < end);
}

/* Stage of half h, j in [j0, j1), one mode. */
static void stage_run(cell_t *work, int32_t m, int32_t h, const int32_t *tw, int32_t j0,
                      int32_t j1, int mode)
{
    const int32_t s1 = m / (2 * h); /* twiddle step; also the number of groups */
    if (j0 >= j1) {
        return;
    }
    if (mode == TW_GENERIC) {
        stage_generic(work, m, h, tw, j0, j1);
    } else if (s1 >= 8) { /* many groups: twiddles outer */
        int32_t j;
        for (j = j0; j < j1; j++) {
            const twiddle_t w = twiddle_at(tw + 2 * j * s1, TW_FAST);
            bfly_fast_strided(work + j, work + j + h, work + m, 2 * h, w.r, w.i, w.ni);
        }
    } else {
        cell_t *g;
        for (g = work; g < work + m; g += 2 * h) {
            bfly_fast_walk(g + j0, g + j0 + h, g + j1, tw + 2 * j0 * s1, 2 * s1);
        }
    }
}

/* Twiddle indices whose scaled form does not fit: t < r0 (W_re == +1) and t in [q_lo, q_hi]
 * (W_im == -1; -W_im * 2^16 overflows). For a table of exp(-2 pi i t / n') rounded to Q15, as
 * kws.mfcc_tables makes them, W_re only decreases from t = 0 and -W_im is largest at `peak`,
 * so each set is one run. */
typedef struct {
    int32_t r0, q_lo, q_hi; /* q_lo > q_hi: none */
} bad_runs_t;

static bad_runs_t twiddle_runs(const int32_t *tw, int32_t n, int32_t peak)
{
    bad_runs_t b;
    b.r0 = 0;
    while (b.r0 < n && tw[2 * b.r0] == Q15_ONE) {
        b.r0++;
    }
    b.q_lo = peak;
    b.q_hi = peak - 1;
    if (peak < n && tw[2 * peak + 1] == -Q15_ONE) {
        b.q_hi = peak;
        while (b.q_lo > 0 && tw[2 * (b.q_lo - 1) + 1] == -Q15_ONE) {
            b.q_lo--;
        }
        while (b.q_hi + 1 < n && tw[2 * (b.q_hi + 1) + 1] == -Q15_ONE) {
            b.q_hi++;
        }
    }
    return b;
}

/* Step 3a after stages 1-2: stages 3..log2 M, one radix-2 stage at a time. Per stage of half
 * h, the twiddle of j is W_M^t, t = j M / 2h: j = 0 (t = 0) and j = h/2 (t = M/4) are exactly 1
 * and -j in kws.mfcc_tables' tables (checked), additions only; the other twiddles that do not
 * fit scaled (see twiddle_runs) take the generic path, all the rest the fast one. */
static void fft_rest(const kws_mfcc_tables_t *t, cell_t *work)
{
    const int32_t m = t->fft_len / 2, q = m / 4;
    const int32_t *tw = t->fft_twiddle_q15;
    const bad_runs_t b = twiddle_runs(tw, m / 2, q);
    const int32_t unit_ok = tw[0] == Q15_ONE && tw[1] == 0;
    const int32_t minus_j_ok = tw[2 * q] == 0 && tw[2 * q + 1] == -Q15_ONE;
    int32_t h;
    for (h = 4; h < m; h *= 2) {
        /* j in [0, e0): t < r0; [e1, e2): t in [q_lo, q_hi]; fast elsewhere */
        const int32_t s1 = m / (2 * h);
        const int32_t e0 = clamp(ceil_div(b.r0, s1), 0, h);
        const int32_t e1 = clamp(b.q_lo <= b.q_hi ? ceil_div(b.q_lo, s1) : h, e0, h);
        const int32_t e2 = clamp(b.q_lo <= b.q_hi ? b.q_hi / s1 + 1 : h, e1, h);
        const int32_t jq = h / 2; /* t = M/4 */
        int32_t j0 = 0;
        if (unit_ok && e0 > 0) {
            bfly_unit(work, work + h, work + m, 2 * h);
            j0 = 1;
        }
        stage_run(work, m, h, tw, j0, e0, TW_GENERIC);
        stage_run(work, m, h, tw, e0, e1, TW_FAST);
        if (minus_j_ok && e1 <= jq && jq < e2) {
            stage_run(work, m, h, tw, e1, jq, TW_GENERIC);
            bfly_minus_j(work + jq, work + jq + h, work + m, 2 * h);
            stage_run(work, m, h, tw, jq + 1, e2, TW_GENERIC);
        } else {
            stage_run(work, m, h, tw, e1, e2, TW_GENERIC);
        }
        stage_run(work, m, h, tw, e2, h, TW_FAST);
    }
    PROFILE_STEP(2);
}

/* ---------------------------------------------------------------- steps 3b-4: split, power */

/* Bin k of the real FFT from ua = 2 Z[k], ub = 2 Z[M-k] (B = conj(Z[M-k])) and the split
 * twiddle W_N^k; P' = round(|X|^2 >> power_shift) stored in *out as lo (signed view of the low
 * word) and hi + carry, so that P' = hi' 2^32 + lo. */
static inline void split_bin(const kws_mfcc_tables_t *t, int32_t k, cell_t ua, cell_t ub,
                             cell_t *out, int mode)
{
    const int32_t *sw = t->split_twiddle_q15 + 2 * k;
    int32_t xr, xi;
    if (mode == TW_FAST) {
        /* 2D = ua - conj(ub), 2E2 = ua + conj(ub); T = floor(W D / 2^15) = hi(2D * W 2^16). */
        const int32_t dr = ua.c.re - ub.c.re, di = ua.c.im + ub.c.im;
        const int32_t er = ua.c.re + ub.c.re, ei = ua.c.im - ub.c.im;
        const int32_t wr = sw[0] * 65536, wi = sw[1] * 65536;
        const int32_t nwi = -wi;
        const int32_t tr = (int32_t)(((int64_t)dr * wr + (int64_t)di * nwi) >> 32);
        const int32_t ti = (int32_t)(((int64_t)dr * wi + (int64_t)di * wr) >> 32);
        xr = ((er >> 1) + ti + 1) >> 1;
        xi = ((ei >> 1) - tr + 1) >> 1;
    } else {
        const int32_t ar = ua.c.re >> 1, ai = ua.c.im >> 1, br = ub.c.re >> 1,
                      bi = -(ub.c.im >> 1);
        const int32_t dr = ar - br, di = ai - bi, er = ar + br, ei = ai + bi;
        const int64_t wr = sw[0], wi = sw[1];
        const int32_t tr = (int32_t)((dr * wr - di * wi) >> 15); /* floor */
        const int32_t ti = (int32_t)((dr * wi + di * wr) >> 15);
        xr = (er + ti + 1) >> 1;
        xi = (ei - tr + 1) >> 1;
    }
    {
        const int32_t ps = t->power_shift;
        uint64_t p = (uint64_t)((int64_t)xr * xr + (int64_t)xi * xi);
        if (ps > 0) {
            p = (p + ((uint64_t)1 << (ps - 1))) >> ps;
        }
        const uint32_t lo = (uint32_t)p;
        out->c.re = (int32_t)lo;
        out->c.im = (int32_t)(uint32_t)(p >> 32) + (int32_t)(lo >> 31);
    }
}

/* Bins [k0, k1) without a partner bin: work[k] = P'[k]. */
ALWAYS_INLINE void split_range(const kws_mfcc_tables_t *t, cell_t *work, int32_t k0, int32_t k1,
                               int mode)
{
    const int32_t m = t->fft_len / 2;
    int32_t k;
    for (k = k0; k < k1; k++) {
        const cell_t ua = work[k], ub = work[m - k];
        split_bin(t, k, ua, ub, work + k, mode);
    }
}

NOINLINE void split_generic(const kws_mfcc_tables_t *t, cell_t *work, int32_t k0, int32_t k1)
{
    split_range(t, work, k0, k1, TW_GENERIC);
}

/* split_bin(..., TW_FAST) for the bins of pk = work + k, k = k0 .. (pk < end), with
 * pmk = work + M - k and sw = split twiddle k; power_shift ps in [1, 31]. */
NOINLINE void split_fast(cell_t *pk, const cell_t *pmk, const cell_t *end, const int32_t *sw,
                         int32_t ps)
{
    const uint32_t rnd = (uint32_t)1 << (ps - 1);
#if KWS_MFCC_ASM
    const int32_t nps = 32 - ps;
    int32_t a, b, c, d, e, f, g, h, i; /* 13 registers in all: r7 may be the frame pointer */
    __asm__ volatile(
        "1:\n\t"
        "ldrd   %[a], %[b], [%[pk]]\n\t"       /* ua */
        "ldrd   %[c], %[d], [%[pmk]], #-8\n\t" /* ub */
        "sub    %[e], %[a], %[c]\n\t"          /* e = 2 D_re */
        "add    %[c], %[a], %[c]\n\t"          /* c = 2 E2_re */
        "add    %[a], %[b], %[d]\n\t"          /* a = 2 D_im */
        "sub    %[d], %[b], %[d]\n\t"          /* d = 2 E2_im */
        "ldrd   %[b], %[f], [%[sw]], #8\n\t"   /* W, Q15 */
        "lsl    %[b], %[b], #16\n\t"
        "lsl    %[f], %[f], #16\n\t"
        "rsb    %[g], %[f], #0\n\t"
        "smull  %[h], %[i], %[e], %[b]\n\t"
        "smlal  %[h], %[i], %[a], %[g]\n\t"    /* i = T_re */
        "smull  %[h], %[g], %[e], %[f]\n\t"
        "smlal  %[h], %[g], %[a], %[b]\n\t"    /* g = T_im */
        "add    %[g], %[g], %[c], asr #1\n\t"
        "add    %[g], %[g], #1\n\t"
        "asr    %[g], %[g], #1\n\t"            /* g = X_re */
        "rsb    %[i], %[i], %[d], asr #1\n\t"
        "add    %[i], %[i], #1\n\t"
        "asr    %[i], %[i], #1\n\t"            /* i = X_im */
        "ldr    %[a], %[rnd]\n\t"
        "mov    %[b], #0\n\t"
        "smlal  %[a], %[b], %[g], %[g]\n\t"
        "smlal  %[a], %[b], %[i], %[i]\n\t"    /* b:a = |X|^2 + rnd */
        "ldr    %[c], %[ps]\n\t"
        "ldr    %[d], %[nps]\n\t"
        "lsr    %[a], %[a], %[c]\n\t"
        "lsl    %[e], %[b], %[d]\n\t"
        "orr    %[a], %[a], %[e]\n\t"          /* low word of P' */
        "lsr    %[b], %[b], %[c]\n\t"
        "add    %[b], %[b], %[a], lsr #31\n\t" /* high word + carry of the signed low */
        "strd   %[a], %[b], [%[pk]], #8\n\t"
        "cmp    %[pk], %[end]\n\t"
        "blo    1b\n\t"
        : [pk] "+r"(pk), [pmk] "+r"(pmk), [sw] "+r"(sw), [a] "=&r"(a), [b] "=&r"(b),
          [c] "=&r"(c), [d] "=&r"(d), [e] "=&r"(e), [f] "=&r"(f), [g] "=&r"(g), [h] "=&r"(h),
          [i] "=&r"(i)
        : [end] "r"(end), [rnd] "m"(rnd), [ps] "m"(ps), [nps] "m"(nps)
        : "cc", "memory");
#else
    do {
        int32_t ar, ai, br, bi;
        const int32_t wr = sw[0] * 65536, wi = sw[1] * 65536, nwi = -wi;
        cell_load(pk, &ar, &ai);
        cell_load(pmk, &br, &bi);
        {
            /* 2D = ua - conj(ub), 2 E2 = ua + conj(ub); T = floor(W D / 2^15) = hi(2D W 2^16) */
            const int32_t dr = ar - br, di = ai + bi, er = ar + br, ei = ai - bi;
            const int32_t tr = (int32_t)(((int64_t)dr * wr + (int64_t)di * nwi) >> 32);
            const int32_t ti = (int32_t)(((int64_t)dr * wi + (int64_t)di * wr) >> 32);
            const int32_t xr = ((er >> 1) + ti + 1) >> 1;
            const int32_t xi = ((ei >> 1) - tr + 1) >> 1;
            const uint64_t p = (uint64_t)((int64_t)xr * xr + (int64_t)xi * xi) + rnd;
            const uint32_t plo = (uint32_t)p, phi = (uint32_t)(p >> 32);
            const uint32_t lo = (plo >> ps) | (phi << (32 - ps)), hi = phi >> ps;
            cell_store(pk, (int32_t)lo, (int32_t)(hi + (lo >> 31)));
        }
        pk++;
        pmk--;
        sw += 2;
    } while (pk < end);
#endif
}

/* Steps 3b-4 for bins [0, n_bins) (n_bins <= M + 1): work[k] = P'[k]. Each bin k reads cells
 * k and M - k; bins k and M - k are done together when both are needed, so every cell is read
 * before it is overwritten. */
static void power_spectrum(const kws_mfcc_tables_t *t, cell_t *work, int32_t n_bins)
{
    const int32_t m = t->fft_len / 2;
    const cell_t z0 = work[0];
    /* bins 0 and M from Z[0] (Z[M] = Z[0]); cell M is never read */
    if (n_bins > m) {
        split_bin(t, m, z0, z0, work + m, TW_GENERIC);
    }
    if (n_bins > 0) {
        split_bin(t, 0, z0, z0, work, TW_GENERIC);
    }
    {
        const int32_t top = n_bins - 1 < m / 2 ? n_bins - 1 : m / 2; /* bins 1..top */
        const int32_t solo_end_ = m - n_bins + 1; /* k below: partner M - k is not a bin */
        const int32_t solo_end = solo_end_ < top + 1 ? solo_end_ : top + 1;
        /* Generic twiddles (see twiddle_runs): k < r0 and k in [q_lo, q_hi] around M/2. The
         * fast split also needs window_len <= fft_len - 2 (see Bounds). */
        const bad_runs_t b = twiddle_runs(t->split_twiddle_q15, m + 1, m / 2);
        const int32_t e0 = clamp(b.r0, 1, solo_end > 1 ? solo_end : 1);
        int32_t e1 = clamp(b.q_lo <= b.q_hi ? b.q_lo : solo_end, e0, solo_end > e0 ? solo_end : e0);
        int32_t k;
        if (t->window_len > t->fft_len - 2) {
            e1 = e0;
        }
        split_generic(t, work, 1, e0);
        if (e0 < e1) {
            if (t->power_shift >= 1 && t->power_shift <= 31) {
                split_fast(work + e0, work + m - e0, work + e1, t->split_twiddle_q15 + 2 * e0,
                           t->power_shift);
            } else {
                split_range(t, work, e0, e1, TW_FAST);
            }
        }
        split_generic(t, work, e1, solo_end);
        for (k = solo_end > 1 ? solo_end : 1; k <= top; k++) {
            const cell_t ua = work[k], ub = work[m - k];
            if (m - k != k) {
                split_bin(t, m - k, ub, ua, work + m - k, TW_GENERIC);
            }
            split_bin(t, k, ua, ub, work + k, TW_GENERIC);
        }
    }
}

/* ---------------------------------------------------------------- steps 5-6: mel, log */

/* Step 6: Q11 natural log of the float mel power for E = e_hi 2^32 + e_lo > 0;
 * offset = log_offset + 2 sh. */
ALWAYS_INLINE int32_t log_q11(const int32_t *lut, int32_t floor_q11, uint32_t e_lo,
                              uint32_t e_hi, int32_t offset)
{
    /* top: E shifted left until its leading one is bit 31 of the high word; b = floor(log2 E).
     * The reference's y = E << (62 - b) has its leading one at bit 62: its bits 61..55 (index)
     * and 54..39 (fraction) are bits 30..24 and 23..8 of top. */
    uint32_t top;
    int32_t b;
    if (e_hi != 0u) {
        const int32_t n = clz32(e_hi);
        top = (e_hi << n) | ((e_lo >> 1) >> (31 - n));
        b = 63 - n;
    } else {
        const int32_t n = clz32(e_lo);
        top = e_lo << n;
        b = 31 - n;
    }
    {
        const int32_t idx = (int32_t)((top >> (31 - LOG2_LUT_BITS)) & ((1u << LOG2_LUT_BITS) - 1u));
        const int32_t frac = (int32_t)((top >> (31 - LOG2_LUT_BITS - LOG2_INTERP_BITS)) &
                                       ((1u << LOG2_INTERP_BITS) - 1u));
        const int32_t lo = lut[idx], hi = lut[idx + 1];
        /* |hi - lo| < 2^10, frac < 2^16: the product fits in int32 */
        const int32_t mantissa = lo + (((hi - lo) * frac + (1 << 15)) >> 16);
        const int32_t l2 = (b - offset) * 65536 + mantissa;
        const int32_t ln_q11 = (int32_t)(((int64_t)l2 * LN2_Q15 + ((int64_t)1 << 19)) >> 20);
        return ln_q11 > floor_q11 ? ln_q11 : floor_q11;
    }
}

/* Steps 5-6: log_q11[band] for every band (n_mels >= 1). Step 5 sums w * P' with P' as
 * split_bin stores it: the low word signed, one SMLAL, and the high word plus carry, one MLA.
 * Returns 0 when every log value fits in int16 (for the DCT's SMLALD). */
NOINLINE uint32_t mel_log(const kws_mfcc_tables_t *t, const cell_t *power, int32_t sh,
                          int32_t *log_q11_out)
{
    const int16_t *w = t->mel_weights_q15;
    const int16_t *first = t->mel_first_bin, *count = t->mel_n_bins;
    const int32_t *const lut = t->log2_lut_q16;
    const int32_t floor_q11 = t->log_floor_q11;
    const int32_t offset = t->log_offset + 2 * sh;
    int32_t *const end = log_q11_out + t->n_mels;
    uint32_t outside = 0;
    do {
        const int16_t *const w_end = w + *count++;
        const cell_t *p = power + *first++;
        int64_t acc = 0;    /* sum of w * lo */
        int32_t acc_hi = 0; /* sum of w * hi', in units of 2^32 */
        while (w < w_end) {
            int32_t lo, hi;
            const int32_t wv = *w++;
            cell_load_next(&p, &lo, &hi);
            acc += (int64_t)wv * lo;
            acc_hi += wv * hi;
        }
        acc += (int64_t)acc_hi * ((int64_t)1 << 32);
        {
            const int32_t l = acc > 0 ? log_q11(lut, floor_q11, (uint32_t)acc,
                                                (uint32_t)((uint64_t)acc >> 32), offset)
                                      : floor_q11;
            outside |= (uint32_t)(l + 32768) >> 16;
            *log_q11_out++ = l;
        }
    } while (log_q11_out < end);
    return outside;
}

/* ---------------------------------------------------------------- steps 7-8: DCT, int8 */

static inline int8_t to_int8(const kws_mfcc_tables_t *t, int32_t acc15)
{
    int32_t q = kws_requantize(acc15, t->out_multiplier, t->out_shift) + t->out_zero_point;
    q = q < -128 ? -128 : (q > 127 ? 127 : q);
    return (int8_t)q;
}

#if KWS_MFCC_DSP
/* Sum over i < pairs of row[2i] l[i].lo + row[2i + 1] l[i].hi (SMLALD); l: packed pairs of
 * int16, two per cell. */
ALWAYS_INLINE int64_t dct_row_pairs(const int16_t *row, const cell_t *l, int32_t pairs)
{
    int64_t acc = 0;
    const cell_t *const end = l + pairs / 2;
    while (l < end) {
        int32_t l0, l1;
        const uint32_t d0 = load_pair16(row), d1 = load_pair16(row + 2);
        cell_load_next(&l, &l0, &l1);
        acc = __smlald((int16x2_t)d0, (int16x2_t)l0, acc);
        acc = __smlald((int16x2_t)d1, (int16x2_t)l1, acc);
        row += 4;
    }
    if (pairs & 1) {
        acc = __smlald((int16x2_t)load_pair16(row), (int16x2_t)l->c.re, acc);
    }
    return acc;
}
#endif

/* Steps 7-8 from log_q11[n_mels] (starting in cell `packed`); outside == 0: every log value
 * fits in int16. log_q11 is overwritten. */
static void outputs(const kws_mfcc_tables_t *t, cell_t *packed, int32_t *log_q11, int8_t *out,
                    uint32_t outside)
{
    const int32_t n_mels = t->n_mels;
    int32_t c, band;
    (void)packed;
    (void)outside;
    if (t->dct_q15 == NULL) {
        for (c = 0; c < t->n_out; c++) {
            out[c] = to_int8(t, log_q11[c] * 16);
        }
        return;
    }
#if KWS_MFCC_DSP
    {
        /* SMLALD on pairs of (DCT, log) when every log value fits in int16: the pairs packed in
         * place (pair i into word i, read from words 2i and 2i + 1 >= i). */
        if (outside == 0u) {
            const int32_t pairs = n_mels / 2;
            const int32_t last = log_q11[n_mels - 1];
            int32_t i;
            for (i = 0; i < pairs; i++) {
                log_q11[i] = (int32_t)(((uint32_t)log_q11[2 * i] & 0xFFFFu) |
                                       ((uint32_t)log_q11[2 * i + 1] << 16));
            }
            for (c = 0; c < t->n_out; c++) {
                const int16_t *row = t->dct_q15 + c * n_mels;
                int64_t acc = dct_row_pairs(row, packed, pairs);
                if (n_mels & 1) {
                    acc += (int64_t)row[n_mels - 1] * last;
                }
                out[c] = to_int8(t, (int32_t)((acc + (1 << 10)) >> 11));
            }
            return;
        }
    }
#endif
    for (c = 0; c < t->n_out; c++) {
        const int16_t *row = t->dct_q15 + c * n_mels;
        int64_t acc = 0;
        for (band = 0; band < n_mels; band++) {
            acc += (int64_t)row[band] * log_q11[band];
        }
        out[c] = to_int8(t, (int32_t)((acc + (1 << 10)) >> 11));
    }
}

/* ---------------------------------------------------------------- one frame */

/* Bins the mel filters use: [0, max of first + count). n >= 1. */
NOINLINE int32_t used_bins(const int16_t *first, const int16_t *count, int32_t n)
{
    const int16_t *const stop = first + n;
    int32_t end = 0;
    do {
        const int32_t e = *first++ + *count++;
        end = e > end ? e : end;
    } while (first < stop);
    return end;
}

kws_status_t kws_mfcc_frame(const kws_mfcc_tables_t *t, const int16_t *frame,
                            kws_mfcc_cell_t *scratch, int8_t *out)
{
    if (t == NULL || frame == NULL || scratch == NULL || out == NULL) {
        return KWS_ERR_ARG;
    }
    /* See Bounds: at most fft_len - 1 non-zero samples. */
    if (t->window_len == t->fft_len && t->window_q15[0] != 0) {
        return KWS_ERR_ARG;
    }
    if (t->n_mels < 1) {
        return KWS_ERR_ARG;
    }
    cell_t *work = scratch;                                   /* fft_len/2 + 1 cells */
    int32_t *log_q11 = &scratch[t->fft_len / 2 + 1].c.re;    /* n_mels cells (int32 each) */
    const uint32_t peak = window_products(t, frame, work);
    uint32_t outside;
    int32_t band;
    PROFILE_STEP(0);
    if (peak == 0u) { /* silent frame: every band on the floor */
        for (band = 0; band < t->n_mels; band++) {
            log_q11[band] = t->log_floor_q11;
        }
        outside = (uint32_t)(t->log_floor_q11 + 32768) >> 16;
    } else {
        const int32_t sh = (t->norm_bits - 1) - (31 - clz32(peak));
        if (sh >= 0) {
            normalise_left(work, t->fft_len / 2, sh + 1); /* 2 v = p << (sh + 1) */
        } else {
            normalise_right(work, t->fft_len / 2, -sh);
        }
        PROFILE_STEP(1);
        fft_rest(t, work);
        power_spectrum(t, work, used_bins(t->mel_first_bin, t->mel_n_bins, t->n_mels));
        PROFILE_STEP(3);
        outside = mel_log(t, work, sh, log_q11);
        PROFILE_STEP(4);
    }
    outputs(t, &scratch[t->fft_len / 2 + 1], log_q11, out, outside);
    PROFILE_STEP(5);
    return KWS_OK;
}

kws_status_t kws_mfcc_clip(const kws_mfcc_tables_t *t, const int16_t *pcm, int32_t n_samples,
                           kws_mfcc_cell_t *scratch, int8_t *out, int32_t max_frames,
                           int32_t *n_frames)
{
    if (t == NULL || pcm == NULL || scratch == NULL || out == NULL || n_frames == NULL ||
        n_samples < 0) {
        return KWS_ERR_ARG;
    }
    const int32_t count = n_samples < t->window_len ? 0
                                                    : 1 + (n_samples - t->window_len) / t->stride;
    *n_frames = 0;
    if (count > max_frames) {
        return KWS_ERR_SIZE;
    }
    int32_t i;
    for (i = 0; i < count; i++) {
        kws_mfcc_frame(t, pcm + i * t->stride, scratch, out + i * t->n_out);
    }
    *n_frames = count;
    return KWS_OK;
}

kws_status_t kws_mfcc_stream_init(kws_mfcc_stream_t *s, const kws_mfcc_tables_t *t,
                                  int16_t *history, kws_mfcc_cell_t *scratch)
{
    if (s == NULL || t == NULL || history == NULL || scratch == NULL || t->stride < 1 ||
        t->stride > t->window_len) {
        return KWS_ERR_ARG;
    }
    s->tables = t;
    s->history = history;
    s->scratch = scratch;
    s->filled = 0;
    return KWS_OK;
}

kws_status_t kws_mfcc_stream_push(kws_mfcc_stream_t *s, const int16_t *samples,
                                  int32_t n_samples, int8_t *out, int32_t max_frames,
                                  int32_t *n_frames)
{
    if (s == NULL || (samples == NULL && n_samples > 0) || n_samples < 0 || n_frames == NULL ||
        (out == NULL && max_frames > 0)) {
        return KWS_ERR_ARG;
    }
    const kws_mfcc_tables_t *t = s->tables;
    /* int64: filled + n_samples overflows int32 for n_samples near INT32_MAX (found by
     * firmware/tests/fuzz/kws_fuzz_mfcc.c) */
    const int64_t total = (int64_t)s->filled + n_samples;
    const int64_t ready = total < t->window_len ? 0 : 1 + (total - t->window_len) / t->stride;
    *n_frames = 0;
    if (ready > max_frames) {
        return KWS_ERR_SIZE;
    }
    while (n_samples > 0) {
        int32_t take = t->window_len - s->filled;
        if (take > n_samples) {
            take = n_samples;
        }
        memcpy(s->history + s->filled, samples, (size_t)take * sizeof(int16_t));
        s->filled += take;
        samples += take;
        n_samples -= take;
        if (s->filled == t->window_len) {
            kws_mfcc_frame(t, s->history, s->scratch, out + *n_frames * t->n_out);
            (*n_frames)++;
            s->filled = t->window_len - t->stride;
            memmove(s->history, s->history + t->stride, (size_t)s->filled * sizeof(int16_t));
        }
    }
    return KWS_OK;
}
