"""Hydra launchers and sweepers: joblib runs sweep points in parallel, the Slurm and Ray
launcher configs compose, experiment=student_optuna searches the student under a budget."""
import json
import re
import subprocess
import sys

import pytest
import yaml
from hydra import compose, initialize_config_dir

from conftest import ROOT, TINY_QUANTIZED, TINY_SYNTHETIC, compose_cfg, copy_run
from kws.config import CONFIG_DIR, register_configs
from kws.errors import KwsError


def _hydra_cfg(overrides):
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def test_the_slurm_launcher_config_composes_onto_submitit():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip extra `launchers`")
    launcher = _hydra_cfg(["hydra/launcher=slurm", "hydra.launcher.partition=cpu"]).hydra.launcher
    assert launcher._target_ == \
        "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.partition == "cpu" and launcher.cpus_per_task == 8
    from hydra.utils import get_class
    assert get_class(launcher._target_).__name__ == "SlurmLauncher"


def test_the_ray_launcher_config_composes(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    launcher = _hydra_cfg(["hydra/launcher=ray_cluster"]).hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
    assert launcher.ray.init.address == "ray://head:10001" and launcher.ray.remote.num_cpus == 4
    try:                                            # the plugin's own schema, where installed
        from hydra_plugins.hydra_ray_launcher._config import RayLauncherConf
    except ImportError:
        return
    from omegaconf import OmegaConf
    OmegaConf.merge(OmegaConf.structured(RayLauncherConf), launcher)


def test_joblib_runs_the_points_of_a_sweep_in_parallel(cache_dir, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip extra `launchers`")
    args = ["--multirun", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY_SYNTHETIC,
            f"paths.cache_dir={cache_dir}", "stages=[data]", "data.seed=0,1",
            f"hydra.sweep.dir={tmp_path}"]
    proc = subprocess.run([sys.executable, "-m", "kws", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    seeds = [yaml.safe_load((tmp_path / str(i) / ".hydra" / "config.yaml").read_text())
             ["data"]["seed"] for i in (0, 1)]
    assert sorted(seeds) == [0, 1]
    assert all("data" in json.loads((tmp_path / str(i) / "report.json").read_text())
               for i in (0, 1))


def test_a_student_over_the_params_budget_is_refused_before_training(quantized_run, tmp_path):
    from kws.pipeline import run_pipeline
    base, overrides = quantized_run
    run_dir = copy_run(base, tmp_path / "run")
    cfg = compose_cfg(overrides + ["stages=[student]", "student_model.first_channels=12",
                                   "budget.kind=params", "budget.value=100"])
    with pytest.raises(KwsError, match=r"student_model has params=[\d,]+, over budget.value=100"):
        run_pipeline(cfg, run_dir)
    assert not (run_dir / "student.partial" / "last.pt").exists()


def test_a_budget_needs_kind_and_value():
    from kws.pipeline import run_pipeline
    with pytest.raises(KwsError, match=r"budget.kind=params with budget.value=null"):
        run_pipeline(compose_cfg(["budget.kind=params"]), ROOT / "unused")


def test_student_optuna_returns_int8_validation_accuracy_and_scores_over_budget_worst(
        quantized_run, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="pip extra `sweep`")
    base, overrides = quantized_run
    copy_run(base, tmp_path / "run")
    tiny = [o for o in overrides if not o.startswith(("student_model.", "model@"))]
    args = ["experiment=student_optuna", *tiny, "stages=[data,features,student,quantize]",
            "distill.enabled=false", "budget.value=4000", "hydra.sweeper.n_trials=3",
            "search.width=choice(4,40)", "search.depth=range(1,2)",
            "search.first_kernel_time=choice(4,6)",
            f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=run"]
    proc = subprocess.run([sys.executable, "-m", "kws", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    best = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    # which trials were over the budget, from the shapes the sweeper chose
    from kws.training.models import build_model, count_params
    trials = re.findall(r"#\d+ : (.*)", proc.stdout + proc.stderr)
    assert len(trials) == 3
    params = [count_params(build_model(compose_cfg(["experiment=student_optuna", *t.split()])
                                       .student_model, 12)) for t in trials]
    over = [p > 4000 for p in params]
    assert proc.stderr.count("over budget.value=4,000") == sum(over)
    if all(over):
        assert best["best_value"] == float("-inf")
    else:                                  # the best trial within budget, scored on validation
        assert 0 <= best["best_value"] <= 1
        report = json.loads((tmp_path / "run" / "report.json").read_text())
        assert "int8_val_acc" in report["quantize"]
