/* kws_add_s8: TensorFlow Lite's int8 ADD of two tensors of one shape (kws_nn.h), mirroring
 * kws.golden.network.run_add: each input + its offset, times 2^left_shift, scaled down to a
 * common scale (SRDHM, then a rounding right shift), summed, scaled to the output, + the output
 * zero point, clamped. One path for every core. */
#include "kws_nn_internal.h"

/* MultiplyByQuantizedMultiplierSmallerThanOneExp: kws_requantize with shift <= 0. */
static int32_t scale_down(int32_t x, int32_t multiplier, int32_t shift)
{
    return kws_requantize(x, multiplier, shift);
}

kws_status_t kws_add_s8(const kws_add_params_t *p, int32_t n, const int8_t *input1,
                        const int8_t *input2, int8_t *output)
{
    int32_t i;
    if (p == 0 || input1 == 0 || input2 == 0 || output == 0 || n < 1 ||
        p->input1_offset < -127 || p->input1_offset > 128 || p->input2_offset < -127 ||
        p->input2_offset > 128 || p->output_offset < INT8_LO || p->output_offset > INT8_HI ||
        p->left_shift < 0 || p->left_shift > 22 || p->act_min < INT8_LO ||
        p->act_min > p->act_max || p->act_max > INT8_HI ||
        !requant_ok(p->input1_multiplier, p->input1_shift) || p->input1_shift > 0 ||
        !requant_ok(p->input2_multiplier, p->input2_shift) || p->input2_shift > 0 ||
        !requant_ok(p->output_multiplier, p->output_shift) || p->output_shift > 0) {
        return KWS_ERR_ARG;
    }
    for (i = 0; i < n; i++) {
        /* |x + offset| <= 255: times 2^22 at most still fits int32 */
        const int32_t a = (input1[i] + p->input1_offset) * ((int32_t)1 << p->left_shift);
        const int32_t b = (input2[i] + p->input2_offset) * ((int32_t)1 << p->left_shift);
        const int32_t sum = scale_down(a, p->input1_multiplier, p->input1_shift) +
                            scale_down(b, p->input2_multiplier, p->input2_shift);
        int32_t q = scale_down(sum, p->output_multiplier, p->output_shift) + p->output_offset;
        q = q < p->act_min ? p->act_min : q;
        q = q > p->act_max ? p->act_max : q;
        output[i] = (int8_t)q;
    }
    return KWS_OK;
}
