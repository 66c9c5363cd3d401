import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException

from conftest import ROOT, compose_cfg
from kws.config import DEFAULT_KEYWORDS


def test_recorded_speech_trains_with_the_synthetic_voices_by_default():
    from kws.config import compose
    assert compose(["data=speech_commands", "data.root=/x"]).data.with_synthetic is True
    assert compose([]).data.with_synthetic is False          # the synthetic set is all there is


def test_default_config_composes_with_synthetic_data():
    cfg = compose_cfg([])
    assert cfg.data.source == "synthetic"
    assert list(cfg.data.keywords) == DEFAULT_KEYWORDS
    assert "data" in cfg.stages


def test_speech_commands_without_root_names_the_setting(tmp_path):
    from kws.errors import KwsError
    from kws.pipeline import run_pipeline
    with pytest.raises(KwsError, match="data.root is not set"):
        run_pipeline(compose_cfg(["data=speech_commands", "stages=[data]"]), tmp_path)


def test_speech_commands_group_takes_root_and_keywords():
    cfg = compose_cfg(["data=speech_commands", "data.root=/x", "data.keywords=[on,off]"])
    assert cfg.data.source == "speech_commands" and cfg.data.root == "/x"
    assert list(cfg.data.keywords) == ["on", "off"]


def test_typo_in_key_fails_and_names_it():
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg(["data.kewords=[yes]"])
    assert "kewords" in str(err.value.__cause__) or "kewords" in str(err.value)


def test_wrong_type_fails_and_names_key():
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg(["data.clip_ms=long"])
    assert "clip_ms" in str(err.value.__cause__) or "clip_ms" in str(err.value)


def test_cli_typo_prints_key_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kws.app", "data.kewords=[yes]",
                           f"hydra.run.dir={tmp_path}"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2                        # a bad setting, not a crash
    assert "kewords" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_stage_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kws.app", "stages=[dta]",
                           f"hydra.run.dir={tmp_path}"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert "unknown stage(s) ['dta']" in proc.stderr
    assert "Traceback" not in proc.stderr


def _kws(*args, cwd=ROOT, **kwargs):
    return subprocess.run([sys.executable, "-m", "kws.app", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120, **kwargs)


def test_help_is_a_short_page_about_kws():
    from importlib.metadata import version
    from kws.pipeline import STAGE_ORDER
    proc = _kws("--help")
    assert proc.returncode == 0 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"kws {version('kws')}: keyword spotting")
    assert len(lines) < 40 and "Hydra" not in lines[0] and "powered by Hydra" not in proc.stdout
    for stage in STAGE_ORDER:
        assert any(line.startswith(f"  {stage} ") for line in lines), stage
    assert sum(line.startswith("  kws ") for line in lines) >= 3            # examples
    assert "kws --cfg job" in proc.stdout


def test_version_is_kws_s_own():
    from importlib.metadata import entry_points, version
    assert _kws("--version").stdout == f"kws {version('kws')}\n"
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "kws"]
    assert script.value == "kws.app:cli"


def test_cfg_job_and_overrides_still_reach_hydra():
    proc = _kws("--cfg", "job", "train.epochs=7")
    assert proc.returncode == 0 and "epochs: 7" in proc.stdout


def test_an_error_is_printed_once(tmp_path):
    proc = _kws("data=speech_commands", f"data.root={tmp_path / 'nowhere'}",
                f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 2
    message = "folder does not exist"
    assert proc.stderr.count(message) == 1 and message not in proc.stdout
    assert message in (tmp_path / "r" / "app.log").read_text()        # and in the run's log


def test_a_crash_keeps_exit_code_1(tmp_path):
    script = ("import sys, kws.app as app\n"
              "def boom(cfg, run_dir): raise RuntimeError('a bug')\n"
              "app.run_pipeline = boom\n"
              f"sys.argv = ['kws', 'hydra.run.dir={tmp_path}']\n"
              "app.cli()\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 1 and "a bug" in proc.stderr


def test_the_default_student_streams_on_longer_windows():
    cfg = compose_cfg([])
    assert cfg.data.clip_ms == 1500
    assert cfg.student_model.time_padding == "valid"
    assert list(cfg.student_model.first_kernel) == [5, 4]
    assert cfg.teacher_model.name == "dscnn_l"      # the teacher sees the same 1.5 s windows


def test_the_window_experiment_is_the_earlier_default():
    cfg = compose_cfg(["experiment=window", "data=speech_commands"])
    assert cfg.data.clip_ms == 1000 and cfg.data.source == "speech_commands"
    assert cfg.student_model.time_padding == "same"
    assert list(cfg.student_model.first_kernel) == [10, 4]
