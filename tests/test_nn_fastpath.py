"""The int8 kernels on the Cortex-M itself equal the golden model exactly: the DSP (SIMD) path of
firmware/src/nn/ on mps2-an386 (Cortex-M4F) and its portable path on mps2-an385 (Cortex-M3),
both under QEMU, on random layers (odd channel counts, every stride, kernels wider than the input,
windows on both sides of the im2col limit, extreme zero points, shifts and biases) with inputs
at unaligned addresses. Also, on the host with ASan/UBSan, the shapes the other kernel tests do not
reach (the direct convolution loop for windows above the im2col limit, wide pointwise layers).

Harness: firmware/tests/target/nn_cases_main.c with the cases generated as C (in flash)."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from kws.toolchain import cortex_m as target
from kws.toolchain import sources
from kws.golden.network import AvgPool, Conv, Dense, QuantParams, run_layer
from kws.toolchain.results import read_results
from kws.toolchain.nn_harness import (build_nn_tool, layer_case, run_layers_c,
                                     write_target_cases as write_cases)
from test_nn_kernels import (INT32_MAX, VALID_DW_SHAPES, VALID_SHAPES, ZERO_POINTS, _act, _biases,
                             _conv, _inputs, _shifts, _ties)

IM2COL_TAPS = 64                      # KWS_CONV_COL_TAPS in src/nn/kws_conv2d_s8.c

# (h, w, c, cout, kernel_h, kernel_w, stride_h, stride_w)
CONV_SHAPES = [
    (13, 7, 1, 6, 10, 4, 2, 2),       # the DS-CNN's first layer, small
    (49, 10, 1, 5, 10, 4, 2, 2),      # ... at full size, 5 channels
    (7, 5, 3, 5, 3, 3, 2, 2),         # 27 taps: not a multiple of 4
    (9, 6, 2, 3, 3, 3, 2, 1),
    (6, 9, 3, 2, 3, 3, 1, 2),
    (5, 8, 3, 3, 1, 5, 1, 1),
    (8, 5, 2, 3, 5, 1, 2, 1),
    (5, 7, 3, 4, 1, 1, 2, 2),         # 1x1 with a stride: a convolution, not a pointwise
    (3, 2, 2, 3, 5, 7, 1, 1),         # kernel larger than the input
    (4, 4, 4, 3, 4, 4, 3, 3),
    (1, 1, 5, 3, 3, 3, 1, 1),
    (7, 7, 1, 3, 8, 8, 1, 1),         # exactly IM2COL_TAPS taps
    (9, 8, 4, 3, 4, 4, 2, 2),         # 64 taps, 4 input channels
    (6, 6, 5, 3, 3, 5, 1, 1),         # 75 taps: the direct loop
    (6, 5, 16, 5, 3, 3, 1, 1),        # 144 taps: the direct loop
    (5, 4, 5, 3, 5, 6, 2, 1),         # 150 taps, stride: the direct loop
    (4, 5, 33, 2, 2, 2, 2, 2),        # 132 taps, odd run lengths: the direct loop
    # tiled maps (kws_conv2d_s8.c conv_tiled: chunks of <= 512 taps, taps % 4 == 0): padding on
    # every side, tiles of 4, 4, 3 pixels, one pixel per tile, the largest map it takes
    (3, 4, 4, 5, 3, 3, 1, 1), (1, 11, 4, 3, 1, 4, 1, 1), (2, 2, 2, 3, 2, 4, 2, 2),
    (4, 4, 2, 3, 4, 4, 1, 1), (2, 11, 1, 4, 2, 2, 1, 1),
]
DW_SHAPES = [
    (7, 5, 4, 0, 3, 3, 1, 1),
    (7, 5, 9, 0, 3, 3, 2, 2),
    (9, 6, 3, 0, 3, 3, 2, 1),
    (6, 9, 5, 0, 3, 3, 1, 2),
    (13, 7, 1, 0, 10, 4, 2, 2),
    (5, 8, 6, 0, 1, 5, 1, 1),
    (8, 5, 7, 0, 5, 1, 2, 1),
    (5, 7, 8, 0, 1, 1, 1, 1),
    (3, 2, 5, 0, 5, 7, 1, 1),
    (2, 3, 4, 0, 7, 5, 2, 2),
    (25, 5, 12, 0, 3, 3, 1, 1),       # the DS-CNN's depthwise shape, fewer channels
    (6, 6, 14, 0, 3, 3, 1, 1),
    (5, 6, 11, 0, 2, 3, 1, 1),        # even kernel height
    # 3x3 stride 1 (kws_dwconv2d_s8.c dw3_run): rows of 1, 2, 3, 7 and 9 outputs (chunks of
    # 4, 2, 1), the fewest rows (KWS_DW3_MIN_ROWS), bands (3 of 7 columns), rows too wide
    (4, 1, 4, 0, 3, 3, 1, 1), (3, 2, 8, 0, 3, 3, 1, 1), (5, 3, 5, 0, 3, 3, 1, 1),
    (3, 7, 4, 0, 3, 3, 1, 1), (9, 9, 4, 0, 3, 3, 1, 1), (40, 7, 4, 0, 3, 3, 1, 1),
    (3, 45, 4, 0, 3, 3, 1, 1),
]
PW_SHAPES = [(5, 7, 3, 4), (4, 4, 8, 6), (1, 1, 1, 1), (3, 5, 16, 9), (2, 3, 1, 7), (1, 2, 5, 3),
             (5, 5, 64, 8), (3, 3, 13, 5), (2, 2, 12, 2), (1, 3, 7, 3), (4, 3, 33, 5),
             (3, 1, 9, 1), (2, 5, 20, 3), (3, 3, 4, 2),
             (3, 2, 150, 5), (2, 3, 130, 3),  # more than one 64-tap weight chunk
             (3, 11, 5, 3), (5, 13, 6, 2),    # 33 and 65 pixels: a last run of one pixel
             (1, 5, 64, 64),                  # a streaming step's row: one tile of 5 pixels
             # tiled rows (kws_pwconv2d_s8.c matmul_tiled): tiles of 1..5 pixels, one group of
             # 4 taps and odd group counts, the largest row it takes, and rows just past it
             (1, 2, 4, 3), (1, 3, 8, 5), (1, 4, 12, 2), (1, 6, 20, 3), (1, 7, 28, 4),
             (2, 4, 16, 3), (1, 10, 48, 5), (1, 8, 64, 3), (1, 11, 48, 2), (1, 5, 6, 3)]
FC_SHAPES = [(1, 1), (7, 3), (64, 12), (33, 5), (250, 2), (5, 40), (12, 7), (8, 1)]


def _conv_jobs(rng, shapes, depthwise: bool, combos: int, time_padding: str = "same") -> list:
    jobs = []
    for i, (h, w, c, cout, kh, kw, sh, sw) in enumerate(shapes):
        for j in range(combos):
            in_zp, out_zp = ZERO_POINTS[(i + j) % len(ZERO_POINTS)]
            x = _inputs(rng, (h, w, c))
            act = _act(rng, (i + j) % 3, out_zp)
            jobs.append((_conv(rng, x, cout, (kh, kw), (sh, sw), depthwise, in_zp, out_zp, act,
                               big_bias=(i + j) % 2 == 1, time_padding=time_padding), x))
    return jobs


def _dense_jobs(rng, combos: int) -> list:
    jobs = []
    for i, (in_n, out_n) in enumerate(FC_SHAPES):
        for j in range(combos):
            in_zp, out_zp = ZERO_POINTS[(i + j) % len(ZERO_POINTS)]
            x = _inputs(rng, (in_n,))
            w = rng.integers(-127, 128, (out_n, in_n)).astype(np.int8)
            bias = _biases(rng, out_n, in_n, big=(i + j) % 2 == 1)
            acc = (x.astype(np.int64) - in_zp) @ w.astype(np.int64).T + bias
            shift = int(_shifts(rng, acc.reshape(-1, 1))[0])
            jobs.append((Dense("d", w, bias, int(rng.integers(2**30, 2**31)), shift,
                               QuantParams(0.1, in_zp), QuantParams(0.1, out_zp)), x))
    return jobs


def _limit_jobs() -> list:
    """Requantisation at the int32 limits, multipliers of 0 and 2^31 - 1, positive shifts."""
    jobs = []
    for out_zp, sign in ((127, 1), (-128, -1), (127, -1), (-128, 1)):
        x = np.zeros((1, 1, 2, 3), np.int8)
        for shift, bias in ((0, sign * INT32_MAX), (3, sign * (INT32_MAX >> 3)), (30, sign),
                            (-31, sign * INT32_MAX), (-1, sign * 3)):
            for depthwise in (False, True):
                cout = 3
                layer = Conv("c", np.ones((cout, 1, 1, 1 if depthwise else 3), np.int8),
                             np.full(cout, bias, np.int32), np.full(cout, INT32_MAX, np.int32),
                             np.full(cout, shift, np.int32), (1, 2) if depthwise else (1, 1),
                             depthwise, QuantParams(1.0, 0), QuantParams(1.0, out_zp))
                jobs.append((layer, x))
    dead = Conv("c", np.ones((3, 1, 1, 2), np.int8), np.array([INT32_MAX - 510, -7, 5], np.int32),
                np.array([0, 2**30, 0], np.int32), np.zeros(3, np.int32), (1, 1), False,
                QuantParams(1.0, -128), QuantParams(1.0, 9))
    jobs.append((dead, np.full((1, 2, 3, 2), 127, np.int8)))
    return jobs


def _pool_jobs(rng) -> list:
    jobs = []
    for h, w, c in [(1, 1, 3), (2, 2, 8), (3, 5, 5), (25, 5, 9), (17, 16, 8)]:  # 272: 2 runs
        x = np.stack([rng.integers(-128, 128, (h, w, c)), np.full((h, w, c), -128),
                      np.full((h, w, c), 127)]).astype(np.int8)
        jobs.append((AvgPool("p", QuantParams(0.1, 3)), x))
    jobs.append((AvgPool("p", QuantParams(0.1, 3)), _ties(rng, 4, 6, 9)[None]))
    return jobs


def all_jobs() -> list:
    rng = np.random.default_rng(11)
    jobs = _conv_jobs(rng, CONV_SHAPES, False, 2)
    jobs += _conv_jobs(rng, DW_SHAPES, True, 2)
    jobs += _conv_jobs(rng, [(h, w, c, o, 1, 1, 1, 1) for h, w, c, o in PW_SHAPES], False, 2)
    # valid in time: the kernel_h-row windows of a streaming step, and whole maps
    jobs += _conv_jobs(rng, VALID_SHAPES, False, 1, "valid")
    jobs += _conv_jobs(rng, VALID_DW_SHAPES, True, 1, "valid")
    jobs += _dense_jobs(rng, 2)
    jobs += _limit_jobs()
    jobs += _pool_jobs(rng)
    # the extreme zero points on every kind at least once, with a full-size DS-CNN layer each
    jobs += _conv_jobs(rng, [(25, 5, 64, 64, 1, 1, 1, 1)], False, 1)
    jobs += _conv_jobs(rng, [(25, 5, 64, 0, 3, 3, 1, 1)], True, 1)
    for kind in ("conv", "dw", "pw"):
        shapes = {"conv": [(11, 6, 1, 3, 10, 4, 2, 2)], "dw": [(6, 5, 7, 0, 3, 3, 1, 1)],
                  "pw": [(3, 3, 11, 3, 1, 1, 1, 1)]}[kind]
        jobs += _conv_jobs(rng, shapes * len(ZERO_POINTS), kind == "dw", 1)
    return jobs


def run_cases_on(board: str, gen: Path, build_dir: Path, defines=()) -> tuple[int, str, dict]:
    """Exit status, console text and result file of the cases on `board`."""
    elf = target.build_program(board, ("nn", "tests-target-nn-cases", "tests-target-nn-cases-data"),
                               build_dir, defines=list(defines), data=gen)
    status, text = target.run_qemu(board, elf, timeout_s=60)
    results = read_results(target.results_path(elf)) if status in (0, 1) else {}
    return status, text, results


# ---------------------------------------------------------------- tests

@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    gen = tmp_path_factory.mktemp("nn_cases")
    jobs = all_jobs()
    write_cases(jobs, gen)
    return gen, jobs


# Cortex-M4 (DSP path, asm inner loops), the same with the intrinsics the asm stands for
# (what an -O0 build runs), Cortex-M3 (portable path), Cortex-M7 (DSP path).
TARGETS = [("mps2-an386", 1, ()), ("mps2-an386", 1, ("KWS_NN_NO_ASM",)), ("mps2-an385", 0, ()),
           ("mps2-an500", 1, ())]


@pytest.mark.parametrize("board,dsp,defines", TARGETS,
                         ids=["m4", "m4-no-asm", "m3", "m7"])
def test_kernels_on_the_target_equal_golden(generated, tmp_path, board, dsp, defines):
    missing = target.missing_tools()
    if missing:
        pytest.skip(target.toolchain_hint(missing))
    gen, jobs = generated
    started = time.perf_counter()
    status, text, results = run_cases_on(board, gen, tmp_path / board, defines)
    assert status in (0, 1), text[-2000:]                  # ran to its end: no fault
    ok = results["case_ok"]
    # the console says where a case differs (for the message); the verdict is the file's
    bad = [line for line in text.splitlines() if "MISMATCH" in line]
    assert ok.shape == (len(jobs),) and ok.all(), (
        f"{board}: cases {np.flatnonzero(ok == 0).tolist()} differ from golden:\n"
        + "\n".join(bad[:20]))
    assert int(results["dsp"]) == dsp, f"{board} did not build the expected path"
    assert status == 0
    assert time.perf_counter() - started < 60


def test_case_set_covers_the_paths(generated):
    """Both conv paths (im2col and direct), odd channel and pixel counts, all zero points."""
    _, jobs = generated
    convs = [layer for layer, _ in jobs if isinstance(layer, Conv) and not layer.depthwise
             and layer.weights.shape[1:3] != (1, 1)]
    taps = [int(np.prod(layer.weights.shape[1:])) for layer in convs]
    assert min(taps) <= IM2COL_TAPS < max(taps) and IM2COL_TAPS in taps
    assert any(layer.weights.shape[0] % 2 for layer in convs)
    pws = [(layer, x) for layer, x in jobs if isinstance(layer, Conv) and not layer.depthwise
           and layer.weights.shape[1:3] == (1, 1) and layer.stride == (1, 1)]
    assert any(x.shape[1] * x.shape[2] % 2 for _, x in pws)          # odd pixel count
    assert any(layer.weights.shape[-1] % 4 for layer, _ in pws)      # in_c % 4 != 0
    assert any(layer.weights.shape[-1] % 8 == 4 for layer, _ in pws)
    # one run of pixels (weight sums with the unpacking) with an odd pixel, with and without
    # k % 4 taps; several runs (sums apart)
    one_run = [(layer, x) for layer, x in pws if 2 <= x.shape[1] * x.shape[2] <= 32]
    assert any(x.shape[1] * x.shape[2] % 2 and layer.weights.shape[-1] % 4 for layer, x in one_run)
    assert any(x.shape[1] * x.shape[2] % 2 and layer.weights.shape[-1] % 4 == 0
               for layer, x in one_run)
    assert any(x.shape[1] * x.shape[2] > 32 for _, x in pws)
    dws = [layer for layer, _ in jobs if isinstance(layer, Conv) and layer.depthwise]
    assert any(layer.weights.shape[0] % 4 for layer in dws)
    zps = {(layer.input.zero_point, layer.output.zero_point) for layer, _ in jobs
           if isinstance(layer, (Conv, Dense))}
    assert set(ZERO_POINTS) <= zps
    shifts = np.concatenate([np.atleast_1d(layer.shift) for layer, _ in jobs
                             if isinstance(layer, (Conv, Dense))])
    assert shifts.min() == -31 and shifts.max() >= 1 and (shifts == 0).any()


def test_host_portable_path_on_the_same_cases(generated, tmp_path):
    """The same cases on the host, ASan/UBSan build (the portable path, incl. the direct conv)."""
    _, jobs = generated
    tool = build_nn_tool(tmp_path, sanitize=True)
    for (layer, x), out in zip(jobs, run_layers_c(tool, jobs)):
        assert np.array_equal(out, run_layer(layer, x)), f"{layer} differs on {x.shape}"


@pytest.mark.parametrize("flags", [["-O0"], ["-Os"], ["-O3"], ["-O2", "-fno-omit-frame-pointer"]],
                         ids=["O0", "Os", "O3", "O2-frame-pointer"])
def test_kernels_compile_at_every_optimisation_level(tmp_path, flags):
    """The inline asm's register demands fit whatever the compiler keeps for itself."""
    if target.missing_tools():
        pytest.skip(target.toolchain_hint(target.missing_tools()))
    kernels = sources.build("nn")
    for board in ("mps2-an386", "mps2-an500"):
        for source in kernels.sources:
            cmd = ["arm-none-eabi-gcc", *target.BOARDS[board].cpu_flags, "-std=c99", "-Wall",
                   "-Wextra", "-Werror", *flags, *(f"-I{d}" for d in kernels.includes), "-c",
                   str(source), "-o", str(tmp_path / f"{source.stem}.o")]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, f"{board} {' '.join(flags)} {source.name}:\n" \
                                         f"{proc.stderr[-2000:]}"
