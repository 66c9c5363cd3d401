"""Training-clip augmentation: time shift, reverberation, interfering speech, background noise at
a random SNR, level, gain.

Vectorised over a batch of int16 clips and a pure function of the generator it is given, so a
draw is reproducible from (seed, epoch). The material comes from the training side of every held-
out rule only: noise from the training part of the background recordings, impulse responses from
the training rooms, interfering speech from the training negatives (real recordings of other
words; keyword-free TTS sentences of training voices) — see kws.audio.rooms, kws.audio.negatives.

The steps added after the first three (reverberation, interfering speech, level) draw from their
own generators spawned from the one given, so with their probabilities at 0 the output is
byte-identical to what time shift, noise and gain alone gave, and switching one on changes no
other step's draws.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import fftconvolve

from kws.artifacts import AudioPool, RunDir
from kws.errors import KwsError

_CHUNK = 256                # clips per FFT convolution (bounds the memory of one batch)
_FRAME_MS = 10
_ACTIVE_BELOW_PEAK_DB = 30.0


@dataclass(frozen=True)
class Material:
    """Training material for the steps that need recordings (all optional)."""
    rirs: AudioPool = field(default_factory=lambda: AudioPool.empty(np.float32))
    negatives: AudioPool = field(default_factory=AudioPool.empty)   # real recordings
    speech: AudioPool = field(default_factory=AudioPool.empty)      # TTS sentences


def check_settings(cfg) -> None:
    """data.augment: probabilities in [0, 1], ranges ordered, sources known."""
    for key in ("noise_prob", "reverb_prob", "negatives_prob", "level_prob"):
        if not 0 <= cfg[key] <= 1:
            raise KwsError(f"data.augment.{key}={cfg[key]} must be in [0, 1]")
    for lo, hi in (("snr_db_min", "snr_db_max"), ("negatives_snr_db_min", "negatives_snr_db_max"),
                   ("level_db_min", "level_db_max"), ("gain_db_min", "gain_db_max")):
        if cfg[lo] > cfg[hi]:
            raise KwsError(f"data.augment.{lo}={cfg[lo]} is above data.augment.{hi}={cfg[hi]}")
    if cfg.level_db_max > 0 or cfg.level_ramp_db < 0:
        raise KwsError("data.augment.level_db_max must be <= 0 dBFS and level_ramp_db >= 0")
    for key in ("rir_sources", "negatives_sources"):
        unknown = [x for x in cfg[key] if x not in ("real", "synthetic")]
        if unknown:
            raise KwsError(f"data.augment.{key}: unknown source(s) {unknown}; known: real, "
                           "synthetic")


def training_material(run: RunDir) -> Material:
    """The training pools the data stage wrote into the run directory."""
    return Material(run.pool("rirs", "train"), run.pool("negatives", "train"),
                    run.pool("speech", "train"))


def augment(clips: np.ndarray, noise: list[np.ndarray], cfg, sample_rate: int,
            rng: np.random.Generator, material: Material | None = None) -> np.ndarray:
    """Return augmented int16 clips [N, S] for int16 input [N, S].

    cfg: AugmentConfig (time_shift_ms, reverb_prob, rir_sources, negatives_prob,
    negatives_sources, negatives_snr_db_min/max, noise_prob, snr_db_min/max, level_prob,
    level_db_min/max, level_ramp_db, gain_db_min/max).
    """
    material = material or Material()
    rng_reverb, rng_speech, rng_level = rng.spawn(3)
    x = clips.astype(np.float64)
    n, length = x.shape
    max_shift = int(cfg.time_shift_ms * sample_rate / 1000)
    if max_shift:
        x = _shift(x, rng.integers(-max_shift, max_shift + 1, size=n))
    rirs = [material.rirs[i] for i in range(len(material.rirs))
            if material.rirs.group[i] in cfg.rir_sources]
    if rirs and cfg.reverb_prob > 0:
        x = _reverberate(x, rirs, cfg.reverb_prob, rng_reverb)
    talkers = (material.negatives.items() if "real" in cfg.negatives_sources else []) + \
        (material.speech.items() if "synthetic" in cfg.negatives_sources else [])
    if talkers and cfg.negatives_prob > 0:
        x = _interfere(x, talkers, cfg, rng_speech)
    if noise and cfg.noise_prob > 0:
        with_noise = rng.random(n) < cfg.noise_prob
        snr_db = rng.uniform(cfg.snr_db_min, cfg.snr_db_max, size=n)
        segments = _noise_segments(noise, n, length, rng)
        signal_power = np.maximum(np.mean(x**2, axis=1), 1.0)
        noise_power = np.maximum(np.mean(segments**2, axis=1), 1e-9)
        scale = np.sqrt(signal_power / noise_power / 10 ** (snr_db / 10)) * with_noise
        x += segments * scale[:, None]
    if cfg.level_prob > 0:
        x = _level(x, cfg, sample_rate, rng_level)
    x *= 10 ** (rng.uniform(cfg.gain_db_min, cfg.gain_db_max, size=n) / 20)[:, None]
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _shift(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift each row right by shifts[i] samples (left when negative), filling with zeros."""
    length = x.shape[1]
    src = np.arange(length)[None, :] - shifts[:, None]
    valid = (src >= 0) & (src < length)
    return np.where(valid, np.take_along_axis(x, np.clip(src, 0, length - 1), axis=1), 0.0)


