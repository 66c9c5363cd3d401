"""Long test streams: 1 s clips placed at known times over background noise, from a seed.

A stream is clips drawn from a pool in random order (reshuffled each time it runs out; or every
clip exactly once, the stream as long as that takes), each followed by a gap drawn from `gap_s`
seconds, over background noise cut from the split's own noise recordings and scaled to a fixed
level (`noise_dbfs`, RMS). Each clip is scaled so that its
spoken part (kws.audio.streams.word_span) lies `snr_db` above the noise, the SNR drawn per clip from
the given range; _silence_ clips (no word) are scaled to the noise level. Returns the int16
samples and the ground truth of every clip: label, clip start and end, and where its word starts
and ends (in stream samples).

mix_material_stream builds the negative stream a user can trust from recordings of any length
(test-speaker non-keyword clips, held-out real negatives, TTS sentences of test voices), each
placed once per pass in random order, at its own SNR and, with a probability, in one of the
held-out rooms, so a repeated recording never repeats the same samples; every placed item keeps
its source's name, so false accepts can be traced to what caused them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

SPAN_FRAME_MS = 10
SPAN_BELOW_PEAK_DB = 30.0


@dataclass(frozen=True)
class Placed:
    label: int
    start: int          # first sample of the clip in the stream
    end: int            # one past its last sample
    word_start: int     # first sample of the spoken word
    word_end: int       # one past its last sample
    source: str = ""    # what was placed (mix_material_stream: the recording's name)


def word_span(clip: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """(first, one past last) sample of the 10 ms frames within 30 dB of the clip's loudest."""
    hop = sample_rate * SPAN_FRAME_MS // 1000
    frames = clip[:len(clip) // hop * hop].astype(np.float64).reshape(-1, hop)
    energy_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1.0)
    active = np.flatnonzero(energy_db >= energy_db.max() - SPAN_BELOW_PEAK_DB)
    return int(active[0] * hop), int((active[-1] + 1) * hop)


def mix_stream(clips: np.ndarray, labels: np.ndarray, pool: np.ndarray, noise: list[np.ndarray],
               seconds: float | None, sample_rate: int, rng: np.random.Generator,
               snr_db: tuple[float, float] = (10.0, 10.0), gap_s: tuple[float, float] = (0.5, 2.5),
               silence_label: int | None = None, noise_dbfs: float = -45.0
               ) -> tuple[np.ndarray, list[Placed]]:
    """A stream of `seconds` from clips[pool] over noise; see the module docstring. seconds=None:
    every pool clip exactly once, in random order, and the stream as long as they and their
    gaps need."""
    clip_len = clips.shape[1]
    noise_rms = 32768.0 * 10 ** (noise_dbfs / 20)
    placed: list[Placed] = []
    def add(i: int, pos: int) -> None:
        placed.append(_add_clip(signal, clips[i], int(labels[i]), pos, sample_rate, rng, snr_db,
                                noise_rms, silence_label=silence_label))
    if seconds is None:
        order = rng.permutation(pool)
        gaps = (rng.uniform(*gap_s, size=len(order) + 1) * sample_rate).astype(np.int64)
        signal = _background(noise, len(order) * clip_len + int(gaps.sum()), rng, noise_rms)
        pos = int(gaps[0])
        for i, gap in zip(order, gaps[1:]):
            add(int(i), pos)
            pos += clip_len + int(gap)
        return _to_int16(signal), placed
    total = int(round(seconds * sample_rate))
    signal = _background(noise, total, rng, noise_rms)
    order, k = rng.permutation(pool), 0
    pos = int(rng.uniform(*gap_s) * sample_rate)
    while pos + clip_len <= total and len(pool):
        add(int(order[k]), pos)
        pos += clip_len + int(rng.uniform(*gap_s) * sample_rate)
        k += 1
        if k == len(order):
            order, k = rng.permutation(pool), 0
    return _to_int16(signal), placed


