"""Training loop shared by the teacher and student stages.

Inputs are the golden int8 features, dequantised for torch. Every epoch draws a new augmentation
of the training audio from (seed, epoch) and recomputes its integer features (cached on disk, so
a draw that repeats, e.g. when the student sees the teacher's epochs, is not recomputed).
Everything random in an epoch is seeded by (seed, epoch), so a run resumed from a checkpoint at
an epoch boundary continues exactly as the uninterrupted run would have.

Writes into <run_dir>/<name>/ (built as <name>.partial/ by the pipeline): last.pt (every epoch,
atomic), best.pt (best validation accuracy), metrics.csv, confusion_test.png, and TensorBoard logs
when tensorboard is installed. Every file is written to a temp file and renamed; last.pt comes
after the epoch's best.pt and metrics.csv, so a kill -9 anywhere loses at most the epoch in
progress and never leaves the folder behind its last.pt.

last.pt records what the stage's fingerprint covers (kws.pipeline.fingerprint_record: its
settings and the stamps of the stages before it); train.resume=true continues only a checkpoint
made with the same, and otherwise names the settings that differ.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from kws.artifacts import STAMPS, RunDir
from kws.audio.augment import Material, training_material
from kws.audio.speech_commands import UNKNOWN
from kws.errors import KwsError
from kws.epoch_features import EpochFeatures, TrainingAudio
from kws.feature_cache import worker_count
from kws.io import (TEMP_MARK, atomic_path, copy_file, read_json, save_figure, write_json,
                    write_text)
from kws.pipeline import fingerprint_record
from kws.training import distributed
from kws.training.mining import MiningPool, StreamMiner, load_pool
from kws.training.models import build_model, count_macs, count_params
from kws.training.spec_augment import mask_batch
from kws.training.stream_selection import ValidationStreams, selection_key

log = logging.getLogger(__name__)


@dataclass
class Dataset:
    """Everything a training run reads from the run directory."""
    train_audio: np.ndarray
    train_labels: np.ndarray
    noise: list[np.ndarray]
    material: Material          # training rooms and interfering speech
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    labels: list[str]
    scale: float
    zero_point: int


def load_dataset(run_dir: Path) -> Dataset:
    run = RunDir(run_dir)
    quant = run.quant()
    train = run.split("train")
    val, test = run.features("validation"), run.features("test")

    def tensor(q):
        return dequantize_tensor(q, quant["scale"], quant["zero_point"])

    return Dataset(train["audio"], train["label"].astype(np.int64),
                   run.noise("train"), training_material(run),
                   tensor(val["features"]), torch.from_numpy(val["label"].astype(np.int64)),
                   tensor(test["features"]), torch.from_numpy(test["label"].astype(np.int64)),
                   run.labels(), quant["scale"], quant["zero_point"])


def dequantize_tensor(q: np.ndarray, scale: float, zero_point: int) -> torch.Tensor:
    """int8 [N, frames, coeffs] → float32 [N, 1, frames, coeffs], as the network sees them."""
    return ((torch.from_numpy(q.astype(np.float32)) - zero_point) * scale).unsqueeze(1)


def choose_device(setting: str, threads: int) -> torch.device:
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    if setting not in ("cpu", "cuda") or (setting == "cuda" and not torch.cuda.is_available()):
        raise KwsError(f"train.device={setting!r}: expected auto, cpu or cuda (when available)")
    if setting == "cpu":
        torch.set_num_threads(threads or os.cpu_count() or 1)
    return torch.device(setting)


def epoch_draws(cfg, run_dir: Path, ds: Dataset, tables, sharing=None,
                ranks: int = 1) -> EpochFeatures:
    """The training features of every epoch (a fresh augmentation draw each, integer features),
    over cfg.workers processes; use as a context manager (kws.epoch_features)."""
    settings = (OmegaConf.to_container(cfg.data.augment, resolve=True)
                if cfg.train.augment and cfg.data.augment.enabled else None)
    source = TrainingAudio(ds.train_audio, ds.noise, ds.material, tables)
    return EpochFeatures(run_dir, source, settings, cfg.seed, worker_count(cfg.workers, ranks),
                         Path(cfg.paths.cache_dir).expanduser(), sharing)


def epoch_inputs(ds: Dataset, draws: EpochFeatures, epoch: int) -> torch.Tensor:
    """Training inputs of one epoch, as the network sees them."""
    return dequantize_tensor(draws(epoch), ds.scale, ds.zero_point)


def lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def distill_loss(student_logits, teacher_logits, labels, temperature: float, alpha: float,
                 label_smoothing: float, weights: torch.Tensor | None = None) -> torch.Tensor:
    """weights: one per example (hard negatives count more), the loss their weighted mean;
    None: the plain mean."""
    if weights is not None:
        return _weighted_distill_loss(student_logits, teacher_logits, labels, temperature,
                                      alpha, label_smoothing, weights)
    hard = F.cross_entropy(student_logits, labels, label_smoothing=label_smoothing)
    if teacher_logits is None:
        return hard
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=1),
                    F.log_softmax(teacher_logits / temperature, dim=1),
                    reduction="batchmean", log_target=True) * temperature**2
    return (1 - alpha) * hard + alpha * soft


def _weighted_distill_loss(student_logits, teacher_logits, labels, temperature: float,
                           alpha: float, label_smoothing: float,
                           weights: torch.Tensor) -> torch.Tensor:
    share = weights / weights.sum()
    hard = (F.cross_entropy(student_logits, labels, label_smoothing=label_smoothing,
                            reduction="none") * share).sum()
    if teacher_logits is None:
        return hard
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=1),
                    F.log_softmax(teacher_logits / temperature, dim=1),
                    reduction="none", log_target=True).sum(dim=1)
    return (1 - alpha) * hard + alpha * (soft * share).sum() * temperature**2


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, device: torch.device,
            batch: int = 512) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch].to(device)).cpu() for i in range(0, len(x), batch)])


def train_model(cfg, run_dir: Path, name: str, model_cfg, epochs: int,
                teacher: nn.Module | None = None, out: Path | None = None,
                initial_state: dict | None = None, resume_completed: bool = True,
                mining=None, checkpoint_from: int | None = None) -> dict | None:
    """Train `model_cfg` as stage `name` into `out` (default <run_dir>/<name>); returns its
    report entry. initial_state: weights to start from (fine-tuning) instead of a random
    initialisation. resume_completed: train.resume may also continue the last.pt of the stage's
    completed folder (false when `out` is one of several trainings inside the stage).
    mining: a MiningConfig to mine hard negatives with (kws.training.mining), or None.
    checkpoint_from: choose best.pt on the validation streams among the epochs from this one
    (1-based; kws.training.stream_selection); None: by validation clip accuracy.

    Under torchrun (kws.training.distributed) rank 0 first hands the same arguments to the other
    ranks (follow_trainings), and every rank trains its share of each batch; only rank 0 writes
    and returns the entry (the others return None)."""
    r = distributed.ranks()
    if r.parallel and r.leader:
        distributed.from_rank_0({
            "cfg": OmegaConf.to_container(cfg, resolve=True), "run_dir": str(run_dir),
            "name": name, "model_cfg": OmegaConf.to_container(model_cfg, resolve=True),
            "epochs": epochs, "teacher": teacher, "out": str(out) if out else None,
            "initial_state": initial_state, "resume_completed": resume_completed,
            "mining": OmegaConf.to_container(mining, resolve=True) if mining else None,
            "checkpoint_from": checkpoint_from})
    return _train(cfg, Path(run_dir), name, model_cfg, epochs, teacher, out, initial_state,
                  resume_completed, r, mining, checkpoint_from)


def follow_trainings() -> None:
    """Ranks 1..N-1 under torchrun: run each training rank 0 announces, until it says stop."""
    while (job := distributed.from_rank_0(None)) is not None:
        _train(OmegaConf.create(job["cfg"]), Path(job["run_dir"]), job["name"],
               OmegaConf.create(job["model_cfg"]), job["epochs"], job["teacher"],
               Path(job["out"]) if job["out"] else None, job["initial_state"],
               job["resume_completed"], distributed.ranks(),
               OmegaConf.create(job["mining"]) if job["mining"] else None,
               job["checkpoint_from"])


def _train(cfg, run_dir: Path, name: str, model_cfg, epochs: int, teacher, out,
           initial_state, resume_completed: bool, r: distributed.Ranks,
           mining=None, checkpoint_from: int | None = None) -> dict | None:
    final = run_dir / name
    out = Path(out) if out else final
    if r.leader:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "model.json", OmegaConf.to_container(model_cfg, resolve=True))
    ds = load_dataset(run_dir)
    tables = RunDir(run_dir).mfcc_tables()
    device = _device(cfg, r)
    torch.manual_seed(cfg.seed)
    net = build_model(model_cfg, len(ds.labels))
    if initial_state is not None:
        net.load_state_dict(initial_state)
    net = net.to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.train.lr,
                                  weight_decay=cfg.train.weight_decay)
    pool = _mining_pool(cfg, run_dir, ds, mining, net)
    n_mined = mining.per_epoch if pool is not None else 0
    steps_per_epoch = math.ceil((len(ds.train_labels) + n_mined) / cfg.train.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(
        step, epochs * steps_per_epoch, cfg.train.warmup_epochs * steps_per_epoch))
    state = {"epoch": 0, "best_val_acc": -1.0, "history": [], "train_seconds": 0.0}
    checkpoint = out / "last.pt"
    record = fingerprint_record(cfg, name, read_json(run_dir / STAMPS, default={}))
    if r.leader:
        state = _resume(cfg, name, final, out, resume_completed, record, net, optimizer,
                        schedule) or state
    if r.parallel:       # every rank starts where rank 0 does (a resumed checkpoint included)
        start = distributed.from_rank_0({"model": net.state_dict(), "state": state,
                                         "optimizer": optimizer.state_dict(),
                                         "schedule": schedule.state_dict()})
        net.load_state_dict(start["model"])
        optimizer.load_state_dict(start["optimizer"])
        schedule.load_state_dict(start["schedule"])
        state = start["state"]
    model = _data_parallel(net, device) if r.parallel else net
    if teacher is not None:
        teacher.to(device).eval()
    writer = _tensorboard(out, cfg.train.tensorboard) if r.leader else None
    y_train = torch.from_numpy(ds.train_labels)
    unknown = ds.labels.index(UNKNOWN)
    sharing = distributed.share_chunks(r) if r.parallel else None
    streams = (ValidationStreams(cfg, run_dir, net, lambda q: dequantize_tensor(
        q[None], ds.scale, ds.zero_point)[0, 0]) if checkpoint_from is not None and r.leader
        else None)
    with epoch_draws(cfg, run_dir, ds, tables, sharing, r.size) as draws:
        for epoch in range(state["epoch"], epochs):
            started = time.perf_counter()
            torch.manual_seed(cfg.seed * 100_003 + epoch)
            mined, fired = (pool.mine(net, mining.per_epoch, device) if pool is not None
                            and epoch >= mining.start_epoch else (None, 0))
            x_train, y_epoch, w_epoch = _with_hard_negatives(
                epoch_inputs(ds, draws, epoch), y_train, mined, unknown, mining)
            positions, batch_size = distributed.batch_positions(len(y_epoch),
                                                                cfg.train.batch_size, r)
            mask = cfg.train.spec_augment
            fill = x_train.mean(dim=(0, 1, 2)) if mask.enabled else None
            order = np.random.default_rng([cfg.seed, epoch, 2]).permutation(len(y_epoch))
            my_order = torch.from_numpy(order[positions])
            model.train()
            loss_sum, correct = 0.0, 0
            bar = tqdm(range(0, len(my_order), batch_size), desc=f"{name} {epoch + 1}/{epochs}",
                       unit="batch", leave=False, disable=None if r.leader else True)
            for start in bar:
                idx = my_order[start:start + batch_size]
                x, y = x_train[idx].to(device), y_epoch[idx].to(device)
                w = w_epoch[idx].to(device) if w_epoch is not None else None
                if mask.enabled:
                    x = mask_batch(x, fill, mask)
                logits = model(x)
                with torch.no_grad():
                    t_logits = teacher(x) if teacher is not None else None
                loss = distill_loss(logits, t_logits, y, cfg.distill.temperature,
                                    cfg.distill.alpha, cfg.train.label_smoothing, w)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                loss_sum += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(1) == y).sum())
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
            loss_sum, correct, seen = distributed.all_sum(loss_sum, correct, len(my_order))
            if not r.leader:
                continue
            val_logits = predict(net, ds.val_x, device)
            row = {"epoch": epoch + 1, "train_loss": round(loss_sum / seen, 5),
                   "train_acc": round(correct / seen, 5),
                   "val_loss": round(float(F.cross_entropy(val_logits, ds.val_y)), 5),
                   "val_acc": round(_accuracy(val_logits, ds.val_y), 5),
                   "lr": optimizer.param_groups[0]["lr"],
                   "seconds": round(time.perf_counter() - started, 2)}
            if pool is not None:
                row["hard_negatives"] = 0 if mined is None else len(mined)
                row["mining_fired"] = fired
            if streams is not None:
                row.update(_stream_score(streams, net, epoch + 1 >= checkpoint_from))
            _end_of_epoch(name, epochs, row, state, net, optimizer, schedule, record, out,
                          writer)
    if not r.leader:
        return None
    if writer is not None:
        writer.close()
    if not (out / "best.pt").exists():
        raise KwsError(f"{name}: no epoch was trained (train.epochs={epochs})")
    net.load_state_dict(_read_checkpoint(out / "best.pt", name, device)["model"])
    test_logits = predict(net, ds.test_x, device)
    _plot_confusion(out / "confusion_test.png", test_logits.argmax(1), ds.test_y, ds.labels, name)
    frames, coeffs = ds.test_x.shape[-2:]
    entry = {} if pool is None else {"mining": _mining_entry(pool, mining, state["history"])}
    return {**entry, "model": model_cfg.name, "params": count_params(net),
            "macs": count_macs(net.cpu(), (frames, coeffs)),
            "val_acc": round(state["best_val_acc"], 4), "best_epoch": state.get("best_epoch"),
            **({} if streams is None else {"checkpoint_on": "validation streams",
                                           "checkpoint_from_epoch": checkpoint_from,
                                           **_chosen_stream_figures(state)}),
            "test_acc": round(_accuracy(test_logits, ds.test_y), 4),
            "epochs": state["epoch"], "train_seconds": round(state["train_seconds"], 1),
            "device": str(device), "processes": r.size}


def _with_hard_negatives(x: torch.Tensor, y: torch.Tensor, mined: torch.Tensor | None,
                         unknown: int, mining
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The epoch's inputs, labels and loss weights: its clips, then its mined windows as
    `_unknown_` at mining.weight (no weights at all when nothing was mined)."""
    if mined is None or not len(mined):
        return x, y, None
    weights = torch.cat([torch.ones(len(y)), torch.full((len(mined),), float(mining.weight))])
    return (torch.cat([x, mined]), torch.cat([y, torch.full((len(mined),), unknown)]),
            weights)


