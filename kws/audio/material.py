"""The data stage's material pools: what augmentation, babble and (later) negative streams draw
from, each split disjoint from the others.

    speech_{split}     keyword-free TTS sentences of the split's voices (synthetic source only)
    negatives_{split}  real recordings of other words, held out by phrase folder
    rirs_{split}       room impulse responses: real rooms held out by name, synthetic rooms drawn
                       per split

A missing ../shared (or part of it) is one logged line and an empty or synthetic-only pool.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kws.artifacts import AudioPool
from kws.audio import augment, negatives, rooms, synthetic
from kws.audio.sentences import SHARED_TEXT
from kws.audio.speech_commands import SPLITS, listing_fingerprint, voice_of
from kws.audio.voices import seed_words
from kws.config import shared_data_dir


@dataclass
class Pools:
    speech: dict[str, AudioPool]
    negatives: dict[str, AudioPool]
    rirs: dict[str, AudioPool]
    report: dict

    def by_kind(self) -> dict[str, dict[str, AudioPool]]:
        return {"speech": self.speech, "negatives": self.negatives, "rirs": self.rirs}


def input_fingerprint(cfg) -> str:
    """What the pools read outside the run directory: the listings of ../shared's negatives and
    rooms (when they are used) and of its sentence file."""
    shared = shared_data_dir(cfg)
    parts = [str(shared)]
    if "real" in cfg.data.augment.negatives_sources:
        parts.append(listing_fingerprint(shared / cfg.data.negatives.dir))
    if "real" in cfg.data.augment.rir_sources:
        parts.append(listing_fingerprint(shared / cfg.data.rooms.real_dir))
    text = shared / SHARED_TEXT
    parts.append(f"{text.stat().st_size}|{text.stat().st_mtime_ns}" if text.is_file() else "")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def prepare(cfg, root: Path, cache_dir: Path | None) -> Pools:
    data = cfg.data
    augment.check_settings(data.augment)
    shared = shared_data_dir(cfg)
    speech = negatives.speech_pools(synthetic.speech_pool(root), data.validation_percent,
                                    data.testing_percent, data.split_salt)
    if "real" in data.augment.negatives_sources:
        real, neg_report = negatives.real_negatives(cfg, shared)
    else:
        real, neg_report = {s: AudioPool.empty() for s in SPLITS}, {"dir": None}
    rirs, rir_report = rooms.rir_pools(cfg, shared, cache_dir)
    report = {
        "shared_data": str(shared) if shared.is_dir() else None,
        "speech": {s: {"utterances": len(p), "voices": len(set(p.group)),
                       "seconds": round(p.seconds(data.sample_rate), 1)}
                   for s, p in speech.items()},
        "negatives": neg_report, "rirs": rir_report}
    return Pools(speech, real, rirs, report)


def babble_noise(pools: Pools, data, split: str, n_samples: int) -> dict[str, np.ndarray]:
    """{"babble": int16} for the split's background noise, from the split's own voices; {} when
    it has no synthetic speech."""
    rng = np.random.default_rng(seed_words(data.seed, "babble", split))
    mix = negatives.babble(pools.speech[split], n_samples, data.synthetic.babble_voices, rng,
                           gap=data.sample_rate // 5)
    return {} if mix is None else {"babble": mix}


def voices_report(speakers: dict[str, list[str]]) -> dict:
    """From each split's clip speakers: voices per split, voices in two splits (always 0), and
    per engine the voices, speakers and clips of each split (a synthetic voice id starts with
    its engine, `flite-slt`; recorded speakers count under `recorded`)."""
    engines: dict[str, dict] = {}
    for split, names in speakers.items():
        for speaker in names:
            voice = voice_of(speaker)
            engine = voice.split("-")[0] if voice != speaker else "recorded"
            d = engines.setdefault(engine, {k: {s: set() for s in SPLITS}
                                            for k in ("voices", "speakers")}
                                   | {"clips": {s: 0 for s in SPLITS}})
            d["voices"][split].add(voice)
            d["speakers"][split].add(speaker)
            d["clips"][split] += 1
    voices = {s: {voice_of(x) for x in speakers.get(s, [])} for s in SPLITS}
    overlap = {v for s in SPLITS for t in SPLITS if s < t for v in voices[s] & voices[t]}
    return {"voices": {s: len(voices[s]) for s in SPLITS}, "voice_overlap": len(overlap),
            "engines": {e: {k: {s: len(x) if isinstance(x, set) else x for s, x in d[k].items()}
                            for k in d} for e, d in sorted(engines.items())}}


def tts_report(root: Path) -> dict:
    """What a synthetic set says about its voices: licences, what they could not say, and the
    engines and voices that were not installed ({} for recorded data)."""
    info = synthetic.read_voices(root)
    if not info:
        return {}
    keep = ("engine", "component", "licence", "commercial_ok", "speakers", "clips", "sentences")
    return {"missing": info["missing"], "sentence_source": info["sentence_source"],
            "voices": {vid: {k: v[k] for k in keep} | {"failed": len(v["failed"])}
                       for vid, v in info["voices"].items()}}
