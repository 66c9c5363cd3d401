"""Benchmark teacher and students on real speech with a speaker split.

    .venv/bin/python bench/train.py [--root ../shared/data/speech_commands_v0.02_subset]
                                    [--run-dir bench/runs/train] [--epochs 30] [OVERRIDE ...]

One run directory: data, features and the teacher (dscnn_l) once; then, on the same split and
features, the student distilled, the student from scratch and dscnn_s from scratch. Writes its
section of bench/RESULTS.md. Re-running skips what is unchanged (stage fingerprints).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kws.config import compose
from kws.pipeline import run_pipeline
from results import DEFAULT_ROOT, HERE, write_section

# The distilled student runs last, so the run directory ends with it in student/ and
# bench/quantize.py quantizes it without retraining (same fingerprint: skipped).
ARMS = [("student, from scratch", ["distill.enabled=false"]),
        ("dscnn_s (MLPerf Tiny topology), from scratch",
         ["distill.enabled=false", "model@student_model=dscnn_s"]),
        ("student, distilled from the teacher", ["distill.enabled=true"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--run-dir", type=Path, default=HERE / "runs" / "train")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args()
    if not args.root.is_dir():
        sys.exit(f"bench: {args.root} not found (pass --root PATH to a Speech Commands folder)")
    # recorded speech alone, as these figures have always been (the synthetic voices off)
    base = ["data=speech_commands", f"data.root={args.root}", "data.with_synthetic=false",
            f"train.epochs={args.epochs}",
            *args.overrides]
    started = time.perf_counter()
    rows = []
    report = run_pipeline(compose(base + ["stages=[data,features,teacher]"]), args.run_dir)
    rows.append(("teacher dscnn_l (float)", report["teacher"]))
    for name, overrides in ARMS:
        report = run_pipeline(compose(base + overrides + ["stages=[student]"]), args.run_dir)
        rows.append((name, dict(report["student"])))
    data = report["data"]
    sizes = {s: sum(data["counts"][s].values()) for s in data["counts"]}
    command = " ".join(["bench/train.py", f"--epochs {args.epochs}", *args.overrides])
    section = ["## Training: teacher and students (float)", "",
               f"Command: `.venv/bin/python {command}`", "",
               f"Real speech: the Speech Commands subset, 12 classes, split by speaker "
               f"(train/validation/test {sizes['train']}/{sizes['validation']}/{sizes['test']} "
               f"clips, {data['speakers']['train']}/{data['speakers']['validation']}/"
               f"{data['speakers']['test']} speakers); inputs are the golden int8 MFCCs; "
               f"{args.epochs} epochs each, best validation epoch kept; CPU, 2 cores; "
               f"{time.strftime('%Y-%m-%d')}. Accuracy on the test speakers.", "",
               "| model | params (BN folded) | MACs | val acc | test acc | train time |",
               "|---|---|---|---|---|---|"]
    for name, r in rows:
        section.append(f"| {name} | {r['params']:,} | {r['macs']:,} | {r['val_acc']:.4f} | "
                       f"{r['test_acc']:.4f} | {r['train_seconds']:.0f} s |")
    section.append(f"\nTotal wall time {time.perf_counter() - started:.0f} s.")
    write_section(HERE / "RESULTS.md", "train", "\n".join(section))
    print("\n".join(section))


if __name__ == "__main__":
    main()
