"""CMSIS-DSP's arm_mfcc_q15 as a peer front end, through the `cmsisdsp` Python binding (the
same C as the library), and a float64 model of the algorithm it approximates.

What arm_mfcc_q15 (CMSIS-DSP 1.10, Source/TransformFunctions/arm_mfcc_q15.c) computes, per frame
of fft_len q15 samples x (= int16 / 32768), writing N = fft_len and peak = max|x|:
  1. normalise the frame to full scale, x * 0x7FFF / max|x| (skipped when max|x| is 0 or
     0x7FFF);
  2. multiply by the q15 window; q15 real FFT, which scales by 1/N (output q10.6 for N = 512);
  3. magnitude |X| / N, q14 (arm_cmplx_mag_q15);
  4. mel filters (q15 coefficients from cmsisdsp.mfcc.melFilterMatrix: mel = 1127 ln(1 + f/700),
     triangles of peak 1, no area normalisation), accumulated in q29; + MICRO_Q15 (1e-6 in
     that q29 unit), then >> 10 (truncating) and saturate to q31;
  5. UNDO step 1: arm_scale_q31 by (max|x| << 16), i.e. multiply by peak. The loudness is
     therefore kept: after this step the value is mel(|X|) of the original frame, times 2**-10
     per integer step (2**19 / N), truncated;
  6. q31 natural log (arm_vlog_q31, q5.26) + (log2 N + 12) ln 2, which cancels the 1/N and the
     q31 / >> 10 scalings: the result is ln(mel(|X|)) with |X| unscaled (no 1/N). An integer 0 (a
     band below 2**-10, or a digital-silence frame) comes out as ln(2**-11), the C's log(0);
  7. >> 19 (truncating) to q8.7, then the q15 DCT matrix of cmsisdsp.mfcc.dctMatrix
     (sqrt(2/n_mels) cos(pi i (m + 1/2) / n_mels) on every row, so c0 is sqrt(2) larger than
     orthonormal): output q8.7. `cmsis_mfcc_q15` returns it / 128.

The float model (`float_reference_same_algorithm`) is what that approximates, in float64:
    DCT @ ln(mel @ |rfft(w * x, N)| + 1e-6)
with x = int16 / 32768 zero-padded at the end to N, w the same window (also zero-padded),
the same mel matrix and DCT matrix before their q15 rounding, no frame normalisation (the C
undoes it) and no 1/N (the C's log correction removes it). This is the model of
/work/shared/ANCHORS.md ("magnitude spectrum of the full-scale signal, log(mel + 1e-6)"); on its
sample (one clip in ten of the Speech Commands subset, 17,983 frames) it gives the same numbers:
13.7 dB over all frames, 21.1 dB over frames louder than -50 dBFS.

An earlier model here normalised the frame (step 1) and never undid it, as if the C kept no
loudness: every quiet frame then differed by ln(1 / peak) per band, giving SNR around -6 dB.

Where the error is (that sample, rms error per frame in output units): 17.5 on the 253
digital-silence frames, where the model's log(0) is ln(1e-6) = -13.8 and the C's is
ln(2**-11) = -7.6 (55 in c0: the "max abs error 55" of ANCHORS.md; a choice of floor, not
rounding; `floor=CMSIS_LOG_ZERO` puts the C's floor into the model and all frames then give
~23 dB); 1.3-3.6 below -70 dBFS; 0.4-0.5 between -70 and -30 dBFS; 0.6 above -30 dBFS. Quiet
frames lose because step 5 brings the mel energies back to their true level before the log on
a grid of 2**-10 (N * 2**-19): the normalisation of step 1 protects the FFT, not the log. Loud
frames (voiced speech) lose a little in their weak bands, which lie further below the frame's
peak than the q15 FFT and q14 magnitude resolve; their SNR also looks worse than their error
because their log-mels are nearer 0 (less reference power).
"""
from __future__ import annotations

import numpy as np

CMSIS_LOG_ZERO = 2.0 ** -11      # what arm_mfcc_q15 outputs (as exp) for a band that rounds to 0


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
        buffer[:] = 0                      # the C overwrites its input
        buffer[:len(frame)] = frame
        status, values = dsp.arm_mfcc_q15(instance, buffer, scratch)
        out[i] = np.asarray(values, dtype=np.float64) / 128.0
    return out


def float_reference_same_algorithm(frames: np.ndarray, *, sample_rate: int = 16000,
                                   fft_len: int = 512, n_mels: int = 40, fmin: float = 20.0,
                                   fmax: float = 4000.0, n_coeffs: int = 10,
                                   floor: float | None = None) -> np.ndarray:
    """float64 [n_frames, n_coeffs]: what arm_mfcc_q15 approximates, without its rounding.

    DCT @ ln(mel @ |rfft(w * x)| + 1e-6), x = int16 / 32768 (see the module docstring). With
    `floor` (e.g. CMSIS_LOG_ZERO), ln(max(mel + 1e-6, floor)).
    """
    _, _, window, mel, dct = _setup(frames.shape[1], sample_rate, fft_len, n_mels, fmin, fmax,
                                    n_coeffs)
    x = np.zeros((len(frames), fft_len))
    x[:, :frames.shape[1]] = frames / 32768.0
    energy = np.abs(np.fft.rfft(x * window, axis=1)) @ mel.T + 1e-6
    if floor is not None:
        energy = np.maximum(energy, floor)
    return np.log(energy) @ dct.T
