"""Stage `prune`: the student with whole channels removed (kws.training.prune), fine-tuned by
distillation from the teacher; a physically smaller network that quantize, stream, export,
verify and firmware take as they take the student.

Reads:  student/ (best.pt, model.json) of this run or of prune.student_dir; data/ (training
        audio to fine-tune on), features/ (training clips for the wanda score and the cost
        checks); the teacher (distill.teacher_dir's or this run's) when distill.enabled
Writes: prune/best.pt, last.pt, model.json (the smaller network's config), metrics.csv,
        confusion_test.png (of the last round); prune/round<k>/ (each round's training)
Off (prune.enabled=false, the default): nothing is pruned and quantize takes the student.

The target is a share of channels (prune.ratio, every group alike, counts at a multiple of
prune.multiple) or a budget (prune.budget: M4 instructions per inference, arena or flash bytes):
the least pruning whose network meets it, found by bisection over the uniform levels, each level
measured on the network itself (kws.measure.network_cost). prune.from_scratch trains the same
smaller shape from random weights instead: the baseline pruning has to beat.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from kws.artifacts import STAMPS, RunDir
from kws.errors import KwsError
from kws.golden.network import QuantParams
from kws.io import copy_file, read_json
from kws.measure.network_cost import network_cost
from kws.training.loop import (dequantize_tensor, load_teacher, load_trained,
                               summarize_training, train_model)
from kws.training.models import build_model, count_macs, count_params
from kws.training.prune import (candidate_ratios, choose_channels, group_widths, importance,
                                keep_counts, prune_channels, pruned_config, round_schedule,
                                search_ratio)
from kws.training.ptq import post_training_quantize

CONFIG_KEYS = ("seed", "prune", "student_model", "teacher_model", "train", "distill",
               "data.augment", "quant.calibration", "quant.percentile")
OUTPUT = "prune"
REQUIRES = ()
RESUMABLE = True                          # train.resume continues prune.partial/
ROUND_FILES = ("best.pt", "last.pt", "model.json", "metrics.csv", "confusion_test.png")


def requires(cfg) -> tuple[str, ...]:
    if not cfg.prune.enabled:
        return ()
    own_student = () if cfg.prune.student_dir else ("student",)
    own_teacher = ("teacher",) if cfg.distill.enabled and not cfg.distill.teacher_dir else ()
    return ("data", "features") + own_student + own_teacher


def input_fingerprint(cfg) -> str:
    """The student stage's stamp in prune.student_dir: a retrained student there re-runs this."""
    if not (cfg.prune.enabled and cfg.prune.student_dir):
        return ""
    return str(read_json(Path(cfg.prune.student_dir) / STAMPS, default={}).get("student", ""))


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    p = cfg.prune
    if not p.enabled:
        return {"enabled": False}
    run = RunDir(run_dir)
    out = Path(out) if out else run.root / OUTPUT
    labels = run.labels()
    source = _student_run(cfg, run_dir, labels)
    student_cfg = RunDir(source).model_config("student")
    student = load_trained(source, "student", None, len(labels))
    x_int8, x_cal = _calibration_clips(cfg, run)
    widths = group_widths(student_cfg)
    if p.budget.kind is None:
        ratio, budget = float(p.ratio), None
    else:
        ratio, budget = _ratio_for_budget(cfg, run, student, student_cfg, x_int8, x_cal)
    counts = keep_counts(widths, ratio, p.multiple)
    teacher, teacher_entry = load_teacher(cfg, run_dir) if cfg.distill.enabled else (None, None)
    if p.from_scratch:
        small_cfg = OmegaConf.create({**pruned_config(student_cfg, counts),
                                      "name": f"{student_cfg['name']}-scratch"})
        result = train_model(cfg, run_dir, OUTPUT, small_cfg,
                             cfg.distill.epochs or cfg.train.epochs, teacher=teacher, out=out)
        rounds = []
    else:
        result, rounds = _prune_and_finetune(cfg, run_dir, out, student, student_cfg, x_cal,
                                             teacher, len(labels), ratio)
    frames, coeffs = x_cal.shape[-2:]
    return {"enabled": True, "method": "from scratch" if p.from_scratch else "pruned",
            "importance": p.importance, "ratio": round(ratio, 4),
            "student_dir": str(source), "channels_before": widths, "channels": counts,
            "student_params": count_params(student),
            "student_macs": count_macs(student, (frames, coeffs)),
            **result, "rounds": rounds, "budget": budget,
            **({"teacher": teacher_entry} if teacher_entry else {})}


def _student_run(cfg, run_dir: Path, labels: list[str]) -> Path:
    if not cfg.prune.student_dir:
        return Path(run_dir)
    source = Path(cfg.prune.student_dir).expanduser()
    RunDir(source).require_completed(("student",), "prune.student_dir")
    if RunDir(source).labels() != labels:
        raise KwsError(f"prune.student_dir={source}: its labels differ from this run's")
    return source


