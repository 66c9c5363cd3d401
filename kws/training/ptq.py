"""From a trained float DS-CNN to golden int8 layers: BN folding, calibration, quantisation.

TFLite int8 rules (see kws/golden.py): weights symmetric per output channel in [-127, 127];
activations per tensor, scale = (max - min) / 255 over a range that includes 0, zero point
round(-128 - min / scale); bias int32 at scale input_scale * weight_scale; requantisation
multiplier = input_scale * weight_scale / output_scale as (Q31, shift). The network's input
quantisation is the front end's int8 output (features/quant.json).

Scales are float32, as a .tflite file stores them, and multipliers are computed in double from
those float32 values, as TFLite Micro computes them at load time: so the golden integers and the
interpreter's are the same.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from kws.golden.network import AvgPool, Conv, Dense, QuantParams
from kws.golden.intmath import f32, quantize_multiplier, requant_scale
from kws.golden.network import conv_padding, same_padding
from kws.training.models import DSCNN, SameConv2d


@dataclass
class FloatLayer:
    """A BN-folded float layer in torch layout."""
    kind: str                      # conv | dwconv | avgpool | dense
    weight: torch.Tensor | None
    bias: torch.Tensor | None
    stride: tuple[int, int] = (1, 1)
    time_padding: str = "same"     # along H: "same" or "valid" (kws.golden.network.conv_padding)


def fold(model: DSCNN) -> list[FloatLayer]:
    """The model's inference graph with BatchNorm folded into the conv before it."""
    layers = []
    for unit in model.features:
        if not isinstance(unit, nn.Sequential):
            continue                                          # dropout: identity at inference
        conv, bn = unit[0], unit[1]
        assert isinstance(conv, SameConv2d) and isinstance(bn, nn.BatchNorm2d)
        gamma = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        weight = conv.weight.detach() * gamma[:, None, None, None]
        bias = bn.bias.detach() - bn.running_mean * gamma
        kind = "dwconv" if conv.groups > 1 else "conv"
        layers.append(FloatLayer(kind, weight, bias, tuple(conv.stride), conv.time_padding))
    layers.append(FloatLayer("avgpool", None, None))
    layers.append(FloatLayer("dense", model.classifier.weight.detach(),
                             model.classifier.bias.detach()))
    return layers


def float_forward(layers: list[FloatLayer], x: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's float output for input [N, 1, H, W] (NCHW), as the int8 graph sees it."""
    outputs = []
    with torch.no_grad():
        for layer in layers:
            if layer.kind in ("conv", "dwconv"):
                kh, kw = layer.weight.shape[-2:]
                _, top, bottom = conv_padding(x.shape[-2], kh, layer.stride[0],
                                              layer.time_padding)
                _, left, right = same_padding(x.shape[-1], kw, layer.stride[1])
                x = F.conv2d(F.pad(x, (left, right, top, bottom)), layer.weight, layer.bias,
                             layer.stride, groups=x.shape[1] if layer.kind == "dwconv" else 1)
                x = F.relu(x)
            elif layer.kind == "avgpool":
                x = x.mean(dim=(2, 3))
            else:
                x = F.linear(x, layer.weight, layer.bias)
            outputs.append(x)
    return outputs


def activation_ranges(layers: list[FloatLayer], x: torch.Tensor, method: str,
                      percentile: float) -> list[tuple[float, float]]:
    """(min, max) of each layer's output over calibration inputs."""
    ranges = []
    for out in float_forward(layers, x):
        values = out.flatten().numpy()
        if method == "minmax":
            lo, hi = float(values.min()), float(values.max())
        elif method == "percentile":
            lo = float(np.percentile(values, 100 - percentile))
            hi = float(np.percentile(values, percentile))
        else:
            raise ValueError(f"quant.calibration={method!r}: expected minmax or percentile")
        ranges.append((lo, hi))
    return ranges


def activation_quant(lo: float, hi: float) -> QuantParams:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = f32(max(hi - lo, 1e-8) / 255.0)
    zero_point = int(np.clip(round(-128 - lo / scale), -128, 127))
    return QuantParams(scale, zero_point)


def quantize_weights(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 in [-127, 127]: (q, scale per channel)."""
    flat = weight.reshape(weight.shape[0], -1)
    scale = f32(np.maximum(np.abs(flat).max(axis=1), 1e-12) / 127.0)
    q = np.clip(np.round(flat / scale[:, None]), -127, 127).astype(np.int8)
    return q.reshape(weight.shape), scale


def convert(layers: list[FloatLayer], ranges: list[tuple[float, float]],
            input_quant: QuantParams) -> list:
    """Golden int8 layers for the folded float layers and their calibrated output ranges."""
    golden, current = [], input_quant
    for i, (layer, (lo, hi)) in enumerate(zip(layers, ranges)):
        name = f"{i:02d}_{layer.kind}"
        if layer.kind == "avgpool":
            golden.append(AvgPool(name, current))
            continue
        out = activation_quant(lo, hi)
        weight = layer.weight.numpy().astype(np.float64)
        if layer.kind == "dense":
            scale = f32(max(np.abs(weight).max(), 1e-12) / 127.0)
            q = np.clip(np.round(weight / scale), -127, 127).astype(np.int8)
            bias = np.round(layer.bias.numpy() / (current.scale * scale)).astype(np.int32)
            multiplier, shift = quantize_multiplier(requant_scale(current.scale, scale, out.scale))
            golden.append(Dense(name, q, bias, multiplier, shift, current, out, float(scale)))
        else:
            nhwc = np.transpose(weight, (0, 2, 3, 1))             # [Cout, kh, kw, Cin or 1]
            q, scale = quantize_weights(nhwc)
            bias = np.round(layer.bias.numpy() / (current.scale * scale)).astype(np.int64)
            bias = np.clip(bias, -2**31, 2**31 - 1).astype(np.int32)
            mults = [quantize_multiplier(requant_scale(current.scale, s, out.scale)) for s in scale]
            golden.append(Conv(name, q, bias, np.array([m for m, _ in mults], dtype=np.int32),
                               np.array([s for _, s in mults], dtype=np.int32), layer.stride,
                               layer.kind == "dwconv", current, out, act_min=out.zero_point,
                               act_max=127, weight_scale=scale,
                               time_padding=layer.time_padding))
        current = out
    return golden


def post_training_quantize(model: DSCNN, x_cal: torch.Tensor, quant_cfg, input_quant: QuantParams
                           ) -> tuple[list[FloatLayer], list[tuple[float, float]], list]:
    """PTQ as the quantize stage does it: fold BatchNorm, calibrate each layer's output range on
    x_cal (quant.calibration, quant.percentile), convert. (folded layers, ranges, golden int8)."""
    layers = fold(model.eval())
    ranges = activation_ranges(layers, x_cal, quant_cfg.calibration, quant_cfg.percentile)
    return layers, ranges, convert(layers, ranges, input_quant)


def dequantize_output(q: np.ndarray, quant: QuantParams) -> np.ndarray:
    return (q.astype(np.float64) - quant.zero_point) * quant.scale
