"""Structured channel pruning of a DS-CNN (kws.training.models): whole channels are removed, so
the network that remains is physically smaller (every int8 kernel, the arena and the flash shrink)
and flows through quantisation, export and the firmware like any other student.

The prunable units are the channel groups that one conv produces: the first conv's outputs and
each block's pointwise outputs. Removing channel j of group g removes
    the producing conv's filter j (and its BatchNorm entry),
    the next block's depthwise filter j (a depthwise conv maps channel j to channel j),
    input j of the consumer: the next block's pointwise conv, or the classifier after the pool.
Nothing else in the network reads channel j, so the cut is exact: when the consumer's weights
on j are zero, the pruned network computes what the unpruned one did.

Importance of channel j of group g (higher = kept):
    l1, l2   the norm of the producing filter with its BatchNorm scale folded in (Li et al.,
             "Pruning Filters for Efficient ConvNets"), the classic data-free criterion;
    wanda    activation-aware, after Wanda (Sun et al. 2023: |W| x ||X||): the L2 norm of the
             consumer's input channel j over calibration clips times the summed |folded weight|
             the consumer gives it, i.e. how much of the next dense layer's input j carries.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from omegaconf import OmegaConf
from torch import nn

from kws.errors import KwsError
from kws.training.models import DSCNN, build_model

IMPORTANCE = ("l1", "l2", "wanda")


def conv_units(model: DSCNN) -> list[nn.Sequential]:
    """[first conv, dw1, pw1, dw2, pw2, ...]: each a (conv, BatchNorm, ReLU) sequence."""
    return [m for m in model.features if isinstance(m, nn.Sequential)]


def group_widths(model_cfg) -> list[int]:
    """Channels of each prunable group: the first conv's, then each block's pointwise."""
    return [int(model_cfg["first_channels"])] + [int(b["channels"]) for b in model_cfg["blocks"]]


def keep_counts(widths: list[int], ratio: float, multiple: int) -> list[int]:
    """Channels each group keeps after removing `ratio` of them: a multiple of `multiple` (the
    SIMD kernels' lane count), at least `multiple`, never more than the group has."""
    kept = []
    for w in widths:
        k = multiple * int(round(w * (1.0 - ratio) / multiple))
        kept.append(min(w, max(multiple, k)))
    return kept


def pruned_config(model_cfg, counts: list[int]) -> dict:
    """The model config of the network with `counts` channels per group."""
    cfg = OmegaConf.to_container(model_cfg, resolve=True) if OmegaConf.is_config(model_cfg) \
        else copy.deepcopy(dict(model_cfg))
    cfg["first_channels"] = int(counts[0])
    cfg["blocks"] = [{**dict(b), "channels": int(c)} for b, c in zip(cfg["blocks"], counts[1:])]
    return cfg


def _bn_scale(bn: nn.BatchNorm2d) -> torch.Tensor:
    return (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()


def _consumer(model: DSCNN, group: int) -> tuple[nn.Module, torch.Tensor]:
    """The dense layer reading group `group`'s channels (next pointwise, or the classifier), and
    its weights [out, in] with the BatchNorm scale after it folded in."""
    units = conv_units(model)
    if 2 * group + 2 < len(units):
        conv, bn = units[2 * group + 2][0], units[2 * group + 2][1]
        return conv, conv.weight.detach()[:, :, 0, 0] * _bn_scale(bn)[:, None]
    return model.classifier, model.classifier.weight.detach()


def filter_norms(model: DSCNN, order: int) -> list[np.ndarray]:
    """Per group, the L1 (order 1) or L2 norm of each producing filter, BatchNorm folded."""
    units = conv_units(model)
    scores = []
    for g in range(len(units) // 2 + 1):
        conv, bn = units[2 * g][0], units[2 * g][1]
        w = conv.weight.detach().flatten(1) * _bn_scale(bn)[:, None]
        scores.append(torch.linalg.vector_norm(w, ord=order, dim=1).numpy())
    return scores


@torch.no_grad()
def wanda_scores(model: DSCNN, x: torch.Tensor, batch: int = 256) -> list[np.ndarray]:
    """Per group, ||consumer input channel j||_2 over the clips x [N, 1, frames, coeffs] (every
    position) times sum_i |W_consumer[i, j]| (folded)."""
    n_groups = len(conv_units(model)) // 2 + 1
    consumers = [_consumer(model, g) for g in range(n_groups)]
    sums = [torch.zeros(w.shape[1], dtype=torch.float64) for _, w in consumers]

    def accumulate(g):
        def hook(_module, inputs):
            a = inputs[0].double()
            sums[g] += (a * a).sum(dim=(0, 2, 3)) if a.dim() == 4 else (a * a).sum(dim=0)
        return hook

    hooks = [module.register_forward_pre_hook(accumulate(g))
             for g, (module, _) in enumerate(consumers)]
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return [(torch.sqrt(s) * w.abs().sum(dim=0).double()).numpy()
            for s, (_, w) in zip(sums, consumers)]


def importance(model: DSCNN, kind: str, x: torch.Tensor | None = None) -> list[np.ndarray]:
    """Per group, one score per channel (higher = more important)."""
    if kind == "l1":
        return filter_norms(model, 1)
    if kind == "l2":
        return filter_norms(model, 2)
    if kind == "wanda":
        if x is None or len(x) == 0:
            raise KwsError("prune.importance=wanda needs calibration clips "
                           "(prune.calibration_clips >= 1)")
        return wanda_scores(model, x)
    raise KwsError(f"prune.importance={kind!r}: expected one of {', '.join(IMPORTANCE)}")


def choose_channels(scores: list[np.ndarray], counts: list[int]) -> list[np.ndarray]:
    """Per group, the indices of the `count` highest scores, in their original order (ties go
    to the lower index, so the choice is deterministic)."""
    keep = []
    for s, k in zip(scores, counts):
        if not 1 <= k <= len(s):
            raise KwsError(f"cannot keep {k} of {len(s)} channels")
        order = np.lexsort((np.arange(len(s)), -np.asarray(s, dtype=np.float64)))
        keep.append(np.sort(order[:k]))
    return keep


def _take_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d, idx: torch.Tensor) -> None:
    for name in ("weight", "bias"):
        getattr(dst, name).data.copy_(getattr(src, name).data[idx])
    dst.running_mean.copy_(src.running_mean[idx])
    dst.running_var.copy_(src.running_var[idx])
    dst.num_batches_tracked.copy_(src.num_batches_tracked)


@torch.no_grad()
def prune_channels(model: DSCNN, model_cfg, keep: list[np.ndarray], n_classes: int
                   ) -> tuple[DSCNN, dict]:
    """A new, smaller DS-CNN with only the channels in `keep` (per group), and its config."""
    cfg = pruned_config(model_cfg, [len(k) for k in keep])
    small = build_model(OmegaConf.create(cfg), n_classes)
    idx = [torch.as_tensor(k, dtype=torch.long) for k in keep]
    old, new = conv_units(model), conv_units(small)
    new[0][0].weight.copy_(old[0][0].weight[idx[0]])
    _take_bn(new[0][1], old[0][1], idx[0])
    for b in range(1, len(idx)):
        dw_old, dw_new, pw_old, pw_new = old[2 * b - 1], new[2 * b - 1], old[2 * b], new[2 * b]
        dw_new[0].weight.copy_(dw_old[0].weight[idx[b - 1]])
        _take_bn(dw_new[1], dw_old[1], idx[b - 1])
        pw_new[0].weight.copy_(pw_old[0].weight[idx[b]][:, idx[b - 1]])
        _take_bn(pw_new[1], pw_old[1], idx[b])
    small.classifier.weight.copy_(model.classifier.weight[:, idx[-1]])
    small.classifier.bias.copy_(model.classifier.bias)
    return small.train(model.training), cfg


def round_schedule(ratio: float, rounds: int) -> list[float]:
    """The share of channels removed after each prune -> fine-tune round (equal steps)."""
    return [ratio * (r + 1) / rounds for r in range(rounds)]


def candidate_ratios(widths: list[int], multiple: int) -> list[float]:
    """Every distinct uniform pruning level, from none to the smallest network: the widest
    group losing `multiple` channels at a time (the budget search walks these)."""
    widest = max(widths)
    ratios, seen = [], set()
    for k in range(0, widest, multiple):
        r = k / widest
        counts = tuple(keep_counts(widths, r, multiple))
        if counts not in seen:
            seen.add(counts)
            ratios.append(r)
    return ratios


def search_ratio(ratios: list[float], cost, budget: float) -> tuple[int, dict[int, float]]:
    """The least pruning (index into `ratios`, ordered from none) whose cost(ratio) <= budget,
    by bisection (cost falls as the ratio grows); and every cost measured on the way.
    -1 when even the last ratio costs more."""
    measured: dict[int, float] = {}

    def at(i: int) -> float:
        if i not in measured:
            measured[i] = cost(ratios[i])
        return measured[i]

    lo, hi = 0, len(ratios) - 1
    if at(hi) > budget:
        return -1, measured
    while lo < hi:                      # invariant: at(hi) <= budget
        mid = (lo + hi) // 2
        if at(mid) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return hi, measured
