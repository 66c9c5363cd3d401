"""Streaming twin of the golden int8 network: each step computes only the new rows.

A network whose convolutions have no padding in time (time_padding="valid", kws.golden.network)
computes each output row of a layer from the kernel_h most recent rows of its input. Run on a
stream of feature frames, every layer therefore keeps only those rows (its *state*) and computes
one output row whenever `stride_h` new input rows have arrived; the global average pool becomes
a running sum over the last T rows of the final map (T = its height in the window model) and the
classifier runs on that. This module *defines* that computation; the generated C
(`kws_model_step`) reproduces it.

Row arithmetic is the window model's own (the same kernels on the same rows), so at every frame
where the window model's input is defined its logits are these logits, bit for bit:

    window ending at frame t  ==  streaming output produced when frame t - lag arrives

where lag = frames at the end of the window that the valid convolutions never reach
(0 when the topology covers the window exactly). A step consumes `time_stride` frames (the
product of the strides in time: one new row of the final map per step), so its cost is the same
every step. numpy only.

Running sum. The pool's output is round(sum over T x W x C / (T W)) as run_avgpool computes it.
Keeping, per channel, the int64 sum of each of the last T rows and their total makes it one
add and one subtract per channel and step: total += new_row - row_leaving. The sums are exact
integers, so the average is exactly the window model's.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from kws.errors import KwsError
from kws.golden.network import AvgPool, Conv, Dense, conv_padding, run_conv, run_dense


@dataclass(frozen=True)
class StreamingGeometry:
    """How a valid-in-time network meets a window of `frames` input frames."""
    time_stride: int            # frames per step: one new row of the final map each step
    receptive_field: int        # input frames one final row depends on
    final_rows: int             # T: rows of the final map in the window model (the pool's span)
    lag: int                    # window frames past the last one the network reads
    first_output: int           # frame index (from 0) of the first window: frames - 1

    @property
    def window_frames(self) -> int:
        return self.first_output + 1


def geometry(layers: list, frames: int) -> StreamingGeometry:
    """The streaming geometry of `layers` on windows of `frames` frames; KwsError if a layer
    pads in time (it then needs frames that have not arrived: it cannot stream)."""
    jump, field, rows = 1, 1, frames
    for layer in layers:
        if isinstance(layer, AvgPool):
            break
        if not isinstance(layer, Conv):
            raise KwsError(f"layer {layer.name}: a streaming network is convolutions, then the "
                           "average pool and the classifier")
        kh, sh = layer.weights.shape[1], layer.stride[0]
        if layer.time_padding != "valid" and not (kh == 1 and sh == 1):
            raise KwsError(f"layer {layer.name} pads in time (time_padding={layer.time_padding}"
                           "): only a network with time_padding=valid can stream")
        field += (kh - 1) * jump
        jump *= sh
        rows = conv_padding(rows, kh, sh, "valid")[0]
    if rows < 1:
        raise KwsError(f"the network's final map has {rows} rows for {frames} frames")
    covered = field + (rows - 1) * jump
    return StreamingGeometry(time_stride=jump, receptive_field=field, final_rows=rows,
                             lag=frames - covered, first_output=frames - 1)


class _ConvState:
    """One convolution's last kernel_h input rows. Its first output row is due once kernel_h
    rows have arrived, each later one after stride_h more (valid padding, strided in time)."""

    def __init__(self, layer: Conv):
        self.layer = layer
        self.rows: deque[np.ndarray] = deque(maxlen=layer.weights.shape[1])
        self.started = False
        self.since_output = 0              # input rows received since the last output row

    def push(self, row: np.ndarray) -> np.ndarray | None:
        """One input row [W, C] → the output row [W', C'] it completes, or None."""
        self.rows.append(row)
        self.since_output += 1
        due = len(self.rows) == self.rows.maxlen and (
            not self.started or self.since_output >= self.layer.stride[0])
        if not due:
            return None
        self.started, self.since_output = True, 0
        return run_conv(self.layer, np.stack(self.rows)[None])[0, 0]   # [1, kh, W, C] → row


class StreamingNetwork:
    """The golden network run on a stream of int8 feature frames [n_out], `time_stride` at a
    time. step(frames) returns the logits the step produced (or None while the first window
    fills) and the index of the window-ending frame they belong to."""

    def __init__(self, layers: list, frames: int):
        self.geometry = geometry(layers, frames)
        self.convs = [layer for layer in layers if isinstance(layer, Conv)]
        pools = [layer for layer in layers if isinstance(layer, AvgPool)]
        dense = [layer for layer in layers if isinstance(layer, Dense)]
        if len(pools) != 1 or len(dense) != 1 or layers[-1] is not dense[0]:
            raise KwsError("a streaming network ends with one average pool and one classifier")
        self.dense = dense[0]
        self.reset()

    def reset(self) -> None:
        """The state of a fresh stream: nothing held."""
        self.states = [_ConvState(layer) for layer in self.convs]
        self.row_sums: deque[np.ndarray] = deque(maxlen=self.geometry.final_rows)
        self.total = None                   # int64 [C]: sum of the held row sums
        self.frames_seen = 0
        self.final_width = None

    def push_frame(self, frame: np.ndarray) -> np.ndarray | None:
        """One feature frame int8 [n_out] → logits int8 [classes] if a window completes."""
        row = np.asarray(frame, dtype=np.int8).reshape(-1, 1)         # [W, 1]
        self.frames_seen += 1
        for state in self.states:
            row = state.push(row)
            if row is None:
                return None
        return self._pool_and_classify(row)

    def _pool_and_classify(self, row: np.ndarray) -> np.ndarray | None:
        row_sum = row.astype(np.int64).sum(axis=0)                    # [C]
        if self.total is None:
            self.total = np.zeros_like(row_sum)
            self.final_width = row.shape[0]
        if len(self.row_sums) == self.row_sums.maxlen:
            self.total -= self.row_sums[0]                            # the row leaving
        self.row_sums.append(row_sum)
        self.total += row_sum
        if len(self.row_sums) < self.row_sums.maxlen:
            return None
        count = self.geometry.final_rows * self.final_width
        t = self.total
        average = np.where(t > 0, (t + count // 2) // count, -((-t + count // 2) // count))
        pooled = np.clip(average, -128, 127).astype(np.int8)
        return run_dense(self.dense, pooled[None])[0]

    def step(self, frames: np.ndarray) -> tuple[np.ndarray | None, int | None]:
        """`time_stride` new frames int8 [time_stride, n_out] → (logits, window-end frame) of
        the window the step completed, or (None, None)."""
        frames = np.asarray(frames)
        if frames.shape[0] != self.geometry.time_stride:
            raise KwsError(f"a step takes {self.geometry.time_stride} frames, got "
                           f"{frames.shape[0]}")
        result = (None, None)
        for frame in frames:
            logits = self.push_frame(frame)
            if logits is not None:
                result = (logits, self.frames_seen - 1 + self.geometry.lag)
        return result


def stream_logits_streaming(features: np.ndarray, layers: list, frames: int
                            ) -> tuple[np.ndarray, np.ndarray]:
    """The streaming network over int8 feature frames [N, n_out], step by step: (window-end
    frame indices int64 [M], logits int8 [M, classes]); frames past the last whole step wait."""
    net = StreamingNetwork(layers, frames)
    stride = net.geometry.time_stride
    indices, logits = [], []
    for start in range(0, len(features) - stride + 1, stride):
        out, frame = net.step(features[start:start + stride])
        if out is not None:
            indices.append(frame)
            logits.append(out)
    n_classes = layers[-1].weights.shape[0]
    return (np.array(indices, dtype=np.int64),
            np.array(logits, dtype=np.int8).reshape(-1, n_classes))


def can_stream(layers: list) -> bool:
    """Whether every layer before the pool leaves time unpadded (or is 1x1 in time)."""
    return all(layer.time_padding == "valid" or (layer.weights.shape[1] == 1
                                                 and layer.stride[0] == 1)
               for layer in layers if isinstance(layer, Conv))


def inference_cadence(layers: list, frames: int, configured: int) -> int:
    """Frames between inferences: the network's time stride when it streams (one step per new
    row of its final map), else the configured detector.infer_every_frames."""
    return geometry(layers, frames).time_stride if can_stream(layers) else int(configured)


def stream_features(pcm: np.ndarray, tables, chunk_frames: int = 4096) -> np.ndarray:
    """The golden front end's int8 frames of a whole int16 stream [S] → [frames, n_out]
    (kws.golden.mfcc), computed chunk_frames frames at a time."""
    from kws.golden.detector import n_stream_frames
    from kws.golden.mfcc import frame_clips, mfcc_frames

    total = n_stream_frames(len(pcm), tables)
    parts = [mfcc_frames(frame_clips(pcm[a * tables.stride:
                                         (min(a + chunk_frames, total) - 1) * tables.stride
                                         + tables.window_len], tables), tables)
             for a in range(0, total, chunk_frames)]
    return np.concatenate(parts) if parts else np.zeros((0, tables.n_out), np.int8)


def stream_logits_streamed(pcm: np.ndarray, tables, layers: list, frames: int,
                           chunk_frames: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """The streaming network on an int16 stream [S]: golden MFCC frames (stream_features),
    then stream_logits_streaming. Returns (window-end frame indices, int8 logits) like
    kws.golden.detector.stream_logits at the network's cadence."""
    features = stream_features(pcm, tables, chunk_frames)
    indices, logits = stream_logits_streaming(features, layers, frames)
    keep = indices < len(features)       # windows that end inside the stream, as the loop's
    return indices[keep], logits[keep]


def detect_stream_streamed(pcm: np.ndarray, tables, layers: list, frames: int, settings,
                           chunk_frames: int = 4096) -> list:
    """The wake-word loop on the streaming path (firmware/src/kws_wakeword.c with
    kws_model_step): stream_logits_streamed's windows through a fresh Recognizer. Equal to
    kws.golden.detector.detect_stream at infer_every = time_stride but for windows whose step
    the stream ends inside of: a step runs once its time_stride frames are all in, so those
    (completed at most time_stride - 1 frames before the end) never run."""
    from kws.golden.detector import Recognizer

    indices, logits = stream_logits_streamed(pcm, tables, layers, frames, chunk_frames)
    return Recognizer(settings).push(indices, logits)
