"""SpecAugment-style masks on a training batch's features (Park et al., 2019: time and
frequency masking, no time warping).

Each clip gets `time_masks` bands of up to `time_mask_frames` consecutive frames and
`freq_masks` bands of up to `freq_mask_coeffs` consecutive coefficients set to the training
set's mean feature vector, so a masked band looks like an average frame rather than a loud or
silent one. Drawn from torch's generator, which the training loop seeds per epoch, so a run is
repeatable. Only training batches are masked; validation, test and the integer stages never see
it.
"""
from __future__ import annotations

import torch


def mask_batch(x: torch.Tensor, fill: torch.Tensor, settings) -> torch.Tensor:
    """x: [N, 1, frames, coeffs] float; fill: [coeffs], the value of a masked cell."""
    n, _, frames, coeffs = x.shape
    keep = torch.ones(n, frames, coeffs, dtype=torch.bool, device=x.device)
    for _ in range(settings.time_masks):
        keep &= ~_bands(n, frames, settings.time_mask_frames, x.device)[:, :, None]
    for _ in range(settings.freq_masks):
        keep &= ~_bands(n, coeffs, settings.freq_mask_coeffs, x.device)[:, None, :]
    keep = keep[:, None]
    return torch.where(keep, x, fill.to(x.device).view(1, 1, 1, coeffs))


def _bands(n: int, length: int, max_width: int, device) -> torch.Tensor:
    """[n, length] bool: one band per row, width uniform in [0, max_width], start uniform."""
    width = torch.randint(0, min(max_width, length) + 1, (n, 1))
    start = (torch.rand(n, 1) * (length - width + 1)).floor().long()
    pos = torch.arange(length)[None, :]
    return ((pos >= start) & (pos < start + width)).to(device)
