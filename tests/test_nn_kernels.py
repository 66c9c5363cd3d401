"""The C int8 kernels (firmware/src/nn/, built with ASan + UBSan) equal the numpy golden
model (kws/golden/network.py) exactly, on random layers and on the edges of every range."""
from __future__ import annotations

import dataclasses
import itertools
import subprocess

import numpy as np
import pytest

from kws.errors import KwsError
from kws.golden.network import (AvgPool, Conv, Dense, QuantParams, conv_accumulators, run_avgpool,
                        run_layer)
from kws.toolchain.nn_harness import (Kind, NnCase, build_nn_tool, layer_case, run_cases, run_layer_c,
                         run_layers_c)

INT32_MAX = 2**31 - 1
MAX_TERM = 255 * 127                  # |(x - zp) * w| at most: x - zp in [-255, 255]
# (input zero point, output zero point): the extremes in every combination, and a middling one
ZERO_POINTS = [(-128, 127), (127, -128), (-128, -128), (127, 127), (5, -3)]


@pytest.fixture(scope="module")
def tool(tmp_path_factory):
    return build_nn_tool(tmp_path_factory.mktemp("nn_c"), sanitize=True)


# ---- random layers ---------------------------------------------------------------------------

def _inputs(rng, shape) -> np.ndarray:
    """A batch of three: random int8, all -128, all 127 (with extreme zero points, x - zp hits
    both -255 and 255)."""
    return np.stack([rng.integers(-128, 128, shape), np.full(shape, -128),
                     np.full(shape, 127)]).astype(np.int8)


def _biases(rng, n: int, taps: int, big: bool) -> np.ndarray:
    """Small biases, or large ones up to the most that keeps every partial sum in int32."""
    if not big:
        return rng.integers(-2**15, 2**15, n).astype(np.int32)
    bound = INT32_MAX - taps * MAX_TERM
    return np.array([[bound, -bound][i % 2] if i % 3 == 0 else rng.integers(-bound, bound + 1)
                     for i in range(n)], dtype=np.int32)


def _shifts(rng, acc: np.ndarray) -> np.ndarray:
    """Per-channel shifts for accumulators acc [..., C]: mostly ones that bring outputs into the
    int8 range, some from the whole range (negative, zero, small positive), always capped so
    that acc * 2^shift fits int32 (kws_nn.h's contract)."""
    peak = np.abs(acc.reshape(-1, acc.shape[-1])).max(axis=0)
    shifts = []
    for p in peak:
        p = int(p)
        fit = 7 - p.bit_length() + int(rng.integers(-2, 3))
        s = fit if rng.random() < 0.6 else int(rng.choice([-31, -17, -5, -1, 0, 0, 1, 2, 4]))
        cap = 30 if p == 0 else max(s_ for s_ in range(0, 31) if p << s_ <= INT32_MAX)
        shifts.append(min(max(s, -31), cap))
    return np.array(shifts, dtype=np.int32)


def _act(rng, mode: int, out_zp: int) -> tuple[int, int]:
    if mode == 0:
        return -128, 127
    if mode == 1:
        return out_zp, 127                                     # fused ReLU
    lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
    return lo, hi                                              # an arbitrary clamp


def _conv(rng, x, cout, kernel, stride, depthwise, in_zp, out_zp, act, big_bias,
          time_padding="same") -> Conv:
    c = x.shape[-1]
    cout = c if depthwise else cout
    kh, kw = kernel
    weights = rng.integers(-127, 128, (cout, kh, kw, 1 if depthwise else c)).astype(np.int8)
    taps = kh * kw * (1 if depthwise else c)
    layer = Conv("c", weights, _biases(rng, cout, taps, big_bias),
                 rng.integers(2**30, 2**31, cout).astype(np.int32), np.zeros(cout, np.int32),
                 tuple(stride), depthwise, QuantParams(0.1, in_zp), QuantParams(0.1, out_zp),
                 *act, time_padding=time_padding)
    acc = conv_accumulators(layer, x)
    assert np.abs(acc).max() <= INT32_MAX                      # the generator's own contract
    layer.shift = _shifts(rng, acc)
    return layer


