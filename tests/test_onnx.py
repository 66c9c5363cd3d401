"""ONNX export of the float student: ONNX Runtime equals torch, batch axis dynamic."""
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from kws.emit import onnx as onnx_export
from kws.training.models import build_model

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

FRAMES, COEFFS, CLASSES = 49, 10, 12
# The default student's shape (10x4 first conv striding 2x1, "same" padding with odd remainders),
# with fewer channels so the export takes a couple of seconds.
TINY_STUDENT = OmegaConf.create({
    "name": "student", "first_channels": 8, "first_kernel": [10, 4], "first_stride": [2, 1],
    "blocks": [{"channels": 8, "stride": [2, 2]}, {"channels": 16, "stride": [1, 1]}],
    "dropout": 0.2})


def _trained_looking_student() -> torch.nn.Module:
    """Random weights plus non-trivial BatchNorm statistics, as after training."""
    torch.manual_seed(0)
    model = build_model(TINY_STUDENT, CLASSES)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def test_onnx_runtime_matches_torch_with_dynamic_batch(tmp_path):
    import onnx

    model = _trained_looking_student()
    path = tmp_path / "quantize" / "student_float.onnx"
    info = onnx_export.export_onnx(model, (1, FRAMES, COEFFS), path)
    assert info["onnx_bytes"] == path.stat().st_size > 0
    assert not [p for p in path.parent.iterdir() if p != path]      # no temp file left behind

    graph = onnx.load(path).graph
    assert [i.name for i in graph.input] == ["features"]
    assert [o.name for o in graph.output] == ["logits"]
    in_dims = graph.input[0].type.tensor_type.shape.dim
    out_dims = graph.output[0].type.tensor_type.shape.dim
    assert in_dims[0].dim_param and not in_dims[0].HasField("dim_value")
    assert [d.dim_value for d in in_dims[1:]] == [1, FRAMES, COEFFS]
    assert out_dims[0].dim_param == in_dims[0].dim_param and out_dims[1].dim_value == CLASSES

    rng = np.random.default_rng(1)
    for batch in (1, 7):
        # The scale of the dequantised int8 MFCC: (q - 47) * 0.5 spans about [-88, 40].
        x = torch.from_numpy((rng.integers(-128, 128, (batch, 1, FRAMES, COEFFS)) - 47)
                             .astype(np.float32) * 0.5)
        check = onnx_export.check_onnx(path, model, x)
        assert check["onnx_clips"] == batch
        assert check["onnx_max_abs_diff"] <= 1e-4, check
        assert check["onnx_argmax_agreement"] == 1.0, check
    assert not model.training


def test_export_and_check_reports_or_notes(tmp_path, monkeypatch):
    model = _trained_looking_student()
    x = torch.randn(5, 1, FRAMES, COEFFS)
    report = onnx_export.export_and_check(model, x, tmp_path / "s.onnx")
    assert report["onnx_argmax_agreement"] == 1.0 and report["onnx_max_abs_diff"] <= 1e-4
    assert report["onnx_bytes"] == (tmp_path / "s.onnx").stat().st_size

    monkeypatch.setattr(onnx_export, "_importable", lambda name: name != "onnxscript")
    report = onnx_export.export_and_check(model, x, tmp_path / "t.onnx")
    assert set(report) == {"onnx_note"} and "onnxscript" in report["onnx_note"]
    assert not (tmp_path / "t.onnx").exists()


def test_the_export_prints_no_progress_lines(tmp_path, caplog):
    """Under the app's INFO logging, onnxscript and onnx_ir would log a dozen lines per export."""
    import logging
    with caplog.at_level(logging.INFO):
        onnx_export.export_onnx(_trained_looking_student(), (1, FRAMES, COEFFS),
                                tmp_path / "m.onnx")
    chatty = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno < logging.WARNING]
    assert chatty == []
