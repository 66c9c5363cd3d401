"""Stage `quantize`: the student as an int8 network, scored by the golden model.

Reads:  student/best.pt, or prune/best.pt when prune.enabled (the smaller network),
        features/ (train for calibration, test for scoring, quant.json)
Writes: quantize/model_int8.npz   every layer's integer parameters (the export stage's input)
        quantize/layers.json      layer list: kind, shapes, scales, zero points, SQNR
        quantize/student_int8.tflite  the same integers as a TFLite flatbuffer, checked in
                                  TensorFlow Lite Micro on every test clip
        quantize/student_float.onnx  the float student for ONNX Runtime (kws.emit.onnx),
                                  checked against torch on every test clip
The int8 accuracy reported is the golden model's (kws.golden.network), never a fake-quant estimate.
Per-layer SQNR of int8 against float activations says which layer loses what.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from kws.artifacts import RunDir
from kws.emit.onnx import export_and_check
from kws.emit.tflite import run_tflm, smallest_arena, to_tflite
from kws.golden.network import AvgPool, QuantParams, run_network
from kws.io import atomic_path
from kws.training.loop import dequantize_tensor, load_trained
from kws.training.ptq import (convert, dequantize_output, float_forward,
                              post_training_quantize)
from kws.training.qat import FakeQuantNet, finetune

CONFIG_KEYS = ("quant", "student_model", "train", "data.augment", "prune.enabled", "budget.kind")
OUTPUT = "quantize"
REQUIRES = ("data", "features", "student")

log = logging.getLogger(__name__)


def float_source(cfg) -> str:
    """The training stage whose network is quantised: prune when it is on, else student."""
    return "prune" if cfg.prune.enabled else "student"


def requires(cfg) -> tuple[str, ...]:
    return ("data", "features", float_source(cfg))


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    run = RunDir(run_dir)
    labels = run.labels()
    quant = run.quant()
    source = float_source(cfg)
    model = load_trained(run_dir, source, cfg.student_model if source == "student" else None,
                         len(labels))
    train, test = run.features("train"), run.features("test")
    picks = np.random.default_rng(cfg.seed).permutation(len(train["label"]))
    calibration = train["features"][np.sort(picks[:cfg.quant.calibration_clips])]
    to_float = lambda q: dequantize_tensor(q, quant["scale"], quant["zero_point"])  # noqa: E731
    input_quant = QuantParams(quant["scale"], quant["zero_point"])
    layers, ranges, golden = post_training_quantize(model, to_float(calibration), cfg.quant,
                                                    input_quant)
    x_int8 = test["features"][..., None]                        # NHWC [N, frames, coeffs, 1]
    truth = test["label"].astype(np.int64)
    ptq_pred = run_network(golden, x_int8).astype(np.int32).argmax(1)
    report = {"ptq_int8_test_acc": round(float(np.mean(ptq_pred == truth)), 4)}
    log.info("quantize: PTQ int8 (golden) test accuracy %.3f", report["ptq_int8_test_acc"])
    quantized_layers = layers                  # the float weights the int8 network rounds
    if cfg.quant.qat:
        log.info("quantize: QAT, %d epochs", cfg.quant.qat_epochs)
        net = FakeQuantNet(layers, ranges, input_quant)
        report["qat_history"] = finetune(net, cfg, run_dir, cfg.quant.qat_epochs, cfg.quant.qat_lr)
        quantized_layers = net.to_float_layers()
        golden = convert(quantized_layers, ranges, input_quant)
        report.update(_qat_vs_golden(net, golden, to_float(test["features"]), x_int8, truth))

    int8_outputs = run_network(golden, x_int8, keep=True)
    float_outputs = [o.numpy() for o in float_forward(quantized_layers,
                                                      to_float(test["features"]))]
    student_logits = float_forward(layers, to_float(test["features"]))[-1].numpy()
    float_pred = student_logits.argmax(1)
    int8_pred = int8_outputs[-1].astype(np.int32).argmax(1)
    out = Path(out) if out else run.quantize
    per_layer = _per_layer_report(golden, int8_outputs, float_outputs)
    log.info("quantize: writing %s, %s", run.model_int8_path.name, run.layers_path.name)
    run.save_golden_network(golden, per_layer, out)
    log.info("quantize: writing student_int8.tflite, running it in TFLite Micro on %d clips",
             len(x_int8))
    report.update(_tflite(golden, x_int8, int8_outputs[-1], out))
    log.info("quantize: writing student_float.onnx, running it in ONNX Runtime")
    report.update(export_and_check(model, to_float(test["features"]), out / "student_float.onnx"))
    val = run.features("validation")
    val_pred = run_network(golden, val["features"][..., None]).astype(np.int32).argmax(1)
    return {"float_source": source,
            "float_test_acc": round(float(np.mean(float_pred == truth)), 4), **report,
            "int8_test_acc": round(float(np.mean(int8_pred == truth)), 4),
            "int8_val_acc": round(float(np.mean(val_pred == val["label"])), 4),
            **_costs(cfg, model, golden, x_int8[0]),
            "int8_source": "qat" if cfg.quant.qat else "ptq",
            "float_int8_argmax_agreement": round(float(np.mean(float_outputs[-1].argmax(1)
                                                               == int8_pred)), 4),
            "calibration": cfg.quant.calibration,
            "calibration_clips": int(len(calibration)),
            "sqnr_db": {row["name"]: row["sqnr_db"] for row in per_layer},
            "weights_bytes": int(sum(l.weights.size for l in golden if hasattr(l, "weights"))),
            "bias_bytes": int(sum(4 * l.bias.size for l in golden if hasattr(l, "bias")))}


def _tflite(golden: list, x_int8: np.ndarray, golden_logits: np.ndarray, out: Path) -> dict:
    """Write the .tflite, run it in TFLite Micro on every test clip, compare with golden."""
    model = to_tflite(golden, x_int8.shape[1:3])
    with atomic_path(out / "student_int8.tflite", suffix=".tflite") as tmp:
        tmp.write_bytes(model)
    tflm = run_tflm(model, x_int8)
    equal = np.all(tflm == golden_logits, axis=1)
    return {"tflite_bytes": len(model),
            "golden_vs_tflm_bitexact": round(float(equal.mean()), 6),
            "tflm_clips": int(len(equal)),
            "tflm_arena_bytes": smallest_arena(model, x_int8)}


def _qat_vs_golden(net: FakeQuantNet, golden: list, x_float: torch.Tensor, x_int8: np.ndarray,
                   truth: np.ndarray) -> dict:
    """QAT torch model against the golden integers: accuracy, argmax agreement, max LSB gap."""
    net.eval()
    with torch.no_grad():
        fake = net(x_float).numpy()
    out = golden[-1].output
    fake_q = np.round(fake / out.scale).astype(np.int64) + out.zero_point
    golden_q = run_network(golden, x_int8).astype(np.int64)
    return {"qat_int8_test_acc": round(float(np.mean(golden_q.argmax(1) == truth)), 4),
            "qat_torch_test_acc": round(float(np.mean(fake.argmax(1) == truth)), 4),
            "qat_golden_argmax_agreement": round(float(np.mean(fake_q.argmax(1)
                                                               == golden_q.argmax(1))), 4),
            "qat_golden_max_logit_diff_lsb": int(np.abs(fake_q - golden_q).max())}


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    noise = np.sum((test - reference) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference**2) / noise))


def _nchw_to_nhwc(x: np.ndarray) -> np.ndarray:
    return np.transpose(x, (0, 2, 3, 1)) if x.ndim == 4 else x


def _costs(cfg, model, golden: list, x: np.ndarray) -> dict:
    """What the int8 network costs: parameters, arena and flash bytes (kws.measure.network_cost,
    as export plans them), and Cortex-M4 instructions per inference when budget.kind asks."""
    from kws.measure.network_cost import m4_instructions, memory_costs
    from kws.training.models import count_params
    costs = {"params": count_params(model), **memory_costs(golden, x.shape)}
    if cfg.budget.kind == "m4_instructions":
        costs["m4_instructions"] = m4_instructions(golden, x)
    return costs


def _per_layer_report(golden: list, int8_outputs: list, float_outputs: list) -> list[dict]:
    rows = []
    for layer, q, f in zip(golden, int8_outputs, float_outputs):
        quant = layer.quant if isinstance(layer, AvgPool) else layer.output
        deq = dequantize_output(q, quant)
        kind = layer.name.split("_", 1)[1]
        row = {"name": layer.name, "kind": kind, "shape": list(q.shape[1:]),
               "scale": quant.scale, "zero_point": quant.zero_point,
               "sqnr_db": round(sqnr_db(_nchw_to_nhwc(f), deq), 2)}
        if getattr(layer, "time_padding", "same") != "same":
            row["time_padding"] = layer.time_padding
        rows.append(row)
    return rows


def summarize(entry: dict) -> str:
    worst = min(entry.get("sqnr_db", {}).items(), key=lambda kv: kv[1], default=("-", 0))
    qat = f", QAT int8 {entry['qat_int8_test_acc']}" if "qat_int8_test_acc" in entry else ""
    return (f"float {entry.get('float_test_acc')}, PTQ int8 (golden) "
            f"{entry.get('ptq_int8_test_acc')}{qat}, lowest SQNR {worst[1]} dB ({worst[0]}), "
            f"TFLM bit-exact {entry.get('golden_vs_tflm_bitexact')} of "
            f"{entry.get('tflm_clips')} clips, arena {entry.get('tflm_arena_bytes')} B")