def _conv_jobs(rng, shapes, depthwise: bool, time_padding: str = "same"):
    jobs = []
    for i, (h, w, c, cout, kh, kw, sh, sw) in enumerate(shapes):
        for j, (in_zp, out_zp) in enumerate(ZERO_POINTS):
            x = _inputs(rng, (h, w, c))
            act = _act(rng, (i + j) % 3, out_zp)
            jobs.append((_conv(rng, x, cout, (kh, kw), (sh, sw), depthwise, in_zp, out_zp, act,
                               big_bias=(i + j) % 2 == 1, time_padding=time_padding), x))
    return jobs


def _check(tool, jobs):
    """C == golden on every job; returns the fraction of outputs strictly inside the clamp (the
    tests assert it is substantial, so they do not just compare saturated values)."""
    outs = run_layers_c(tool, jobs)
    inside = total = 0
    for (layer, x), out in zip(jobs, outs):
        want = run_layer(layer, x)
        assert out.shape == want.shape and out.dtype == np.int8
        assert np.array_equal(out, want), f"{layer} differs on {x.shape}"
        lo, hi = getattr(layer, "act_min", -128), getattr(layer, "act_max", 127)
        inside += int(((want > lo) & (want < hi)).sum())
        total += want.size
    return inside / total


# (h, w, c, cout, kernel_h, kernel_w, stride_h, stride_w)
CONV_SHAPES = [
    (7, 5, 3, 4, 3, 3, 1, 1),
    (7, 5, 3, 5, 3, 3, 2, 2),
    (9, 6, 2, 3, 3, 3, 2, 1),
    (6, 9, 3, 2, 3, 3, 1, 2),
    (13, 7, 1, 6, 10, 4, 2, 2),       # the DS-CNN's first layer, small
    (11, 5, 1, 3, 10, 4, 1, 1),
    (5, 8, 3, 3, 1, 5, 1, 1),         # 1 x k
    (8, 5, 2, 3, 5, 1, 2, 1),         # k x 1
    (5, 7, 3, 4, 1, 1, 2, 2),         # 1x1 with a stride: the general kernel
    (5, 7, 3, 4, 1, 1, 1, 2),
    (3, 2, 2, 3, 5, 7, 1, 1),         # kernel larger than the input
    (2, 3, 3, 2, 7, 5, 2, 2),
    (1, 1, 5, 3, 3, 3, 1, 1),
    (4, 4, 4, 3, 4, 4, 3, 3),         # even kernel, stride 3
]

# depthwise: c covers the 4-channel blocks and the 1..3 channel tail
DW_SHAPES = [
    (7, 5, 4, 0, 3, 3, 1, 1),
    (7, 5, 9, 0, 3, 3, 2, 2),
    (9, 6, 3, 0, 3, 3, 2, 1),
    (6, 9, 5, 0, 3, 3, 1, 2),
    (13, 7, 1, 0, 10, 4, 2, 2),
    (5, 8, 6, 0, 1, 5, 1, 1),
    (8, 5, 7, 0, 5, 1, 2, 1),
    (5, 7, 8, 0, 1, 1, 1, 1),
    (5, 7, 2, 0, 1, 1, 2, 2),
    (3, 2, 5, 0, 5, 7, 1, 1),
    (2, 3, 4, 0, 7, 5, 2, 2),
    (1, 1, 3, 0, 3, 3, 1, 1),
]

# pointwise (1x1, stride 1): odd and even pixel counts
PW_SHAPES = [(5, 7, 3, 4), (4, 4, 8, 6), (1, 1, 1, 1), (3, 5, 16, 9), (2, 3, 1, 7), (1, 2, 5, 3)]


def test_conv_equals_golden(tool):
    jobs = _conv_jobs(np.random.default_rng(1), CONV_SHAPES, depthwise=False)
    assert all(layer_case(*job).kind == Kind.CONV for job in jobs)
    assert _check(tool, jobs) > 0.15


def test_depthwise_equals_golden(tool):
    jobs = _conv_jobs(np.random.default_rng(2), DW_SHAPES, depthwise=True)
    assert all(layer_case(*job).kind == Kind.DWCONV for job in jobs)
    assert _check(tool, jobs) > 0.15