def _mining_pool(cfg, run_dir: Path, ds: Dataset, mining, net: nn.Module
                 ) -> MiningPool | StreamMiner | None:
    if mining is None:
        return None
    if mining.source == "streams":
        return StreamMiner(cfg, run_dir, net, lambda q: dequantize_tensor(
            q[None], ds.scale, ds.zero_point)[0, 0])
    pool = load_pool(run_dir, mining, cfg.data.seed, ds.train_audio.shape[1],
                     lambda q: dequantize_tensor(q, ds.scale, ds.zero_point))
    if pool is None:
        log.info("mining: the training split has no negative speech (no ../shared negatives, "
                 "no TTS sentences): trained without hard negatives")
    return pool


def _mining_entry(pool: MiningPool | StreamMiner, mining, history: list[dict]) -> dict:
    return {**pool.describe(), "start_epoch": mining.start_epoch, "weight": mining.weight,
            "hard_negatives_per_epoch": [row.get("hard_negatives", 0) for row in history],
            "fired_per_epoch": [row.get("mining_fired", 0) for row in history]}


def _device(cfg, r: distributed.Ranks) -> torch.device:
    """train.device; under DDP each rank takes its own GPU (LOCAL_RANK), or its share of the
    CPU threads."""
    threads = cfg.train.threads or max(1, (os.cpu_count() or 1) // r.size)
    device = choose_device(cfg.train.device, threads)
    if device.type == "cuda" and r.parallel:
        local = int(os.environ.get("LOCAL_RANK", r.rank))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    return device


def _data_parallel(net: nn.Module, device: torch.device) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(net, device_ids=ids)


def _resume(cfg, name: str, final: Path, out: Path, resume_completed: bool, record: dict,
            net, optimizer, schedule) -> dict | None:
    """train.resume: the saved state of a killed run's partial folder, else of the last
    completed folder (same check); None when there is nothing to continue."""
    checkpoint = out / "last.pt"
    candidates = (checkpoint, final / "last.pt") if resume_completed else (checkpoint,)
    source = next((p for p in candidates if p.exists()), None)
    if not cfg.train.resume or source is None:
        return None
    state = _load_checkpoint(source, net, optimizer, schedule, record)
    if source != checkpoint:
        _copy_completed(final, out)
    log.info("%s: resuming after epoch %d (%s)", name, state["epoch"], source)
    return state


def _end_of_epoch(name: str, epochs: int, row: dict, state: dict, net, optimizer, schedule,
                  record: dict, out: Path, writer) -> None:
    """Rank 0: the epoch's log line, best.pt, metrics.csv, then last.pt (what a resume
    continues, so the epoch's other files come first)."""
    state["history"].append(row)
    state["epoch"] = row["epoch"]
    state["train_seconds"] += row["seconds"]
    log.info("%s epoch %d/%d: loss %.4f train %.3f val %.3f (%.1fs)", name, row["epoch"],
             epochs, row["train_loss"], row["train_acc"], row["val_acc"], row["seconds"])
    if _better(row, state):
        state["best_val_acc"] = row["val_acc"]
        state["best_epoch"] = row["epoch"]
        _save(out / "best.pt", {"model": net.state_dict(), "epoch": row["epoch"]})
    _write_metrics(out / "metrics.csv", state["history"])
    _save(out / "last.pt", {"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                            "schedule": schedule.state_dict(), "state": state,
                            "fingerprint": record})
    if writer is not None:
        for key, value in row.items():
            if key != "epoch" and value is not None:
                writer.add_scalar(f"{name}/{key}", value, row["epoch"])


def _better(row: dict, state: dict) -> bool:
    """Whether the epoch's weights replace best.pt: by validation clip accuracy, or, when the
    epoch was scored on the validation streams, by kws.training.stream_selection.selection_key
    (epochs before distill.checkpoint_from_epoch are then never chosen)."""
    if "val_stream_frr" not in row:
        return row["val_acc"] > state["best_val_acc"]
    if row["val_stream_frr"] is None:
        return False
    best = _best_row(state)
    return best is None or selection_key(row) < selection_key(best)


def _best_row(state: dict) -> dict | None:
    """The history row of the epoch best.pt holds (None before the first)."""
    return next((r for r in state["history"] if r["epoch"] == state.get("best_epoch")), None)


def _chosen_stream_figures(state: dict) -> dict:
    """The validation-stream figures of the epoch best.pt holds."""
    row = _best_row(state)
    return {key: row[key] for key in row if key.startswith("val_stream_")}


def _stream_score(streams: ValidationStreams, net: nn.Module, due: bool) -> dict:
    """The epoch's figures on the validation streams (blank before the first scored epoch: one
    set of columns in metrics.csv)."""
    if not due:
        return dict.fromkeys(("val_stream_frr", "val_stream_fa_per_hour",
                              "val_stream_threshold", "val_stream_target_met",
                              "val_stream_window_ms"))
    started = time.perf_counter()
    score = streams.score(net)
    log.info("validation streams: FRR %.3f at %.2f FA/h (window %g ms, threshold %d%s, %.1f s)",
             score["val_stream_frr"], score["val_stream_fa_per_hour"],
             score["val_stream_window_ms"], score["val_stream_threshold"],
             "" if score["val_stream_target_met"] else ", target not met",
             time.perf_counter() - started)
    return score


def summarize_training(entry: dict) -> str:
    """One line for a training stage's report entry (train_model's result)."""
    return (f"{entry.get('model')}: {entry.get('params')} params, {entry.get('macs')} MACs, "
            f"val {entry.get('val_acc')}, test {entry.get('test_acc')}, "
            f"{entry.get('epochs')} epochs in {entry.get('train_seconds')} s")


def load_teacher(cfg, run_dir: Path) -> tuple[nn.Module, dict]:
    """The teacher to distil from (distill.teacher_dir's, or this run's) and what the report
    says of it; its labels must be this run's."""
    teacher_run = Path(cfg.distill.teacher_dir or run_dir)
    labels = RunDir(run_dir).labels()
    if cfg.distill.teacher_dir:
        RunDir(teacher_run).require_completed(("teacher",), "distill.teacher_dir")
        if RunDir(teacher_run).labels() != labels:
            raise KwsError(f"distill.teacher_dir={teacher_run}: its labels differ from this run's")
    teacher = load_trained(teacher_run, "teacher", cfg.teacher_model, len(labels))
    report = (read_json(teacher_run / "report.json") or {}).get("teacher", {})
    return teacher, {"run_dir": str(teacher_run), "model": cfg.teacher_model.name,
                     "params": report.get("params"), "test_acc": report.get("test_acc")}


def load_trained(run_dir: Path, name: str, model_cfg, n_classes: int) -> nn.Module:
    """The best checkpoint of stage `name` in `run_dir` (model_cfg None: the one it recorded)."""
    run = RunDir(run_dir)
    path = run.checkpoint(name)
    if model_cfg is None:
        model_cfg = OmegaConf.create(run.model_config(name))
    model = build_model(model_cfg, n_classes)
    model.load_state_dict(_read_checkpoint(path, name)["model"])
    return model.eval()


def _read_checkpoint(path: Path, stage: str, device="cpu") -> dict:
    """A checkpoint torch can read, or one KwsError naming it (a truncated or foreign file)."""
    try:
        return torch.load(path, map_location=device)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise KwsError(f"{path}: cannot read this checkpoint ({exc}); re-run the {stage} "
                       "stage") from None


def _copy_completed(final: Path, out: Path) -> None:
    """Copy a completed training folder into the partial one that train.resume continues,
    file by file through temp files and last.pt last: a kill mid-copy leaves no half file, and a
    last.pt in the partial folder (which a resume reads first) means the rest is there."""
    files = sorted((p for p in final.rglob("*") if p.is_file() and TEMP_MARK not in p.name),
                   key=lambda p: (p.relative_to(final) == Path("last.pt"), str(p)))
    for path in files:
        copy_file(path, out / path.relative_to(final))


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(1) == labels).float().mean()) if len(labels) else 0.0