def _reverberate(x: np.ndarray, rirs: list[np.ndarray], prob: float,
                 rng: np.random.Generator) -> np.ndarray:
    """(In place, like the other steps.) Convolve the chosen clips with a random training room each, keeping each clip's RMS.
    Only the first clip-length taps can reach a sample inside the clip, so longer responses
    are cut there."""
    n, length = x.shape
    chosen = np.flatnonzero(rng.random(n) < prob)
    rooms = rng.integers(0, len(rirs), size=len(chosen))
    for lo in range(0, len(chosen), _CHUNK):
        rows, picks = chosen[lo:lo + _CHUNK], rooms[lo:lo + _CHUNK]
        h = np.zeros((len(rows), length), dtype=np.float32)
        for i, k in enumerate(picks):
            ir = rirs[k][:length]
            h[i, :len(ir)] = ir
        # single precision: half the time of double, errors far below one int16 step
        wet = fftconvolve(x[rows].astype(np.float32), h, axes=1)[:, :length].astype(np.float64)
        dry_power, wet_power = np.mean(x[rows] ** 2, axis=1), np.mean(wet ** 2, axis=1)
        x[rows] = wet * np.sqrt(dry_power / np.maximum(wet_power, 1e-12))[:, None]
    return x


def _interfere(x: np.ndarray, talkers: list[np.ndarray], cfg,
               rng: np.random.Generator) -> np.ndarray:
    """Add a random interfering recording to the chosen clips, at an SNR (clip power over the
    interferer's power within the clip) drawn per clip. A recording longer than the clip gives
    a random clip-length window; a shorter one lands at a random offset."""
    n, length = x.shape
    chosen = np.flatnonzero(rng.random(n) < cfg.negatives_prob)
    which = rng.integers(0, len(talkers), size=len(chosen))
    snr_db = rng.uniform(cfg.negatives_snr_db_min, cfg.negatives_snr_db_max, size=len(chosen))
    starts = rng.random(len(chosen))
    for row, k, snr, u in zip(chosen, which, snr_db, starts):
        rec = talkers[k].astype(np.float64)
        seg = np.zeros(length)
        if len(rec) >= length:
            at = int(u * (len(rec) - length + 1))
            seg[:] = rec[at:at + length]
        else:
            at = int(u * (length - len(rec) + 1))
            seg[at:at + len(rec)] = rec
        power = max(float(np.mean(x[row] ** 2)), 1.0)
        seg_power = max(float(np.mean(seg ** 2)), 1e-9)
        x[row] += seg * np.sqrt(power / seg_power / 10 ** (snr / 10))
    return x


def _level(x: np.ndarray, cfg, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Set the chosen clips' active level (the RMS of their 10 ms frames within 30 dB of the
    loudest) to a level drawn in [level_db_min, level_db_max] dBFS, with a linear-in-dB ramp
    from -r to +r dB across the clip, r drawn in [-level_ramp_db, level_ramp_db]."""
    n, length = x.shape
    chosen = np.flatnonzero(rng.random(n) < cfg.level_prob)
    target_db = rng.uniform(cfg.level_db_min, cfg.level_db_max, size=len(chosen))
    ramp_db = rng.uniform(-cfg.level_ramp_db, cfg.level_ramp_db, size=len(chosen))
    if not len(chosen):
        return x
    hop = sample_rate * _FRAME_MS // 1000
    sub = x[chosen]
    frames = sub[:, :length // hop * hop].reshape(len(chosen), -1, hop)
    power = np.einsum("nfh,nfh->nf", frames, frames) / hop
    active = power >= power.max(axis=1, keepdims=True) * 10 ** (-_ACTIVE_BELOW_PEAK_DB / 10)
    level = np.sqrt(np.sum(power * active, axis=1) / np.maximum(active.sum(axis=1), 1))
    gain_db = target_db - 20 * np.log10(np.maximum(level, 1e-3) / 32768.0)
    # the ramp as a product of per-clip constants and one shared curve: exp(a + b t)
    t = np.linspace(-1.0, 1.0, length)
    k = np.log(10) / 20
    sub *= np.exp(k * gain_db)[:, None]
    sub *= np.exp(np.outer(k * ramp_db, t).astype(np.float32))
    x[chosen] = sub
    return x


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