# valid in time (no padding along H; W stays TF "same"): kernel_h <= h. The kernel_h-row
# windows a streaming step runs (h == kernel_h: one output row) and whole maps, strided or not.
VALID_SHAPES = [
    (5, 10, 1, 8, 5, 4, 2, 1),        # a streaming step's first layer: 5 rows -> 1
    (9, 10, 1, 8, 9, 4, 2, 1),        # ... of a 9x4 kernel: 10 pixels of 36 taps, two tiles
    (6, 10, 1, 8, 5, 4, 2, 1),        # 6 rows, stride 2 -> 1 (the last row unused)
    (9, 10, 1, 4, 5, 4, 2, 1),        # whole map: 3 rows
    (13, 7, 1, 6, 10, 4, 2, 2),
    (3, 5, 4, 3, 3, 3, 1, 1),
    (7, 5, 3, 5, 3, 3, 2, 2),
    (2, 3, 3, 2, 2, 5, 1, 2),         # kernel wider than the input along W (padded there)
    (4, 4, 4, 3, 4, 4, 3, 3),
]
VALID_DW_SHAPES = [
    (3, 5, 64, 0, 3, 3, 1, 1),        # a streaming step's depthwise window: 3 rows -> 1
    (3, 10, 8, 0, 3, 3, 2, 2),
    (4, 10, 8, 0, 3, 3, 2, 2),
    (11, 5, 9, 0, 3, 3, 1, 1),        # whole map, the tail channels
    (9, 6, 3, 0, 3, 3, 2, 1),
    (5, 8, 6, 0, 5, 1, 1, 1),
    (7, 2, 5, 0, 5, 7, 1, 1),         # kernel wider than the input along W
    (6, 4, 4, 0, 6, 3, 1, 1),         # 18 taps
    (6, 4, 4, 0, 6, 5, 1, 1),         # 30 taps: more than the DSP path unpacks
]


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "depthwise"])
def test_valid_in_time_equals_golden(tool, depthwise):
    shapes = VALID_DW_SHAPES if depthwise else VALID_SHAPES
    jobs = _conv_jobs(np.random.default_rng(11 + depthwise), shapes, depthwise, "valid")
    for layer, x in jobs:
        case = layer_case(layer, x)
        assert case.kind == (Kind.DWCONV if depthwise else Kind.CONV)
        assert case.pad[0] == 0 and case.out_dims[0] == (x.shape[1] - layer.weights.shape[1]) \
            // layer.stride[0] + 1
    assert _check(tool, jobs) > 0.15


def test_pointwise_equals_golden(tool):
    shapes = [(h, w, c, cout, 1, 1, 1, 1) for h, w, c, cout in PW_SHAPES]
    jobs = _conv_jobs(np.random.default_rng(3), shapes, depthwise=False)
    assert all(layer_case(*job).kind == Kind.PWCONV for job in jobs)
    assert _check(tool, jobs) > 0.15


def test_requantised_values_at_the_int32_limit_clamp_without_overflow(tool):
    """acc * 2^shift at +-(2^31 - 1) with a multiplier near 1 and the output zero point at 127
    or -128: the requantised value plus the zero point leaves int32 unless the C clamps first."""
    jobs = []
    for out_zp, sign in itertools.product((127, -128), (1, -1)):
        x = np.zeros((1, 1, 1, 1), np.int8)
        for shift, bias in ((0, sign * INT32_MAX), (3, sign * (INT32_MAX >> 3))):
            layer = Conv("c", np.ones((1, 1, 1, 1), np.int8), np.array([bias], np.int32),
                         np.array([INT32_MAX], np.int32), np.array([shift], np.int32), (1, 1),
                         False, QuantParams(1.0, 0), QuantParams(1.0, out_zp))
            jobs.append((layer, x))
            dw = dataclasses.replace(layer, depthwise=True, stride=(2, 1))
            jobs.append((dw, x))
    # a multiplier of 0 (quantize_multiplier's answer for a negligible scale): out = zero point
    dead = Conv("c", np.ones((2, 1, 1, 1), np.int8), np.array([INT32_MAX - 255, -7], np.int32),
                np.zeros(2, np.int32), np.zeros(2, np.int32), (1, 1), False,
                QuantParams(1.0, -128), QuantParams(1.0, 9))
    jobs.append((dead, np.full((1, 2, 3, 1), 127, np.int8)))
    jobs.append((Dense("d", np.ones((1, 1), np.int8), np.array([INT32_MAX - 255 * 127], np.int32),
                       INT32_MAX, 0, QuantParams(1.0, -128), QuantParams(1.0, 127)),
                 np.full((1, 1), 127, np.int8)))
    _check(tool, jobs)


# ---- average pool ----------------------------------------------------------------------------

