"""Golden fixed-point MFCC: the integer front end the microcontroller runs, in numpy.

This module *defines* the features: firmware/src/kws_mfcc.c reproduces it bit for bit, and the
network is trained on its int8 output. Vectorised over frames; numpy only.

Per frame (window_len int16 samples x[n]), with the tables of kws.golden.mfcc_tables:

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
kws.stages.features.float_mfcc.
"""
from __future__ import annotations

import os
import queue
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from kws.golden.intmath import requantize
from kws.golden.mfcc_tables import LN2_Q15, LOG2_INTERP_BITS, LOG2_LUT_BITS, MfccTables

_CHUNK_FRAMES = 512               # frames per numpy pass (whole clips of them when framed)


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
    Frames [clips, n_frames, window_len] (e.g. frame_clips' views) are chunked by whole clips,
    so the overlapping frames are never copied out all at once.
    """
    frames = np.asarray(frames)
    lead = frames.shape[:-1]
    inner = frames.shape[-2] if frames.ndim >= 3 else 1
    if inner > _CHUNK_FRAMES:
        inner = 1
    blocks = frames.reshape(-1, inner, t.window_len)       # a view for [..., F, window_len]
    out = np.empty((blocks.shape[0] * inner, t.n_out), dtype=np.int8)
    step = max(1, _CHUNK_FRAMES // inner)                  # blocks per chunk
    starts = range(0, blocks.shape[0], step)
    threads = max(1, min(threads or os.cpu_count() or 1, len(starts)))
    # One workspace per worker, reused chunk after chunk: fresh multi-MB temporaries for every
    # chunk would make malloc map and fault in new pages each time (2x slower).
    spare = queue.SimpleQueue()
    for _ in range(threads):
        spare.put(_Workspace())

    def work(start: int) -> None:
        chunk = blocks[start:start + step]
        ws = spare.get()
        out[start * inner:(start + len(chunk)) * inner] = _int8_out(
            _log_mel_t(chunk, t, ws).T, t)
        spare.put(ws)

    if threads == 1:
        for start in starts:
            work(start)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, starts))
    return out.reshape(*lead, t.n_out)


def log_mel(frames: np.ndarray, t: MfccTables) -> np.ndarray:
    """Steps 1-6: int16 frames [F, window_len] → log-mel int32 [F, n_mels], Q11 nats."""
    frames = np.asarray(frames).reshape(-1, 1, t.window_len)
    out = np.empty((len(frames), t.n_mels), dtype=np.int32)
    ws = _Workspace()
    for start in range(0, len(frames), _CHUNK_FRAMES):
        chunk = frames[start:start + _CHUNK_FRAMES]
        out[start:start + len(chunk)] = _log_mel_t(chunk, t, ws).T
    return out


class _Workspace:
    """Scratch arrays by name, kept while their shape and dtype stay the same."""

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple, dtype) -> np.ndarray:
        """Zeros when first made (a caller may rely on parts it never writes), then as left."""
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._arrays[name] = np.zeros(shape, dtype=dtype)
        return a


class _Plan:
    """Per-table constants of the vectorised implementation (derived once per MfccTables)."""

    def __init__(self, t: MfccTables):
        m = t.fft_len // 2
        pairs = (t.window_len + 1) // 2 + 1         # sample pairs of a frame, then a zero pair
        # Bit reversal, packing z[n] = v[2n] + j v[2n+1] and zero padding as one gather of
        # sample pairs: z[n] (bit-reversed order) is pair bitrev[n] of the frame, and pairs past
        # the window read the zero pair.
        src = t.bitrev.astype(np.int64)
        self.gather = np.where(src < pairs - 1, src, pairs - 1)
        self.pairs = pairs
        self.window = t.window.astype(np.float64)
        self.twiddle = (t.fft_twiddle[:, 0] + 1j * t.fft_twiddle[:, 1]) / 32768.0
        # Only bins up to the last mel filter's are ever used: the split computes those only.
        self.n_bins = int(np.max(t.mel_first_bin.astype(np.int64) + t.mel_n_bins))
        split = (t.split_twiddle[:, 0] + 1j * t.split_twiddle[:, 1]) / 32768.0
        self.split = split[:self.n_bins, None]
        # Mel filters as one gather, product and segmented sum over the packed weights.
        counts = t.mel_n_bins.astype(np.int64)
        self.mel_bins = np.concatenate([np.arange(lo, lo + n) for lo, n in
                                        zip(t.mel_first_bin.astype(np.int64), counts)])
        self.mel_weights = t.mel_weights.astype(np.int64)[:, None]
        self.mel_bands = np.flatnonzero(counts > 0)
        self.mel_starts = (np.cumsum(counts) - counts)[self.mel_bands]
        self.lut = t.log2_lut.astype(np.int64)
        self.lut_step = np.diff(self.lut)
        # The DCT in float64 is exact while n_mels * 2**31 * 2**15 < 2**53 (see _int8_out).
        self.dct = (t.dct.astype(np.float64).T if t.dct is not None and t.n_mels <= 128
                    else None)                                          # [n_mels, n_out]


_PLANS: dict[int, tuple[MfccTables, _Plan]] = {}


def _plan(t: MfccTables) -> _Plan:
    hit = _PLANS.get(id(t))
    if hit is None or hit[0] is not t:
        if len(_PLANS) >= 16:
            _PLANS.clear()
        hit = _PLANS[id(t)] = (t, _Plan(t))
    return hit[1]


def _log_mel_t(blocks: np.ndarray, t: MfccTables, ws: _Workspace) -> np.ndarray:
    """Steps 1-6 on int16 frames [B, F, window_len] → log-mel int32 [n_mels, B * F], Q11.

    Frames are on the last axis from step 3 on, so every numpy loop runs over many frames."""
    plan = _plan(t)
    m = t.fft_len // 2
    n_blocks, n_frames, width = blocks.shape
    # Steps 1-2 on the frames as they are (rows of samples, then a zero pair), float64.
    packed = ws.get("packed", (n_blocks, n_frames, plan.pairs), np.complex128)
    p = packed.view(np.float64)                             # [B, F, 2 * pairs]
    np.multiply(blocks, plan.window, out=p[:, :, :width])   # step 1, exact: |p| < 2**30
    # p[:, :, width:] (the zero pair) stays 0 from the workspace: step 2 maps 0 to 0.
    peak = np.maximum(p.max(axis=2), -p.min(axis=2)).astype(np.int64).reshape(-1)
    sh = (t.norm_bits - 1) - _floor_log2(np.maximum(peak, 1))
    _shift_rows(p, sh.reshape(n_blocks, n_frames, 1))       # step 2, in place
    # [M, frames] complex128: packed, zero-padded, bit-reversed; frames on the last axis.
    z = packed.transpose(2, 0, 1)[plan.gather].reshape(m, -1)
    power = _power(_fft_real(z, t, plan, ws), t, ws)        # steps 3-4, [bins, frames]
    energy = _mel(power, plan, t, ws)
    return _log(energy, sh, plan, t)


def _power(x: np.ndarray, t: MfccTables, ws: _Workspace) -> np.ndarray:
    """Step 4: X as float64 (re, im) pairs [bins, frames, 2] → P' [bins, frames], int64."""
    xi = ws.get("x_int", x.shape, np.int64)
    np.copyto(xi, x, casting="unsafe")          # exact: integers below 2**31
    np.multiply(xi, xi, out=xi)                 # < 2**60 each
    power = np.add(xi[..., 0], xi[..., 1], out=ws.get("power", x.shape[:2], np.int64))
    return _round_shift_in_place(power, t.power_shift)


def _floor_log2(x: np.ndarray) -> np.ndarray:
    """intmath.floor_log2 for int64 x in [1, 2**63), with one correction: float64(x) rounds to
    nearest, and powers of two are exact, so its exponent is floor(log2 x) or one more (when x
    rounds up to the next power of two)."""
    _, exp = np.frexp(x.astype(np.float64))
    b = exp.astype(np.int64)
    b -= 1
    b -= (x >> b) == 0
    return b


def _round_shift_in_place(x: np.ndarray, shift: int) -> np.ndarray:
    """intmath.round_shift on an int64 array, in place."""
    if shift > 0:
        x += np.int64(1) << (shift - 1)
        x >>= shift
    elif shift < 0:
        x <<= -shift
    return x


def _shift_rows(p: np.ndarray, sh: np.ndarray) -> np.ndarray:
    """Step 2 in place on p [..., samples] float64 with sh [..., 1] (exact: |p| < 2**30):
    floor(p * 2**sh + 1/2) is p << sh for sh >= 0 and (p + 2**(-sh-1)) >> -sh for sh < 0."""
    p *= np.exp2(sh.astype(np.float64))
    p += 0.5
    return np.floor(p, out=p)


def _floor_in_place(z: np.ndarray) -> np.ndarray:
    np.floor(z.view(np.float64), out=z.view(np.float64))
    return z


def _fft_real(z: np.ndarray, t: MfccTables, plan: _Plan, ws: _Workspace) -> np.ndarray:
    """Step 3: bins 0..plan.n_bins-1 of the real FFT of the normalised frames, as float64
    (X_re, X_im) pairs [n_bins, frames, 2] holding integers. z [M, frames] complex128 is the
    packed input in bit-reversed order; it is overwritten.

    The integers are computed in complex128, which is exact here: every product and sum is an
    integer below 2**53 (data < 2**31 times Q15 twiddles <= 2**15, summed in pairs), and the
    twiddles are pre-divided by 2**15 (exact: a power of two), so multiply-then-floor gives
    (b * W) >> 15 exactly as the int64 C code does, only with SIMD floats. The first two
    radix-2 stages (twiddles 1 and -j, exact: additions only) run as one radix-4 pass; the split
    only computes the bins the mel filters use.
    """
    f = z.shape[1]
    m = t.fft_len // 2
    n_bins = plan.n_bins
    z4 = z.reshape(m // 4, 4, f)
    x0, x1, x2, x3 = z4[:, 0], z4[:, 1], z4[:, 2], z4[:, 3]
    s0, d0, s1, d1 = ws.get("radix4", (4, m // 4, f), np.complex128)
    np.add(x0, x1, out=s0)                          # stage 1 (W = 1)
    np.subtract(x0, x1, out=d0)
    np.add(x2, x3, out=s1)
    np.subtract(x2, x3, out=d1)
    d1 *= -1j                                       # stage 2: W = 1, -j (exact)
    np.add(s0, s1, out=x0)
    np.subtract(s0, s1, out=x2)
    np.add(d0, d1, out=x1)
    np.subtract(d0, d1, out=x3)
    scratch = ws.get("butterfly", (m // 2, f), np.complex128)
    half = 4
    while half < m:
        groups = m // (2 * half)
        z4 = z.reshape(groups, 2, half, f)
        a, b = z4[:, 0], z4[:, 1]
        tb = scratch.reshape(groups, half, f)
        np.multiply(b, plan.twiddle[::groups][:half, None], out=tb)
        _floor_in_place(tb)
        np.subtract(a, tb, out=b)
        a += tb
        half *= 2
    # Split, k < n_bins: A = Z[k % M], B = conj(Z[(M - k) % M]).
    if n_bins <= m:
        za = z[:n_bins]
    else:
        za = ws.get("split_a", (n_bins, f), np.complex128)
        za[:m] = z
        za[m:] = z[:n_bins - m]
    zb = ws.get("split_b", (n_bins, f), np.complex128)
    np.conjugate(z[0], out=zb[0])
    top = min(n_bins - 1, m - 1)
    np.conjugate(z[m - top:m][::-1], out=zb[1:top + 1])     # Z[M - k], k = 1..top
    np.conjugate(z[:n_bins - 1 - top], out=zb[top + 1:])      # k = M: Z[0]
    tw = np.subtract(za, zb, out=ws.get("split_t", (n_bins, f), np.complex128))
    np.multiply(tw, plan.split, out=tw)
    _floor_in_place(tw)                                     # T
    e = np.add(za, zb, out=zb)                              # E2
    # X_re = (E2_re + T_im + 1) >> 1, X_im = (E2_im - T_re + 1) >> 1: the sums (< 2**33)
    # here, exact in float64; then floor((x + 1) / 2), exact too.
    np.add(e.real, tw.imag, out=e.real)
    np.subtract(e.imag, tw.real, out=e.imag)
    x = e.view(np.float64)
    x += 1.0
    x *= 0.5
    np.floor(x, out=x)
    return x.reshape(n_bins, f, 2)


def _mel(power: np.ndarray, plan: _Plan, t: MfccTables, ws: _Workspace) -> np.ndarray:
    """Step 5: power [bins, frames] → energy [n_mels, frames], int64. (Each product and sum
    < 2**62 by the choice of power_shift; int64 sums are exact in any order.)"""
    weighted = np.take(power, plan.mel_bins, axis=0,
                       out=ws.get("mel", (len(plan.mel_bins), power.shape[1]), np.int64))
    weighted *= plan.mel_weights
    sums = np.add.reduceat(weighted, plan.mel_starts, axis=0)
    if len(plan.mel_bands) == t.n_mels:
        return sums
    energy = np.zeros((t.n_mels, power.shape[1]), dtype=np.int64)
    energy[plan.mel_bands] = sums
    return energy


def _log(energy: np.ndarray, sh: np.ndarray, plan: _Plan, t: MfccTables) -> np.ndarray:
    """Step 6: energy [n_mels, frames] → Q11 natural log [n_mels, frames], int32.

    A silent frame (max|p| == 0) has v == 0, hence E == 0 in every band: E == 0 covers it."""
    positive = energy > 0
    e = np.maximum(energy, 1)
    b = _floor_log2(e)
    y = e << (62 - b)
    y >>= 62 - LOG2_LUT_BITS - LOG2_INTERP_BITS             # the 1, then idx, then frac bits
    idx = y >> LOG2_INTERP_BITS
    idx &= (1 << LOG2_LUT_BITS) - 1
    y &= (1 << LOG2_INTERP_BITS) - 1                        # frac
    y *= plan.lut_step[idx]
    y += 1 << 15
    y >>= 16
    y += plan.lut[idx]                                      # mantissa, log2 Q16
    b <<= 16
    b += y
    b -= (t.log_offset + 2 * sh[None, :]) << 16             # l2
    b *= LN2_Q15
    b += 1 << 19
    b >>= 20                                                # Q11 nats
    np.maximum(b, t.log_floor_q11, out=b)
    np.copyto(b, t.log_floor_q11, where=~positive)
    return b.astype(np.int32)


def _int8_out(log_mel_q11: np.ndarray, t: MfccTables) -> np.ndarray:
    """Steps 7-8: Q11 log-mel [F, n_mels] → int8 [F, n_out].

    The DCT runs in float64 (BLAS), exact: |L| < 2**31 (int32), |D| <= 2**15, so with up to
    128 mel bands every partial sum, in any order, is an integer below 2**53."""
    dct = _plan(t).dct
    if t.dct is None:
        acc15 = log_mel_q11.astype(np.int64) << 4
    elif dct is not None:
        acc = (log_mel_q11.astype(np.float64) @ dct).astype(np.int64)
        acc15 = _round_shift_in_place(acc, 11)
    else:
        acc15 = _round_shift_in_place(log_mel_q11.astype(np.int64) @ t.dct.astype(np.int64).T,
                                      11)
    q = requantize(acc15, t.out_multiplier, t.out_shift) + t.out_zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, t: MfccTables) -> np.ndarray:
    """int8 features → float32 values (what the float network sees)."""
    return (q.astype(np.float32) - t.out_zero_point) * np.float32(t.out_scale)
