"""Constant tables of the fixed-point MFCC front end, generated from the feature settings.

Python makes every number the golden model and the C share here; kws.emit.mfcc_c writes them as
`kws_mfcc_tables.{c,h}`. Nothing is hand-typed, so any window, FFT length, band count or
coefficient count works. Formats (see kws/mfcc_fixed.py for how they are used):

  window        int16 Q15, periodic Hann, round(w * 2**15) clamped to 32767
  fft_twiddle   int32 holding Q15 in [-32768, 32768] (so 1 and -j are exact),
                W_M^t = exp(-2πi t/M) for the M = fft_len/2 point complex FFT, t < M/2
  split_twiddle int32 Q15 as above, W_N^k = exp(-2πi k/N) for the real-FFT split, k = 0..M
  bitrev        uint16, bit-reversal permutation of M
  mel weights   int16 Q15 (peak 1.0 → 32767), Slaney mel scale, no area normalisation; stored
                sparse: first bin and bin count per band, weights packed band after band
  log2_lut      int32 Q16, log2(1 + i/128) for i = 0..128
  dct           int16 Q15, orthonormal DCT-II [n_coeffs, n_mels] (absent for log-mel)
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from kws.errors import KwsError
from kws.golden.intmath import quantize_multiplier

LOG2_LUT_BITS = 7                          # 128 segments, linear interpolation between them
LOG2_INTERP_BITS = 16
LN2_Q15 = round(math.log(2) * 2**15)       # ln 2 in Q15 = 22713
LOG_Q = 11                                 # log-mel values are Q11 natural-log units
ACC_Q = 15                                 # DCT outputs are Q15 before requantisation to int8


@dataclass(frozen=True)
class MfccTables:
    kind: str                              # "mfcc" or "logmel"
    sample_rate: int
    window_len: int
    stride: int
    fft_len: int
    n_mels: int
    n_out: int                             # outputs per frame: n_coeffs (mfcc) or n_mels (logmel)
    fmin: float
    fmax: float
    log_floor: float
    norm_bits: int                         # frames are normalised so max|v| < 2**norm_bits
    power_shift: int                       # |X|^2 >> power_shift before the filterbank
    log_offset: int                        # log2(mel_float) = log2(E) - log_offset - 2*norm_shift
    log_floor_q11: int                     # ln(log_floor) in Q11: the floor of every log-mel value
    out_multiplier: int                    # Q15 DCT output → int8, CMSIS-NN requantisation
    out_shift: int
    out_zero_point: int
    out_scale: float                       # int8 q means (q - zero_point) * out_scale
    window: np.ndarray = field(repr=False)
    fft_twiddle: np.ndarray = field(repr=False)       # [M/2, 2] (re, im)
    split_twiddle: np.ndarray = field(repr=False)     # [M+1, 2]
    bitrev: np.ndarray = field(repr=False)
    mel_first_bin: np.ndarray = field(repr=False)
    mel_n_bins: np.ndarray = field(repr=False)
    mel_weights: np.ndarray = field(repr=False)       # packed
    log2_lut: np.ndarray = field(repr=False)
    dct: np.ndarray | None = field(repr=False)
    clip_samples: int                      # one network window's audio (data.clip_ms)

    @property
    def frames_per_clip(self) -> int:
        return 1 + (self.clip_samples - self.window_len) // self.stride


# ---------------------------------------------------------------- the float designs, in numpy
# The window, the mel filterbank and the DCT are the ones scipy and librosa make, computed the
# same way (the same float operations in the same order), so the rounded tables are identical:
# tests/test_golden_mfcc_tables.py compares them over sample rates, FFT sizes and band counts.

def hann_periodic(n: int) -> np.ndarray:
    """scipy.signal.get_window("hann", n, fftbins=True): 0.5 + 0.5 cos over linspace(-pi, pi)."""
    if n == 1:
        return np.ones(1)
    fac = np.linspace(-np.pi, np.pi, n + 1)
    return (0.5 + 0.5 * np.cos(fac))[:-1]


_MEL_F_SP = 200.0 / 3                     # Slaney mel scale: linear below 1 kHz ...
_MEL_MIN_LOG_HZ = 1000.0
_MEL_MIN_LOG_MEL = _MEL_MIN_LOG_HZ / _MEL_F_SP
_MEL_LOGSTEP = float(np.log(6.4)) / 27.0      # ... logarithmic above


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """librosa.hz_to_mel(htk=False) (Slaney)."""
    hz = np.atleast_1d(np.asarray(hz, dtype=np.float64))
    mel = hz / _MEL_F_SP
    log = hz >= _MEL_MIN_LOG_HZ
    mel[log] = _MEL_MIN_LOG_MEL + np.log(hz[log] / _MEL_MIN_LOG_HZ) / _MEL_LOGSTEP
    return mel


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """librosa.mel_to_hz(htk=False) (Slaney)."""
    mel = np.atleast_1d(np.asarray(mel, dtype=np.float64))
    hz = 0.0 + _MEL_F_SP * mel
    log = mel >= _MEL_MIN_LOG_MEL
    hz[log] = _MEL_MIN_LOG_HZ * np.exp(_MEL_LOGSTEP * (mel[log] - _MEL_MIN_LOG_MEL))
    return hz


def mel_filters(sample_rate: int, fft_len: int, n_mels: int, fmin: float,
                fmax: float) -> np.ndarray:
    """librosa.filters.mel(htk=False, norm=None): float32 [n_mels, fft_len/2 + 1] triangles of
    peak 1 between Slaney-mel-spaced edges."""
    bins = np.fft.rfftfreq(n=fft_len, d=1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin)[0], hz_to_mel(fmax)[0], n_mels + 2))
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, bins)
    weights = np.zeros((n_mels, len(bins)), dtype=np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]))
    return weights


def dct_ortho(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix [n, n] (scipy.fft.dct(eye(n), type=2, norm="ortho", axis=0))."""
    k = np.arange(n)[:, None]
    m = np.arange(n)[None, :]
    d = np.cos(np.pi * k * (2 * m + 1) / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d


def _q(x: np.ndarray, bits: int, dtype) -> np.ndarray:
    """Round to Q`bits`, clamped to the dtype (so 1.0 in Q15 becomes 32767)."""
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(x) * 2.0**bits), info.min, info.max).astype(dtype)


