"""Issue 15's ablation on the real subset's test speakers, same student: each row one whole run
(teacher and student trained on that row's data), one after the other, then one table.

    .venv/bin/python bench/ablation.py --root ../shared/data/speech_commands_v0.02_subset \
        --out /tmp/ablation [--rows real,voices,rooms,streaming,mining] [--seed 0]

Rows (each adds to the one before):
    real       recorded speech; augmentation: shift, noise, gain only
    voices     + the synthetic training voices (data.with_synthetic=true)
    rooms      + real negatives as interfering speech, rooms, level (the default augmentation)
    streaming  + keywords at every offset of the window (shift +-250 ms), partly cut keywords
                 and negative-speech windows as _unknown_
    mining     + hard negatives mined from the training negatives (kws.training.mining)

A row whose run directory already holds a finished report is read, not re-run. Prints a
markdown table: int8 clip accuracy, FRR at 0.1 / 0.5 / 1 FA/h on the stream stage's 3 h
negative stream (threshold chosen on the validation streams, and the best on test), the
teacher's and the student's training seconds, the run's wall time.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

PLAIN_AUGMENTATION = ["data.augment.reverb_prob=0", "data.augment.negatives_prob=0",
                      "data.augment.level_prob=0"]
VOICES = ["data.with_synthetic=true"]
# every offset: a 1 s clip moved by up to 250 ms stays whole in the 1.5 s window
STREAMING = ["data.augment.time_shift_ms=250", "data.partial_words_share=0.25",
             "data.negative_windows_share=0.25"]
MINING = ["mining.enabled=true"]
ROWS = {
    "real": ("recorded speech; shift, noise, gain", PLAIN_AUGMENTATION),
    "voices": ("+ synthetic training voices", PLAIN_AUGMENTATION + VOICES),
    "rooms": ("+ real negatives, rooms, level", VOICES),
    "streaming": ("+ keywords at every offset, partly cut keywords, negative windows",
                  VOICES + STREAMING),
    "mining": ("+ hard-negative mining", VOICES + STREAMING + MINING),
}
STAGES = "stages=[data,features,teacher,student,quantize,stream]"


def run_row(name: str, overrides: list[str], root: str, out: Path, seed: int) -> dict:
    run_dir = out / name
    report = run_dir / "report.json"
    if report.exists() and "stream" in json.loads(report.read_text()):
        return json.loads(report.read_text()) | {"_wall_s": None}
    command = [sys.executable, "-m", "kws.app", "data=speech_commands", f"data.root={root}",
               f"seed={seed}", STAGES, *overrides, f"hydra.run.dir={run_dir}"]
    print("+", " ".join(command[2:]), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return json.loads(report.read_text()) | {"_wall_s": time.perf_counter() - started}


def row_figures(report: dict) -> dict:
    stream, quant = report["stream"], report["quantize"]
    at = stream["at_fa_per_hour"]
    return {"int8": quant["int8_test_acc"],
            "frr": {k: (at[k]["frr"], at[k]["threshold"]) for k in ("0.1", "0.5", "1")},
            "chosen": (stream["frr"], stream["fa_per_hour"], stream["threshold"]),
            "train_s": (report["teacher"]["train_seconds"], report["student"]["train_seconds"]),
            "train_clips": sum(report["data"]["counts"]["train"].values()),
            "wall_s": report["_wall_s"]}


def table(rows: dict[str, dict]) -> str:
    lines = ["| data (student and teacher) | training clips | int8 test | FRR at 0.5 FA/h, "
             "threshold from validation (FA/h on test) | FRR at 0.1 / 0.5 / 1 FA/h, best "
             "threshold on test | teacher / student training | run |",
             "|---|---:|---:|---|---|---:|---:|"]
    for name, f in rows.items():
        frr, fa, thr = f["chosen"]
        best = " / ".join(f"{100 * v:.1f} %" for v, _ in f["frr"].values())
        wall = f"{f['wall_s'] / 60:.1f} min" if f["wall_s"] else "–"
        lines.append(f"| {ROWS[name][0]} | {f['train_clips']:,} | {100 * f['int8']:.2f} % | "
                     f"{100 * frr:.1f} % (threshold {thr}; {fa:g} FA/h) | {best} | "
                     f"{f['train_s'][0]:.0f} s / {f['train_s'][1]:.0f} s | {wall} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="the real Speech Commands subset")
    parser.add_argument("--out", required=True, type=Path, help="one run directory per row")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = args.rows.split(",")
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        sys.exit(f"--rows: unknown row(s) {unknown}; known: {', '.join(ROWS)}")
    rows = {n: row_figures(run_row(n, ROWS[n][1], args.root, args.out, args.seed))
            for n in names}
    print(table(rows))


if __name__ == "__main__":
    main()
