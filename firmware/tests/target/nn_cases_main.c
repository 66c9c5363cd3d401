/* Kernel test harness for QEMU's MPS2 boards (tests/test_nn_fastpath.py): layer cases in flash,
 * each run through its kws_nn.h kernel on the target and compared byte for byte with the golden
 * model's output.
 *
 * Data (generated into kws_nn_cases.{c,h}): KWS_NN_N_CASES cases, each a kernel call in the
 * layouts of kws_nn.h (the fields of kws.nn_host.NnCase), `batch` samples, and the golden output
 * of every sample. Per case the harness copies the weights and the inputs into RAM at
 * `align` bytes past a word boundary (so the kernels meet unaligned pointers), fills the output
 * buffer and 8 guard bytes after it with a pattern, calls the kernel once per sample, and checks
 * the status, every output byte and the guard bytes.
 * Result file (kws_results.h), read by the test: dsp (1 when this build has __ARM_FEATURE_DSP,
 * i.e. runs the kernels' DSP paths), case_ok uint8 [KWS_NN_N_CASES] (1: status, every output
 * byte and the guard bytes as expected). The console says which case differs where ("CASE <i>
 * MISMATCH ..."), for people. Exit status: 0 all equal, 1 a mismatch or error, 2 a failed
 * result file, 3 a fault. */
#include <stdint.h>
#include <string.h>

#include "kws_nn.h"
#include "kws_nn_cases.h"
#include "kws_results_semihost.h"
#include "semihost.h"

#define GUARD 8
#define PATTERN 0x5A

static int8_t in_buf[KWS_NN_MAX_INPUT + 4] __attribute__((aligned(4)));
static int8_t w_buf[KWS_NN_MAX_WEIGHTS + 4] __attribute__((aligned(4)));
static int8_t out_buf[KWS_NN_MAX_OUTPUT + GUARD];
static uint8_t case_ok[KWS_NN_N_CASES];

#if KWS_NN_PACKED_WEIGHTS
static int32_t packed_buf[KWS_NN_MAX_WEIGHTS / 2];

/* A pointwise or convolution case kws_pwconv2d_s8_packed / kws_conv2d_s8_packed takes too. */
static int packed_case(const kws_nn_case_t *c)
{
    const int32_t taps = c->kernel_h * c->kernel_w * c->in_c;
    return (c->kind == 3 && (c->in_c & 3) == 0 && c->in_c <= KWS_NN_PACKED_MAX_IN) ||
           (c->kind == 1 && (taps & 3) == 0 && taps <= KWS_NN_PACKED_MAX_TAPS);
}

/* The int8 weights [out_c][taps] as the packed kernels' pairs (kws_nn.h), in packed_buf. */
static const int32_t *pack_weights(const kws_nn_case_t *c, const int8_t *w)
{
    const int32_t taps = c->kind == 3 ? c->in_c : c->kernel_h * c->kernel_w * c->in_c;
    int32_t i;
    for (i = 0; i < c->out_c * taps; i += 4) {
        const uint32_t w0 = (uint16_t)w[i], w1 = (uint16_t)w[i + 1];
        const uint32_t w2 = (uint16_t)w[i + 2], w3 = (uint16_t)w[i + 3];
        packed_buf[i / 2] = (int32_t)(w0 | (w2 << 16));
        packed_buf[i / 2 + 1] = (int32_t)(w1 | (w3 << 16));
    }
    return packed_buf;
}
#else
static int packed_case(const kws_nn_case_t *c)
{
    (void)c;
    return 0;
}
#endif /* KWS_NN_PACKED_WEIGHTS */

