/* Host harness for the int8 network kernels (kws_nn.h): layer cases in, int8 outputs out.
 *
 *   kws_nn_tool CASES.bin OUT.kwsr
 *
 * CASES.bin is a sequence of cases, all little-endian, no padding. Each case:
 *
 *   int32 header[23]:
 *      0  magic 0x4E4E574B (the bytes "KWNN")
 *      1  kind: 1 conv (kws_conv2d_s8), 2 depthwise (kws_dwconv2d_s8),
 *               3 pointwise (kws_pwconv2d_s8), 4 average pool (kws_avgpool_s8), 5 fc (kws_fc_s8)
 *      2  batch: the kernel is called once per sample, same weights
 *      3  in_h    4 in_w     5 in_c           (fc: in_n = in_c; in_h, in_w unused)
 *      6  out_h   7 out_w    8 out_c          (pointwise: out_c only; fc: out_n = out_c;
 *                                              average pool: unused)
 *      9  kernel_h  10 kernel_w  11 stride_h  12 stride_w  13 pad_top  14 pad_left
 *                                             (conv and depthwise only)
 *      15 input_offset  16 output_offset  17 act_min  18 act_max     (not average pool)
 *      19 n_channels  20 n_bias  21 n_weights  22 n_input            (array lengths)
 *   int32 multiplier[n_channels], int32 shift[n_channels]  (fc: the first of each is used)
 *   int32 bias[n_bias]
 *   int8  weights[n_weights]       in the kernel's layout (kws_nn.h)
 *   int8  input[n_input]           batch samples, each as the kernel reads it
 *
 * An array of length 0 is passed to the kernel as NULL (to test its argument checks); any
 * other length must cover what the dims require. OUT is a result file (kws_results.h) with,
 * per case i, "case.<i>": int8 [batch][output size], the output size being conv/depthwise
 * out_h*out_w*out_c, pointwise in_h*in_w*out_c, average pool in_c, fc out_c.
 *
 * Exit status: 0 all cases ran; 1 a kernel returned an error status (message on stderr);
 * 2 usage, I/O or format error. Buffers are malloc'ed at their exact sizes so that ASan catches
 * any read or write outside them. */
#include <stdio.h>
#include <stdlib.h>

#include "kws_nn.h"
#include "kws_results_file.h"

#define MAGIC 0x4E4E574BL
#define HEADER_FIELDS 23
#define MAX_ARRAY (1L << 26)

enum { KIND_CONV = 1, KIND_DWCONV, KIND_PWCONV, KIND_AVGPOOL, KIND_FC };

enum {
    F_MAGIC, F_KIND, F_BATCH, F_IN_H, F_IN_W, F_IN_C, F_OUT_H, F_OUT_W, F_OUT_C,
    F_KERNEL_H, F_KERNEL_W, F_STRIDE_H, F_STRIDE_W, F_PAD_TOP, F_PAD_LEFT,
    F_INPUT_OFFSET, F_OUTPUT_OFFSET, F_ACT_MIN, F_ACT_MAX,
    F_N_CHANNELS, F_N_BIAS, F_N_WEIGHTS, F_N_INPUT
};

static const char *kind_names[] = {"?", "kws_conv2d_s8", "kws_dwconv2d_s8", "kws_pwconv2d_s8",
                                   "kws_avgpool_s8", "kws_fc_s8"};

/* Reads n little-endian int32 values whatever the host's byte order. Returns 0 on success. */
static int read_i32(FILE *f, int32_t *dst, long n)
{
    long i;
    for (i = 0; i < n; i++) {
        unsigned char b[4];
        if (fread(b, 1, 4, f) != 4) {
            return 1;
        }
        dst[i] = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                           (uint32_t)b[3] << 24);
    }
    return 0;
}

/* Product of the factors; 0 if any factor is < 1 (the kernel must then reject the call), -1 if
 * it exceeds MAX_ARRAY. */
static long need(long a, long b, long c, long d)
{
    const long f[4] = {a, b, c, d};
    long product = 1;
    int i;
    for (i = 0; i < 4; i++) {
        if (f[i] < 1) {
            return 0;
        }
    }
    for (i = 0; i < 4; i++) {
        if (f[i] > MAX_ARRAY / product) {
            return -1;
        }
        product *= f[i];
    }
    return product;
}

