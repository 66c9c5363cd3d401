"""Bring your own model (kws-import): an int8 .tflite read into golden layers, its generated C, and
both proved equal to the TensorFlow Lite Micro interpreter -- on models written by the pinned
builder (kws.emit.tflite), edited to every option the reader serves, and on broken files."""
from __future__ import annotations

import re

import flatbuffers
import numpy as np
import pytest

from kws.emit.tflite import run_tflm, to_tflite
from kws.errors import KwsError
from kws.golden.network import (Add, AvgPool2D, Conv, Dense, MaxPool, QuantParams, Softmax,
                                run_network)
from kws.golden.softmax import softmax_params
from kws.imports import command
from kws.imports.tflite import read_tflite
from kws.toolchain import cortex_m as target
from kws.toolchain.host import build_sections, result_array, run_tool
from kws.toolchain.results import read_results
from test_golden_streaming import random_network

schema = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated")


def _model(time_padding: str, seed: int = 3, softmax: bool = False,
           maxpool: tuple | None = None) -> tuple[list, bytes]:
    layers = random_network(np.random.default_rng(seed), time_padding=time_padding)
    if maxpool is not None:          # (filter, stride, padding, relu[, kind]) after conv 0
        filt, stride, padding, relu, *kind = maxpool
        q = layers[0].output
        pool = AvgPool2D if kind == ["avg"] else MaxPool
        layers.insert(1, pool("01_pool", filt, stride, padding, q,
                              act_min=q.zero_point if relu else -128))
    if softmax:
        logits = layers[-1].output
        layers.append(Softmax("softmax", *softmax_params(logits.scale), logits,
                              QuantParams(1 / 256, -128)))
    return layers, to_tflite(layers, (49, 10))


def test_valid_padding_on_both_axes_equals_the_interpreter(tmp_path):
    """Keras' default padding: VALID along W too (no PAD in the file)."""
    layers = random_network(np.random.default_rng(8), time_padding="valid")
    for layer in layers:
        if isinstance(layer, Conv):
            layer.freq_padding = "valid"
    data = to_tflite(layers, (49, 10))
    imported = read_tflite(_write(tmp_path, data))
    assert "PAD" not in imported.operators
    assert all(layer.freq_padding == "valid" for layer in imported.layers
               if isinstance(layer, Conv))
    x = _inputs(30)
    want = run_tflm(data, x)
    assert np.array_equal(run_network(imported.layers, x), want)
    firmware = tmp_path / "out"
    command.write_firmware(imported, tmp_path / "model.tflite", firmware)
    assert np.array_equal(_sanitized_c(tmp_path, firmware, x, want.shape), want)


def test_an_input_of_several_channels_equals_the_interpreter(tmp_path):
    """An RGB-like [1, 12, 9, 3] input: the first convolution's windows span 3 channels."""
    layers = random_network(np.random.default_rng(10), time_padding="same")
    rng = np.random.default_rng(11)
    first = layers[0]
    cout, kh, kw, _ = first.weights.shape
    first.weights = rng.integers(-127, 128, (cout, kh, kw, 3)).astype(np.int8)
    first.bias = rng.integers(-2000, 2000, cout).astype(np.int32)
    data = to_tflite(layers, (12, 9, 3))
    imported = read_tflite(_write(tmp_path, data))
    assert imported.input_dims == (12, 9, 3)
    x = rng.integers(-128, 128, (30, 12, 9, 3)).astype(np.int8)
    want = run_tflm(data, x)
    assert np.array_equal(run_network(imported.layers, x), want)
    firmware = tmp_path / "out"
    command.write_firmware(imported, tmp_path / "model.tflite", firmware)
    assert "#define KWS_MODEL_INPUT_CHANNELS 3" in (firmware / "kws_model.h").read_text()
    assert np.array_equal(_sanitized_c(tmp_path, firmware, x, want.shape), want)


def _residual_model(seed: int = 6, relu: bool = False) -> bytes:
    """random_network with its last block (stride 1) made residual: tensor 3 (block 1's output)
    added to block 2's; the pool and classifier then read the sum. The ADD's multipliers are
    left to the reader (a .tflite stores only scales)."""
    layers = random_network(np.random.default_rng(seed), time_padding="same")
    convs = [layer for layer in layers if isinstance(layer, Conv)]
    q1, q2 = convs[-1].output, convs[-3].output
    out = QuantParams(q1.scale + q2.scale, -128)
    add = Add("05_add", 3, q1, q2, out, 0, 0, 0, 0, 0, 0,
              act_min=-128 if not relu else out.zero_point)
    pool, dense = layers[-2], layers[-1]
    pool.quant = out
    dense.input = out
    return to_tflite(layers[:-2] + [add, pool, dense], (49, 10))


