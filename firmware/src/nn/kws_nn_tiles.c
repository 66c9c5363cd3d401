/* kws_nn_tiles_times_weights (kws_nn_internal.h): the product of unpacked input tiles and int8
 * weight rows for the kernels' short paths -- a streaming step's 1 x W pointwise rows, the fully
 * connected layer, the 1 x W maps of a streaming step's first convolution. One channel at a time
 * against each tile of up to KWS_TILE_PX pixels, 3 + 3P instructions per 4P MACs, then the
 * tile's outputs of that channel requantised from registers. DSP cores only; one copy for all
 * the kernels that use it. */
#include "kws_nn_internal.h"

#if KWS_NN_DSP

#if KWS_NN_ASM
/* One group: the channel's 4 weights, then each pixel's two words; the pixel at offset 0 comes
 * last, its LDRD stepping the tile pointer on by the group (8 * n_px bytes). */
#define TILE_W                                                                                  \
    "ldr    %[w13], [%[w]], #4\n\t"                                                             \
    "sxtb16 %[w02], %[w13]\n\t"                                                                \
    "sxtb16 %[w13], %[w13], ror #8\n\t"
#define TILE_PX(a, off)                                                                         \
    "ldrd   %[x02], %[x13], [%[xt], #" #off "]\n\t"                                             \
    "smlad  %[" #a "], %[x02], %[w02], %[" #a "]\n\t"                                           \
    "smlad  %[" #a "], %[x13], %[w13], %[" #a "]\n\t"
#define TILE_PX_LAST(a, step)                                                                   \
    "ldrd   %[x02], %[x13], [%[xt]], #" #step "\n\t"                                            \
    "smlad  %[" #a "], %[x02], %[w02], %[" #a "]\n\t"                                           \
    "smlad  %[" #a "], %[x13], %[w13], %[" #a "]\n\t"
#define TILE_G1 TILE_W TILE_PX_LAST(a0, 8)
#define TILE_G2 TILE_W TILE_PX(a1, 8) TILE_PX_LAST(a0, 16)
#define TILE_G3 TILE_W TILE_PX(a1, 8) TILE_PX(a2, 16) TILE_PX_LAST(a0, 24)
#define TILE_G4 TILE_W TILE_PX(a1, 8) TILE_PX(a2, 16) TILE_PX(a3, 24) TILE_PX_LAST(a0, 32)
#define TILE_G5 \
    TILE_W TILE_PX(a1, 8) TILE_PX(a2, 16) TILE_PX(a3, 24) TILE_PX(a4, 32) TILE_PX_LAST(a0, 40)
#define TILE_OPERANDS                                                                           \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4),               \
      [xt] "+r"(xt), [w] "+r"(w), [x02] "=&r"(x02), [x13] "=&r"(x13), [w02] "=&r"(w02),        \
      [w13] "=&r"(w13)                                                                          \
    :                                                                                           \
    : "memory"
/* groups (>= 1) of GROUP, two per iteration */
#define TILE_LOOP(GROUP)                                                                        \
    do {                                                                                        \
        if (groups & 1) {                                                                       \
            __asm__(GROUP TILE_OPERANDS);                                                       \
        }                                                                                       \
        while (w != w_end) {                                                                    \
            __asm__(GROUP GROUP TILE_OPERANDS);                                                 \
        }                                                                                       \
    } while (0)
#endif /* KWS_NN_ASM */

/* acc[p] += sum over 4 * groups taps of tile pixel p's inputs times the channel's weights w, for
 * p < n_px (1..KWS_TILE_PX); groups >= 1. */
KWS_INLINE void tile_dot(const uint32_t *xt, const int8_t *w, int32_t groups, int32_t n_px,
                         acc_t acc[KWS_TILE_PX])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4];
#if KWS_NN_ASM
    const int8_t *const w_end = w + 4 * groups;
    uint32_t x02, x13, w02, w13;
    switch (n_px) {
    case 1: TILE_LOOP(TILE_G1); break;
    case 2: TILE_LOOP(TILE_G2); break;
    case 3: TILE_LOOP(TILE_G3); break;
    case 4: TILE_LOOP(TILE_G4); break;
    default: TILE_LOOP(TILE_G5); break;
    }
