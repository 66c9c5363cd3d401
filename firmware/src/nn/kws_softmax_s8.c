/* kws_softmax_s8: TensorFlow Lite's int8 softmax (kws_nn.h), mirroring kws.golden.softmax
 * function by function: d = x - max in Q5.26, exp by gemmlowp's polynomial and barrel shifter
 * (Q0.31), the sum in Q12.19, its reciprocal by Newton-Raphson (Q2.29), the output in steps of
 * 1/256 from -128. int32 sums wrap (done in uint32); one path for every core. */
#include "kws_nn_internal.h"

#define SCALED_DIFF_INTEGER_BITS 5     /* exp's input: Q5.26 */
#define ACCUMULATION_INTEGER_BITS 12   /* the sum: Q12.19 */

/* The int32 with the bits of u (no implementation-defined conversion). */
static int32_t to_int32(uint32_t u)
{
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : (int32_t)(u - 0x80000000u) - INT32_MAX - 1;
}

static int32_t wrap_add(int32_t a, int32_t b)
{
    return to_int32((uint32_t)a + (uint32_t)b);
}

static int32_t wrap_sub(int32_t a, int32_t b)
{
    return to_int32((uint32_t)a - (uint32_t)b);
}

/* gemmlowp SaturatingRoundingDoublingHighMul: (a b + -+2^30) / 2^31 truncated toward zero. */
static int32_t srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * b;
    const int64_t v = ab + (ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30)));
    return (int32_t)(v / ((int64_t)1 << 31));
}

/* gemmlowp RoundingDivideByPOT: x / 2^e, ties away from zero (0 <= e <= 31). */
static int32_t rounding_divide_by_pot(int32_t x, int32_t e)
{
    const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    const int32_t threshold = (mask >> 1) + (x < 0);
    return (x >> e) + ((x & mask) > threshold);
}

/* rounding_divide_by_pot for the output's exponent, 35 - headroom of the sum, which exceeds 31
 * once the sum reaches 2^28 (512 or more classes near the maximum; TFLite's int32 shift is then
 * undefined): in int64, as kws.golden.softmax computes it, so from 32 on the quotient of any
 * int32 is 0 (found by firmware/tests/fuzz/kws_fuzz_nn.c). */
static int32_t rounding_divide_by_pot_wide(int32_t x, int32_t e)
{
    const int64_t mask = ((int64_t)1 << e) - 1;
    const int64_t threshold = (mask >> 1) + (x < 0);
    return (int32_t)(((int64_t)x >> e) + (((int64_t)x & mask) > threshold));
}

/* gemmlowp SaturatingRoundingMultiplyByPOT, exponent e >= 1: x 2^e, saturating. */
static int32_t saturating_shift_left(int32_t x, int32_t e)
{
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - e)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return to_int32((uint32_t)x << e);
}

/* exp(a) for a in [-1/4, 0), Q0.31. */
static int32_t exp_on_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668, one_third = 715827883; /* exp(-1/8), 1/3 */
    const int32_t x = wrap_add(a, 1 << 28);                           /* a + 1/8 */
    const int32_t x2 = srdhm(x, x), x3 = srdhm(x2, x), x4 = srdhm(x2, x2);
    const int32_t x4_over_4 = rounding_divide_by_pot(x4, 2);
    const int32_t poly = rounding_divide_by_pot(
        wrap_add(srdhm(wrap_add(x4_over_4, x3), one_third), x2), 1);
    return wrap_add(constant_term, srdhm(constant_term, wrap_add(x, poly)));
}

/* exp(a) for a <= 0 in Q5.26: Q0.31. */
static int32_t exp_on_negative_values(int32_t a)
{
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535,
                                      720401, 242};                   /* exp(-2^k), k = -2..4 */
    const int32_t fractional = 31 - SCALED_DIFF_INTEGER_BITS;
    const int32_t quarter = (int32_t)1 << (fractional - 2);
    const int32_t a_mod = wrap_sub(a & (quarter - 1), quarter);
    int32_t result = exp_on_quarter(saturating_shift_left(a_mod, SCALED_DIFF_INTEGER_BITS));
    const int32_t remainder = wrap_sub(a_mod, a);
    int32_t k;
    for (k = 0; k < 7; k++) {
        if ((remainder >> (fractional + k - 2)) & 1) {
            result = srdhm(result, barrel[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 (Newton-Raphson in Q2.29). */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int64_t s = (int64_t)a + INT32_MAX;                         /* RoundingHalfSum */
    const int32_t half_denominator = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
    int32_t x = wrap_add(1515870810, srdhm(half_denominator, -1010580540));
    int32_t i;
    for (i = 0; i < 3; i++) {
        const int32_t correction = srdhm(x, wrap_sub(1 << 29, srdhm(half_denominator, x)));
        x = wrap_add(x, saturating_shift_left(correction, 2));
    }
    return saturating_shift_left(x, 1);
}

static int32_t count_leading_zeros(uint32_t x)
{
    int32_t n = 0;
    while (n < 32 && !(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

/* classes whose exp the second pass reuses instead of computing it again (128 B of stack) */
#define KWS_SOFTMAX_KEPT 32

/* exp of a difference d >= diff_min to the row's maximum, Q0.31 (d 2^left_shift fits int32:
 * diff_min is -floor(31 * 2^26 / 2^left_shift)). */
static int32_t entry_exp(int32_t d, int32_t multiplier, int32_t left_shift)
{
    return exp_on_negative_values(srdhm((int32_t)((int64_t)d * ((int64_t)1 << left_shift)),
                                        multiplier));
}

kws_status_t kws_softmax_s8(int32_t n, const int8_t *input, int32_t input_multiplier,
                            int32_t input_left_shift, int32_t diff_min, int8_t *output)
{
    int32_t kept[KWS_SOFTMAX_KEPT]; /* the first classes' exps, for the second pass */
    int32_t i, max = INT8_LO, total = 0;
    if (n < 1 || input == 0 || output == 0 || input_multiplier < 0 || input_left_shift < 0 ||
        input_left_shift > 31 || diff_min > 0) {
        return KWS_ERR_ARG;
    }
    for (i = 0; i < n; i++) {
        max = input[i] > max ? input[i] : max;
    }
    for (i = 0; i < n; i++) {
        const int32_t d = input[i] - max;
        if (d >= diff_min) {
            const int32_t e = entry_exp(d, input_multiplier, input_left_shift);
            if (i < KWS_SOFTMAX_KEPT) {
                kept[i] = e;
            }
            total = wrap_add(total, rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS));
        }
    }
    /* the max's own term makes total >= 2^19: headroom <= 12, exponent in [23, 35] */
    const int32_t headroom = count_leading_zeros((uint32_t)total);
    const int32_t exponent = ACCUMULATION_INTEGER_BITS - headroom + 31 - 8;
    const int32_t recip = one_over_one_plus_x(to_int32(((uint32_t)total << headroom) -
                                                       0x80000000u));
    for (i = 0; i < n; i++) {
        const int32_t d = input[i] - max;
        int32_t q = INT8_LO;
        if (d >= diff_min) {
            const int32_t e = i < KWS_SOFTMAX_KEPT
                                  ? kept[i]
                                  : entry_exp(d, input_multiplier, input_left_shift);
            q = rounding_divide_by_pot_wide(srdhm(recip, e), exponent) + INT8_LO;
            q = q > INT8_HI ? INT8_HI : q;
        }
        output[i] = (int8_t)q;
    }
    return KWS_OK;
}
