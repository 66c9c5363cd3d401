"""Crash safety: kill -9 mid-training and mid-export, resume, and nothing is half-written; the
stage stamps never claim what did not finish. The harness (kws.measure.crash_safety) kills at
seeded random times (the slow test, >= 20 kills; bench/crash_safety.py); the fast tests kill at
exact writes (tests/crash_points.py)."""
import json
import signal
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, TINY_SYNTHETIC, TINY_TRAINING, compose_cfg, copy_run
from crash_points import Killed, install
from kws.errors import KwsError
from kws.io import TEMP_MARK
from kws.measure import crash_safety as cs
from kws.pipeline import run_pipeline

# The quantized_run fixture's teacher stage (only data and features needed), made tiny.
TINY_TEACHER = ["teacher_model.first_channels=8", "teacher_model.blocks=[{channels:8,stride:[2,2]}]"]


def _stamps(run_dir) -> dict:
    return json.loads((run_dir / ".stage_stamps.json").read_text())


def _rows(path) -> int:
    return len(path.read_text().splitlines()) - 1


def _whole(run_dir, reference) -> list[str]:
    """(a) and (b) of the harness: no file broken, no stamp claiming a broken folder."""
    problems, _ = cs.check_files(run_dir, reference)
    return problems + cs.check_stamps(run_dir, reference, problems)


def _kws_killed_at(spec, args, log):
    """`kws ARGS` that sends itself SIGKILL at the write `spec` (tests/crash_points.py)."""
    with open(log, "w") as out:
        return subprocess.run([sys.executable, str(ROOT / "tests" / "crash_points.py"), spec,
                               *args], stdout=out, stderr=subprocess.STDOUT, timeout=600).returncode


def test_killed_mid_training_and_mid_export_the_run_resumes_whole(quantized_run, tmp_path,
                                                                  caplog):
    base, overrides = quantized_run
    reference = copy_run(base, tmp_path / "reference")     # what a clean export writes
    run_pipeline(compose_cfg(overrides + ["stages=[export]"]), reference)
    run_dir = copy_run(base, tmp_path / "run")
    common = overrides + TINY_TEACHER + [f"hydra.run.dir={run_dir}", "train.resume=true"]

    # 1. Killed while writing epoch 2's checkpoint: last.pt still holds epoch 1.
    assert _kws_killed_at("mid:last.pt:2", common + ["stages=[teacher]"], tmp_path / "1.log") \
        == -signal.SIGKILL
    assert _whole(run_dir, reference) == []
    assert "teacher" not in _stamps(run_dir) and not (run_dir / "teacher").exists()
    assert cs.saved_epoch(run_dir, "teacher") == 1
    assert any(TEMP_MARK in p.name for p in (run_dir / "teacher.partial").iterdir())
    # ... resumes after epoch 1, not from scratch.
    with caplog.at_level("INFO", logger="kws.training.loop"):
        run_pipeline(compose_cfg(common + ["stages=[teacher]"]), run_dir)
    assert "teacher: resuming after epoch 1" in caplog.text
    assert not (run_dir / "teacher.partial").exists()

    # 2. Killed mid-export, in its last copy (a process without torch: quick).
    assert _kws_killed_at("mid:kws_mfcc_tables.c:1", common + ["stages=[export]"],
                          tmp_path / "2.log") == -signal.SIGKILL
    assert _whole(run_dir, reference) == []
    assert "teacher" in _stamps(run_dir) and "export" not in _stamps(run_dir)
    assert not (run_dir / "firmware").exists() and (run_dir / "firmware.partial").is_dir()

    # 3. Finished: every file whole, no temp file or partial folder left, the C as a clean run's.
    run_pipeline(compose_cfg(common + ["stages=[export]"]), run_dir)
    problems, temps = cs.check_files(run_dir, reference)
    assert problems == [] and temps == []
    assert not list(run_dir.glob("*.partial"))
    assert {"teacher", "export"} <= set(_stamps(run_dir))
    for path in (reference / "firmware").rglob("*"):     # the C and the MicroPython package
        if path.is_file():
            rel = path.relative_to(reference / "firmware")
            assert (run_dir / "firmware" / rel).read_bytes() == path.read_bytes(), rel
    last = torch.load(run_dir / "teacher" / "last.pt", weights_only=False)
    assert last["state"]["epoch"] == 3 and _rows(run_dir / "teacher" / "metrics.csv") == 3


