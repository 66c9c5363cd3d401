/* kws_conv2d_s8: int8 convolution (kws_nn.h), mirroring kws.golden.network's conv bit for bit.
 *
 * Windows of up to KWS_CONV_COL_TAPS taps are copied for two pixels at a time (im2col, x +
 * offset, 0 for padding) and run as a 2 x 2 tile of one contiguous dot product per channel pair
 * (DSP: int16 in SMLAD order, 15 instructions per 16 MACs; portable: the two pixels packed as
 * x0 + x1 * 2^22 for SMLAL). Larger windows: conv_direct, the same tiles (kws_nn_internal.h)
 * over each kernel row's valid run of input. On the DSP path, windows of a multiple of 8 taps
 * (the DS-CNN's 10x4x1: 40; an odd count of 4-tap groups would take the tiles' slow path, so
 * 20 taps stay on im2col) go through the tile product instead (conv_tiled: chunks of 5 pixels'
 * windows unpacked once, then every output channel against them, 16 instructions per 20 MACs). */
#include "kws_nn_internal.h"

/* ---- im2col ------------------------------------------------------------------------------ *
 * Small windows (kernel_h * kernel_w * in_c <= KWS_CONV_COL_TAPS, e.g. the DS-CNN's 10x4x1) go
 * through im2col: the windows of two output pixels are copied as x + offset, 0 for the padded
 * taps, into buffers on the stack (DSP: 324 B, int16 in SMLAD order; portable: 512 B, the pair
 * packed as x0 + x1 * 2^22), and every output channel pair is then a 2 x 2 tile of one contiguous
 * dot product, padding or not. Larger windows run the direct loop (conv_direct). */

#define KWS_CONV_COL_TAPS KWS_NN_PACKED_MAX_TAPS /* 64 */

#if KWS_NN_DSP
/* im2col layout for SMLAD: per 4 taps t..t+3, pixel 0's (t, t+2) and (t+1, t+3) halfword pairs,
 * then pixel 1's: the order in which SXTB16 / SXTB16 ROR 8 unpack 4 weights. */
#define COL_INDEX(t, slot, taps) \
    (8 * ((t) >> 2) + 4 * (slot) + ((((t) & 1) << 1) | (((t) >> 1) & 1)))
typedef int8_t col_fill_t; /* the window as int8, padding = -offset (x + offset = 0) */

KWS_INLINE col_fill_t col_pad(int32_t offset)
{
    return (col_fill_t)-offset; /* in [-128, 127] */
}

KWS_INLINE col_fill_t col_value(int8_t v, int32_t offset)
{
    (void)offset; /* SXTAB16 adds it when the window is unpacked */
    return v;
}
#else /* KWS_NN_DSP */
#define COL_INDEX(t, slot, taps) ((slot) * (taps) + (t))
typedef int16_t col_fill_t; /* the window as int16 x + offset, padding = 0 */

KWS_INLINE col_fill_t col_pad(int32_t offset)
{
    (void)offset;
    return 0;
}

KWS_INLINE col_fill_t col_value(int8_t v, int32_t offset)
{
    return (col_fill_t)(v + offset);
}
#endif /* KWS_NN_DSP: im2col element */

/* The window of output pixel (oy, ox), tap after tap in the weights' order (ky, kx, ci). */
static void im2col_fill(const kws_window_t *win, const kws_dims_t *in_dims, const int8_t *input,
                        int32_t oy, int32_t ox, int32_t offset, col_fill_t *dst)
{
    const int32_t in_c = in_dims->c, kw = win->kernel_w;
    const int32_t iy0 = oy * win->stride_h - win->pad_top;
    const int32_t ix0 = ox * win->stride_w - win->pad_left;
    const col_fill_t pad = col_pad(offset);
    int32_t kx0, kx1, ky, i;
    valid_taps(ix0, kw, in_dims->w, &kx0, &kx1);
    for (ky = 0; ky < win->kernel_h; ky++) {
        const int32_t iy = iy0 + ky;
        if (iy < 0 || iy >= in_dims->h) {
            for (i = kw * in_c; i > 0; i--) {
                *dst++ = pad;
            }
            continue;
        }
        const int8_t *src = input + (iy * in_dims->w + ix0 + kx0) * in_c;
#if KWS_NN_DSP
        if (kx0 == 0 && kx1 == kw && ((kw * in_c) & 3) == 0) { /* a whole row: words */
            for (i = kw * in_c; i > 0; i -= 4, src += 4, dst += 4) {
                memcpy(dst, src, 4); /* unaligned LDR / STR */
            }
            continue;
        }
#endif /* KWS_NN_DSP: whole rows */
        for (i = kx0 * in_c; i > 0; i--) {
            *dst++ = pad;
        }
        for (i = (kx1 - kx0) * in_c; i > 0; i--) {
            *dst++ = col_value(*src++, offset);
        }
        for (i = (kw - kx1) * in_c; i > 0; i--) {
            *dst++ = pad;
        }
    }
}

