"""Negative material: real recordings of other words, and keyword-free synthetic speech.

Real negatives: <paths.shared_data>/<data.negatives.dir>/<source>/<phrase>/*.flac (Picovoice's
alexa/computer/jarvis, Mycroft's wake words and single words). Held out by phrase folder: the
folders in data.negatives.validation and data.negatives.test (default mycroft/amelia and
picovoice/jarvis, phrases found in no other folder) form the validation and test pools; every
other folder is training material. A folder whose phrase contains a keyword is left out, and so
is a not-wake-words recording whose word (metadata.csv) does. Each recording is trimmed of
silence and cut to max_seconds.

Synthetic negative speech: the synthetic set's keyword-free sentences, split by voice with the
speaker-hash rule of the clips, so a split's speech comes only from that split's voices; every
sentence is spoken by one voice only.

Babble: several talkers from one split's speech pool at once, for that split's background noise.

Negative windows: training `_unknown_` examples cut from the training split's negative material
(real recordings and TTS sentences), so the network learns what a stream's non-keyword speech
looks like in a whole window, not only as single words and as interference under keywords.
"""
from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from kws.artifacts import AudioPool
from kws.audio.clips import fit_length
from kws.audio.speech_commands import SPLITS, hash_split, voice_of
from kws.audio.tts.dsp import resample, trim_silence
from kws.errors import KwsError

log = logging.getLogger(__name__)
AUDIO_SUFFIXES = (".flac", ".wav")
_WORD = re.compile(r"[a-z']+")


def phrase_folders(root: Path) -> list[str]:
    """'<source>/<phrase>' of every folder two levels down that holds audio, sorted."""
    return sorted(f"{src.name}/{ph.name}" for src in root.iterdir() if src.is_dir()
                  for ph in src.iterdir() if ph.is_dir()
                  and any(p.suffix.lower() in AUDIO_SUFFIXES for p in ph.iterdir()))


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _mentions_keyword(phrase: str, keywords: set[str]) -> bool:
    """'heycomputer' mentions 'computer': folder names run words together."""
    flat = phrase.lower().replace("-", "").replace("_", "")
    return any(k in flat for k in keywords if len(k) > 3) or bool(_words(phrase) & keywords)


def _spoken_words(folder: Path) -> dict[str, str]:
    """stem -> word from a Mycroft metadata.csv (file,word,language,...), if there is one."""
    meta = folder / "metadata.csv"
    if not meta.exists():
        return {}
    with open(meta, newline="", encoding="utf-8") as f:
        return {Path(row[0]).stem: row[1] for row in csv.reader(f) if len(row) >= 2}


def split_folders(folders: list[str], neg_cfg) -> dict[str, str]:
    """folder -> split: the configured held-out folders, the rest train. A held-out folder that
    is not there, or in both held-out lists, is a bad setting."""
    held = {"validation": list(neg_cfg.validation), "test": list(neg_cfg.test)}
    both = set(held["validation"]) & set(held["test"])
    if both:
        raise KwsError(f"data.negatives.validation and data.negatives.test both list {sorted(both)}")
    for split, names in held.items():
        absent = [n for n in names if n not in folders]
        if absent:
            raise KwsError(f"data.negatives.{split}: no folder {absent} of recordings; "
                           f"present: {folders}")
    return {f: next((s for s, names in held.items() if f in names), "train") for f in folders}


