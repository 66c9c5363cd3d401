/* Fuzz harness: every int8 kernel of kws_nn.h.
 *
 * An input picks a kernel (convolution, depthwise, pointwise, fully connected, global average
 * pool, its streaming form, max pool, windowed average pool, MEAN, ADD, softmax), small
 * dimensions (each axis TF "same" or "valid", strides, kernels larger than the input), and
 * values that favour the ends of every documented range: inputs and weights all at an extreme
 * or from the input's bytes, zero points -128 / 127, biases up to the largest that keeps every
 * partial sum in int32, multipliers 0, 2^30, 2^31 - 1, shifts from -31 up to the largest for
 * which acc * 2^shift fits int32 (kws_nn.h's caller guarantee, computed here from the
 * accumulators), any clamp. Buffers are malloc'ed at their exact sizes (ASan sees any access
 * outside them).
 *
 * Checks: with arguments in range the kernel returns KWS_OK and its output equals a plain
 * reference written here (int64 sums, kws_requantize, the clamp); softmax, which has no plain
 * form, is checked for order (a larger input never gets a smaller output) and its cut-off at
 * diff_min. About one input in eight instead breaks one argument (a NULL, an offset, clamp,
 * multiplier or shift outside its range, dims of zero or of more than INT32_MAX elements, a
 * window neither "same" nor "valid", depthwise out.c != in.c, a sum that would overflow): the
 * kernel must return KWS_ERR_ARG and leave its output untouched. Recorded (valid calls only):
 * "kind", "params" (int32, layout P_* below), "x", "x2" (ADD), "weights", "bias",
 * "multiplier", "shift", "out"; kws.toolchain.fuzz runs the golden model on them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kws_fuzz.h"
#include "kws_nn.h"
#include "kws_requantize.h"

const char kws_fuzz_name[] = "nn";

enum {
    K_CONV, K_DWCONV, K_PWCONV, K_FC, K_AVGPOOL, K_AVGPOOL_STREAM, K_MAXPOOL, K_AVGPOOL2D,
    K_MEAN, K_ADD, K_SOFTMAX, N_KINDS
};

/* params: what the golden model needs besides the arrays */
enum {
    P_IN_H, P_IN_W, P_IN_C, P_OUT_H, P_OUT_W, P_OUT_C, P_KERNEL_H, P_KERNEL_W, P_STRIDE_H,
    P_STRIDE_W, P_PAD_TOP, P_PAD_LEFT, P_INPUT_OFFSET, P_OUTPUT_OFFSET, P_ACT_MIN, P_ACT_MAX,
    P_VALID_H, P_VALID_W, /* 1: the axis is "valid" */
    P_A, P_B, P_C, P_D, P_E, P_F, P_G, P_H, P_I, /* kernel-specific: see each kernel */
    N_PARAMS
};

#define MAX_HW 12
#define MAX_C 20
#define MAX_TERM (255 * 127)
#define CANARY 0x3C

typedef struct {
    kws_fuzz_input_t in;
    int32_t p[N_PARAMS];
    int8_t *x, *x2, *w, *out;
    int32_t *bias, *mult, *shift;
    int64_t *acc;
    int8_t *ref;
    size_t nx, nw, nout, nch, nbias; /* nbias: nch, but fc: out_n */
    int breaking; /* which argument to break, 0: none */
} job_t;

/* ---- drawing values ----------------------------------------------------------------------- */

static int32_t pick(job_t *j, int32_t lo, int32_t hi)
{
    const uint8_t b = kws_fuzz_u8(&j->in);
    return b < 48 ? lo : b < 96 ? hi : kws_fuzz_range(&j->in, lo, hi);
}

static void *alloc(size_t n, size_t size)
{
    void *p = calloc(n > 0 ? n : 1, size); /* exact sizes: ASan sees any access outside */
    KWS_FUZZ_CHECK(p != NULL, "out of memory");
    return p;
}

/* int8 values in [lo, 127]: the input's bytes, one extreme everywhere, or alternating. */
static void fill_i8(job_t *j, int8_t *dst, size_t n, int32_t lo)
{
    const uint8_t kind = kws_fuzz_u8(&j->in) % 5;
    size_t i;
    for (i = 0; i < n; i++) {
        int32_t v;
        switch (kind) {
        case 0:
            v = lo;
            break;
        case 1:
            v = 127;
            break;
        case 2:
            v = i % 2 ? lo : 127;
            break;
        default:
            v = (int8_t)kws_fuzz_u8(&j->in);
            break;
        }
        dst[i] = (int8_t)(v < lo ? lo : v);
    }
}

static int32_t multiplier(job_t *j)
{
    switch (kws_fuzz_u8(&j->in) % 6) {
    case 0:
        return 0;
    case 1:
        return (int32_t)1 << 30;
    case 2:
        return INT32_MAX;
    case 3:
        return kws_fuzz_range(&j->in, 0, INT32_MAX);
    default:
        return kws_fuzz_range(&j->in, (int32_t)1 << 30, INT32_MAX);
    }
}

static int bit_length(uint64_t v)
{
    int n = 0;
    while (v) {
        n++;
        v >>= 1;
    }
    return n;
}

/* A shift in [-31, 30] for accumulators of peak magnitude `peak`, keeping peak * 2^shift in
 * int32: mostly one that brings the outputs near the int8 range. */