#if KWS_NN_DSP

/* The pair's windows: col, int16 in SMLAD order (both pixels; word-aligned for LDM), filled from
 * one pixel's int8 window at a time. */
typedef int16_t col_t;
#define COL_LEN (2 * KWS_CONV_COL_TAPS + 8)
#define COL_ALIGN __attribute__((aligned(4)))
#define FILL_LEN (KWS_CONV_COL_TAPS + 4)

/* Output pixels p and p1 into buf->col: each pixel's window as int8, then 4 taps at a time into
 * the SMLAD layout (SXTAB16 adds the offset; the padding after the last tap becomes 0 and is
 * never used). */
KWS_INLINE void im2col_pair(const kws_window_t *window, const kws_dims_t *in_dims,
                            const int8_t *input, int32_t p, int32_t p1, int32_t out_w,
                            int32_t offset, int32_t taps, col_fill_t *fill, col_t *col)
{
    const int32_t off2 = offset2(offset);
    int32_t b, slot;
    for (slot = 0; slot < 2; slot++) {
        const int32_t q = slot ? p1 : p;
        uint32_t *dst = (uint32_t *)(void *)col + 2 * slot;
        im2col_fill(window, in_dims, input, q / out_w, q % out_w, offset, fill);
        memset(fill + taps, (int8_t)-offset, 4);
        for (b = 0; b < taps; b += 4, dst += 4) {
            const uint32_t v = load4(fill + b);
            dst[0] = (uint32_t)__sxtab16(off2, v);
            dst[1] = (uint32_t)sxtab16_ror8(off2, v);
        }
    }
}

/* acc[2p + o] += sum_t col_p[t] * w_o[t], t < taps; w_1 = w + wk. 4 taps: one LDM of the 4
 * im2col words (registers pinned in ascending order), per channel one weight word unpacked by
 * two SXTB16, 8 SMLAD: 15 instructions for 16 MACs. */
