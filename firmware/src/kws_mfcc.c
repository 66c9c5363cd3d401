/* Fixed-point MFCC front end. Each step mirrors kws/mfcc_fixed.py (the reference); the step
 * numbers below are the ones documented there. */
#include "kws_mfcc.h"

#include <string.h>

#include "kws_requantize.h"

#define LOG2_LUT_BITS 7
#define LOG2_INTERP_BITS 16
#define LN2_Q15 22713 /* round(ln 2 * 2^15) */

static int32_t floor_log2_u64(uint64_t x) /* x > 0 */
{
#if defined(__GNUC__)
    return 63 - __builtin_clzll(x);
#else
    int32_t b = 0;
    while (x >>= 1) {
        b++;
    }
    return b;
#endif
}

static int64_t round_shift64(int64_t x, int32_t shift) /* shift >= 1: (x + 2^(s-1)) >> s */
{
    return (x + ((int64_t)1 << (shift - 1))) >> shift;
}

/* Steps 1-2: window, block-normalise, and load z[n] = v[2n] + j v[2n+1] in bit-reversed order.
 * Returns the normalisation shift sh; *silent is set for an all-zero windowed frame. */
static int32_t load_frame(const kws_mfcc_tables_t *t, const int16_t *x, kws_mfcc_cell_t *work,
                          int32_t *silent)
{
    const int32_t m = t->fft_len / 2;
    int32_t peak = 0;
    int32_t n;
    for (n = 0; n < t->window_len; n++) {
        int32_t p = (int32_t)x[n] * t->window_q15[n];
        if (p < 0) {
            p = -p;
        }
        if (p > peak) {
            peak = p;
        }
    }
    *silent = (peak == 0);
    const int32_t sh = *silent ? 0 : (t->norm_bits - 1) - floor_log2_u64((uint64_t)peak);
    for (n = 0; n < m; n++) {
        int32_t v[2];
        int32_t h;
        for (h = 0; h < 2; h++) {
            const int32_t i = 2 * n + h;
            const int32_t p = i < t->window_len ? (int32_t)x[i] * t->window_q15[i] : 0;
            if (sh >= 0) {
                v[h] = p * ((int32_t)1 << sh);
            } else {
                v[h] = (p + ((int32_t)1 << (-sh - 1))) >> -sh;
            }
        }
        work[t->bitrev[n]].c.re = v[0];
        work[t->bitrev[n]].c.im = v[1];
    }
    return sh;
}

/* Step 3a: in-place radix-2 DIT complex FFT of M points, no scaling. */
static void complex_fft(const kws_mfcc_tables_t *t, kws_mfcc_cell_t *work)
{
    const int32_t m = t->fft_len / 2;
    int32_t half;
    for (half = 1; half < m; half *= 2) {
        const int32_t groups = m / (2 * half);
        int32_t g, j;
        for (g = 0; g < groups; g++) {
            kws_mfcc_cell_t *a = work + g * 2 * half;
            kws_mfcc_cell_t *b = a + half;
            for (j = 0; j < half; j++) {
                const int32_t wr = t->fft_twiddle_q15[2 * j * groups];
                const int32_t wi = t->fft_twiddle_q15[2 * j * groups + 1];
                const int64_t br = b[j].c.re, bi = b[j].c.im;
                const int32_t tr = (int32_t)((br * wr - bi * wi) >> 15);   /* floor */
                const int32_t ti = (int32_t)((br * wi + bi * wr) >> 15);
                const int32_t ar = a[j].c.re, ai = a[j].c.im;
                a[j].c.re = ar + tr;
                a[j].c.im = ai + ti;
                b[j].c.re = ar - tr;
                b[j].c.im = ai - ti;
            }
        }
    }
}

