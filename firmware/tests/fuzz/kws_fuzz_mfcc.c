/* Fuzz harness: the MFCC front end's stream (kws_mfcc.h), linked with generated tables.
 *
 * An input is a stream of int16 samples cut into pushes of arbitrary lengths (0 included): per
 * push a length, a signal kind (the input's own bytes as samples, a constant, a full-scale
 * square wave, sparse impulses at either extreme, a ramp) and how many frames the output buffer
 * holds -- sometimes one too few, when kws_mfcc_stream_push must answer KWS_ERR_SIZE, consume
 * nothing and leave the output alone, and the push is then repeated with room. Sometimes a push
 * asks for an extreme sample count (up to INT32_MAX) with no room at all: KWS_ERR_SIZE, nothing
 * read. Checks: each push emits exactly the frames its window arithmetic promises, and every
 * frame equals kws_mfcc_clip's on the concatenated samples (the header's contract). Recorded:
 * "samples" (int16, the whole stream) and "features" (int8 [frames][n_out]), which
 * kws.toolchain.fuzz compares with kws.golden.mfcc. */
#include <string.h>

#include "kws_fuzz.h"
#include "kws_mfcc.h"
#include "kws_mfcc_tables.h"

/* up to 7 frames a stream: every push pattern (several frames in one push, none in many) fits,
 * and an input runs in about a millisecond under the sanitizers */
#define MAX_SAMPLES (KWS_MFCC_WINDOW_LEN + 6 * KWS_MFCC_STRIDE)
#define MAX_FRAMES (MAX_SAMPLES / KWS_MFCC_STRIDE + 1)
#define CANARY 0x5A

const char kws_fuzz_name[] = "mfcc";

static int16_t stream_samples[MAX_SAMPLES];
static int8_t streamed[MAX_FRAMES * KWS_MFCC_N_OUT + 1];
static int8_t clipped[MAX_FRAMES * KWS_MFCC_N_OUT];
static kws_mfcc_cell_t scratch[KWS_MFCC_SCRATCH_CELLS];
static int16_t history[KWS_MFCC_WINDOW_LEN];

static int32_t frames_for(int32_t n)
{
    return n < KWS_MFCC_WINDOW_LEN ? 0 : 1 + (n - KWS_MFCC_WINDOW_LEN) / KWS_MFCC_STRIDE;
}

static int16_t extreme(kws_fuzz_input_t *in)
{
    static const int16_t values[] = {32767, -32768, 0, 1, -1, 16384, -16385, 255};
    const uint8_t b = kws_fuzz_u8(in);
    return b < 128 ? values[b % 8] : (int16_t)(kws_fuzz_u8(in) | kws_fuzz_u8(in) << 8);
}

/* n samples of one kind into dst. */
static void make_signal(kws_fuzz_input_t *in, int16_t *dst, int32_t n)
{
    const uint8_t kind = kws_fuzz_u8(in) % 6;
    const int16_t a = extreme(in);
    const int32_t period = kws_fuzz_range(in, 1, 64);
    int32_t i;
    for (i = 0; i < n; i++) {
        switch (kind) {
        case 0: /* the input's bytes */
            dst[i] = (int16_t)(kws_fuzz_u8(in) | kws_fuzz_u8(in) << 8);
            break;
        case 1:
            dst[i] = a;
            break;
        case 2: /* full-scale square wave */
            dst[i] = (i / period) % 2 ? 32767 : -32768;
            break;
        case 3: /* sparse impulses */
            dst[i] = i % period == 0 ? a : 0;
            break;
        case 4: /* a ramp that wraps */
            dst[i] = (int16_t)(uint16_t)((uint32_t)a + (uint32_t)i * (uint32_t)period * 97u);
            break;
        default: /* alternating extremes */
            dst[i] = i % 2 ? a : (int16_t)(a == -32768 ? 32767 : -a);
            break;
        }
    }
}

