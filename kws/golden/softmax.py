"""Golden int8 softmax: TensorFlow Lite's integer algorithm (reference_ops::Softmax, int8 in and
out), step by step, numpy only. firmware/src/nn/kws_softmax_s8.c mirrors each function.

Per row of int8 inputs x (the logits):
  1. d = x - max(x) (<= 0). Entries with d < diff_min count as 0.
  2. d in Q5.26: MultiplyByQuantizedMultiplierGreaterThanOne(d, input_multiplier,
     input_left_shift) = SRDHM(d * 2^left_shift, multiplier), where input_multiplier / shift
     encode beta * input_scale * 2^26 (PreprocessSoftmaxScaling; beta = 1).
  3. e = exp(d) in Q0.31 (gemmlowp exp_on_negative_values: a Taylor polynomial on [-1/4, 0)
     and a barrel shifter of exp(-2^k) constants).
  4. sum of e, each rounded to Q12.19 (RoundingDivideByPOT by 12), in int32.
  5. 1 / sum: GetReciprocal (sum normalised by its leading zeros, then Newton-Raphson
     1 / (1 + x) in Q2.29, three iterations), num_bits_over_unit.
  6. out = RoundingDivideByPOT(SRDHM(recip, e), num_bits_over_unit + 23) - 128, clamped to
     int8 (output scale 1/256, zero point -128, as TFLite requires).
SRDHM: SaturatingRoundingDoublingHighMul, (a*b + nudge) / 2^31 truncated toward zero with
nudge = +-2^30 by the product's sign, saturating INT32_MIN * INT32_MIN. int32 sums wrap.
"""
from __future__ import annotations

import math

import numpy as np

from kws.golden.intmath import quantize_multiplier

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
SCALED_DIFF_INTEGER_BITS = 5          # the exp input: Q5.26
ACCUMULATION_INTEGER_BITS = 12        # the sum: Q12.19


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap32(x) -> np.ndarray:
    """x modulo 2^32 as int32 values (an int32 add or subtract in C)."""
    return ((_i64(x) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def srdhm(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values."""
    a, b = _i64(a), _i64(b)
    ab = a * b
    v = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    q = np.where(v >= 0, v >> 31, -((-v) >> 31))              # C's truncating division
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def rounding_divide_by_pot(x, exponent: int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: x / 2^exponent, ties away from zero."""
    x = _i64(x)
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def saturating_shift_left(x, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent."""
    x = _i64(x)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX,
                    np.where(x < -threshold, INT32_MIN, x << exponent))


def _exp_on_quarter(a) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out."""
    constant_term, one_third = 1895147668, 715827883          # exp(-1/8), 1/3 in Q0.31
    x = wrap32(_i64(a) + (1 << 28))                            # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(wrap32(srdhm(wrap32(x4_over_4 + x3), one_third) + x2), 1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


# exp(-2^k) in Q0.31 for k = -2 .. 4 (gemmlowp's barrel shifter)
_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
           (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a) -> np.ndarray:
    """exp(a) for a <= 0 in Q5.26: Q0.31."""
    a = _i64(a)
    fractional = 31 - SCALED_DIFF_INTEGER_BITS                 # 26
    quarter = 1 << (fractional - 2)
    a_mod = wrap32((a & (quarter - 1)) - quarter)              # in [-1/4, 0)
    result = _exp_on_quarter(saturating_shift_left(a_mod, SCALED_DIFF_INTEGER_BITS))
    remainder = wrap32(a_mod - a)
    for k, multiplier in _BARREL:
        if SCALED_DIFF_INTEGER_BITS > k:
            bit = (remainder >> (fractional + k)) & 1
            result = np.where(bit == 1, srdhm(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x(a) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out (Newton-Raphson in Q2.29)."""
    a = _i64(a)
    s = a + INT32_MAX                                          # RoundingHalfSum(a, One):
    half_denominator = np.where(s >= 0, (s + 1) // 2, -((-s + 1) // 2))   # (s +- 1) / 2 in C
    x = wrap32(1515870810 + srdhm(half_denominator, -1010580540))   # 48/17 - 32/17 d
    one = 1 << 29
    for _ in range(3):
        correction = srdhm(x, wrap32(one - srdhm(half_denominator, x)))
        x = wrap32(x + saturating_shift_left(correction, 2))
    return saturating_shift_left(x, 1)


def count_leading_zeros(x) -> np.ndarray:
    x = _i64(x) & 0xFFFFFFFF
    return np.array([32 - int(v).bit_length() for v in np.ravel(x)], np.int64).reshape(x.shape)


def softmax_params(input_scale: float, beta: float = 1.0) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) as TFLite computes them at load time
    (PreprocessSoftmaxScaling, QuantizeMultiplierGreaterThanOne, CalculateInputRadius)."""
    real = min(beta * float(np.float32(input_scale)) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)),
               (1 << 31) - 1.0)
    if real <= 1.0:
        raise ValueError(f"softmax input scale {input_scale}: beta * scale * 2^26 must be > 1")
    q, shift = quantize_multiplier(real)                   # QuantizeMultiplierGreaterThanOne
    radius = math.floor(((1 << SCALED_DIFF_INTEGER_BITS) - 1)
                        * (1 << (31 - SCALED_DIFF_INTEGER_BITS)) / (1 << shift))
    return int(q), int(shift), -int(radius)


def softmax_s8(x: np.ndarray, input_multiplier: int, input_left_shift: int,
               diff_min: int) -> np.ndarray:
    """int8 [..., n] → int8 [..., n] along the last axis (output scale 1/256, zero point -128)."""
    x = _i64(x)
    d = x - x.max(axis=-1, keepdims=True)
    used = d >= diff_min
    scaled = srdhm(d * (1 << input_left_shift), input_multiplier)
    e = exp_on_negative_values(scaled)
    terms = np.where(used, rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS), 0)
    total = wrap32(terms.sum(axis=-1, keepdims=True))
    headroom = count_leading_zeros(total)
    bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom
    normalised = wrap32(((total & 0xFFFFFFFF) << headroom) - (1 << 31))
    recip = one_over_one_plus_x(normalised)
    exponent = bits_over_unit + 31 - 8
    out = np.empty(x.shape, np.int64)
    flat_out, flat_e = out.reshape(-1, x.shape[-1]), e.reshape(-1, x.shape[-1])
    for row, (r, ex) in enumerate(zip(recip.reshape(-1), exponent.reshape(-1))):
        flat_out[row] = rounding_divide_by_pot(srdhm(r, flat_e[row]), int(ex))
    out = np.clip(out - 128, -128, 127)
    return np.where(used, out, -128).astype(np.int8)
