"""Adversarial test signals for the integer front end: the edges of int16 and of the maths."""
from __future__ import annotations

import numpy as np


def adversarial_signals(n_samples: int, sample_rate: int, rng: np.random.Generator,
                        speech: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Named int16 clips [n_samples]: silence, DC extremes, Nyquist square, full-scale noise,
    impulses, chirps, 1-LSB noise and (when `speech` clips are given) speech clipped hard."""
    n = np.arange(n_samples)
    full = np.iinfo(np.int16)
    out: dict[str, np.ndarray] = {
        "silence": np.zeros(n_samples),
        "dc_max": np.full(n_samples, full.max),
        "dc_min": np.full(n_samples, full.min),
        "nyquist_square": np.where(n % 2 == 0, full.max, full.min),
        "white_noise_full_scale": rng.integers(full.min, full.max + 1, n_samples),
        "lsb_noise": rng.integers(-1, 2, n_samples),
        "single_lsb": (n == n_samples // 2).astype(int),
    }
    for name, value in (("impulse_max", full.max), ("impulse_min", full.min)):
        clip = np.zeros(n_samples)
        clip[::997] = value                               # impulses at every frame phase
        out[name] = clip
    t = n / sample_rate
    duration = n_samples / sample_rate
    f0, f1 = 20.0, sample_rate / 2
    phase = 2 * np.pi * f0 * duration / np.log(f1 / f0) * ((f1 / f0) ** (t / duration) - 1)
    out["chirp_full_scale"] = np.round(np.sin(phase) * full.max)
    out["chirp_quiet"] = np.round(np.sin(phase) * 3)
    out["square_1khz_clipped"] = np.where(np.sin(2 * np.pi * 1000 * t) >= 0, full.max, full.min)
    if speech is not None:
        for i, clip in enumerate(speech):
            out[f"speech_clipped_{i}"] = np.clip(clip.astype(np.int64) * 40, full.min, full.max)
    return {k: np.asarray(v).astype(np.int16) for k, v in out.items()}


def speechlike(n: int, seed: int = 0, length: int = 16000) -> np.ndarray:
    """n int16 clips of harmonic bursts with a varying pitch over noise: a stand-in for speech."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(length) / 16000
    clips = []
    for _ in range(n):
        f0 = rng.uniform(90, 250)
        env = np.exp(-((time_s - rng.uniform(0.3, 0.7)) / 0.15) ** 2)
        x = sum(np.sin(2 * np.pi * f0 * h * time_s * (1 + 0.1 * time_s)) / h for h in range(1, 12))
        x = x * env * 10 ** rng.uniform(-3, -0.3) * 32767 / 3 + rng.normal(0, 20, length)
        clips.append(np.clip(np.round(x), -32768, 32767))
    return np.array(clips, dtype=np.int16)
