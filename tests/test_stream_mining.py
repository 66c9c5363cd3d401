"""Hard negatives mined by the integer recogniser over a negative training stream
(mining.source=streams, kws.training.mining.StreamMiner)."""
import csv

import numpy as np
import torch

from conftest import TINY_QUANTIZED, TINY_SYNTHETIC, TINY_VALID, compose_cfg
from test_stream_selection import _tiny_valid_net


def _miner(net, features, threshold, average_window=5):
    """A StreamMiner over given frames, without a run directory."""
    from kws.golden.detector import make_settings
    from kws.training.mining import StreamMiner
    from kws.training.stream_selection import time_geometry
    miner = StreamMiner.__new__(StreamMiner)
    miner.frames = 49
    miner.geometry = time_geometry(net, miner.frames, features.shape[1])
    miner.features = features
    miner.settings = make_settings([False, False, True, True], 1.0, average_window=average_window,
                                   min_count=1, threshold=threshold, suppression_frames=50,
                                   infer_every=miner.geometry.stride)
    miner.threshold = threshold
    return miner


def _keyword_p(net, windows):
    with torch.no_grad():
        p = np.round(255 * torch.softmax(net(windows), dim=1).numpy()).astype(np.int64)
    return p[:, 2:].max(axis=1)


def test_the_mined_windows_are_stream_windows_the_network_takes_for_a_keyword():
    """Each hard negative is the window of one inference of the stream (at the network's
    cadence) whose own keyword probability reaches the threshold, the surest first."""
    net = _tiny_valid_net()
    torch.manual_seed(1)
    features = torch.randn(2000, 10)
    with torch.no_grad():
        everything = _keyword_p(net, torch.stack([features[a:a + 49] for a in
                                                  range(0, 2000 - 48, 4)])[:, None])
    threshold = int(np.percentile(everything, 80))         # some inferences reach it
    miner = _miner(net, features, threshold)
    mined, detections = miner.mine(net, 1000, torch.device("cpu"))
    assert detections > 0 and 0 < len(mined) <= (everything >= threshold).sum()
    starts = [next(a for a in range(0, 2000 - 48, 4) if torch.equal(features[a:a + 49], w[0]))
              for w in mined]
    assert len(set(starts)) == len(starts)                 # each window once
    p = _keyword_p(net, mined)
    assert (p >= threshold).all() and (np.diff(p) <= 0).all()
    fewer, _ = miner.mine(net, 3, torch.device("cpu"))
    assert torch.equal(fewer, mined[:3])
    nothing, detections = _miner(net, features, 255).mine(net, 1000, torch.device("cpu"))
    if everything.max() < 255:
        assert len(nothing) == 0 and detections == 0


def test_the_student_mines_hard_negatives_from_a_training_stream(tmp_path, cache_dir):
    """mining.source=streams: from start_epoch on, the windows behind the recogniser's
    detections on the negative training stream join the epoch (metrics.csv, the report)."""
    from kws.pipeline import fingerprint, run_pipeline
    mining = ["mining.enabled=true", "mining.source=streams", "mining.stream_hours=0.05",
              "mining.threshold=0", "mining.start_epoch=1", "mining.per_epoch=40"]
    overrides = TINY_SYNTHETIC + TINY_QUANTIZED + TINY_VALID + mining + [
        f"paths.cache_dir={cache_dir}", "stages=[data,features,student]"]
    report = run_pipeline(compose_cfg(overrides), tmp_path / "run")
    entry = report["student"]["mining"]
    assert entry["source"] == "streams" and 0.04 < entry["stream_hours"] <= 0.05
    assert entry["threshold"] == 0 and entry["material"]["unknown_clips"] > 0
    # threshold 0: a detection every suppression interval (1 s) of the 180 s stream
    assert entry["hard_negatives_per_epoch"] == [0, 40, 40]
    assert entry["fired_per_epoch"][0] == 0 and entry["fired_per_epoch"][1] > 100
    rows = list(csv.DictReader(open(tmp_path / "run" / "student" / "metrics.csv")))
    assert [int(r["hard_negatives"]) for r in rows] == entry["hard_negatives_per_epoch"]
    # the stream and the recogniser that mines on it are part of what the student is
    print_of = lambda extra: fingerprint(compose_cfg(overrides + extra), "student", {})
    assert print_of(["detector.suppression_ms=500"]) != print_of([])
    assert fingerprint(compose_cfg(TINY_VALID + ["detector.suppression_ms=500"]), "student",
                       {}) == fingerprint(compose_cfg(TINY_VALID), "student", {})



def test_mining_from_streams_needs_a_student_that_streams(trained_run, tmp_path):
    """The trained_run's student pads in time (student_same): one error naming the setting."""
    import pytest
    from conftest import copy_run
    from kws.errors import KwsError
    from kws.pipeline import run_pipeline
    run_dir, _, overrides = trained_run
    with pytest.raises(KwsError, match="mining.source=streams needs a student that streams"):
        run_pipeline(compose_cfg(overrides + [
            "stages=[student]", "mining.enabled=true", "mining.source=streams",
            "mining.stream_hours=0.02"]), copy_run(run_dir, tmp_path / "run"))
