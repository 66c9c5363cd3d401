"""The integer inner loops of the front end and the int8 network (MicroPython, also CPython).

This file is the *fast* variant as written: the network's multiply-accumulate loops are
`@micropython.viper` (machine-word integers, byte pointers), the front end's loops
`@micropython.native` (machine code, but Python integers: its products need 64 bits, which a
32-bit core's viper words do not have). kws.emit.micropython writes it into the package twice:
`kernels_viper.py` as it is and `kernels.py` with the decorators removed (the pure variant, which
also runs under CPython). Both compute the same integers: see kws/golden/mfcc.py and
kws/golden/network.py for every step's definition; each function names the one it mirrors.

Viper's integers are machine words and ptr32 stores keep the low 32 bits, so the accumulators
are computed modulo 2**32 there; the true sums fit in int32 (|x - zp| <= 255, |w| <= 127,
at most 2**16 terms), so array('i') reads them back exactly. ptr8 reads bytes as 0..255:
int8 values are sign-extended by (b ^ 128) - 128. Four arguments at most per viper function.
"""
import micropython


# ---------------------------------------------------------------- the network (golden.network)

@micropython.viper
def conv_acc(x: ptr8, w: ptr8, acc: ptr32, p: ptr32):
    """conv_accumulators without the bias, groups = 1, for output rows oy0 .. oy0 + rows - 1:
    acc[((oy - oy0)*OW + ox)*Cout + co] = sum over the kernel window inside the input of
    (x - zp) * w. NHWC int8 x [H][W][Cin], weights int8 [Cout][kh][kw][Cin].
    p = H, W, Cin, Cout, kh, kw, sh, sw, top, left, rows, OW, zp, (4 for the C), oy0."""
    h = p[0]
    wd = p[1]
    cin = p[2]
    cout = p[3]
    kh = p[4]
    kw = p[5]
    sh = p[6]
    sw = p[7]
    top = p[8]
    left = p[9]
    oh = p[10]
    ow = p[11]
    zp = p[12]
    oy0 = p[17]
    o = 0
    for oy in range(oy0, oy0 + oh):
        for ox in range(ow):
            for co in range(cout):
                s = 0
                for ky in range(kh):
                    iy = oy * sh + ky - top
                    if iy >= 0 and iy < h:
                        for kx in range(kw):
                            ix = ox * sw + kx - left
                            if ix >= 0 and ix < wd:
                                xb = (iy * wd + ix) * cin
                                wb = ((co * kh + ky) * kw + kx) * cin
                                for ci in range(cin):
                                    s += (((x[xb + ci] ^ 128) - 128) - zp) * (
                                        (w[wb + ci] ^ 128) - 128)
                acc[o] = s
                o += 1


@micropython.viper
def dwconv_acc(x: ptr8, w: ptr8, acc: ptr32, p: ptr32):
    """conv_accumulators of a depthwise layer without the bias, rows as conv_acc's: weights
    int8 [C][kh][kw] (golden [C][kh][kw][1]); p as conv_acc's (Cin = Cout = C)."""
    h = p[0]
    wd = p[1]
    c = p[2]
    kh = p[4]
    kw = p[5]
    sh = p[6]
    sw = p[7]
    top = p[8]
    left = p[9]
    oh = p[10]
    ow = p[11]
    zp = p[12]
    oy0 = p[17]
    o = 0
    for oy in range(oy0, oy0 + oh):
        for ox in range(ow):
            for ch in range(c):
                s = 0
                for ky in range(kh):
                    iy = oy * sh + ky - top
                    if iy >= 0 and iy < h:
                        for kx in range(kw):
                            ix = ox * sw + kx - left
                            if ix >= 0 and ix < wd:
                                s += (((x[(iy * wd + ix) * c + ch] ^ 128) - 128) - zp) * (
                                    (w[(ch * kh + ky) * kw + kx] ^ 128) - 128)
                acc[o] = s
                o += 1


