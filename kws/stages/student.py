"""Stage `student`: the small DS-CNN, distilled from the teacher (distill.enabled) or not, with
hard negatives mined from the training negative speech (mining.enabled; kws.training.mining:
windows cut from it, or a negative training stream run through the integer recogniser).

Its best.pt is the epoch with the best validation clip accuracy, or (distill.checkpoint_on=stream)
the lowest FRR at the false-accept target on the validation streams (kws.training.stream_selection).

Reads:  data/, features/, teacher/best.pt (of this run, or of distill.teacher_dir); with
        checkpoint_on=stream the validation split's streams (data/validation.npz, its noise
        and held-out pools); with mining.source=streams the training split's (data/train.npz,
        its noise, negatives, TTS sentences and rooms)
Writes: student/ (checkpoints, metrics.csv, confusion_test.png)
"""
from __future__ import annotations

from pathlib import Path

from kws.training.loop import load_teacher, summarize_training, train_model

CONFIG_KEYS = ("seed", "student_model", "teacher_model", "train", "distill", "mining",
               "data.augment")
OUTPUT = "student"
REQUIRES = ("data", "features")
RESUMABLE = True                          # train.resume continues student.partial/


def config_keys(cfg) -> tuple[str, ...]:
    """Choosing the checkpoint on the validation streams, or mining hard negatives from a
    training stream, makes the stream settings (stream.*) and the recogniser that scores them
    (detector.*) part of what the student is."""
    on_streams = cfg.distill.checkpoint_on == "stream" or (
        cfg.mining.enabled and cfg.mining.source == "streams")
    return CONFIG_KEYS + (("stream", "detector") if on_streams else ())


def requires(cfg) -> tuple[str, ...]:
    """This run's teacher too, when distilling from it (not from distill.teacher_dir)."""
    own_teacher = cfg.distill.enabled and not cfg.distill.teacher_dir
    return REQUIRES + (("teacher",) if own_teacher else ())


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    _check_params_budget(cfg, run_dir)
    teacher = None
    entry = {"distilled": bool(cfg.distill.enabled)}
    if cfg.distill.enabled:
        teacher, entry["teacher"] = load_teacher(cfg, run_dir)
    epochs = cfg.distill.epochs or cfg.train.epochs
    on_streams = cfg.distill.checkpoint_on == "stream"
    result = train_model(cfg, run_dir, "student", cfg.student_model, epochs, teacher=teacher,
                         out=out, mining=cfg.mining if cfg.mining.enabled else None,
                         checkpoint_from=cfg.distill.checkpoint_from_epoch if on_streams
                         else None)
    return {**result, **entry}


def _check_params_budget(cfg, run_dir: Path) -> None:
    """budget.kind=params: refuse a student over it before spending its training (the
    quantize stage's count, of the same network, is what the run's budget check reads)."""
    if cfg.budget.kind != "params":
        return
    from kws.artifacts import RunDir
    from kws.errors import KwsError
    from kws.training.models import build_model, count_params
    params = count_params(build_model(cfg.student_model, len(RunDir(run_dir).labels())))
    if params > cfg.budget.value:
        raise KwsError(f"budget: student_model has params={params:,}, over budget.value="
                       f"{cfg.budget.value:,} by {params - cfg.budget.value:,}")


def summarize(entry: dict) -> str:
    how = "distilled" if entry.get("distilled") else "from scratch"
    return f"{summarize_training(entry)}, {how}"
