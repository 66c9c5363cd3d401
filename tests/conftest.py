"""Shared fixtures: composed configs, a tiny synthetic set, a fake Speech Commands folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from kws.config import compose

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
SHARED_SUBSET = SHARED_DATA / "speech_commands_v0.02_subset"

# Small enough to generate in seconds, big enough for every class in every split: 10 eSpeak
# voices (5 train, 3 validation, 2 test by the voice hash) and flite's 4 voices (one speaker
# each) where flite is installed; synthetic interfering speech only (reading ../shared's 1,978
# negatives costs seconds per data stage; tests/test_material.py covers them).
TINY_SYNTHETIC = [
    "data.synthetic.engines=[espeak,flite]",
    "data.synthetic.accents=[en,en-gb-scotland]",
    "data.synthetic.variants=[m1,m3,m4,f1,Annie]",
    "data.synthetic.speakers_per_voice.flite=1",
    "data.synthetic.unknown_per_speaker=2",
    "data.synthetic.sentences_per_speaker=1",
    "data.synthetic.noise_seconds=15",
    "data.synthetic.babble_voices=2",
    "data.augment.negatives_sources=[synthetic]",
    "data.rooms.synthetic_rooms=6",
    "data.validation_percent=20",
    "data.testing_percent=20",
    "data.clip_ms=1000",            # 49 frames keep the tests cheap; TINY_VALID: 1.24 s
]


def compose_cfg(overrides: list[str]):
    """The config of `overrides`. Recorded speech here is a tiny layout or the real subset
    without the synthetic voices (data=speech_commands turns them on by default, and their
    synthesis would cost every test session minutes), unless a test sets data.with_synthetic."""
    if "data=speech_commands" in overrides and not any(
            o.startswith("data.with_synthetic=") for o in overrides):
        overrides = [*overrides, "data.with_synthetic=false"]
    return compose(overrides)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kws_cache")


@pytest.fixture
def tiny_cfg(cache_dir):
    return compose_cfg(TINY_SYNTHETIC + [f"paths.cache_dir={cache_dir}", "stages=[data]"])


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "negatives").is_dir() or not (SHARED_DATA / "rirs").is_dir():
        pytest.skip(f"../shared material (negatives/, rirs/) not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def shared_subset() -> Path:
    if not SHARED_SUBSET.is_dir():
        pytest.skip(f"real Speech Commands subset not found at {SHARED_SUBSET}")
    return SHARED_SUBSET


def write_tone(path: Path, freq: float, seed: int, rate: int = 16000, seconds: float = 1.0,
               channels: int = 1) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))
    pcm = (x * 32767).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.repeat(pcm[:, None], channels, axis=1) if channels > 1 else pcm, rate,
             subtype="PCM_16")


def make_layout(root: Path, keywords=("yes", "no"), speakers: int = 12) -> Path:
    """A small Speech Commands folder with lists: speakers 0-2 validation, 3-5 test."""
    val, test = [], []
    for k, word in enumerate(list(keywords) + ["cat"]):
        for s in range(speakers):
            speaker = f"{s:08x}"
            folder = word
            name = f"{speaker}_nohash_0.wav"
            write_tone(root / folder / name, 200 + 50 * k + 5 * s, seed=100 * k + s)
            (val if s < 3 else test if s < 6 else []).append(f"{folder}/{name}")
    for i in range(3):
        write_tone(root / "_background_noise_" / f"noise{i}.wav", 50 + i, seed=i, seconds=20)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    return root


@pytest.fixture
def layout(tmp_path) -> Path:
    return make_layout(tmp_path / "sc")


# Small models and few epochs: the point is the machinery, not the accuracy. The window-only
# student ("same" padding, experiment=window) here; the streamable default in TINY_VALID.
TINY_TRAINING = ["model@teacher_model=student_same", "model@student_model=student_same",
                 "teacher_model.first_channels=24",
                 "teacher_model.blocks=[{channels:24,stride:[2,2]},{channels:24,stride:[1,1]}]",
                 "student_model.first_channels=8",
                 "student_model.blocks=[{channels:8,stride:[2,2]}]",
                 "train.batch_size=32", "train.threads=1", "train.tensorboard=false"]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, cache_dir):
    """(run directory, report, overrides) of data → features → teacher → student (distilled),
    two epochs each, on tiny data: what the teacher and student stage tests inspect."""
    from kws.pipeline import run_pipeline
    run_dir = tmp_path_factory.mktemp("trained_run")
    overrides = TINY_SYNTHETIC + TINY_TRAINING + [f"paths.cache_dir={cache_dir}",
                                                  "train.epochs=2"]
    report = run_pipeline(compose_cfg(overrides + ["stages=[data,features,teacher,student]"]),
                          run_dir)
    return run_dir, report, overrides


# A tiny trained student, quantised: the starting point of the firmware and stream tests.
TINY_QUANTIZED = ["train.epochs=3", "distill.enabled=false", "quant.qat_epochs=1",
                  "model@teacher_model=student_same", "model@student_model=student_same",
                  "student_model.first_channels=8",
                  "student_model.blocks=[{channels:8,stride:[2,2]}]",
                  "train.batch_size=32", "train.threads=1", "train.tensorboard=false"]


@pytest.fixture(scope="session")
def quantized_run(tmp_path_factory, cache_dir):
    """(run directory, overrides) of data → features → student → quantize on tiny data; tests
    copy it (copy_run) before adding stages."""
    from kws.pipeline import run_pipeline
    run_dir = tmp_path_factory.mktemp("quantized_run")
    overrides = TINY_SYNTHETIC + TINY_QUANTIZED + [f"paths.cache_dir={cache_dir}"]
    run_pipeline(compose_cfg(overrides + ["stages=[data,features,student,quantize]"]), run_dir)
    return run_dir, overrides


def copy_run(run_dir: Path, target: Path) -> Path:
    import shutil
    shutil.copytree(run_dir, target)
    return target


# The tiny student valid in time, a streaming network (kws_model_step) as the default student
# is: stride 2 x 2 in time, on 1.24 s windows (61 frames) so the streaming tests also cover a
# window other than 1 s and 1.5 s. 61 is 49 + 3 steps: the window's last 3 frames lie in the
# next step (lag 3), as on 49 frames.
TINY_VALID = ["student_model.time_padding=valid", "student_model.first_kernel=[9,4]",
              "data.clip_ms=1240"]


@pytest.fixture(scope="session")
def quantized_valid_run(tmp_path_factory, cache_dir):
    """(run directory, overrides) as quantized_run, for the tiny student valid in time."""
    from kws.pipeline import run_pipeline
    run_dir = tmp_path_factory.mktemp("quantized_valid_run")
    overrides = TINY_SYNTHETIC + TINY_QUANTIZED + TINY_VALID + [f"paths.cache_dir={cache_dir}"]
    run_pipeline(compose_cfg(overrides + ["stages=[data,features,student,quantize]"]), run_dir)
    return run_dir, overrides


# Fires on any keyword-topped inference, so even a barely trained model makes events.
EAGER_DETECTOR_HOST = ["detector.threshold=0", "detector.min_count=1",
                       "detector.suppression_ms=300"]


@pytest.fixture(scope="session")
def verified_run(tmp_path_factory, quantized_run):
    """The tiny quantised run, exported and verified (sanitizers on)."""
    from kws.pipeline import run_pipeline
    base, overrides = quantized_run
    run_dir = copy_run(base, tmp_path_factory.mktemp("firmware") / "run")
    overrides = overrides + EAGER_DETECTOR_HOST + ["verify.sanitize=true", "verify.stream_seconds=90",
                                              "stages=[data,features,student,quantize,export,verify]"]
    report = run_pipeline(compose_cfg(overrides), run_dir)
    assert report["quantize"].get("skipped")            # the copy reuses the earlier stages
    return run_dir, report, overrides