void kws_fuzz_one(const uint8_t *data, size_t size, kws_fuzz_record_t *rec)
{
    kws_fuzz_input_t in = {data, size, 0};
    kws_mfcc_stream_t stream;
    int32_t total = 0, frames = 0, n_clip = 0, i;
    const int32_t limit = kws_fuzz_range(&in, 0, MAX_SAMPLES);

    KWS_FUZZ_CHECK(kws_mfcc_stream_init(&stream, &kws_mfcc_tables, history, scratch) == KWS_OK,
                   "stream_init failed");
    while (total < limit && kws_fuzz_left(&in) > 0) {
        const uint8_t how = kws_fuzz_u8(&in);
        const int32_t room = limit - total;
        int32_t n = how % 4 == 0 ? kws_fuzz_range(&in, 0, 8)
                    : how % 4 == 1 ? kws_fuzz_range(&in, 0, KWS_MFCC_STRIDE + 2)
                                   : kws_fuzz_range(&in, 0, 2 * KWS_MFCC_WINDOW_LEN);
        int32_t got = -1;
        n = n < room ? n : room;
        make_signal(&in, stream_samples + total, n);
        const int32_t want = frames_for(total + n) - frames_for(total);
        if ((how & 0x30) == 0x10 && want > 0) { /* one frame too few: nothing consumed */
            const int32_t filled = stream.filled;
            memset(streamed + frames * KWS_MFCC_N_OUT, CANARY, KWS_MFCC_N_OUT);
            KWS_FUZZ_CHECK(kws_mfcc_stream_push(&stream, stream_samples + total, n,
                                                streamed + frames * KWS_MFCC_N_OUT, want - 1,
                                                &got) == KWS_ERR_SIZE,
                           "push of %ld samples into room for %ld of %ld frames did not answer "
                           "KWS_ERR_SIZE", (long)n, (long)(want - 1), (long)want);
            KWS_FUZZ_CHECK(stream.filled == filled && got == 0, "a refused push consumed samples");
            for (i = 0; i < KWS_MFCC_N_OUT; i++) {
                KWS_FUZZ_CHECK(streamed[frames * KWS_MFCC_N_OUT + i] == CANARY,
                               "a refused push wrote its output");
            }
        }
        if ((how & 0x30) == 0x20) { /* an extreme count, no room: refused before any read */
            const int32_t near_max = INT32_MAX - kws_fuzz_range(&in, 0, KWS_MFCC_WINDOW_LEN);
            const int32_t huge = how & 1 ? near_max
                                         : kws_fuzz_range(&in, KWS_MFCC_WINDOW_LEN, INT32_MAX);
            const int32_t filled = stream.filled;
            KWS_FUZZ_CHECK(kws_mfcc_stream_push(&stream, stream_samples, huge, NULL, 0, &got) ==
                               KWS_ERR_SIZE && stream.filled == filled && got == 0,
                           "push of %ld samples with no room was not refused", (long)huge);
        }
        if ((how & 0xC0) == 0xC0) { /* bad arguments */
            KWS_FUZZ_CHECK(kws_mfcc_stream_push(&stream, stream_samples, -1 - (how & 7),
                                                streamed, MAX_FRAMES, &got) == KWS_ERR_ARG &&
                               kws_mfcc_stream_push(&stream, NULL, 1 + (how & 7), streamed,
                                                    MAX_FRAMES, &got) == KWS_ERR_ARG &&
                               kws_mfcc_stream_push(&stream, stream_samples, n, NULL, 1, &got) ==
                                   KWS_ERR_ARG &&
                               kws_mfcc_stream_push(&stream, stream_samples, n, streamed, 1,
                                                    NULL) == KWS_ERR_ARG,
                           "bad push arguments were not refused");
        }
        KWS_FUZZ_CHECK(kws_mfcc_stream_push(&stream, stream_samples + total, n,
                                            streamed + frames * KWS_MFCC_N_OUT,
                                            MAX_FRAMES - frames, &got) == KWS_OK,
                       "push of %ld samples failed", (long)n);
        KWS_FUZZ_CHECK(got == want, "push of %ld samples after %ld gave %ld frames, expected %ld",
                       (long)n, (long)total, (long)got, (long)want);
        total += n;
        frames += got;
        KWS_FUZZ_CHECK(stream.filled >= 0 && stream.filled < KWS_MFCC_WINDOW_LEN,
                       "stream holds %ld samples", (long)stream.filled);
    }
    { /* every input ends with the largest count and no room: refused, however full the
       * history (filled + INT32_MAX overflowed int32 before kws_mfcc.c counted in int64) */
        const int32_t filled = stream.filled;
        int32_t got = -1;
        KWS_FUZZ_CHECK(kws_mfcc_stream_push(&stream, stream_samples, INT32_MAX, NULL, 0, &got)  ==
                           KWS_ERR_SIZE &&
                           stream.filled == filled && got == 0,
                       "push of INT32_MAX samples into a stream holding %ld was not refused",
                       (long)filled);
    }
    KWS_FUZZ_CHECK(kws_mfcc_clip(&kws_mfcc_tables, stream_samples, total, scratch, clipped,
                                 MAX_FRAMES, &n_clip) == KWS_OK && n_clip == frames,
                   "clip of %ld samples: %ld frames, the stream gave %ld", (long)total,
                   (long)n_clip, (long)frames);
    for (i = 0; i < frames * KWS_MFCC_N_OUT; i++) {
        KWS_FUZZ_CHECK(streamed[i] == clipped[i], "frame %ld coefficient %ld: stream %d, clip %d",
                       (long)(i / KWS_MFCC_N_OUT), (long)(i % KWS_MFCC_N_OUT), streamed[i],
                       clipped[i]);
    }
    {
        const uint32_t sdims[1] = {(uint32_t)total};
        const uint32_t fdims[2] = {(uint32_t)frames, KWS_MFCC_N_OUT};
        kws_fuzz_put(rec, "samples", KWS_RESULTS_INT16, 1, sdims, stream_samples);
        kws_fuzz_put(rec, "features", KWS_RESULTS_INT8, 2, fdims, clipped);
    }
}
