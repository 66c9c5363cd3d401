"""Stage `teacher`: a large DS-CNN (default dscnn_l) trained on the int8 features.

Reads:  data/, features/        Writes: teacher/ (checkpoints, metrics.csv, confusion_test.png)
"""
from __future__ import annotations

from pathlib import Path

from kws.training.loop import summarize_training, train_model

CONFIG_KEYS = ("seed", "teacher_model", "train", "data.augment")
OUTPUT = "teacher"
REQUIRES = ("data", "features")
RESUMABLE = True                          # train.resume continues teacher.partial/


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    return train_model(cfg, run_dir, "teacher", cfg.teacher_model, cfg.train.epochs, out=out)


def summarize(entry: dict) -> str:
    return summarize_training(entry)