#else /* KWS_NN_ASM */
    int32_t g, p;
    int32_t a[KWS_TILE_PX];
    a[0] = a0; a[1] = a1; a[2] = a2; a[3] = a3; a[4] = a4;
    for (g = 0; g < groups; g++, w += 4, xt += 2 * n_px) {
        const uint32_t v = load4(w);
        const int32_t w02 = __sxtb16(v), w13 = sxtb16_ror8(v);
        for (p = 0; p < n_px; p++) {
            a[p] = __smlad((int32_t)xt[2 * p], w02, a[p]);
            a[p] = __smlad((int32_t)xt[2 * p + 1], w13, a[p]);
        }
    }
    a0 = a[0]; a1 = a[1]; a2 = a[2]; a3 = a[3]; a4 = a[4];
#endif /* KWS_NN_ASM */
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    acc[4] = a4;
}

/* dst[p * step] = finish_usual(acc[p]) for p < n_px (1..KWS_TILE_PX): a tile's outputs of one
 * channel. Constant indices only, so that a tile's accumulators stay in registers from
 * tile_dot to here. */
KWS_INLINE void tile_finish_usual(const acc_t acc[KWS_TILE_PX], int32_t n_px, int32_t multiplier,
                                  int32_t e1, int32_t high, int32_t zero, int8_t *dst,
                                  int32_t step)
{
    dst[0] = finish_usual(acc[0], multiplier, e1, high, zero);
    if (n_px > 1) {
        dst[step] = finish_usual(acc[1], multiplier, e1, high, zero);
    }
    if (n_px > 2) {
        dst[2 * step] = finish_usual(acc[2], multiplier, e1, high, zero);
    }
    if (n_px > 3) {
        dst[3 * step] = finish_usual(acc[3], multiplier, e1, high, zero);
    }
    if (n_px > 4) {
        dst[4 * step] = finish_usual(acc[4], multiplier, e1, high, zero);
    }
}

#if KWS_NN_ASM
/* One tile of KWS_TILE_PX pixels against channels [0, n_oc) of w (k = 4 groups each) whose
 * requantisation is finish_usual (shift <= -2; the stage full_range), each channel's five
 * outputs requantised from registers; a channel of another shift goes through requant_run.
 * The whole channel loop in one function keeps its constants in registers: a pointwise
 * layer's window map is such tiles (matmul_tiled), one after another. */
/* One group of a 5-pixel tile with LDM: pixels 0 and 1, then 2 and 3, in one LDM each (their
 * words pinned to r8-r11, ascending for LDM), pixel 4 by LDRD: 16 instructions for 20 MACs. */
#define TILE5_LDM_GROUP TILE5_LDM_GROUP_W(TILE_W)
/* The weights of a group as kws_pwconv2d_s8_packed's two int16 pairs: one LDRD. */
#define TILE_W16 "ldrd   %[w02], %[w13], [%[w]], #8\n\t"
#define TILE5_LDM_GROUP_W(WLOAD)                                                                \
    WLOAD                                                                                       \
    "ldmia  %[xt]!, {%[p0], %[p1], %[p2], %[p3]}\n\t"                                          \
    "smlad  %[a0], %[p0], %[w02], %[a0]\n\t"                                                   \
    "smlad  %[a0], %[p1], %[w13], %[a0]\n\t"                                                   \
    "smlad  %[a1], %[p2], %[w02], %[a1]\n\t"                                                   \
    "smlad  %[a1], %[p3], %[w13], %[a1]\n\t"                                                   \
    "ldmia  %[xt]!, {%[p0], %[p1], %[p2], %[p3]}\n\t"                                          \
    "smlad  %[a2], %[p0], %[w02], %[a2]\n\t"                                                   \
    "smlad  %[a2], %[p1], %[w13], %[a2]\n\t"                                                   \
    "smlad  %[a3], %[p2], %[w02], %[a3]\n\t"                                                   \
    "smlad  %[a3], %[p3], %[w13], %[a3]\n\t"                                                   \
    "ldrd   %[p0], %[p1], [%[xt]], #8\n\t"                                                     \
    "smlad  %[a4], %[p0], %[w02], %[a4]\n\t"                                                   \
    "smlad  %[a4], %[p1], %[w13], %[a4]\n\t"
