/* int8 network kernels: TFLite int8 semantics with CMSIS-NN's default requantisation.
 *
 * The numpy golden model kws/golden/network.py defines every integer these kernels produce; each kernel
 * mirrors one of its functions (named below) and is tested against it with exact equality.
 *
 * Layout: NHWC with a batch of one, so a tensor is [h][w][c], c fastest. No heap, no scratch:
 * the caller owns every buffer; input and output must not overlap. The kernels keep small
 * fixed-size working buffers on the stack (im2col windows, runs of accumulators, unpacked
 * weights, int16 planes): at most about 1.8 KB per call (arm-none-eabi-gcc 12 -O2,
 * -fstack-usage: the 3x3 depthwise planes 1.7 KB, the tiles 1.4 KB on a Cortex-M4; 1.0 KB on a
 * Cortex-M3), whatever the layer's size.
 *
 * Implementations (src/nn/, one source per kernel family): portable C99, and on cores with the Arm DSP extension
 * (__ARM_FEATURE_DSP: Cortex-M4, M7, M33...) SIMD inner loops (SXTB16/SXTAB16, SMLAD,
 * SMLABB/SMLATT); -DKWS_NN_PORTABLE selects the portable loops there too. Both give the same
 * integers, the golden model's.
 *
 * Arithmetic, per output value:
 *   acc = bias[c] + sum over the window of (x + input_offset) * w        (int32, exact)
 *         (positions in the padding contribute nothing: they stand for x == input zero point)
 *   q   = kws_requantize(acc, multiplier[c], shift[c]) + output_offset  (kws_requantize.h)
 *   out = clamp(q, act_min, act_max)                                    (a fused ReLU clamps
 *                                                                         at the zero point)
 * Ranges: x, out int8; w int8 in [-127, 127] with zero point 0; input_offset = -input zero point
 * in [-127, 128]; output_offset in [-128, 127]; multiplier Q31 in [2^30, 2^31), or 0 (what
 * kws.intmath.quantize_multiplier gives a negligible scale, e.g. a dead channel); shift in
 * [-31, 30]; -128 <= act_min <= act_max <= 127.
 * Not checked, the caller's (the export stage's) guarantee: acc, and every partial sum of it
 * (bias first, then the window in any order), fits int32 -- |bias| <= 2^31 - 1 - taps * 255 * 127
 * is enough, taps = kernel_h * kernel_w * in.c (depthwise: kernel_h * kernel_w) -- and so does
 * acc * 2^max(shift, 0). Otherwise the C overflows (undefined behaviour).
 *
 * Every kernel returns KWS_OK, or KWS_ERR_ARG without touching the output for: a NULL pointer,
 * a dimension < 1 or a tensor of more than INT32_MAX elements, out dims or padding that are not
 * TF "same" for the window (along H: neither "same" nor "valid"), depthwise out.c != in.c, or
 * an offset, clamp, multiplier (< 0) or shift outside the ranges above.
 */
#ifndef KWS_NN_H
#define KWS_NN_H

#include <stdint.h>

#include "kws_limits.h" /* KWS_NN_PACKED_MAX_IN, KWS_NN_PACKED_MAX_TAPS */
#include "kws_status.h"

/* A feature map [h][w][c]. */
typedef struct {
    int32_t h;
    int32_t w;
    int32_t c;
} kws_dims_t;

/* Zero points and clamp of one layer (CMSIS-NN's offsets: input_offset = -zero point). */
typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
} kws_quant_t;

/* Window geometry, each axis TF "same" padding (out = ceil(in / stride), pad_top / pad_left as
 * kws.golden.same_padding gives it, the padding after is whatever remains) or "valid"
 * (kws.golden.conv_padding: no padding, pad = 0, kernel <= in, out = (in - kernel) / stride + 1).
 * Our networks pad W (frequency) "same" and H (time) either way; a streaming step
 * (kws_model_step) calls the kernels on kernel_h-row windows valid in time: one output row.
 * Imported models may be valid along W too. */
typedef struct {
    int32_t kernel_h;
    int32_t kernel_w;
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_top;
    int32_t pad_left;
} kws_window_t;

/* Convolution, groups = 1 (golden: run_conv, depthwise=False).
 * weights [out.c][kernel_h][kernel_w][in.c]; bias, multiplier, shift [out.c]. */
