/* kws_avgpool_s8 (and its streaming form), kws_mean_s8 and kws_maxpool_s8: int8 pools (kws_nn.h),
 * mirroring kws.golden.network's average pool (TFLite's rounding), TFLite Micro's MEAN and max
 * pool bit for bit. One channel at
 * a time: memory-bound and small, one path for every core (the streaming row sums excepted). */
#include "kws_nn_internal.h"

/* TFLite reference: sum / count rounded half away from zero (C division truncates, so round the
 * magnitude). A mean of int8 values is int8 again; clamped for form's sake. */
static int8_t pool_average(int32_t sum, int32_t count, int32_t half)
{
    int32_t avg = sum >= 0 ? (sum + half) / count : -((-sum + half) / count);
    avg = avg < INT8_LO ? INT8_LO : avg;
    avg = avg > INT8_HI ? INT8_HI : avg;
    return (int8_t)avg;
}

kws_status_t kws_avgpool_s8(const kws_dims_t *in_dims, const int8_t *input, int8_t *output)
{
    /* count <= 2^23 keeps |sum| + count / 2 within int32 (|sum| <= 128 * count). */
    if (!dims_ok(in_dims) || input == 0 || output == 0 ||
        (int64_t)in_dims->h * in_dims->w > ((int32_t)1 << 23)) {
        return KWS_ERR_ARG;
    }
    const int32_t c = in_dims->c;
    const int32_t count = in_dims->h * in_dims->w;
    const int32_t half = count / 2;
    int32_t ch = 0, p;

#if KWS_NN_DSP
    /* 4 channels at a time: per pixel one word, two SXTAB16 into halfword sums, exact for runs
     * of up to 255 pixels (|sum| <= 128 * 255 < 2^15), each run then added to int32 sums. */
    for (; ch + 4 <= c; ch += 4) {
        const int8_t *x = input + ch;
        int32_t sum4[4] = {0, 0, 0, 0}, p0, k;
        for (p0 = 0; p0 < count; p0 += 255) {
            const int32_t n = count - p0 < 255 ? count - p0 : 255;
            int32_t s02 = 0, s13 = 0;
            for (p = 0; p < n; p++, x += c) {
                const uint32_t v = load4(x);
                s02 = __sxtab16(s02, v);
                s13 = sxtab16_ror8(s13, v);
            }
            sum4[0] += (int16_t)s02;
            sum4[1] += (int16_t)s13;
            sum4[2] += s02 >> 16;
            sum4[3] += s13 >> 16;
        }
        for (k = 0; k < 4; k++) {
            output[ch + k] = pool_average(sum4[k], count, half);
        }
    }
#endif /* KWS_NN_DSP: 4 channels at a time */
    for (; ch < c; ch++) {
        const int8_t *x = input + ch;
        int32_t sum = 0;
        for (p = 0; p < count; p++) {
            sum += x[p * c];
        }
        output[ch] = pool_average(sum, count, half);
    }
    return KWS_OK;
}

kws_status_t kws_mean_s8(const kws_quant_t *quant, int32_t multiplier, int32_t shift,
                         const kws_dims_t *in_dims, const int8_t *input, int8_t *output)
{
    /* quant_ok: offsets and clamp in range, as every kernel (without it an offset near INT32_MAX
     * overflowed the sum and a clamp of 128 wrapped: found by firmware/tests/fuzz/kws_fuzz_nn.c) */
    if (!quant_ok(quant) || !dims_ok(in_dims) || input == 0 || output == 0 || multiplier < 0 ||
        shift < -31 || shift > 30) {
        return KWS_ERR_ARG;
    }
    /* |total| <= 255 * count: with the left shift it must stay below 2^31 (as in TFLite, whose
     * int32 x * (1 << left_shift) would overflow otherwise). */
    const int64_t count = (int64_t)in_dims->h * in_dims->w;
    if ((255 * count) << (shift > 0 ? shift : 0) >= ((int64_t)1 << 31)) {
        return KWS_ERR_ARG;
    }
    const int32_t c = in_dims->c, n = (int32_t)count;
    int32_t ch, p;

    for (ch = 0; ch < c; ch++) {
        const int8_t *x = input + ch;
        int32_t total = 0;
        for (p = 0; p < n; p++) {
            total += x[p * c] + quant->input_offset;
        }
        int32_t out = kws_requantize(total, multiplier, shift) + quant->output_offset;
        out = out < quant->act_min ? quant->act_min : out;
        out = out > quant->act_max ? quant->act_max : out;
        output[ch] = (int8_t)out;
    }
    return KWS_OK;
}