def _sanitized_c(tmp_path, firmware, x: np.ndarray, shape: tuple) -> np.ndarray:
    """The generated C in `firmware` (ASan/UBSan build of kws_invoke_tool) on inputs x."""
    tool = build_sections(tmp_path / "invoke_san", ("nn", "model-info", "model", "model-data",
                                                    "tests-host-invoke"), sanitize=True,
                          model=firmware)
    x.tofile(tmp_path / "x.raw")
    run_tool(tool, tmp_path / "x.raw", tmp_path / "y.kwsr", what="sanitized")
    return result_array(read_results(tmp_path / "y.kwsr"), "logits", shape, np.int8, "y")


def _edit(data: bytes, change) -> bytes:
    """The model unpacked, changed by change(ModelT), packed again."""
    m = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    change(m)
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _write(tmp_path, data: bytes, name: str = "model.tflite"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _inputs(n: int = 24, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (n, 49, 10, 1)).astype(np.int8)


@pytest.mark.parametrize("time_padding, softmax", [("same", False), ("valid", False),
                                                    ("same", True)])
def test_the_builders_model_reads_back_as_its_layers(tmp_path, time_padding, softmax):
    layers, data = _model(time_padding, softmax=softmax)
    imported = read_tflite(_write(tmp_path, data))
    assert imported.input_dims == (49, 10, 1) and len(imported.layers) == len(layers)
    for ours, back in zip(layers, imported.layers):
        assert type(ours) is type(back)
        for field in ("weights", "bias", "multiplier", "shift", "act_min", "act_max",
                      "time_padding", "depthwise", "input_multiplier", "input_left_shift",
                      "diff_min"):
            if hasattr(ours, field):
                assert np.array_equal(np.asarray(getattr(ours, field)),
                                      np.asarray(getattr(back, field))), (ours.name, field)
    x = _inputs()
    assert np.array_equal(run_network(imported.layers, x), run_tflm(data, x))


def test_softmax_equals_the_interpreter_at_every_input_scale():
    """TFLite's integer softmax (kws.golden.softmax) on logits of 12 scales: left shifts 21..24,
    rows where one logit dominates and rows where many share the mass."""
    shifts = set()
    for seed in range(12):
        layers, data = _model("same", seed=seed, softmax=True)
        shifts.add(layers[-1].input_left_shift)
        x = _inputs(60, seed=seed)
        got = run_network(layers, x)
        assert np.array_equal(got, run_tflm(data, x)), f"seed {seed}"
    assert len(shifts) >= 3


@pytest.mark.parametrize("pool", [((2, 2), (2, 2), "valid", False),
                                  ((3, 3), (2, 1), "same", False),
                                  ((3, 2), (1, 2), "same", True),
                                  ((2, 2), (2, 2), "valid", False, "avg"),
                                  ((3, 3), (2, 1), "same", False, "avg"),
                                  ((4, 3), (1, 2), "same", True, "avg")],
                         ids=["max-2x2-s2-valid", "max-3x3-s2x1-same", "max-3x2-s1x2-same-relu",
                              "avg-2x2-s2-valid", "avg-3x3-s2x1-same", "avg-4x3-s1x2-same-relu"])
def test_window_pools_equal_the_interpreter_in_golden_and_c(tmp_path, pool):
    layers, data = _model("same", seed=4, maxpool=pool)
    imported = read_tflite(_write(tmp_path, data))
    got = imported.layers[1]
    assert isinstance(got, AvgPool2D if pool[4:] == ("avg",) else MaxPool)
    assert (got.filter, got.stride, got.padding) == pool[:3]
    assert got.act_min == (got.quant.zero_point if pool[3] else -128)
    x = _inputs()
    want = run_tflm(data, x)
    assert np.array_equal(run_network(imported.layers, x), want)
    if not pool[3]:                 # the C (a sanitized build each) on one case of each pool
        return
    firmware = tmp_path / "out"
    command.write_firmware(imported, tmp_path / "model.tflite", firmware)
    assert np.array_equal(_sanitized_c(tmp_path, firmware, x, want.shape), want)


@pytest.mark.parametrize("relu", [False, True], ids=["add", "add-relu"])
def test_residual_add_equals_the_interpreter_in_golden_and_c(tmp_path, relu):
    data = _residual_model(relu=relu)
    imported = read_tflite(_write(tmp_path, data))
    add = [layer for layer in imported.layers if isinstance(layer, Add)]
    assert len(add) == 1 and add[0].skip == 3 and "ADD" in imported.operators
    x = _inputs(40)
    want = run_tflm(data, x)
    assert np.array_equal(run_network(imported.layers, x), want)
    if not relu:                    # the C (a sanitized build) on the ReLU case
        return
    firmware = tmp_path / "out"
    report = command.write_firmware(imported, tmp_path / "model.tflite", firmware)
    assert np.array_equal(_sanitized_c(tmp_path, firmware, x, want.shape), want)
    # the skip tensor lives on until the ADD: the arena holds three tensors at once there
    assert report["arena_bytes"] > 0


def test_the_lifetime_planner_never_overlaps_tensors_alive_together():
    from kws.emit.memplan import MemoryPlan, Placement, check_plan, plan_lifetimes
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 12))
        sizes = [int(v) for v in rng.integers(1, 400, n)]
        last_use = [max(i, int(rng.integers(i, n))) for i in range(n)]   # some live long
        plan = plan_lifetimes([f"t{i}" for i in range(n)], sizes, last_use)
        assert plan.arena_bytes >= plan.lower_bound_bytes
    spans = [(-1, 2), (0, 1), (1, 2)]                 # t0 is alive with t2: overlap refused
    bad = MemoryPlan(8, 8, (Placement("t0", 0, 4), Placement("t1", 4, 4), Placement("t2", 0, 4)))
    with pytest.raises(ValueError, match="t0 and t2 are alive together"):
        check_plan(bad, spans)


