"""Golden integer wake-word detector: the streaming loop and the recogniser, in numpy.

This module *defines* the detector: firmware/src/kws_detector.c (recogniser) and
firmware/src/kws_wakeword.c (the loop) reproduce it event for event. The roles are TFLite Micro
micro_speech's: audio provider → feature provider → model → recogniser → responder.

Loop. MFCC frame t covers samples t*stride .. t*stride + window_len - 1 of the stream (the C
front end streams, and is tested to give the whole-signal frames). The model input is the latest
F frames (F = frames per clip), int8 [F][n_out]. An inference runs after frame t when t + 1 >= F
and (t + 1 - F) % K == 0 (K = infer_every), on frames t-F+1 .. t; its frame index is t.

Recogniser, per inference with int8 logits l[c], c < n_classes (output scale s):

1. Integer softmax.  d[c] = max(l) - l[c] in [0, 255]; e[c] = exp_lut[d[c]] with the uint16
                     table exp_lut[d] = round(32767 * exp(-d * s)) (make_exp_lut; the output zero
                     point cancels); sum = Σ e[c] >= 32767 (the maximum contributes 32767);
                     p[c] = (e[c] * 255 + sum // 2) // sum, in 0..255 (uint8).
2. Smoothing.        The last W = average_window p vectors are held (a fixed ring in C);
                     n = min(inferences so far, W); smoothed[c] = (Σ held p[c] + n // 2) // n.
3. Decision.         top = argmax smoothed (ties → lowest index). Fire when n >= min_count,
                     is_keyword[top], smoothed[top] >= threshold and either nothing fired yet or
                     frame - previous detection's frame >= suppression_frames.
                     Event: Detection(frame_index, label=top, score=smoothed[top]).

Every quantity is an integer below 2**32, so the C does it in uint32. Frame indices are unbounded
here and uint32 in C: the two agree for the first 2**32 frames (2.7 years at 20 ms).
numpy only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from kws.errors import KwsError
from kws.golden.mfcc import frame_clips, mfcc_frames
from kws.golden.mfcc_tables import MfccTables

# Shared with the C through firmware/include/kws_limits.h (written by kws.emit.limits).
EXP_ONE = 32767                 # exp_lut[0]: probability mass of the top class before normalising
EXP_LUT_LEN = 256               # exp_lut[d] for logit gaps d = 0..255 LSB
P_ONE = 255                     # p and smoothed scores are in 0..255
MAX_CLASSES = 32                # classes a recogniser holds
MAX_AVERAGE_WINDOW = 64         # inferences averaged at most
NON_KEYWORDS = ("_silence_", "_unknown_")
_CHUNK_FRAMES = 4096            # frames per pass of detect_stream: bounds memory on long streams


@dataclass(frozen=True)
class Detection:
    frame_index: int            # newest MFCC frame of the window that fired
    label: int                  # class index
    score: int                  # smoothed probability of that class, 0..255


@dataclass(frozen=True, eq=False)
class DetectorSettings:
    """Recogniser and loop settings (kws_detector_settings_t in C)."""
    is_keyword: tuple[bool, ...]            # per class; n_classes = len(is_keyword)
    exp_lut: np.ndarray = field(repr=False)  # uint16 [256], make_exp_lut
    average_window: int                     # W, in inferences
    min_count: int                          # inferences held before anything may fire
    threshold: int                          # smoothed score needed, 0..255
    suppression_frames: int                 # frames between detections
    infer_every: int                        # K: frames between inferences
    # No defaults: the values come from the `detector` config (settings_from_config), never
    # from here, so conf/detector/default.yaml is their one home.

    def __post_init__(self):
        object.__setattr__(self, "is_keyword", tuple(bool(k) for k in self.is_keyword))
        lut = np.asarray(self.exp_lut)
        if lut.shape != (EXP_LUT_LEN,) or lut.min() < 0 or lut.max() > EXP_ONE or lut[0] != EXP_ONE:
            raise KwsError("detector exp_lut must be 256 values in [0, 32767] with "
                           "exp_lut[0] == 32767 (use make_exp_lut)")
        object.__setattr__(self, "exp_lut", lut.astype(np.uint16))
        checks = [(1 <= self.n_classes <= MAX_CLASSES, f"n_classes={self.n_classes}",
                   f"[1, {MAX_CLASSES}]"),
                  (1 <= self.average_window <= MAX_AVERAGE_WINDOW,
                   f"average_window={self.average_window}", f"[1, {MAX_AVERAGE_WINDOW}]"),
                  (1 <= self.min_count <= self.average_window, f"min_count={self.min_count}",
                   "[1, average_window]"),
                  (0 <= self.threshold <= P_ONE, f"threshold={self.threshold}", "[0, 255]"),
                  (0 <= self.suppression_frames < 2**31,
                   f"suppression_frames={self.suppression_frames}", "[0, 2**31)"),
                  (1 <= self.infer_every < 2**31, f"infer_every={self.infer_every}",
                   "[1, 2**31)")]
        for ok, what, valid in checks:
            if not ok:
                raise KwsError(f"detector {what} must be in {valid}")

    @property
    def n_classes(self) -> int:
        return len(self.is_keyword)

    def to_json(self) -> dict:
        """Every value, as the export stage writes it beside kws_model_settings.h."""
        return {"is_keyword": list(self.is_keyword), "exp_lut": self.exp_lut.tolist(),
                "average_window": self.average_window, "min_count": self.min_count,
                "threshold": self.threshold, "suppression_frames": self.suppression_frames,
                "infer_every": self.infer_every}

    @classmethod
    def from_json(cls, values: dict) -> "DetectorSettings":
        return cls(is_keyword=tuple(values["is_keyword"]),
                   exp_lut=np.asarray(values["exp_lut"], dtype=np.uint16),
                   **{k: int(values[k]) for k in _COUNTS})


_COUNTS = ("average_window", "min_count", "threshold", "suppression_frames", "infer_every")


def make_exp_lut(output_scale: float) -> np.ndarray:
    """uint16 [256]: exp_lut[d] = round(32767 * exp(-d * output_scale)), d = logit gap in LSB."""
    s = float(output_scale)
    if not (math.isfinite(s) and s > 0):
        raise KwsError(f"detector output_scale={output_scale!r} must be a positive number")
    d = np.arange(256, dtype=np.float64)
    return np.round(EXP_ONE * np.exp(-d * s)).astype(np.uint16)


def make_settings(labels: list[str], output_scale: float, **kwargs) -> DetectorSettings:
    """Settings for a model's class list: _silence_ and _unknown_ are not keywords."""
    return DetectorSettings(is_keyword=tuple(lab not in NON_KEYWORDS for lab in labels),
                            exp_lut=make_exp_lut(output_scale), **kwargs)