/* Steps 3b-4: bin k of the real FFT from A = Z[k], B = conj(Z[M-k]); returns the shifted power. */
static int64_t split_power(const kws_mfcc_tables_t *t, int32_t k, kws_mfcc_cell_t za,
                           kws_mfcc_cell_t zb)
{
    const int64_t a_re = za.c.re, a_im = za.c.im;
    const int64_t b_re = zb.c.re, b_im = -(int64_t)zb.c.im;
    const int64_t e_re = a_re + b_re, e_im = a_im + b_im;
    const int64_t d_re = a_re - b_re, d_im = a_im - b_im;
    const int64_t sr = t->split_twiddle_q15[2 * k], si = t->split_twiddle_q15[2 * k + 1];
    const int64_t t_re = (d_re * sr - d_im * si) >> 15;   /* floor */
    const int64_t t_im = (d_re * si + d_im * sr) >> 15;
    const int64_t x_re = round_shift64(e_re + t_im, 1);
    const int64_t x_im = round_shift64(e_im - t_re, 1);
    const int64_t power = x_re * x_re + x_im * x_im;
    return t->power_shift > 0 ? round_shift64(power, t->power_shift) : power;
}

/* Steps 3b-4 for all bins, in place: work[k].v = P'[k] for k = 0..M. */
static void power_spectrum(const kws_mfcc_tables_t *t, kws_mfcc_cell_t *work)
{
    const int32_t m = t->fft_len / 2;
    const kws_mfcc_cell_t z0 = work[0];
    int32_t k;
    for (k = 1; k < m / 2; k++) {
        const kws_mfcc_cell_t zk = work[k], zmk = work[m - k];
        work[k].v = split_power(t, k, zk, zmk);
        work[m - k].v = split_power(t, m - k, zmk, zk);
    }
    {
        const kws_mfcc_cell_t zh = work[m / 2];
        work[m / 2].v = split_power(t, m / 2, zh, zh);
    }
    work[0].v = split_power(t, 0, z0, z0);
    work[m].v = split_power(t, m, z0, z0);
}

/* Step 5: energy[b] = sum of Q15 weights * P'. */
static void mel_energies(const kws_mfcc_tables_t *t, const kws_mfcc_cell_t *power,
                         int64_t *energy)
{
    const int16_t *w = t->mel_weights_q15;
    int32_t band, i;
    for (band = 0; band < t->n_mels; band++) {
        const kws_mfcc_cell_t *p = power + t->mel_first_bin[band];
        int64_t acc = 0;
        for (i = 0; i < t->mel_n_bins[band]; i++) {
            acc += (int64_t)w[i] * p[i].v;
        }
        energy[band] = acc;
        w += t->mel_n_bins[band];
    }
}

/* Step 6: Q11 natural log of the float mel power, floored. */
static int32_t log_energy(const kws_mfcc_tables_t *t, int64_t energy, int32_t sh)
{
    if (energy <= 0) {
        return t->log_floor_q11;
    }
    const int32_t b = floor_log2_u64((uint64_t)energy);
    const uint64_t y = (uint64_t)energy << (62 - b);
    const int32_t idx = (int32_t)((y >> (62 - LOG2_LUT_BITS)) & ((1u << LOG2_LUT_BITS) - 1u));
    const int64_t frac =
        (int64_t)((y >> (62 - LOG2_LUT_BITS - LOG2_INTERP_BITS)) & ((1u << LOG2_INTERP_BITS) - 1u));
    const int64_t lo = t->log2_lut_q16[idx], hi = t->log2_lut_q16[idx + 1];
    const int64_t mantissa = lo + (((hi - lo) * frac + (1 << 15)) >> 16);
    const int64_t l2 = (int64_t)b * 65536 + mantissa - (int64_t)(t->log_offset + 2 * sh) * 65536;
    const int64_t ln_q11 = (l2 * LN2_Q15 + ((int64_t)1 << 19)) >> 20;
    return ln_q11 > t->log_floor_q11 ? (int32_t)ln_q11 : t->log_floor_q11;
}

/* Steps 7-8: DCT (or log-mel passthrough) to Q15, requantise to int8. */
static void outputs(const kws_mfcc_tables_t *t, const int64_t *log_q11, int8_t *out)
{
    int32_t c, band;
    for (c = 0; c < t->n_out; c++) {
        int32_t acc15;
        if (t->dct_q15 != NULL) {
            const int16_t *row = t->dct_q15 + c * t->n_mels;
            int64_t acc = 0;
            for (band = 0; band < t->n_mels; band++) {
                acc += (int64_t)row[band] * log_q11[band];
            }
            acc15 = (int32_t)round_shift64(acc, 11);
        } else {
            acc15 = (int32_t)(log_q11[c] * 16);
        }
        int32_t q = kws_requantize(acc15, t->out_multiplier, t->out_shift) + t->out_zero_point;
        q = q < -128 ? -128 : (q > 127 ? 127 : q);
        out[c] = (int8_t)q;
    }
}

