/* int8 network kernels. Each mirrors a function of kws/golden.py bit for bit (see kws_nn.h).
 *
 * Portable C99 first, shaped for a Cortex-M: no heap, no floating point, int32 accumulators,
 * NHWC loops with the channel innermost (unit stride), per-layer constants hoisted out of the
 * loops, and the valid part of each kernel window computed once per output row/column instead
 * of testing every tap against the padding. */
#include "kws_nn.h"

#include "kws_requantize.h"

#define INT8_LO (-128)
#define INT8_HI 127

/* ---- argument checks --------------------------------------------------------------------- */

/* a, b, c >= 1 and a*b*c fits int32: every index the kernels form is then below INT32_MAX. */
static int positive_product_fits(int32_t a, int32_t b, int32_t c)
{
    if (a < 1 || b < 1 || c < 1) {
        return 0;
    }
    const int64_t ab = (int64_t)a * b;                 /* < 2^62: no int64 overflow */
    return ab <= INT32_MAX && ab * c <= INT32_MAX;
}

static int dims_ok(const kws_dims_t *d)
{
    return d != 0 && positive_product_fits(d->h, d->w, d->c);
}

static int quant_ok(const kws_quant_t *q)
{
    return q != 0 && q->input_offset >= -127 && q->input_offset <= 128 &&
           q->output_offset >= INT8_LO && q->output_offset <= INT8_HI &&
           q->act_min >= INT8_LO && q->act_min <= q->act_max && q->act_max <= INT8_HI;
}

/* The shift range keeps every shift in kws_requantize defined; a multiplier of 0 is allowed
 * (kws.intmath.quantize_multiplier returns (0, 0) for a negligible scale). */
static int requant_ok(int32_t multiplier, int32_t shift)
{
    return multiplier >= 0 && shift >= -31 && shift <= 30;
}

static int channels_ok(const int32_t *multiplier, const int32_t *shift, const int32_t *bias,
                       int32_t n)
{
    int32_t i;
    if (multiplier == 0 || shift == 0 || bias == 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!requant_ok(multiplier[i], shift[i])) {
            return 0;
        }
    }
    return 1;
}

/* One axis of TF "same" padding: out == ceil(in / stride), pad == the padding before. */
static int same_axis_ok(int32_t in, int32_t out, int32_t kernel, int32_t stride, int32_t pad)
{
    if (kernel < 1 || stride < 1 || out != in / stride + (in % stride != 0)) {
        return 0;
    }
    int64_t total = (int64_t)(out - 1) * stride + kernel - in;
    if (total < 0) {
        total = 0;
    }
    return pad == (int32_t)(total / 2);
}

static int window_ok(const kws_window_t *win, const kws_dims_t *in, const kws_dims_t *out)
{
    return win != 0 &&
           same_axis_ok(in->h, out->h, win->kernel_h, win->stride_h, win->pad_top) &&
           same_axis_ok(in->w, out->w, win->kernel_w, win->stride_w, win->pad_left);
}

/* ---- shared inner pieces ----------------------------------------------------------------- */

/* Output stage, hoisted per layer. Clamping BEFORE adding the zero point is the same as
 * clamp(q + offset, act_min, act_max) but cannot overflow when q is near the int32 limits. */
typedef struct {
    int32_t offset;
    int32_t lo; /* act_min - offset */
    int32_t hi; /* act_max - offset */
} out_stage_t;

static out_stage_t out_stage(const kws_quant_t *q)
{
    out_stage_t s;
    s.offset = q->output_offset;
    s.lo = q->act_min - q->output_offset;
    s.hi = q->act_max - q->output_offset;
    return s;
}

static int8_t finish(int32_t acc, int32_t multiplier, int32_t shift, const out_stage_t *s)
{
    int32_t q = kws_requantize(acc, multiplier, shift);
    q = q < s->lo ? s->lo : q;
    q = q > s->hi ? s->hi : q;
    return (int8_t)(q + s->offset);
}