/* Reads an array of `count` elements (NULL if count is 0) after checking it covers `required`. */
static void *read_array(FILE *f, long count, long required, size_t size, const char *what,
                        long case_no, int *failed)
{
    void *p;
    *failed = 0;
    if (count < 0 || count > MAX_ARRAY || required < 0 || (count > 0 && count < required)) {
        fprintf(stderr, "case %ld: %s has %ld values, the dims need %ld\n", case_no, what, count,
                required);
        *failed = 1;
        return NULL;
    }
    if (count == 0) {
        return NULL;
    }
    p = malloc((size_t)count * size);
    if (p == NULL) {
        fprintf(stderr, "case %ld: out of memory\n", case_no);
        *failed = 1;
        return NULL;
    }
    if (size == sizeof(int32_t) ? read_i32(f, (int32_t *)p, count) != 0
                                : fread(p, size, (size_t)count, f) != (size_t)count) {
        fprintf(stderr, "case %ld: %s: file ends early\n", case_no, what);
        free(p);
        *failed = 1;
        return NULL;
    }
    return p;
}

/* One kernel call on one sample, the header's fields as the kernel's arguments. */
static kws_status_t call_kernel(const int32_t *h, const int32_t *multiplier, const int32_t *shift,
                                const int32_t *bias, const int8_t *weights, const int8_t *x,
                                int8_t *output)
{
    const kws_dims_t in_dims = {h[F_IN_H], h[F_IN_W], h[F_IN_C]};
    const kws_dims_t out_dims = {h[F_OUT_H], h[F_OUT_W], h[F_OUT_C]};
    const kws_window_t window = {h[F_KERNEL_H], h[F_KERNEL_W], h[F_STRIDE_H],
                                 h[F_STRIDE_W], h[F_PAD_TOP],  h[F_PAD_LEFT]};
    const kws_quant_t quant = {h[F_INPUT_OFFSET], h[F_OUTPUT_OFFSET], h[F_ACT_MIN], h[F_ACT_MAX]};
    switch (h[F_KIND]) {
    case KIND_CONV:
        return kws_conv2d_s8(&window, &quant, multiplier, shift, &in_dims, x, weights, bias,
                             &out_dims, output);
    case KIND_DWCONV:
        return kws_dwconv2d_s8(&window, &quant, multiplier, shift, &in_dims, x, weights, bias,
                               &out_dims, output);
    case KIND_PWCONV:
        return kws_pwconv2d_s8(&quant, multiplier, shift, &in_dims, x, weights, bias, h[F_OUT_C],
                               output);
    case KIND_AVGPOOL:
        return kws_avgpool_s8(&in_dims, x, output);
    default: /* KIND_FC: run_case made sure multiplier and shift hold one value */
        return kws_fc_s8(&quant, multiplier[0], shift[0], h[F_IN_C], x, weights, bias, h[F_OUT_C],
                         output);
    }
}