def test_kills_at_the_checkpoints_commit_points_resume_whole(quantized_run, tmp_path):
    """last.pt is what a resume continues: everything else of the epoch is written before it,
    and the copy of a completed folder that train.resume continues puts it last."""
    base, overrides = quantized_run
    run_dir = copy_run(base, tmp_path / "run")
    cfg = compose_cfg(overrides + TINY_TEACHER + ["stages=[teacher]", "train.resume=true"])

    def killed_at(spec):
        hook = install(spec, Killed)
        try:
            with pytest.raises(Killed):
                run_pipeline(cfg, run_dir)
        finally:
            hook["restore"]()
        assert hook["fired"]

    killed_at("after:last.pt:3")          # right after the last epoch's checkpoint
    assert cs.saved_epoch(run_dir, "teacher") == 3
    killed_at("mid:.stage_stamps.json:2")     # teacher/ swapped in, its stamp not yet written
    assert (run_dir / "teacher").is_dir() and "teacher" not in _stamps(run_dir)
    assert _rows(run_dir / "teacher" / "metrics.csv") == 3     # not 2: written before last.pt
    killed_at("mid:last.pt:1")            # copying teacher/ to teacher.partial/ to resume it
    assert _whole(run_dir, None) == []
    run_pipeline(cfg, run_dir)
    assert "teacher" in _stamps(run_dir) and not (run_dir / "teacher.partial").exists()
    assert torch.load(run_dir / "teacher" / "last.pt", weights_only=False)["state"]["epoch"] == 3
    assert _rows(run_dir / "teacher" / "metrics.csv") == 3
    assert _whole(run_dir, None) == []


def test_a_truncated_checkpoint_is_one_error_naming_it(quantized_run, tmp_path):
    base, overrides = quantized_run
    run_dir = copy_run(base, tmp_path / "run")
    data = (run_dir / "student" / "last.pt").read_bytes()
    last = run_dir / "teacher.partial" / "last.pt"          # what train.resume reads first
    last.parent.mkdir()
    last.write_bytes(data[:len(data) // 2])
    with pytest.raises(KwsError, match=rf"{last}: cannot resume from this checkpoint"):
        run_pipeline(compose_cfg(overrides + TINY_TEACHER + ["stages=[teacher]",
                                                             "train.resume=true"]), run_dir)
    best = run_dir / "student" / "best.pt"                  # what quantize reads
    best.write_bytes(best.read_bytes()[:len(best.read_bytes()) // 2])
    with pytest.raises(KwsError, match=rf"{best}: cannot read this checkpoint .*student stage"):
        run_pipeline(compose_cfg(overrides + ["stages=[quantize]", "quant.qat=false"]), run_dir)


@pytest.mark.slow
def test_twenty_kills_at_random_times_resume_to_the_uninterrupted_run(cache_dir, tmp_path):
    overrides = TINY_SYNTHETIC + TINY_TRAINING + [
        f"paths.cache_dir={cache_dir}", "train.epochs=4", "quant.qat_epochs=2",
        f"stages=[{','.join(cs.STAGES)}]"]
    result = cs.run_campaign(tmp_path, kills=20, seed=0, overrides=overrides, epochs=4,
                             echo=lambda line: None)
    counts = cs.summary(result)
    assert counts["kills"] >= 20
    assert counts["problems"] == [], counts["problems"]
    assert {"teacher", "student", "quantize", "export"} <= set(counts["by_stage"]), counts
    for session in result["sessions"]:
        assert session["final"]["compare"]["differ"] == [] or all(
            d.split(":")[0] in {x.split(":")[0] for x in result["determinism"]["differ"]}
            for d in session["final"]["compare"]["differ"])
