"""The student's checkpoint chosen on the validation speakers' streams (distill.checkpoint_on=stream).

Clip accuracy is not what a wake word is judged by. With this choice, after every epoch from
distill.checkpoint_from_epoch the network as it stands runs over the validation streams the stream
stage builds (kws.audio.split_streams: the same `stream` settings and seed, so the same audio:
validation keywords, validation negatives and rooms, never test material), through the
recogniser's smoothing and decision (kws.golden.detector.smooth, .fire) at each averaging window
the stream stage may choose (detector.average_window_ms, and stream.average_windows_ms when
stream.select_on=validation), and each threshold 0..255 is scored (kws.measure.scoring). The
epoch's figure is its lowest FRR at <= stream.target_fa_per_hour over those; best.pt is the epoch with the
lowest (an epoch that meets the target beats one that does not; ties: the higher validation clip
accuracy, then the earlier epoch).

Float, not int8: the int8 twin exists only after the quantize stage. The probabilities are
round(255 softmax(logits)) where the detector's integer softmax rounds through its table, so the
figures are close to, not equal to, what the stream stage then measures on the int8 network.

Fast because the student streams (time_padding=valid): its convolutions run once over the
whole stream (in chunks aligned to its time stride), the global average pool becomes a running
mean over the last rows of the final map, and the classifier is linear, so every inference the
firmware would make costs one row of work, as in kws.golden.streaming.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kws.artifacts import RunDir
from kws.audio.split_streams import split_streams
from kws.audio.streams import Placed
from kws.errors import KwsError
from kws.golden.detector import DetectorSettings, settings_from_config, smooth
from kws.golden.streaming import stream_features
from kws.measure.scoring import (candidate_average_windows, det_rates, operating_point,
                                 sweep_thresholds)
from kws.training.models import SameConv2d

log = logging.getLogger(__name__)

CHUNK_ROWS = 4096                 # final-map rows per pass over a stream: bounds memory


@dataclass(frozen=True)
class TimeGeometry:
    """How the network's convolutions walk along time (valid padding)."""
    stride: int                   # frames per row of the final map
    receptive_field: int          # frames one final row reads
    final_rows: int               # rows of the final map in one window: the pool's span


def time_geometry(net: nn.Module, frames: int, coefficients: int,
                  needed_by: str = "distill.checkpoint_on=stream") -> TimeGeometry:
    """The geometry of a streamable network on windows of `frames` frames; KwsError (naming
    the setting that streams it, needed_by) if a convolution pads in time."""
    stride, field = 1, 1
    for conv in (m for m in net.modules() if isinstance(m, SameConv2d)):
        kh, sh = conv.kernel_size[0], conv.stride[0]
        if conv.time_padding != "valid" and not (kh == 1 and sh == 1):
            raise KwsError(f"{needed_by} needs a student that streams "
                           f"(student_model.time_padding=valid), not time_padding="
                           f"{conv.time_padding}")
        field += (kh - 1) * stride
        stride *= sh
    with torch.no_grad():
        rows = net.features(torch.zeros(1, 1, frames, coefficients)).shape[2]
    return TimeGeometry(stride, field, rows)


@torch.no_grad()
def stream_logits(net: nn.Module, features: torch.Tensor, g: TimeGeometry,
                  frames: int) -> tuple[np.ndarray, torch.Tensor]:
    """The float network over a stream's frames [T, coefficients] (dequantised), at its
    cadence: (window-end frame indices [M], logits [M, classes]). Window j covers frames
    j*stride .. j*stride + frames - 1, as the streaming loop's inference j; its logits are the
    window model's on those frames."""
    net.eval()
    n_rows = (len(features) - g.receptive_field) // g.stride + 1
    if n_rows < g.final_rows:
        return np.zeros(0, np.int64), torch.zeros(0, net.classifier.out_features)
    rows = []
    for first in range(0, n_rows, CHUNK_ROWS):
        last = min(first + CHUNK_ROWS, n_rows)
        segment = features[first * g.stride:(last - 1) * g.stride + g.receptive_field]
        fmap = net.features(segment[None, None])              # [1, C, rows, W]
        rows.append(fmap.mean(dim=3)[0].T)                    # [rows, C]: mean over W
    rows = torch.cat(rows)
    pooled = rows.unfold(0, g.final_rows, 1).mean(dim=2)      # the pool, one window per row
    ends = frames - 1 + g.stride * np.arange(len(pooled), dtype=np.int64)
    return ends, net.classifier(pooled)