@micropython.native
def requantize(x, multiplier, shift):
    """intmath.requantize (CMSIS-NN arm_nn_requantize) of one integer: x << max(shift, 0),
    doubling high multiply by the Q31 multiplier ((x*m + 2**30) >> 31), then x / 2**max(-shift, 0)
    rounded half away from zero (divide_by_power_of_two)."""
    if shift > 0:
        x <<= shift
    x = (x * multiplier + (1 << 30)) >> 31
    if shift < 0:
        mask = (1 << -shift) - 1
        remainder = x & mask
        x >>= -shift
        threshold = (mask >> 1) + (1 if x < 0 else 0)
        if remainder > threshold:
            x += 1
    return x


@micropython.native
def requantize_out(acc, bias, mult, shift, out, q):
    """_requantize_channels: out[start + i] = clamp(requantize(acc[i] + bias[c], mult[c],
    shift[c]) + zp, act_min, act_max) as int8 bytes, i < n, c = i % Cout.
    q = (Cout, zp, act_min, act_max, start, n); start is a multiple of Cout."""
    cout = q[0]
    zp = q[1]
    lo = q[2]
    hi = q[3]
    start = q[4]
    c = 0
    for i in range(q[5]):
        v = requantize(acc[i] + bias[c], mult[c], shift[c]) + zp
        if v < lo:
            v = lo
        elif v > hi:
            v = hi
        out[start + i] = v & 0xFF
        c += 1
        if c == cout:
            c = 0


@micropython.native
def channel_sums(x, sums, c):
    """Per channel, the sum over the pixels of int8 x [pixels][C] into sums [C] (run_avgpool)."""
    for i in range(c):
        sums[i] = 0
    ch = 0
    for i in range(len(x)):
        v = x[i]
        sums[ch] += v - 256 if v > 127 else v
        ch += 1
        if ch == c:
            ch = 0


# ---------------------------------------------------------------- the front end (golden.mfcc)

@micropython.native
def window_normalise(pcm, start, window, v, norm_bits):
    """Steps 1-2: p[n] = pcm[start + n] * w[n] (Q15 window), then block normalisation:
    sh = (norm_bits - 1) - floor(log2(max|p|)); v = p << sh, or (p + 2**(-sh-1)) >> -sh.
    Writes v (len(window) values) and returns sh."""
    n = len(window)
    peak = 0
    for i in range(n):
        p = pcm[start + i] * window[i]
        v[i] = p
        if p < 0:
            p = -p
        if p > peak:
            peak = p
    b = 0
    if peak < 1:
        peak = 1
    while peak > 1:
        peak >>= 1
        b += 1
    sh = (norm_bits - 1) - b
    if sh >= 0:
        for i in range(n):
            v[i] = v[i] << sh
    else:
        r = -sh
        half = 1 << (r - 1)
        for i in range(n):
            v[i] = (v[i] + half) >> r
    return sh


@micropython.native
def fft(v, n_v, bitrev, twiddle, re, im):
    """Step 3 (complex part): z[k] = v[2k] + j v[2k+1] (zero past the window) into re/im in
    bit-reversed order, then the M-point radix-2 DIT FFT in place. Butterfly: t = b * W, each
    component (int64 products, Q15 twiddle) floored by >> 15; a' = a + t, b' = a - t.
    twiddle: (re, im) pairs flat, W_M^t for t < M/2."""
    m = len(re)
    for k in range(m):
        s = 2 * bitrev[k]
        re[k] = v[s] if s < n_v else 0
        im[k] = v[s + 1] if s + 1 < n_v else 0
    half = 1
    while half < m:
        step = m // (2 * half)
        for j in range(half):
            wr = twiddle[2 * j * step]
            wi = twiddle[2 * j * step + 1]
            a = j
            while a < m:
                b = a + half
                br = re[b]
                bi = im[b]
                tr = (br * wr - bi * wi) >> 15
                ti = (br * wi + bi * wr) >> 15
                ar = re[a]
                ai = im[a]
                re[a] = ar + tr
                im[a] = ai + ti
                re[b] = ar - tr
                im[b] = ai - ti
                a += 2 * half
        half *= 2


