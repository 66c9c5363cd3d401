"""Clips per second with 1 and with N processes or threads, in one run: an epoch's augmentation
draw + its golden features over `workers` processes (kws.epoch_features, what training does
every epoch), and the features stage's front end on N threads (kws.golden.mfcc.mfcc_frames,
the stage's parallelism). Checks that every count gives the same integers.

    .venv/bin/python bench/parallel_features.py RUN_DIR [--workers 1 2] [--repeats 2] [--write]

RUN_DIR: a run whose data stage has finished (data/{train,validation,test}.npz, the noise and
the train pools). No cache is used. --write puts the table into bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from kws.artifacts import RunDir
from kws.config import compose
from kws.epoch_features import EpochFeatures, TrainingAudio
from kws.golden.mfcc import frame_clips, mfcc_frames
from results import best_of, write_section

HERE = Path(__file__).resolve().parent



def epoch_draw(run_dir: Path, source: TrainingAudio, workers: int, repeats: int):
    settings = OmegaConf.to_container(compose([]).data.augment, resolve=True)
    with EpochFeatures(run_dir, source, settings, 0, workers, None) as draws:
        draws(0)                                    # start the workers (spawn, load the run)
        return best_of(repeats, lambda: draws(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--stage-clips", type=int, default=32768,
                        help="the features stage's set: the run's clips repeated to this many")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    run = RunDir(args.run_dir)
    source = TrainingAudio.from_run(args.run_dir)
    clips = np.concatenate([run.split(s)["audio"] for s in ("train", "validation", "test")])
    clips = np.resize(clips, (args.stage_clips, clips.shape[1]))       # a big data set
    rows, reference = [], {}
    for workers in args.workers:
        draw_s, draw = epoch_draw(args.run_dir, source, workers, args.repeats)
        stage_s, feats = best_of(args.repeats, lambda: mfcc_frames(
            frame_clips(clips, source.tables), source.tables, threads=workers))
        for name, value in (("draw", draw), ("stage", feats)):
            same = np.array_equal(reference.setdefault(name, value), value)
            if not same:
                raise SystemExit(f"{workers} workers: the {name} integers differ from "
                                 f"{args.workers[0]} worker(s)")
        rows.append((workers, len(source.audio) / draw_s, draw_s, len(clips) / stage_s,
                     stage_s))
        print(f"workers {workers}: epoch draw {rows[-1][1]:.0f} clips/s ({draw_s:.2f} s), "
              f"features stage {rows[-1][3]:.0f} clips/s ({stage_s:.2f} s), integers equal")
    base = rows[0]
    table = ["| processes / threads | epoch draw (augmentation + features), processes | "
             "speed-up | features stage front end, threads | speed-up |", "|---|---|---|---|---|"]
    for w, draw_rate, _, stage_rate, _ in rows:
        table.append(f"| {w} | {draw_rate:,.0f} clips/s | {draw_rate / base[1]:.2f}x | "
                     f"{stage_rate:,.0f} clips/s | {stage_rate / base[3]:.2f}x |")
    text = "\n".join([
        "## Parallel features (`workers`)", "",
        f"`.venv/bin/python bench/parallel_features.py RUN --workers "
        f"{' '.join(map(str, args.workers))} --repeats {args.repeats} --stage-clips "
        f"{args.stage_clips} --write` on "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores. RUN: a run on the real Speech "
        f"Commands subset: the epoch draw is its train split ({len(source.audio):,} clips, "
        "the default augmentation: shift, reverberation, interfering speech, noise, level, "
        f"gain), the features stage's front end its three splits repeated to "
        f"{len(clips):,} clips. "
        "Best of the repeats, wall clock, no cache. Every process count gave the same "
        "integers as one process.", "", *table])
    if args.write:
        write_section(HERE / "RESULTS.md", "parallel_features", text)
    print(text)


if __name__ == "__main__":
    main()
