"""The training loop shared by teacher and student: model presets, kill-then-resume, errors,
the distillation ablation experiment."""
import signal
import subprocess
import sys
import time

import pytest
import torch
from omegaconf import OmegaConf

from conftest import ROOT, TINY_SYNTHETIC, TINY_TRAINING, compose_cfg
from kws.training.models import build_model, count_macs, count_params
from kws.pipeline import run_pipeline

def _preset(name):
    return OmegaConf.load(ROOT / "conf" / "model" / f"{name}.yaml")


def test_presets_have_the_published_sizes():
    dscnn_s = build_model(_preset("dscnn_s"), 12)
    assert count_params(dscnn_s) == 22_604                     # Hello Edge DS-CNN-S, BN folded
    assert count_macs(dscnn_s, (49, 10)) == 2_656_768          # 2.66 M MACs
    assert 400_000 < count_params(build_model(_preset("dscnn_l"), 12)) < 420_000
    student = build_model(_preset("student"), 12)                   # the default: streamable
    assert _preset("student").time_padding == "valid"
    assert count_params(student) == 21_324                           # bench/RESULTS.md streaming
    assert count_macs(student, (49, 10)) == 1_042_688
    assert count_macs(student, (49, 10)) < count_macs(dscnn_s, (49, 10))
    out = student(torch.zeros(3, 1, 74, 10))                         # a 1.5 s window
    assert out.shape == (3, 12)
    window_only = build_model(_preset("student_same"), 12)
    assert count_params(window_only) <= 25_000
    assert window_only(torch.zeros(3, 1, 49, 10)).shape == (3, 12)


def _kws(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "kws.app", *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow      # make test-slow; keeps the default suite under 15 min
def test_training_killed_mid_run_resumes_to_the_same_weights(cache_dir, tmp_path):
    common = TINY_SYNTHETIC + TINY_TRAINING + [f"paths.cache_dir={cache_dir}",
                                               "stages=[data,features,teacher]",
                                               "train.epochs=4"]
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    proc = _kws(common + [f"hydra.run.dir={killed}"], ROOT)
    # the in-progress folder's last.pt: written (renamed into place) last of each epoch
    checkpoint = killed / "teacher.partial" / "last.pt"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if checkpoint.exists():                                 # epoch 1 done
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    interrupted = torch.load(killed / "teacher.partial" / "last.pt", weights_only=False)["state"]
    assert 1 <= interrupted["epoch"] < 4
    assert not (killed / "teacher").exists()          # nothing half-trained where stages read

    resumed = _kws(common + [f"hydra.run.dir={killed}", "train.resume=true"], ROOT)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    full = _kws(common + [f"hydra.run.dir={reference}"], ROOT)
    assert full.wait(timeout=600) == 0, full.stderr.read()

    assert not (killed / "teacher.partial").exists()
    a = torch.load(killed / "teacher" / "last.pt", weights_only=False)
    b = torch.load(reference / "teacher" / "last.pt", weights_only=False)
    assert a["state"]["epoch"] == b["state"]["epoch"] == 4
    for key in b["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert [r["val_acc"] for r in a["state"]["history"]] == \
        [r["val_acc"] for r in b["state"]["history"]]


def test_resume_from_a_broken_checkpoint_is_a_clear_error(cache_dir, tmp_path):
    from kws.errors import KwsError
    cfg = compose_cfg(TINY_SYNTHETIC + TINY_TRAINING + [f"paths.cache_dir={cache_dir}",
                                                        "stages=[data,features]"])
    run_pipeline(cfg, tmp_path)
    (tmp_path / "teacher").mkdir()
    (tmp_path / "teacher" / "last.pt").write_bytes(b"not a checkpoint")
    cfg = compose_cfg(TINY_SYNTHETIC + TINY_TRAINING + [f"paths.cache_dir={cache_dir}",
                                                        "stages=[teacher]", "train.resume=true"])
    with pytest.raises(KwsError, match="cannot resume"):
        run_pipeline(cfg, tmp_path)


@pytest.mark.slow      # make test-slow; keeps the default suite under 15 min
def test_kd_ablation_experiment_writes_the_table(cache_dir, tmp_path):
    import json
    args = ["experiment=kd_ablation", *TINY_SYNTHETIC, *TINY_TRAINING,
            f"paths.cache_dir={cache_dir}", "train.epochs=1", f"hydra.sweep.dir={tmp_path}"]
    proc = subprocess.run([sys.executable, "-m", "kws.app", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "kd_ablation.json").read_text())
    assert sorted((r["seed"], r["distilled"]) for r in result["runs"]) == \
        [(s, d) for s in (0, 1, 2) for d in (False, True)]
    assert [row["student"] for row in result["summary"]] == ["distilled", "from scratch"]
    assert all(row["runs"] == 3 for row in result["summary"])
    assert "± " in (tmp_path / "kd_ablation.md").read_text()
    assert sorted(p.name for p in tmp_path.glob("seed*")) == ["seed0", "seed1", "seed2"]


def test_resume_refuses_a_checkpoint_made_with_other_settings(cache_dir, tmp_path):
    from kws.errors import KwsError
    common = TINY_SYNTHETIC + TINY_TRAINING + [f"paths.cache_dir={cache_dir}", "train.epochs=1"]
    run_pipeline(compose_cfg(common + ["stages=[data,features,teacher]"]), tmp_path)
    trained = (tmp_path / "teacher" / "last.pt").read_bytes()
    changed = compose_cfg(common + ["stages=[teacher]", "train.resume=true", "train.lr=0.001",
                                    "seed=1"])
    with pytest.raises(KwsError) as err:
        run_pipeline(changed, tmp_path)
    message = str(err.value)
    assert "teacher/last.pt: cannot resume" in message
    assert "seed: 0 → 1" in message and "train.lr: 0.003 → 0.001" in message
    assert "train.resume=false" in message and "train.epochs" not in message
    assert (tmp_path / "teacher" / "last.pt").read_bytes() == trained

    old = torch.load(tmp_path / "teacher" / "last.pt", weights_only=False)
    del old["fingerprint"]                                # as written before the record existed
    torch.save(old, tmp_path / "teacher" / "last.pt")
    with pytest.raises(KwsError, match="does not record the settings it was trained with"):
        run_pipeline(compose_cfg(common + ["stages=[teacher]", "train.resume=true"]), tmp_path)
