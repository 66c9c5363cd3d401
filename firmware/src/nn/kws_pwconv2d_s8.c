/* kws_pwconv2d_s8 and kws_fc_s8: int8 pointwise (1x1) convolution and fully connected layer
 * (kws_nn.h), one matrix product, mirroring kws.golden.network bit for bit.
 *
 * matmul_s8: output channel pairs outer, pixel pairs inner (each loaded input serves 2 channels,
 * each weight 2 pixels). DSP: the pair's weights unpacked once into SMLAD order, then per 4 taps
 * one LDM of the weights, one LDR + 2 SXTB16 per pixel and 8 SMLAD: 15 instructions for 16 MACs.
 * A run of at most KWS_MM_CHUNK pixels gets the weight sums (for the input offset) with the
 * unpacking, and its odd pixel one LDR + 2 SXTB16 + 4 SMLAD per 4 taps.
 * Portable: the pair's weights packed as w0 + w1 * 2^22, so that one 32 x 32 -> 64-bit
 * multiply-accumulate (SMLAL) per pixel and tap does both channels' MACs (split_add). A fully
 * connected layer is the product for one pixel. */
#include "kws_nn_internal.h"

/* offset * sum of w[0..n), modulo 2^32. */
static uint32_t offset_times_sum(const int8_t *w, int32_t n, int32_t offset)
{
    uint32_t sum = 0;
    int32_t i;
    for (i = 0; i < n; i++) {
        sum += (uint32_t)(int32_t)w[i];
    }
    return sum * (uint32_t)offset;
}

/* taps per weight packing: 64 words on the stack (DSP: 2 x 64 int16; portable: 64 int32) */
#define KWS_PW_KCHUNK 64

/* pixels per requantisation run: 2 x 32 accumulators on the stack */
#define KWS_MM_CHUNK 32

#if KWS_NN_DSP

typedef uint32_t mm_packed_t; /* two channels x KWS_PW_KCHUNK taps as int16 */

/* The weights of two output channels (rows w and w + wk), taps [0, n) with n % 4 == 0, unpacked
 * once into int16 pairs in SMLAD order: per 4 taps, channel 0's (t, t+2), (t+1, t+3), then
 * channel 1's. sums[o] += the sum of channel o's n weights (SMLAD of the unpacked pairs with
 * (1, 1): |sum| <= 128 n, exact). */
static void pack_weights_2(const int8_t *w, int32_t wk, int32_t n, uint32_t *dst, int32_t sums[2])
{
    const int32_t ones = 0x00010001;
    int32_t s0 = sums[0], s1 = sums[1];
    int32_t t;
    for (t = 0; t < n; t += 4, dst += 4) {
        const uint32_t ua = load4(w + t), ub = load4(w + wk + t);
        const int32_t a02 = __sxtb16(ua), a13 = sxtb16_ror8(ua);
        const int32_t b02 = __sxtb16(ub), b13 = sxtb16_ror8(ub);
        dst[0] = (uint32_t)a02;
        dst[1] = (uint32_t)a13;
        dst[2] = (uint32_t)b02;
        dst[3] = (uint32_t)b13;
        s0 = __smlad(a02, ones, s0);
        s0 = __smlad(a13, ones, s0);
        s1 = __smlad(b02, ones, s1);
        s1 = __smlad(b13, ones, s1);
    }
    sums[0] = s0;
    sums[1] = s1;
}

/* acc[o] += sum_t x[t] * w_o[t] for t < n (n % 4 == 0): one pixel against the two channels'
 * weights packed by pack_weights_2; per 4 taps one LDR + 2 SXTB16, 4 SMLAD (the odd pixel of a
 * run). */