#define TILE5_LDM_OPERANDS                                                                      \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4),               \
      [xt] "+r"(xt), [w] "+r"(w), [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2),              \
      [p3] "=&r"(p3), [w02] "=&r"(w02), [w13] "=&r"(w13)                                        \
    :                                                                                           \
    : "memory"

/* finish_usual of accumulator a into the byte at out, out += step: with m (p0), e1 (p1), high
 * (p2), the zero point (p3), out (xt), step (w02) in registers, lo and hi temporaries. */
#define TILE5_FINISH(a, hi)                                                                     \
    "and    %[w13], %[" a "], #0x80000000\n\t"                                                  \
    "orr    %[w13], %[w13], #0x40000000\n\t"                                                    \
    "add    %[" hi "], %[p2], %[" a "], asr #31\n\t"                                            \
    "smlal  %[w13], %[" hi "], %[" a "], %[p0]\n\t"                                             \
    "asr    %[" hi "], %[" hi "], %[p1]\n\t"                                                    \
    "qadd   %[" hi "], %[" hi "], %[p3]\n\t"                                                    \
    "ssat   %[" hi "], #8, %[" hi "]\n\t"                                                       \
    "strb   %[" hi "], [%[xt]]\n\t"                                                             \
    "add    %[xt], %[xt], %[w02]\n\t"

/* One output channel of a 5-pixel tile whose requantisation is finish_usual, bias to bytes in
 * one asm block (so that no value of the channel loop waits in a spilled register around it):
 * the accumulators from the bias, the groups two at a time (an even count: TILE5_LDM_GROUP),
 * then the five outputs, n_oc apart. The loop end, the bias, the requantisation constants and
 * the output address come from memory; a4 waits in memory while its register is a temporary. */
#define TILE5_CHANNEL TILE5_CHANNEL_W(TILE5_LDM_GROUP)
#define TILE5_CHANNEL_W(GROUP)                                                                  \
    "ldr    %[a0], %[b]\n\t"                                                                    \
    "mov    %[a1], %[a0]\n\t"                                                                   \
    "mov    %[a2], %[a0]\n\t"                                                                   \
    "mov    %[a3], %[a0]\n\t"                                                                   \
    "mov    %[a4], %[a0]\n\t"                                                                   \
    "1:\n\t" GROUP GROUP                                                                        \
    "ldr    %[w02], %[wend]\n\t"                                                                \
    "cmp    %[w], %[w02]\n\t"                                                                   \
    "bne    1b\n\t"                                                                             \
    "ldr    %[p0], %[m]\n\t"                                                                    \
    "ldr    %[p1], %[sh]\n\t"                                                                   \
    "mvn    %[p1], %[p1]\n\t"                   /* e1 = -shift - 1 */                          \
    "sub    %[p2], %[p1], #1\n\t"                                                               \
    "mov    %[w13], #1\n\t"                                                                     \
    "lsl    %[p2], %[w13], %[p2]\n\t"           /* high = 2^(e1 - 1) */                        \
    "ldr    %[p3], %[zero]\n\t"                                                                 \
    "ldr    %[xt], %[out]\n\t"                                                                  \
    "ldr    %[w02], %[step]\n\t"                                                                \
    "str    %[a4], %[spill]\n\t"                                                                \
    TILE5_FINISH("a0", "a4") TILE5_FINISH("a1", "a4") TILE5_FINISH("a2", "a4")                  \
    TILE5_FINISH("a3", "a4")                                                                    \
    "ldr    %[a0], %[spill]\n\t"                                                                \
    TILE5_FINISH("a0", "a4")

/* tile5_times_weights_usual for an even group count, each usual channel in TILE5_CHANNEL; packed:
 * the weights are kws_pwconv2d_s8_packed's int16 pairs (w: their bytes). */