def _ties(rng, h, w, c) -> np.ndarray:
    """[h, w, c] whose channel means are exactly a + 0.5 (h*w even): half the values a, half
    a + 1, shuffled; a covers both signs and the int8 ends."""
    count = h * w
    lows = [-128, -2, -1, 0, 1, 126] + [int(v) for v in rng.integers(-128, 127, c)]
    x = np.empty((count, c), np.int8)
    for ch in range(c):
        col = np.repeat([lows[ch], lows[ch] + 1], count // 2)
        x[:, ch] = rng.permutation(col)
    return x.reshape(h, w, c)


def test_avgpool_equals_golden_with_ties_and_extremes(tool):
    rng = np.random.default_rng(5)
    jobs = []
    ties = 0
    for h, w, c in [(1, 1, 3), (2, 1, 7), (2, 2, 8), (3, 5, 5), (4, 6, 9), (25, 5, 4), (49, 10, 2)]:
        x = [rng.integers(-128, 128, (h, w, c)), np.full((h, w, c), -128), np.full((h, w, c), 127),
             rng.integers(-128, -100, (h, w, c)), rng.integers(100, 128, (h, w, c))]
        if h * w % 2 == 0:
            tie = _ties(rng, h, w, max(c, 6))[..., :c]
            x.append(tie)
            total = tie.astype(np.int64).sum(axis=(0, 1))
            assert np.all(2 * total % (2 * h * w) == h * w)             # exactly a + 0.5
            ties += c
        x = np.stack(x).astype(np.int8)
        jobs.append((AvgPool("p", QuantParams(0.1, 3)), x))
    assert ties >= 20
    _check(tool, jobs)
    # by hand: 0.5 -> 1, -0.5 -> -1, 126.5 -> 127, -127.5 -> -128, -1.5 -> -2
    x = np.array([[0, 1], [-1, 0], [126, 127], [-128, -127], [-1, -2]], np.int8).T
    x = x.reshape(1, 2, 1, 5)
    assert run_layer_c(tool, AvgPool("p", QuantParams(0.1, 0)), x).tolist() == \
        [[1, -1, 127, -128, -2]]
    assert np.array_equal(run_avgpool(AvgPool("p", QuantParams(0.1, 0)), x),
                          [[1, -1, 127, -128, -2]])


# ---- dense -----------------------------------------------------------------------------------

def test_dense_equals_golden(tool):
    rng = np.random.default_rng(6)
    jobs = []
    for i, (in_n, out_n) in enumerate([(1, 1), (7, 3), (64, 12), (33, 5), (250, 2), (5, 40)]):
        for j, (in_zp, out_zp) in enumerate(ZERO_POINTS):
            x = _inputs(rng, (in_n,))
            w = rng.integers(-127, 128, (out_n, in_n)).astype(np.int8)
            bias = _biases(rng, out_n, in_n, big=(i + j) % 2 == 1)
            acc = (x.astype(np.int64) - in_zp) @ w.astype(np.int64).T + bias
            shift = int(_shifts(rng, acc.reshape(-1, 1))[0])     # per tensor
            jobs.append((Dense("d", w, bias, int(rng.integers(2**30, 2**31)), shift,
                               QuantParams(0.1, in_zp), QuantParams(0.1, out_zp)), x))
    assert _check(tool, jobs) > 0.15


def test_layer_api_handles_shapes_and_empty_batches(tool):
    rng = np.random.default_rng(7)
    layer = _conv(rng, _inputs(rng, (3, 3, 2)), 4, (3, 3), (2, 2), False, 0, 0, (-128, 127),
                  False)
    out = run_layer_c(tool, layer, np.zeros((0, 3, 3, 2), np.int8))
    assert out.shape == (0, 2, 2, 4)
    with pytest.raises(ValueError):
        layer_case(layer, np.zeros((1, 3, 3, 5), np.int8))        # channels do not match


# ---- argument checks -------------------------------------------------------------------------

def _base_cases() -> dict[str, NnCase]:
    rng = np.random.default_rng(8)
    x = _inputs(rng, (5, 4, 3))[:1]
    conv = _conv(rng, x, 2, (3, 3), (2, 1), False, 0, 0, (-128, 127), False)
    dw = _conv(rng, x, 3, (3, 3), (1, 1), True, 0, 0, (-128, 127), False)
    pw = _conv(rng, x, 2, (1, 1), (1, 1), False, 0, 0, (-128, 127), False)
    fc = Dense("d", np.ones((2, 3), np.int8), np.zeros(2, np.int32), 2**30, 0,
               QuantParams(1.0, 0), QuantParams(1.0, 0))
    return {"conv": layer_case(conv, x), "dw": layer_case(dw, x), "pw": layer_case(pw, x),
            "avgpool": layer_case(AvgPool("p", QuantParams(1.0, 0)), x),
            "fc": layer_case(fc, np.zeros((1, 3), np.int8))}


BAD_ARGUMENTS = [
    ("conv", dict(out_dims=(4, 4, 2))),                 # out_h != ceil(5 / 2)
    ("conv", dict(out_dims=(3, 3, 2))),                 # out_w != ceil(4 / 1)
    ("conv", dict(pad=(0, 1))),                         # not TF same padding
    ("conv", dict(pad=(1, 0))),
    ("conv", dict(out_dims=(2, 4, 2), pad=(1, 1))),     # valid rows but padded at the top
    ("conv", dict(out_dims=(1, 4, 2), pad=(0, 1))),     # neither same (3) nor valid (2) rows
    ("conv", dict(stride=(0, 1))),
    ("conv", dict(kernel=(0, 3), pad=(0, 1))),
    ("conv", dict(bias=None)),                          # NULL pointers
    ("conv", dict(weights=None)),
    ("conv", dict(multiplier=None, shift=None)),
    ("conv", dict(input=np.zeros((1, 0), np.int8))),
    ("conv", dict(shift=np.array([0, 31]))),            # shift out of [-31, 30]
    ("conv", dict(shift=np.array([-32, 0]))),
    ("conv", dict(multiplier=np.array([2**30, -1]))),
    ("conv", dict(act_min=10, act_max=9)),
    ("conv", dict(act_min=-129)),
    ("conv", dict(input_offset=129)),
    ("conv", dict(output_offset=128)),
    ("conv", dict(in_dims=(5, 4, 0), weights=None)),
    ("dw", dict(out_dims=(5, 4, 2))),                   # out.c != in.c
    ("dw", dict(out_dims=(5, 3, 3))),
    ("dw", dict(bias=None)),
    ("dw", dict(kernel=(7, 3), out_dims=(1, 4, 3), pad=(0, 1),      # valid: kernel taller than h
                weights=np.ones((7, 3, 3), np.int8))),
    ("pw", dict(out_dims=(5, 4, 0))),                   # out_c = 0
    ("pw", dict(in_dims=(-5, 4, 3))),
    ("pw", dict(shift=np.array([30, 31]))),
    ("pw", dict(shift=np.array([0, -2**31]))),        # int32 extremes of the shift
    ("pw", dict(shift=np.array([2**31 - 1, 0]))),
    ("avgpool", dict(in_dims=(5, 4, 0))),
    ("avgpool", dict(input=np.zeros((1, 0), np.int8))),
    ("fc", dict(multiplier=np.array([-1]))),
    ("fc", dict(shift=np.array([31]))),
    ("fc", dict(in_dims=(1, 1, 0), input=np.zeros((1, 1), np.int8))),
    ("fc", dict(bias=None)),
    ("fc", dict(act_max=128)),
]


def test_valid_base_cases_run(tool):
    outs = run_cases(tool, list(_base_cases().values()))
    assert [o.shape for o in outs] == [(1, 3 * 4 * 2), (1, 5 * 4 * 3), (1, 5 * 4 * 2), (1, 3),
                                       (1, 2)]


@pytest.mark.parametrize("kind,change", BAD_ARGUMENTS,
                         ids=[f"{k}-{'-'.join(c)}" for k, c in BAD_ARGUMENTS])
def test_bad_argument_returns_error_status(tool, kind, change):
    case = dataclasses.replace(_base_cases()[kind], **change)
    with pytest.raises(KwsError, match=r"(?s)exit 1\).*KWS_ERR_ARG"):
        run_cases(tool, [case])


def test_harness_rejects_a_truncated_file(tool, tmp_path):
    data = _base_cases()["conv"].encode()
    (tmp_path / "cases.bin").write_bytes(data[:-1])
    proc = subprocess.run([str(tool), str(tmp_path / "cases.bin"), str(tmp_path / "out.raw")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "ends early" in proc.stderr