def check_settings(f, sample_rate: int) -> tuple[int, int]:
    """Validate the features config; return (window_len, stride) in samples."""
    window_len = round(f.window_ms * sample_rate / 1000)
    stride = round(f.stride_ms * sample_rate / 1000)
    if f.kind not in ("mfcc", "logmel"):
        raise KwsError(f"features.kind={f.kind!r}: expected 'mfcc' or 'logmel'")
    if f.fft_len < 16 or f.fft_len & (f.fft_len - 1) or f.fft_len > 4096:
        raise KwsError(f"features.fft_len={f.fft_len} must be a power of two in [16, 4096]")
    if not 0 < window_len <= f.fft_len:
        raise KwsError(f"features.window_ms={f.window_ms} gives {window_len} samples; "
                       f"it must be in [1, features.fft_len={f.fft_len}]")
    if not 0 < stride:
        raise KwsError(f"features.stride_ms={f.stride_ms} must be > 0")
    if not 0 <= f.fmin < f.fmax <= sample_rate / 2:
        raise KwsError(f"features.fmin={f.fmin}, features.fmax={f.fmax}: need "
                       f"0 <= fmin < fmax <= {sample_rate / 2}")
    if f.n_mels < 1 or (f.kind == "mfcc" and not 1 <= f.n_coeffs <= f.n_mels):
        raise KwsError(f"features.n_mels={f.n_mels}, features.n_coeffs={f.n_coeffs}: need "
                       "n_mels >= 1 and 1 <= n_coeffs <= n_mels")
    if not f.log_floor > 0:
        raise KwsError(f"features.log_floor={f.log_floor} must be > 0")
    if not 2.0**-14 < f.out_scale < 2.0**8 or not -128 <= f.out_zero_point <= 127:
        raise KwsError(f"features.out_scale={f.out_scale} / out_zero_point={f.out_zero_point}: "
                       "need a scale in (2**-14, 256) and a zero point in [-128, 127]")
    return window_len, stride