static int32_t shift_for(job_t *j, int64_t peak, int32_t lo)
{
    int32_t cap = 0;
    while (cap < 30 && (peak << (cap + 1)) <= INT32_MAX) {
        cap++;
    }
    if (kws_fuzz_u8(&j->in) < 160) {
        int32_t s = 7 - bit_length((uint64_t)peak) + kws_fuzz_range(&j->in, -2, 2);
        s = s < lo ? lo : s;
        return s > cap ? cap : s;
    }
    return kws_fuzz_range(&j->in, lo, cap);
}

/* One axis: in, kernel, stride, "same" or "valid" → out, pad. */
static void axis(job_t *j, int32_t in, int valid, int32_t *kernel, int32_t *stride, int32_t *out,
                 int32_t *pad)
{
    *stride = kws_fuzz_range(&j->in, 1, 4);
    *kernel = kws_fuzz_range(&j->in, 1, valid ? in : in + 3);
    if (valid) {
        *out = (in - *kernel) / *stride + 1;
        *pad = 0;
    } else {
        int32_t total;
        *out = (in + *stride - 1) / *stride;
        total = (*out - 1) * *stride + *kernel - in;
        *pad = total > 0 ? total / 2 : 0;
    }
}

static void quant(job_t *j, int relu_ok)
{
    int32_t lo, hi;
    j->p[P_INPUT_OFFSET] = pick(j, -127, 128);
    j->p[P_OUTPUT_OFFSET] = pick(j, -128, 127);
    lo = pick(j, -128, 127);
    hi = pick(j, -128, 127);
    if (lo > hi) {
        const int32_t t = lo;
        lo = hi;
        hi = t;
    }
    switch (kws_fuzz_u8(&j->in) % 4) {
    case 0:
        lo = -128;
        hi = 127;
        break;
    case 1:
        if (relu_ok) {
            lo = j->p[P_OUTPUT_OFFSET];
            hi = 127;
        }
        break;
    default:
        break;
    }
    j->p[P_ACT_MIN] = lo;
    j->p[P_ACT_MAX] = hi;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int8_t finish(const job_t *j, int64_t acc, int32_t c)
{
    const int64_t q = (int64_t)kws_requantize((int32_t)acc, j->mult[c], j->shift[c]) +
                      j->p[P_OUTPUT_OFFSET];
    return (int8_t)clamp64(q, j->p[P_ACT_MIN], j->p[P_ACT_MAX]);
}

/* ---- the weighted kernels: conv, depthwise, pointwise, fc ----------------------------------- */

/* acc [oh][ow][oc] of a convolution (depthwise: one input channel per output channel). */
static void conv_acc(job_t *j, int depthwise)
{
    const int32_t *p = j->p;
    const int32_t ic = p[P_IN_C], oc = p[P_OUT_C], kh = p[P_KERNEL_H], kw = p[P_KERNEL_W];
    int32_t oy, ox, o, ky, kx, c;
    for (oy = 0; oy < p[P_OUT_H]; oy++) {
        for (ox = 0; ox < p[P_OUT_W]; ox++) {
            for (o = 0; o < oc; o++) {
                int64_t acc = j->bias[o];
                for (ky = 0; ky < kh; ky++) {
                    const int32_t iy = oy * p[P_STRIDE_H] - p[P_PAD_TOP] + ky;
                    for (kx = 0; kx < kw; kx++) {
                        const int32_t ix = ox * p[P_STRIDE_W] - p[P_PAD_LEFT] + kx;
                        if (iy < 0 || iy >= p[P_IN_H] || ix < 0 || ix >= p[P_IN_W]) {
                            continue;
                        }
                        const int8_t *xp = j->x + ((size_t)iy * p[P_IN_W] + ix) * ic;
                        if (depthwise) {
                            acc += (int64_t)(xp[o] + p[P_INPUT_OFFSET]) *
                                   j->w[((size_t)ky * kw + kx) * oc + o];
                        } else {
                            for (c = 0; c < ic; c++) {
                                acc += (int64_t)(xp[c] + p[P_INPUT_OFFSET]) *
                                       j->w[(((size_t)o * kh + ky) * kw + kx) * ic + c];
                            }
                        }
                    }
                }
                j->acc[((size_t)oy * p[P_OUT_W] + ox) * oc + o] = acc;
            }
        }
    }
}

/* Bias, weights and input drawn; then the shifts from the accumulators and the reference. */
static void weighted(job_t *j, int32_t taps, int per_tensor)
{
    const int64_t bound = INT32_MAX - (int64_t)taps * MAX_TERM;
    const uint8_t how = kws_fuzz_u8(&j->in) % 4;
    const size_t n_pix = j->nout / (size_t)j->p[P_OUT_C];
    size_t i, c;
    for (c = 0; c < j->nbias; c++) {
        j->bias[c] = how == 0   ? 0
                     : how == 1 ? (c % 2 ? -(int32_t)bound : (int32_t)bound)
                     : how == 2 ? kws_fuzz_range(&j->in, -(int32_t)bound, (int32_t)bound)
                                : kws_fuzz_range(&j->in, -32768, 32767);
    }
    for (c = 0; c < j->nch; c++) {
        j->mult[c] = multiplier(j);
    }
    fill_i8(j, j->w, j->nw, -127);
    fill_i8(j, j->x, j->nx, -128);
    if (j->p[P_KERNEL_H] == 0) { /* fc: acc[o] */
        const int32_t in_n = j->p[P_IN_C];
        size_t o;
        for (o = 0; o < j->nout; o++) {
            int64_t acc = j->bias[o];
            for (i = 0; i < (size_t)in_n; i++) {
                acc += (int64_t)(j->x[i] + j->p[P_INPUT_OFFSET]) * j->w[o * in_n + i];
            }
            j->acc[o] = acc;
        }
    } else {
        conv_acc(j, j->p[P_A]);
    }
    for (c = 0; c < j->nch; c++) {
        int64_t peak = 0;
        for (i = 0; i < n_pix; i++) {
            const size_t k = per_tensor ? i * j->p[P_OUT_C] : i * j->p[P_OUT_C] + c;
            const int64_t a = j->acc[k] < 0 ? -j->acc[k] : j->acc[k];
            size_t o;
            peak = a > peak ? a : peak;
            for (o = 1; per_tensor && o < (size_t)j->p[P_OUT_C]; o++) {
                const int64_t b = j->acc[k + o] < 0 ? -j->acc[k + o] : j->acc[k + o];
                peak = b > peak ? b : peak;
            }
        }
        j->shift[c] = shift_for(j, peak, -31);
    }
    for (i = 0; i < j->nout; i++) {
        j->ref[i] = finish(j, j->acc[i], per_tensor ? 0 : (int32_t)(i % (size_t)j->p[P_OUT_C]));
    }
}

/* ---- the cases ---------------------------------------------------------------------------- */

/* Breaks one argument (j->breaking in 1..n) of the dims / window / quant structs; returns 1 when
 * it did (the kernel must then refuse). */
static int break_common(job_t *j, kws_dims_t *in, kws_dims_t *out, kws_window_t *win,
                        kws_quant_t *q, int32_t **mult, int32_t **shift)
{
    static const int32_t bad_shift[] = {31, -32, INT32_MAX, INT32_MIN};
    switch (j->breaking) {
    case 1:
        q->input_offset = j->in.pos % 2 ? 129 : -128;
        return 1;
    case 2:
        q->output_offset = j->in.pos % 2 ? 128 : -129;
        return 1;
    case 3:
        q->act_min = q->act_max + 1; /* above act_max (or above 127) */
        return 1;
    case 4:
        q->act_max = 128;
        return 1;
    case 5:
        if (mult != NULL) {
            (*mult)[j->in.pos % j->nch] = -1 - (int32_t)(j->in.pos % 3);
            return 1;
        }
        return 0;
    case 6:
        if (shift != NULL) {
            (*shift)[j->in.pos % j->nch] = bad_shift[j->in.pos % 4];
            return 1;
        }
        return 0;
    case 7:
        in->c = j->in.pos % 2 ? 0 : -1;
        return 1;
    case 8: /* more than INT32_MAX elements: refused before any access */
        in->h = 65536;
        in->w = 65536;
        return 1;
    case 9:
        if (out != NULL) { /* more rows than either padding gives (out + 1 may be "same") */
            out->h = in->h + 1;
            return 1;
        }
        return 0;
    case 10:
        if (win != NULL) {
            win->pad_left += 1;
            return 1;
        }
        return 0;
    case 11:
        if (win != NULL) {
            win->stride_h = 0;
            return 1;
        }
        return 0;
    case 12:
        if (win != NULL) {
            win->kernel_w = 0;
            return 1;
        }
        return 0;
    default:
        return 0;
    }
}

static void check_refused(const job_t *j, kws_status_t st, const char *what)
{
    size_t i;
    KWS_FUZZ_CHECK(st == KWS_ERR_ARG, "%s with argument %d broken returned %d, not KWS_ERR_ARG",
                   what, j->breaking, (int)st);
    for (i = 0; i < j->nout; i++) {
        KWS_FUZZ_CHECK((uint8_t)j->out[i] == CANARY, "%s refused its arguments but wrote out[%ld]",
                       what, (long)i);
    }
}

static void check_equal(const job_t *j, kws_status_t st, const char *what)
{
    size_t i;
    KWS_FUZZ_CHECK(st == KWS_OK, "%s returned %d on arguments in range", what, (int)st);
    for (i = 0; i < j->nout; i++) {
        KWS_FUZZ_CHECK(j->out[i] == j->ref[i], "%s: out[%ld] = %d, the reference gives %d", what,
                       (long)i, j->out[i], j->ref[i]);
    }
}

static void alloc_job(job_t *j, size_t nx, size_t nw, size_t nout, size_t nch, size_t nbias)
{
    j->nx = nx;
    j->nw = nw;
    j->nout = nout;
    j->nch = nch;
    j->nbias = nbias;
    j->x = alloc(nx, 1);
    j->x2 = alloc(nx, 1);
    j->w = alloc(nw, 1);
    j->out = alloc(nout, 1);
    j->ref = alloc(nout, 1);
    j->acc = alloc(nout, sizeof(int64_t));
    j->bias = alloc(j->nbias, sizeof(int32_t));
    j->mult = alloc(nch, sizeof(int32_t));
    j->shift = alloc(nch, sizeof(int32_t));
    memset(j->out, CANARY, nout);
}

static void run_weighted(job_t *j, int kind)
{
    int32_t *p = j->p;
    const int depthwise = kind == K_DWCONV;
    kws_dims_t in, out;
    kws_window_t win;
    kws_quant_t q;
    kws_status_t st;
    int32_t taps;
    p[P_IN_H] = kws_fuzz_range(&j->in, 1, kind == K_FC ? 1 : MAX_HW);
    p[P_IN_W] = kws_fuzz_range(&j->in, 1, kind == K_FC ? 1 : MAX_HW);
    p[P_IN_C] = kws_fuzz_range(&j->in, 1, kind == K_FC ? 96 : depthwise ? MAX_C + 8 : MAX_C);
    p[P_OUT_C] = depthwise ? p[P_IN_C] : kws_fuzz_range(&j->in, 1, kind == K_FC ? 24 : MAX_C);
    p[P_A] = depthwise;
    if (kind == K_CONV || kind == K_DWCONV) {
        p[P_VALID_H] = kws_fuzz_u8(&j->in) & 1;
        p[P_VALID_W] = kws_fuzz_u8(&j->in) & 1;
        axis(j, p[P_IN_H], p[P_VALID_H], &p[P_KERNEL_H], &p[P_STRIDE_H], &p[P_OUT_H],
             &p[P_PAD_TOP]);
        axis(j, p[P_IN_W], p[P_VALID_W], &p[P_KERNEL_W], &p[P_STRIDE_W], &p[P_OUT_W],
             &p[P_PAD_LEFT]);
    } else if (kind == K_PWCONV) {
        p[P_KERNEL_H] = p[P_KERNEL_W] = p[P_STRIDE_H] = p[P_STRIDE_W] = 1;
        p[P_OUT_H] = p[P_IN_H];
        p[P_OUT_W] = p[P_IN_W];
    } else { /* fc: kernel 0 marks it */
        p[P_OUT_H] = p[P_OUT_W] = 1;
    }
    quant(j, 1);
    taps = (kind == K_FC ? 1 : p[P_KERNEL_H] * p[P_KERNEL_W]) * (depthwise ? 1 : p[P_IN_C]);
    alloc_job(j, (size_t)p[P_IN_H] * p[P_IN_W] * p[P_IN_C],
              (size_t)taps * (depthwise ? p[P_IN_C] : p[P_OUT_C]),
              (size_t)p[P_OUT_H] * p[P_OUT_W] * p[P_OUT_C], kind == K_FC ? 1 : p[P_OUT_C],
              (size_t)p[P_OUT_C]);
    weighted(j, taps, kind == K_FC);

    in = (kws_dims_t){p[P_IN_H], p[P_IN_W], p[P_IN_C]};
    out = (kws_dims_t){p[P_OUT_H], p[P_OUT_W], p[P_OUT_C]};
    win = (kws_window_t){p[P_KERNEL_H], p[P_KERNEL_W], p[P_STRIDE_H], p[P_STRIDE_W],
                         p[P_PAD_TOP], p[P_PAD_LEFT]};
    q = (kws_quant_t){p[P_INPUT_OFFSET], p[P_OUTPUT_OFFSET], p[P_ACT_MIN], p[P_ACT_MAX]};
    {
        int32_t *mult = j->mult, *shift = j->shift;
        const int8_t *x = j->x, *w = j->w;
        const int32_t *bias = j->bias;
        int broken = 0;
        if (j->breaking >= 13 && j->breaking <= 17) { /* NULL pointers */
            x = j->breaking == 13 ? NULL : x;
            w = j->breaking == 14 ? NULL : w;
            bias = j->breaking == 15 ? NULL : bias;
            mult = j->breaking == 16 ? NULL : mult;
            shift = j->breaking == 17 ? NULL : shift;
            broken = 1;
        } else if (j->breaking == 18 && depthwise) {
            out.c = in.c + 1;
            broken = 1;
        } else if (j->breaking == 19 && kind == K_FC) { /* in_n 0 */
            in.c = 0;
            broken = 1;
        } else if (j->breaking > 0) {
            int32_t *m = j->mult, *s = j->shift;
            broken = break_common(j, &in, kind == K_CONV || kind == K_DWCONV ? &out : NULL,
                                  kind == K_CONV || kind == K_DWCONV ? &win : NULL, &q, &m, &s);
            if (kind == K_FC && (j->breaking == 7 || j->breaking == 8)) {
                broken = 0; /* fc takes in_n, not dims */
                in.c = p[P_IN_C];
            }
        }
        if (!broken) {
            j->breaking = 0;
        }
#ifdef KWS_FUZZ_TRACE /* -DKWS_FUZZ_TRACE: the call's arguments on stderr, to debug a finding */
        {
            int k;
            fprintf(stderr, "kind %d breaking %d params", kind, j->breaking);
            for (k = 0; k < N_PARAMS; k++) {
                fprintf(stderr, " %ld", (long)p[k]);
            }
            fprintf(stderr, "\n");
        }
#endif
        switch (kind) {
        case K_CONV:
            st = kws_conv2d_s8(&win, &q, mult, shift, &in, x, w, bias, &out, j->out);
            break;
        case K_DWCONV:
            st = kws_dwconv2d_s8(&win, &q, mult, shift, &in, x, w, bias, &out, j->out);
            break;
        case K_PWCONV:
            st = kws_pwconv2d_s8(&q, mult, shift, &in, x, w, bias, out.c, j->out);
            break;
        default:
            st = kws_fc_s8(&q, mult != NULL ? mult[0] : -1, shift != NULL ? shift[0] : 99,
                           in.c, x, w, bias, out.c, j->out);
            break;
        }
    }
    {
        static const char *const names[] = {"kws_conv2d_s8", "kws_dwconv2d_s8",
                                            "kws_pwconv2d_s8", "kws_fc_s8"};
        if (j->breaking) {
            check_refused(j, st, names[kind]);
        } else {
            check_equal(j, st, names[kind]);
        }
    }
}

/* Global average pool, its streaming form, MEAN. */
static void run_global(job_t *j, int kind)
{
    int32_t *p = j->p;
    const int32_t h = kws_fuzz_range(&j->in, 1, kind == K_AVGPOOL_STREAM ? 8 : MAX_HW + 4);
    const int32_t w = kws_fuzz_range(&j->in, 1, MAX_HW), c = kws_fuzz_range(&j->in, 1, MAX_C);
    const int32_t count = h * w;
    kws_dims_t in = {h, w, c};
    kws_status_t st = KWS_OK;
    int32_t ch, i;
    p[P_IN_H] = h;
    p[P_IN_W] = w;
    p[P_IN_C] = c;
    quant(j, 0);
    if (kind == K_AVGPOOL_STREAM) { /* rows pushed: up to three windows */
        const int32_t rows = kws_fuzz_range(&j->in, h, 3 * h);
        int32_t *sums = alloc((size_t)(h + 1) * c, sizeof(int32_t));
        int8_t *all = alloc((size_t)rows * w * c, 1);
        p[P_A] = rows;
        alloc_job(j, (size_t)h * w * c, 0, (size_t)c, 1, 1);
        fill_i8(j, all, (size_t)rows * w * c, -128);
        memset(sums, 0, (size_t)(h + 1) * c * sizeof(int32_t));
        if (j->breaking) { /* a slot outside [0, T), or T * w over 2^23 */
            kws_dims_t big = {1 << 12, (1 << 11) + 1, c};
            st = j->breaking % 2 ? kws_avgpool_stream_s8(&in, all, sums, h, j->out)
                                 : kws_avgpool_stream_s8(&big, all, sums, 0, j->out);
            check_refused(j, st, "kws_avgpool_stream_s8");
        } else {
            for (i = 0; i < rows; i++) {
                const int last = i == rows - 1;
                st = kws_avgpool_stream_s8(&in, all + (size_t)i * w * c, sums, i % h,
                                           i + 1 >= h ? j->out : NULL);
                KWS_FUZZ_CHECK(st == KWS_OK, "kws_avgpool_stream_s8 row %ld returned %d",
                               (long)i, (int)st);
                if (i + 1 >= h) { /* == the pool of the last h rows */
                    const int8_t *win = all + (size_t)(i + 1 - h) * w * c;
                    for (ch = 0; ch < c; ch++) {
                        int64_t total = 0;
                        int32_t k;
                        for (k = 0; k < count; k++) {
                            total += win[(size_t)k * c + ch];
                        }
                        total = total >= 0 ? (total + count / 2) / count
                                           : -((-total + count / 2) / count);
                        KWS_FUZZ_CHECK(j->out[ch] == (int8_t)clamp64(total, -128, 127),
                                       "kws_avgpool_stream_s8 row %ld channel %ld: %d, the "
                                       "reference gives %ld", (long)i, (long)ch, j->out[ch],
                                       (long)clamp64(total, -128, 127));
                    }
                    if (last) {
                        memcpy(j->x, win, (size_t)h * w * c);
                    }
                }
            }
        }
        free(sums);
        free(all);
        return;
    }
    alloc_job(j, (size_t)count * c, 0, (size_t)c, 1, 1);
    fill_i8(j, j->x, j->nx, -128);
    if (kind == K_MEAN) {
        int64_t peak = 255 * (int64_t)count;
        j->mult[0] = multiplier(j);
        j->shift[0] = shift_for(j, peak, -31);
        while ((peak << (j->shift[0] > 0 ? j->shift[0] : 0)) >= ((int64_t)1 << 31)) {
            j->shift[0]--;  /* kws_nn.h: 255 * h * w * 2^max(shift, 0) < 2^31 */
        }
        p[P_A] = j->mult[0];
        p[P_B] = j->shift[0];
        for (ch = 0; ch < c; ch++) {
            int64_t total = 0;
            for (i = 0; i < count; i++) {
                total += j->x[(size_t)i * c + ch] + p[P_INPUT_OFFSET];
            }
            j->ref[ch] = finish(j, total, 0);
        }
    } else {
        for (ch = 0; ch < c; ch++) {
            int64_t total = 0;
            for (i = 0; i < count; i++) {
                total += j->x[(size_t)i * c + ch];
            }
            total = total >= 0 ? (total + count / 2) / count : -((-total + count / 2) / count);
            j->ref[ch] = (int8_t)clamp64(total, -128, 127);
        }
    }
    {
        kws_quant_t q = {p[P_INPUT_OFFSET], p[P_OUTPUT_OFFSET], p[P_ACT_MIN], p[P_ACT_MAX]};
        int32_t mult = j->mult[0], shift = j->shift[0];
        const int8_t *x = j->x;
        int broken = 0;
        if (j->breaking == 13) {
            x = NULL;
            broken = 1;
        } else if (j->breaking == 8 && kind == K_AVGPOOL) { /* h * w over 2^23 */
            in.h = 1 << 12;
            in.w = (1 << 11) + 1;
            in.c = 1;
            broken = 1;
        } else if (j->breaking == 14 && kind == K_MEAN) { /* the product overflows */
            shift = 30;
            broken = 1;
        } else if (j->breaking > 0) {
            int32_t *m = &mult, *s = &shift;
            broken = break_common(j, &in, NULL, NULL, &q, kind == K_MEAN ? &m : NULL,
                                  kind == K_MEAN ? &s : NULL);
            if (kind == K_AVGPOOL && j->breaking <= 4) {
                broken = 0; /* the global pool takes no quantisation */
            }
        }
        if (!broken) {
            j->breaking = 0;
            in = (kws_dims_t){h, w, c};
        }
        st = kind == K_MEAN ? kws_mean_s8(&q, mult, shift, &in, x, j->out)
                            : kws_avgpool_s8(&in, x, j->out);
        if (j->breaking) {
            check_refused(j, st, kind == K_MEAN ? "kws_mean_s8" : "kws_avgpool_s8");
        } else {
            check_equal(j, st, kind == K_MEAN ? "kws_mean_s8" : "kws_avgpool_s8");
        }
    }
}

static void run_pool(job_t *j, int kind)
{
    int32_t *p = j->p;
    int32_t oy, ox, ch, ky, kx;
    kws_status_t st;
    p[P_IN_H] = kws_fuzz_range(&j->in, 1, MAX_HW);
    p[P_IN_W] = kws_fuzz_range(&j->in, 1, MAX_HW);
    p[P_IN_C] = p[P_OUT_C] = kws_fuzz_range(&j->in, 1, MAX_C);
    p[P_VALID_H] = p[P_VALID_W] = kws_fuzz_u8(&j->in) & 1; /* one mode: the golden pools' */
    axis(j, p[P_IN_H], p[P_VALID_H], &p[P_KERNEL_H], &p[P_STRIDE_H], &p[P_OUT_H], &p[P_PAD_TOP]);
    axis(j, p[P_IN_W], p[P_VALID_W], &p[P_KERNEL_W], &p[P_STRIDE_W], &p[P_OUT_W],
         &p[P_PAD_LEFT]);
    quant(j, 0);
    alloc_job(j, (size_t)p[P_IN_H] * p[P_IN_W] * p[P_IN_C], 0,
              (size_t)p[P_OUT_H] * p[P_OUT_W] * p[P_OUT_C], 1, 1);
    fill_i8(j, j->x, j->nx, -128);
    for (oy = 0; oy < p[P_OUT_H]; oy++) {
        for (ox = 0; ox < p[P_OUT_W]; ox++) {
            for (ch = 0; ch < p[P_IN_C]; ch++) {
                int64_t best = -129, total = 0, count = 0, v;
                for (ky = 0; ky < p[P_KERNEL_H]; ky++) {
                    const int32_t iy = oy * p[P_STRIDE_H] - p[P_PAD_TOP] + ky;
                    for (kx = 0; kx < p[P_KERNEL_W]; kx++) {
                        const int32_t ix = ox * p[P_STRIDE_W] - p[P_PAD_LEFT] + kx;
                        if (iy >= 0 && iy < p[P_IN_H] && ix >= 0 && ix < p[P_IN_W]) {
                            v = j->x[((size_t)iy * p[P_IN_W] + ix) * p[P_IN_C] + ch];
                            best = v > best ? v : best;
                            total += v;
                            count++;
                        }
                    }
                }
                KWS_FUZZ_CHECK(count > 0, "harness: an empty pool window");
                v = kind == K_MAXPOOL ? best
                    : total >= 0      ? (total + count / 2) / count
                                      : -((-total + count / 2) / count);
                j->ref[((size_t)oy * p[P_OUT_W] + ox) * p[P_IN_C] + ch] =
                    (int8_t)clamp64(v, p[P_ACT_MIN], p[P_ACT_MAX]);
            }
        }
    }
    {
        kws_dims_t in = {p[P_IN_H], p[P_IN_W], p[P_IN_C]};
        kws_dims_t out = {p[P_OUT_H], p[P_OUT_W], p[P_OUT_C]};
        kws_window_t win = {p[P_KERNEL_H], p[P_KERNEL_W], p[P_STRIDE_H], p[P_STRIDE_W],
                            p[P_PAD_TOP], p[P_PAD_LEFT]};
        kws_quant_t q = {p[P_INPUT_OFFSET], p[P_OUTPUT_OFFSET], p[P_ACT_MIN], p[P_ACT_MAX]};
        const int8_t *x = j->x;
        int broken = 0;
        if (j->breaking == 13) {
            x = NULL;
            broken = 1;
        } else if (j->breaking == 18) {
            out.c = in.c + 1;
            broken = 1;
        } else if (j->breaking > 0) {
            broken = break_common(j, &in, &out, &win, &q, NULL, NULL);
            if (j->breaking == 7) {
                out.c = in.c;
            }
        }
        if (!broken) {
            j->breaking = 0;
        }
        st = kind == K_MAXPOOL ? kws_maxpool_s8(&win, &q, &in, x, &out, j->out)
                               : kws_avgpool2d_s8(&win, &q, &in, x, &out, j->out);
        if (j->breaking) {
            check_refused(j, st, kind == K_MAXPOOL ? "kws_maxpool_s8" : "kws_avgpool2d_s8");
        } else {
            check_equal(j, st, kind == K_MAXPOOL ? "kws_maxpool_s8" : "kws_avgpool2d_s8");
        }
    }
}

static void run_add(job_t *j)
{
    int32_t *p = j->p;
    const int32_t n = kws_fuzz_range(&j->in, 1, 96);
    kws_add_params_t a;
    int32_t i;
    kws_status_t st;
    a.input1_offset = pick(j, -127, 128);
    a.input2_offset = pick(j, -127, 128);
    a.output_offset = pick(j, -128, 127);
    a.left_shift = kws_fuzz_u8(&j->in) < 192 ? 20 : kws_fuzz_range(&j->in, 0, 22);
    a.input1_multiplier = multiplier(j);
    a.input1_shift = kws_fuzz_range(&j->in, -31, 0);
    a.input2_multiplier = multiplier(j);
    a.input2_shift = kws_fuzz_range(&j->in, -31, 0);
    a.output_multiplier = multiplier(j);
    a.output_shift = kws_fuzz_range(&j->in, -31, 0);
    quant(j, 0);
    a.act_min = p[P_ACT_MIN];
    a.act_max = p[P_ACT_MAX];
    p[P_IN_C] = n;
    p[P_INPUT_OFFSET] = a.input1_offset;
    p[P_OUTPUT_OFFSET] = a.output_offset;
    p[P_A] = a.input2_offset;
    p[P_B] = a.left_shift;
    p[P_C] = a.input1_multiplier;
    p[P_D] = a.input1_shift;
    p[P_E] = a.input2_multiplier;
    p[P_F] = a.input2_shift;
    p[P_G] = a.output_multiplier;
    p[P_H] = a.output_shift;
    alloc_job(j, (size_t)n, 0, (size_t)n, 1, 1);
    fill_i8(j, j->x, j->nx, -128);
    fill_i8(j, j->x2, j->nx, -128);
    for (i = 0; i < n; i++) {
        const int32_t x1 = (j->x[i] + a.input1_offset) * ((int32_t)1 << a.left_shift);
        const int32_t x2 = (j->x2[i] + a.input2_offset) * ((int32_t)1 << a.left_shift);
        const int64_t sum =
            (int64_t)kws_requantize(x1, a.input1_multiplier, a.input1_shift) +
            kws_requantize(x2, a.input2_multiplier, a.input2_shift);
        KWS_FUZZ_CHECK(sum >= INT32_MIN && sum <= INT32_MAX, "harness: ADD's sum leaves int32");
        j->ref[i] = (int8_t)clamp64(
            (int64_t)kws_requantize((int32_t)sum, a.output_multiplier, a.output_shift) +
                a.output_offset, a.act_min, a.act_max);
    }
    if (j->breaking) {
        switch (j->breaking % 8) {
        case 0: a.input1_offset = 129; break;
        case 1: a.input2_offset = -128; break;
        case 2: a.output_offset = 128; break;
        case 3: a.left_shift = j->in.pos % 2 ? 23 : -1; break;
        case 4: a.input1_shift = 1; break;
        case 5: a.output_multiplier = -1; break;
        case 6: a.act_min = a.act_max + 1; a.act_max = a.act_min > 127 ? 128 : a.act_max; break;
        default: a.input2_shift = -32; break;
        }
        st = kws_add_s8(&a, j->breaking % 3 ? n : 0, j->x, j->x2, j->out);
        check_refused(j, st, "kws_add_s8");
        return;
    }
    check_equal(j, kws_add_s8(&a, n, j->x, j->x2, j->out), "kws_add_s8");
}

static void run_softmax(job_t *j)
{
    int32_t *p = j->p;
    const int32_t n = kws_fuzz_u8(&j->in) < 240 ? kws_fuzz_range(&j->in, 1, 64)
                                                 : kws_fuzz_range(&j->in, 1, 5000);
    const int32_t mult = multiplier(j), shift = kws_fuzz_range(&j->in, 0, 31);
    /* a difference of at least diff_min, times 2^shift, fits int32 (kws_nn.h) */
    const int32_t widest = INT32_MAX >> shift;
    const int32_t diff_min = kws_fuzz_u8(&j->in) < 128 ? -widest : -kws_fuzz_range(&j->in, 0,
                                                                                   widest);
    int32_t i, k, max = -128;
    kws_status_t st;
    p[P_IN_C] = n;
    p[P_A] = mult;
    p[P_B] = shift;
    p[P_C] = diff_min;
    alloc_job(j, (size_t)n, 0, (size_t)n, 1, 1);
    fill_i8(j, j->x, j->nx, -128);
    if (j->breaking) {
        switch (j->breaking % 5) {
        case 0: st = kws_softmax_s8(0, j->x, mult, shift, diff_min, j->out); break;
        case 1: st = kws_softmax_s8(n, j->x, -1, shift, diff_min, j->out); break;
        case 2:
            st = kws_softmax_s8(n, j->x, mult, j->in.pos % 2 ? 32 : -1, diff_min, j->out);
            break;
        case 3: st = kws_softmax_s8(n, j->x, mult, shift, 1, j->out); break;
        default: st = kws_softmax_s8(n, NULL, mult, shift, diff_min, j->out); break;
        }
        check_refused(j, st, "kws_softmax_s8");
        return;
    }
    st = kws_softmax_s8(n, j->x, mult, shift, diff_min, j->out);
    KWS_FUZZ_CHECK(st == KWS_OK, "kws_softmax_s8 returned %d on arguments in range", (int)st);
    for (i = 0; i < n; i++) {
        max = j->x[i] > max ? j->x[i] : max;
    }
    for (i = 0; i < n; i++) {
        if (j->x[i] - max < diff_min) {
            KWS_FUZZ_CHECK(j->out[i] == -128, "kws_softmax_s8: out[%ld] = %d below diff_min",
                           (long)i, j->out[i]);
        }
        for (k = 0; k < n && k < 64; k++) {
            KWS_FUZZ_CHECK(!(j->x[i] > j->x[k] && j->out[i] < j->out[k]),
                           "kws_softmax_s8: x[%ld] = %d > x[%ld] = %d but out %d < %d", (long)i,
                           j->x[i], (long)k, j->x[k], j->out[i], j->out[k]);
        }
    }
}

/* The empty input (libFuzzer runs it first; tests/test_fuzz_c.py replays it): the faults the
 * harness found, kept. Softmax over 600 equal values (its output exponent reaches 32; recorded,
 * for the golden comparison), and MEAN with a clamp or an input offset out of range. */
static void regressions(job_t *j)
{
    const kws_dims_t dims = {2, 3, 4};
    const kws_quant_t wide_clamp = {0, 0, -128, 128}, huge_offset = {INT32_MAX, 0, -128, 127};
    int32_t i;
    alloc_job(j, 600, 0, 600, 1, 1);
    memset(j->x, 127, 600);
    j->p[P_IN_C] = 600;
    j->p[P_A] = (int32_t)1 << 30;
    j->p[P_B] = 26;
    j->p[P_C] = -(INT32_MAX >> 26);
    KWS_FUZZ_CHECK(kws_softmax_s8(600, j->x, j->p[P_A], j->p[P_B], j->p[P_C], j->out) == KWS_OK,
                   "kws_softmax_s8 refused 600 classes");
    for (i = 1; i < 600; i++) {
        KWS_FUZZ_CHECK(j->out[i] == j->out[0], "kws_softmax_s8: equal inputs, unequal outputs");
    }
    KWS_FUZZ_CHECK(kws_mean_s8(&wide_clamp, 1 << 30, -1, &dims, j->x, j->out) == KWS_ERR_ARG &&
                       kws_mean_s8(&huge_offset, 1 << 30, -1, &dims, j->x, j->out) ==
                           KWS_ERR_ARG,
                   "kws_mean_s8 accepted a clamp of 128 or an input offset of INT32_MAX");
}

void kws_fuzz_one(const uint8_t *data, size_t size, kws_fuzz_record_t *rec)
{
    job_t j;
    const uint8_t head = size > 0 ? data[0] : 0;
    const int kind = size == 0 ? K_SOFTMAX : head % N_KINDS;
    memset(&j, 0, sizeof j);
    j.in = (kws_fuzz_input_t){data, size, 1};
    j.breaking = (head / N_KINDS) % 8 == 7 ? 1 + kws_fuzz_u8(&j.in) % 19 : 0;
    if (size == 0) {
        regressions(&j);
    } else {
        switch (kind) {
        case K_CONV:
        case K_DWCONV:
        case K_PWCONV:
        case K_FC:
            run_weighted(&j, kind);
            break;
        case K_AVGPOOL:
        case K_AVGPOOL_STREAM:
        case K_MEAN:
            run_global(&j, kind);
            break;
        case K_MAXPOOL:
        case K_AVGPOOL2D:
            run_pool(&j, kind);
            break;
        case K_ADD:
            run_add(&j);
            break;
        default:
            run_softmax(&j);
            break;
        }
    }
    if (!j.breaking && rec != NULL) {
        const uint32_t np[1] = {N_PARAMS}, nx[1] = {(uint32_t)j.nx}, nw[1] = {(uint32_t)j.nw};
        const uint32_t no[1] = {(uint32_t)j.nout}, nc[1] = {(uint32_t)j.nch};
        const uint32_t nb[1] = {(uint32_t)j.nbias};
        kws_fuzz_put_i64(rec, "kind", kind);
        kws_fuzz_put(rec, "params", KWS_RESULTS_INT32, 1, np, j.p);
        kws_fuzz_put(rec, "x", KWS_RESULTS_INT8, 1, nx, j.x);
        kws_fuzz_put(rec, "x2", KWS_RESULTS_INT8, 1, nx, j.x2);
        kws_fuzz_put(rec, "weights", KWS_RESULTS_INT8, 1, nw, j.w);
        kws_fuzz_put(rec, "bias", KWS_RESULTS_INT32, 1, nb, j.bias);
        kws_fuzz_put(rec, "multiplier", KWS_RESULTS_INT32, 1, nc, j.mult);
        kws_fuzz_put(rec, "shift", KWS_RESULTS_INT32, 1, nc, j.shift);
        kws_fuzz_put(rec, "out", KWS_RESULTS_INT8, 1, no, j.out);
    }
    free(j.x);
    free(j.x2);
    free(j.w);
    free(j.out);
    free(j.ref);
    free(j.acc);
    free(j.bias);
    free(j.mult);
    free(j.shift);
}