kws_status_t kws_avgpool_stream_s8(const kws_dims_t *window, const int8_t *row, int32_t *sums,
                                   int32_t slot, int8_t *output)
{
    /* as kws_avgpool_s8: count <= 2^23 keeps every total and total + count / 2 within int32 */
    if (!dims_ok(window) || row == 0 || sums == 0 || slot < 0 || slot >= window->h ||
        (int64_t)window->h * window->w > ((int32_t)1 << 23)) {
        return KWS_ERR_ARG;
    }
    const int32_t w = window->w, c = window->c;
    const int32_t count = window->h * w;
    const int32_t half = count / 2;
    int32_t *const kept = sums + slot * c;           /* the row sum leaving the window */
    int32_t *const total = sums + window->h * c;
    int32_t ch = 0, p;

#if KWS_NN_DSP
    /* The row's sums 4 channels at a time: per pixel one word, two SXTAB16 into halfword sums
     * (|sum| <= 128 w <= 2^15 while w <= 255; the totals are int32 as below). */
    if (w <= 255) {
        for (; ch + 4 <= c; ch += 4) {
            const int8_t *x = row + ch;
            int32_t s02 = 0, s13 = 0, k;
            for (p = 0; p < w; p++, x += c) {
                const uint32_t v = load4(x);
                s02 = __sxtab16(s02, v);
                s13 = sxtab16_ror8(s13, v);
            }
            const int32_t s4[4] = {(int16_t)s02, (int16_t)s13, s02 >> 16, s13 >> 16};
            for (k = 0; k < 4; k++) {
                const int32_t t = total[ch + k] - kept[ch + k] + s4[k];
                total[ch + k] = t;
                kept[ch + k] = s4[k];
                if (output != 0) {
                    int32_t avg = t >= 0 ? (t + half) / count : -((-t + half) / count);
                    avg = avg < INT8_LO ? INT8_LO : avg;
                    avg = avg > INT8_HI ? INT8_HI : avg;
                    output[ch + k] = (int8_t)avg;
                }
            }
        }
    }
#endif /* KWS_NN_DSP: 4 channels at a time */
    for (; ch < c; ch++) {
        const int8_t *x = row + ch;
        int32_t s = 0;
        for (p = 0; p < w; p++) {
            s += x[p * c];
        }
        const int32_t t = total[ch] - kept[ch] + s;
        total[ch] = t;
        kept[ch] = s;
        if (output != 0) {
            int32_t avg = t >= 0 ? (t + half) / count : -((-t + half) / count);
            avg = avg < INT8_LO ? INT8_LO : avg;
            avg = avg > INT8_HI ? INT8_HI : avg;
            output[ch] = (int8_t)avg;
        }
    }
    return KWS_OK;
}

/* ---- max pool (kws_maxpool_s8): TFLite's MAX_POOL_2D ------------------------------------- */

/* One axis of a pool window: TF "same" (out = ceil(in / stride), pad = the padding before) or
 * "valid" (pad 0, out = the windows that fit). */
static int pool_axis_ok(int32_t in, int32_t out, int32_t kernel, int32_t stride, int32_t pad)
{
    return same_axis_ok(in, out, kernel, stride, pad) ||
           valid_axis_ok(in, out, kernel, stride, pad);
}

static int pool_args_ok(const kws_window_t *window, const kws_quant_t *quant,
                        const kws_dims_t *in_dims, const int8_t *input, const kws_dims_t *out_dims,
                        const int8_t *output)
{
    return window != 0 && dims_ok(in_dims) && dims_ok(out_dims) && out_dims->c == in_dims->c &&
           quant_ok(quant) && input != 0 && output != 0 &&
           pool_axis_ok(in_dims->h, out_dims->h, window->kernel_h, window->stride_h,
                        window->pad_top) &&
           pool_axis_ok(in_dims->w, out_dims->w, window->kernel_w, window->stride_w,
                        window->pad_left);
}

