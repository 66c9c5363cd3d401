"""kws-import on models made by TensorFlow's own converter (tf.lite.TFLiteConverter, full-integer
post-training quantisation, int8 in and out): a small Keras DS-CNN (conv, depthwise-separable
blocks, GlobalAveragePooling2D -> MEAN, dense with per-channel weights, softmax) and a small
residual CNN (ADD with a fused ReLU, max pool, MEAN with keepdims, dense logits), each proved equal
to the TFLite Micro interpreter in the golden model, the sanitized host C and on the Cortex-M4.

Needs the `tf` extra (pip install -e '.[tf]'); skipped, naming it, without. The two conversions
run once per session (seeded weights, seeded representative data: the same bytes every run)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_import import _edit, _sanitized_c, _write

from kws.emit.tflite import run_tflm
from kws.errors import KwsError
from kws.golden.network import Add, Dense, Mean, Softmax, run_network
from kws.imports import command
from kws.imports.tflite import read_tflite
from kws.toolchain import cortex_m as target

pytest.importorskip("tensorflow", reason="tensorflow is not installed (the tf extra: "
                    "pip install -e '.[tf]')")
from kws.imports import converter

SHAPE = (49, 10, 1)


def _representative(seed: int, n: int = 64) -> np.ndarray:
    """Stand-in calibration inputs (float32 [n, 49, 10, 1]): MFCC-like values, seeded."""
    return np.random.default_rng(seed).normal(0.0, 1.5, (n, *SHAPE)).astype(np.float32)


@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> dict:
    """{name: path of the converter's .tflite}: a small DS-CNN and a small residual CNN."""
    folder = tmp_path_factory.mktemp("converted")
    models = {
        "dscnn": converter.dscnn(seed=0, channels=16, blocks=2, classes=12),
        "residual": converter.residual_cnn(seed=1, channels=12, classes=6),
    }
    paths = {}
    for i, (name, model) in enumerate(models.items()):
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(converter.to_int8_tflite(model, _representative(10 + i)))
    return paths


def _verify(path, out, n: int = 40) -> dict:
    assert command.main([str(path), "--out", str(out), "--verify", "-n", str(n)]) == 0
    return json.loads((out / "report.json").read_text())


def _check_report(v: dict, n_layers: int) -> None:
    assert v["golden_vs_tflm"] == 1.0 and v["host_c_vs_tflm"] == 1.0
    if target.missing_tools():
        assert v["cortex_m"].startswith("not run")
    else:
        assert v["cortex_m_vs_tflm"] == 1.0 and v["cpu"] == "Cortex-M4F"
        assert v["m4_insn_per_inference"] > 0 and len(v["layer_instructions"]) == n_layers


def _inputs(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (n, *SHAPE)).astype(np.int8)


def test_the_converters_dscnn_equals_the_interpreter_everywhere(converted, tmp_path):
    path = converted["dscnn"]
    imported = read_tflite(path)
    assert imported.operators == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "DEPTHWISE_CONV_2D",
                                  "CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]
    mean, dense, softmax = imported.layers[-3:]
    assert isinstance(mean, Mean) and isinstance(softmax, Softmax)
    assert mean.output != mean.input                       # the MEAN requantises
    assert isinstance(dense, Dense) and np.ndim(dense.multiplier) == 1   # per-channel weights
    assert (softmax.output.scale, softmax.output.zero_point) == (1 / 256, -128)
    report = _verify(path, tmp_path / "out")
    _check_report(report["verify"], len(imported.layers))
    x = _inputs(40, seed=5)
    want = run_tflm(path.read_bytes(), x)
    assert len({row.tobytes() for row in want}) >= 10      # not one answer for every input
    assert np.array_equal(run_network(imported.layers, x), want)
    assert np.array_equal(_sanitized_c(tmp_path, tmp_path / "out" / "firmware", x, want.shape),
                          want)


def test_the_converters_residual_cnn_equals_the_interpreter_everywhere(converted, tmp_path):
    """Logits out (no softmax): every step of ADD, MAX_POOL_2D and MEAN shows in the output."""
    path = converted["residual"]
    imported = read_tflite(path)
    assert imported.operators == ["CONV_2D", "CONV_2D", "CONV_2D", "ADD", "MAX_POOL_2D", "MEAN",
                                  "FULLY_CONNECTED"]
    add = next(layer for layer in imported.layers if isinstance(layer, Add))
    assert add.skip == 1 and add.act_min == add.output.zero_point      # block input, fused ReLU
    report = _verify(path, tmp_path / "out")
    _check_report(report["verify"], len(imported.layers))
    x = _inputs(40, seed=6)
    want = run_tflm(path.read_bytes(), x)
    assert len({row.tobytes() for row in want}) == len(x)
    assert np.array_equal(run_network(imported.layers, x), want)
    assert np.array_equal(_sanitized_c(tmp_path, tmp_path / "out" / "firmware", x, want.shape),
                          want)


def _mean_op(m):
    g = m.subgraphs[0]
    return next(op for op in g.operators
                if m.operatorCodes[op.opcodeIndex].builtinCode == 40)       # MEAN


def _mean_output_scale(factor: float):
    def change(m):
        q = m.subgraphs[0].tensors[_mean_op(m).outputs[0]].quantization
        q.scale = [float(np.float32(q.scale[0] * factor))]
    return change


@pytest.mark.parametrize("factor", [1 / 7, 0.37, 1.0, 2.9, 11.0])
def test_mean_equals_the_interpreter_at_every_output_scale(converted, tmp_path, factor):
    """The residual model's MEAN with its output scale moved below and above the input's
    (QuantizeMultiplier's shift on both sides of 0 before 1/(H*W) is folded in)."""
    data = _edit(converted["residual"].read_bytes(), _mean_output_scale(factor))
    imported = read_tflite(_write(tmp_path, data))
    x = _inputs(60, seed=7)
    want = run_tflm(data, x)
    assert np.array_equal(run_network(imported.layers, x), want)


def test_a_mean_over_other_axes_is_one_error_naming_it(converted, tmp_path):
    def channels_too(m):
        axes = m.subgraphs[0].tensors[_mean_op(m).inputs[1]]
        m.buffers[axes.buffer].data = np.frombuffer(np.array([1, 3], "<i4").tobytes(), np.uint8)
    path = _write(tmp_path, _edit(converted["dscnn"].read_bytes(), channels_too))
    with pytest.raises(KwsError, match=r"operator 5 \(MEAN\): a mean over axes \[1, 3\]"):
        read_tflite(path)
    assert not (tmp_path / "out").exists()


def test_float_inputs_and_outputs_are_one_error_saying_how_to_convert(tmp_path):
    """The converter's default IO is float32: a QUANTIZE first and a DEQUANTIZE last."""
    tf = converter.tensorflow()
    model = converter.residual_cnn(seed=2, channels=4, classes=3)
    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    rep = _representative(3, 8)
    c.representative_dataset = lambda: ([s[None]] for s in rep)
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    path = _write(tmp_path, c.convert())
    with pytest.raises(KwsError, match=r"operator 0 \(QUANTIZE\): the model takes a FLOAT32 "
                       r"input .*inference_input_type = tf.int8"):
        read_tflite(path)
    assert command.main([str(path), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
