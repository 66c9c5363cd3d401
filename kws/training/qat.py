"""Quantisation-aware fine-tuning of the BN-folded student, starting from the PTQ ranges.

The fake-quantised forward mirrors the integer graph of kws.golden.network: weights rounded to int8 per
output channel (per tensor for the classifier), every activation rounded to its int8 grid
(scale, zero point) and clamped as the int8 ReLU clamps, the average pool rounded on its input
grid. Rounding passes gradients straight through (STE). Activation grids stay at the PTQ
calibration, so the integers after conversion (kws.training.ptq.convert) are what QAT trained for.
"""
from __future__ import annotations

import logging

import torch
from torch import nn
from torch.nn import functional as F

from kws.golden.network import QuantParams
from kws.golden.network import conv_padding, same_padding
from kws.training.ptq import FloatLayer, activation_quant

log = logging.getLogger(__name__)


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def fake_quant(x: torch.Tensor, quant: QuantParams, q_min: int = -128) -> torch.Tensor:
    """x on the int8 grid of `quant`, clamped to [q_min, 127] (gradient straight through)."""
    q = torch.clamp(_round_ste(x / quant.scale) + quant.zero_point, q_min, 127)
    return (q - quant.zero_point) * quant.scale


def fake_quant_weight(w: torch.Tensor, per_channel: bool) -> torch.Tensor:
    flat = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
    scale = flat.detach().abs().amax(dim=1).clamp_min(1e-12) / 127.0
    q = torch.clamp(_round_ste(flat / scale[:, None]), -127, 127)
    return (q * scale[:, None]).reshape(w.shape)


class FakeQuantNet(nn.Module):
    def __init__(self, layers: list[FloatLayer], ranges: list[tuple[float, float]],
                 input_quant: QuantParams) -> None:
        super().__init__()
        self.kinds = [layer.kind for layer in layers]
        self.strides = [layer.stride for layer in layers]
        self.time_paddings = [layer.time_padding for layer in layers]
        self.weights = nn.ParameterList(
            [nn.Parameter(l.weight.clone()) for l in layers if l.weight is not None])
        self.biases = nn.ParameterList(
            [nn.Parameter(l.bias.clone()) for l in layers if l.bias is not None])
        self.input_quant = input_quant
        self.out_quant = []
        current = input_quant
        for kind, (lo, hi) in zip(self.kinds, ranges):
            current = current if kind == "avgpool" else activation_quant(lo, hi)
            self.out_quant.append(current)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = 0
        for kind, stride, time_padding, quant in zip(self.kinds, self.strides,
                                                     self.time_paddings, self.out_quant):
            if kind == "avgpool":
                x = fake_quant(x.mean(dim=(2, 3)), quant)
                continue
            w = fake_quant_weight(self.weights[index], per_channel=kind != "dense")
            b = self.biases[index]
            index += 1
            if kind == "dense":
                x = fake_quant(F.linear(x, w, b), quant)
                continue
            kh, kw = w.shape[-2:]
            _, top, bottom = conv_padding(x.shape[-2], kh, stride[0], time_padding)
            _, left, right = same_padding(x.shape[-1], kw, stride[1])
            x = F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride,
                         groups=x.shape[1] if kind == "dwconv" else 1)
            x = fake_quant(x, quant, q_min=quant.zero_point)      # int8 ReLU: clamp at the zp
        return x

    def to_float_layers(self) -> list[FloatLayer]:
        layers, index = [], 0
        for kind, stride, time_padding in zip(self.kinds, self.strides, self.time_paddings):
            if kind == "avgpool":
                layers.append(FloatLayer(kind, None, None))
                continue
            layers.append(FloatLayer(kind, self.weights[index].detach().clone(),
                                     self.biases[index].detach().clone(), stride,
                                     time_padding))
            index += 1
        return layers


def finetune(net: FakeQuantNet, cfg, run_dir, epochs: int, lr: float) -> list[dict]:
    """Fine-tune on fresh augmentation draws of the training audio; returns per-epoch metrics."""
    import numpy as np

    from kws.artifacts import RunDir
    from kws.training.loop import (choose_device, epoch_draws, epoch_inputs, load_dataset,
                                    predict)

    ds = load_dataset(run_dir)
    tables = RunDir(run_dir).mfcc_tables()
    device = choose_device(cfg.train.device, cfg.train.threads)
    net.to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    y_train = torch.from_numpy(ds.train_labels)
    history = []
    with epoch_draws(cfg, run_dir, ds, tables) as draws:
        for epoch in range(epochs):
            torch.manual_seed(cfg.seed * 100_003 + 50_000 + epoch)
            x_train = epoch_inputs(ds, draws, 10_000 + epoch)       # draws unseen in training
            order = torch.from_numpy(np.random.default_rng([cfg.seed, 10_000 + epoch, 2])
                                     .permutation(len(y_train)))
            net.train()
            for start in range(0, len(order), cfg.train.batch_size):
                idx = order[start:start + cfg.train.batch_size]
                loss = F.cross_entropy(net(x_train[idx].to(device)), y_train[idx].to(device),
                                       label_smoothing=cfg.train.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            val = predict(net, ds.val_x, device).argmax(1)
            history.append({"epoch": epoch + 1, "val_acc": round(float((val == ds.val_y)
                                                                       .float().mean()), 4)})
            log.info("quantize: QAT epoch %d/%d: val %.3f", epoch + 1, epochs,
                     history[-1]["val_acc"])
    net.cpu()
    return history
