"""Stage student: the small DS-CNN distilled from the teacher (or trained alone)."""
import csv

import pytest

from conftest import compose_cfg
from kws.artifacts import RunDir
from kws.errors import KwsError
from kws.pipeline import run_pipeline


def test_student_is_distilled_from_this_runs_teacher(trained_run):
    _, report, _ = trained_run
    student = report["student"]
    assert student["distilled"] is True
    assert student["teacher"]["params"] == report["teacher"]["params"]
    assert student["params"] < report["teacher"]["params"]
    assert student["epochs"] == 2 and 0 <= student["test_acc"] <= 1


def test_student_writes_checkpoints_and_metrics(trained_run):
    run_dir, _, _ = trained_run
    folder = RunDir(run_dir).trained("student")
    assert [int(r["epoch"]) for r in csv.DictReader(open(folder / "metrics.csv"))] == [1, 2]
    assert (folder / "best.pt").exists() and (folder / "confusion_test.png").exists()


def test_a_teacher_dir_without_a_teacher_is_named(trained_run, tmp_path):
    run_dir, _, overrides = trained_run
    empty = tmp_path / "no_teacher"
    (empty / "data").mkdir(parents=True)
    (empty / "data" / "labels.json").write_text((run_dir / "data" / "labels.json").read_text())
    cfg = compose_cfg(overrides + [f"distill.teacher_dir={empty}", "stages=[student]"])
    import shutil
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    with pytest.raises(KwsError, match="teacher"):
        run_pipeline(cfg, run)