def real_negatives(cfg, shared_dir: Path) -> tuple[dict[str, AudioPool], dict]:
    """The real negative recordings of every split, and a report (folders, recordings, seconds
    per split, and what was left out)."""
    data = cfg.data
    root = shared_dir / data.negatives.dir
    if not root.is_dir():
        log.warning("data: no real negative recordings at %s (data.negatives.dir under "
                    "paths.shared_data); interfering speech is synthetic only", root)
        return {s: AudioPool.empty() for s in SPLITS}, {"dir": None}
    keywords = {k.lower() for k in data.keywords}
    folders = phrase_folders(root)
    split_of = split_folders(folders, data.negatives)
    dropped = [f for f in folders if _mentions_keyword(f.split("/")[1], keywords)]
    if dropped:
        log.info("data: negatives %s mention a keyword: not used", dropped)
    items: dict[str, list] = {s: [] for s in SPLITS}
    max_len = int(data.negatives.max_seconds * data.sample_rate)
    skipped = 0
    for folder in folders:
        if folder in dropped:
            continue
        said = _spoken_words(root / folder)
        for path in sorted((root / folder).iterdir()):
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            if said.get(path.stem) is not None and _words(said[path.stem]) & keywords:
                skipped += 1
                continue
            pcm = _read(path, data.sample_rate)
            if pcm is None:
                skipped += 1
                continue
            items[split_of[folder]].append((f"{folder}/{path.name}", folder, said.get(
                path.stem, folder.split("/")[1]), pcm[:max_len]))
    pools = {s: AudioPool.from_items([x for *_, x in it], [n for n, *_ in it],
                                     [g for _, g, *_ in it], [t for _, _, t, _ in it])
             for s, it in items.items()}
    report = {"dir": str(root),
              "folders": {s: sorted({f for f, sp in split_of.items() if sp == s} - set(dropped))
                          for s in SPLITS},
              "recordings": {s: len(p) for s, p in pools.items()},
              "seconds": {s: round(p.seconds(data.sample_rate), 1) for s, p in pools.items()},
              "left_out_folders": dropped, "left_out_recordings": skipped}
    return pools, report


def _read(path: Path, sample_rate: int) -> np.ndarray | None:
    """int16 mono at sample_rate, silence trimmed; None (logged) when unreadable or silent."""
    try:
        x, rate = sf.read(path, dtype="float64", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as exc:
        log.warning("data: skipped negative %s: %s", path, exc)
        return None
    x = x.mean(axis=1) * 32768.0
    if rate != sample_rate:
        x = resample(x, rate, sample_rate)
    x = trim_silence(x, sample_rate)
    if len(x) < sample_rate // 10:
        return None
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def speech_pools(speech: AudioPool | None, validation_percent: float, testing_percent: float,
                 salt: str) -> dict[str, AudioPool]:
    """The synthetic negative speech of every split, split by voice like the clips."""
    if speech is None:
        return {s: AudioPool.empty() for s in SPLITS}
    split = np.array([hash_split(voice_of(str(n)), validation_percent, testing_percent, salt)
                      for n in speech.name])
    return {s: speech.select(split == s) for s in SPLITS}


def babble(pool: AudioPool, n_samples: int, talkers: int, rng: np.random.Generator,
           gap: int) -> np.ndarray | None:
    """`talkers` voices reading the pool's sentences at once (each talker one voice, its
    sentences back to back with short gaps), each normalised, mixed, at -20 dBFS RMS."""
    voices = sorted(set(pool.group))
    if not voices or talkers <= 0 or n_samples <= 0:
        return None
    mix = np.zeros(n_samples)
    for voice in rng.choice(voices, size=talkers, replace=len(voices) < talkers):
        mine = np.flatnonzero(pool.group == voice)
        track: list[np.ndarray] = []
        length = 0
        while length < n_samples:
            x = pool[int(rng.choice(mine))].astype(np.float64)
            track += [x, np.zeros(gap)]
            length += len(x) + gap
        start = int(rng.integers(0, len(track[0]) + gap))     # talkers do not start together
        t = np.concatenate(track + [np.zeros(start)])[start:start + n_samples]
        mix += t / max(np.sqrt(np.mean(t ** 2)), 1e-9)
    mix *= 10 ** (-20 / 20) * 32768 / max(np.sqrt(np.mean(mix ** 2)), 1e-9)
    return np.clip(np.round(mix), -32768, 32767).astype(np.int16)


def negative_windows(pools: list[AudioPool], n: int, n_samples: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """n windows of n_samples from the pools' recordings: a recording is drawn uniformly (of
    all the pools' items together), then a window at a uniform offset in it; one shorter than
    the window is centred and zero-padded (kws.audio.clips.fit_length) as a short clip is.
    Returns int16 [n, n_samples] and, per window, (the item's name, the window's start sample)."""
    items = [(pool, i) for pool in pools for i in range(len(pool)) if len(pool[i])]
    if n <= 0 or not items:
        return np.zeros((0, n_samples), np.int16), []
    audio, names = np.zeros((n, n_samples), np.int16), []
    for row, pick in zip(audio, rng.integers(0, len(items), size=n)):
        pool, i = items[pick]
        rec = pool[i]
        start = int(rng.integers(0, len(rec) - n_samples + 1)) if len(rec) > n_samples else 0
        row[:] = fit_length(rec[start:start + n_samples], n_samples)
        names.append((str(pool.name[i]), start))
    return audio, names