def settings_from_config(detector, labels: list[str], output_scale: float, stride_ms: float,
                         threshold: int | None = None, infer_every: int | None = None,
                         average_window_ms: float | None = None) -> DetectorSettings:
    """The recogniser's integer settings from the `detector` config (times in ms → frames and
    inferences at `stride_ms` per frame); `threshold` replaces detector.threshold (the stream
    stage's operating point), `infer_every` detector.infer_every_frames (a streaming network
    sets its own cadence: kws.golden.streaming.inference_cadence) and `average_window_ms`
    detector.average_window_ms (the window the stream stage chose). The one place these are
    computed: the stream stage sweeps with them, the export stage writes them
    (kws_model_settings.h and detector.json)."""
    every = int(detector["infer_every_frames"] if infer_every is None else infer_every)
    inference_ms = every * stride_ms
    window_ms = detector["average_window_ms"] if average_window_ms is None else average_window_ms
    return make_settings(labels, output_scale,
                         average_window=max(1, round(window_ms / inference_ms)),
                         min_count=detector["min_count"],
                         threshold=detector["threshold"] if threshold is None else threshold,
                         suppression_frames=round(detector["suppression_ms"] / stride_ms),
                         infer_every=every)


def _check_logits(logits: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    logits = np.asarray(logits)
    if logits.ndim != 2 or not np.issubdtype(logits.dtype, np.integer) or (
            n_classes is not None and logits.shape[1] != n_classes):
        raise KwsError(f"detector logits must be integers [N, {n_classes or 'classes'}], got "
                       f"{logits.dtype} {list(logits.shape)}")
    if logits.size and (logits.min() < -128 or logits.max() > 127):
        raise KwsError("detector logits must be int8 values in [-128, 127]")
    return logits.astype(np.int64)


def softmax_u8(logits: np.ndarray, exp_lut: np.ndarray) -> np.ndarray:
    """Step 1, vectorised: int8 logits [N, C] → uint8 probabilities p [N, C] (0..255)."""
    l64 = _check_logits(logits)
    lut = np.asarray(exp_lut, dtype=np.int64)
    e = lut[l64.max(axis=1, keepdims=True) - l64]
    total = e.sum(axis=1, keepdims=True)
    return ((e * P_ONE + total // 2) // total).astype(np.uint8)


class Recognizer:
    """Steps 2-3 over a stream of inferences, in batches; state carries across push() calls,
    so any split of the inferences into batches gives the same events."""

    def __init__(self, settings: DetectorSettings):
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        self._held = np.zeros((0, self.settings.n_classes), dtype=np.int64)  # oldest first
        self._count = 0                     # inferences so far
        self._last_frame: int | None = None
        self._last_fire: int | None = None

    def push(self, frame_indices, logits) -> list[Detection]:
        """Inferences in order: frame indices (strictly increasing, >= 0) [N], int8 logits
        [N, n_classes]. Returns the detections they fire."""
        s = self.settings
        frames = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
        l64 = _check_logits(logits, s.n_classes)
        if len(frames) != len(l64):
            raise KwsError(f"detector: {len(frames)} frame indices for {len(l64)} logit rows")
        if len(frames) == 0:
            return []
        prev = -1 if self._last_frame is None else self._last_frame
        if frames[0] <= prev or np.any(np.diff(frames) <= 0):
            raise KwsError("detector frame indices must be >= 0 and strictly increasing")

        p = softmax_u8(l64, s.exp_lut).astype(np.int64)
        held = np.concatenate([self._held, p])
        cum = np.concatenate([np.zeros((1, s.n_classes), np.int64), np.cumsum(held, axis=0)])
        end = np.arange(len(self._held) + 1, len(held) + 1)       # window of inference i ends
        start = np.maximum(end - s.average_window, 0)              # at held[end - 1]
        n = (end - start)[:, None]                                 # = min(count, W)
        smoothed = (cum[end] - cum[start] + n // 2) // n
        top = smoothed.argmax(axis=1)                              # first maximum: lowest index
        score = smoothed[np.arange(len(top)), top]
        candidate = ((n[:, 0] >= s.min_count) & np.asarray(s.is_keyword)[top]
                     & (score >= s.threshold))

        events = []
        for i in np.flatnonzero(candidate):
            frame = int(frames[i])
            if self._last_fire is None or frame - self._last_fire >= s.suppression_frames:
                events.append(Detection(frame, int(top[i]), int(score[i])))
                self._last_fire = frame
        self._held = held[-s.average_window:]
        self._count += len(frames)
        self._last_frame = int(frames[-1])
        return events


def recognize(settings: DetectorSettings, frame_indices, logits) -> list[Detection]:
    """A fresh Recognizer over one sequence of inferences."""
    return Recognizer(settings).push(frame_indices, logits)


def sweep_inputs(settings: DetectorSettings, logits) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-2 over one whole sequence of inferences (a fresh recogniser), for sweeping the
    threshold without re-running anything: (top class [N], its smoothed score [N], and whether
    the inference may fire at all: n >= min_count and top is a keyword)."""
    return smooth(settings, softmax_u8(_check_logits(logits, settings.n_classes),
                                       settings.exp_lut))


def smooth(settings: DetectorSettings, p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 2 and what step 3 needs besides the threshold, from probabilities p [N, C] in
    0..255 (step 1's, or any model's): (top [N], smoothed[top] [N], may fire [N])."""
    s = settings
    p = np.asarray(p, dtype=np.int64)
    cum = np.concatenate([np.zeros((1, s.n_classes), np.int64), np.cumsum(p, axis=0)])
    end = np.arange(1, len(p) + 1)
    start = np.maximum(end - s.average_window, 0)
    n = (end - start)[:, None]
    smoothed = (cum[end] - cum[start] + n // 2) // n
    top = smoothed.argmax(axis=1)
    score = smoothed[np.arange(len(top)), top]
    return top, score, (n[:, 0] >= s.min_count) & np.asarray(s.is_keyword)[top]


def fire(frame_indices: np.ndarray, top: np.ndarray, score: np.ndarray, may_fire: np.ndarray,
         threshold: int, suppression_frames: int) -> list[Detection]:
    """Step 3 for one threshold on sweep_inputs' arrays: the events recognize() would give."""
    events, last = [], None
    for i in np.flatnonzero(may_fire & (score >= threshold)):
        frame = int(frame_indices[i])
        if last is None or frame - last >= suppression_frames:
            events.append(Detection(frame, int(top[i]), int(score[i])))
            last = frame
    return events


def n_stream_frames(n_samples: int, tables: MfccTables) -> int:
    """Frames a stream of n_samples yields: 1 + (n - window_len) // stride, or 0."""
    if n_samples < tables.window_len:
        return 0
    return 1 + (n_samples - tables.window_len) // tables.stride


def inference_frames(n_frames: int, frames: int, infer_every: int, start: int = 0) -> np.ndarray:
    """Frame indices t in [start, n_frames) after which an inference runs."""
    first = frames - 1
    if start > first:
        first += -(-(start - first) // infer_every) * infer_every
    return np.arange(first, n_frames, infer_every, dtype=np.int64)


def stream_logits(pcm: np.ndarray, tables: MfccTables,
                  run_logits: Callable[[np.ndarray], np.ndarray], n_classes: int,
                  infer_every: int, frames: int | None = None,
                  chunk_frames: int = _CHUNK_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """The loop's inferences on an int16 stream [S]: (frame indices int64 [M], int8 logits
    [M, n_classes]). Golden MFCC → windows of `frames` frames (default tables.frames_per_clip)
    every infer_every frames → run_logits(int8 [M, F, n_out, 1]). Works through the stream
    chunk_frames frames at a time, so an hour of audio needs a few MB beyond the samples."""
    pcm = np.asarray(pcm)
    if pcm.ndim != 1 or pcm.dtype != np.int16:
        raise KwsError(f"detect_stream needs int16 samples [S], got {pcm.dtype} {list(pcm.shape)}")
    f = tables.frames_per_clip if frames is None else int(frames)
    if f < 1 or chunk_frames < 1:
        raise KwsError(f"detect_stream: frames={f} and chunk_frames={chunk_frames} must be >= 1")
    total = n_stream_frames(len(pcm), tables)
    carry = np.zeros((0, tables.n_out), dtype=np.int8)         # the last F-1 frames so far
    all_ts, all_logits = [np.zeros(0, np.int64)], [np.zeros((0, n_classes), np.int8)]
    for a in range(0, total, chunk_frames):
        b = min(a + chunk_frames, total)
        segment = pcm[a * tables.stride:(b - 1) * tables.stride + tables.window_len]
        feats = np.concatenate([carry, mfcc_frames(frame_clips(segment, tables), tables)])
        base = a - len(carry)                                      # frame index of feats[0]
        ts = inference_frames(b, f, infer_every, start=a)
        if len(ts):
            windows = sliding_window_view(feats, f, axis=0)        # [.., n_out, F]
            x = np.ascontiguousarray(windows[ts - (f - 1) - base].transpose(0, 2, 1))[..., None]
            logits = np.asarray(run_logits(x))
            if logits.shape != (len(ts), n_classes) or logits.dtype != np.int8:
                raise KwsError(f"run_logits returned {logits.dtype} {list(logits.shape)}, "
                               f"expected int8 [{len(ts)}, {n_classes}]")
            all_ts.append(ts)
            all_logits.append(logits)
        carry = feats[max(0, len(feats) - (f - 1)):] if f > 1 else feats[:0]
    return np.concatenate(all_ts), np.concatenate(all_logits)


def detect_stream(pcm: np.ndarray, tables: MfccTables,
                  run_logits: Callable[[np.ndarray], np.ndarray], settings: DetectorSettings,
                  frames: int | None = None, chunk_frames: int = _CHUNK_FRAMES) -> list[Detection]:
    """The whole loop on an int16 stream [S]: stream_logits → Recognizer."""
    ts, logits = stream_logits(pcm, tables, run_logits, settings.n_classes, settings.infer_every,
                               frames, chunk_frames)
    return Recognizer(settings).push(ts, logits)
