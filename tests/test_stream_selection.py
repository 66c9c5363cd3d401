"""The student's checkpoint chosen on the validation streams (distill.checkpoint_on=stream)."""
import csv

import numpy as np
import pytest
import torch

from conftest import TINY_QUANTIZED, TINY_SYNTHETIC, TINY_VALID, compose_cfg
from kws.errors import KwsError


def _tiny_valid_net(time_padding="valid"):
    from kws.training.models import build_model
    cfg = compose_cfg(["student_model.first_channels=8", "student_model.first_kernel=[5,4]",
                       "student_model.blocks=[{channels:8,stride:[2,2]},{channels:8,stride:[1,1]}]",
                       f"student_model.time_padding={time_padding}"])
    torch.manual_seed(0)
    net = build_model(cfg.student_model, 4)
    for m in net.modules():                      # BN statistics other than the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def test_the_float_stream_gives_the_window_models_logits_at_every_inference():
    """One pass over the stream == the window model on each window the loop would run."""
    from kws.training import stream_selection
    from kws.training.stream_selection import stream_logits, time_geometry
    net, frames = _tiny_valid_net(), 49
    g = time_geometry(net, frames, 10)
    assert (g.stride, g.receptive_field) == (4, 1 + 4 * 1 + 2 * 2 + 2 * 4)
    features = torch.randn(700, 10)
    stream_selection.CHUNK_ROWS, chunk = 7, stream_selection.CHUNK_ROWS  # several chunks
    try:
        ends, logits = stream_logits(net, features, g, frames)
    finally:
        stream_selection.CHUNK_ROWS = chunk
    assert len(ends) == (700 - frames) // g.stride + 1
    assert np.array_equal(np.diff(ends), np.full(len(ends) - 1, g.stride))
    windows = torch.stack([features[e - frames + 1:e + 1] for e in ends])[:, None]
    with torch.no_grad():
        expected = net(windows)
    assert torch.allclose(logits, expected, atol=1e-5)


def test_a_student_that_pads_in_time_cannot_be_chosen_on_streams():
    from kws.training.stream_selection import time_geometry
    with pytest.raises(KwsError, match="time_padding=valid"):
        time_geometry(_tiny_valid_net("same"), 49, 10)


ON_STREAMS = ["distill.checkpoint_on=stream", "distill.checkpoint_from_epoch=2",
              "stream.validation_negative_hours=0.1", "stream.target_fa_per_hour=10"]


def test_the_student_keeps_the_epoch_with_the_lowest_validation_stream_frr(tmp_path, cache_dir):
    from kws.pipeline import run_pipeline
    from kws.training.stream_selection import selection_key
    overrides = TINY_SYNTHETIC + TINY_QUANTIZED + TINY_VALID + ON_STREAMS + [
        f"paths.cache_dir={cache_dir}", "stages=[data,features,student]"]
    report = run_pipeline(compose_cfg(overrides), tmp_path / "run")
    student = report["student"]
    rows = list(csv.DictReader(open(tmp_path / "run" / "student" / "metrics.csv")))
    assert [r["val_stream_frr"] == "" for r in rows] == [True, False, False]  # from epoch 2
    scored = [{"epoch": int(r["epoch"]), "val_acc": float(r["val_acc"]),
               "val_stream_frr": float(r["val_stream_frr"]),
               "val_stream_target_met": r["val_stream_target_met"] == "True"} for r in rows[1:]]
    best = min(scored, key=lambda r: (selection_key(r), r["epoch"]))
    assert student["best_epoch"] == best["epoch"]
    assert student["checkpoint_on"] == "validation streams"
    assert student["val_stream_frr"] == best["val_stream_frr"]
    saved = torch.load(tmp_path / "run" / "student" / "best.pt", weights_only=False)
    assert saved["epoch"] == best["epoch"]


def test_stream_settings_join_the_students_fingerprint_only_when_it_is_chosen_on_streams():
    from kws.pipeline import fingerprint
    base = ["stream.validation_negative_hours=3"]
    def print_of(extra):
        return fingerprint(compose_cfg(TINY_VALID + extra), "student", {})
    assert print_of([]) == print_of(base)
    assert print_of(ON_STREAMS[:2]) != print_of(ON_STREAMS[:2] + base)


def test_a_first_scored_epoch_after_the_last_is_a_setting_error():
    from kws.settings import validate_settings
    with pytest.raises(KwsError, match="distill.checkpoint_from_epoch=30 with train.epochs=20"):
        validate_settings(compose_cfg(["distill.checkpoint_on=stream",
                                       "distill.checkpoint_from_epoch=30"]))
