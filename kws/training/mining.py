"""Hard-negative mining for the student: windows of the training split's own negative speech that
the network in training takes for a keyword join the next epoch as `_unknown_`, with more weight.

Two sources (mining.source), training material only, never a validation or test stream:

windows: `mining.pool_windows` windows cut once from the training negatives and TTS sentences
(kws.audio.negatives.negative_windows, its own seed), as the golden front end's int8 features
(kws.golden.mfcc). A window "fires" when the network's top class is a keyword with probability
>= `mining.min_score` (what the detector's threshold compares, in float).

streams: a negative training stream of `mining.stream_hours`, built as the stream stage builds
its held-out ones (kws.audio.split_streams.material_stream on the training split: its
speakers' `_unknown_` clips, its real negatives and TTS sentences, half of them in its rooms,
over its noise at stream.snr_db_min..max), as golden int8 frames. The network streams over it
(kws.training.stream_selection.stream_logits: every inference the firmware would make), its
probabilities round(255 softmax) go through the integer recogniser (kws.golden.detector.smooth,
.fire: detector.average_window_ms, min_count, suppression) at `mining.threshold` (null: the
detector's), and each detection's windows — the inferences inside its averaging span whose own
probability of the detected keyword reaches that threshold — are the hard negatives.

At the start of every epoch from `mining.start_epoch` the network as it stands mines; the
`mining.per_epoch` surest hard negatives train in that epoch, labelled `_unknown_`, with loss
weight `mining.weight` (their features as cut, not augmented). Mining repeats each epoch, so the
set follows the network: windows it has learnt drop out, new confusions come in. It is mined
from the weights at the epoch's start, so a run resumed at an epoch boundary mines what the
uninterrupted run did.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kws.artifacts import RunDir
from kws.audio.negatives import negative_windows
from kws.audio.speech_commands import SILENCE, UNKNOWN
from kws.audio.split_streams import material_stream
from kws.golden.detector import fire, settings_from_config, smooth
from kws.golden.mfcc import mfcc_clips
from kws.golden.streaming import stream_features
from kws.training.stream_selection import stream_probabilities, time_geometry

log = logging.getLogger(__name__)

POOL_STREAM = 11                  # spawn key of the pool's generator (beside data.seed)
TRAINING_STREAM = 12              # spawn key of the negative training stream's generator


def _keyword_classes(labels: list[str]) -> torch.Tensor:
    return torch.tensor([i for i, lab in enumerate(labels) if lab not in (UNKNOWN, SILENCE)])


@dataclass
class MiningPool:
    """mining.source=windows: windows cut once, each scored on its own."""
    x: torch.Tensor               # float [N, 1, frames, coeffs], as the network sees them
    keyword_classes: torch.Tensor  # indices of the labels that are keywords
    min_score: float

    def mine(self, net: nn.Module, per_epoch: int, device, batch: int = 512
             ) -> tuple[torch.Tensor, int]:
        """(this epoch's hard negatives [n, 1, frames, coeffs], how many windows fired):
        windows whose top class is a keyword at probability >= min_score, the surest first, at
        most per_epoch."""
        with torch.no_grad():
            net.eval()
            probs = torch.cat([torch.softmax(net(self.x[i:i + batch].to(device)), dim=1).cpu()
                               for i in range(0, len(self.x), batch)])
        score, top = probs.max(dim=1)
        fired = torch.isin(top, self.keyword_classes) & (score >= self.min_score)
        index = fired.nonzero(as_tuple=True)[0]
        order = torch.argsort(score[index], descending=True, stable=True)
        return self.x[index[order][:per_epoch]], len(index)

    def describe(self) -> dict:
        return {"source": "windows", "pool_windows": len(self.x)}


def load_pool(run_dir, mining, seed: int, n_samples: int, dequantize) -> MiningPool | None:
    """mining.pool_windows windows of the run's training negative speech (their generator from
    seed), or None when there is none. dequantize: int8 features → the network's float input."""
    run = RunDir(run_dir)
    rng = np.random.default_rng([seed, POOL_STREAM])
    audio, _ = negative_windows([run.pool("negatives", "train"), run.pool("speech", "train")],
                                mining.pool_windows, n_samples, rng)
    if not len(audio):
        return None
    return MiningPool(dequantize(mfcc_clips(audio, run.mfcc_tables())),
                      _keyword_classes(run.labels()), float(mining.min_score))


class StreamMiner:
    """mining.source=streams: the integer recogniser over a negative training stream."""

    def __init__(self, cfg, run_dir, net: nn.Module, dequantize):
        run = RunDir(run_dir)
        labels = run.labels()
        tables = run.mfcc_tables()
        quant = run.quant()
        rate = int(quant["sample_rate"])
        started = time.perf_counter()
        mining = cfg.mining
        (pcm, _), material = material_stream(
            cfg.stream, run, run.split("train"), run.noise("train"), labels, rate, "train",
            mining.stream_hours, np.random.default_rng([cfg.data.seed, TRAINING_STREAM]))
        self.frames = tables.frames_per_clip
        self.geometry = time_geometry(net, self.frames, tables.n_out,
                                      needed_by="mining.source=streams")
        self.features = dequantize(stream_features(pcm, tables))      # float [T, coeffs]
        # exp_lut is not used: the probabilities are the float network's own (output scale 1).
        self.settings = settings_from_config(cfg.detector, labels, 1.0,
                                             quant["settings"]["stride_ms"],
                                             infer_every=self.geometry.stride)
        self.threshold = int(cfg.detector.threshold if mining.threshold is None
                             else mining.threshold)
        self.hours = len(pcm) / rate / 3600
        self.material = {k: v["items"] if isinstance(v, dict) else v
                         for k, v in material.items()}
        log.info("mining: a %.2f h negative training stream (%s), features in %.1f s",
                 self.hours, ", ".join(f"{v} {k}" for k, v in self.material.items()),
                 time.perf_counter() - started)

    def mine(self, net: nn.Module, per_epoch: int, device) -> tuple[torch.Tensor, int]:
        """(this epoch's hard negatives [n, 1, frames, coeffs], the recogniser's detections
        on the stream): the windows behind the detections, the surest first, at most
        per_epoch."""
        ends, p = stream_probabilities(net.to("cpu"), self.features, self.geometry, self.frames)
        net.to(device)
        top, score, may_fire = smooth(self.settings, p)
        events = fire(ends, top, score, may_fire, self.threshold,
                      self.settings.suppression_frames)
        position = {int(end): i for i, end in enumerate(ends)}
        chosen: dict[int, int] = {}                   # inference -> its p of the keyword
        for event in events:
            last = position[event.frame_index]
            for i in range(max(0, last - self.settings.average_window + 1), last + 1):
                if p[i, event.label] >= self.threshold:
                    chosen[i] = max(chosen.get(i, 0), int(p[i, event.label]))
        order = sorted(chosen, key=lambda i: (-chosen[i], i))[:per_epoch]
        starts = ends[order] - (self.frames - 1)
        windows = [self.features[a:a + self.frames][None] for a in starts]
        empty = self.features.new_zeros((0, 1, self.frames, self.features.shape[1]))
        return (torch.stack(windows) if windows else empty), len(events)

    def describe(self) -> dict:
        return {"source": "streams", "stream_hours": round(self.hours, 3),
                "threshold": self.threshold, "material": self.material}