def _save(path: Path, obj: dict) -> None:
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(obj, tmp)


def _load_checkpoint(path: Path, model, optimizer, schedule, record: dict) -> dict:
    how = f"delete {path} to train from scratch, or set train.resume=false"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        saved = ckpt.get("fingerprint")
        if saved is None:
            raise KwsError(f"{path}: cannot resume: the checkpoint does not record the settings "
                           f"it was trained with (made by an older kws), so a match cannot be "
                           f"checked; {how}")
        differences = fingerprint_differences(saved, record)
        if differences:
            raise KwsError(f"{path}: cannot resume: it was trained with other settings or "
                           f"inputs: {'; '.join(differences)}. Resuming would mix the two; {how}")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        schedule.load_state_dict(ckpt["schedule"])
    except (OSError, RuntimeError, KeyError, EOFError, ValueError, AttributeError,
            pickle.UnpicklingError) as exc:
        raise KwsError(f"{path}: cannot resume from this checkpoint ({exc}); {how}") from None
    return ckpt["state"]


def fingerprint_differences(old: dict, new: dict) -> list[str]:
    """What differs between two fingerprint records: "train.lr: 0.003 → 0.001", ..."""
    old_cfg, new_cfg = _flatten(old.get("config", {})), _flatten(new.get("config", {}))
    changed = [f"{key}: {_show(old_cfg.get(key))} → {_show(new_cfg.get(key))}"
               for key in sorted(old_cfg.keys() | new_cfg.keys())
               if old_cfg.get(key) != new_cfg.get(key)]
    old_up, new_up = old.get("upstream", {}), new.get("upstream", {})
    for stage in new_up:
        before, now = old_up.get(stage), new_up.get(stage)
        if before != now:
            changed.append(f"stage {stage}: " + ("completed since" if before is None else
                                                 "not completed now" if now is None else
                                                 "re-ran since, with other settings or inputs"))
    if old.get("outside") != new.get("outside"):
        changed.append("its inputs outside the run directory changed")
    return changed


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _show(value) -> str:
    return "null" if value is None else json.dumps(value) if isinstance(value, (list, dict)) \
        else str(value)


def _write_metrics(path: Path, history: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text(path, buffer.getvalue())


def _tensorboard(out: Path, enabled: bool):
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def _plot_confusion(path: Path, predicted: torch.Tensor, truth: torch.Tensor,
                    labels: list[str], title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(labels)
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (truth.numpy(), predicted.numpy()), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(matrix, cmap="Blues")
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"{title}: test split, accuracy {accuracy:.3f}")
    save_figure(path, fig)
    plt.close(fig)
