"""The training features of one epoch: a fresh augmentation draw of the training audio and its
golden int8 features, computed chunk by chunk, over processes.

The training clips are cut into chunks of CHUNK_CLIPS; chunk k of epoch e is augmented with its
own generator, numpy's default_rng([seed, e, 1, k]), then run through the golden front end. A
chunk's integers therefore depend on (seed, epoch, chunk) alone, never on how many processes
(`workers`) or DDP ranks share the work, so every split of it gives the serial path's array.

Each chunk is cached on disk (`<cache_dir>/epoch_features/<key>.npy`) under a key covering all it
depends on: the training audio, background noise and material pools, the augmentation settings,
the feature tables, the seed, epoch and chunk, and the source of the code that computes it
(augment.py, golden/mfcc.py, this file). A hit skips the augmentation as well as the features: the
student re-reads the draws the teacher's epochs made.

numpy only (no torch): the workers are plain spawned processes that load what they need from the
run directory once, in their initializer.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import numpy as np

import kws.audio.augment as augment_module
import kws.golden.mfcc as mfcc_module
from kws.artifacts import RunDir
from kws.audio.augment import Material, augment, training_material
from kws.feature_cache import tables_fingerprint
from kws.golden.mfcc import mfcc_clips
from kws.golden.mfcc_tables import MfccTables
from kws.io import atomic_path

CHUNK_CLIPS = 256           # clips per chunk: the unit of parallel work and of the cache

# (chunk indices this process computes, then every process's chunk arrays in rank order): how
# DDP ranks share an epoch (kws.training.distributed.share_chunks); None = this process does all.
ChunkSharing = Callable[[int], tuple[list[int], Callable[[dict], dict]]]


@dataclass
class TrainingAudio:
    """What an epoch draw reads: the training clips, noise and material, the feature tables."""
    audio: np.ndarray
    noise: list[np.ndarray]
    material: Material
    tables: MfccTables

    @classmethod
    def from_run(cls, run_dir: Path) -> "TrainingAudio":
        run = RunDir(run_dir)
        return cls(run.split("train")["audio"], run.noise("train"), training_material(run),
                   run.mfcc_tables())

    def digest(self, augment_settings: dict | None) -> str:
        """sha256 of everything a chunk depends on except (seed, epoch, chunk)."""
        h = hashlib.sha256(tables_fingerprint(self.tables).encode())
        h.update(json.dumps(augment_settings, sort_keys=True).encode())
        h.update(np.ascontiguousarray(self.audio, dtype=np.int16).tobytes())
        for array in self.noise:
            h.update(np.ascontiguousarray(array).tobytes())
        for pool in (self.material.rirs, self.material.negatives, self.material.speech):
            for array in (pool.audio, pool.offsets, pool.group):
                h.update(np.ascontiguousarray(array).tobytes())
        for module in (augment_module, mfcc_module):
            h.update(Path(module.__file__).read_bytes())
        h.update(Path(__file__).read_bytes())
        return h.hexdigest()

    def chunk(self, augment_settings: dict | None, seed: int, epoch: int, k: int,
              size: int = CHUNK_CLIPS) -> np.ndarray:
        """int8 features [n, frames, coeffs] of chunk k (clips k*size ...) of the epoch's draw."""
        clips = self.audio[k * size:(k + 1) * size]
        if augment_settings is not None:
            rng = np.random.default_rng([seed, epoch, 1, k])
            clips = augment(clips, self.noise, _Settings(augment_settings),
                            self.tables.sample_rate, rng, self.material)
        return mfcc_clips(clips, self.tables)


class _Settings(dict):
    """data.augment as a plain dict that augment() reads by attribute (picklable, hashable JSON)."""
    __getattr__ = dict.__getitem__


class EpochFeatures:
    """features(epoch) → int8 [N, frames, coeffs], the same for any `workers` and any sharing.

    Use as a context manager: the worker processes (spawned when workers > 1 and there is more
    than one chunk) live until exit, so each loads the run directory once per training.
    augment_settings: the data.augment settings as a dict, or None for the clean clips (then
    every epoch has the same features and `epoch` is ignored)."""

    def __init__(self, run_dir: Path, source: TrainingAudio, augment_settings: dict | None,
                 seed: int, workers: int, cache_dir: Path | None,
                 sharing: ChunkSharing | None = None, chunk_clips: int = CHUNK_CLIPS):
        self.run_dir, self.source, self.settings = Path(run_dir), source, augment_settings
        self.chunk_clips = chunk_clips
        self.seed, self.workers, self.sharing = seed, max(1, workers), sharing
        self.cache_dir = Path(cache_dir).expanduser() / "epoch_features" if cache_dir else None
        self.n_chunks = -(-len(source.audio) // chunk_clips)
        self.digest = source.digest(augment_settings)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "EpochFeatures":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __call__(self, epoch: int) -> np.ndarray:
        epoch = epoch if self.settings is not None else 0
        mine, gather = (self.sharing(self.n_chunks) if self.sharing
                        else (list(range(self.n_chunks)), None))
        chunks = self._compute(epoch, mine)
        if gather is not None:
            chunks = gather(chunks)
        return np.concatenate([chunks[k] for k in range(self.n_chunks)])

    def _compute(self, epoch: int, ks: list[int]) -> dict[int, np.ndarray]:
        done = {k: self._cached(epoch, k) for k in ks}
        todo = [k for k, value in done.items() if value is None]
        if len(todo) > 1 and self.workers > 1:
            pool = self._workers()
            futures = {k: pool.submit(_worker_chunk, self.settings, self.seed, epoch, k,
                                      self.chunk_clips)
                       for k in todo}
            results = {k: f.result() for k, f in futures.items()}
        else:
            results = {k: self.source.chunk(self.settings, self.seed, epoch, k, self.chunk_clips)
                       for k in todo}
        for k, value in results.items():
            self._store(epoch, k, value)
        return {**done, **results}

    def _path(self, epoch: int, k: int) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(f"{self.digest}:{self.seed}:{epoch}:{k}:{self.chunk_clips}".encode())
        return self.cache_dir / f"{key.hexdigest()[:32]}.npy"

    def _cached(self, epoch: int, k: int) -> np.ndarray | None:
        path = self._path(epoch, k)
        if path is None or not path.exists():
            return None
        try:
            return np.load(path)
        except (OSError, ValueError):            # a damaged cache file: recompute it
            return None

    def _store(self, epoch: int, k: int, value: np.ndarray) -> None:
        path = self._path(epoch, k)
        if path is not None:
            with atomic_path(path, suffix=".npy") as tmp:
                np.save(tmp, value)

    def _workers(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                             initializer=_init_worker, initargs=(self.run_dir,))
        return self._pool


_SOURCE: TrainingAudio | None = None          # a worker's training audio, loaded once


def _init_worker(run_dir: Path) -> None:
    global _SOURCE
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _SOURCE = TrainingAudio.from_run(run_dir)


def _worker_chunk(settings: dict | None, seed: int, epoch: int, k: int,
                  size: int) -> np.ndarray:
    return _SOURCE.chunk(settings, seed, epoch, k, size)