def _add_clip(signal: np.ndarray, clip: np.ndarray, label: int, pos: int, sample_rate: int,
              rng: np.random.Generator, snr_db: tuple[float, float], noise_rms: float,
              silence_label: int | None = None, source: str = "") -> Placed:
    """Add one clip or recording at `pos`, its spoken part at a drawn SNR over the noise
    (_silence_: at the noise level); return where it and its word are."""
    clip = np.asarray(clip, dtype=np.float32)
    first, last = word_span(clip, sample_rate)
    if label == silence_label:
        target_rms = noise_rms
        first = last = 0
    else:
        target_rms = noise_rms * 10 ** (rng.uniform(*snr_db) / 20)
    active_rms = float(np.sqrt(np.mean(clip[first:last] ** 2))) if last > first else \
        float(np.sqrt(np.mean(clip ** 2)))
    signal[pos:pos + len(clip)] += clip * np.float32(target_rms / max(active_rms, 1.0))
    return Placed(label, pos, pos + len(clip), pos + first, pos + last, source)


def _to_int16(signal: np.ndarray) -> np.ndarray:
    return np.clip(np.round(signal), -32768, 32767).astype(np.int16)


def _background(noise: list[np.ndarray], total: int, rng: np.random.Generator,
                rms: float) -> np.ndarray:
    """Random pieces of the noise recordings laid end to end, each scaled to `rms`
    (digital silence when there are no recordings)."""
    usable = [n.astype(np.float32) for n in noise if len(n) > 0 and np.any(n)]
    out = np.zeros(total, dtype=np.float32)
    pos = 0
    while usable and pos < total:
        rec = usable[rng.integers(len(usable))]
        start = int(rng.integers(max(1, len(rec) // 2)))   # pieces of at least half a recording
        piece = rec[start:start + total - pos]
        piece_rms = float(np.sqrt(np.mean(piece ** 2))) or 1.0
        out[pos:pos + len(piece)] = piece * np.float32(rms / piece_rms)
        pos += len(piece)
    return out


def mix_material_stream(items: list[np.ndarray], sources: list[str], label: int,
                        noise: list[np.ndarray], seconds: float, sample_rate: int,
                        rng: np.random.Generator, snr_db: tuple[float, float] = (10.0, 10.0),
                        gap_s: tuple[float, float] = (0.5, 2.5),
                        rooms: list[np.ndarray] = (), reverb_prob: float = 0.0,
                        noise_dbfs: float = -45.0) -> tuple[np.ndarray, list[Placed]]:
    """A stream of `seconds` from recordings of any length (int16), each labelled `label` (a
    non-keyword class); see the module docstring. A reverberated item keeps its RMS and its
    length (the room's tail past its end is cut)."""
    if len(items) != len(sources) or not len(items):
        raise ValueError("mix_material_stream needs one source name per item, and items")
    total = int(round(seconds * sample_rate))
    noise_rms = 32768.0 * 10 ** (noise_dbfs / 20)
    signal = _background(noise, total, rng, noise_rms)
    placed: list[Placed] = []
    order, k = rng.permutation(len(items)), 0
    pos = int(rng.uniform(*gap_s) * sample_rate)
    while True:
        i = int(order[k])
        item = items[i].astype(np.float32)
        if pos + len(item) > total:
            break
        if len(rooms) and rng.random() < reverb_prob:
            room = rooms[int(rng.integers(len(rooms)))]
            wet = fftconvolve(item, room.astype(np.float32))[:len(item)]
            item = wet * np.float32(np.sqrt(np.mean(item ** 2) / max(np.mean(wet ** 2), 1e-12)))
        placed.append(_add_clip(signal, item, label, pos, sample_rate, rng, snr_db, noise_rms,
                                source=sources[i]))
        pos += len(item) + int(rng.uniform(*gap_s) * sample_rate)
        k += 1
        if k == len(order):
            order, k = rng.permutation(len(items)), 0
    return _to_int16(signal), placed
