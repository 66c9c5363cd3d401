"""Partly cut keywords as `_unknown_` training windows: what a streaming detector sees while a
word slides into or out of its window, and must not fire on.

The word of a clip is its extent: from its first to its last 10 ms frame within 30 dB of the
clip's loudest, as the stream stage places a spoken word (kws.audio.streams.word_span). The label
rule:

    share of the word's extent inside the window >= KEYWORD_INSIDE   -> the keyword
    share <= PARTIAL_INSIDE                                          -> _unknown_
    in between                                                       -> never made (a guess)

The training clips satisfy the first rule as they are: a 1 s clip centred in the 1.5 s window
and moved by at most data.augment.time_shift_ms (100 ms) keeps its whole word inside. A partial
window moves a keyword clip so that a share drawn uniformly in [MIN_INSIDE, PARTIAL_INSIDE] of
its word stays inside, cut at the start or at the end of the window (the word entering or
leaving it); the rest of the window is zeros, which augmentation fills with noise and speech as
it does for every clip.
"""
from __future__ import annotations

import numpy as np

from kws.audio.streams import word_span

KEYWORD_INSIDE = 0.9
PARTIAL_INSIDE = 0.5
MIN_INSIDE = 0.1


def inside_share(extent: tuple[int, int], shift: int, n_samples: int) -> float:
    """The share of the word's extent inside the window after moving the clip by `shift`
    samples (right when positive)."""
    first, end = extent[0] + shift, extent[1] + shift
    return max(0, min(end, n_samples) - max(first, 0)) / max(end - first, 1)


def partial_word_windows(audio: np.ndarray, rows: np.ndarray, n: int, sample_rate: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """n windows, each a keyword clip audio[r] (r drawn from `rows`) moved so that a share in
    [MIN_INSIDE, PARTIAL_INSIDE] of its word is inside. Returns int16 [n, S] and, per window,
    (the clip's row, the shift in samples)."""
    n_samples = audio.shape[1]
    rows = np.asarray(rows)
    extents = {}
    windows, made = np.zeros((max(n, 0), n_samples), np.int16), []
    if n <= 0 or not len(rows):
        return windows[:0], made
    for window in windows:
        r = int(rows[rng.integers(len(rows))])
        extent = extents.setdefault(r, word_span(audio[r], sample_rate))
        share = rng.uniform(MIN_INSIDE, PARTIAL_INSIDE)
        length = extent[1] - extent[0]
        if rng.random() < 0.5:       # the word leaving at the end: its head stays inside
            shift = n_samples - (extent[0] + int(share * length))
        else:                        # the word entering at the start: its tail stays inside
            shift = -(extent[1] - int(share * length))
        window[:] = _moved(audio[r], shift)
        made.append((r, shift))
    return windows[:len(made)], made


def _moved(clip: np.ndarray, shift: int) -> np.ndarray:
    """The clip moved right by `shift` samples (left when negative), zeros filling in."""
    out = np.zeros_like(clip)
    if shift >= 0:
        out[shift:] = clip[:len(clip) - shift]
    else:
        out[:shift] = clip[-shift:]
    return out
