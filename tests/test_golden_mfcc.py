"""The golden front end (kws.golden.mfcc) on its own: close to the float MFCC, int8 error within
half a step, the same integers whatever the thread count. Golden == C is tests/test_features.py."""
import numpy as np
import pytest

from conftest import compose_cfg
from kws.golden.mfcc import frame_clips, log_mel, mfcc_clips, mfcc_frames
from kws.golden.mfcc_tables import make_tables
from kws.measure.fidelity import float_features, float_log_mel, snr_db
from kws.audio.signals import speechlike


@pytest.fixture(scope="module")
def tables():
    return make_tables(compose_cfg([]).features, 16000)


def test_golden_log_mel_is_close_to_float_before_int8(tables):
    t = tables
    clips = speechlike(6, seed=4)
    golden = log_mel(frame_clips(clips, t).reshape(-1, t.window_len), t) / 2048.0
    reference = float_log_mel(clips, t).reshape(-1, t.n_mels)
    assert snr_db(reference, golden) > 70
    assert np.abs(golden - reference).max() < 0.05       # nats


def test_int8_output_error_is_half_a_step(tables):
    t = tables
    clips = speechlike(6, seed=5)
    q = mfcc_clips(clips, t)
    reference = float_features(clips, t)
    inside = (q > -128) & (q < 127)
    error = (q.astype(float) - t.out_zero_point) * t.out_scale - reference
    assert np.abs(error[inside]).max() <= 0.5 * t.out_scale + 0.03


def test_threads_do_not_change_the_result(tables):
    t = tables
    frames = frame_clips(speechlike(40, seed=6), t)
    assert np.array_equal(mfcc_frames(frames, t, threads=1), mfcc_frames(frames, t, threads=2))
