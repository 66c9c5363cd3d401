"""The fixed-point front end: golden (numpy) == C, exactly, on every frame we can think of."""
import numpy as np
import pytest

from conftest import compose_cfg
from kws.toolchain.host import build_mfcc_tool, run_mfcc_tool
from kws.errors import KwsError
from kws.feature_cache import cached_features
from kws.measure.fidelity import float_log_mel, snr_db
from kws.golden.mfcc import log_mel, mfcc_clips, frame_clips
from kws.emit.mfcc_c import write_c_tables
from kws.golden.mfcc_tables import make_tables
from kws.audio.signals import adversarial_signals, speechlike


def _tables(*overrides):
    return make_tables(compose_cfg(list(overrides)).features, 16000)


@pytest.fixture(scope="module")
def default_tool(tmp_path_factory):
    """The default tables and the C harness built with ASan + UBSan."""
    t = _tables()
    out = tmp_path_factory.mktemp("mfcc_c")
    write_c_tables(t, out)
    return t, build_mfcc_tool(out, out, sanitize=True)


def test_adversarial_signals_are_bit_exact_under_sanitizers(default_tool):
    t, tool = default_tool
    signals = adversarial_signals(16000, 16000, np.random.default_rng(0), speech=speechlike(3))
    clips = np.stack(list(signals.values()))
    golden = mfcc_clips(clips, t)
    c_out = run_mfcc_tool(tool, clips, t.frames_per_clip, t.n_out)
    for i, name in enumerate(signals):
        assert np.array_equal(golden[i], c_out[i]), name
    # The extremes land where they should: silence on the floor, no wrap-around anywhere.
    silence = golden[list(signals).index("silence")]
    assert np.all(silence[:, 0] == -128)
    assert golden.dtype == np.int8


def test_streaming_in_any_chunk_size_equals_whole_clip(default_tool):
    t, tool = default_tool
    clips = speechlike(4, seed=1)
    whole = run_mfcc_tool(tool, clips, t.frames_per_clip, t.n_out)
    assert np.array_equal(whole, mfcc_clips(clips, t))
    for chunk in (1, 7, 160, 320, 481, 16000):
        assert np.array_equal(run_mfcc_tool(tool, clips, t.frames_per_clip, t.n_out, chunk),
                              whole), chunk


def test_synthetic_clips_are_bit_exact(default_tool, tiny_cfg, tmp_path):
    from kws.pipeline import run_pipeline
    from kws.artifacts import RunDir
    run_pipeline(compose_cfg([f"paths.cache_dir={tiny_cfg.paths.cache_dir}",
                              *[o for o in __import__("conftest").TINY_SYNTHETIC],
                              "stages=[data]"]), tmp_path)
    t, tool = default_tool
    clips = RunDir(tmp_path).split("train")["audio"]
    assert np.array_equal(run_mfcc_tool(tool, clips, t.frames_per_clip, t.n_out),
                          mfcc_clips(clips, t))


@pytest.mark.parametrize("overrides", [
    ["features=logmel"],
    ["features.window_ms=40", "features.fft_len=1024", "features.n_mels=32",
     "features.n_coeffs=13"],
    ["features.window_ms=25", "features.stride_ms=10", "features.fft_len=512",
     "features.n_mels=64", "features.fmax=8000", "features.n_coeffs=20"],
    ["features.window_ms=16", "features.fft_len=256", "features.n_mels=20", "features.fmin=0"],
])
def test_other_settings_are_bit_exact_and_faithful(overrides, tmp_path):
    t = _tables(*overrides)
    write_c_tables(t, tmp_path)
    tool = build_mfcc_tool(tmp_path, tmp_path, sanitize=True)
    signals = adversarial_signals(16000, 16000, np.random.default_rng(2))
    clips = np.concatenate([speechlike(3, seed=3), np.stack(list(signals.values()))])
    golden = mfcc_clips(clips, t)
    assert golden.shape == (len(clips), t.frames_per_clip, t.n_out)
    assert np.array_equal(run_mfcc_tool(tool, clips, t.frames_per_clip, t.n_out), golden)
    speech = speechlike(3, seed=3)
    lm = log_mel(frame_clips(speech, t).reshape(-1, t.window_len), t) / 2048.0
    reference = float_log_mel(speech, t).reshape(-1, t.n_mels)
    assert snr_db(reference, lm) > 60


def test_feature_cache_returns_the_same_integers(default_tool, tmp_path):
    t, _ = default_tool
    clips = speechlike(3, seed=7)
    first = cached_features(clips, t, tmp_path)
    assert len(list((tmp_path / "features").glob("*.npy"))) == 1
    assert np.array_equal(cached_features(clips, t, tmp_path), first)
    other = _tables("features.n_coeffs=12")
    assert cached_features(clips, other, tmp_path).shape[-1] == 12
    assert len(list((tmp_path / "features").glob("*.npy"))) == 2


@pytest.mark.parametrize("override, message", [
    ("features.fft_len=500", "power of two"),
    ("features.window_ms=40", "must be in"),
    ("features.n_coeffs=50", "n_coeffs"),
    ("features.fmax=9000", "fmax"),
    ("features.kind=mel", "expected 'mfcc' or 'logmel'"),
    ("features.out_scale=0", "out_scale"),
])
def test_bad_feature_settings_name_the_key(override, message):
    with pytest.raises(KwsError, match=message):
        _tables(override)


@pytest.mark.slow      # make test-slow; keeps the default suite under 15 min
def test_features_stage_on_real_subset_is_bit_exact(shared_subset, tmp_path):
    from kws.pipeline import run_pipeline
    cfg = compose_cfg(["data=speech_commands", f"data.root={shared_subset}",
                       "features.sanitize=true", f"paths.cache_dir={tmp_path / 'cache'}",
                       "stages=[data,features]"])
    report = run_pipeline(cfg, tmp_path / "run")["features"]
    assert report["bitexact_frames"] == report["total_frames"] >= 179_000
    assert report["c_sanitized"] is True
    assert report["snr_db"] > 35
    assert (tmp_path / "run" / "features" / "mfcc_compare.png").exists()
    if report.get("cmsis_q15_snr_db") is not None:
        assert report["snr_db"] > report["cmsis_q15_snr_db"]
