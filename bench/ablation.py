"""Issue 15's ablation on the real subset's test speakers, same student: each row one whole run
(teacher and student trained on that row's data), one after the other, then one table.

    .venv/bin/python bench/ablation.py --root ../shared/data/speech_commands_v0.02_subset \
        --out /tmp/ablation [--rows real,voices,rooms,streaming,mining] [--seed 0]

Rows (each adds to the one before):
    real       recorded speech; augmentation: shift, noise, gain only
    voices     + the synthetic training voices (data.with_synthetic=true, the default since)
    rooms      + real negatives as interfering speech, rooms, level (the default augmentation):
                 the default run on recorded speech
    words      + 12 more _unknown_ words per synthetic speaker, from the keyword-free sentences'
                 vocabulary (data.synthetic.vocabulary_per_speaker), every one kept
    streaming  + keywords at every offset of the window (shift +-250 ms), partly cut keywords
                 and negative-speech windows as _unknown_
    mining     + hard negatives mined from the training negatives (kws.training.mining)

Every row is scored on the same streams, by this checkout's stream stage: on a copy of the row
(out/_common_streams/ROW) whose validation and test data and pools are the voices row's. Rows
without data.with_synthetic have no TTS sentences of test voices and no babble of their own;
the recorded validation and test clips are the same in every row.

A row whose run directory already holds a finished report is read, not re-run. Prints a
markdown table: int8 clip accuracy, FRR at 0.1 / 0.5 / 1 FA/h on the stream stage's 3 h
negative stream (threshold chosen on the validation streams, and the best on test), the
teacher's and the student's training seconds, the run's stages' seconds (the row's own run).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

PLAIN_AUGMENTATION = ["data.augment.reverb_prob=0", "data.augment.negatives_prob=0",
                      "data.augment.level_prob=0"]
RECORDED_ONLY = ["data.with_synthetic=false"]      # the voices are on by default
VOICES = ["data.with_synthetic=true"]
# every offset: a 1 s clip moved by up to 250 ms stays whole in the 1.5 s window
STREAMING = ["data.augment.time_shift_ms=250", "data.partial_words_share=0.25",
             "data.negative_windows_share=0.25"]
MINING = ["mining.enabled=true"]
WORDS = ["data.synthetic.vocabulary_per_speaker=12"]
ROWS = {
    "real": ("recorded speech; shift, noise, gain", PLAIN_AUGMENTATION + RECORDED_ONLY),
    "voices": ("+ synthetic training voices", PLAIN_AUGMENTATION + VOICES),
    "rooms": ("+ real negatives, rooms, level", VOICES),
    "words": ("+ other words from the sentences' vocabulary", VOICES + WORDS),
    "streaming": ("+ keywords at every offset, partly cut keywords, negative windows",
                  VOICES + STREAMING),
    "mining": ("+ hard-negative mining", VOICES + STREAMING + MINING),
}
STAGES = "stages=[data,features,teacher,student,quantize,stream]"


def run_row(name: str, overrides: list[str], root: str, out: Path, seed: int) -> dict:
    run_dir = out / name
    report = run_dir / "report.json"
    if not (report.exists() and "stream" in json.loads(report.read_text())):
        command = [sys.executable, "-m", "kws.app", "data=speech_commands", f"data.root={root}",
                   f"seed={seed}", STAGES, *overrides, f"hydra.run.dir={run_dir}"]
        print("+", " ".join(command[2:]), flush=True)
        subprocess.run(command, check=True)
    entries = json.loads(report.read_text())
    return entries | {"_wall_s": sum(e.get("seconds", 0) for e in entries.values()
                                     if isinstance(e, dict))}


HELD_OUT = [f"{kind}_{split}.npz" for split in ("validation", "test")
            for kind in ("speech", "negatives", "rirs")] + [
            f"{name}{split}.npz" for split in ("validation", "test") for name in ("", "noise_")]


def on_common_streams(name: str, overrides: list[str], root: str, out: Path, reference: Path,
                      report: dict) -> dict:
    """The row's report with its stream stage re-run (by this checkout's code) on a copy of the
    row whose held-out data are the reference row's. The row's cached inferences come along
    only when its held-out data already were the reference's (same streams)."""
    import shutil
    from kws.config import compose
    from kws.stages import stream
    scored = out / "_common_streams" / name
    if not (scored / "report.json").exists():
        same = all(_same(out / name / "data" / f, reference / "data" / f) for f in HELD_OUT)
        shutil.rmtree(scored, ignore_errors=True)
        shutil.copytree(out / name, scored, copy_function=os.link,
                        ignore=shutil.ignore_patterns("stream", "*.wav", "report.json"))
        # (a hard-linked report.json would be written through into the row's own)
        (scored / "stream").mkdir()
        if same:
            for cached in (out / name / "stream").glob("inferences*.npz"):
                os.link(cached, scored / "stream" / cached.name)
        for f in HELD_OUT:
            (scored / "data" / f).unlink()
            os.link(reference / "data" / f, scored / "data" / f)
        cfg = compose(["data=speech_commands", f"data.root={root}", *overrides,
                       "stream.write_wav=false"])
        entry = stream.run(cfg, scored, scored / "stream")
        (scored / "report.json").write_text(json.dumps(report | {"stream": entry}))
    return json.loads((scored / "report.json").read_text()) | {"_wall_s": report["_wall_s"]}


def _same(a: Path, b: Path) -> bool:
    """The same arrays (a zip's bytes hold its write time)."""
    import numpy as np
    if not (a.exists() and b.exists()):
        return False
    with np.load(a) as x, np.load(b) as y:
        return sorted(x.files) == sorted(y.files) and all(
            x[k].shape == y[k].shape and np.array_equal(x[k], y[k]) for k in x.files)


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
    reports = {n: run_row(n, ROWS[n][1], args.root, args.out, args.seed) for n in names}
    reference = args.out / "voices"
    if reference.is_dir():
        reports = {n: on_common_streams(n, ROWS[n][1], args.root, args.out, reference, r)
                   for n, r in reports.items()}
    print(table({n: row_figures(r) for n, r in reports.items()}))


if __name__ == "__main__":
    main()
