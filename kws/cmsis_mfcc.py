"""CMSIS-DSP's arm_mfcc_q15 as a peer front end, through the `cmsisdsp` Python binding (the
same C as the library), and a float64 model of the algorithm it approximates.

What arm_mfcc_q15 (CMSIS-DSP 1.10) computes, per frame of fft_len q15 samples:
  1. normalise the frame to full scale (x * 0x7FFF / max|x|) and never undo it: the output is
     the MFCC of a gain-normalised frame, so loudness is lost;
  2. multiply by the q15 window; q15 real FFT (which scales by 1/fft_len);
  3. magnitude spectrum |X| (not power), q15 with the FFT's scaling;
  4. mel filters (q15 coefficients, CMSIS's own mel scale 1127 ln(1 + f/700), peak 1),
     plus ~1e-6 (MICRO_Q15), then a saturating shift;
  5. q31 natural log, corrected for the FFT's and the shift's scaling;
  6. DCT-II with sqrt(2/n_mels) on every row (so c0 is sqrt(2) larger than orthonormal);
  7. output q8.7 (int16 / 128).
Compared with our front end: it keeps no loudness, uses |X| instead of |X|^2 (half the log
range), and its FFT and log run at q15/q31 precision with a per-frame 1/N scaling — the source
warns it "may saturate". Our comparison therefore measures each against a float model of its
own algorithm.
"""
from __future__ import annotations

import numpy as np


def _setup(window_len: int, sample_rate: int, fft_len: int, n_mels: int, fmin: float,
           fmax: float, n_coeffs: int):
    import cmsisdsp as dsp
    import cmsisdsp.datatype as dt
    import cmsisdsp.mfcc as cmsis_mel
    import scipy.signal

    window = np.zeros(fft_len)
    window[:window_len] = scipy.signal.get_window("hann", window_len, fftbins=True)
    lengths, positions, coefs_q15 = cmsis_mel.melFilterMatrix(dt.Q15, fmin, fmax, n_mels,
                                                              sample_rate, fft_len)
    dct_q15 = cmsis_mel.dctMatrix(dt.Q15, n_coeffs, n_mels)
    instance = dsp.arm_mfcc_instance_q15()
    status = dsp.arm_mfcc_init_q15(instance, fft_len, n_mels, n_coeffs, dct_q15, positions,
                                   lengths, coefs_q15, dt.convert(window, dt.Q15))
    if status != 0:
        raise ValueError(f"arm_mfcc_init_q15 failed with status {status}")
    # The float model uses the same filters and DCT, before their q15 rounding.
    lengths_f, positions_f, coefs_f = cmsis_mel.melFilterMatrix(dt.F32, fmin, fmax, n_mels,
                                                                sample_rate, fft_len)
    mel = np.zeros((n_mels, fft_len // 2 + 1))
    offset = 0
    for band, (pos, length) in enumerate(zip(positions_f, lengths_f)):
        mel[band, pos:pos + length] = coefs_f[offset:offset + length]
        offset += length
    dct = np.asarray(cmsis_mel.dctMatrix(dt.F32, n_coeffs, n_mels)).reshape(n_coeffs, n_mels)
    return dsp, instance, window, mel, dct


def cmsis_mfcc_q15(frames: np.ndarray, *, sample_rate: int = 16000, fft_len: int = 512,
                   n_mels: int = 40, fmin: float = 20.0, fmax: float = 4000.0,
                   n_coeffs: int = 10) -> np.ndarray:
    """arm_mfcc_q15 on int16 frames [n_frames, window_len] (zero-padded to fft_len at the end).

    Returns float64 [n_frames, n_coeffs]: the q8.7 outputs / 128.
    """
    dsp, instance, *_ = _setup(frames.shape[1], sample_rate, fft_len, n_mels, fmin, fmax,
                               n_coeffs)
    buffer = np.zeros(fft_len, dtype=np.int16)
    scratch = np.zeros(2 * fft_len, dtype=np.int32)
    out = np.empty((len(frames), n_coeffs))
    for i, frame in enumerate(frames):
        buffer[:] = 0
        buffer[:len(frame)] = frame
        status, values = dsp.arm_mfcc_q15(instance, buffer, scratch)
        out[i] = np.asarray(values, dtype=np.float64) / 128.0
    return out


def float_reference_same_algorithm(frames: np.ndarray, *, sample_rate: int = 16000,
                                   fft_len: int = 512, n_mels: int = 40, fmin: float = 20.0,
                                   fmax: float = 4000.0, n_coeffs: int = 10) -> np.ndarray:
    """float64 [n_frames, n_coeffs]: what arm_mfcc_q15 approximates, without its rounding."""
    _, _, window, mel, dct = _setup(frames.shape[1], sample_rate, fft_len, n_mels, fmin, fmax,
                                    n_coeffs)
    x = np.zeros((len(frames), fft_len))
    x[:, :frames.shape[1]] = frames / 32768.0
    peak = np.abs(x).max(axis=1, keepdims=True)
    x = np.where(peak > 0, x / np.where(peak > 0, peak, 1.0), 0.0)       # step 1
    magnitude = np.abs(np.fft.rfft(x * window, axis=1))
    return np.log(magnitude @ mel.T + 1e-6) @ dct.T
