"""The float student as an ONNX model, checked in ONNX Runtime against torch.

What the .onnx file computes (the quantize stage writes it as quantize/student_float.onnx):

    input  `features`  float32 [batch, 1, frames, coeffs]   NCHW with one channel; batch is dynamic
    output `logits`    float32 [batch, n_labels]             in data/labels.json order, no softmax

`features` is the dequantised int8 MFCC, exactly what the network was trained on:
features[b, 0, t, k] = (q[b, t, k] - zero_point) * scale, where q is the int8 MFCC the features
stage stores ([N, frames, coeffs], time by cepstral coefficient) and scale / zero_point come from
features/quant.json (kws.training.loop.dequantize_tensor does the same in torch). The graph is the eval-mode
student: dropout gone, BatchNorm folded into the convs, TFLite "same" padding folded into each
Conv's pads. It is float; the int8 network of record is the golden model / student_int8.tflite.

Exporter: torch.onnx.export(dynamo=True), the torch.export-based exporter that torch 2.9+ defaults
to; it needs `onnxscript` (pure Python, from PyPI, works offline). It gives a clean 21-node graph
(Conv, Relu, ReduceMean, Reshape, Gemm for the default student) that ONNX Runtime matches to ~1e-9.
The legacy TorchScript exporter (dynamo=False) is deprecated, warns on every "same"-padding shape
computation, and emits ~700 nodes of Shape/Slice/Pad arithmetic; it is not used.

No int8 (QDQ) ONNX variant: onnxruntime.quantization.quantize_static runs, but it picks its own
scales and rounding, so it would be a second int8 network, not the golden/TFLite integers, whose
accuracy would need its own check; the int8 deliverable stays the TFLite flatbuffer.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from kws.io import atomic_path

INPUT_NAME = "features"
OUTPUT_NAME = "logits"
OPSET = 18
EXPORTER = "torch.onnx.export(dynamo=True)"
PACKAGES = ("onnx", "onnxruntime", "onnxscript")


def export_onnx(model: torch.nn.Module, input_shape, path) -> dict:
    """Write `model` (eval mode) to `path` as ONNX with a dynamic batch axis.

    input_shape : one clip's shape, (1, frames, coeffs); a leading batch size is ignored.
    Returns onnx_bytes and onnx_opset.
    """
    import onnx

    shape = tuple(int(v) for v in input_shape)[-3:]
    # Batch 2, not 1: torch.export specialises a size-1 dimension to a constant.
    example = torch.zeros((2, *shape), dtype=torch.float32)
    was_training = model.training
    model.eval()
    try:
        with atomic_path(path, suffix=".onnx") as tmp, _quiet_exporter():
            torch.onnx.export(model, (example,), tmp, dynamo=True, verbose=False,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_shapes=({0: torch.export.Dim("batch")},),
                              opset_version=OPSET, external_data=False)
            onnx.checker.check_model(onnx.load(tmp), full_check=True)
    finally:
        model.train(was_training)
    return {"onnx_bytes": Path(path).stat().st_size, "onnx_opset": OPSET}


def check_onnx(path, model: torch.nn.Module, x) -> dict:
    """Run the .onnx in ONNX Runtime (CPU) on `x` [N, 1, frames, coeffs] and compare with torch.

    Returns the max absolute logit difference, the fraction of clips whose argmax agrees, and N.
    """
    import onnxruntime as ort

    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_logits = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            torch_logits = model(x).numpy()
    finally:
        model.train(was_training)
    return {"onnx_max_abs_diff": float(np.abs(onnx_logits - torch_logits).max()),
            "onnx_argmax_agreement": round(float(np.mean(onnx_logits.argmax(1)
                                                         == torch_logits.argmax(1))), 6),
            "onnx_clips": int(len(x))}


def export_and_check(model: torch.nn.Module, x: torch.Tensor, path) -> dict:
    """export_onnx then check_onnx on `x`; without onnx/onnxruntime/onnxscript, a note instead."""
    missing = [name for name in PACKAGES if not _importable(name)]
    if missing:
        return {"onnx_note": f"no ONNX export: {', '.join(missing)} not importable "
                             f"(pip install {' '.join(PACKAGES)})"}
    report = export_onnx(model, x.shape[1:], path)
    report.update(check_onnx(path, model, x))
    return {**report, "onnx_exporter": EXPORTER}


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


# Loggers that report the exporter's progress at INFO (onnxscript's optimizer and rewriter,
# onnx_ir's passes: a dozen lines per export under the app's INFO logging).
_CHATTY_LOGGERS = ("torch.onnx", "onnxscript", "onnx_ir")


@contextlib.contextmanager
def _quiet_exporter():
    """Hide the exporter's progress lines and its warnings about torch's own internals."""
    loggers = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
