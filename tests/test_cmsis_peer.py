"""CMSIS-DSP arm_mfcc_q15 (the `cmsisdsp` binding) against kws.measure.cmsis_peer's float model of it."""
import numpy as np
import pytest

cmsisdsp = pytest.importorskip("cmsisdsp", reason="cmsisdsp (CMSIS-DSP Python binding) not "
                                                  "installed: no CMSIS peer to compare")

from kws.measure import cmsis_peer as cmsis_mfcc# noqa: E402
from kws.measure.fidelity import snr_all_and_loud  # noqa: E402

SR, WINDOW, HOP = 16000, 480, 320
N_MELS, N_COEFFS = 40, 10


def _frames(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)
    starts = range(0, len(x) - WINDOW + 1, HOP)
    return np.stack([x[s:s + WINDOW] for s in starts])


def _chirp(level: float, seconds: float = 1.0) -> np.ndarray:
    time = np.arange(int(SR * seconds)) / SR
    return level * np.sin(2 * np.pi * (100 * time + 0.5 * 3900 * time**2 / seconds))


def _speechlike_noise(level: float, seed: int = 0) -> np.ndarray:
    """Noise shaped like speech: low-passed (about -6 dB/octave above 500 Hz), syllable-rate
    amplitude modulation, scaled to `level` rms."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(SR))
    freqs = np.fft.rfftfreq(SR, 1 / SR)
    spectrum /= np.sqrt(1 + (freqs / 500.0) ** 2)
    x = np.fft.irfft(spectrum, SR)
    x *= 0.6 + 0.4 * np.sin(2 * np.pi * 4 * np.arange(SR) / SR)
    return x * level / np.sqrt(np.mean(x**2))


def _both(frames, **kwargs):
    return (cmsis_mfcc.float_reference_same_algorithm(frames, **kwargs),
            cmsis_mfcc.cmsis_mfcc_q15(frames))


# Measured (cmsisdsp 1.10.3): 11.3, 19.3, 36.9, 39.8 dB. A pure tone is the worst case: its
# bands far from the tone lie 100-120 dB below the peak band, beyond what the q15 FFT (scaled
# by 1/N) and q14 magnitude resolve relative to the frame's peak; noise-like spectra are flat
# enough to stay well inside that range. A louder tone scores lower only because ln(mel) is
# closer to 0 (less reference power for the same error).
@pytest.mark.parametrize("name, signal, min_db", [
    ("chirp -6 dBFS", _chirp(0.5), 9),
    ("chirp -26 dBFS", _chirp(0.05), 15),
    ("speech-like noise -26 dBFS rms", _speechlike_noise(0.05), 30),
    ("speech-like noise -40 dBFS rms", _speechlike_noise(0.01, seed=1), 30),
])
def test_cmsis_q15_is_close_to_its_float_model(name, signal, min_db):
    from kws.measure.fidelity import snr_db
    frames = _frames(signal)
    reference, test = _both(frames)
    snr = snr_db(reference, test)
    assert np.isfinite(snr) and snr > min_db, f"{name}: {snr:.1f} dB"


def test_old_model_without_undoing_the_normalisation_is_far_off():
    """The model that normalised each frame and never undid it (before the fix) is off by
    ln(1 / peak) per band: negative SNR on a -40 dBFS signal (the real data set: about -6 dB)."""
    from kws.measure.fidelity import snr_db
    frames = _frames(_speechlike_noise(0.01))
    peak = np.abs(frames).max(axis=1, keepdims=True) / 32768.0
    normalised = np.round(frames / peak).clip(-32768, 32767).astype(np.int16)
    wrong = cmsis_mfcc.float_reference_same_algorithm(normalised)
    assert snr_db(wrong, cmsis_mfcc.cmsis_mfcc_q15(frames)) < 0


def test_cmsis_q15_keeps_loudness():
    """The C normalises each frame to full scale but undoes it after the mel filters
    (arm_scale_q31 by the peak): 20 dB quieter is ln(0.1) lower in every band, so c0 drops
    by ln(10) * sqrt(2 / n_mels) * n_mels and the other coefficients stay."""
    loud = _frames(_speechlike_noise(0.1))
    quiet = _frames(_speechlike_noise(0.01))
    c_loud, c_quiet = cmsis_mfcc.cmsis_mfcc_q15(loud), cmsis_mfcc.cmsis_mfcc_q15(quiet)
    expected = np.log(10) * np.sqrt(2 / N_MELS) * N_MELS
    assert np.median(c_loud[:, 0] - c_quiet[:, 0]) == pytest.approx(expected, abs=0.5)
    assert np.abs(c_loud[:, 1:] - c_quiet[:, 1:]).mean() < 0.5


def test_cmsis_q15_log_of_silence_is_its_floor():
    """A digital-silence frame gives ln(2**-11) in every band (the C's log(0)), which the
    model reproduces with floor=CMSIS_LOG_ZERO."""
    frames = np.zeros((2, WINDOW), dtype=np.int16)
    reference, test = _both(frames, floor=cmsis_mfcc.CMSIS_LOG_ZERO)
    assert test[:, 0] == pytest.approx(np.log(2.0**-11) * np.sqrt(2 / N_MELS) * N_MELS, abs=0.05)
    np.testing.assert_allclose(test, reference, atol=0.05)


def test_snr_split_counts_loud_frames():
    frames = np.concatenate([_frames(_chirp(0.5)), np.zeros((3, WINDOW), dtype=np.int16)])
    reference, test = _both(frames)
    all_db, loud_db, n_loud = snr_all_and_loud(reference, test, frames)
    assert n_loud == len(frames) - 3
    assert np.isfinite(all_db) and loud_db > all_db
