"""Golden fixed-point MFCC: the integer front end the microcontroller runs, in numpy.

This module *defines* the features: firmware/src/kws_mfcc.c reproduces it bit for bit, and the
network is trained on its int8 output. Vectorised over frames; numpy only.

Per frame (window_len int16 samples x[n]), with the tables of kws.mfcc_tables:

1. Window.        p[n] = x[n] * w[n]                    int32, w Q15  → |p| < 2**30, exact.
2. Normalise.     sh = (norm_bits - 1) - floor(log2(max|p|)); v = p << sh, or for sh < 0
                  v = (p + 2**(-sh-1)) >> -sh (round half up). Block floating point: |v| <= 2**B,
                  B = norm_bits = 29 - log2(M), so quiet frames keep full precision. An all-zero
                  frame skips to the floor in step 6.
3. Real FFT.      z[n] = v[2n] + j v[2n+1], M = N/2-point complex radix-2 DIT FFT on int32,
                  bit-reversed input, no scaling (growth <= sqrt(2) * M keeps |z| < 2**31).
                  Butterfly: t = b * W (int64 products, Q15 twiddle, each component floored:
                  sum >> 15; the -1/2 LSB bias per stage is -120 dB at the normalised level);
                  a' = a + t, b' = a - t.
                  Split (k = 0..M, Z[M] = Z[0]): A = Z[k], B = conj(Z[M-k]); E2 = A + B,
                  D = A - B, T = (W_N^k * D) >> 15 (Q15, floored as above);
                  X_re = (E2_re + T_im + 1) >> 1, X_im = (E2_im - T_re + 1) >> 1.   |X| < 2**30.
4. Power.         P[k] = X_re^2 + X_im^2 (int64, < 2**61); P' = (P + 2**(ps-1)) >> ps.
5. Mel.           E[m] = sum_k W_m[k] * P'[k], W Q15 (int64, < 2**62 by choice of ps).
6. Log.           b = floor(log2 E); y = E << (62 - b); i = y bits 61..55 (7), r = bits 54..39 (16)
                  log2 E in Q16 = (b << 16) + lut[i] + ((lut[i+1] - lut[i]) * r + 2**15 >> 16).
                  l2 = that - ((log_offset + 2*sh) << 16)      (log2 of the float mel power)
                  L = (l2 * round(ln2 * 2**15) + 2**19) >> 20   (Q11 natural log)
                  L = max(L, log_floor_q11); E == 0 gives log_floor_q11.
7. DCT.           acc = sum_m D[c][m] * L[m] (int64, D Q15 → Q26); acc15 = (acc + 2**10) >> 11.
                  Log-mel instead: acc15 = L << 4.  Both Q15.
8. int8.          q = clamp(requantize(acc15, out_multiplier, out_shift) + zero_point, -128, 127)
                  with CMSIS-NN's arm_nn_requantize; q means (q - zero_point) * out_scale.

"Float" here means the signal as int16 / 32768: L approximates ln(max(mel power, log_floor)) of
kws.features.float_mfcc.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .intmath import floor_log2, requantize, round_shift
from .mfcc_tables import LN2_Q15, LOG2_INTERP_BITS, LOG2_LUT_BITS, MfccTables

_CHUNK_FRAMES = 1024              # frames per numpy pass: keeps the work in cache


def frame_clips(clips: np.ndarray, t: MfccTables) -> np.ndarray:
    """int16 [..., S] → [..., n_frames, window_len] views: frame i starts at i * stride."""
    return sliding_window_view(clips, t.window_len, axis=-1)[..., ::t.stride, :]


def mfcc_clips(clips: np.ndarray, t: MfccTables) -> np.ndarray:
    """int16 clips [N, S] → int8 features [N, n_frames, n_out]."""
    frames = frame_clips(np.asarray(clips, dtype=np.int16), t)
    return mfcc_frames(frames, t)


def mfcc_frames(frames: np.ndarray, t: MfccTables, threads: int | None = None) -> np.ndarray:
    """int16 frames [..., window_len] → int8 [..., n_out].

    Chunks of frames run on `threads` threads (default: one per CPU); numpy releases the GIL
    inside its loops, and each chunk is independent, so the result does not depend on it.
    """
    lead = frames.shape[:-1]
    flat = frames.reshape(-1, t.window_len)
    out = np.empty((flat.shape[0], t.n_out), dtype=np.int8)

    def work(start: int) -> None:
        chunk = flat[start:start + _CHUNK_FRAMES]
        out[start:start + len(chunk)] = _int8_out(log_mel(chunk, t), t)

    starts = range(0, flat.shape[0], _CHUNK_FRAMES)
    threads = threads or os.cpu_count() or 1
    if threads == 1 or len(starts) == 1:
        for start in starts:
            work(start)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, starts))
    return out.reshape(*lead, t.n_out)


def log_mel(frames: np.ndarray, t: MfccTables) -> np.ndarray:
    """Steps 1-6: int16 frames [F, window_len] → log-mel int32 [F, n_mels], Q11 nats."""
    p = frames.astype(np.float64) * t.window.astype(np.float64)     # exact: |p| < 2**30
    peak = np.abs(p).max(axis=1).astype(np.int64)
    silent = peak == 0
    sh = (t.norm_bits - 1) - floor_log2(np.maximum(peak, 1))
    v = _shift_rows(p, sh)
    re, im = _fft_real(v, t)                      # [bins, frames]: frames stay the inner axis
    power = round_shift(re * re + im * im, t.power_shift)
    energy = _mel(power, t)
    return _log(energy, sh, silent, t).T


def _shift_rows(p: np.ndarray, sh: np.ndarray) -> np.ndarray:
    """Step 2 as float64 (exact: |p| < 2**30): floor(p * 2**sh + 1/2) is p << sh for sh >= 0
    and (p + 2**(-sh-1)) >> -sh for sh < 0."""
    return np.floor(p * np.exp2(sh.astype(np.float64))[:, None] + 0.5)


def _floor_in_place(z: np.ndarray) -> np.ndarray:
    np.floor(z.view(np.float64), out=z.view(np.float64))
    return z


def _fft_real(v: np.ndarray, t: MfccTables) -> tuple[np.ndarray, np.ndarray]:
    """Step 3: bins 0..N/2 of the real FFT of v [frames, window_len] (zero-padded to N), as
    int64 (re, im), each [N/2 + 1, frames].

    The integers are computed in complex128, which is exact here: every product and sum is an
    integer below 2**53 (data < 2**31 times Q15 twiddles <= 2**15, summed in pairs), and the
    twiddles are pre-divided by 2**15 (exact: a power of two), so multiply-then-floor gives
    (b * W) >> 15 exactly as the int64 C code does, only with SIMD floats.
    """
    f = v.shape[0]
    m = t.fft_len // 2
    # Frames on the last axis: every numpy loop then runs over many frames at once.
    padded = np.zeros((t.fft_len, f), dtype=np.float64)
    padded[:v.shape[1]] = v.T
    z = padded[0::2] + 1j * padded[1::2]
    z = z[t.bitrev]
    twiddle = ((t.fft_twiddle[:, 0] + 1j * t.fft_twiddle[:, 1]) / 32768.0)[:, None]
    half = 1
    while half < m:
        groups = m // (2 * half)
        z4 = z.reshape(groups, 2, half, f)
        a, b = z4[:, 0], z4[:, 1]
        if half == 1:                      # W = 1 exactly: b * W >> 15 is b
            tb = b.copy()
        elif half == 2:                    # W = 1, -j exactly: b, then (im, -re)
            tb = np.empty_like(b)
            tb[:, 0] = b[:, 0]
            tb[:, 1] = b[:, 1].imag - 1j * b[:, 1].real
        else:
            tb = _floor_in_place(np.multiply(b, twiddle[::groups][:half], order="C"))
        np.subtract(a, tb, out=b)
        a += tb
        half *= 2
    za = np.concatenate([z, z[:1]])                       # Z[k % M] for k = 0..M
    zb = np.conj(np.concatenate([z[:1], z[:0:-1], z[:1]]))  # conj(Z[(M - k) % M])
    split = ((t.split_twiddle[:, 0] + 1j * t.split_twiddle[:, 1]) / 32768.0)[:, None]
    tw = _floor_in_place(np.multiply(za - zb, split, order="C"))
    e = za + zb
    # (x + 1) >> 1 as floor((x + 1) / 2): exact in float64 for these magnitudes (< 2**33).
    x_re = np.floor((e.real + tw.imag + 1.0) * 0.5).astype(np.int64)
    x_im = np.floor((e.imag - tw.real + 1.0) * 0.5).astype(np.int64)
    return x_re, x_im


def _mel(power: np.ndarray, t: MfccTables) -> np.ndarray:
    """Step 5: power [bins, frames] → energy [n_mels, frames], int64."""
    energy = np.empty((t.n_mels, power.shape[1]), dtype=np.int64)
    offset = 0
    for band in range(t.n_mels):
        lo, count = int(t.mel_first_bin[band]), int(t.mel_n_bins[band])
        weights = t.mel_weights[offset:offset + count].astype(np.int64)
        energy[band] = weights @ power[lo:lo + count]
        offset += count
    return energy


def _log(energy: np.ndarray, sh: np.ndarray, silent: np.ndarray, t: MfccTables) -> np.ndarray:
    """Step 6: energy [n_mels, frames] → Q11 natural log [n_mels, frames], int32."""
    positive = energy > 0
    e = np.where(positive, energy, 1)
    b = floor_log2(e)
    y = e << (62 - b)
    idx = (y >> (62 - LOG2_LUT_BITS)) & ((1 << LOG2_LUT_BITS) - 1)
    frac = (y >> (62 - LOG2_LUT_BITS - LOG2_INTERP_BITS)) & ((1 << LOG2_INTERP_BITS) - 1)
    lut = t.log2_lut.astype(np.int64)
    mantissa = lut[idx] + (((lut[idx + 1] - lut[idx]) * frac + (1 << 15)) >> 16)
    l2 = (b << 16) + mantissa - ((t.log_offset + 2 * sh[None, :]) << 16)
    ln_q11 = (l2 * LN2_Q15 + (1 << 19)) >> 20
    floored = np.maximum(ln_q11, t.log_floor_q11)
    floored = np.where(positive & ~silent[None, :], floored, t.log_floor_q11)
    return floored.astype(np.int32)


def _int8_out(log_mel_q11: np.ndarray, t: MfccTables) -> np.ndarray:
    """Steps 7-8: Q11 log-mel [F, n_mels] → int8 [F, n_out]."""
    lm = log_mel_q11.astype(np.int64)
    if t.dct is None:
        acc15 = lm << 4
    else:
        acc15 = round_shift(lm @ t.dct.astype(np.int64).T, 11)
    q = requantize(acc15, t.out_multiplier, t.out_shift) + t.out_zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, t: MfccTables) -> np.ndarray:
    """int8 features → float32 values (what the float network sees)."""
    return (q.astype(np.float32) - t.out_zero_point) * np.float32(t.out_scale)