/* sum of (x[i] + offset) * w[i]: the one multiply-accumulate loop of conv, pwconv and fc. */
static int32_t dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t offset)
{
    int32_t acc = 0;
    int32_t i;
    for (i = 0; i < n; i++) {
        acc += ((int32_t)x[i] + offset) * w[i];
    }
    return acc;
}

/* The taps [*k0, *k1) of a kernel placed at `origin` (may be negative: padding) that fall
 * inside [0, size). Padded taps contribute nothing, so they are simply skipped. */
static void valid_taps(int32_t origin, int32_t kernel, int32_t size, int32_t *k0, int32_t *k1)
{
    *k0 = origin < 0 ? -origin : 0;
    *k1 = size - origin < kernel ? size - origin : kernel;
}

/* ---- convolution ------------------------------------------------------------------------- */

kws_status_t kws_conv2d_s8(const kws_window_t *window, const kws_quant_t *quant,
                           const int32_t *multiplier, const int32_t *shift,
                           const kws_dims_t *in_dims, const int8_t *input,
                           const int8_t *weights, const int32_t *bias,
                           const kws_dims_t *out_dims, int8_t *output)
{
    if (!dims_ok(in_dims) || !dims_ok(out_dims) || !window_ok(window, in_dims, out_dims) ||
        !quant_ok(quant) || input == 0 || weights == 0 || output == 0 ||
        !positive_product_fits(window->kernel_h, window->kernel_w, in_dims->c) ||
        !positive_product_fits(window->kernel_h * window->kernel_w * in_dims->c, out_dims->c,
                               1) ||
        !channels_ok(multiplier, shift, bias, out_dims->c)) {
        return KWS_ERR_ARG;
    }
    const int32_t in_w = in_dims->w, in_c = in_dims->c;
    const int32_t kh = window->kernel_h, kw = window->kernel_w;
    const int32_t out_c = out_dims->c;
    const int32_t filter_size = kh * kw * in_c; /* weights of one output channel */
    const int32_t offset = quant->input_offset;
    const out_stage_t stage = out_stage(quant);
    int32_t oy, ox, oc, ky;

    for (oy = 0; oy < out_dims->h; oy++) {
        const int32_t iy = oy * window->stride_h - window->pad_top;
        int32_t ky0, ky1;
        valid_taps(iy, kh, in_dims->h, &ky0, &ky1);
        for (ox = 0; ox < out_dims->w; ox++) {
            const int32_t ix = ox * window->stride_w - window->pad_left;
            int32_t kx0, kx1;
            valid_taps(ix, kw, in_w, &kx0, &kx1);
            /* In NHWC the valid taps of one kernel row are one contiguous run of input, and
             * in [out_c][kh][kw][in_c] the matching weights are contiguous too: one dot each. */
            const int32_t run = (kx1 - kx0) * in_c;
            const int8_t *x_first = input + ((iy + ky0) * in_w + ix + kx0) * in_c;
            const int32_t w_first = (ky0 * kw + kx0) * in_c;
            int8_t *out = output + (oy * out_dims->w + ox) * out_c;
            for (oc = 0; oc < out_c; oc++) {
                const int8_t *x = x_first;
                const int8_t *w = weights + oc * filter_size + w_first;
                int32_t acc = bias[oc];
                for (ky = ky0; ky < ky1; ky++) {
                    acc += dot_s8(x, w, run, offset);
                    x += in_w * in_c;
                    w += kw * in_c;
                }
                out[oc] = finish(acc, multiplier[oc], shift[oc], &stage);
            }
        }
    }
    return KWS_OK;
}

/* ---- depthwise convolution --------------------------------------------------------------- */

/* Taps of one output pixel for 4 adjacent channels at once: each input/weight load serves a
 * channel, the four accumulators stay in registers (the CMSIS-NN approach, without SIMD). */