def feature_settings(settings) -> SimpleNamespace:
    """The features settings as attributes, from the `features` config, a FeaturesConfig or
    the plain dict the features stage records in quant.json."""
    if dataclasses.is_dataclass(settings):
        settings = dataclasses.asdict(settings)
    return SimpleNamespace(**dict(settings))


def make_tables(settings, sample_rate: int, clip_samples: int | None = None) -> MfccTables:
    """All constants for the features settings (feature_settings) at `sample_rate`, for network
    windows of `clip_samples` samples (None: one second)."""
    f = feature_settings(settings)
    window_len, stride = check_settings(f, sample_rate)
    n, m = f.fft_len, f.fft_len // 2
    log2_m = m.bit_length() - 1
    norm_bits = 29 - log2_m                 # 2**norm_bits * sqrt(2) * M < 2**31 through the FFT

    window = _q(hann_periodic(window_len), 15, np.int16)
    t = np.arange(m // 2)
    fft_twiddle = _q(np.stack([np.cos(2 * np.pi * t / m), -np.sin(2 * np.pi * t / m)], 1),
                     15, np.int32)
    k = np.arange(m + 1)
    split_twiddle = _q(np.stack([np.cos(2 * np.pi * k / n), -np.sin(2 * np.pi * k / n)], 1),
                       15, np.int32)
    bitrev = np.array([int(f"{i:0{log2_m}b}"[::-1], 2) for i in range(m)], dtype=np.uint16)

    mel = _q(mel_filters(sample_rate, n, f.n_mels, f.fmin, f.fmax), 15, np.int16)
    first, count, packed = [], [], []
    for band in mel:
        nz = np.flatnonzero(band)
        lo, hi = (nz[0], nz[-1] + 1) if len(nz) else (0, 0)
        first.append(lo)
        count.append(hi - lo)
        packed.append(band[lo:hi])
    # |X| < 2**30, so |X|^2 < 2**61; shift it so that (sum of a band's weights) * P < 2**62.
    max_weight_sum = max(int(np.sum(b, dtype=np.int64)) for b in packed) or 1
    power_shift = max(0, math.ceil(math.log2(max_weight_sum)) - 1)

    lut = np.round(np.log2(1 + np.arange(2**LOG2_LUT_BITS + 1) / 2**LOG2_LUT_BITS)
                   * 2**16).astype(np.int32)
    dct = None
    n_out = f.n_mels
    if f.kind == "mfcc":
        dct = _q(dct_ortho(f.n_mels)[:f.n_coeffs], 15, np.int16)
        n_out = f.n_coeffs
    multiplier, shift = quantize_multiplier(2.0**-ACC_Q / f.out_scale)
    return MfccTables(
        kind=f.kind, sample_rate=sample_rate, window_len=window_len, stride=stride, fft_len=n,
        n_mels=f.n_mels, n_out=n_out, fmin=float(f.fmin), fmax=float(f.fmax),
        log_floor=float(f.log_floor), norm_bits=norm_bits, power_shift=power_shift,
        # E = 2**(15 + 30 + 2*sh - power_shift) * mel_int16 and mel_float = mel_int16 / 2**30
        log_offset=75 - power_shift,
        log_floor_q11=round(math.log(f.log_floor) * 2**LOG_Q),
        out_multiplier=multiplier, out_shift=shift, out_zero_point=int(f.out_zero_point),
        out_scale=float(f.out_scale), window=window, fft_twiddle=fft_twiddle,
        split_twiddle=split_twiddle, bitrev=bitrev,
        mel_first_bin=np.array(first, dtype=np.int16), mel_n_bins=np.array(count, dtype=np.int16),
        mel_weights=np.concatenate(packed).astype(np.int16), log2_lut=lut, dct=dct,
        clip_samples=int(clip_samples or sample_rate))