KWS_INLINE void dot_2x2_col(const col_t *col, const int8_t *w, int32_t wk, int32_t taps,
                            acc_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int32_t blocks = taps >> 2;
    int32_t t;
#if !KWS_NN_ASM
    for (t = 0; t < blocks; t++, w += 4) {
        const uint32_t *const cw = (const uint32_t *)(const void *)(col + 8 * t);
        const uint32_t ua = load4(w), ub = load4(w + wk);
        const int32_t wa02 = __sxtb16(ua), wa13 = sxtb16_ror8(ua);
        const int32_t wb02 = __sxtb16(ub), wb13 = sxtb16_ror8(ub);
        a00 = __smlad((int32_t)cw[0], wa02, a00);
        a00 = __smlad((int32_t)cw[1], wa13, a00);
        a10 = __smlad((int32_t)cw[2], wa02, a10);
        a10 = __smlad((int32_t)cw[3], wa13, a10);
        a01 = __smlad((int32_t)cw[0], wb02, a01);
        a01 = __smlad((int32_t)cw[1], wb13, a01);
        a11 = __smlad((int32_t)cw[2], wb02, a11);
        a11 = __smlad((int32_t)cw[3], wb13, a11);
    }
#else /* !KWS_NN_ASM */
    if (blocks > 0) {
        register uint32_t c0 __asm__("r8");
        register uint32_t c1 __asm__("r9");
        register uint32_t c2 __asm__("r10");
        register uint32_t c3 __asm__("r11");
        const int16_t *x = col;
        const int16_t *const end = col + 8 * blocks;
        uint32_t t0, t1;
        do {
            __asm__("ldmia  %[x]!, {%[c0], %[c1], %[c2], %[c3]}\n\t"
                    "ldr    %[t0], [%[w]], #4\n\t"
                    "sxtb16 %[t1], %[t0]\n\t"
                    "sxtb16 %[t0], %[t0], ror #8\n\t"
                    "smlad  %[a00], %[c0], %[t1], %[a00]\n\t"
                    "smlad  %[a00], %[c1], %[t0], %[a00]\n\t"
                    "smlad  %[a10], %[c2], %[t1], %[a10]\n\t"
                    "smlad  %[a10], %[c3], %[t0], %[a10]\n\t"
                    "ldr    %[t0], [%[w], %[wkm4]]\n\t"
                    "sxtb16 %[t1], %[t0]\n\t"
                    "sxtb16 %[t0], %[t0], ror #8\n\t"
                    "smlad  %[a01], %[c0], %[t1], %[a01]\n\t"
                    "smlad  %[a01], %[c1], %[t0], %[a01]\n\t"
                    "smlad  %[a11], %[c2], %[t1], %[a11]\n\t"
                    "smlad  %[a11], %[c3], %[t0], %[a11]\n\t"
                    : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                      [x] "+r"(x), [w] "+r"(w), [c0] "=&r"(c0), [c1] "=&r"(c1), [c2] "=&r"(c2),
                      [c3] "=&r"(c3), [t0] "=&r"(t0), [t1] "=&r"(t1)
                    : [wkm4] "r"(wk - 4)
                    : "memory");
        } while (x != end);
    }
#endif /* !KWS_NN_ASM */
    for (t = 4 * blocks; t < taps; t++) {
        const int32_t ca = *w, cb = w[wk];
        const int32_t va = col[COL_INDEX(t, 0, taps)], vb = col[COL_INDEX(t, 1, taps)];
        a00 = __smlabb(va, ca, a00);
        a01 = __smlabb(va, cb, a01);
        a10 = __smlabb(vb, ca, a10);
        a11 = __smlabb(vb, cb, a11);
        w++;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* Windows of at most KWS_CONV_COL_TAPS taps, a multiple of 8, take conv_tiled: the pixels in
 * chunks of at most KWS_CONV_SHORT_INPUTS window taps in all, unpacked on the stack (4 * 128 B)
 * -- a streaming step's one output row (e.g. 10 pixels of a 9x4 window, 360 taps) in one chunk,
 * a window's 25 x 5 map of 10x4 windows (40 taps) in 25 chunks of 5 pixels. */
#define KWS_CONV_SHORT_INPUTS 512

KWS_INLINE int tiled_map(int32_t n_px, int32_t taps)
{
    return n_px >= 2 && (taps & 7) == 0 && taps <= KWS_CONV_COL_TAPS;
}

/* Pixels per chunk of conv_tiled: all of them if they fit, else the most whole tiles of
 * KWS_TILE_PX pixels that fit, else the most that fit. */
KWS_INLINE int32_t conv_chunk_pixels(int32_t n_px, int32_t taps)
{
    const int32_t fit = KWS_CONV_SHORT_INPUTS / taps;
    if (n_px <= fit) {
        return n_px;
    }
    return fit >= KWS_TILE_PX ? fit - fit % KWS_TILE_PX : fit;
}

/* conv_im2col through the tile product: per chunk of pixels every pixel's window unpacked once
 * into tiles of up to KWS_TILE_PX pixels (kws_nn_internal.h: x + offset, the padding 0), then
 * per output channel its weights against each tile (tile_dot), requantised as they come. */
static void conv_tiled(const kws_window_t *window, const kws_quant_t *quant,
                       const int32_t *multiplier, const int32_t *shift,
                       const kws_dims_t *in_dims, const int8_t *input, const int8_t *weights,
                       const int32_t *packed, const int32_t *bias, const kws_dims_t *out_dims,
                       int8_t *output)
{
    uint32_t tiles[KWS_CONV_SHORT_INPUTS / 2];
    int8_t tile_px[KWS_CONV_SHORT_INPUTS / 4];     /* each tile's pixel count (taps >= 4) */
    col_fill_t fill[FILL_LEN];
    const int32_t out_w = out_dims->w, out_c = out_dims->c;
    const int32_t n_px = out_dims->h * out_w;
    const int32_t taps = window->kernel_h * window->kernel_w * in_dims->c;
    const int32_t groups = taps >> 2, px_words = taps >> 1;
    const int32_t offset = quant->input_offset, off2 = offset2(offset);
    const int32_t chunk = conv_chunk_pixels(n_px, taps);
    const out_stage_t stage = out_stage(quant);
    int32_t c0;
    for (c0 = 0; c0 < n_px; c0 += chunk) {
        const int32_t m = n_px - c0 < chunk ? n_px - c0 : chunk;
        int32_t n_tiles = 0, p0, p;
        for (p0 = 0; p0 < m; p0 += tile_px[n_tiles++]) {
            const int32_t n = tile_size(m, p0);
            tile_px[n_tiles] = (int8_t)n;
            for (p = 0; p < n; p++) {
                const int32_t q = c0 + p0 + p;
                im2col_fill(window, in_dims, input, q / out_w, q % out_w, offset, fill);
                tile_unpack_px(fill, groups, p, n, off2, tiles + p0 * px_words);
            }
        }
        if (packed != 0) { /* kws_conv2d_s8_packed's weights */
            kws_nn_tiles_times_packed(tiles, tile_px, n_tiles, taps, packed, out_c, bias,
                                      multiplier, shift, 1, stage, output + c0 * out_c);
        } else {
            kws_nn_tiles_times_weights(tiles, tile_px, n_tiles, taps, weights, out_c, bias,
                                       multiplier, shift, 1, stage, output + c0 * out_c);
        }
    }
}

#else /* KWS_NN_DSP */

/* The pair's windows: both as int16 x + offset (fill), then packed in pairs (col). */
typedef int32_t col_t;
#define COL_LEN KWS_CONV_COL_TAPS
#define COL_ALIGN
#define FILL_LEN (2 * KWS_CONV_COL_TAPS)

/* Output pixels p and p1 into buf->col: both windows as int16 x + offset, then packed in pairs:
 * col[t] = x_0 + x_1 * 2^22. */
KWS_INLINE void im2col_pair(const kws_window_t *window, const kws_dims_t *in_dims,
                            const int8_t *input, int32_t p, int32_t p1, int32_t out_w,
                            int32_t offset, int32_t taps, col_fill_t *fill, col_t *col)
{
    int32_t t;
    im2col_fill(window, in_dims, input, p / out_w, p % out_w, offset, fill);
    im2col_fill(window, in_dims, input, p1 / out_w, p1 % out_w, offset, fill + taps);
    for (t = 0; t < taps; t++) {
        col[t] = (int32_t)fill[t] + (int32_t)fill[taps + t] * (1 << 22);
    }
}

/* acc[2p + o] += sum_t x_p[t] * w_o[t] for t < taps (<= 64): col[t] = x_0[t] + x_1[t] * 2^22,
 * one SMLAL per channel and tap (see split_add). */
typedef char kws_conv_col_check[KWS_CONV_COL_TAPS <= 64 ? 1 : -1];

KWS_INLINE void dot_2x2_col(const col_t *col, const int8_t *w, int32_t wk, int32_t taps,
                            acc_t acc[4])
{
    int64_t s0 = 0, s1 = 0;
    const int32_t *xp = col;
    const int32_t *end = col + (taps & ~3);
    while (xp != end) {
        s0 += (int64_t)xp[0] * w[0];
        s1 += (int64_t)xp[0] * w[wk];
        s0 += (int64_t)xp[1] * w[1];
        s1 += (int64_t)xp[1] * w[wk + 1];
        s0 += (int64_t)xp[2] * w[2];
        s1 += (int64_t)xp[2] * w[wk + 2];
        s0 += (int64_t)xp[3] * w[3];
        s1 += (int64_t)xp[3] * w[wk + 3];
        xp += 4;
        w += 4;
    }
    for (end += taps & 3; xp != end; xp++, w++) {
        s0 += (int64_t)xp[0] * w[0];
        s1 += (int64_t)xp[0] * w[wk];
    }
    split_add(s0, &acc[0], &acc[2]);
    split_add(s1, &acc[1], &acc[3]);
}

#endif /* KWS_NN_DSP: im2col pairs and their dot products */

static void conv_im2col(const kws_window_t *window, const kws_quant_t *quant,
                        const int32_t *multiplier, const int32_t *shift,
                        const kws_dims_t *in_dims, const int8_t *input, const int8_t *weights,
                        const int32_t *bias, const kws_dims_t *out_dims, int8_t *output)
{
    col_t col[COL_LEN] COL_ALIGN;
    col_fill_t fill[FILL_LEN];
    const int32_t out_w = out_dims->w, out_c = out_dims->c;
    const int32_t n_px = out_dims->h * out_w;
    const int32_t taps = window->kernel_h * window->kernel_w * in_dims->c;
    const int32_t offset = quant->input_offset;
    const out_stage_t stage = out_stage(quant);
    int32_t p, oc;
    for (p = 0; p < n_px; p += 2) {
        /* an odd pixel count: the last pass computes its pixel twice */
        const int32_t p1 = p + 1 < n_px ? p + 1 : p;
        int8_t *const out0 = output + p * out_c, *const out1 = output + p1 * out_c;
        const int8_t *w = weights;
        im2col_pair(window, in_dims, input, p, p1, out_w, offset, taps, fill, col);
        for (oc = 0; oc < out_c; oc += 2, w += 2 * taps) {
            /* an odd channel count: the last pass computes its channel twice */
            const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
            acc_t acc[4];
            acc[0] = acc[2] = acc_init(bias[oc]);
            acc[1] = acc[3] = acc_init(bias[oc1]);
            dot_2x2_col(col, w, (oc1 - oc) * taps, taps, acc);
            out0[oc] = finish(acc_value(acc[0]), multiplier[oc], shift[oc], stage);
            out1[oc] = finish(acc_value(acc[2]), multiplier[oc], shift[oc], stage);
            if (oc1 != oc) {
                out0[oc1] = finish(acc_value(acc[1]), multiplier[oc1], shift[oc1], stage);
                out1[oc1] = finish(acc_value(acc[3]), multiplier[oc1], shift[oc1], stage);
            }
        }
    }
}

/* ---- the direct loop --------------------------------------------------------------------- */

/* For windows too large for the im2col buffer: the valid taps of each kernel row are one
 * contiguous run of input (NHWC) and of weights ([out_c][kh][kw][in_c]). */
static void conv_direct(const kws_window_t *window, const kws_quant_t *quant,
                        const int32_t *multiplier, const int32_t *shift,
                        const kws_dims_t *in_dims, const int8_t *input, const int8_t *weights,
                        const int32_t *bias, const kws_dims_t *out_dims, int8_t *output)
{
    const int32_t in_w = in_dims->w, in_c = in_dims->c;
    const int32_t kh = window->kernel_h, kw = window->kernel_w;
    const int32_t out_h = out_dims->h, out_w = out_dims->w, out_c = out_dims->c;
    const int32_t filter_size = kh * kw * in_c; /* weights of one output channel */
    const int32_t x_row = in_w * in_c, w_row = kw * in_c; /* one kernel row down */
    const int32_t x_pair = window->stride_h * x_row;    /* one output row down, in the input */
    const int32_t out_row = out_w * out_c;
    const int32_t offset = quant->input_offset;
    const out_stage_t stage = out_stage(quant);
    int32_t oy, ox, oc, pass;

    for (oy = 0; oy < out_h; oy += pass) {
        const int32_t iy = oy * window->stride_h - window->pad_top;
        int32_t ky0, ky1;
        valid_taps(iy, kh, in_dims->h, &ky0, &ky1);
        /* Two output rows per pass when the next one's window covers the same kernel rows. */
        pass = 1;
        if (oy + 1 < out_h) {
            int32_t ky0b, ky1b;
            valid_taps(iy + window->stride_h, kh, in_dims->h, &ky0b, &ky1b);
            pass = ky0b == ky0 && ky1b == ky1 ? 2 : 1;
        }
        for (ox = 0; ox < out_w; ox++) {
            const int32_t ix = ox * window->stride_w - window->pad_left;
            int32_t kx0, kx1;
            valid_taps(ix, kw, in_w, &kx0, &kx1);
            /* In NHWC the valid taps of one kernel row are one contiguous run of input, and
             * in [out_c][kh][kw][in_c] the matching weights are contiguous too. */
            const int32_t rows = ky1 - ky0, run = (kx1 - kx0) * in_c;
            const int8_t *x = input + ((iy + ky0) * in_w + ix + kx0) * in_c;
            const int8_t *w = weights + (ky0 * kw + kx0) * in_c;
            int8_t *out = output + (oy * out_w + ox) * out_c;
            for (oc = 0; oc < out_c; oc += 2, w += 2 * filter_size) {
                /* an odd channel count: the last pass computes its channel twice */
                const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
                const int32_t wk = (oc1 - oc) * filter_size;
                if (pass == 2) {
                    acc_t acc[4];
                    acc[0] = acc[2] = acc_init(bias[oc]);
                    acc[1] = acc[3] = acc_init(bias[oc1]);
                    tile_2x2(x, x_pair, w, wk, rows, run, x_row, w_row, offset, acc);
                    out[oc] = finish(acc_value(acc[0]), multiplier[oc], shift[oc], stage);
                    out[out_row + oc] = finish(acc_value(acc[2]), multiplier[oc], shift[oc], stage);
                    if (oc1 != oc) {
                        out[oc1] = finish(acc_value(acc[1]), multiplier[oc1], shift[oc1], stage);
                        out[out_row + oc1] =
                            finish(acc_value(acc[3]), multiplier[oc1], shift[oc1], stage);
                    }
                } else {
                    acc_t acc[2];
                    acc[0] = acc_init(bias[oc]);
                    acc[1] = acc_init(bias[oc1]);
                    tile_1x2(x, w, wk, rows, run, x_row, w_row, offset, acc);
                    out[oc] = finish(acc_value(acc[0]), multiplier[oc], shift[oc], stage);
                    if (oc1 != oc) {
                        out[oc1] = finish(acc_value(acc[1]), multiplier[oc1], shift[oc1], stage);
                    }
                }
            }
        }
    }
}

/* The checks both entry points make: shapes, window, quantisation, pointers, the per-channel
 * tables, and taps x output channels representable (every index below stays in int32). */
static int conv_args_ok(const kws_window_t *window, const kws_quant_t *quant,
                        const int32_t *multiplier, const int32_t *shift,
                        const kws_dims_t *in_dims, const int8_t *input, int have_weights,
                        const int32_t *bias, const kws_dims_t *out_dims, const int8_t *output)
{
    return dims_ok(in_dims) && dims_ok(out_dims) && window_ok(window, in_dims, out_dims) &&
           quant_ok(quant) && input != 0 && have_weights && output != 0 &&
           positive_product_fits(window->kernel_h, window->kernel_w, in_dims->c) &&
           positive_product_fits(window->kernel_h * window->kernel_w * in_dims->c, out_dims->c,
                                 1) &&
           channels_ok(multiplier, shift, bias, out_dims->c);
}

kws_status_t kws_conv2d_s8(const kws_window_t *window, const kws_quant_t *quant,
                           const int32_t *multiplier, const int32_t *shift,
                           const kws_dims_t *in_dims, const int8_t *input,
                           const int8_t *weights, const int32_t *bias,
                           const kws_dims_t *out_dims, int8_t *output)
{
    if (!conv_args_ok(window, quant, multiplier, shift, in_dims, input, weights != 0, bias,
                      out_dims, output)) {
        return KWS_ERR_ARG;
    }
    const int32_t taps = window->kernel_h * window->kernel_w * in_dims->c;
#if KWS_NN_DSP
    if (tiled_map(out_dims->h * out_dims->w, taps)) {
        conv_tiled(window, quant, multiplier, shift, in_dims, input, weights, 0, bias, out_dims,
                   output);
        return KWS_OK;
    }
#endif /* KWS_NN_DSP: short maps */
    if (taps <= KWS_CONV_COL_TAPS) {
        conv_im2col(window, quant, multiplier, shift, in_dims, input, weights, bias, out_dims,
                    output);
    } else {
        conv_direct(window, quant, multiplier, shift, in_dims, input, weights, bias, out_dims,
                    output);
    }
    return KWS_OK;
}

#if KWS_NN_DSP
kws_status_t kws_conv2d_s8_packed(const kws_window_t *window, const kws_quant_t *quant,
                                  const int32_t *multiplier, const int32_t *shift,
                                  const kws_dims_t *in_dims, const int8_t *input,
                                  const int32_t *weights, const int32_t *bias,
                                  const kws_dims_t *out_dims, int8_t *output)
{
    if (!conv_args_ok(window, quant, multiplier, shift, in_dims, input, weights != 0, bias,
                      out_dims, output)) {
        return KWS_ERR_ARG;
    }
    const int32_t taps = window->kernel_h * window->kernel_w * in_dims->c;
    if ((taps & 3) != 0 || taps > KWS_NN_PACKED_MAX_TAPS) {
        return KWS_ERR_ARG;
    }
    conv_tiled(window, quant, multiplier, shift, in_dims, input, 0, weights, bias, out_dims,
               output);
    return KWS_OK;
}
#endif /* KWS_NN_DSP: packed weights */
