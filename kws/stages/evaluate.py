"""Stage `evaluate`: score a finished run on any folder in the Speech Commands layout.

    kws stages=[evaluate] eval.root=PATH eval.run=RUN_DIR [eval.name=NAME]

Every clip under PATH is a test clip (keyword folders, other words as _unknown_, _silence_).
Features come from the run's own front-end settings; the float score from its student, the int8
score from its golden int8 network. Writes RUN_DIR/eval/<name>.json and <name>_confusion.png.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kws.artifacts import REPORT, RunDir
from kws.audio.clips import UnreadableClip, read_clip
from kws.audio.speech_commands import listing_fingerprint, scan
from kws.errors import KwsError
from kws.golden.mfcc import mfcc_clips
from kws.golden.network import run_network
from kws.io import read_json, write_json
from kws.training.loop import _plot_confusion, dequantize_tensor, load_trained, predict

CONFIG_KEYS = ("eval",)
OUTPUT = None                             # it writes into the scored run: eval.run/eval/
REQUIRES = ()                             # of this run; eval.run must hold a finished run


def input_fingerprint(cfg) -> str:
    return listing_fingerprint(Path(cfg.eval.root).expanduser()) if cfg.eval.root else ""


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    if not cfg.eval.root or not cfg.eval.run:
        raise KwsError("evaluate needs eval.root=FOLDER and eval.run=RUN_DIR")
    root, scored = Path(cfg.eval.root).expanduser(), Path(cfg.eval.run).expanduser()
    if not (scored / "data" / "labels.json").exists():
        raise KwsError(f"eval.run={scored}: not a finished kws run (no data/labels.json)")
    scored_run = RunDir(scored)
    scored_run.require_completed(("data", "features", "student", "quantize"), "eval.run")
    labels = scored_run.labels()
    quant = scored_run.quant()
    tables = scored_run.mfcc_tables()
    refs, _ = scan(root, labels[2:], 0, 0)
    audio, truth, skipped = [], [], []
    for ref in refs:
        try:
            audio.append(read_clip(ref.path, sample_rate=tables.sample_rate,
                                   n_samples=tables.clip_samples))
            truth.append(labels.index(ref.label))
        except UnreadableClip as exc:
            skipped.append(str(exc))
    if not audio:
        raise KwsError(f"eval.root={root}: no readable clips")
    features = mfcc_clips(np.stack(audio), tables)
    truth = np.array(truth)
    source = (read_json(scored / REPORT) or {}).get("quantize", {}).get("float_source",
                                                                        "student")
    model = load_trained(scored, source, None, len(labels))
    x_float = dequantize_tensor(features, quant["scale"], quant["zero_point"])
    float_pred = predict(model, x_float, torch.device("cpu")).argmax(1).numpy()
    int8_pred = run_network(scored_run.golden_network(),
                            features[..., None]).astype(np.int32).argmax(1)
    name = cfg.eval.name or root.name
    out = scored_run.eval
    _plot_confusion(out / f"{name}_confusion.png", torch.from_numpy(int8_pred),
                    torch.from_numpy(truth), labels, f"{name} (int8)")
    recall = {label: round(float(np.mean(int8_pred[truth == i] == i)), 4)
              for i, label in enumerate(labels) if np.any(truth == i)}
    result = {"root": str(root), "run": str(scored), "clips": int(len(truth)),
              "skipped_clips": len(skipped),
              "float_acc": round(float(np.mean(float_pred == truth)), 4),
              "int8_acc": round(float(np.mean(int8_pred == truth)), 4),
              "per_class_recall_int8": recall,
              "report": str(out / f"{name}.json")}
    write_json(out / f"{name}.json", result)
    return result


def summarize(entry: dict) -> str:
    return (f"{entry.get('clips')} clips: float {entry.get('float_acc')}, "
            f"int8 {entry.get('int8_acc')} → {entry.get('report')}")


