"""Long test streams: 1 s clips placed at known times over background noise, from a seed.

A stream is the clips of a split in a random order (cycled as needed), each followed by a gap
drawn from [gap_min, gap_max] seconds, summed with background noise (cut from the split's own
noise recordings) scaled to `snr_db` below the clips' mean power. Returns the int16 samples and
the ground truth: (label index, first sample, last sample + 1) of every clip.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Placed:
    label: int
    start: int          # first sample of the clip in the stream
    end: int            # one past its last sample


def mix_stream(clips: np.ndarray, labels: np.ndarray, noise: list[np.ndarray], seconds: float,
               snr_db: float, sample_rate: int, rng: np.random.Generator,
               gap_min: float = 0.5, gap_max: float = 2.5) -> tuple[np.ndarray, list[Placed]]:
    total = int(round(seconds * sample_rate))
    clip_len = clips.shape[1]
    signal = np.zeros(total, dtype=np.float64)
    placed: list[Placed] = []
    order = rng.permutation(len(clips))
    pos, k = int(rng.uniform(gap_min, gap_max) * sample_rate), 0
    while pos + clip_len <= total:
        i = order[k % len(order)]
        signal[pos:pos + clip_len] += clips[i]
        placed.append(Placed(int(labels[i]), pos, pos + clip_len))
        pos += clip_len + int(rng.uniform(gap_min, gap_max) * sample_rate)
        k += 1
        if k % len(order) == 0:
            order = rng.permutation(len(clips))
    background = _background(noise, total, rng)
    clip_power = float(np.mean(clips.astype(np.float64) ** 2)) or 1.0
    noise_power = float(np.mean(background ** 2)) or 1.0
    signal += background * np.sqrt(clip_power / noise_power / 10 ** (snr_db / 10))
    return np.clip(np.round(signal), -32768, 32767).astype(np.int16), placed


def _background(noise: list[np.ndarray], total: int, rng: np.random.Generator) -> np.ndarray:
    """Random pieces of the noise recordings laid end to end (silence when there are none)."""
    usable = [n.astype(np.float64) for n in noise if len(n) > 0]
    out = np.zeros(total)
    pos = 0
    while usable and pos < total:
        rec = usable[rng.integers(len(usable))]
        start = int(rng.integers(len(rec)))
        piece = rec[start:start + total - pos]
        out[pos:pos + len(piece)] = piece
        pos += len(piece)
    return out