static kws_status_t call_kernel(const kws_nn_case_t *c, const int8_t *w, const int8_t *x,
                                int8_t *out, int packed)
{
    const kws_dims_t in_dims = {c->in_h, c->in_w, c->in_c};
    const kws_dims_t out_dims = {c->out_h, c->out_w, c->out_c};
    const kws_window_t window = {c->kernel_h, c->kernel_w, c->stride_h,
                                 c->stride_w, c->pad_top,  c->pad_left};
    const kws_quant_t quant = {c->input_offset, c->output_offset, c->act_min, c->act_max};
    switch (c->kind) {
    case 1:
#if KWS_NN_PACKED_WEIGHTS
        if (packed) {
            return kws_conv2d_s8_packed(&window, &quant, c->multiplier, c->shift, &in_dims, x,
                                        pack_weights(c, w), c->bias, &out_dims, out);
        }
#endif /* KWS_NN_PACKED_WEIGHTS */
        return kws_conv2d_s8(&window, &quant, c->multiplier, c->shift, &in_dims, x, w, c->bias,
                             &out_dims, out);
    case 2:
        return kws_dwconv2d_s8(&window, &quant, c->multiplier, c->shift, &in_dims, x, w, c->bias,
                               &out_dims, out);
    case 3:
#if KWS_NN_PACKED_WEIGHTS
        if (packed) {
            return kws_pwconv2d_s8_packed(&quant, c->multiplier, c->shift, &in_dims, x,
                                          pack_weights(c, w), c->bias, c->out_c, out);
        }
#else
        (void)packed;
#endif /* KWS_NN_PACKED_WEIGHTS */
        return kws_pwconv2d_s8(&quant, c->multiplier, c->shift, &in_dims, x, w, c->bias, c->out_c,
                               out);
    case 4:
        return kws_avgpool_s8(&in_dims, x, out);
    default:
        return kws_fc_s8(&quant, c->multiplier[0], c->shift[0], c->in_c, x, w, c->bias, c->out_c,
                         out);
    }
}

/* Returns 1 when every sample of the case matched through the kernel (pass 1: a pointwise or
 * convolution case's packed weights). */
static int run_pass(uint32_t index, const kws_nn_case_t *c, const int8_t *w, int8_t *x, int pass)
{
    const int32_t in_size = c->n_input / c->batch;
    int32_t b, i;
    for (b = 0; b < c->batch; b++) {
        const int8_t *want = c->expected + b * c->out_size;
        memcpy(x, c->input + b * in_size, (uint32_t)in_size);
        memset(out_buf, PATTERN, (uint32_t)(c->out_size + GUARD));
        const kws_status_t status =
            call_kernel(c, c->n_weights > 0 ? w : 0, x, out_buf, pass);
        if (status != KWS_OK) {
            sh_puts("CASE ");
            sh_put_u32(index);
            sh_puts(" MISMATCH status ");
            sh_put_i32(status);
            sh_puts("\n");
            return 0;
        }
        for (i = 0; i < c->out_size + GUARD; i++) {
            const int8_t expect = i < c->out_size ? want[i] : (int8_t)PATTERN;
            if (out_buf[i] != expect) {
                sh_puts("CASE ");
                sh_put_u32(index);
                sh_puts(pass ? " MISMATCH (packed) sample " : " MISMATCH sample ");
                sh_put_u32((uint32_t)b);
                sh_puts(i < c->out_size ? " output " : " guard byte ");
                sh_put_u32((uint32_t)i);
                sh_puts(": target ");
                sh_put_i32(out_buf[i]);
                sh_puts(", golden ");
                sh_put_i32(expect);
                sh_puts("\n");
                return 0;
            }
        }
    }
    return 1;
}

/* Returns 1 when every sample of the case matched. */
static int run_case(uint32_t index, const kws_nn_case_t *c)
{
    int8_t *const w = w_buf + c->align;
    int8_t *const x = in_buf + (3 - c->align);
    int pass;
    if (c->n_weights > 0) {
        memcpy(w, c->weights, (uint32_t)c->n_weights);
    }
    for (pass = 0; pass < 1 + packed_case(c); pass++) {
        if (!run_pass(index, c, w, x, pass)) {
            return 0;
        }
    }
    sh_puts("CASE ");
    sh_put_u32(index);
    sh_puts(" OK\n");
    return 1;
}

int main(void)
{
    uint32_t i, ok = 0;
    kws_results_semihost_t file;
    const uint32_t n_cases = KWS_NN_N_CASES;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    const uint64_t dsp = 1;
#else
    const uint64_t dsp = 0;
#endif
    sh_puts(dsp ? "DSP 1\n" : "DSP 0\n");
    for (i = 0; i < KWS_NN_N_CASES; i++) {
        case_ok[i] = (uint8_t)run_case(i, &kws_nn_cases[i]);
        ok += case_ok[i];
    }
    sh_puts("CASES ");
    sh_put_u32(ok);
    sh_puts("/");
    sh_put_u32(KWS_NN_N_CASES);
    sh_puts("\n");
    if (kws_results_semihost_open(&file) != KWS_OK) {
        return 2;
    }
    (void)kws_results_u64(&file.results, "dsp", dsp);
    (void)kws_results_array(&file.results, "case_ok", KWS_RESULTS_UINT8, 1, &n_cases, case_ok);
    if (kws_results_semihost_close(&file) != KWS_OK) {
        sh_puts("ERROR writing the result file\n");
        return 2;
    }
    return ok == KWS_NN_N_CASES ? 0 : 1;
}
