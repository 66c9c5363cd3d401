import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException

from conftest import ROOT, compose_cfg
from kws.config import DEFAULT_KEYWORDS


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
    assert proc.returncode != 0
    assert "kewords" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_stage_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kws.app", "stages=[dta]",
                           f"hydra.run.dir={tmp_path}"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert "unknown stage(s) ['dta']" in proc.stderr
    assert "Traceback" not in proc.stderr
