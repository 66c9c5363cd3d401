"""Scale-out: the golden front end over processes and DDP ranks gives the serial integers, and
torchrun trains teacher and student with two CPU processes (gloo), resuming after a kill."""
import json
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from conftest import ROOT, TINY_SYNTHETIC, TINY_TRAINING, compose_cfg, copy_run
from kws.artifacts import RunDir
from kws.epoch_features import EpochFeatures, TrainingAudio
from kws.errors import KwsError
from kws.golden.mfcc import frame_clips, mfcc_frames
from kws.training.distributed import Ranks, batch_positions

def _draws(run_dir, cache, workers=1, chunk=16):
    """The tiny run's epoch draws, 16 clips per chunk (so there are several)."""
    settings = OmegaConf.to_container(compose_cfg(TINY_SYNTHETIC).data.augment, resolve=True)
    return EpochFeatures(run_dir, TrainingAudio.from_run(run_dir), settings, 0, workers, cache,
                         chunk_clips=chunk)


def test_epoch_draws_are_the_same_integers_for_any_number_of_processes(quantized_run, tmp_path):
    run_dir, _ = quantized_run
    with _draws(run_dir, None) as serial:
        one = serial(3)
        assert serial.n_chunks > 2                               # the split is exercised
        assert not np.array_equal(one, serial(4))                # a fresh draw per epoch
    with _draws(run_dir, None, workers=2) as parallel:
        assert np.array_equal(parallel(3), one)

    # two "ranks": each computes every other chunk, then they swap (what all_gather does)
    with _draws(run_dir, None) as a, _draws(run_dir, None) as b:
        other = b._compute(3, list(range(1, b.n_chunks, 2)))
        a.sharing = lambda n: (list(range(0, n, 2)), lambda mine: {**mine, **other})
        assert np.array_equal(a(3), one)

    # the chunk cache: a hit returns the same integers without recomputing the draw
    with _draws(run_dir, tmp_path) as cached:
        assert np.array_equal(cached(3), one)
        files = sorted((tmp_path / "epoch_features").glob("*.npy"))
        assert len(files) == cached.n_chunks
    with _draws(run_dir, tmp_path) as again:
        again.source = None                                      # nothing left to compute from
        assert np.array_equal(again(3), one)


def test_the_front_end_on_any_number_of_threads_equals_one_thread(quantized_run):
    """The features stage's parallelism: mfcc_frames' threads (faster here than processes)."""
    run_dir, _ = quantized_run
    run = RunDir(run_dir)
    clips = run.split("train")["audio"]
    t = run.mfcc_tables()
    frames = frame_clips(clips, t)
    assert np.array_equal(mfcc_frames(frames, t, threads=3), mfcc_frames(frames, t, threads=1))


def test_each_rank_trains_its_share_of_every_global_batch():
    single, b = batch_positions(10, 4, Ranks(0, 1))
    assert b == 4 and single.tolist() == list(range(10))
    shares = [batch_positions(10, 4, Ranks(r, 2)) for r in (0, 1)]
    assert all(b == 2 for _, b in shares)
    for k in range(3):                      # batch k of each rank lies in global batch k
        global_batch = set(range(4 * k, min(4 * k + 4, 10)))
        for positions, _ in shares:
            assert set(positions[2 * k:2 * k + 2].tolist()) <= global_batch | {0, 1}
    assert set(np.concatenate([p for p, _ in shares]).tolist()) == set(range(10))
    with pytest.raises(KwsError, match=r"train.batch_size=5 must be a multiple .* \(2\)"):
        batch_positions(10, 5, Ranks(0, 2))


def _torchrun(args, n=2, script=("-m", "kws")):
    """torchrun beside this interpreter; --standalone: a rendezvous on a free local port."""
    torchrun = shutil.which("torchrun", path=str(ROOT / ".venv" / "bin")) or "torchrun"
    return subprocess.run([torchrun, "--standalone", "--nproc_per_node", str(n), *script, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def _metrics(run_dir, stage):
    lines = (run_dir / stage / "metrics.csv").read_text().splitlines()
    head = lines[0].split(",")
    return [dict(zip(head, map(float, line.split(",")))) for line in lines[1:]]


def test_torchrun_two_cpu_processes_train_like_one(quantized_run, tmp_path, cache_dir):
    base, _ = quantized_run
    overrides = TINY_SYNTHETIC + TINY_TRAINING + [f"paths.cache_dir={cache_dir}",
                                                  "train.epochs=2", "stages=[teacher,student]"]
    one, two = copy_run(base, tmp_path / "one"), copy_run(base, tmp_path / "two")
    single = subprocess.run([sys.executable, "-m", "kws", *overrides, f"hydra.run.dir={one}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = _torchrun(overrides + [f"hydra.run.dir={two}"])
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    report = json.loads((two / "report.json").read_text())
    assert report["teacher"]["processes"] == 2 and report["student"]["processes"] == 2
    for stage in ("teacher", "student"):
        a, b = _metrics(one, stage), _metrics(two, stage)
        assert len(a) == len(b) == 2
        # same start, same global batches, averaged gradients: only BatchNorm's per-rank batch
        # statistics differ
        assert abs(a[0]["train_loss"] - b[0]["train_loss"]) < 0.05 * a[0]["train_loss"]
    log = (two / "app.log").read_text()
    assert log.count("teacher epoch 1/2") == 1                   # rank 0 alone logs


@pytest.mark.slow
def test_torchrun_resumes_after_rank_0_is_killed(quantized_run, tmp_path, cache_dir):
    base, _ = quantized_run
    run_dir = copy_run(base, tmp_path / "run")
    overrides = TINY_SYNTHETIC + TINY_TRAINING + [f"paths.cache_dir={cache_dir}",
                                                  "train.epochs=3", "stages=[teacher]",
                                                  f"hydra.run.dir={run_dir}", "train.resume=true"]
    killed = _torchrun(["after:last.pt:1", *overrides],
                       script=(str(ROOT / "tests" / "crash_points.py"),))
    assert killed.returncode != 0
    partial = run_dir / "teacher.partial" / "last.pt"
    assert torch.load(partial, weights_only=False)["state"]["epoch"] == 1
    resumed = _torchrun(overrides)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming after epoch 1" in (run_dir / "app.log").read_text()
    assert [row["epoch"] for row in _metrics(run_dir, "teacher")] == [1, 2, 3]
