"""Golden int8 network: numpy inference with exact integer arithmetic (TFLite int8 semantics).

Layouts are NHWC. Every layer: int32 accumulator of (input - input_zero_point) * weight over the
kernel window (padding contributes 0, i.e. padded inputs equal the zero point), + int32 bias,
requantised per output channel with CMSIS-NN's arm_nn_requantize (kws.golden.intmath.requantize),
+ output zero point, clamped to [act_min, act_max] (a fused ReLU clamps at the zero point).

  conv / depthwise conv / pointwise conv: weights int8 in [-127, 127], per output channel,
      zero point 0; bias scale = input_scale * weight_scale[c].
  average pool: TFLite reference: sum of the raw int8 values over the window, divided by the
      count rounding half away from zero; output quantisation = input quantisation.
  fully connected: int8 weights, one (multiplier, shift) per tensor or per output channel (the
      TFLite converter writes per-channel ones), as TFLite's FULLY_CONNECTED.
  mean over H and W (imported models): TFLite Micro's int8 MEAN, see Mean.

Accumulators are computed with float64 matrix products, which are exact here: every product is
below 2**15 and every sum below 2**53 whatever the order, so BLAS gives the integers the C does.
numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kws.golden.intmath import divide_by_power_of_two, doubling_high_mult, requantize
from kws.golden.softmax import softmax_s8


@dataclass
class QuantParams:
    scale: float
    zero_point: int


@dataclass
class Conv:
    """conv2d (groups=1) or depthwise (groups=channels): along H (time) TF "same" or "valid"
    (time_padding); along W (frequency) "same" (freq_padding; "valid" for imported models)."""
    name: str
    weights: np.ndarray              # int8 [Cout, kh, kw, Cin] (conv) or [C, kh, kw, 1] (depthwise)
    bias: np.ndarray                 # int32 [Cout]
    multiplier: np.ndarray           # int32 [Cout], Q31
    shift: np.ndarray                # int32 [Cout]
    stride: tuple[int, int]
    depthwise: bool
    input: QuantParams
    output: QuantParams
    act_min: int = -128
    act_max: int = 127
    weight_scale: np.ndarray = field(default=None, repr=False)   # float [Cout], for reporting
    time_padding: str = "same"       # along H (time): "same", or "valid" (no padding: streamable)
    freq_padding: str = "same"       # along W: "same" (our models), or "valid" (imported ones)


@dataclass
class AvgPool:
    """Global average pool over H and W."""
    name: str
    quant: QuantParams


@dataclass
class Add:
    """TFLite's int8 ADD of the previous layer's output (input 1) and an earlier tensor (input 2,
    a residual: tensor `skip`, where tensor 0 is the network's input and tensor i + 1 layer i's
    output), the same shape. Each input to a common scale with 20 bits of headroom, summed,
    requantised (MultiplyByQuantizedMultiplierSmallerThanOneExp: SRDHM, then a rounding right
    shift), + output zero point, clamped. Only in imported models (kws-import)."""
    name: str
    skip: int
    input1: QuantParams
    input2: QuantParams
    output: QuantParams
    input1_multiplier: int
    input1_shift: int            # <= 0
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int = -128
    act_max: int = 127


ADD_LEFT_SHIFT = 20              # TFLite's headroom for int8 ADD


@dataclass
class WindowPool:
    """A TFLite int8 pool over windows (padding skipped: a window is clipped to the input),
    clamped to [act_min, act_max]; the output quantised as the input. padding: "same" or
    "valid", on both axes. Only in imported models (kws-import)."""
    name: str
    filter: tuple[int, int]
    stride: tuple[int, int]
    padding: str
    quant: QuantParams
    act_min: int = -128
    act_max: int = 127


@dataclass
class MaxPool(WindowPool):
    """MAX_POOL_2D: the largest input of each window."""


@dataclass
class AvgPool2D(WindowPool):
    """AVERAGE_POOL_2D with a window (the global pool is AvgPool): the sum of each window's
    valid inputs over their count, rounding half away from zero."""


@dataclass
class Softmax:
    """TFLite's int8 softmax over the last axis (kws.golden.softmax); output scale 1/256, zero
    point -128. Only in imported models (kws-import), after the classifier."""
    name: str
    input_multiplier: int
    input_left_shift: int
    diff_min: int
    input: QuantParams
    output: QuantParams


@dataclass
class Dense:
    """Fully connected over a vector. multiplier and shift: ints (per-tensor weights), or int32
    arrays [Cout] (per-channel weights: imported models only, the C runs them as a pointwise
    convolution of a 1x1 map)."""
    name: str
    weights: np.ndarray              # int8 [Cout, Cin]
    bias: np.ndarray                 # int32 [Cout]
    multiplier: int | np.ndarray
    shift: int | np.ndarray
    input: QuantParams
    output: QuantParams
    weight_scale: float | np.ndarray = 0.0


@dataclass
class Mean:
    """TFLite Micro's int8 MEAN over H and W ([N, H, W, C] → [N, C]; how the converter writes
    Keras' GlobalAveragePooling2D), the output quantised on its own scale. Only in imported
    models (kws-import). Integer steps (reduce.h QuantizedMeanOrSum, compute_sum false):
    total = Σ x − zp_in · n over the n = H·W inputs (int32), then
    requantize(total, multiplier, shift) (MultiplyByQuantizedMultiplier: the double-rounding
    arm_nn_requantize) + zp_out, clamped to int8; multiplier and shift fold 1/n into
    QuantizeMultiplier(in_scale / out_scale): see mean_multiplier."""
    name: str
    input: QuantParams
    output: QuantParams
    multiplier: int                  # Q31 (not normalised: (m << k) // n)
    shift: int                       # >= -31


def mean_multiplier(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """TFLite's QuantizedMeanOrSum: the (multiplier, shift) of QuantizeMultiplier(in / out) with
    1/count folded in: k = floor(log2(count)), at most 32 and 31 + shift;
    ((multiplier << k) // count, shift - k) (integer division, both positive)."""
    if count < 1:
        raise ValueError(f"count {count} must be >= 1")
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << k) // count, shift - k


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """(output size, pad before, pad after) of TensorFlow "same" padding."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


PADDINGS = ("same", "valid")


def conv_padding(size: int, kernel: int, stride: int, mode: str) -> tuple[int, int, int]:
    """(output size, pad before, pad after) of one axis: TF "same", or "valid" (no padding,
    only windows that fit: out = (size - kernel) // stride + 1)."""
    if mode == "same":
        return same_padding(size, kernel, stride)
    if mode != "valid":
        raise ValueError(f"padding {mode!r}: expected one of {PADDINGS}")
    return (size - kernel) // stride + 1, 0, 0


def _requantize_channels(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                         out: QuantParams, act_min: int, act_max: int) -> np.ndarray:
    """acc int64 [..., C] → int8 with per-channel (multiplier, shift)."""
    result = requantize(acc, np.asarray(multiplier), np.asarray(shift))
    return np.clip(result + out.zero_point, act_min, act_max).astype(np.int8)


def conv_accumulators(layer: Conv, x: np.ndarray) -> np.ndarray:
    """int64 [N, OH, OW, Cout]: sum of (x - zp) * w plus bias, before requantisation.

    1x1 stride-1 conv: one matrix product. Depthwise: summed tap by tap (each tap a strided
    slice of the zero-padded input times that tap's per-channel weights), which avoids an
    im2col copy of every channel. Other convs: im2col (kernel x Cin columns) and one product."""
    cout, kh, kw, cin = layer.weights.shape
    n, h, w, _ = x.shape
    oh, top, bottom = conv_padding(h, kh, layer.stride[0], layer.time_padding)
    ow, left, right = conv_padding(w, kw, layer.stride[1], layer.freq_padding)
    sh, sw = layer.stride
    centred = x.astype(np.float64) - layer.input.zero_point
    weights = layer.weights.astype(np.float64)
    if (kh, kw) == (1, 1) and (sh, sw) == (1, 1) and not layer.depthwise:
        acc = centred @ weights[:, 0, 0, :].T
    else:
        padded = np.pad(centred, ((0, 0), (top, bottom), (left, right), (0, 0)))
        taps = [padded[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw, :]
                for i in range(kh) for j in range(kw)]                   # each [N, OH, OW, C]
        if layer.depthwise:
            acc = np.zeros((n, oh, ow, cout))
            for k, tap in enumerate(taps):
                acc += tap * weights[:, k // kw, k % kw, 0]
        else:
            columns = np.stack(taps, axis=3).reshape(n * oh * ow, kh * kw * cin)
            acc = (columns @ weights.reshape(cout, -1).T).reshape(n, oh, ow, cout)
    return acc.astype(np.int64) + layer.bias.astype(np.int64)


def run_conv(layer: Conv, x: np.ndarray) -> np.ndarray:
    return _requantize_channels(conv_accumulators(layer, x), layer.multiplier, layer.shift,
                                layer.output, layer.act_min, layer.act_max)


def run_avgpool(layer: AvgPool, x: np.ndarray) -> np.ndarray:
    """TFLite reference AveragePool over the whole map: [N, H, W, C] → [N, C]."""
    count = x.shape[1] * x.shape[2]
    total = x.astype(np.int64).sum(axis=(1, 2))
    average = np.where(total > 0, (total + count // 2) // count, -((-total + count // 2) // count))
    return np.clip(average, -128, 127).astype(np.int8)


def _pool_windows(layer, x: np.ndarray):
    """(oy, ox, the window's valid inputs [N, h, w, C]) of a pool's every output pixel."""
    (fh, fw), (sh, sw) = layer.filter, layer.stride
    out_h, top, _ = conv_padding(x.shape[1], fh, sh, layer.padding)
    out_w, left, _ = conv_padding(x.shape[2], fw, sw, layer.padding)
    for oy in range(out_h):
        y0 = oy * sh - top
        ys = slice(max(y0, 0), min(y0 + fh, x.shape[1]))
        for ox in range(out_w):
            x0 = ox * sw - left
            yield oy, ox, x[:, ys, max(x0, 0):min(x0 + fw, x.shape[2]), :]


def _pool_shape(layer, x: np.ndarray) -> tuple[int, int, int, int]:
    (fh, fw), (sh, sw) = layer.filter, layer.stride
    return (x.shape[0], conv_padding(x.shape[1], fh, sh, layer.padding)[0],
            conv_padding(x.shape[2], fw, sw, layer.padding)[0], x.shape[3])


def run_maxpool(layer: MaxPool, x: np.ndarray) -> np.ndarray:
    """TFLite reference MaxPool: [N, H, W, C] → [N, out_h, out_w, C]."""
    out = np.empty(_pool_shape(layer, x), np.int8)
    for oy, ox, window in _pool_windows(layer, x):
        out[:, oy, ox, :] = np.clip(window.max(axis=(1, 2)), layer.act_min, layer.act_max)
    return out


def run_avgpool2d(layer: AvgPool2D, x: np.ndarray) -> np.ndarray:
    """TFLite reference int8 AveragePool: [N, H, W, C] → [N, out_h, out_w, C]."""
    out = np.empty(_pool_shape(layer, x), np.int8)
    for oy, ox, window in _pool_windows(layer, x):
        count = window.shape[1] * window.shape[2]
        total = window.astype(np.int64).sum(axis=(1, 2))
        average = np.where(total > 0, (total + count // 2) // count,
                           -((-total + count // 2) // count))
        out[:, oy, ox, :] = np.clip(average, layer.act_min, layer.act_max)
    return out


def _scale_down(x: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """MultiplyByQuantizedMultiplierSmallerThanOneExp: SRDHM(x, multiplier), then a rounding
    right shift by -shift (shift <= 0)."""
    return divide_by_power_of_two(doubling_high_mult(x, multiplier), -shift)


def run_add(layer: Add, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """TFLite reference int8 ADD, elementwise on equal shapes."""
    a = (x1.astype(np.int64) - layer.input1.zero_point) << ADD_LEFT_SHIFT
    b = (x2.astype(np.int64) - layer.input2.zero_point) << ADD_LEFT_SHIFT
    total = (_scale_down(a, layer.input1_multiplier, layer.input1_shift)
             + _scale_down(b, layer.input2_multiplier, layer.input2_shift))
    out = _scale_down(total, layer.output_multiplier, layer.output_shift) + layer.output.zero_point
    return np.clip(out, layer.act_min, layer.act_max).astype(np.int8)


def run_mean(layer: Mean, x: np.ndarray) -> np.ndarray:
    """TFLite Micro int8 MEAN over H and W: [N, H, W, C] → [N, C]."""
    count = x.shape[1] * x.shape[2]
    total = x.astype(np.int64).sum(axis=(1, 2)) - layer.input.zero_point * count
    out = requantize(total, layer.multiplier, layer.shift) + layer.output.zero_point
    return np.clip(out, -128, 127).astype(np.int8)


def run_dense(layer: Dense, x: np.ndarray) -> np.ndarray:
    centred = x.astype(np.float64) - layer.input.zero_point
    acc = (centred @ layer.weights.astype(np.float64).T).astype(np.int64) + layer.bias
    q = requantize(acc, layer.multiplier, layer.shift) + layer.output.zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def run_layer(layer, x: np.ndarray) -> np.ndarray:
    if isinstance(layer, Conv):
        return run_conv(layer, x)
    if isinstance(layer, AvgPool):
        return run_avgpool(layer, x)
    if isinstance(layer, Mean):
        return run_mean(layer, x)
    if isinstance(layer, MaxPool):
        return run_maxpool(layer, x)
    if isinstance(layer, AvgPool2D):
        return run_avgpool2d(layer, x)
    if isinstance(layer, Softmax):
        return softmax_s8(x, layer.input_multiplier, layer.input_left_shift, layer.diff_min)
    return run_dense(layer, x)


def run_network(layers: list, x: np.ndarray, batch: int = 256,
                keep: bool = False) -> np.ndarray | list[np.ndarray]:
    """int8 input [N, H, W, C] → int8 logits [N, classes] (or every layer's output if keep).
    An Add layer adds an earlier tensor (its `skip`) to the previous layer's output."""
    outputs = []
    for start in range(0, len(x), batch):
        h = x[start:start + batch]
        per_layer, tensors = [], [h]
        for layer in layers:
            h = run_add(layer, h, tensors[layer.skip]) if isinstance(layer, Add) else \
                run_layer(layer, h)
            per_layer.append(h)
            tensors.append(h)
        outputs.append(per_layer if keep else h)
    if keep:
        return [np.concatenate([o[i] for o in outputs]) for i in range(len(layers))]
    return np.concatenate(outputs)