def test_the_portable_kernels_on_the_cortex_m3_equal_the_interpreter(tmp_path):
    """--board mps2-an385: the M3's portable C (no DSP paths) on a residual network."""
    if target.missing_tools():
        pytest.skip(target.toolchain_hint(target.missing_tools()))
    path = _write(tmp_path, _residual_model(relu=True))
    assert command.main([str(path), "--out", str(tmp_path / "m3"), "--verify", "-n", "8",
                         "--board", "mps2-an385"]) == 0
    v = __import__("json").loads((tmp_path / "m3" / "report.json").read_text())["verify"]
    assert v["cortex_m_vs_tflm"] == 1.0 and v["cpu"] == "Cortex-M3"
    assert v["insn_per_inference"] > 0 and "m4_insn_per_inference" not in v


def test_an_add_of_a_later_or_missing_tensor_is_refused(tmp_path):
    def swap_to_weights(m):
        g = m.subgraphs[0]
        add = [op for op in g.operators
               if m.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.ADD][0]
        add.inputs[1] = g.operators[0].inputs[1]              # a constant, not a chain tensor
    path = _write(tmp_path, _edit(_residual_model(), swap_to_weights))
    with pytest.raises(KwsError, match=r"operator 5 \(ADD\): its second input .* is no earlier"):
        read_tflite(path)


def _set_conv_options(index: int, **values):
    def change(m):
        convs = [op for op in m.subgraphs[0].operators
                 if m.operatorCodes[op.opcodeIndex].builtinCode in (3, 4)]
        for key, value in values.items():
            setattr(convs[index].builtinOptions, key, value)
    return change


def _per_tensor_weights(index: int):
    """Conv `index`'s weights with one scale (the largest of its channels)."""
    def change(m):
        g = m.subgraphs[0]
        convs = [op for op in g.operators if m.operatorCodes[op.opcodeIndex].builtinCode == 3]
        q = g.tensors[convs[index].inputs[1]].quantization
        q.scale = [max(q.scale)]
        q.zeroPoint = [0]
    return change


@pytest.mark.parametrize("change, check", [
    (_set_conv_options(0, fusedActivationFunction=schema.ActivationFunctionType.RELU6),
     lambda layer: layer.act_max < 127),
    (_set_conv_options(1, fusedActivationFunction=schema.ActivationFunctionType.NONE),
     lambda layer: (layer.act_min, layer.act_max) == (-128, 127)),
    (_per_tensor_weights(1), lambda layer: len(set(layer.multiplier.tolist())) == 1),
], ids=["relu6", "no-activation", "per-tensor-weights"])
def test_every_option_equals_the_interpreter(tmp_path, change, check):
    _, data = _model("same", seed=5)
    data = _edit(data, change)
    imported = read_tflite(_write(tmp_path, data))
    assert any(check(layer) for layer in imported.layers if isinstance(layer, Conv))
    x = _inputs()
    assert np.array_equal(run_network(imported.layers, x), run_tflm(data, x))


def _opcode(name: str):
    """Every operator of the pool's type becomes `name`."""
    def change(m):
        for code in m.operatorCodes:
            if code.builtinCode == schema.BuiltinOperator.AVERAGE_POOL_2D:
                code.builtinCode = code.deprecatedBuiltinCode = getattr(schema.BuiltinOperator,
                                                                         name)
    return change


