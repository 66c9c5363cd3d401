"""Integer arithmetic shared by the golden models (numpy only; the C mirrors each function).

All functions take and return numpy integer arrays and are exact: no float touches a value.
Right shifts of negative numbers are arithmetic (floor), as numpy and every C compiler we target
do; the C side checks this at compile time.
"""
from __future__ import annotations

import math

import numpy as np


def round_shift(x: np.ndarray, shift: int) -> np.ndarray:
    """x / 2**shift rounded half up (toward +inf): (x + 2**(shift-1)) >> shift, on int64."""
    x = np.asarray(x, dtype=np.int64)
    if shift <= 0:
        return x << -shift
    return (x + (np.int64(1) << (shift - 1))) >> shift


def floor_log2(x: np.ndarray) -> np.ndarray:
    """floor(log2(x)) for int64 x > 0, exact (float64 only gives a guess that is then corrected)."""
    x = np.asarray(x, dtype=np.int64)
    _, exp = np.frexp(x.astype(np.float64))
    b = exp.astype(np.int64) - 1
    b = np.where((x >> np.clip(b, 0, 62)) == 0, b - 1, b)
    b = np.where(x >> np.clip(b + 1, 0, 62) > 0, b + 1, b)
    return b


def doubling_high_mult(a: np.ndarray, b) -> np.ndarray:
    """CMSIS-NN arm_nn_doubling_high_mult_no_sat: ((int64)a*b + 2**30) >> 31 (b may be an array
    that broadcasts against a, e.g. one multiplier per channel)."""
    return (np.asarray(a, dtype=np.int64) * np.asarray(b, dtype=np.int64) + (1 << 30)) >> 31


def divide_by_power_of_two(x: np.ndarray, exponent) -> np.ndarray:
    """CMSIS-NN arm_nn_divide_by_power_of_two: x / 2**exponent rounded half away from zero
    (exponent >= 0, a scalar or an array that broadcasts against x)."""
    x = np.asarray(x, dtype=np.int64)
    mask = (np.int64(1) << np.asarray(exponent, dtype=np.int64)) - 1
    remainder = x & mask
    result = x >> np.asarray(exponent, dtype=np.int64)
    threshold = (mask >> 1) + (result < 0)
    return result + (remainder > threshold)


def requantize(x: np.ndarray, multiplier, shift) -> np.ndarray:
    """CMSIS-NN arm_nn_requantize, default (double-rounding) variant, on int32 inputs.

    x * multiplier * 2**(shift - 31): left shift by max(shift, 0), rounding doubling high
    multiply by the Q31 multiplier, then rounding divide by 2**max(-shift, 0). multiplier and
    shift are scalars or per-channel arrays that broadcast against x's last axis.
    """
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    return divide_by_power_of_two(doubling_high_mult(x << left, multiplier), right)


def f32(x):
    """Round to float32 (kept as float64 values), as a .tflite file stores scales."""
    return np.float32(x).astype(np.float64) if np.ndim(x) else float(np.float32(x))


def requant_scale(input_scale: float, weight_scale: float, output_scale: float) -> float:
    """TFLite Micro's effective output scale at load time: double(in) * double(weight) /
    double(out) of the float32 scales (kws.training.ptq and kws.imports.tflite both use it)."""
    return f32(input_scale) * f32(weight_scale) / f32(output_scale)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A positive real scale as (Q31 multiplier in [2**30, 2**31), shift), as TFLite's
    QuantizeMultiplier does (std::round: half away from zero)."""
    if real <= 0:
        raise ValueError(f"scale {real} must be > 0")
    mantissa, shift = math.frexp(real)
    q = math.floor(mantissa * (1 << 31) + 0.5)
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q), int(shift)