static void dw_taps4(const int8_t *x, const int8_t *w, int32_t rows, int32_t cols,
                     int32_t x_row, int32_t w_row, int32_t c, int32_t offset, int32_t acc[4])
{
    int32_t r, k;
    for (r = 0; r < rows; r++) {
        const int8_t *xp = x + r * x_row;
        const int8_t *wp = w + r * w_row;
        for (k = 0; k < cols; k++) {
            acc[0] += ((int32_t)xp[0] + offset) * wp[0];
            acc[1] += ((int32_t)xp[1] + offset) * wp[1];
            acc[2] += ((int32_t)xp[2] + offset) * wp[2];
            acc[3] += ((int32_t)xp[3] + offset) * wp[3];
            xp += c;
            wp += c;
        }
    }
}

static int32_t dw_taps1(const int8_t *x, const int8_t *w, int32_t rows, int32_t cols,
                        int32_t x_row, int32_t w_row, int32_t c, int32_t offset)
{
    int32_t acc = 0;
    int32_t r, k;
    for (r = 0; r < rows; r++) {
        for (k = 0; k < cols; k++) {
            acc += ((int32_t)x[r * x_row + k * c] + offset) * w[r * w_row + k * c];
        }
    }
    return acc;
}

kws_status_t kws_dwconv2d_s8(const kws_window_t *window, const kws_quant_t *quant,
                             const int32_t *multiplier, const int32_t *shift,
                             const kws_dims_t *in_dims, const int8_t *input,
                             const int8_t *weights, const int32_t *bias,
                             const kws_dims_t *out_dims, int8_t *output)
{
    if (!dims_ok(in_dims) || !dims_ok(out_dims) || out_dims->c != in_dims->c ||
        !window_ok(window, in_dims, out_dims) || !quant_ok(quant) || input == 0 ||
        weights == 0 || output == 0 ||
        !positive_product_fits(window->kernel_h, window->kernel_w, in_dims->c) ||
        !channels_ok(multiplier, shift, bias, in_dims->c)) {
        return KWS_ERR_ARG;
    }
    const int32_t in_w = in_dims->w, c = in_dims->c;
    const int32_t kw = window->kernel_w;
    const int32_t x_row = in_w * c, w_row = kw * c; /* one kernel row down, in input/weights */
    const int32_t offset = quant->input_offset;
    const out_stage_t stage = out_stage(quant);
    int32_t oy, ox, ch, j;

    for (oy = 0; oy < out_dims->h; oy++) {
        const int32_t iy = oy * window->stride_h - window->pad_top;
        int32_t ky0, ky1;
        valid_taps(iy, window->kernel_h, in_dims->h, &ky0, &ky1);
        for (ox = 0; ox < out_dims->w; ox++) {
            const int32_t ix = ox * window->stride_w - window->pad_left;
            int32_t kx0, kx1;
            valid_taps(ix, kw, in_w, &kx0, &kx1);
            const int8_t *x = input + ((iy + ky0) * in_w + ix + kx0) * c;
            const int8_t *w = weights + (ky0 * kw + kx0) * c;
            const int32_t rows = ky1 - ky0, cols = kx1 - kx0;
            int8_t *out = output + (oy * out_dims->w + ox) * c;
            for (ch = 0; ch + 4 <= c; ch += 4) {
                int32_t acc[4];
                for (j = 0; j < 4; j++) {
                    acc[j] = bias[ch + j];
                }
                dw_taps4(x + ch, w + ch, rows, cols, x_row, w_row, c, offset, acc);
                for (j = 0; j < 4; j++) {
                    out[ch + j] = finish(acc[j], multiplier[ch + j], shift[ch + j], &stage);
                }
            }
            for (; ch < c; ch++) { /* the last c % 4 channels */
                const int32_t acc =
                    bias[ch] + dw_taps1(x + ch, w + ch, rows, cols, x_row, w_row, c, offset);
                out[ch] = finish(acc, multiplier[ch], shift[ch], &stage);
            }
        }
    }
    return KWS_OK;
}

/* ---- pointwise (1x1) convolution --------------------------------------------------------- */

