"""The golden int8 network on hand-computed integer examples, and PTQ on a trained model."""
import numpy as np
import pytest

from kws.golden.network import AvgPool, Conv, Dense, QuantParams, run_avgpool, run_conv, run_dense
from kws.golden.intmath import requantize

HALF = 1 << 30                                    # 0.5 as a Q31 multiplier


def test_requantize_ties_and_negative_shifts_by_hand():
    # multiplier 0.5, shift 0: the doubling high multiply rounds half up (toward +inf)
    assert list(requantize(np.array([3, -3, 1, -1]), HALF, 0)) == [2, -1, 1, 0]
    # multiplier 0.5, shift -1 (x 0.25): then the divide rounds half away from zero
    #   5 -> high mult 3 -> 3/2 = 1.5 -> 2;   -5 -> -2 -> -1;   6 -> 3 -> 2;   -6 -> -3 -> -2
    assert list(requantize(np.array([5, -5, 6, -6]), HALF, -1)) == [2, -1, 2, -2]
    # positive shift: a left shift before the multiply (x 0.5 * 2 = x 1)
    assert list(requantize(np.array([7, -7]), HALF, 1)) == [7, -7]


def _conv_1x1(weights, bias, in_zp=0, out_zp=0, multiplier=HALF, shift=0, act=(-128, 127)):
    cout = len(bias)
    return Conv("c", np.array(weights, dtype=np.int8).reshape(cout, 1, 1, -1),
                np.array(bias, dtype=np.int32), np.full(cout, multiplier, dtype=np.int32),
                np.full(cout, shift, dtype=np.int32), (1, 1), False,
                QuantParams(1.0, in_zp), QuantParams(1.0, out_zp), act[0], act[1])


def test_pointwise_conv_by_hand_with_zero_points_and_saturation():
    layer = _conv_1x1([[1, 2], [127, 127]], [1, 0], in_zp=-1, out_zp=3)
    x = np.array([[[[4, -2]]], [[[127, 127]]]], dtype=np.int8)     # [N=2, 1, 1, C=2]
    out = run_conv(layer, x)
    # clip 0: ch0 acc = (4+1)*1 + (-2+1)*2 + 1 = 4 -> 4*0.5 = 2 -> +3 = 5
    #         ch1 acc = 5*127 + (-1)*127 = 508 -> 254 -> 257 -> saturates at 127
    # clip 1: ch0 acc = 128 + 256 + 1 = 385 -> 192.5 -> 193 -> 196 -> 127
    assert out.reshape(2, 2).tolist() == [[5, 127], [127, 127]]
    relu = _conv_1x1([[-1]], [0], out_zp=-5, act=(-5, 127))          # fused ReLU at the zp
    assert run_conv(relu, np.array([[[[100]]]], dtype=np.int8)).item() == -5


def test_depthwise_same_padding_counts_padded_inputs_as_zero_point():
    w = np.ones((1, 3, 3, 1), dtype=np.int8)
    layer = Conv("dw", w, np.zeros(1, dtype=np.int32), np.array([HALF], dtype=np.int32),
                 np.array([1], dtype=np.int32), (1, 1), True, QuantParams(1.0, 10),
                 QuantParams(1.0, 0))
    x = np.full((1, 2, 2, 1), 12, dtype=np.int8)                   # every input is zp + 2
    out = run_conv(layer, x).reshape(2, 2)
    # each 3x3 window over a 2x2 map sees the 4 real inputs: 4 * 2 = 8 (padding adds 0)
    assert out.tolist() == [[8, 8], [8, 8]]


def test_average_pool_rounds_half_away_from_zero():
    pool = AvgPool("p", QuantParams(1.0, 0))
    x = np.array([1, 2, 0, 0, -1, -2, 0, 0, 127, 127, 127, 126], dtype=np.int8)
    out = run_avgpool(pool, x.reshape(3, 2, 2, 1))
    assert out.ravel().tolist() == [1, -1, 127]                      # 0.75 -> 1, -0.75 -> -1


def test_dense_by_hand():
    layer = Dense("fc", np.array([[2, -3]], dtype=np.int8), np.array([-4], dtype=np.int32),
                  HALF, 0, QuantParams(1.0, 1), QuantParams(1.0, -128))
    # (5-1)*2 + (3-1)*(-3) - 4 = -2 -> -1 -> -129 -> saturates at -128
    assert run_dense(layer, np.array([[5, 3]], dtype=np.int8)).item() == -128


@pytest.mark.parametrize("time_padding", ["same", "valid"])
def test_golden_equals_tflite_micro_on_random_networks(time_padding):
    """Random weights, zero points and inputs: the interpreter's int8 outputs equal ours (with no
    padding in time, the .tflite pads frequency with a PAD op before each VALID conv)."""
    from kws.training.ptq import FloatLayer, convert
    from kws.golden.network import run_network
    from kws.emit.tflite import run_tflm, to_tflite
    import torch
    rng = np.random.default_rng(0)
    for trial in range(3):
        c = int(rng.choice([4, 8, 12]))
        layers = [FloatLayer("conv", torch.randn(c, 1, 5, 3), torch.randn(c), (2, 1), time_padding),
                  FloatLayer("dwconv", torch.randn(c, 1, 3, 3), torch.randn(c), (2, 2),
                             time_padding),
                  FloatLayer("conv", torch.randn(c, c, 1, 1), torch.randn(c), (1, 1), time_padding),
                  FloatLayer("avgpool", None, None),
                  FloatLayer("dense", torch.randn(5, c), torch.randn(5))]
        ranges = [(0.0, float(rng.uniform(2, 40))) for _ in range(3)] + [(0.0, 1.0)] + \
            [(-float(rng.uniform(1, 30)), float(rng.uniform(1, 30)))]
        golden = convert(layers, ranges, QuantParams(float(rng.uniform(0.05, 1.0)),
                                                     int(rng.integers(-128, 128))))
        x = rng.integers(-128, 128, size=(40, 13, 7, 1)).astype(np.int8)
        assert np.array_equal(run_tflm(to_tflite(golden, (13, 7)), x), run_network(golden, x))
        if time_padding == "valid":     # 13 rows → 5 → 2: no row is padded
            assert run_network(golden, x, keep=True)[1].shape[1] == 2


def test_valid_time_padding_uses_only_rows_that_fit():
    layer = Conv("c", np.ones((1, 3, 1, 1), np.int8), np.zeros(1, np.int32),
                 np.array([2**30], np.int32), np.array([0], np.int32), (1, 1), False,
                 QuantParams(1.0, 0), QuantParams(1.0, 0), time_padding="valid")
    x = np.arange(5, dtype=np.int8).reshape(1, 5, 1, 1)
    # rows 0+1+2, 1+2+3, 2+3+4 at multiplier 1/2: 1.5 → 2, 3, 4.5 → 5 (half away from zero)
    assert run_conv(layer, x)[0, :, 0, 0].tolist() == [2, 3, 5]
