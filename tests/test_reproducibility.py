"""The same seed and config give byte-identical artifacts, run in separate processes, and every
stage's report entry says what made it (kws.provenance)."""
import json
import subprocess
import sys

import numpy as np

from conftest import ROOT, compose_cfg, copy_run
from kws.pipeline import run_pipeline

STAGES = "stages=[data,features,student,quantize,export]"
# What must not differ by a byte: the data and features, the int8 network (npz and .tflite),
# and every generated C file.
ARTIFACTS = ("data/train.npz", "data/test.npz", "features/train.npz", "features/test.npz",
             "features/quant.json", "quantize/model_int8.npz", "quantize/layers.json",
             "quantize/student_int8.tflite")


def test_the_same_seed_and_config_give_byte_identical_artifacts(quantized_run, tmp_path):
    base, overrides = quantized_run
    first = copy_run(base, tmp_path / "first")
    run_pipeline(compose_cfg(overrides + [STAGES]), first)          # this process (+ export)
    second = tmp_path / "second"                                     # another, from nothing
    fresh = [o for o in overrides if not o.startswith("paths.cache_dir=")]
    proc = subprocess.run([sys.executable, "-m", "kws.app", *fresh, STAGES,
                           f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={second}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    generated = sorted(p.relative_to(first).as_posix() for p in (first / "firmware").rglob("*")
                       if p.is_file())
    assert any(name.endswith("kws_model_data.c") for name in generated)
    assert any(name.endswith("kws_mp/model.py") for name in generated)      # MicroPython too
    different = [name for name in (*ARTIFACTS, *generated)
                 if (first / name).read_bytes() != (second / name).read_bytes()]
    assert different == []
    with np.load(second / "quantize" / "model_int8.npz") as z:
        assert any(z[k].dtype == np.int8 for k in z.files)


def test_every_stage_records_the_versions_that_made_it(quantized_run):
    base, _ = quantized_run
    report = json.loads((base / "report.json").read_text())
    for stage in ("data", "features", "student", "quantize"):
        env = report[stage]["environment"]
        assert env["python"] == sys.version.split()[0]
        assert env["packages"]["numpy"] == np.__version__
        assert env["packages"]["torch"] and env["packages"]["tflite-micro"]
        assert set(env["programs"]) >= {"cc", "arm-none-eabi-gcc", "qemu-system-arm"}
        assert env["kws_revision"] is None or len(env["kws_revision"]) >= 40
