"""How close the golden front end is to float MFCCs, and how fast: the features stage's measures.

The float reference (librosa-based) differs from `librosa.feature.mfcc` defaults, on purpose, to
match the device front end:
  * frames start at sample 0 and are not centred or padded (librosa: center=True);
  * the 480-sample window is zero-padded at the end to the 512-point FFT (librosa centres it);
  * power spectrum |X|^2 (librosa's default power=2.0 too) of the signal as int16 / 32768;
  * mel filters with norm=None, peak 1 (librosa: norm='slaney', area-normalised);
  * natural log of max(mel, log_floor) (librosa: 10*log10 with amin=1e-10 and top_db=80);
  * orthonormal DCT-II, first n_coeffs (the same as librosa's dct_type=2, norm='ortho').
CMSIS-DSP's arm_mfcc_q15 is measured the same way against a float model of its own algorithm
(kws.measure.cmsis_peer).
"""
from __future__ import annotations

import os
import time

import numpy as np

from kws.golden.mfcc import frame_clips, mfcc_clips, mfcc_frames
from kws.golden.mfcc_tables import MfccTables


# ---------------------------------------------------------------- float reference

def float_log_mel(clips: np.ndarray, t: MfccTables) -> np.ndarray:
    """int16 clips [N, S] → float64 log-mel [N, n_frames, n_mels] (natural log, floored)."""
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


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """10 log10(sum ref^2 / sum (test - ref)^2) over all elements."""
    reference = np.asarray(reference, dtype=np.float64)
    noise = np.sum((np.asarray(test, dtype=np.float64) - reference) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference**2) / noise))


LOUD_DBFS = -50.0                # "loud" frames: rms of the (unwindowed) frame above this


def loud_frames(frames: np.ndarray, dbfs: float = LOUD_DBFS) -> np.ndarray:
    """bool [...]: int16 frames [..., window_len] whose rms is above `dbfs` (full scale 32768)."""
    x = np.asarray(frames, dtype=np.float64) / 32768.0
    rms = np.sqrt(np.mean(x * x, axis=-1))
    return 20 * np.log10(np.maximum(rms, 1e-12)) > dbfs


def snr_all_and_loud(reference: np.ndarray, test: np.ndarray, frames: np.ndarray,
                     dbfs: float = LOUD_DBFS) -> tuple[float, float, int]:
    """(SNR dB over all frames, SNR dB over frames louder than `dbfs`, number of loud frames).

    reference, test: [..., n_out] features of the int16 `frames` [..., window_len] (the same
    leading shape, e.g. [clips, frames_per_clip]). For the stage's golden-vs-float SNR:
        snr_all_and_loud(float_features(sample, t), golden, frame_clips(sample, t))
    """
    loud = loud_frames(frames, dbfs)
    reference, test = np.asarray(reference), np.asarray(test)
    loud_snr = snr_db(reference[loud], test[loud]) if loud.any() else float("nan")
    return snr_db(reference, test), loud_snr, int(loud.sum())


def speed_vs_librosa(clips: np.ndarray, t: MfccTables) -> dict:
    """Golden features vs librosa.feature.mfcc on the same clips, timed in one run.

    Same clips, same frames (center=False, same window length, hop, FFT size, mel count and
    range, n_mfcc), both warmed up first. librosa per clip runs on one core, so the golden model
    is timed on one thread as well as on all (its default); the 1-minute load average says how
    busy the machine was (other jobs slow the threaded run most)."""
    import librosa

    kwargs = dict(sr=t.sample_rate, n_mfcc=t.n_out, n_fft=t.fft_len, hop_length=t.stride,
                  win_length=t.window_len, n_mels=t.n_mels, fmin=t.fmin, fmax=t.fmax,
                  center=False)
    x = clips.astype(np.float32) / 32768.0
    librosa.feature.mfcc(y=x[0], **kwargs)                      # warm up caches
    mfcc_clips(clips[:4], t)

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    golden_s = timed(lambda: mfcc_clips(clips, t))
    per_clip_s = timed(lambda: [librosa.feature.mfcc(y=clip, **kwargs) for clip in x])
    frames = frame_clips(np.asarray(clips, dtype=np.int16), t)
    golden_1_s = timed(lambda: mfcc_frames(frames, t, threads=1))
    batched_s = timed(lambda: librosa.feature.mfcc(y=x, **kwargs))
    return {"golden_seconds": round(golden_s, 3), "golden_seconds_1thread": round(golden_1_s, 3),
            "librosa_seconds": round(per_clip_s, 3),
            "librosa_batched_seconds": round(batched_s, 3),
            "speedup_vs_librosa": round(per_clip_s / golden_s, 2),
            "speedup_vs_librosa_1thread": round(per_clip_s / golden_1_s, 2),
            "speedup_vs_librosa_batched": round(batched_s / golden_s, 2),
            "speed_threads": os.cpu_count(), "speed_load_average": round(os.getloadavg()[0], 2)}


def cmsis_peer_snr(clips: np.ndarray, t: MfccTables) -> dict:
    """CMSIS-DSP arm_mfcc_q15 against a float model of its own algorithm, on the same frames
    (kws.measure.cmsis_peer explains both): SNR over all frames and over frames louder than -50 dBFS,
    and over all frames with the C's log(0) floor put into the model."""
    try:
        import cmsisdsp  # noqa: F401
        from kws.measure import cmsis_peer as cmsis_mfcc
    except ImportError as exc:
        return {"cmsis_q15_snr_db": None, "cmsis_q15_note": f"cmsisdsp not available ({exc})"}
    if t.kind != "mfcc":
        return {"cmsis_q15_snr_db": None, "cmsis_q15_note": "arm_mfcc_q15 computes MFCCs only"}
    frames = frame_clips(clips, t).reshape(-1, t.window_len)
    settings = dict(sample_rate=t.sample_rate, fft_len=t.fft_len, n_mels=t.n_mels,
                    fmin=t.fmin, fmax=t.fmax, n_coeffs=t.n_out)
    test = cmsis_mfcc.cmsis_mfcc_q15(frames, **settings)
    reference = cmsis_mfcc.float_reference_same_algorithm(frames, **settings)
    floored = cmsis_mfcc.float_reference_same_algorithm(frames, floor=cmsis_mfcc.CMSIS_LOG_ZERO,
                                                        **settings)
    all_db, loud_db, n_loud = snr_all_and_loud(reference, test, frames)
    return {"cmsis_q15_snr_db": round(all_db, 2), "cmsis_q15_snr_db_loud": round(loud_db, 2),
            "cmsis_q15_snr_db_floored": round(snr_db(floored, test), 2),
            "cmsis_q15_frames": int(len(frames)), "cmsis_q15_loud_frames": n_loud}


# ---------------------------------------------------------------- stage interface