KWS_INLINE void dot_1x2_packed(const int8_t *x, const uint32_t *wp, int32_t n, acc_t acc[2])
{
    int32_t a0 = acc[0], a1 = acc[1];
    const int8_t *const end = x + n;
    for (; x != end; x += 4, wp += 4) {
        const uint32_t v = load4(x);
        const int32_t x02 = __sxtb16(v), x13 = sxtb16_ror8(v);
        a0 = __smlad(x02, (int32_t)wp[0], a0);
        a0 = __smlad(x13, (int32_t)wp[1], a0);
        a1 = __smlad(x02, (int32_t)wp[2], a1);
        a1 = __smlad(x13, (int32_t)wp[3], a1);
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* 4 taps of dot_2x2_packed: one LDM of the 4 unpacked weight words, per pixel one word of inputs
 * and two SXTB16, 8 SMLAD: 15 instructions for 16 MACs. */
#define KWS_DOT_PACKED_4TAPS                                                                    \
    "ldmia  %[wp]!, {%[w0], %[w1], %[w2], %[w3]}\n\t"                                           \
    "ldr    %[xv], [%[x]], #4\n\t"                                                              \
    "sxtb16 %[x02], %[xv]\n\t"                                                                  \
    "sxtb16 %[xv], %[xv], ror #8\n\t"                                                           \
    "smlad  %[a00], %[x02], %[w0], %[a00]\n\t"                                                  \
    "smlad  %[a00], %[xv], %[w1], %[a00]\n\t"                                                   \
    "smlad  %[a01], %[x02], %[w2], %[a01]\n\t"                                                  \
    "smlad  %[a01], %[xv], %[w3], %[a01]\n\t"                                                   \
    "ldr    %[xv], [%[x], %[km4]]\n\t"                                                          \
    "sxtb16 %[x02], %[xv]\n\t"                                                                  \
    "sxtb16 %[xv], %[xv], ror #8\n\t"                                                           \
    "smlad  %[a10], %[x02], %[w0], %[a10]\n\t"                                                  \
    "smlad  %[a10], %[xv], %[w1], %[a10]\n\t"                                                   \
    "smlad  %[a11], %[x02], %[w2], %[a11]\n\t"                                                  \
    "smlad  %[a11], %[xv], %[w3], %[a11]\n\t"

/* acc[2p + o] += sum_t x_p[t] * w_o[t] for t < n (n % 4 == 0, n >= 4): pixels x and x + k, the
 * two channels' weights packed by pack_weights_2. The four weight registers are pinned in
 * ascending order for LDM. */
#if !KWS_NN_ASM
KWS_INLINE void dot_2x2_packed(const int8_t *x, int32_t k, const uint32_t *wp, int32_t n,
                               acc_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int8_t *const end = x + n;
    for (; x != end; x += 4, wp += 4) {
        const int32_t w0 = (int32_t)wp[0], w1 = (int32_t)wp[1];
        const int32_t w2 = (int32_t)wp[2], w3 = (int32_t)wp[3];
        uint32_t v = load4(x);
        a00 = __smlad(__sxtb16(v), w0, a00);
        a00 = __smlad(sxtb16_ror8(v), w1, a00);
        a01 = __smlad(__sxtb16(v), w2, a01);
        a01 = __smlad(sxtb16_ror8(v), w3, a01);
        v = load4(x + k);
        a10 = __smlad(__sxtb16(v), w0, a10);
        a10 = __smlad(sxtb16_ror8(v), w1, a10);
        a11 = __smlad(__sxtb16(v), w2, a11);
        a11 = __smlad(sxtb16_ror8(v), w3, a11);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}
#else /* !KWS_NN_ASM */
KWS_INLINE void dot_2x2_packed(const int8_t *x, int32_t k, const uint32_t *wp, int32_t n,
                               acc_t acc[4])
{
    register uint32_t w0 __asm__("r8");
    register uint32_t w1 __asm__("r9");
    register uint32_t w2 __asm__("r10");
    register uint32_t w3 __asm__("r11");
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    uint32_t xv, x02;
    if (n & 4) {
        __asm__(KWS_DOT_PACKED_4TAPS
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                  [x] "+r"(x), [wp] "+r"(wp), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2),
                  [w3] "=&r"(w3), [xv] "=&r"(xv), [x02] "=&r"(x02)
                : [km4] "r"(k - 4)
                : "memory");
    }
    if (n >= 8) {
        const int8_t *const end = x + (n & ~7);
        do {
            __asm__(KWS_DOT_PACKED_4TAPS KWS_DOT_PACKED_4TAPS
                    : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                      [x] "+r"(x), [wp] "+r"(wp), [w0] "=&r"(w0), [w1] "=&r"(w1),
                      [w2] "=&r"(w2), [w3] "=&r"(w3), [xv] "=&r"(xv), [x02] "=&r"(x02)
                    : [km4] "r"(k - 4)
                    : "memory");
        } while (x != end);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}
#endif /* !KWS_NN_ASM */

/* Rows of 4k channels, k*4 <= KWS_PW_SHORT_INPUTS, take matmul_tiled: the pixels in chunks of at
 * most KWS_PW_SHORT_INPUTS inputs, unpacked on the stack (4 * 160 B) -- a streaming step's 1 x 5
 * rows of 64 channels (320 inputs) in one chunk, a window's 25 x 5 map in 25 chunks of 5 pixels,
 * a fully connected layer's one pixel. */
#define KWS_PW_SHORT_INPUTS (4 * KWS_NN_PACKED_MAX_IN) /* 512 */

KWS_INLINE int tiled_rows(int32_t k)
{
    return (k & 3) == 0 && 4 * k <= KWS_PW_SHORT_INPUTS;
}

/* Pixels per chunk of matmul_tiled: all of them if they fit, else the most whole tiles of
 * KWS_TILE_PX pixels that fit (tile_size then cuts none smaller), else the most that fit. */
KWS_INLINE int32_t chunk_pixels(int32_t n_px, int32_t k)
{
    const int32_t fit = KWS_PW_SHORT_INPUTS / k;
    if (n_px <= fit) {
        return n_px;
    }
    return fit >= KWS_TILE_PX ? fit - fit % KWS_TILE_PX : fit;
}

/* matmul_s8 for rows of tiled_rows: per chunk of pixels the inputs unpacked once
 * (tile_unpack_px, x + offset), then per output channel its weights against each tile of up to
 * KWS_TILE_PX pixels (tile_dot, 3 + 3P instructions per 4P MACs), requantised as they come. */
static void matmul_tiled(const int8_t *x, int32_t n_px, int32_t k, const int8_t *w,
                         const int32_t *packed, int32_t n_oc, const int32_t *bias,
                         const int32_t *multiplier, const int32_t *shift, int32_t rq,
                         int32_t offset, out_stage_t stage, int8_t *out)
{
    uint32_t tiles[KWS_PW_SHORT_INPUTS / 2];
    int8_t tile_px[KWS_PW_SHORT_INPUTS / 4];      /* each tile's pixel count (k >= 4) */
    const int32_t groups = k >> 2, off2 = offset2(offset), px_words = k >> 1;
    const int32_t chunk = chunk_pixels(n_px, k);
    int32_t c0;
    for (c0 = 0; c0 < n_px; c0 += chunk) {
        const int32_t m = n_px - c0 < chunk ? n_px - c0 : chunk;
        int32_t n_tiles = 0, p0, p;
        for (p0 = 0; p0 < m; p0 += tile_px[n_tiles++]) {
            const int32_t n = tile_size(m, p0);
            tile_px[n_tiles] = (int8_t)n;
            for (p = 0; p < n; p++) {
                tile_unpack_px(x + (c0 + p0 + p) * k, groups, p, n, off2,
                               tiles + p0 * px_words);
            }
        }
        if (packed != 0) { /* kws_pwconv2d_s8_packed's weights */
            kws_nn_tiles_times_packed(tiles, tile_px, n_tiles, k, packed, n_oc, bias, multiplier,
                                      shift, rq, stage, out + c0 * n_oc);
        } else {
            kws_nn_tiles_times_weights(tiles, tile_px, n_tiles, k, w, n_oc, bias, multiplier,
                                       shift, rq, stage, out + c0 * n_oc);
        }
    }
}

#else /* KWS_NN_DSP */

typedef int32_t mm_packed_t; /* two channels x KWS_PW_KCHUNK taps, w0 + w1 * 2^22 */

/* split_add's bound: at most 128 products of an int8 x and a weight */
typedef char kws_pw_chunk_check[KWS_PW_KCHUNK <= 128 ? 1 : -1];

/* s0 += sum x[t] * W[t], s1 += sum x[k + t] * W[t] for t < n: two pixels, k apart. */
KWS_INLINE void dot_pair_2px(const int8_t *x, int32_t k, const int32_t *wp, int32_t n,
                             int64_t *s0, int64_t *s1)
{
    int64_t a = *s0, b = *s1;
    const int8_t *end = x + (n & ~3);
    while (x != end) {
        b += (int64_t)x[k] * wp[0];
        a += (int64_t)x[0] * wp[0];
        b += (int64_t)x[k + 1] * wp[1];
        a += (int64_t)x[1] * wp[1];
        b += (int64_t)x[k + 2] * wp[2];
        a += (int64_t)x[2] * wp[2];
        b += (int64_t)x[k + 3] * wp[3];
        a += (int64_t)x[3] * wp[3];
        x += 4;
        wp += 4;
    }
    for (end += n & 3; x != end; x++, wp++) {
        b += (int64_t)x[k] * wp[0];
        a += (int64_t)x[0] * wp[0];
    }
    *s0 = a;
    *s1 = b;
}

#endif /* KWS_NN_DSP: matrix product tiles */

/* out[p * n_oc + o] = finish(bias[o] + sum_i (x[p * k + i] + offset) * w[o * k + i]) for
 * pixels p < n_px and channels o < n_oc; the requantisation of channel o is multiplier[o * rq],
 * shift[o * rq] (rq = 1: per channel; 0: per tensor). Channel pairs outer, with their weights
 * (unpacked or packed per KWS_PW_KCHUNK taps) and bias + offset * sum(w) hoisted (the sums are
 * modulo 2^32, so folding the offset into the bias is exact and the inner loop is a pure
 * int8 x int8 dot product; a single pixel, fully connected, adds the offset to its inputs
 * instead); pixel pairs inner, their accumulators collected for KWS_MM_CHUNK pixels and then
 * requantised channel by channel. */
static void matmul_s8(const int8_t *x, int32_t n_px, int32_t k, const int8_t *w, int32_t n_oc,
                      const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                      int32_t rq, int32_t offset, out_stage_t stage, int8_t *out)
{
    acc_t runs[2][KWS_MM_CHUNK];
    mm_packed_t packed[KWS_PW_KCHUNK];
    int32_t o, p0, p;
    for (o = 0; o < n_oc; o += 2) {
        /* an odd channel count: the last pass computes its channel twice */
        const int32_t o1 = o + 1 < n_oc ? o + 1 : o;
        const int8_t *const w0 = w + o * k;
        const int32_t wk = (o1 - o) * k;
        /* one pixel (fully connected): the offset is added to the inputs instead */
        const int32_t off1 = n_px > 1 ? 0 : offset;
#if KWS_NN_DSP
        /* one run of >= 2 pixels (e.g. a streaming step's rows): the weight sums come with the
         * unpacking instead of a pass of their own */
        const int32_t sums_packed = n_px > 1 && n_px <= KWS_MM_CHUNK;
#else
        const int32_t sums_packed = 0;
#endif
        const int32_t separate = n_px > 1 && !sums_packed;
        const acc_t b0 = acc_add(acc_init(bias[o]), separate ? offset_times_sum(w0, k, offset) : 0);
        const acc_t b1 =
            acc_add(acc_init(bias[o1]), separate ? offset_times_sum(w0 + wk, k, offset) : 0);
        for (p0 = 0; p0 < n_px; p0 += KWS_MM_CHUNK) {
            const int32_t n = n_px - p0 < KWS_MM_CHUNK ? n_px - p0 : KWS_MM_CHUNK;
#if KWS_NN_DSP
            /* DSP: the taps in blocks of 4 with the weights unpacked once per KWS_PW_KCHUNK
             * taps, then the last k % 4 taps */
            const int32_t k4 = k & ~3;
            int32_t kc, t;
            int32_t sums[2] = {0, 0};
            for (p = 0; p < n; p++) {
                runs[0][p] = b0;
                runs[1][p] = b1;
            }
            for (kc = 0; kc < k4; kc += KWS_PW_KCHUNK) {
                const int32_t len = k4 - kc < KWS_PW_KCHUNK ? k4 - kc : KWS_PW_KCHUNK;
                const int8_t *xp = x + p0 * k + kc;
                if (n >= 2) { /* unpacking pays off from one pixel pair on */
                    pack_weights_2(w0 + kc, wk, len, packed, sums);
                }
                for (p = 0; p + 2 <= n; p += 2, xp += 2 * k) {
                    acc_t acc[4];
                    acc[0] = runs[0][p];
                    acc[1] = runs[1][p];
                    acc[2] = runs[0][p + 1];
                    acc[3] = runs[1][p + 1];
                    dot_2x2_packed(xp, k, packed, len, acc);
                    runs[0][p] = acc[0];
                    runs[1][p] = acc[1];
                    runs[0][p + 1] = acc[2];
                    runs[1][p + 1] = acc[3];
                }
                if (p < n) { /* an odd pixel count leaves one */
                    acc_t acc[2];
                    acc[0] = runs[0][p];
                    acc[1] = runs[1][p];
                    if (n >= 2) { /* the weights are unpacked (and off1 is 0) */
                        dot_1x2_packed(xp, packed, len, acc);
                    } else {
                        tile_1x2(xp, w0 + kc, wk, 1, len, 0, 0, off1, acc);
                    }
                    runs[0][p] = acc[0];
                    runs[1][p] = acc[1];
                }
            }
            for (t = k4; t < k; t++) {
                const int32_t ca = w0[t], cb = w0[wk + t];
                sums[0] += ca;
                sums[1] += cb;
                for (p = 0; p < n; p++) {
                    const int32_t v = x[(p0 + p) * k + t] + off1;
                    runs[0][p] = __smlabb(v, ca, runs[0][p]);
                    runs[1][p] = __smlabb(v, cb, runs[1][p]);
                }
            }
            if (sums_packed) { /* bias + offset * sum(w), modulo 2^32 as offset_times_sum */
                const uint32_t f0 = (uint32_t)sums[0] * (uint32_t)offset;
                const uint32_t f1 = (uint32_t)sums[1] * (uint32_t)offset;
                for (p = 0; p < n; p++) {
                    runs[0][p] = acc_add(runs[0][p], f0);
                    runs[1][p] = acc_add(runs[1][p], f1);
                }
            }
#else /* KWS_NN_DSP */
            /* Two channels per multiply: W = w0 + w1 * 2^22 (exact in int32), and for one pixel
             * S = sum x * W = L + H * 2^22 in int64, L = sum x * w0, H = sum x * w1 (see
             * split_add); one 32 x 32 -> 64-bit multiply-accumulate (SMLAL) does 2 MACs. */
            int32_t kc, t;
            for (p = 0; p < n; p++) {
                runs[0][p] = b0;
                runs[1][p] = b1;
            }
            for (kc = 0; kc < k; kc += KWS_PW_KCHUNK) {
                const int32_t len = k - kc < KWS_PW_KCHUNK ? k - kc : KWS_PW_KCHUNK;
                const int8_t *xp = x + p0 * k + kc;
                if (n < 2) { /* one pixel (fully connected): plain products */
                    acc_t acc[2];
                    acc[0] = runs[0][0];
                    acc[1] = runs[1][0];
                    tile_1x2(xp, w0 + kc, wk, 1, len, 0, 0, off1, acc);
                    runs[0][0] = acc[0];
                    runs[1][0] = acc[1];
                    continue;
                }
                for (t = 0; t < len; t++) {
                    packed[t] = (int32_t)w0[kc + t] + (int32_t)w0[wk + kc + t] * (1 << 22);
                }
                for (p = 0; p + 2 <= n; p += 2, xp += 2 * k) {
                    int64_t s0 = 0, s1 = 0;
                    dot_pair_2px(xp, k, packed, len, &s0, &s1);
                    split_add(s0, &runs[0][p], &runs[1][p]);
                    split_add(s1, &runs[0][p + 1], &runs[1][p + 1]);
                }
                if (p < n) { /* an odd pixel count leaves one */
                    int64_t s0 = 0;
                    for (t = 0; t < len; t++) {
                        s0 += (int64_t)xp[t] * packed[t];
                    }
                    split_add(s0, &runs[0][p], &runs[1][p]);
                }
            }
#endif /* KWS_NN_DSP: the chunk's products */
            requant_run(runs[0], n, multiplier[o * rq], shift[o * rq], stage,
                        out + p0 * n_oc + o, n_oc);
            if (o1 != o) {
                requant_run(runs[1], n, multiplier[o1 * rq], shift[o1 * rq], stage,
                            out + p0 * n_oc + o1, n_oc);
            }
        }
    }
}

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
#if KWS_NN_DSP
    if (tiled_rows(in_dims->c)) {
        matmul_tiled(input, in_dims->h * in_dims->w, in_dims->c, weights, 0, out_c, bias,
                     multiplier, shift, 1, quant->input_offset, out_stage(quant), output);
        return KWS_OK;
    }
#endif /* KWS_NN_DSP: short rows */
    matmul_s8(input, in_dims->h * in_dims->w, in_dims->c, weights, out_c, bias, multiplier, shift,
              1, quant->input_offset, out_stage(quant), output);
    return KWS_OK;
}

#if KWS_NN_DSP
kws_status_t kws_pwconv2d_s8_packed(const kws_quant_t *quant, const int32_t *multiplier,
                                    const int32_t *shift, const kws_dims_t *in_dims,
                                    const int8_t *input, const int32_t *weights,
                                    const int32_t *bias, int32_t out_c, int8_t *output)
{
    if (!dims_ok(in_dims) || !quant_ok(quant) || input == 0 || weights == 0 || output == 0 ||
        !positive_product_fits(in_dims->h, in_dims->w, out_c) ||
        !tiled_rows(in_dims->c) ||
        !channels_ok(multiplier, shift, bias, out_c)) {
        return KWS_ERR_ARG;
    }
    matmul_tiled(input, in_dims->h * in_dims->w, in_dims->c, 0, weights, out_c, bias,
                 multiplier, shift, 1, quant->input_offset, out_stage(quant), output);
    return KWS_OK;
}
#endif /* KWS_NN_DSP: packed weights */

/* ---- fully connected: the same product for one pixel ------------------------------------- */

kws_status_t kws_fc_s8(const kws_quant_t *quant, int32_t multiplier, int32_t shift,
                       int32_t in_n, const int8_t *input, const int8_t *weights,
                       const int32_t *bias, int32_t out_n, int8_t *output)
{
    if (!quant_in_range(quant) || !requant_ok(multiplier, shift) || input == 0 || weights == 0 ||
        bias == 0 || output == 0 || !positive_product_fits(in_n, out_n, 1)) {
        return KWS_ERR_ARG;
    }
    /* one pixel of in_n values times [out_n][in_n]; one multiplier and shift for all */
#if KWS_NN_DSP
    if (tiled_rows(in_n)) {
        matmul_tiled(input, 1, in_n, weights, 0, out_n, bias, &multiplier, &shift, 0,
                     quant->input_offset, out_stage(quant), output);
        return KWS_OK;
    }
#endif /* KWS_NN_DSP: short rows */
    matmul_s8(input, 1, in_n, weights, out_n, bias, &multiplier, &shift, 0, quant->input_offset,
              out_stage(quant), output);
    return KWS_OK;
}
