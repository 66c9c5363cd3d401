"""Stage student: the small DS-CNN distilled from the teacher (or trained alone)."""
import csv

import pytest

from conftest import compose_cfg
from kws.artifacts import RunDir
from kws.errors import KwsError
from kws.pipeline import run_pipeline


def test_student_is_distilled_from_this_runs_teacher(trained_run):
    _, report, _ = trained_run
    student = report["student"]
    assert student["distilled"] is True
    assert student["teacher"]["params"] == report["teacher"]["params"]
    assert student["params"] < report["teacher"]["params"]
    assert student["epochs"] == 2 and 0 <= student["test_acc"] <= 1


def test_student_writes_checkpoints_and_metrics(trained_run):
    run_dir, _, _ = trained_run
    folder = RunDir(run_dir).trained("student")
    assert [int(r["epoch"]) for r in csv.DictReader(open(folder / "metrics.csv"))] == [1, 2]
    assert (folder / "best.pt").exists() and (folder / "confusion_test.png").exists()


def test_a_teacher_dir_without_a_teacher_is_named(trained_run, tmp_path):
    run_dir, _, overrides = trained_run
    empty = tmp_path / "no_teacher"
    (empty / "data").mkdir(parents=True)
    (empty / "data" / "labels.json").write_text((run_dir / "data" / "labels.json").read_text())
    cfg = compose_cfg(overrides + [f"distill.teacher_dir={empty}", "stages=[student]"])
    import shutil
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    with pytest.raises(KwsError, match="teacher"):
        run_pipeline(cfg, run)


def test_mining_adds_the_windows_that_fire_to_the_student_epochs(trained_run, tmp_path):
    """mining.enabled: from start_epoch on, the pool's windows the network takes for a keyword
    join the epoch (counted in metrics.csv and the report), at most per_epoch of them."""
    from conftest import copy_run
    run_dir, _, overrides = trained_run
    mined_run = copy_run(run_dir, tmp_path / "run")
    report = run_pipeline(compose_cfg(overrides + [
        "stages=[student]", "mining.enabled=true", "mining.pool_windows=300",
        "mining.start_epoch=1", "mining.per_epoch=50", "mining.min_score=0"]), mined_run)
    mining = report["student"]["mining"]
    assert mining["source"] == "windows"
    assert mining["pool_windows"] == 300 and mining["start_epoch"] == 1
    counts = mining["hard_negatives_per_epoch"]
    assert counts[0] == 0 and 0 < counts[1] <= 50         # a barely trained net fires somewhere
    rows = list(csv.DictReader(open(RunDir(mined_run).trained("student") / "metrics.csv")))
    assert [int(r["hard_negatives"]) for r in rows] == counts


def test_mining_picks_the_surest_keyword_windows_first():
    import torch
    from kws.training.mining import MiningPool
    # classes: 0 _silence_, 1 _unknown_, 2 yes, 3 no; the "network" returns each window's logits
    logits = torch.tensor([[0., 0., 5., 0.], [0., 9., 0., 0.], [0., 0., 0., 8.],
                           [0., 0., 1., 0.9], [0., 0., 3., 0.]])
    pool = MiningPool(logits, torch.tensor([2, 3]), min_score=0.5)
    picked, fired = pool.mine(torch.nn.Identity(), 2, torch.device("cpu"))
    assert picked.tolist() == logits[[2, 0]].tolist() and fired == 3   # window 1 is _unknown_
    picked, _ = pool.mine(torch.nn.Identity(), 10, torch.device("cpu"))
    assert picked.tolist() == logits[[2, 0, 4]].tolist()


def test_weighted_distillation_loss_with_equal_weights_is_the_plain_loss():
    import torch
    from kws.training.loop import distill_loss
    torch.manual_seed(0)
    s, t, y = torch.randn(6, 4), torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    for teacher in (None, t):
        plain = distill_loss(s, teacher, y, 4.0, 0.7, 0.1)
        weighted = distill_loss(s, teacher, y, 4.0, 0.7, 0.1, torch.full((6,), 3.0))
        assert torch.allclose(plain, weighted, atol=1e-6)
    heavy = torch.tensor([1., 1., 1., 1., 1., 50.])        # the last example dominates
    alone = distill_loss(s[5:], None, y[5:], 4.0, 0.7, 0.0)
    assert abs(float(distill_loss(s, None, y, 4.0, 0.7, 0.0, heavy)) - float(alone)) < \
        abs(float(distill_loss(s, None, y, 4.0, 0.7, 0.0)) - float(alone))
