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
                  Butterfly: t = b * W (int64 products, Q30 twiddle, one rounding per component:
                  (sum + 2**29) >> 30); a' = a + t, b' = a - t.
                  Split (k = 0..M, Z[M] = Z[0]): A = Z[k], B = conj(Z[M-k]); E2 = A + B,
                  D = A - B, T = W_N^k * D (Q30, rounded as above);
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

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .intmath import floor_log2, requantize, round_shift
from .mfcc_tables import LN2_Q15, LOG2_INTERP_BITS, LOG2_LUT_BITS, MfccTables

_CHUNK_FRAMES = 4096


def frame_clips(clips: np.ndarray, t: MfccTables) -> np.ndarray:
    """int16 [..., S] → [..., n_frames, window_len] views: frame i starts at i * stride."""
    return sliding_window_view(clips, t.window_len, axis=-1)[..., ::t.stride, :]


def mfcc_clips(clips: np.ndarray, t: MfccTables) -> np.ndarray:
    """int16 clips [N, S] → int8 features [N, n_frames, n_out]."""
    frames = frame_clips(np.asarray(clips, dtype=np.int16), t)
    return mfcc_frames(frames, t)


def mfcc_frames(frames: np.ndarray, t: MfccTables) -> np.ndarray:
    """int16 frames [..., window_len] → int8 [..., n_out]."""
    lead = frames.shape[:-1]
    flat = frames.reshape(-1, t.window_len)
    out = np.empty((flat.shape[0], t.n_out), dtype=np.int8)
    for start in range(0, flat.shape[0], _CHUNK_FRAMES):
        out[start:start + _CHUNK_FRAMES] = _int8_out(log_mel(flat[start:start + _CHUNK_FRAMES],
                                                             t), t)
    return out.reshape(*lead, t.n_out)


def log_mel(frames: np.ndarray, t: MfccTables) -> np.ndarray:
    """Steps 1-6: int16 frames [F, window_len] → log-mel int32 [F, n_mels], Q11 nats."""
    p = frames.astype(np.int64) * t.window.astype(np.int64)
    peak = np.abs(p).max(axis=1)
    silent = peak == 0
    sh = (t.norm_bits - 1) - floor_log2(np.maximum(peak, 1))
    v = _shift_rows(p, sh)
    re, im = _fft_real(v, t)
    power = round_shift(re * re + im * im, t.power_shift)
    energy = _mel(power, t)
    return _log(energy, sh, silent, t)


def _shift_rows(p: np.ndarray, sh: np.ndarray) -> np.ndarray:
    left = np.maximum(sh, 0)[:, None]
    right = np.maximum(-sh, 0)[:, None]
    rounding = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    return np.where(right > 0, (p + rounding) >> right, p << left)


def _fft_real(v: np.ndarray, t: MfccTables) -> tuple[np.ndarray, np.ndarray]:
    """Step 3: bins 0..N/2 of the real FFT of v (zero-padded to N), as int64 (re, im)."""
    f = v.shape[0]
    m = t.fft_len // 2
    padded = np.zeros((f, t.fft_len), dtype=np.int64)
    padded[:, :v.shape[1]] = v
    re = padded[:, 0::2][:, t.bitrev]
    im = padded[:, 1::2][:, t.bitrev]
    wr_all, wi_all = t.fft_twiddle[:, 0].astype(np.int64), t.fft_twiddle[:, 1].astype(np.int64)
    half = 1
    while half < m:
        groups = m // (2 * half)
        wr = wr_all[::groups][:half]
        wi = wi_all[::groups][:half]
        re4 = re.reshape(f, groups, 2, half)
        im4 = im.reshape(f, groups, 2, half)
        ar, ai, br, bi = re4[:, :, 0], im4[:, :, 0], re4[:, :, 1], im4[:, :, 1]
        tr = round_shift(br * wr - bi * wi, 30)
        ti = round_shift(br * wi + bi * wr, 30)
        re = np.stack([ar + tr, ar - tr], axis=2).reshape(f, m)
        im = np.stack([ai + ti, ai - ti], axis=2).reshape(f, m)
        half *= 2
    k = np.arange(m + 1)
    a_re, a_im = re[:, k % m], im[:, k % m]
    b_re, b_im = re[:, (m - k) % m], -im[:, (m - k) % m]
    e_re, e_im = a_re + b_re, a_im + b_im
    d_re, d_im = a_re - b_re, a_im - b_im
    sr, si = t.split_twiddle[:, 0].astype(np.int64), t.split_twiddle[:, 1].astype(np.int64)
    t_re = round_shift(d_re * sr - d_im * si, 30)
    t_im = round_shift(d_re * si + d_im * sr, 30)
    return round_shift(e_re + t_im, 1), round_shift(e_im - t_re, 1)


def _mel(power: np.ndarray, t: MfccTables) -> np.ndarray:
    energy = np.zeros((power.shape[0], t.n_mels), dtype=np.int64)
    offset = 0
    for band in range(t.n_mels):
        lo, count = int(t.mel_first_bin[band]), int(t.mel_n_bins[band])
        weights = t.mel_weights[offset:offset + count].astype(np.int64)
        energy[:, band] = power[:, lo:lo + count] @ weights
        offset += count
    return energy


def _log(energy: np.ndarray, sh: np.ndarray, silent: np.ndarray, t: MfccTables) -> np.ndarray:
    positive = energy > 0
    e = np.where(positive, energy, 1)
    b = floor_log2(e)
    y = e << (62 - b)
    idx = (y >> (62 - LOG2_LUT_BITS)) & ((1 << LOG2_LUT_BITS) - 1)
    frac = (y >> (62 - LOG2_LUT_BITS - LOG2_INTERP_BITS)) & ((1 << LOG2_INTERP_BITS) - 1)
    lut = t.log2_lut.astype(np.int64)
    mantissa = lut[idx] + (((lut[idx + 1] - lut[idx]) * frac + (1 << 15)) >> 16)
    l2 = (b << 16) + mantissa - ((t.log_offset + 2 * sh[:, None]) << 16)
    ln_q11 = (l2 * LN2_Q15 + (1 << 19)) >> 20
    floored = np.maximum(ln_q11, t.log_floor_q11)
    floored = np.where(positive & ~silent[:, None], floored, t.log_floor_q11)
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
