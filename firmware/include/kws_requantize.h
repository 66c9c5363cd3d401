/* Requantisation as CMSIS-NN's default arm_nn_requantize (double rounding), bit for bit.
 * Mirrors kws/intmath.py: requantize, doubling_high_mult, divide_by_power_of_two. */
#ifndef KWS_REQUANTIZE_H
#define KWS_REQUANTIZE_H

#include <stdint.h>

/* The integer code relies on >> of a negative value being arithmetic (floor). */
typedef char kws_arithmetic_right_shift_check[((-8) >> 1) == -4 ? 1 : -1];

/* ((int64)a * b + 2^30) >> 31: a rounding doubling high multiply, no saturation. */
static inline int32_t kws_doubling_high_mult_no_sat(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 30)) >> 31);
}

/* dividend / 2^exponent, rounded half away from zero. Range of exponent: [0, 31]. */
static inline int32_t kws_divide_by_power_of_two(int32_t dividend, int32_t exponent)
{
    const int32_t remainder_mask = (int32_t)((1u << exponent) - 1u);
    const int32_t remainder = remainder_mask & dividend;
    int32_t result = dividend >> exponent;
    int32_t threshold = remainder_mask >> 1;
    if (result < 0) {
        threshold++;
    }
    if (remainder > threshold) {
        result++;
    }
    return result;
}

/* val * multiplier * 2^(shift - 31). multiplier: Q31 in [2^30, 2^31); shift: [-31, 30]. */
static inline int32_t kws_requantize(int32_t val, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return kws_divide_by_power_of_two(
        kws_doubling_high_mult_no_sat((int32_t)(val * ((int32_t)1 << left)), multiplier), right);
}

#endif /* KWS_REQUANTIZE_H */
