"""Seconds one epoch's augmentation and its golden features take on a run's training set, with
the reverberation, interfering-speech and level steps at their defaults and with them off.

    .venv/bin/python bench/augment_cost.py RUN_DIR [--repeats 3]

RUN_DIR: a run whose data stage has finished (data/train.npz, the noise and the train pools).
Prints the best of --repeats timings of each (wall clock, this machine as it is).
"""
from __future__ import annotations

import argparse

import numpy as np

from kws.artifacts import RunDir
from kws.audio.augment import augment, training_material
from kws.config import compose
from kws.golden.mfcc import mfcc_clips
from results import best_of

NEW_STEPS_OFF = ["data.augment.reverb_prob=0", "data.augment.negatives_prob=0",
                 "data.augment.level_prob=0"]



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    run = RunDir(args.run_dir)
    train, noise, tables = run.split("train"), run.noise("train"), run.mfcc_tables()
    material = training_material(run)
    for name, overrides in (("default steps", []), ("new steps off", NEW_STEPS_OFF)):
        cfg = compose(overrides).data.augment
        aug_s, audio = best_of(args.repeats, lambda: augment(
            train["audio"], noise, cfg, tables.sample_rate, np.random.default_rng(0), material))
        feat_s, _ = best_of(args.repeats, lambda: mfcc_clips(audio, tables))
        print(f"{name}: {len(audio)} clips, augmentation {aug_s:.2f} s, features {feat_s:.2f} s")


if __name__ == "__main__":
    main()
