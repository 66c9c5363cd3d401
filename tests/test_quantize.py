"""Stage quantize: PTQ and QAT int8 students scored by the golden network; the file it writes is
what the later stages read back (kws.artifacts.RunDir.golden_network)."""
import numpy as np

from conftest import TINY_SYNTHETIC, TINY_TRAINING, compose_cfg
from kws.artifacts import RunDir
from kws.golden.network import run_network
from kws.pipeline import run_pipeline


def test_ptq_int8_follows_the_float_model(tmp_path, cache_dir):
    cfg = compose_cfg(TINY_SYNTHETIC + TINY_TRAINING + [f"paths.cache_dir={cache_dir}",
                                                        "train.epochs=3", "distill.enabled=false",
                                                        "stages=[data,features,student,quantize]",
                                                        "quant.qat=false"])
    report = run_pipeline(cfg, tmp_path)["quantize"]
    assert report["int8_source"] == "ptq" and "qat_int8_test_acc" not in report
    # A 3-epoch model on the tiny 14-voice set has many near-ties between its top two classes,
    # which int8 rounding may swap (0.875 here); SQNR and accuracy below bound the damage.
    assert report["float_int8_argmax_agreement"] >= 0.85
    assert min(report["sqnr_db"].values()) > 15
    assert abs(report["ptq_int8_test_acc"] - report["float_test_acc"]) <= 0.1
    with np.load(tmp_path / "quantize" / "model_int8.npz") as f:
        assert all(f[k].dtype == np.int8 for k in f.files if k.endswith("/weights"))
        assert all(np.abs(f[k]).max() <= 127 for k in f.files if k.endswith("/weights"))


def test_qat_model_and_golden_integers_agree(tmp_path, cache_dir):
    cfg = compose_cfg(TINY_SYNTHETIC + TINY_TRAINING + [f"paths.cache_dir={cache_dir}",
                                                        "train.epochs=3", "distill.enabled=false",
                                                        "stages=[data,features,student,quantize]",
                                                        "quant.qat_epochs=1"])
    report = run_pipeline(cfg, tmp_path)["quantize"]
    assert report["int8_source"] == "qat" and len(report["qat_history"]) == 1
    assert report["int8_test_acc"] == report["qat_int8_test_acc"]
    assert report["qat_golden_argmax_agreement"] >= 0.9
    assert report["qat_golden_max_logit_diff_lsb"] <= 4
    assert min(report["sqnr_db"].values()) > 15


def test_the_int8_file_reads_back_as_the_network_that_was_scored(quantized_run):
    run_dir, _ = quantized_run
    run = RunDir(run_dir)
    report = run.root / "report.json"
    layers = run.golden_network()
    test = run.features("test")
    predicted = run_network(layers, test["features"][..., None]).astype(np.int32).argmax(1)
    accuracy = round(float(np.mean(predicted == test["label"])), 4)
    import json
    assert accuracy == json.loads(report.read_text())["quantize"]["int8_test_acc"]
    assert (run.quantize / "student_int8.tflite").stat().st_size > 1000
    assert (run.quantize / "student_float.onnx").stat().st_size > 1000