kws_status_t kws_mfcc_frame(const kws_mfcc_tables_t *t, const int16_t *frame,
                            kws_mfcc_cell_t *scratch, int8_t *out)
{
    if (t == NULL || frame == NULL || scratch == NULL || out == NULL) {
        return KWS_ERR_ARG;
    }
    kws_mfcc_cell_t *work = scratch;                      /* fft_len/2 + 1 cells */
    int64_t *energy = &scratch[t->fft_len / 2 + 1].v;     /* n_mels cells */
    int32_t silent;
    int32_t band;
    const int32_t sh = load_frame(t, frame, work, &silent);
    if (silent) {
        for (band = 0; band < t->n_mels; band++) {
            energy[band] = t->log_floor_q11;
        }
    } else {
        complex_fft(t, work);
        power_spectrum(t, work);
        mel_energies(t, work, energy);
        for (band = 0; band < t->n_mels; band++) {
            energy[band] = log_energy(t, energy[band], sh);   /* in place: now Q11 logs */
        }
    }
    outputs(t, energy, out);
    return KWS_OK;
}

kws_status_t kws_mfcc_clip(const kws_mfcc_tables_t *t, const int16_t *pcm, int32_t n_samples,
                           kws_mfcc_cell_t *scratch, int8_t *out, int32_t max_frames,
                           int32_t *n_frames)
{
    if (t == NULL || pcm == NULL || scratch == NULL || out == NULL || n_frames == NULL ||
        n_samples < 0) {
        return KWS_ERR_ARG;
    }
    const int32_t count = n_samples < t->window_len ? 0
                                                    : 1 + (n_samples - t->window_len) / t->stride;
    *n_frames = 0;
    if (count > max_frames) {
        return KWS_ERR_SIZE;
    }
    int32_t i;
    for (i = 0; i < count; i++) {
        kws_mfcc_frame(t, pcm + i * t->stride, scratch, out + i * t->n_out);
    }
    *n_frames = count;
    return KWS_OK;
}

kws_status_t kws_mfcc_stream_init(kws_mfcc_stream_t *s, const kws_mfcc_tables_t *t,
                                  int16_t *history, kws_mfcc_cell_t *scratch)
{
    if (s == NULL || t == NULL || history == NULL || scratch == NULL || t->stride < 1 ||
        t->stride > t->window_len) {
        return KWS_ERR_ARG;
    }
    s->tables = t;
    s->history = history;
    s->scratch = scratch;
    s->filled = 0;
    return KWS_OK;
}

kws_status_t kws_mfcc_stream_push(kws_mfcc_stream_t *s, const int16_t *samples,
                                  int32_t n_samples, int8_t *out, int32_t max_frames,
                                  int32_t *n_frames)
{
    if (s == NULL || (samples == NULL && n_samples > 0) || n_samples < 0 || n_frames == NULL ||
        (out == NULL && max_frames > 0)) {
        return KWS_ERR_ARG;
    }
    const kws_mfcc_tables_t *t = s->tables;
    const int32_t total = s->filled + n_samples;
    const int32_t ready = total < t->window_len ? 0 : 1 + (total - t->window_len) / t->stride;
    *n_frames = 0;
    if (ready > max_frames) {
        return KWS_ERR_SIZE;
    }
    while (n_samples > 0) {
        int32_t take = t->window_len - s->filled;
        if (take > n_samples) {
            take = n_samples;
        }
        memcpy(s->history + s->filled, samples, (size_t)take * sizeof(int16_t));
        s->filled += take;
        samples += take;
        n_samples -= take;
        if (s->filled == t->window_len) {
            kws_mfcc_frame(t, s->history, s->scratch, out + *n_frames * t->n_out);
            (*n_frames)++;
            s->filled = t->window_len - t->stride;
            memmove(s->history, s->history + t->stride, (size_t)s->filled * sizeof(int16_t));
        }
    }
    return KWS_OK;
}