def _softmax_output(scale: float, zero_point: int):
    def change(m):
        g = m.subgraphs[0]
        q = g.tensors[g.operators[-1].outputs[0]].quantization
        q.scale, q.zeroPoint = [scale], [zero_point]
    return change


@pytest.mark.parametrize("change, message", [
    (_opcode("L2_POOL_2D"), "operator 5 (L2_POOL_2D): operator type not supported"),
    (_set_conv_options(2, dilationHFactor=2), "operator 2 (CONV_2D): dilation 2x1"),
    (_set_conv_options(1, depthMultiplier=2), "operator 1 (DEPTHWISE_CONV_2D): depth multiplier"),
    (_set_conv_options(0, fusedActivationFunction=schema.ActivationFunctionType.TANH),
     "operator 0 (CONV_2D): fused activation TANH not supported"),
    (_set_conv_options(0, padding=schema.Padding.VALID), "operator 0 (CONV_2D): output "
     "[1, 25, 10, 8], expected [1, 21, 7, 8]"),
    (_softmax_output(0.01, -128), "operator 7 (SOFTMAX): output quantised as scale 0.01"),
], ids=["l2-pool", "dilation", "depth-multiplier", "tanh", "shapes-not-its-padding",
        "softmax-output"])
def test_what_is_not_served_is_one_error_naming_operator_and_option(tmp_path, change, message):
    _, data = _model("same", softmax=True)
    path = _write(tmp_path, _edit(data, change))
    with pytest.raises(KwsError, match=re.escape(message)):
        read_tflite(path)
    assert command.main([str(path), "--out", str(tmp_path / "out")]) == command.BAD_INPUT
    assert not (tmp_path / "out").exists()                    # nothing written


def test_broken_files_are_one_clear_error_never_a_crash(tmp_path):
    _, data = _model("same")
    rng = np.random.default_rng(0)
    cases = [b"", b"TFL3", data[:7], b"\0\0\0\0TFL3" + bytes(40), b"not a model at all"]
    cases += [data[:int(n)] for n in rng.integers(8, len(data) - 1, 40)]
    for _ in range(60):                                       # random bytes flipped
        corrupt = bytearray(data)
        for i in rng.integers(8, len(data), 4):
            corrupt[i] ^= int(rng.integers(1, 256))
        cases.append(bytes(corrupt))
    for i, case in enumerate(cases):
        path = _write(tmp_path, case, f"case{i}.tflite")
        try:
            read_tflite(path)                                 # a flip may leave a valid model
        except KwsError as exc:
            assert str(path) in str(exc)
    with pytest.raises(KwsError, match="cannot read"):
        read_tflite(tmp_path / "missing.tflite")


def _tensor_scale(which: str, value: float):
    def change(m):
        g = m.subgraphs[0]
        first = g.operators[0]
        index = first.inputs[0] if which == "input" else first.inputs[1]
        g.tensors[index].quantization.scale = [value] * len(g.tensors[index].quantization.scale)
    return change


def _wrong_options(m):
    op = m.subgraphs[0].operators[0]
    op.builtinOptionsType = schema.BuiltinOptions.CumsumOptions
    op.builtinOptions = schema.CumsumOptionsT()


@pytest.mark.parametrize("change, message", [
    (_tensor_scale("input", 0.0), "scale 0 and zero point"),
    (_tensor_scale("input", float("nan")), "scale nan"),
    (_tensor_scale("weights", float("nan")), "weight scales must be finite and > 0"),
    (_tensor_scale("weights", 1e30), "effective output scale .* is too large"),
    (_wrong_options, "options of type CumsumOptionsT, expected Conv2DOptionsT"),
], ids=["zero-scale", "nan-scale", "nan-weight-scale", "huge-weight-scale", "wrong-options"])
def test_what_the_fuzzer_found_is_one_clear_error(tmp_path, change, message):
    """bench/fuzz_tflite.py's findings: scales of 0, NaN or far too large, options of another
    operator's type (once a ZeroDivisionError, a ValueError, an AttributeError)."""
    _, data = _model("same")
    with pytest.raises(KwsError, match=message):
        read_tflite(_write(tmp_path, _edit(data, change)))