kws_status_t kws_pwconv2d_s8(const kws_quant_t *quant, const int32_t *multiplier,
                             const int32_t *shift, const kws_dims_t *in_dims,
                             const int8_t *input, const int8_t *weights, const int32_t *bias,
                             int32_t out_c, int8_t *output)
{
    if (!dims_ok(in_dims) || !quant_ok(quant) || input == 0 || weights == 0 || output == 0 ||
        !positive_product_fits(in_dims->h, in_dims->w, out_c) ||
        !positive_product_fits(in_dims->c, out_c, 1) ||
        !channels_ok(multiplier, shift, bias, out_c)) {
        return KWS_ERR_ARG;
    }
    const int32_t in_c = in_dims->c;
    const int32_t pixels = in_dims->h * in_dims->w;
    const int32_t offset = quant->input_offset;
    const out_stage_t stage = out_stage(quant);
    int32_t p, oc, i;

    /* A matrix product [pixels][in_c] x [in_c][out_c]. Two pixels per pass over the weights
     * halve the weight loads (the weights are the bigger operand in a DS-CNN). */
    for (p = 0; p + 2 <= pixels; p += 2) {
        const int8_t *x0 = input + p * in_c;
        const int8_t *x1 = x0 + in_c;
        int8_t *out0 = output + p * out_c;
        int8_t *out1 = out0 + out_c;
        for (oc = 0; oc < out_c; oc++) {
            const int8_t *w = weights + oc * in_c;
            int32_t acc0 = bias[oc];
            int32_t acc1 = bias[oc];
            for (i = 0; i < in_c; i++) {
                const int32_t wi = w[i];
                acc0 += ((int32_t)x0[i] + offset) * wi;
                acc1 += ((int32_t)x1[i] + offset) * wi;
            }
            out0[oc] = finish(acc0, multiplier[oc], shift[oc], &stage);
            out1[oc] = finish(acc1, multiplier[oc], shift[oc], &stage);
        }
    }
    if (p < pixels) { /* an odd pixel count leaves one */
        const int8_t *x = input + p * in_c;
        int8_t *out = output + p * out_c;
        for (oc = 0; oc < out_c; oc++) {
            const int32_t acc = bias[oc] + dot_s8(x, weights + oc * in_c, in_c, offset);
            out[oc] = finish(acc, multiplier[oc], shift[oc], &stage);
        }
    }
    return KWS_OK;
}

/* ---- global average pool ----------------------------------------------------------------- */

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
    int32_t ch, p;

    for (ch = 0; ch < c; ch++) {
        const int8_t *x = input + ch;
        int32_t sum = 0;
        for (p = 0; p < count; p++) {
            sum += x[p * c];
        }
        /* TFLite reference: divide rounding half away from zero (C division truncates, so
         * round the magnitude). A mean of int8 values is int8 again; clamp for form's sake. */
        int32_t avg = sum >= 0 ? (sum + half) / count : -((-sum + half) / count);
        avg = avg < INT8_LO ? INT8_LO : avg;
        avg = avg > INT8_HI ? INT8_HI : avg;
        output[ch] = (int8_t)avg;
    }
    return KWS_OK;
}

/* ---- fully connected --------------------------------------------------------------------- */

kws_status_t kws_fc_s8(const kws_quant_t *quant, int32_t multiplier, int32_t shift,
                       int32_t in_n, const int8_t *input, const int8_t *weights,
                       const int32_t *bias, int32_t out_n, int8_t *output)
{
    if (!quant_ok(quant) || !requant_ok(multiplier, shift) || input == 0 || weights == 0 ||
        bias == 0 || output == 0 || !positive_product_fits(in_n, out_n, 1)) {
        return KWS_ERR_ARG;
    }
    const int32_t offset = quant->input_offset;
    const out_stage_t stage = out_stage(quant);
    int32_t o;

    for (o = 0; o < out_n; o++) {
        const int32_t acc = bias[o] + dot_s8(input, weights + o * in_n, in_n, offset);
        output[o] = finish(acc, multiplier, shift, &stage);
    }
    return KWS_OK;
}
