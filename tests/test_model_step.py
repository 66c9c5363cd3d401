"""The generated streaming step (kws_model_step, kws.emit.model_c) equals the golden streaming
twin (kws.golden.streaming) step by step, on random valid-in-time networks of several
topologies, built with ASan/UBSan on the host; a reset mid-stream equals a fresh start."""
from __future__ import annotations

import numpy as np
import pytest

from kws.emit.model_c import (layer_shapes, model_data_sources, model_sources, plan_memory,
                              plan_streaming)
from kws.golden.network import run_network
from kws.golden.streaming import geometry, stream_logits_streaming
from kws.io import write_text
from kws.toolchain.step_harness import build_step_tool, run_steps_c, run_window_steps_c
from test_golden_streaming import random_network

FRAMES, COEFFS = 49, 10

TOPOLOGIES = {
    "student-like": ((9, 4), ((2, 1), (2, 2), (1, 1))),       # lag 0
    "lag-3": ((10, 4), ((2, 1), (2, 2), (1, 1))),             # 3 frames never read
    "stride-6": ((5, 3), ((1, 1), (3, 1), (2, 1))),           # odd strides in time
    "first-1xk": ((1, 3), ((1, 1), (2, 2), (1, 1))),          # a stateless first layer
}


def _generate(layers, out_dir):
    shapes = layer_shapes(layers, (FRAMES, COEFFS, 1))
    step = plan_streaming(shapes, FRAMES)
    data_h, data_c, _ = model_data_sources(shapes)
    model_h, model_c = model_sources(shapes, plan_memory(shapes), step)
    for name, text in (("kws_model_data.h", data_h), ("kws_model_data.c", data_c),
                       ("kws_model.h", model_h), ("kws_model.c", model_c)):
        write_text(out_dir / name, text)
    return step


@pytest.fixture(scope="module", params=list(TOPOLOGIES), ids=list(TOPOLOGIES))
def built(request, tmp_path_factory):
    first_kernel, strides = TOPOLOGIES[request.param]
    rng = np.random.default_rng(len(request.param))
    layers = random_network(rng, first_kernel, strides)
    out = tmp_path_factory.mktemp("step_" + request.param)
    step = _generate(layers, out)
    return layers, step, build_step_tool(out, out, sanitize=True)


def test_every_step_equals_the_golden_streaming_network(built):
    layers, step, tool = built
    rng = np.random.default_rng(5)
    features = rng.integers(-128, 128, size=(300, COEFFS)).astype(np.int8)
    golden_ends, golden_logits = stream_logits_streaming(features, layers, FRAMES)
    ends, logits, steps = run_steps_c(tool, features, 5)
    assert len(ends) == len(golden_ends) > 20
    assert np.array_equal(ends, golden_ends)
    assert np.array_equal(logits, golden_logits)
    g = geometry(layers, FRAMES)
    # one window per step once warm, and the step that completes it is the one holding the frame
    # window_end - lag: constant cadence
    assert np.all(np.diff(steps) == 1)
    assert np.array_equal(steps, (ends - g.lag) // g.time_stride)


def test_a_window_stepped_from_a_reset_equals_the_window_model(built):
    layers, step, tool = built
    rng = np.random.default_rng(6)
    windows = rng.integers(-128, 128, size=(12, FRAMES, COEFFS)).astype(np.int8)
    windows[1] = -128
    windows[2] = 127
    logits = run_window_steps_c(tool, windows, 5)
    assert np.array_equal(logits, run_network(layers, windows[..., None]))


def test_a_reset_mid_stream_equals_a_fresh_start(built):
    layers, step, tool = built
    g = geometry(layers, FRAMES)
    rng = np.random.default_rng(7)
    features = rng.integers(-128, 128, size=(400, COEFFS)).astype(np.int8)
    # mid-stream: a few windows out, more under way
    reset_at = (FRAMES - 1 - g.lag) // g.time_stride + 3
    ends, logits, steps = run_steps_c(tool, features, 5, reset_at=reset_at)
    tail = features[reset_at * g.time_stride:]
    fresh_ends, fresh_logits = stream_logits_streaming(tail, layers, FRAMES)
    after = steps >= reset_at
    assert after.sum() == len(fresh_ends) > 10 and (~after).sum() > 0
    assert np.array_equal(ends[after], fresh_ends)          # frame indices restart at the reset
    assert np.array_equal(logits[after], fresh_logits)
    c_fresh_ends, c_fresh_logits, _ = run_steps_c(tool, tail, 5)
    assert np.array_equal(c_fresh_ends, ends[after])
    assert np.array_equal(c_fresh_logits, logits[after])


def test_state_and_scratch_are_planned_and_reported(built):
    layers, step, tool = built
    g = geometry(layers, FRAMES)
    assert step.geometry == g
    rings = [c for c in step.convs if c.ringed]
    names = [p.name for p in step.memory.state]
    assert names == [f"{c.shape.cname}_ring" for c in rings] + ["pool_sums"]
    sizes = {p.name: p.size for p in step.memory.state}
    for c in rings:
        assert sizes[c.shape.cname + "_ring"] == (2 * c.rows - 1) * c.in_row
    assert sizes["pool_sums"] == (g.final_rows + 1) * step.pool.in_dims[2] * 4
    assert step.memory.scratch_bytes > 0
    header = (tool.parent / "kws_model.h").read_text()
    assert f"#define KWS_MODEL_STEP_FRAMES       {g.time_stride}\n" in header
    assert f"#define KWS_MODEL_STATE_BYTES       {step.state_bytes}\n" in header


def test_a_network_padded_in_time_has_no_step(tmp_path):
    layers = random_network(np.random.default_rng(0), time_padding="same")
    shapes = layer_shapes(layers, (FRAMES, COEFFS, 1))
    assert plan_streaming(shapes, FRAMES) is None
    header, source = model_sources(shapes, plan_memory(shapes), None)
    assert "#define KWS_MODEL_STREAMING         0" in header
    assert "kws_model_step" not in header + source
