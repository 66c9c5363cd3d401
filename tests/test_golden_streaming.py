"""The streaming twin of the golden network (kws.golden.streaming) gives, at every window of a
stream, the window model's logits bit for bit, for any valid-in-time topology."""
import numpy as np
import pytest
import torch

from kws.errors import KwsError
from kws.golden.network import QuantParams, run_network
from kws.golden.streaming import StreamingNetwork, geometry, stream_logits_streaming
from kws.training.ptq import FloatLayer, convert


def random_network(rng, first_kernel=(9, 4), strides=((2, 1), (2, 2), (1, 1)), c=8,
                   time_padding="valid"):
    torch.manual_seed(int(rng.integers(1 << 30)))
    layers = [FloatLayer("conv", torch.randn(c, 1, *first_kernel), torch.randn(c), strides[0],
                         time_padding)]
    for stride in strides[1:]:
        layers += [FloatLayer("dwconv", torch.randn(c, 1, 3, 3), torch.randn(c), stride,
                              time_padding),
                   FloatLayer("conv", torch.randn(c, c, 1, 1), torch.randn(c), (1, 1),
                              time_padding)]
    layers += [FloatLayer("avgpool", None, None), FloatLayer("dense", torch.randn(5, c),
                                                             torch.randn(5))]
    n_conv = len(layers) - 2
    ranges = [(0.0, float(rng.uniform(2, 40))) for _ in range(n_conv)] + [(0.0, 1.0)] + \
        [(-float(rng.uniform(1, 20)), float(rng.uniform(1, 20)))]
    return convert(layers, ranges, QuantParams(float(rng.uniform(0.1, 1)),
                                               int(rng.integers(-128, 128))))


@pytest.mark.parametrize("first_kernel, strides, window", [
    ((9, 4), ((2, 1), (2, 2), (1, 1)), 49),       # the default student's shape: lag 0
    ((10, 4), ((2, 1), (2, 2), (1, 1)), 49),      # lag 3: the last 3 frames are never read
    ((5, 3), ((1, 1), (3, 1), (2, 1)), 49),       # odd strides, stride 6 in time
    ((5, 4), ((2, 1), (2, 2), (1, 1)), 74),       # a 1.5 s window (data.clip_ms=1500)
])
def test_every_streaming_window_equals_the_window_model(first_kernel, strides, window):
    rng = np.random.default_rng(sum(first_kernel))
    layers = random_network(rng, first_kernel, strides)
    features = rng.integers(-128, 128, size=(300, 10)).astype(np.int8)
    frames, logits = stream_logits_streaming(features, layers, window)
    g = geometry(layers, window)
    assert len(frames) > 30 and frames[0] == window - 1
    assert np.all(np.diff(frames) == g.time_stride)
    for t, streamed in zip(frames, logits):
        # with lag > 0 the last window may end past the stream: its last frames are not read
        window_in = np.pad(features, ((0, g.lag), (0, 0)))[t - window + 1:t + 1]
        assert np.array_equal(run_network(layers, window_in[None, ..., None])[0], streamed), t


def test_a_reset_mid_stream_equals_a_fresh_start():
    rng = np.random.default_rng(3)
    layers = random_network(rng)
    features = rng.integers(-128, 128, size=(200, 10)).astype(np.int8)
    net = StreamingNetwork(layers, 49)
    for k in range(10):
        net.step(features[4 * k:4 * k + 4])
    net.reset()
    fresh = StreamingNetwork(layers, 49)
    for k in range(40):
        chunk = features[100 + 4 * k:104 + 4 * k] if 104 + 4 * k <= 200 else None
        if chunk is None:
            break
        a, b = net.step(chunk), fresh.step(chunk)
        assert (a[1] == b[1]) and (a[0] is None) == (b[0] is None)
        assert a[0] is None or np.array_equal(a[0], b[0])


def test_padding_in_time_cannot_stream():
    layers = random_network(np.random.default_rng(0), time_padding="same")
    with pytest.raises(KwsError, match="time_padding"):
        StreamingNetwork(layers, 49)


def test_geometry_of_the_default_student():
    g = geometry(random_network(np.random.default_rng(0),
                                strides=((2, 1), (2, 2), (1, 1), (1, 1), (1, 1))), 49)
    assert (g.time_stride, g.final_rows, g.lag) == (4, 4, 0)
