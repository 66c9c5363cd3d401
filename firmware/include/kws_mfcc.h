/* Fixed-point MFCC front end: int16 PCM in, int8 features out.
 *
 * The numpy golden model kws/mfcc_fixed.py defines every integer this code produces; the steps,
 * Q formats and rounding are documented there and mirrored step by step in src/kws_mfcc.c.
 * Tables come from Python (kws.mfcc_tables → kws_mfcc_tables.c/.h): this library knows no
 * particular window, FFT length or band count. No heap; the caller owns every buffer.
 */
#ifndef KWS_MFCC_H
#define KWS_MFCC_H

#include <stdint.h>

#include "kws_status.h"

/* Constant tables and settings, generated (see kws/mfcc_tables.py for each format). */
typedef struct {
    int32_t window_len;        /* samples per frame, <= fft_len */
    int32_t stride;            /* samples between frame starts, in [1, window_len] */
    int32_t fft_len;           /* N, a power of two in [16, 4096] */
    int32_t n_mels;
    int32_t n_out;             /* int8 outputs per frame */
    int32_t norm_bits;         /* frames normalised to |v| <= 2^norm_bits before the FFT */
    int32_t power_shift;       /* |X|^2 >> power_shift, rounded */
    int32_t log_offset;
    int32_t log_floor_q11;     /* ln(floor) in Q11 */
    int32_t out_multiplier;    /* Q31, CMSIS-NN requantisation of the Q15 outputs */
    int32_t out_shift;
    int32_t out_zero_point;
    const int16_t *window_q15;         /* [window_len] */
    const int32_t *fft_twiddle_q15;    /* [fft_len/4][2] re, im; Q15 in [-32768, 32768] */
    const int32_t *split_twiddle_q15;  /* [fft_len/2 + 1][2] re, im; Q15 in [-32768, 32768] */
    const uint16_t *bitrev;            /* [fft_len/2] */
    const int16_t *mel_first_bin;      /* [n_mels] */
    const int16_t *mel_n_bins;         /* [n_mels] */
    const int16_t *mel_weights_q15;    /* packed, sum of mel_n_bins */
    const int32_t *log2_lut_q16;       /* [129] */
    const int16_t *dct_q15;            /* [n_out][n_mels], or NULL for log-mel output */
} kws_mfcc_tables_t;

/* One scratch cell: a complex int32 FFT value, later a 64-bit power or a log value in its place
 * (how kws_mfcc.c lays them out inside is its own business). 8-byte aligned (int64 member). */
typedef union {
    struct {
        int32_t re;
        int32_t im;
    } c;
    int64_t v;
} kws_mfcc_cell_t;

/* Scratch cells a frame needs: fft_len/2 + 1 spectrum cells, then n_mels energy cells. */
#define KWS_MFCC_SCRATCH_CELLS_FOR(fft_len, n_mels) ((fft_len) / 2 + 1 + (n_mels))

/* One frame: frame [window_len] int16 → out [n_out] int8. scratch: SCRATCH_CELLS cells. */
kws_status_t kws_mfcc_frame(const kws_mfcc_tables_t *tables, const int16_t *frame,
                            kws_mfcc_cell_t *scratch, int8_t *out);

/* Whole clip: frames start every stride samples while a full window fits.
 * out: [max_frames][n_out]; *n_frames receives 1 + (n_samples - window_len) / stride
 * (0 when n_samples < window_len). KWS_ERR_SIZE if max_frames is smaller. */
kws_status_t kws_mfcc_clip(const kws_mfcc_tables_t *tables, const int16_t *pcm,
                           int32_t n_samples, kws_mfcc_cell_t *scratch, int8_t *out,
                           int32_t max_frames, int32_t *n_frames);

/* Streaming: push any number of samples; a frame is emitted each time a window completes, so
 * the frames equal kws_mfcc_clip's on the concatenated samples. The stream keeps the last
 * window_len - stride samples itself (in history, which it owns while in use). */
typedef struct {
    const kws_mfcc_tables_t *tables;
    int16_t *history;          /* [window_len], caller-provided */
    kws_mfcc_cell_t *scratch;  /* caller-provided */
    int32_t filled;            /* valid samples in history */
} kws_mfcc_stream_t;

kws_status_t kws_mfcc_stream_init(kws_mfcc_stream_t *stream, const kws_mfcc_tables_t *tables,
                                  int16_t *history, kws_mfcc_cell_t *scratch);

/* out: [max_frames][n_out]. KWS_ERR_SIZE, with nothing consumed, if the samples would complete
 * more than max_frames frames. */
kws_status_t kws_mfcc_stream_push(kws_mfcc_stream_t *stream, const int16_t *samples,
                                  int32_t n_samples, int8_t *out, int32_t max_frames,
                                  int32_t *n_frames);

#endif /* KWS_MFCC_H */
