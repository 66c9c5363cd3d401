"""Room impulse responses for reverberation: real rooms from ../shared and synthetic shoebox rooms.

Real: every audio file under <paths.shared_data>/<data.rooms.real_dir> (Voxengo's 27 rooms).
Held out by name: the rooms are ranked by sha1(data.split_salt + name); the first
`rooms.validation_percent` % (at least one) are validation rooms, the next `testing_percent` %
(at least one) test rooms, the rest training rooms.

Synthetic: shoebox rooms simulated with pyroomacoustics' image-source method: size uniform in
[size_min, size_max] metres, RT60 uniform in [rt60_min, rt60_max] s (wall absorption and
reflection order from Sabine's formula, the order capped at max_order), talker and microphone at
random positions at least min_distance from each other and from the walls. Each split draws its
own rooms from its own seed, so no synthetic room is in two splits; they are made once and cached
in <cache_dir>/rooms/<fingerprint>.npz.

Every response is cut to start 2.5 ms before its direct path (so reverberation does not move the
word in time) and scaled to unit energy (level is the level step's business).
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import soundfile as sf
from omegaconf import OmegaConf

from kws.artifacts import AudioPool
from kws.audio.speech_commands import SPLITS
from kws.audio.tts.dsp import resample
from kws.audio.voices import seed_words
from kws.errors import KwsError
from kws.io import atomic_path

log = logging.getLogger(__name__)
ROOMS_VERSION = 1
PRE_DELAY_MS = 2.5
AUDIO_SUFFIXES = (".flac", ".wav")


def held_out_split(names: list[str], validation_percent: float, testing_percent: float,
                   salt: str) -> dict[str, str]:
    """name -> split: ranked by a salted hash, validation first, then test (each at least one
    when there are three or more names)."""
    ranked = sorted(names, key=lambda n: hashlib.sha1((salt + n).encode()).hexdigest())
    n_val = max(1, round(len(ranked) * validation_percent / 100)) if len(ranked) >= 3 else 0
    n_test = max(1, round(len(ranked) * testing_percent / 100)) if len(ranked) >= 3 else 0
    return {n: "validation" if i < n_val else "test" if i < n_val + n_test else "train"
            for i, n in enumerate(ranked)}


def align(ir: np.ndarray, sample_rate: int) -> np.ndarray:
    """Start PRE_DELAY_MS before the direct path (the largest peak); unit energy; float32."""
    ir = np.asarray(ir, dtype=np.float64)
    start = max(0, int(np.argmax(np.abs(ir))) - int(sample_rate * PRE_DELAY_MS / 1000))
    ir = ir[start:]
    energy = np.sqrt(np.sum(ir ** 2))
    if energy <= 0:
        raise KwsError("an impulse response is all zeros")
    return (ir / energy).astype(np.float32)


def real_rooms(folder: Path, sample_rate: int) -> list[tuple[str, np.ndarray]]:
    """(name, aligned response) of every audio file in folder, in name order."""
    out = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
        try:
            x, rate = sf.read(path, dtype="float64", always_2d=True)
        except (sf.SoundFileError, RuntimeError) as exc:
            raise KwsError(f"{path}: not a readable impulse response ({exc})") from None
        ir = x.mean(axis=1)
        if rate != sample_rate:
            ir = resample(ir, rate, sample_rate)
        try:
            out.append((path.stem, align(ir, sample_rate)))
        except KwsError as exc:
            raise KwsError(f"{path}: {exc}") from None
    return out


def _check(rooms) -> None:
    lo, hi = np.array(rooms.size_min, float), np.array(rooms.size_max, float)
    if lo.shape != (3,) or hi.shape != (3,) or np.any(lo <= 2 * rooms.min_distance) or \
            np.any(hi < lo):
        raise KwsError(f"data.rooms.size_min={list(lo)} / size_max={list(hi)}: need three "
                       "lengths each, min <= max, and min > 2 * data.rooms.min_distance")
    if not 0.05 <= rooms.rt60_min <= rooms.rt60_max <= 3.0:
        raise KwsError(f"data.rooms.rt60_min={rooms.rt60_min} / rt60_max={rooms.rt60_max}: "
                       "need 0.05 <= min <= max <= 3 s")
    if rooms.synthetic_rooms < 0 or rooms.max_order < 1:
        raise KwsError("data.rooms.synthetic_rooms must be >= 0 and data.rooms.max_order >= 1")


def _room_counts(rooms) -> dict[str, int]:
    n = int(rooms.synthetic_rooms)
    n_val = max(1, round(n * rooms.validation_percent / 100)) if n >= 3 else 0
    n_test = max(1, round(n * rooms.testing_percent / 100)) if n >= 3 else 0
    return {"train": n - n_val - n_test, "validation": n_val, "test": n_test}


def synthetic_rooms(rooms, seed: int, sample_rate: int, cache_dir: Path | None
                    ) -> dict[str, AudioPool]:
    """The synthetic rooms of every split (cached when cache_dir is given)."""
    _check(rooms)
    import pyroomacoustics as pra
    spec = {"version": ROOMS_VERSION, "seed": seed, "rate": sample_rate,
            "pyroomacoustics": pra.__version__,
            "rooms": OmegaConf.to_container(rooms, resolve=True)
            if OmegaConf.is_config(rooms) else dict(rooms)}
    for key in ("real_dir", "validation_percent", "testing_percent"):
        spec["rooms"].pop(key, None)
    spec["counts"] = _room_counts(rooms)
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / "rooms" / f"{key}.npz" if cache_dir is not None else None
    if path is not None and path.exists():
        return _load_cached(path)
    pools = {split: _simulate(pra, rooms, n, seed_words(seed, "rooms", split), sample_rate,
                              split) for split, n in spec["counts"].items()}
    if path is not None:
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **{f"{split}/{k}": v for split, pool in pools.items()
                             for k, v in pool.__dict__.items()})
    return pools


def _load_cached(path: Path) -> dict[str, AudioPool]:
    with np.load(path) as f:
        return {split: AudioPool(*(f[f"{split}/{k}"] for k in
                                   ("audio", "offsets", "name", "group", "text")))
                for split in SPLITS}


def _simulate(pra, rooms, n: int, seed: list[int], sample_rate: int, split: str) -> AudioPool:
    rng = np.random.default_rng(seed)
    lo, hi = np.array(rooms.size_min, float), np.array(rooms.size_max, float)
    irs, names, texts = [], [], []
    for i in range(n):
        dims = rng.uniform(lo, hi)
        rt60 = float(rng.uniform(rooms.rt60_min, rooms.rt60_max))
        absorption, order = pra.inverse_sabine(rt60, dims)
        margin = rooms.min_distance
        while True:       # talker and microphone apart (rejection: rooms are >> 2 margins)
            src, mic = rng.uniform(margin, dims - margin, size=(2, 3))
            if np.linalg.norm(src - mic) >= margin:
                break
        room = pra.ShoeBox(dims, fs=sample_rate, materials=pra.Material(absorption),
                           max_order=int(min(order, rooms.max_order)), air_absorption=False,
                           use_rand_ism=False)
        room.add_source(src)
        room.add_microphone(mic)
        room.compute_rir()
        irs.append(align(room.rir[0][0], sample_rate))
        names.append(f"shoebox-{split}-{i:03d}")
        texts.append(f"{dims[0]:.1f}x{dims[1]:.1f}x{dims[2]:.1f} m, RT60 {rt60:.2f} s, "
                     f"distance {np.linalg.norm(src - mic):.1f} m")
    return AudioPool.from_items(irs, names, ["synthetic"] * n, texts, dtype=np.float32)


def rir_pools(cfg, shared_dir: Path, cache_dir: Path | None) -> tuple[dict[str, AudioPool], dict]:
    """The impulse responses of every split, from the sources data.augment.rir_sources names,
    and a report: rooms per split and source, and what was absent."""
    data = cfg.data
    sources = list(data.augment.rir_sources)
    unknown = [s for s in sources if s not in ("real", "synthetic")]
    if unknown:
        raise KwsError(f"data.augment.rir_sources: unknown source(s) {unknown}; "
                       "known: real, synthetic")
    parts: dict[str, list[AudioPool]] = {split: [] for split in SPLITS}
    report: dict = {"sources": sources}
    if "real" in sources:
        folder = shared_dir / data.rooms.real_dir
        if folder.is_dir():
            rooms = real_rooms(folder, data.sample_rate)
            split_of = held_out_split([n for n, _ in rooms], data.rooms.validation_percent,
                                      data.rooms.testing_percent, data.split_salt)
            for split in SPLITS:
                mine = [(n, ir) for n, ir in rooms if split_of[n] == split]
                parts[split].append(AudioPool.from_items([ir for _, ir in mine],
                                                         [n for n, _ in mine],
                                                         ["real"] * len(mine), dtype=np.float32))
            report["real_dir"] = str(folder)
        else:
            log.warning("data: no real room impulse responses at %s (data.rooms.real_dir under "
                        "paths.shared_data); reverberation uses synthetic rooms only", folder)
            report["real_dir"] = None
    if "synthetic" in sources:
        for split, pool in synthetic_rooms(data.rooms, data.seed, data.sample_rate,
                                           cache_dir).items():
            parts[split].append(pool)
    pools = {split: _concat(p) for split, p in parts.items()}
    report["rooms"] = {split: {src: int(np.sum(pools[split].group == src)) for src in sources}
                       for split in SPLITS}
    return pools, report


def _concat(pools: list[AudioPool]) -> AudioPool:
    items = [x for p in pools for x in p.items()]
    return AudioPool.from_items(items, [n for p in pools for n in p.name],
                                [g for p in pools for g in p.group],
                                [t for p in pools for t in p.text], dtype=np.float32)
