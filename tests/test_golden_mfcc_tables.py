"""The front end's tables are made in numpy alone (kws.golden.mfcc_tables) and equal, after
rounding to Q15, the window, mel filterbank and DCT that scipy and librosa make."""
import numpy as np
import pytest

from kws.config import FeaturesConfig
from kws.golden import mfcc_tables as mt


def q15(x):
    return mt._q(x, 15, np.int16)


@pytest.mark.parametrize("n", [1, 2, 3, 200, 240, 256, 400, 480, 512, 640, 1024])
def test_hann_window_equals_scipy(n):
    scipy_signal = pytest.importorskip("scipy.signal")
    expected = scipy_signal.get_window("hann", n, fftbins=True)
    assert np.array_equal(q15(mt.hann_periodic(n)), q15(expected))


@pytest.mark.parametrize("sample_rate", [8000, 16000, 22050])
@pytest.mark.parametrize("fft_len", [128, 512, 1024])
@pytest.mark.parametrize("n_mels,fmin,fmax", [(40, 20, 4000), (26, 0, 4000), (64, 60, 3800),
                                               (10, 300, 3400)])
def test_mel_filterbank_equals_librosa(sample_rate, fft_len, n_mels, fmin, fmax):
    librosa = pytest.importorskip("librosa")
    expected = librosa.filters.mel(sr=sample_rate, n_fft=fft_len, n_mels=n_mels, fmin=fmin,
                                   fmax=fmax, htk=False, norm=None)
    got = mt.mel_filters(sample_rate, fft_len, n_mels, fmin, fmax)
    assert got.dtype == expected.dtype
    assert np.array_equal(q15(got), q15(expected))


@pytest.mark.parametrize("n", [1, 10, 13, 20, 32, 40, 64, 80, 128])
def test_dct_equals_scipy(n):
    scipy_fft = pytest.importorskip("scipy.fft")
    expected = scipy_fft.dct(np.eye(n), type=2, norm="ortho", axis=0)
    assert np.array_equal(q15(mt.dct_ortho(n)), q15(expected))
    assert np.allclose(mt.dct_ortho(n) @ mt.dct_ortho(n).T, np.eye(n))


def test_tables_accept_a_config_a_dataclass_or_the_recorded_dict():
    settings = FeaturesConfig()
    from_dataclass = mt.make_tables(settings, 16000)
    from_dict = mt.make_tables(vars(settings), 16000)
    assert repr(from_dataclass) == repr(from_dict)
    assert from_dataclass.frames_per_clip == 49 and from_dataclass.n_out == 10


def test_the_network_window_follows_the_clip_length():
    """data.clip_ms sets the window the network sees: frames_per_clip follows the clip, the
    front end's constants do not change."""
    one_second = mt.make_tables(FeaturesConfig(), 16000)
    longer = mt.make_tables(FeaturesConfig(), 16000, clip_samples=24000)
    assert (one_second.clip_samples, one_second.frames_per_clip) == (16000, 49)
    assert (longer.clip_samples, longer.frames_per_clip) == (24000, 74)
    assert np.array_equal(one_second.mel_weights, longer.mel_weights)
