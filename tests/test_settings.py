"""Settings validation (kws.settings): every range, choice and min <= max pair is checked before
the first stage runs, and the message names the key, the value and what is allowed."""
import subprocess
import sys

import pytest

from conftest import ROOT, compose_cfg
from kws.errors import KwsError
from kws.pipeline import run_pipeline
from kws.settings import RULES, validate_settings

BAD = [
    ("train.batch_size=-4", "train.batch_size=-4: must be an integer >= 1"),
    ("train.batch_size=0", "train.batch_size=0: must be an integer >= 1"),
    ("train.epochs=0", "train.epochs=0: must be an integer >= 1"),
    ("train.lr=-0.1", "train.lr=-0.1: must be a number > 0"),
    ("train.weight_decay=-1", "train.weight_decay=-1.0: must be a number >= 0"),
    ("train.warmup_epochs=-1", "train.warmup_epochs=-1: must be an integer >= 0"),
    ("train.label_smoothing=1", "train.label_smoothing=1.0: must be a number in [0, 1)"),
    ("train.device=gpu", "train.device=gpu: must be one of auto, cpu, cuda"),
    ("distill.temperature=0", "distill.temperature=0.0: must be a number > 0"),
    ("distill.alpha=2", "distill.alpha=2.0: must be a number in [0, 1]"),
    ("distill.epochs=0", "distill.epochs=0: must be null or an integer >= 1"),
    ("data.augment.snr_db_min=30", "data.augment.snr_db_min=30.0 > data.augment.snr_db_max=25.0"),
    ("data.augment.gain_db_max=-7", "data.augment.gain_db_min=-6.0 > data.augment.gain_db_max"),
    ("data.augment.noise_prob=1.5", "data.augment.noise_prob=1.5: must be a number in [0, 1]"),
    ("data.augment.time_shift_ms=-5", "data.augment.time_shift_ms=-5.0: must be a number >= 0"),
    ("data.unknown_share=1.5", "data.unknown_share=1.5: must be a number in [0, 1)"),
    ("data.negative_windows_share=-1", "data.negative_windows_share=-1.0: must be a number >= 0"),
    ("data.with_synthetic=true", "data.with_synthetic=true adds the synthetic set to recorded "
     "speech: it needs data=speech_commands"),
    ("mining.min_score=2", "mining.min_score=2.0: must be a number in [0, 1]"),
    ("mining.per_epoch=0", "mining.per_epoch=0: must be an integer >= 1"),
    ("data.silence_share=0.95", "data.unknown_share + data.silence_share = 1.05: must be < 1"),
    ("stream.select_on=validation stream.validation_negative_hours=0.5",
     "stream.validation_negative_hours=0.5 with stream.target_fa_per_hour=0.5: the validation "
     "stream must be long enough for one false accept to meet the target (at least 2 h)"),
    ("data.validation_percent=90", "data.validation_percent + data.testing_percent = 105"),
    ("data.sample_rate=4000", "data.sample_rate=4000: must be an integer >= 8000"),
    ("data.seed=-1", "data.seed=-1: must be an integer >= 0"),
    ("seed=-3", "seed=-3: must be an integer >= 0"),
    ("data.synthetic.pitch_max=2", "data.synthetic.pitch_max=2.0: must be a number in [0.6, 1.6]"),
    ("data.source=folder", "data.source=folder: must be one of synthetic, speech_commands"),
    ("stream.positive_minutes=0", "stream.positive_minutes=0.0: must be null or a number > 0"),
    ("stream.negative_hours=0", "stream.negative_hours=0.0: must be a number > 0"),
    ("stream.snr_db_min=30", "stream.snr_db_min=30.0 > stream.snr_db_max=20.0"),
    ("stream.gap_s_max=0.5", "stream.gap_s_min=1.0 > stream.gap_s_max=0.5"),
    ("stream.target_fa_per_hour=-1", "stream.target_fa_per_hour=-1.0: must be a number >= 0"),
    ("detector.infer_every_frames=0", "detector.infer_every_frames=0: must be an integer >= 1"),
    ("detector.threshold=300", "detector.threshold=300: must be an integer in [0, 255]"),
    ("detector.average_window_ms=0", "detector.average_window_ms=0.0: must be a number > 0"),
    ("detector.min_count=0", "detector.min_count=0: must be an integer >= 1"),
    ("detector.min_count=40", "detector.min_count=40: must be in [1, 30]"),
    ("detector.average_window_ms=9000", "detector.average_window_ms=9000: must be at most 64"),
    ("stream.average_windows_ms=[600,9000]", "stream.average_windows_ms=9000: must be at most 64"),
    ("stream.average_windows_ms=[0]", "stream.average_windows_ms=[0.0]: must be a list of numbers > 0"),
    ("quant.calibration=foo", "quant.calibration=foo: must be one of minmax, percentile"),
    ("quant.percentile=0", "quant.percentile=0.0: must be a number in (0, 100]"),
    ("quant.calibration_clips=0", "quant.calibration_clips=0: must be an integer >= 1"),
    ("quant.qat_lr=0", "quant.qat_lr=0.0: must be a number > 0"),
    ("features.fft_len=500", "features.fft_len=500 must be a power of two"),
    ("features.fidelity_every=0", "features.fidelity_every=0: must be an integer >= 1"),
    ("features.out_zero_point=200", "features.out_zero_point=200: must be an integer in [-128, 127]"),
    ("student_model.first_channels=0", "student_model.first_channels=0: must be an integer >= 1"),
    ("student_model.dropout=1", "student_model.dropout=1.0: must be a number in [0, 1)"),
    ("student_model.blocks=[{channels:0,stride:[1,1]}]", "student_model.blocks=[{'channels': 0"),
    ("firmware.board=lm3s6965evb", "firmware.board=lm3s6965evb: must be one of mps2-"),
    ("firmware.clips=0", "firmware.clips=0: must be an integer >= 1"),
    ("verify.stream_seconds=0", "verify.stream_seconds=0.0: must be a number > 0"),
    ("objective=frr", "objective=frr: must be null or a report value as <stage>.<key>"),
    ("data.keywords=[yes,YES]", "data.keywords lists YES and yes"),
]