def _calibration_clips(cfg, run: RunDir) -> tuple[np.ndarray, torch.Tensor]:
    """prune.calibration_clips training clips (seeded pick): int8 [N, frames, coeffs, 1] and
    float [N, 1, frames, coeffs] as the network sees them."""
    train, quant = run.features("train"), run.quant()
    picks = np.random.default_rng([cfg.seed, 7]).permutation(len(train["label"]))
    q = train["features"][np.sort(picks[:cfg.prune.calibration_clips])]
    return q[..., None], dequantize_tensor(q, quant["scale"], quant["zero_point"])


def _golden(model, x_cal: torch.Tensor, run: RunDir, quant_cfg) -> list:
    """The int8 network of a float model, calibrated as the quantize stage's PTQ does."""
    quant = run.quant()
    return post_training_quantize(model, x_cal, quant_cfg,
                                  QuantParams(quant["scale"], quant["zero_point"]))[2]


def _ratio_for_budget(cfg, run: RunDir, student, student_cfg, x_int8: np.ndarray,
                      x_cal: torch.Tensor) -> tuple[float, dict]:
    """The least uniform pruning whose network costs <= prune.budget.value: each candidate is
    the student cut (one shot, by prune.importance) to that level, quantised and measured."""
    p = cfg.prune
    kind, value = p.budget.kind, int(p.budget.value)
    widths = group_widths(student_cfg)
    scores = importance(student, p.importance, x_cal)
    ratios = candidate_ratios(widths, p.multiple)
    n_classes = student.classifier.out_features

    def cost(ratio: float) -> int:
        keep = choose_channels(scores, keep_counts(widths, ratio, p.multiple))
        small, _ = prune_channels(student, student_cfg, keep, n_classes)
        return network_cost(kind, _golden(small, x_cal, run, cfg.quant), x_int8[0])

    unpruned = cost(0.0)
    if unpruned <= value:
        raise KwsError(f"prune.budget.value={value} ({kind}): the unpruned student already "
                       f"costs {unpruned}; nothing to prune (prune=default turns pruning off)")
    index, measured = search_ratio(ratios, cost, value)
    smallest = keep_counts(widths, ratios[-1], p.multiple)
    if index < 0:
        raise KwsError(f"prune.budget.value={value} ({kind}): no pruning ratio reaches it; the "
                       f"smallest network at prune.multiple={p.multiple} (channels {smallest}) "
                       f"costs {measured[len(ratios) - 1]}: reachable budgets are >= "
                       f"{measured[len(ratios) - 1]} (the unpruned student costs {unpruned})")
    return ratios[index], {"kind": kind, "value": value, "unpruned_cost": unpruned,
                           "cost": measured[index],
                           "measured": {f"{ratios[i]:.4f}": c for i, c in sorted(measured.items())}}


def _finetune_cfg(cfg):
    """train.* for fine-tuning: the pruned weights are a good start, so prune.lr, no warm-up."""
    tuned = copy.deepcopy(cfg)
    tuned.train.lr = float(cfg.prune.lr)
    tuned.train.warmup_epochs = 0
    return tuned


def _prune_and_finetune(cfg, run_dir: Path, out: Path, student, student_cfg: dict,
                        x_cal: torch.Tensor, teacher, n_classes: int, ratio: float
                        ) -> tuple[dict, list[dict]]:
    """prune.rounds rounds of: score the channels of the current network, cut it to the
    round's share of the student's channels, fine-tune (round<k>/)."""
    p = cfg.prune
    widths = group_widths(student_cfg)
    model, model_cfg = student, {**student_cfg, "name": f"{student_cfg['name']}-pruned"}
    tuned_cfg = _finetune_cfg(cfg)
    rounds, result, folder = [], {}, out
    for k, share in enumerate(round_schedule(ratio, p.rounds), start=1):
        keep = choose_channels(importance(model, p.importance, x_cal),
                               keep_counts(widths, share, p.multiple))
        model, model_cfg = prune_channels(model, model_cfg, keep, n_classes)
        folder = out / f"round{k}"
        result = train_model(tuned_cfg, run_dir, OUTPUT, OmegaConf.create(model_cfg),
                             p.finetune_epochs, teacher=teacher, out=folder,
                             initial_state=model.state_dict(), resume_completed=False)
        model = build_model(OmegaConf.create(model_cfg), n_classes)
        model.load_state_dict(torch.load(folder / "best.pt", map_location="cpu")["model"])
        rounds.append({"round": k, "ratio": round(share, 4),
                       "channels": [len(i) for i in keep], "params": result["params"],
                       "val_acc": result["val_acc"], "test_acc": result["test_acc"]})
    for name in ROUND_FILES:
        if (folder / name).exists():
            copy_file(folder / name, out / name)
    return result, rounds


def summarize(entry: dict) -> str:
    if not entry.get("enabled"):
        return "off (prune.enabled=false): quantize takes the student"
    budget = entry.get("budget")
    target = (f"budget {budget['kind']} <= {budget['value']} (one-shot cost {budget['cost']})"
              if budget else f"ratio {entry.get('ratio')}")
    return (f"{entry.get('method')} ({entry.get('importance')}, {target}): channels "
            f"{entry.get('channels_before')} -> {entry.get('channels')}; "
            f"{summarize_training(entry)}")