kws_status_t kws_maxpool_s8(const kws_window_t *window, const kws_quant_t *quant,
                            const kws_dims_t *in_dims, const int8_t *input,
                            const kws_dims_t *out_dims, int8_t *output)
{
    if (!pool_args_ok(window, quant, in_dims, input, out_dims, output)) {
        return KWS_ERR_ARG;
    }
    const int32_t c = in_dims->c;
    int32_t oy, ox, ch, ky, kx;
    for (oy = 0; oy < out_dims->h; oy++) {
        int32_t ky0, ky1;
        const int32_t iy = oy * window->stride_h - window->pad_top;
        valid_taps(iy, window->kernel_h, in_dims->h, &ky0, &ky1);
        for (ox = 0; ox < out_dims->w; ox++) {
            int32_t kx0, kx1;
            const int32_t ix = ox * window->stride_w - window->pad_left;
            int8_t *dst = output + (oy * out_dims->w + ox) * c;
            valid_taps(ix, window->kernel_w, in_dims->w, &kx0, &kx1);
            for (ch = 0; ch < c; ch++) {
                int32_t m = INT8_LO;
                for (ky = ky0; ky < ky1; ky++) {
                    for (kx = kx0; kx < kx1; kx++) {
                        const int8_t v = input[((iy + ky) * in_dims->w + ix + kx) * c + ch];
                        m = v > m ? v : m;
                    }
                }
                m = m < quant->act_min ? quant->act_min : m;
                m = m > quant->act_max ? quant->act_max : m;
                dst[ch] = (int8_t)m;
            }
        }
    }
    return KWS_OK;
}

/* ---- average pool with a window (kws_avgpool2d_s8): TFLite's AVERAGE_POOL_2D ------------- */

kws_status_t kws_avgpool2d_s8(const kws_window_t *window, const kws_quant_t *quant,
                              const kws_dims_t *in_dims, const int8_t *input,
                              const kws_dims_t *out_dims, int8_t *output)
{
    /* a window of kernel_h * kernel_w <= 2^23 inputs keeps |sum| + count / 2 within int32 */
    if (!pool_args_ok(window, quant, in_dims, input, out_dims, output) ||
        (int64_t)window->kernel_h * window->kernel_w > ((int32_t)1 << 23)) {
        return KWS_ERR_ARG;
    }
    const int32_t c = in_dims->c;
    int32_t oy, ox, ch, ky, kx;
    for (oy = 0; oy < out_dims->h; oy++) {
        int32_t ky0, ky1;
        const int32_t iy = oy * window->stride_h - window->pad_top;
        valid_taps(iy, window->kernel_h, in_dims->h, &ky0, &ky1);
        for (ox = 0; ox < out_dims->w; ox++) {
            int32_t kx0, kx1;
            const int32_t ix = ox * window->stride_w - window->pad_left;
            int8_t *dst = output + (oy * out_dims->w + ox) * c;
            valid_taps(ix, window->kernel_w, in_dims->w, &kx0, &kx1);
            const int32_t count = (ky1 - ky0) * (kx1 - kx0), half = count / 2;
            for (ch = 0; ch < c; ch++) {
                int32_t sum = 0, avg;
                for (ky = ky0; ky < ky1; ky++) {
                    for (kx = kx0; kx < kx1; kx++) {
                        sum += input[((iy + ky) * in_dims->w + ix + kx) * c + ch];
                    }
                }
                /* TFLite: rounding half away from zero (C division truncates) */
                avg = sum > 0 ? (sum + half) / count : (sum - half) / count;
                avg = avg < quant->act_min ? quant->act_min : avg;
                avg = avg > quant->act_max ? quant->act_max : avg;
                dst[ch] = (int8_t)avg;
            }
        }
    }
    return KWS_OK;
}
