"""Signal helpers shared by every TTS engine: resampling to 16 kHz, one silence trim, a
plausibility check of the result, and eSpeak's rate and pitch units."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from kws.errors import KwsError

TARGET_RATE = 16000


class TtsError(KwsError):
    """An engine failed, or produced audio that cannot be the text it was asked to say."""


def resample(x: np.ndarray, from_rate: float, to_rate: int = TARGET_RATE) -> np.ndarray:
    """float64 out; polyphase with a rational ratio (exact for 22050, 24000 and 32000 Hz; within
    1e-6 for the non-integer rates of the resampling pitch shift)."""
    ratio = Fraction(to_rate / from_rate).limit_denominator(1000)
    if ratio == 1:
        return x.astype(np.float64)
    return resample_poly(x.astype(np.float64), ratio.numerator, ratio.denominator)


def trim_silence(x: np.ndarray, rate: int = TARGET_RATE, floor_db: float = -40.0,
                 frame_ms: float = 10.0, margin_ms: float = 5.0) -> np.ndarray:
    """Cut leading/trailing 10 ms frames quieter than floor_db below the loudest frame, keeping
    margin_ms either side: the same rule for every engine and for recorded negatives."""
    if len(x) == 0:
        return x
    f = max(1, int(rate * frame_ms / 1000))
    n = int(math.ceil(len(x) / f))
    pad = np.zeros(n * f)
    pad[:len(x)] = x.astype(np.float64)
    energy = np.sqrt(np.mean(pad.reshape(n, f) ** 2, axis=1))
    if energy.max() <= 0:
        return x[:0]
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (floor_db / 20))
    margin = int(rate * margin_ms / 1000)
    return x[max(0, loud[0] * f - margin):min(len(x), (loud[-1] + 1) * f + margin)]


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def voiced_seconds(x: np.ndarray, rate: int = TARGET_RATE) -> float:
    """Seconds of periodic (voiced) sound: 30 ms frames (10 ms hop) within 30 dB of the loudest
    whose normalised autocorrelation peaks above 0.5 at a lag of 2.5-16.7 ms (F0 60-400 Hz).
    Vowels, nasals and liquids are periodic; /f/ /s/, breath and noise stay below ~0.2. (A
    zero-crossing test fails here: eSpeak's front vowels cross zero as often as /s/.)"""
    x = x.astype(np.float64)
    n, hop = int(0.03 * rate), int(0.01 * rate)
    if len(x) < n:
        return 0.0
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = np.sqrt(np.mean(frames ** 2, axis=1))
    if energy.max() <= 0:
        return 0.0
    loud = energy >= energy.max() * 10 ** (-30 / 20)
    ac = np.fft.irfft(np.abs(np.fft.rfft(frames[loud], 2 * n, axis=1)) ** 2, axis=1)[:, :n]
    lo, hi = rate // 400, rate // 60
    ac = ac / (1 - np.arange(n) / n)            # unbiased: long lags overlap less of the frame
    periodic = ac[:, lo:hi].max(axis=1) > 0.5 * np.maximum(ac[:, 0], 1e-12)
    return float(np.count_nonzero(periodic)) * hop / rate


def check_speech(pcm: np.ndarray, text: str, rate: int = TARGET_RATE) -> None:
    """Raise TtsError when pcm cannot be speech of text: near-silent, far too short or long for
    its words, or without voiced sound. Catches missing diphones (mbrola us3 says "on" as 50 ms
    of /n/ and "off" as 80 ms of bare /f/) and audio played at the wrong rate."""
    words = max(1, len(text.split()))
    seconds = len(pcm) / rate
    peak = int(np.abs(pcm.astype(np.int32)).max()) if len(pcm) else 0
    if peak < 300:                                    # ~ -40 dBFS
        raise TtsError(f"silent output for {text!r} (peak {peak})")
    if seconds < 0.08 * words:
        raise TtsError(f"output too short for {text!r}: {seconds * 1000:.0f} ms")
    if seconds > 1.6 * words + 1.0:
        raise TtsError(f"output too long for {text!r}: {seconds:.2f} s")
    voiced = voiced_seconds(pcm, rate)
    if voiced < 0.02 * words:
        raise TtsError(f"no vowel in the output for {text!r}: {voiced * 1000:.0f} ms voiced")


def estimate_f0(x: np.ndarray, rate: int = TARGET_RATE) -> float:
    """Median autocorrelation F0 of the voiced 40 ms frames (a diagnostic, not a tracker)."""
    x = x.astype(np.float64)
    n, out = int(0.04 * rate), []
    if len(x) < n:
        return 0.0
    level = np.sqrt(np.mean(x ** 2))
    lo, hi = int(rate / 400), int(rate / 60)
    for i in range(0, len(x) - n, n // 2):
        fr = x[i:i + n] - x[i:i + n].mean()
        if np.sqrt(np.mean(fr ** 2)) < 0.1 * level:
            continue
        ac = np.correlate(fr, fr, "full")[n - 1:]
        k = lo + int(np.argmax(ac[lo:hi]))
        if ac[0] > 0 and ac[k] > 0.5 * ac[0]:
            out.append(rate / k)
    return float(np.median(out)) if out else 0.0


# eSpeak NG's pitch parameter (0..99, default 50) against the F0 ratio it gives, measured on
# mb-us1/us2/en1/de4-en (median F0 of "yes stop left, go on"); the same parameter for plain eSpeak.
_ESPEAK_PITCH = np.array([0, 10, 20, 30, 40, 50, 60, 70, 80, 90])
_ESPEAK_RATIO = np.array([0.722, 0.789, 0.814, 0.873, 0.923, 1.0, 1.124, 1.23, 1.367, 1.53])
ESPEAK_DEFAULT_WPM = 175


def espeak_pitch(factor: float) -> int:
    """The eSpeak pitch parameter that gives F0 × factor."""
    p = np.interp(math.log(factor), np.log(_ESPEAK_RATIO), _ESPEAK_PITCH,
                  left=0, right=90 + (math.log(factor) - math.log(1.53)) / 0.0103)
    return int(np.clip(round(float(p)), 0, 99))


def espeak_wpm(rate: float) -> int:
    return int(np.clip(round(ESPEAK_DEFAULT_WPM * rate), 80, 450))
