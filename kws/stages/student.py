"""Stage `student`: the small DS-CNN, distilled from the teacher (distill.enabled) or not.

Reads:  data/, features/, teacher/best.pt (of this run, or of distill.teacher_dir)
Writes: student/ (checkpoints, metrics.csv, confusion_test.png)
"""
from __future__ import annotations

from pathlib import Path

from kws.artifacts import RunDir
from kws.errors import KwsError
from kws.io import read_json
from kws.training.loop import load_trained, summarize_training, train_model

CONFIG_KEYS = ("seed", "student_model", "teacher_model", "train", "distill", "data.augment")
OUTPUT = "student"
REQUIRES = ("data", "features")
RESUMABLE = True                          # train.resume continues student.partial/


def requires(cfg) -> tuple[str, ...]:
    """This run's teacher too, when distilling from it (not from distill.teacher_dir)."""
    own_teacher = cfg.distill.enabled and not cfg.distill.teacher_dir
    return REQUIRES + (("teacher",) if own_teacher else ())


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    teacher = None
    entry = {"distilled": bool(cfg.distill.enabled)}
    if cfg.distill.enabled:
        teacher_run = Path(cfg.distill.teacher_dir or run_dir)
        labels = RunDir(run_dir).labels()
        if cfg.distill.teacher_dir:
            RunDir(teacher_run).require_completed(("teacher",), "distill.teacher_dir")
        if cfg.distill.teacher_dir and RunDir(teacher_run).labels() != labels:
            raise KwsError(f"distill.teacher_dir={teacher_run}: its labels differ from this run's")
        teacher = load_trained(teacher_run, "teacher", cfg.teacher_model, len(labels))
        teacher_report = (read_json(teacher_run / "report.json") or {}).get("teacher", {})
        entry["teacher"] = {"run_dir": str(teacher_run), "model": cfg.teacher_model.name,
                            "params": teacher_report.get("params"),
                            "test_acc": teacher_report.get("test_acc")}
    epochs = cfg.distill.epochs or cfg.train.epochs
    result = train_model(cfg, run_dir, "student", cfg.student_model, epochs, teacher=teacher,
                         out=out)
    return {**result, **entry}


def summarize(entry: dict) -> str:
    how = "distilled" if entry.get("distilled") else "from scratch"
    return f"{summarize_training(entry)}, {how}"