static void tile5_times_weights_even(const uint32_t *tile, int32_t groups, const int8_t *w,
                                     int packed, int32_t n_oc, const int32_t *bias,
                                     const int32_t *multiplier, const int32_t *shift,
                                     int32_t rq, out_stage_t stage, int8_t *out)
{
    const int32_t zero = stage.offset, k = (packed ? 8 : 4) * groups; /* bytes per channel */
    int32_t o;
    for (o = 0; o < n_oc; o++, out++) {
        const int32_t b = bias[o], m = multiplier[o * rq], sh = shift[o * rq];
        const uint32_t *xt = tile;
        const int8_t *const w_end = w + k;
        register uint32_t p0 __asm__("r8");
        register uint32_t p1 __asm__("r9");
        register uint32_t p2 __asm__("r10");
        register uint32_t p3 __asm__("r11");
        uint32_t w02, w13;
        int32_t a0, a1, a2, a3, a4, spill;
#define TILE5_CHANNEL_OPERANDS                                                                  \
    : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4),          \
      [xt] "+r"(xt), [w] "+r"(w), [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2),              \
      [p3] "=&r"(p3), [w02] "=&r"(w02), [w13] "=&r"(w13), [spill] "=m"(spill)                  \
    : [b] "m"(b), [wend] "m"(w_end), [m] "m"(m), [sh] "m"(sh), [zero] "m"(zero),                \
      [out] "m"(out), [step] "m"(n_oc)                                                          \
    : "cc", "memory"
        if (KWS_LIKELY(sh <= -2) && packed) {
            __asm__ volatile(TILE5_CHANNEL_W(TILE5_LDM_GROUP_W(TILE_W16)) TILE5_CHANNEL_OPERANDS);
        } else if (KWS_LIKELY(sh <= -2)) {
            __asm__ volatile(TILE5_CHANNEL TILE5_CHANNEL_OPERANDS);
        } else {
            a0 = a1 = a2 = a3 = a4 = b;
            do {
                if (packed) {
                    __asm__(TILE5_LDM_GROUP_W(TILE_W16) TILE5_LDM_OPERANDS);
                } else {
                    __asm__(TILE5_LDM_GROUP TILE5_LDM_OPERANDS);
                }
            } while (w != w_end);
            const acc_t acc[KWS_TILE_PX] = {a0, a1, a2, a3, a4};
            requant_run(acc, KWS_TILE_PX, m, sh, stage, out, n_oc);
        }
    }
}

static void tile5_times_weights_usual(const uint32_t *tile, int32_t groups, const int8_t *w,
                                      int32_t n_oc, const int32_t *bias,
                                      const int32_t *multiplier, const int32_t *shift,
                                      int32_t rq, out_stage_t stage, int8_t *out)
{
    const int32_t zero = stage.offset, k = 4 * groups;
    int32_t o;
    for (o = 0; o < n_oc; o++, out++) {
        const int32_t b = bias[o], m = multiplier[o * rq], sh = shift[o * rq];
        int32_t a0 = b, a1 = b, a2 = b, a3 = b, a4 = b;
        const uint32_t *xt = tile;
        const int8_t *const w_end = w + k;
        register uint32_t p0 __asm__("r8");
        register uint32_t p1 __asm__("r9");
        register uint32_t p2 __asm__("r10");
        register uint32_t p3 __asm__("r11");
        uint32_t w02, w13;
        do {
            __asm__(TILE5_LDM_GROUP TILE5_LDM_OPERANDS);
        } while (w != w_end);
        if (KWS_LIKELY(sh <= -2)) {
            const int32_t e1 = -sh - 1, high = (int32_t)1 << (e1 - 1);
            out[0] = finish_usual(a0, m, e1, high, zero);
            out[n_oc] = finish_usual(a1, m, e1, high, zero);
            out[2 * n_oc] = finish_usual(a2, m, e1, high, zero);
            out[3 * n_oc] = finish_usual(a3, m, e1, high, zero);
            out[4 * n_oc] = finish_usual(a4, m, e1, high, zero);
        } else {
            const acc_t acc[KWS_TILE_PX] = {a0, a1, a2, a3, a4};
            requant_run(acc, KWS_TILE_PX, m, sh, stage, out, n_oc);
        }
    }
}
#endif /* KWS_NN_ASM */

