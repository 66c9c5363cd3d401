"""A configurable DS-CNN (Hello Edge) for [batch, 1, frames, coefficients] feature maps.

first conv (kernel, stride, channels) + BN + ReLU → dropout → depthwise-separable blocks
(3x3 depthwise conv with the block's stride + BN + ReLU, 1x1 pointwise conv + BN + ReLU) →
dropout → global average pool → linear classifier. "Same" padding throughout, so every conv
maps to one int8 kernel call (TFLite "same" padding: any odd pixel of padding goes at the bottom /
right); BN folds into the conv before it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kws.golden.network import conv_padding, same_padding


@dataclass(frozen=True)
class Block:
    channels: int
    stride: tuple[int, int]


def _pair(v) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (list, tuple)) or hasattr(v, "__len__") \
        else (int(v), int(v))


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow/TFLite "same" padding along frequency, as the int8 kernels compute
    it; along time "same" too, or "valid" (no padding: every output row depends only on input
    rows that have arrived, so the network can run streaming, row by row)."""

    def __init__(self, *args, time_padding: str = "same", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.time_padding = time_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, top, bottom = conv_padding(x.shape[-2], self.kernel_size[0], self.stride[0],
                                      self.time_padding)
        _, left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        return super().forward(nn.functional.pad(x, (left, right, top, bottom)))


def _conv_bn_relu(cin: int, cout: int, kernel, stride, groups: int = 1,
                  time_padding: str = "same") -> nn.Sequential:
    conv = SameConv2d(cin, cout, _pair(kernel), _pair(stride), groups=groups, bias=False,
                      time_padding=time_padding)
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU())


class DSCNN(nn.Module):
    def __init__(self, n_classes: int, first_channels: int, first_kernel, first_stride,
                 blocks: list[Block], dropout: float, time_padding: str = "same") -> None:
        super().__init__()
        layers = [_conv_bn_relu(1, first_channels, first_kernel, first_stride,
                                time_padding=time_padding), nn.Dropout(dropout)]
        channels = first_channels
        for block in blocks:
            layers.append(_conv_bn_relu(channels, channels, 3, block.stride, groups=channels,
                                        time_padding=time_padding))
            layers.append(_conv_bn_relu(channels, block.channels, 1, 1))
            channels = block.channels
        layers.append(nn.Dropout(dropout))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def build_model(model_cfg, n_classes: int) -> DSCNN:
    blocks = [Block(int(b.channels), _pair(b.stride)) for b in model_cfg.blocks]
    return DSCNN(n_classes, int(model_cfg.first_channels), model_cfg.first_kernel,
                 model_cfg.first_stride, blocks, float(model_cfg.dropout),
                 str(model_cfg.get("time_padding", "same")))


def count_params(model: nn.Module, fold_bn: bool = True) -> int:
    """Parameters as deployed: BN folded into the conv before it (a bias per channel)."""
    total = 0
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            total += module.weight.numel() + (module.out_channels if fold_bn else 0)
        elif isinstance(module, nn.Linear):
            total += module.weight.numel() + module.bias.numel()
        elif isinstance(module, nn.BatchNorm2d) and not fold_bn:
            total += 2 * module.num_features
    return total


def count_macs(model: nn.Module, input_shape: tuple[int, int]) -> int:
    """Multiply-accumulates of one inference on a [1, 1, frames, coefficients] input."""
    macs = 0

    def conv_hook(module, _inputs, output):
        nonlocal macs
        kernel = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
        macs += output.numel() * kernel

    def linear_hook(module, _inputs, output):
        nonlocal macs
        macs += module.in_features * module.out_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules()
              if isinstance(m, nn.Linear)]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, *input_shape))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return macs
