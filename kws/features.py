"""Stage `features`: int8 MFCCs of every clip from the golden fixed-point front end.

Also the float reference (librosa-based) that says how close the integers are to textbook MFCCs.
Where the reference differs from `librosa.feature.mfcc` defaults, on purpose, to match the
device front end:
  * frames start at sample 0 and are not centred or padded (librosa: center=True);
  * the 480-sample window is zero-padded at the end to the 512-point FFT (librosa centres it);
  * power spectrum (|X|^2, librosa's default power=2.0 too), of the signal as int16/32768;
  * mel filters with norm=None, peak 1 (librosa: norm='slaney', area-normalised);
  * natural log of max(mel, log_floor) (librosa: 10*log10 with amin=1e-10 and top_db=80);
  * orthonormal DCT-II, first n_coeffs (the same as librosa's dct_type=2, norm='ortho').
"""
from __future__ import annotations

import numpy as np

from .mfcc_tables import MfccTables


def float_log_mel(clips: np.ndarray, t: MfccTables) -> np.ndarray:
    """int16 clips [N, S] → float64 log-mel [N, n_frames, n_mels] (natural log)."""
    import librosa
    import scipy.signal

    x = np.asarray(clips, dtype=np.float64) / 32768.0
    frames = np.swapaxes(librosa.util.frame(x, frame_length=t.window_len, hop_length=t.stride,
                                            axis=-1), -1, -2)
    window = scipy.signal.get_window("hann", t.window_len, fftbins=True)
    power = np.abs(np.fft.rfft(frames * window, n=t.fft_len, axis=-1)) ** 2
    mel = librosa.filters.mel(sr=t.sample_rate, n_fft=t.fft_len, n_mels=t.n_mels,
                              fmin=t.fmin, fmax=t.fmax, htk=False, norm=None)
    return np.log(np.maximum(power @ mel.T, t.log_floor))


def float_features(clips: np.ndarray, t: MfccTables) -> np.ndarray:
    """The float counterpart of the golden output: [N, n_frames, n_out] MFCC or log-mel."""
    import scipy.fft
    log_mel = float_log_mel(clips, t)
    if t.kind == "logmel":
        return log_mel
    return scipy.fft.dct(log_mel, type=2, norm="ortho", axis=-1)[..., :t.n_out]