void kws_nn_tiles_times_weights(const uint32_t *tiles, const int8_t *tile_px, int32_t n_tiles,
                                int32_t k, const int8_t *w, int32_t n_oc, const int32_t *bias,
                                const int32_t *multiplier, const int32_t *shift, int32_t rq,
                                out_stage_t stage, int8_t *out)
{
    const int32_t groups = k >> 2, px_words = k >> 1;
    const int usual = full_range(stage);
    int32_t o, t;
#if KWS_NN_ASM
    for (t = 0; t < n_tiles && tile_px[t] == KWS_TILE_PX; t++) {
    }
    if (t == n_tiles && usual) { /* tiles of five, one after another */
        for (t = 0; t < n_tiles; t++) {
            const uint32_t *const tile = tiles + t * KWS_TILE_PX * px_words;
            int8_t *const dst = out + t * KWS_TILE_PX * n_oc;
            if ((groups & 1) == 0) {
                tile5_times_weights_even(tile, groups, w, 0, n_oc, bias, multiplier, shift,
                                         rq, stage, dst);
            } else {
                tile5_times_weights_usual(tile, groups, w, n_oc, bias, multiplier, shift, rq,
                                          stage, dst);
            }
        }
        return;
    }
#endif /* KWS_NN_ASM: tiles of five */
    for (o = 0; o < n_oc; o++, w += k) {
        const int32_t b = bias[o], m = multiplier[o * rq], sh = shift[o * rq];
        const uint32_t *xt = tiles;
        int8_t *dst = out + o;
        for (t = 0; t < n_tiles; t++) {
            const int32_t n = tile_px[t];
            acc_t acc[KWS_TILE_PX] = {b, b, b, b, b};
            tile_dot(xt, w, groups, n, acc);
            if (KWS_LIKELY(usual && sh <= -2)) { /* requantised in place: finish_usual */
                const int32_t e1 = -sh - 1, high = (int32_t)1 << (e1 - 1);
                tile_finish_usual(acc, n, m, e1, high, stage.offset, dst, n_oc);
            } else {
                requant_run(acc, n, m, sh, stage, dst, n_oc);
            }
            xt += n * px_words;
            dst += n * n_oc;
        }
    }
}

/* acc[p] += tile pixel p's inputs times a channel's packed weights w (2 words per group). */
static void tile_dot_packed(const uint32_t *xt, const int32_t *w, int32_t groups, int32_t n_px,
                            acc_t acc[KWS_TILE_PX])
{
    int32_t g, p;
    for (g = 0; g < groups; g++, w += 2, xt += 2 * n_px) {
        const int32_t w02 = w[0], w13 = w[1];
        for (p = 0; p < n_px; p++) {
            acc[p] = __smlad((int32_t)xt[2 * p], w02, acc[p]);
            acc[p] = __smlad((int32_t)xt[2 * p + 1], w13, acc[p]);
        }
    }
}

void kws_nn_tiles_times_packed(const uint32_t *tiles, const int8_t *tile_px, int32_t n_tiles,
                               int32_t k, const int32_t *w, int32_t n_oc, const int32_t *bias,
                               const int32_t *multiplier, const int32_t *shift, int32_t rq,
                               out_stage_t stage, int8_t *out)
{
    const int32_t groups = k >> 2, px_words = k >> 1;
    int32_t o, t;
#if KWS_NN_ASM
    for (t = 0; t < n_tiles && tile_px[t] == KWS_TILE_PX; t++) {
    }
    if (t == n_tiles && full_range(stage) && (groups & 1) == 0) { /* as the int8 weights' */
        for (t = 0; t < n_tiles; t++) {
            tile5_times_weights_even(tiles + t * KWS_TILE_PX * px_words, groups,
                                     (const int8_t *)(const void *)w, 1, n_oc, bias,
                                     multiplier, shift, rq, stage,
                                     out + t * KWS_TILE_PX * n_oc);
        }
        return;
    }
#endif /* KWS_NN_ASM: tiles of five */
    for (o = 0; o < n_oc; o++, w += k >> 1) {
        const int32_t b = bias[o], m = multiplier[o * rq], sh = shift[o * rq];
        const uint32_t *xt = tiles;
        int8_t *dst = out + o;
        for (t = 0; t < n_tiles; t++) {
            const int32_t n = tile_px[t];
            acc_t acc[KWS_TILE_PX] = {b, b, b, b, b};
            tile_dot_packed(xt, w, groups, n, acc);
            requant_run(acc, n, m, sh, stage, dst, n_oc);
            xt += n * px_words;
            dst += n * n_oc;
        }
    }
}

#else /* KWS_NN_DSP */

/* ISO C forbids an empty translation unit. */
typedef int kws_nn_tiles_unused;

#endif /* KWS_NN_DSP */