@pytest.mark.parametrize("override, message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_setting_is_named_with_its_allowed_values(override, message):
    with pytest.raises(KwsError) as err:
        validate_settings(compose_cfg(override.split()))
    assert message in str(err.value)


def test_the_defaults_and_the_experiments_are_valid():
    for overrides in ([], ["data=speech_commands", "data.root=/x"], ["features=logmel"],
                      ["experiment=kd_ablation"], ["experiment=detector_sweep"],
                      ["experiment=prune_sweep", "prune.student_dir=/x"], ["prune=wanda"],
                      ["model@teacher_model=dscnn_s"], ["model@student_model=student_same"],
                      ["experiment=window"],
                      ["firmware.board=mps2-an385"]):
        assert validate_settings(compose_cfg(overrides)) is None   # raises on a bad setting


def test_the_engine_rule_names_the_registry_engines():
    from kws.audio.tts import ENGINES
    from kws.settings import TTS_ENGINES
    assert list(TTS_ENGINES) == list(ENGINES)


def test_every_numeric_or_choice_setting_has_a_rule():
    cfg = compose_cfg([])
    exempt = {"paths.cache_dir", "data.root", "data.keywords", "data.split_salt", "data.url",
              "data.synthetic.accents", "data.synthetic.variants", "data.synthetic.unknown_words",
              "teacher_model.name", "student_model.name", "distill.teacher_dir", "prune.student_dir",
              "eval.root",
              "eval.run", "eval.name", "stages", "paths.shared_data", "data.synthetic.voices",
              "data.negatives.dir", "data.negatives.validation", "data.negatives.test",
              "data.rooms.real_dir", "data.rooms.size_min", "data.rooms.size_max"}
    missing = []

    def walk(node, prefix):
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, f"{name}.")
            elif not isinstance(value, bool) and name not in RULES and name not in exempt:
                missing.append(name)
    from omegaconf import OmegaConf
    config = OmegaConf.to_container(cfg, resolve=False)
    config.pop("hydra", None)
    walk(config, "")
    assert missing == []


def test_several_bad_settings_are_listed_together():
    with pytest.raises(KwsError) as err:
        validate_settings(compose_cfg(["train.lr=-1", "distill.alpha=2"]))
    assert str(err.value).splitlines() == ["bad setting(s):", "  train.lr=-1.0: must be a number > 0",
                                           "  distill.alpha=2.0: must be a number in [0, 1]"]


def test_a_bad_detector_setting_stops_the_run_before_any_stage(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kws.app", "detector.threshold=300",
                           f"hydra.run.dir={tmp_path}"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == \
        "kws: error: detector.threshold=300: must be an integer in [0, 255]"
    assert "stage data: running" not in proc.stdout
    assert not (tmp_path / "data").exists() and not (tmp_path / ".stage_stamps.json").exists()


def test_validation_runs_inside_run_pipeline(tmp_path):
    with pytest.raises(KwsError, match="quant.calibration=foo"):
        run_pipeline(compose_cfg(["quant.calibration=foo", "stages=[data]"]), tmp_path)
    assert list(tmp_path.iterdir()) == []