/* Runs one case; returns the exit status (0, 1 or 2). */
static int run_case(FILE *in, kws_results_t *out, const int32_t *h, long case_no)
{
    const int32_t kind = h[F_KIND];
    const long batch = h[F_BATCH];
    long in_size, out_size, n_channels, n_weights;
    int32_t *multiplier = NULL, *shift = NULL, *bias = NULL;
    int8_t *weights = NULL, *input = NULL, *output = NULL;
    int status = 2, failed = 0;
    long b;

    if ((long)h[F_MAGIC] != MAGIC || kind < KIND_CONV || kind > KIND_FC || batch < 1 ||
        batch > MAX_ARRAY) {
        fprintf(stderr, "case %ld: bad magic, kind (%ld) or batch (%ld)\n", case_no, (long)kind,
                batch);
        return 2;
    }
    const int fc = kind == KIND_FC;
    in_size = fc ? need(h[F_IN_C], 1, 1, 1) : need(h[F_IN_H], h[F_IN_W], h[F_IN_C], 1);
    switch (kind) {
    case KIND_CONV:
        out_size = need(h[F_OUT_H], h[F_OUT_W], h[F_OUT_C], 1);
        n_channels = need(h[F_OUT_C], 1, 1, 1);
        n_weights = need(h[F_OUT_C], h[F_KERNEL_H], h[F_KERNEL_W], h[F_IN_C]);
        break;
    case KIND_DWCONV:
        out_size = need(h[F_OUT_H], h[F_OUT_W], h[F_OUT_C], 1);
        n_channels = need(h[F_IN_C], 1, 1, 1);
        n_weights = need(h[F_KERNEL_H], h[F_KERNEL_W], h[F_IN_C], 1);
        break;
    case KIND_PWCONV:
        out_size = need(h[F_IN_H], h[F_IN_W], h[F_OUT_C], 1);
        n_channels = need(h[F_OUT_C], 1, 1, 1);
        n_weights = need(h[F_OUT_C], h[F_IN_C], 1, 1);
        break;
    case KIND_AVGPOOL:
        out_size = need(h[F_IN_C], 1, 1, 1);
        n_channels = n_weights = 0;
        break;
    default: /* KIND_FC */
        out_size = need(h[F_OUT_C], 1, 1, 1);
        n_channels = 1;
        n_weights = need(h[F_OUT_C], h[F_IN_C], 1, 1);
        break;
    }
    const long n_bias = kind == KIND_AVGPOOL ? 0 : fc ? out_size : n_channels;
    if (in_size < 0 || out_size < 0 || n_weights < 0 ||
        batch > MAX_ARRAY / (in_size + out_size + 1)) {
        fprintf(stderr, "case %ld: dims too large for the harness\n", case_no);
        return 2;
    }

    multiplier = read_array(in, h[F_N_CHANNELS], n_channels, 4, "multiplier", case_no, &failed);
    if (!failed) {
        shift = read_array(in, h[F_N_CHANNELS], n_channels, 4, "shift", case_no, &failed);
    }
    if (!failed) {
        bias = read_array(in, h[F_N_BIAS], n_bias, 4, "bias", case_no, &failed);
    }
    if (!failed) {
        weights = read_array(in, h[F_N_WEIGHTS], n_weights, 1, "weights", case_no, &failed);
    }
    if (!failed) {
        input = read_array(in, h[F_N_INPUT], batch * in_size, 1, "input", case_no, &failed);
    }
    if (!failed && fc && multiplier == NULL) {
        fprintf(stderr, "case %ld: fc needs n_channels >= 1\n", case_no);
        failed = 1;
    }
    /* Exactly the output size (at least 1 byte, so a kernel that wrongly accepts bad dims
     * writes outside it and ASan reports). */
    if (!failed && (output = malloc((size_t)(out_size > 0 ? out_size : 1))) == NULL) {
        fprintf(stderr, "case %ld: out of memory\n", case_no);
        failed = 1;
    }
    if (!failed) {
        char name[32];
        const uint32_t dims[2] = {(uint32_t)batch, (uint32_t)out_size};
        snprintf(name, sizeof name, "case.%ld", case_no);
        status = kws_results_begin(out, name, KWS_RESULTS_INT8, 2, dims) == KWS_OK ? 0 : 2;
        for (b = 0; b < batch && status == 0; b++) {
            const int8_t *x = input == NULL ? NULL : input + b * in_size;
            const kws_status_t st = call_kernel(h, multiplier, shift, bias, weights, x, output);
            if (st != KWS_OK) {
                const char *name = st == KWS_ERR_ARG    ? "KWS_ERR_ARG"
                                   : st == KWS_ERR_SIZE ? "KWS_ERR_SIZE"
                                                        : "?";
                fprintf(stderr, "ERROR: case %ld sample %ld: %s returned %d (%s)\n", case_no, b,
                        kind_names[kind], (int)st, name);
                status = 1;
            } else if (kws_results_append(out, output, (uint32_t)out_size) != KWS_OK) {
                fprintf(stderr, "case %ld: write failed\n", case_no);
                status = 2;
            }
        }
    }
    free(multiplier);
    free(shift);
    free(bias);
    free(weights);
    free(input);
    free(output);
    return status;
}

int main(int argc, char **argv)
{
    int32_t header[HEADER_FIELDS];
    long case_no = 0;
    int status = 0;
    unsigned char probe;

    if (argc != 3) {
        fprintf(stderr, "usage: %s CASES.bin OUT.kwsr\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    kws_results_file_t out;
    if (in == NULL || kws_results_file_open(&out, argv[2]) != KWS_OK) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    /* Stop cleanly at end of file; a partial header is a format error. */
    while (status == 0 && fread(&probe, 1, 1, in) == 1) {
        if (ungetc(probe, in) == EOF || read_i32(in, header, HEADER_FIELDS) != 0) {
            fprintf(stderr, "case %ld: truncated header\n", case_no);
            status = 2;
            break;
        }
        status = run_case(in, &out.results, header, case_no);
        case_no++;
    }
    fclose(in);
    if (status == 0 && kws_results_file_close(&out) != KWS_OK) {
        fprintf(stderr, "cannot write %s\n", argv[2]);
        status = 2;
    }
    return status;
}
