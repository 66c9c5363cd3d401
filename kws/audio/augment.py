"""Training-clip augmentation: time shift, background noise at a random SNR, gain.

Vectorised over a batch of int16 clips and a pure function of the generator it is given, so a
draw is reproducible from (seed, epoch). Noise comes from the training part of the background
recordings only.
"""
from __future__ import annotations

import numpy as np


def augment(clips: np.ndarray, noise: list[np.ndarray], cfg, sample_rate: int,
            rng: np.random.Generator) -> np.ndarray:
    """Return augmented int16 clips [N, S] for int16 input [N, S].

    cfg: AugmentConfig (time_shift_ms, noise_prob, snr_db_min/max, gain_db_min/max).
    """
    x = clips.astype(np.float64)
    n, length = x.shape
    max_shift = int(cfg.time_shift_ms * sample_rate / 1000)
    if max_shift:
        x = _shift(x, rng.integers(-max_shift, max_shift + 1, size=n))
    if noise and cfg.noise_prob > 0:
        with_noise = rng.random(n) < cfg.noise_prob
        snr_db = rng.uniform(cfg.snr_db_min, cfg.snr_db_max, size=n)
        segments = _noise_segments(noise, n, length, rng)
        signal_power = np.maximum(np.mean(x**2, axis=1), 1.0)
        noise_power = np.maximum(np.mean(segments**2, axis=1), 1e-9)
        scale = np.sqrt(signal_power / noise_power / 10 ** (snr_db / 10)) * with_noise
        x += segments * scale[:, None]
    x *= 10 ** (rng.uniform(cfg.gain_db_min, cfg.gain_db_max, size=n) / 20)[:, None]
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _shift(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift each row right by shifts[i] samples (left when negative), filling with zeros."""
    length = x.shape[1]
    src = np.arange(length)[None, :] - shifts[:, None]
    valid = (src >= 0) & (src < length)
    return np.where(valid, np.take_along_axis(x, np.clip(src, 0, length - 1), axis=1), 0.0)


def _noise_segments(noise: list[np.ndarray], n: int, length: int,
                    rng: np.random.Generator) -> np.ndarray:
    usable = [rec for rec in noise if len(rec) >= length]
    if not usable:
        return np.zeros((n, length))
    which = rng.integers(0, len(usable), size=n)
    out = np.empty((n, length))
    for i, k in enumerate(which):
        start = rng.integers(0, len(usable[k]) - length + 1)
        out[i] = usable[k][start:start + length]
    return out
