"""Scoring detections on a stream against its ground truth: hits, misses, false accepts.

Rules (MLPerf Tiny's streaming wake-word rules are the model):
- A detection's time is the end of the window that fired: (frame * stride + window_len) / rate.
- A keyword occurrence is hit when a detection of the same label falls in
  [word start, word end + hit_window]. The first such detection is the hit; later detections of
  that label inside the same window are repeats of it (debounced: neither hit nor false accept).
- Every other detection is a false accept (another label, no keyword there, or too late).
FRR = missed occurrences / occurrences; FA/h = false accepts / hours of audio.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kws.golden.detector import Detection, fire
from kws.audio.streams import Placed


THRESHOLDS = np.arange(256)         # every threshold the recogniser can be set to


@dataclass(frozen=True)
class Score:
    positives: int
    hits: int
    false_accepts: int
    per_label_positives: dict[int, int]
    per_label_hits: dict[int, int]
    per_label_false_accepts: dict[int, int]

    @property
    def frr(self) -> float:
        return 1.0 - self.hits / self.positives if self.positives else 0.0


def detection_samples(events: list[Detection], stride: int, window_len: int) -> np.ndarray:
    return np.array([e.frame_index * stride + window_len for e in events], dtype=np.int64)


def score_events(events: list[Detection], truth: list[Placed], is_keyword, stride: int,
                 window_len: int, hit_window: int) -> Score:
    """Match detections to keyword occurrences (hit_window in samples after the word's end)."""
    positives = [p for p in truth if is_keyword[p.label]]
    starts = np.array([p.word_start for p in positives], dtype=np.int64)
    ends = np.array([p.word_end + hit_window for p in positives], dtype=np.int64)
    hit = np.zeros(len(positives), dtype=bool)
    false_accepts: dict[int, int] = {}
    for event, t in zip(events, detection_samples(events, stride, window_len)):
        # occurrences whose window holds t (windows of consecutive words may overlap)
        candidates = np.flatnonzero((starts <= t) & (t <= ends))
        same = [i for i in candidates if positives[i].label == event.label]
        if not same:
            false_accepts[event.label] = false_accepts.get(event.label, 0) + 1
        elif not all(hit[i] for i in same):
            hit[next(i for i in same if not hit[i])] = True
    per_pos: dict[int, int] = {}
    per_hit: dict[int, int] = {}
    for p, h in zip(positives, hit):
        per_pos[p.label] = per_pos.get(p.label, 0) + 1
        per_hit[p.label] = per_hit.get(p.label, 0) + int(h)
    return Score(len(positives), int(hit.sum()), sum(false_accepts.values()), per_pos, per_hit,
                 false_accepts)


def sweep_thresholds(frames: np.ndarray, top: np.ndarray, score: np.ndarray,
                     may_fire: np.ndarray, suppression_frames: int, truth: list[Placed],
                     is_keyword, geometry: tuple[int, int, int]) -> list[Score]:
    """The stream scored at every threshold 0..255 from the recogniser's smoothed inputs
    (kws.golden.detector.sweep_inputs: they do not depend on the threshold).
    geometry: (stride, window_len, hit_window) in samples."""
    return [score_events(fire(frames, top, score, may_fire, int(t), suppression_frames),
                         truth, is_keyword, *geometry) for t in THRESHOLDS]


def det_rates(positive: list[Score], negative: list[Score], hours: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """FRR and false accepts per hour at every threshold, from sweep_thresholds' scores of the
    positive stream and of the negative stream (`hours` long)."""
    return (np.array([p.frr for p in positive]),
            np.array([n.false_accepts / hours for n in negative]))


def candidate_average_windows(detector, stream) -> list[float]:
    """The averaging windows (ms) the operating point is chosen among: detector.average_window_ms,
    and stream.average_windows_ms when it is chosen on the validation streams (first wins ties)."""
    extra = list(stream.average_windows_ms) if stream.select_on == "validation" else []
    return list(dict.fromkeys([detector.average_window_ms, *extra]))


def operating_point(frr: np.ndarray, fa_per_hour: np.ndarray, target: float) -> tuple[int, bool]:
    """The threshold with the lowest FRR among those with FA/h <= target (ties: the highest
    threshold, for margin; but when every one of them misses every keyword, the lowest: margin
    is worth nothing to a detector that detects nothing, and the lowest is the most sensitive
    still within the target); without one, the threshold with the fewest false accepts."""
    ok = np.flatnonzero(fa_per_hour <= target)
    if len(ok):
        best = ok[frr[ok] == frr[ok].min()]
        return int(best.min() if frr[ok].min() >= 1 else best.max()), True
    fewest = np.flatnonzero(fa_per_hour == fa_per_hour.min())
    return int(fewest[np.argmin(frr[fewest])]), False