kws_status_t kws_conv2d_s8(const kws_window_t *window, const kws_quant_t *quant,
                           const int32_t *multiplier, const int32_t *shift,
                           const kws_dims_t *in_dims, const int8_t *input,
                           const int8_t *weights, const int32_t *bias,
                           const kws_dims_t *out_dims, int8_t *output);

/* Depthwise convolution, channel multiplier 1 (golden: run_conv, depthwise=True).
 * weights [kernel_h][kernel_w][c] (TFLite's layout; golden keeps [c][kh][kw][1]);
 * bias, multiplier, shift [c]; out.c == in.c. */
kws_status_t kws_dwconv2d_s8(const kws_window_t *window, const kws_quant_t *quant,
                             const int32_t *multiplier, const int32_t *shift,
                             const kws_dims_t *in_dims, const int8_t *input,
                             const int8_t *weights, const int32_t *bias,
                             const kws_dims_t *out_dims, int8_t *output);

/* 1x1 convolution, stride 1, no padding (golden: run_conv with a 1x1 kernel).
 * weights [out_c][in.c]; bias, multiplier, shift [out_c]; output [in.h][in.w][out_c]. */
kws_status_t kws_pwconv2d_s8(const kws_quant_t *quant, const int32_t *multiplier,
                             const int32_t *shift, const kws_dims_t *in_dims,
                             const int8_t *input, const int8_t *weights, const int32_t *bias,
                             int32_t out_c, int8_t *output);

/* On cores with the Arm DSP extension (and without KWS_NN_PORTABLE) KWS_NN_PACKED_WEIGHTS is 1
 * and kws_pwconv2d_s8_packed exists: the same layer with its weights arranged ahead of time
 * (by the code generator) as the int16 pairs SMLAD takes, which kws_pwconv2d_s8 otherwise
 * unpacks (SXTB16) for every 5 pixels: int32 [out_c][in.c / 4][2], for each group g of 4 input
 * channels the words (w[o][4g] & 0xFFFF) | w[o][4g + 2] << 16 and (w[o][4g + 1] & 0xFFFF) |
 * w[o][4g + 3] << 16. Twice the weights' flash, one LDRD instead of LDR + 2 SXTB16 per 4
 * weights. in.c % 4 == 0 and in.c <= KWS_NN_PACKED_MAX_IN, else KWS_ERR_ARG; the outputs equal
 * kws_pwconv2d_s8's. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(KWS_NN_PORTABLE)
#define KWS_NN_PACKED_WEIGHTS 1
kws_status_t kws_pwconv2d_s8_packed(const kws_quant_t *quant, const int32_t *multiplier,
                                    const int32_t *shift, const kws_dims_t *in_dims,
                                    const int8_t *input, const int32_t *weights,
                                    const int32_t *bias, int32_t out_c, int8_t *output);
#else
#define KWS_NN_PACKED_WEIGHTS 0
#endif

/* Likewise kws_conv2d_s8_packed (KWS_NN_PACKED_WEIGHTS): the convolution with its weights as
 * int32 [out.c][taps / 4][2], taps = kernel_h * kernel_w * in.c in the weights' order (ky, kx,
 * ci), paired as kws_pwconv2d_s8_packed's. taps % 4 == 0 and taps <= KWS_NN_PACKED_MAX_TAPS,
 * else KWS_ERR_ARG; the outputs equal kws_conv2d_s8's. */
#if KWS_NN_PACKED_WEIGHTS
kws_status_t kws_conv2d_s8_packed(const kws_window_t *window, const kws_quant_t *quant,
                                  const int32_t *multiplier, const int32_t *shift,
                                  const kws_dims_t *in_dims, const int8_t *input,
                                  const int32_t *weights, const int32_t *bias,
                                  const kws_dims_t *out_dims, int8_t *output);
#endif /* KWS_NN_PACKED_WEIGHTS */

/* Global average pool [h][w][c] → [c] (golden: run_avgpool): sum of the raw int8 values,
 * divided by h*w rounding half away from zero, clamped to [-128, 127]. Quantisation unchanged.
 * h*w <= 2^23 (keeps the int32 sum exact), else KWS_ERR_ARG. */
kws_status_t kws_avgpool_s8(const kws_dims_t *in_dims, const int8_t *input, int8_t *output);