@micropython.native
def split_power(re, im, split, n_bins, power_shift, power):
    """Steps 3 (split) and 4, bins k < n_bins: A = Z[k mod M], B = conj(Z[(M-k) mod M]);
    E2 = A + B, D = A - B, T = (W_N^k * D) >> 15 per component (floored);
    X_re = (E2_re + T_im + 1) >> 1, X_im = (E2_im - T_re + 1) >> 1;
    power[k] = (X_re^2 + X_im^2 + 2**(ps-1)) >> ps (round_shift)."""
    m = len(re)
    rnd = (1 << (power_shift - 1)) if power_shift > 0 else 0
    for k in range(n_bins):
        ka = k % m
        kb = (m - k) % m
        ar = re[ka]
        ai = im[ka]
        br = re[kb]
        bi = -im[kb]
        dr = ar - br
        di = ai - bi
        wr = split[2 * k]
        wi = split[2 * k + 1]
        tr = (dr * wr - di * wi) >> 15
        ti = (dr * wi + di * wr) >> 15
        xr = (ar + br + ti + 1) >> 1
        xi = (ai + bi - tr + 1) >> 1
        pw = xr * xr + xi * xi
        if power_shift > 0:
            pw = (pw + rnd) >> power_shift
        else:
            pw <<= -power_shift
        power[k] = pw


@micropython.native
def mel_log(power, first, count, weights, lut, sh, q, out):
    """Steps 5-6: E[m] = sum W_m[k] P'[k] (packed Q15 weights); b = floor(log2 E),
    y = E << (62 - b), i = bits 61..55, r = bits 54..39 (7 LUT bits, 16 interpolation bits);
    log2 E (Q16) = (b << 16) + lut[i] + ((lut[i+1] - lut[i]) * r + 2**15 >> 16);
    l2 = that - ((log_offset + 2 sh) << 16); L = (l2 * LN2_Q15 + 2**19) >> 20 (Q11 nats), at
    least the floor; E == 0 gives the floor.
    q = (log_offset, log_floor_q11, LN2_Q15, LOG2_LUT_BITS, LOG2_INTERP_BITS)."""
    offset = (q[0] + 2 * sh) << 16
    floor = q[1]
    ln2 = q[2]
    lut_bits = q[3]
    interp = q[4]
    drop = 62 - lut_bits - interp
    idx_mask = (1 << lut_bits) - 1
    frac_mask = (1 << interp) - 1
    half = 1 << (interp - 1)
    w = 0
    for band in range(len(first)):
        e = 0
        k = first[band]
        for i in range(count[band]):
            e += weights[w] * power[k]
            w += 1
            k += 1
        if e <= 0:
            out[band] = floor
            continue
        b = 0
        t = e
        while t > 1:
            t >>= 1
            b += 1
        y = (e << (62 - b)) >> drop
        idx = (y >> interp) & idx_mask
        frac = y & frac_mask
        mant = lut[idx] + (((lut[idx + 1] - lut[idx]) * frac + half) >> interp)
        l2 = (b << 16) + mant - offset
        v = (l2 * ln2 + (1 << 19)) >> 20
        out[band] = v if v > floor else floor


@micropython.native
def dct_int8(logmel, dct, n_out, q, out):
    """Steps 7-8: acc = sum_m D[c][m] L[m] (Q15 x Q11), acc15 = (acc + 2**10) >> 11
    (log-mel when dct is None: acc15 = L << 4); int8 = clamp(requantize(acc15) + zp).
    q = (out_multiplier, out_shift, out_zero_point). out: bytearray of int8 bytes."""
    n_mels = len(logmel)
    mult = q[0]
    shift = q[1]
    zp = q[2]
    for c in range(n_out):
        if dct is None:
            acc15 = logmel[c] << 4
        else:
            acc = 0
            base = c * n_mels
            for m in range(n_mels):
                acc += dct[base + m] * logmel[m]
            acc15 = (acc + (1 << 10)) >> 11
        v = requantize(acc15, mult, shift) + zp
        if v < -128:
            v = -128
        elif v > 127:
            v = 127
        out[c] = v & 0xFF
