"""Synthetic speech in the Speech Commands layout, made offline with eSpeak NG.

Speakers are eSpeak voices: an English accent plus a voice variant (`en-gb-scotland+f2`), written
as the speaker id `engbscotland-f2` so the ordinary speaker-hash split keeps each voice in one
split. Every utterance draws its own speaking rate and pitch; each clip places the word at a random
offset, at a random level, over faint pink room noise. `_background_noise_` holds white, pink and
brown noise and a babble of many synthetic sentences.

The set is a pure function of its settings and the seed: it is generated once into
`<cache_dir>/synthetic/<fingerprint>/` and reused. eSpeak NG keeps hidden state from one
utterance to the next that not even re-initialising clears, so generation runs in a freshly
spawned process: that is what makes the bytes identical run to run.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import multiprocessing as mp
from pathlib import Path

import numpy as np
import soundfile as sf
from omegaconf import OmegaConf
from scipy.signal import resample_poly

from kws.audio import espeak
from kws.io import atomic_dir
from kws.audio.speech_commands import BACKGROUND, UNKNOWN

log = logging.getLogger(__name__)
GENERATOR_VERSION = 1
_COMPLETE = ".complete"


def fingerprint(data_cfg, seed: int) -> str:
    spec = {"version": GENERATOR_VERSION, "seed": seed, "keywords": list(data_cfg.keywords),
            "sample_rate": data_cfg.sample_rate, "clip_ms": data_cfg.clip_ms,
            "synthetic": OmegaConf.to_container(data_cfg.synthetic, resolve=True)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def ensure_dataset(data_cfg, seed: int, cache_dir: Path) -> Path:
    """Return the folder of the synthetic set for these settings, generating it if needed."""
    root = cache_dir / "synthetic" / fingerprint(data_cfg, seed)
    if (root / _COMPLETE).exists():
        log.info("synthetic data: reusing %s", root)
        return root
    log.info("synthetic data: generating into %s", root)
    settings = OmegaConf.to_container(data_cfg, resolve=True)
    with atomic_dir(root) as tmp, \
            concurrent.futures.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        pool.submit(_generate, settings, seed, tmp).result()
        (tmp / _COMPLETE).write_text("")
    return root


def speaker_id(voice: str) -> str:
    accent, variant = voice.split("+")
    return f"{accent.replace('-', '').lower()}-{variant.lower()}"


def _generate(settings: dict, seed: int, out: Path) -> None:
    data_cfg = OmegaConf.create(settings)
    syn = data_cfg.synthetic
    rate, n_samples = data_cfg.sample_rate, data_cfg.sample_rate * data_cfg.clip_ms // 1000
    rng = np.random.default_rng(seed)
    tts = espeak.engine()
    unknown_words = [w for w in syn.unknown_words if w not in data_cfg.keywords]
    voices = [f"{a}+{v}" for a in syn.accents for v in syn.variants]

    def say(word: str, voice: str) -> np.ndarray:
        pcm = tts.synthesize(word, voice, int(rng.integers(syn.rate_wpm_min, syn.rate_wpm_max + 1)),
                             int(rng.integers(syn.pitch_min, syn.pitch_max + 1)))
        return _trim(_resample(pcm, tts.sample_rate, rate))

    for voice in voices:
        speaker = speaker_id(voice)
        for word in data_cfg.keywords:
            for take in range(syn.takes_per_keyword):
                clip = _place(say(word, voice), n_samples, rate, rng)
                _write(out / word / f"{speaker}_nohash_{take}.wav", clip, rate)
        for take, word in enumerate(rng.choice(unknown_words, syn.unknown_per_speaker,
                                               replace=False) if unknown_words else []):
            clip = _place(say(str(word), voice), n_samples, rate, rng)
            _write(out / UNKNOWN / f"{word}_{speaker}_nohash_{take}.wav", clip, rate)

    n_noise = int(syn.noise_seconds * rate)
    for name, alpha in (("white_noise", 0.0), ("pink_noise", 1.0), ("brown_noise", 2.0)):
        _write(out / BACKGROUND / f"{name}.wav", _to_pcm(_coloured(n_noise, alpha, rng), -20), rate)
    babble = _babble(n_noise, voices, unknown_words + list(data_cfg.keywords),
                     syn.babble_voices, say, rng, gap=rate // 5)
    _write(out / BACKGROUND / "babble.wav", babble, rate)


def _resample(pcm: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    g = np.gcd(from_rate, to_rate)
    return resample_poly(pcm.astype(np.float64) / 32768.0, to_rate // g, from_rate // g)


def _trim(x: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > threshold * np.abs(x).max()) if len(x) else []
    return x[loud[0]:loud[-1] + 1] if len(loud) else x


def _fade(x: np.ndarray, n_fade: int) -> np.ndarray:
    """Raised-cosine fade in and out, so cut word edges do not click."""
    n_fade = min(n_fade, len(x) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_fade) / max(n_fade, 1))
    x = x.copy()
    x[:n_fade] *= ramp
    x[len(x) - n_fade:] *= ramp[::-1]
    return x


def _coloured(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ∝ 1/f^alpha (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    x = np.fft.irfft(spectrum / f ** (alpha / 2), n)
    return x / np.sqrt(np.mean(x**2))


def _to_pcm(x: np.ndarray, rms_dbfs: float) -> np.ndarray:
    scaled = x / max(np.sqrt(np.mean(x**2)), 1e-12) * 10 ** (rms_dbfs / 20)
    return np.clip(np.round(scaled * 32768), -32768, 32767).astype(np.int16)


def _place(word: np.ndarray, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """The word at a random offset and peak level (-20..-1 dBFS) over faint room noise."""
    word = _fade(word[:n], rate // 200)
    start = int(rng.integers(0, n - len(word) + 1))
    clip = np.zeros(n)
    clip[start:start + len(word)] = word / max(np.abs(word).max(), 1e-9)
    clip *= 10 ** (rng.uniform(-20, -1) / 20)
    clip += _coloured(n, 1.0, rng) * 10 ** (rng.uniform(-70, -50) / 20)
    return np.clip(np.round(clip * 32767), -32768, 32767).astype(np.int16)


def _babble(n: int, voices: list[str], words: list[str], talkers: int, say,
            rng: np.random.Generator, gap: int) -> np.ndarray:
    """Several voices reading random word sequences at once, each normalised, mixed."""
    mix = np.zeros(n)
    for _ in range(talkers):
        voice = str(rng.choice(voices))
        track = np.zeros(0)
        while len(track) < n:
            sentence = " ".join(rng.choice(words, 8))
            track = np.concatenate([track, say(sentence, voice), np.zeros(gap)])
        mix += track[:n] / max(np.sqrt(np.mean(track[:n] ** 2)), 1e-9)
    return _to_pcm(mix, -20)


def _write(path: Path, pcm: np.ndarray, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, pcm, rate, subtype="PCM_16")