def test_kws_import_writes_the_firmware_and_proves_it(tmp_path):
    layers, data = _model("valid", seed=7, softmax=True)
    path = _write(tmp_path, data)
    extra = _inputs(3, seed=9)
    np.save(tmp_path / "mine.npy", extra)
    out = tmp_path / "imported"
    assert command.main([str(path), "--out", str(out), "--verify", "-n", "12",
                         "--inputs", str(tmp_path / "mine.npy")]) == 0
    files = sorted(p.name for p in (out / "firmware").iterdir())
    assert files == ["kws_model.c", "kws_model.h", "kws_model_data.c", "kws_model_data.h",
                     "kws_model_settings.h"]
    report = __import__("json").loads((out / "report.json").read_text())
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", report["model_hash"])
    v = report["verify"]
    assert v["inputs"] == 15 and v["golden_vs_tflm"] == 1.0 and v["host_c_vs_tflm"] == 1.0
    assert report["arena_bytes"] > 0 and v["tflm_smallest_arena_bytes"] > 0
    if target.missing_tools():
        assert v["cortex_m"].startswith("not run")
    else:
        assert v["cortex_m_vs_tflm"] == 1.0 and v["m4_insn_per_inference"] > 0
        assert v["insn_per_inference"] == v["m4_insn_per_inference"] and v["cpu"] == "Cortex-M4F"
        assert len(v["layer_instructions"]) == len(layers) and v["flash_bytes"] > 0
    # the same C under ASan/UBSan
    x = _inputs(6, seed=2)
    assert np.array_equal(_sanitized_c(tmp_path, out / "firmware", x, (6, 5)), run_tflm(data, x))


def test_the_import_carries_the_versioned_api_and_is_checked_at_init(tmp_path):
    """kws_model.h: the API version, generator and the hash of the other generated files, as
    our own export's (kws.emit.model_info); kws_model_info without a front end; the harness's
    kws_model_check at init refuses a model of another API version, naming the status."""
    from kws import __version__
    from kws.emit.limits import API_VERSION
    from kws.emit.model_info import IMPORT_HASHED, model_hash
    _, data = _model("same", seed=4)
    out = tmp_path / "fw"
    report = command.write_firmware(read_tflite(_write(tmp_path, data)), tmp_path / "model.tflite",
                                    out)
    header = (out / "kws_model.h").read_text()
    digest = model_hash({n: (out / n).read_text() for n in IMPORT_HASHED}, IMPORT_HASHED)
    assert f"#define KWS_MODEL_API_VERSION {API_VERSION}\n" in header
    assert f'#define KWS_MODEL_GENERATOR "kws {__version__}"\n' in header
    assert f'#define KWS_MODEL_HASH "{digest}"\n' in header
    assert report["model_hash"] == digest and report["api_version"] == API_VERSION
    info = (out / "kws_model.c").read_text().split("const kws_model_info_t kws_model_info")[1]
    assert ".window_len = 0," in info and ".n_out = 0," in info      # names no front end
    assert ".frames = 49," in info and ".n_classes = 5," in info
    x = _inputs(4)
    assert np.array_equal(_sanitized_c(tmp_path, out, x, (4, 5)), run_tflm(data, x))
    header_path = out / "kws_model.h"
    header_path.write_text(header.replace(f"KWS_MODEL_API_VERSION {API_VERSION}\n",
                                          f"KWS_MODEL_API_VERSION {API_VERSION + 1}\n"))
    with pytest.raises(KwsError, match=rf"kws_model_check: status -3 \(model {digest}, "
                                       rf"API {API_VERSION + 1}, library {API_VERSION}\)"):
        _sanitized_c(tmp_path, out, x, (4, 5))


def test_a_mismatch_is_reported_with_where(tmp_path):
    """The report's fractions can fail: outputs that differ are counted and the first located."""
    tflm = np.zeros((4, 3), np.int8)
    ours = tflm.copy()
    ours[2, 1] = 5
    got = command._agreement(ours, tflm, "golden")
    assert got["golden_vs_tflm"] == 0.75
    assert got["golden_first_mismatch"] == {"input": 2, "output": 1, "ours": 5, "tflm": 0}


def test_bad_verification_inputs_are_named(tmp_path):
    _, data = _model("same")
    path = _write(tmp_path, data)
    np.save(tmp_path / "f.npy", np.zeros((2, 49, 10, 1), np.float32))
    np.save(tmp_path / "s.npy", np.zeros((2, 10, 49, 1), np.int8))
    for name, message in (("f.npy", "must be int8"), ("s.npy", r"\[N, 49, 10, 1\] expected")):
        with pytest.raises(KwsError, match=message):
            command.run(command.parse([str(path), "--out", str(tmp_path / "o"), "--verify",
                                       "--inputs", str(tmp_path / name)]))
    assert isinstance(read_tflite(path).layers[-1], Dense)
