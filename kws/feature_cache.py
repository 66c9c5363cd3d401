"""Golden int8 features of clips, cached on disk by (tables, audio bytes).

Training recomputes the features of every augmentation draw; a draw that repeats (the student
sees the teacher's epochs) is read back instead of recomputed. The key covers the data set and
any augmentation draw (both are in the audio) and every feature setting (all are in the tables),
so a hit is always the right answer.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from kws.golden.mfcc import mfcc_clips
from kws.golden.mfcc_tables import MfccTables
from kws.io import atomic_path

_TABLE_ARRAYS = ("window", "fft_twiddle", "split_twiddle", "bitrev", "mel_first_bin",
                 "mel_n_bins", "mel_weights", "log2_lut", "dct")


def tables_fingerprint(t: MfccTables) -> str:
    digest = hashlib.sha256(repr(t).encode())
    for name in _TABLE_ARRAYS:
        value = getattr(t, name)
        digest.update(b"none" if value is None else np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def cached_features(clips: np.ndarray, t: MfccTables, cache_dir: Path | None) -> np.ndarray:
    """Golden int8 features of clips, cached on disk by (tables, audio bytes).

    The key covers the data set and any augmentation draw (both are in the audio) and every
    feature setting (all are in the tables), so a hit is always the right answer.
    """
    clips = np.ascontiguousarray(clips, dtype=np.int16)
    if cache_dir is None:
        return mfcc_clips(clips, t)
    key = hashlib.sha256(tables_fingerprint(t).encode() + clips.tobytes()).hexdigest()[:32]
    path = Path(cache_dir).expanduser() / "features" / f"{key}.npy"
    if path.exists():
        return np.load(path)
    features = mfcc_clips(clips, t)
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, features)
    return features


def worker_count(setting: int, ranks: int = 1) -> int:
    """The run's `workers` setting: 0 = this machine's cores, shared among the DDP ranks."""
    return setting if setting > 0 else max(1, (os.cpu_count() or 1) // max(1, ranks))