def stream_probabilities(net: nn.Module, features: torch.Tensor, g: TimeGeometry,
                         frames: int) -> tuple[np.ndarray, np.ndarray]:
    """stream_logits as the recogniser reads them: (window-end frames [M], probabilities
    round(255 softmax) [M, classes], int64 in 0..255)."""
    ends, logits = stream_logits(net, features, g, frames)
    return ends, np.round(255 * torch.softmax(logits, dim=1).numpy()).astype(np.int64)


@dataclass
class _Stream:
    features: torch.Tensor        # float [T, coefficients]
    truth: list[Placed]


class ValidationStreams:
    """The validation streams as the network sees them, and each epoch's score on them."""

    def __init__(self, cfg, run_dir, net: nn.Module, dequantize):
        run = RunDir(run_dir)
        labels = run.labels()
        tables = run.mfcc_tables()
        quant = run.quant()
        rate = int(quant["sample_rate"])
        s = cfg.stream
        started = time.perf_counter()
        positive, negative, _ = split_streams(s, run, labels, rate, "validation",
                                              s.validation_positive_minutes,
                                              s.validation_negative_hours)
        self.frames = tables.frames_per_clip
        self.geometry = time_geometry(net, self.frames, tables.n_out)
        self.streams = [_Stream(dequantize(stream_features(pcm, tables)), truth)
                        for pcm, truth in (positive, negative)]
        self.hours = len(negative[0]) / rate / 3600
        self.target = float(s.target_fa_per_hour)
        # exp_lut is not used: the probabilities are the float network's own (output scale 1).
        self.settings: dict[float, DetectorSettings] = {
            ms: settings_from_config(cfg.detector, labels, 1.0, quant["settings"]["stride_ms"],
                                     infer_every=self.geometry.stride, average_window_ms=ms)
            for ms in candidate_average_windows(cfg.detector, s)}
        self.scoring = (tables.stride, tables.window_len, int(round(s.hit_window_s * rate)))
        is_keyword = next(iter(self.settings.values())).is_keyword
        log.info("checkpoint choice: validation streams, %.2f h negative, %d keywords, "
                 "features in %.1f s", self.hours,
                 sum(is_keyword[p.label] for p in positive[1]), time.perf_counter() - started)

    def score(self, net: nn.Module) -> dict:
        """The network's lowest FRR at the false-accept target on the validation streams, over
        the averaging windows (ties: the earlier window)."""
        probabilities = [self._probabilities(net, stream) for stream in self.streams]
        best = None
        for window_ms, settings in self.settings.items():
            positive, negative = (self._sweep(settings, stream, ends, p)
                                  for stream, (ends, p) in zip(self.streams, probabilities))
            frr, fa_h = det_rates(positive, negative, self.hours)
            threshold, met = operating_point(frr, fa_h, self.target)
            row = {"val_stream_frr": round(float(frr[threshold]), 5),
                   "val_stream_fa_per_hour": round(float(fa_h[threshold]), 4),
                   "val_stream_threshold": threshold, "val_stream_target_met": bool(met),
                   "val_stream_window_ms": window_ms}
            if best is None or (not met, row["val_stream_frr"]) < (
                    not best["val_stream_target_met"], best["val_stream_frr"]):
                best = row
        return best

    def _probabilities(self, net: nn.Module, stream: _Stream):
        return stream_probabilities(net, stream.features, self.geometry, self.frames)

    def _sweep(self, settings: DetectorSettings, stream: _Stream, ends, p):
        return sweep_thresholds(ends, *smooth(settings, p), settings.suppression_frames,
                                stream.truth, settings.is_keyword, self.scoring)


def selection_key(row: dict) -> tuple:
    """Smaller is better: meets the target, lower FRR there, higher clip accuracy."""
    return (not row["val_stream_target_met"], row["val_stream_frr"], -row["val_acc"])