/* TensorFlow Lite Micro's int8 MEAN over h and w, [h][w][c] → [c] (golden: run_mean; how the
 * converter writes GlobalAveragePooling2D): per channel total = sum of (x + input_offset) over
 * the h*w inputs, kws_requantize(total, multiplier, shift) + output_offset, clamped to
 * [act_min, act_max]. multiplier (Q31, any value in [0, 2^31)) and shift (range [-31, 30])
 * already hold TFLite's 1/(h*w) (kws.golden.network.mean_multiplier). 255 * h * w * 2^max(shift,
 * 0) < 2^31 (the int32 product is exact), else KWS_ERR_ARG. */
kws_status_t kws_mean_s8(const kws_quant_t *quant, int32_t multiplier, int32_t shift,
                         const kws_dims_t *in_dims, const int8_t *input, int8_t *output);

/* The global average pool of a streaming network (golden: kws.golden.streaming's running sum):
 * one new row [w][c] of the final map enters a window of the last window->h rows (T) and the
 * row that leaves is subtracted. sums [T + 1][c] is the caller's state: the row sums of the T
 * rows in the window (a ring; `slot` in [0, T) holds the sum of the row leaving, and receives
 * the new one), then the totals over the window; all zeros at the start of a stream, so the
 * rows not yet seen count 0. With output != NULL (once T rows have entered), output[c] =
 * total / (T * w) rounded half away from zero, clamped: kws_avgpool_s8 over the window, exactly.
 * T * w <= 2^23 (keeps the int32 totals exact), else KWS_ERR_ARG; also for a NULL row or sums or
 * a slot outside [0, T). */
kws_status_t kws_avgpool_stream_s8(const kws_dims_t *window, const int8_t *row, int32_t *sums,
                                   int32_t slot, int8_t *output);

/* Fully connected, per-tensor quantisation (golden: run_dense): weights [out_n][in_n],
 * bias [out_n]; one multiplier and shift; clamp to [act_min, act_max] (golden run_dense always
 * clamps to [-128, 127]: pass those to match it). */
kws_status_t kws_fc_s8(const kws_quant_t *quant, int32_t multiplier, int32_t shift,
                       int32_t in_n, const int8_t *input, const int8_t *weights,
                       const int32_t *bias, int32_t out_n, int8_t *output);

/* TensorFlow Lite's int8 ADD of two tensors of the same shape (golden: run_add), e.g. a
 * residual connection: offsets are -zero points (output: + zero point); left_shift 20 for int8;
 * multipliers Q31 with shifts <= 0 (kws-import computes them as TFLite Micro does). */
typedef struct {
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} kws_add_params_t;

kws_status_t kws_add_s8(const kws_add_params_t *params, int32_t n, const int8_t *input1,
                        const int8_t *input2, int8_t *output);

/* TensorFlow Lite's int8 MAX_POOL_2D (golden: run_maxpool): the largest input of each window,
 * padding skipped, clamped to [act_min, act_max] (input/output offsets unused: the output is
 * quantised as the input). Each axis TF "same" or "valid". */
kws_status_t kws_maxpool_s8(const kws_window_t *window, const kws_quant_t *quant,
                            const kws_dims_t *in_dims, const int8_t *input,
                            const kws_dims_t *out_dims, int8_t *output);

/* TensorFlow Lite's int8 AVERAGE_POOL_2D with a window (golden: run_avgpool2d): each window's
 * valid inputs summed, divided by their count rounding half away from zero, clamped to
 * [act_min, act_max]; the output quantised as the input. Each axis TF "same" or "valid". */
kws_status_t kws_avgpool2d_s8(const kws_window_t *window, const kws_quant_t *quant,
                              const kws_dims_t *in_dims, const int8_t *input,
                              const kws_dims_t *out_dims, int8_t *output);

/* TensorFlow Lite's int8 softmax over n values (golden: kws.golden.softmax.softmax_s8): output
 * scale 1/256, zero point -128. input_multiplier, input_left_shift and diff_min are TFLite's
 * (kws.golden.softmax.softmax_params of the input scale and beta): multiplier >= 0, shift in
 * [0, 31], diff_min <= 0 (a difference to the maximum of at least diff_min, times 2^shift, fits
 * int32: TFLite's CalculateInputRadius). */
kws_status_t kws_softmax_s8(int32_t n, const int8_t *input, int32_t input_multiplier,
                            int32_t input_left_shift, int32_t diff_min, int8_t *output);

#endif /* KWS_NN_H */
