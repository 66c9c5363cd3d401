/* Host harness for the MFCC front end: int16 clips in, int8 features out (raw, little-endian).
 *
 *   kws_mfcc_tool CLIPS.raw SAMPLES_PER_CLIP OUT.raw [CHUNK]
 *
 * CHUNK = 0 (default) uses kws_mfcc_clip; CHUNK > 0 feeds each clip to a fresh stream in pieces
 * of CHUNK samples (kws_mfcc_stream_push), which must give the same frames. */
#include <stdio.h>
#include <stdlib.h>

#include "kws_mfcc.h"
#include "kws_mfcc_tables.h"

#define MAX_CLIP_SAMPLES (KWS_MFCC_SAMPLE_RATE * 10)
#define MAX_FRAMES (MAX_CLIP_SAMPLES / KWS_MFCC_STRIDE + 1)

static int16_t clip[MAX_CLIP_SAMPLES];
static int8_t features[MAX_FRAMES * KWS_MFCC_N_OUT];
static kws_mfcc_cell_t scratch[KWS_MFCC_SCRATCH_CELLS];
static int16_t history[KWS_MFCC_WINDOW_LEN];

static int features_streamed(int32_t n_samples, int32_t chunk, int32_t *n_frames)
{
    kws_mfcc_stream_t stream;
    int32_t pos;
    *n_frames = 0;
    if (kws_mfcc_stream_init(&stream, &kws_mfcc_tables, history, scratch) != KWS_OK) {
        return 1;
    }
    for (pos = 0; pos < n_samples; pos += chunk) {
        const int32_t n = n_samples - pos < chunk ? n_samples - pos : chunk;
        int32_t got = 0;
        if (kws_mfcc_stream_push(&stream, clip + pos, n, features + *n_frames * KWS_MFCC_N_OUT,
                                 MAX_FRAMES - *n_frames, &got) != KWS_OK) {
            return 1;
        }
        *n_frames += got;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s CLIPS.raw SAMPLES_PER_CLIP OUT.raw [CHUNK]\n", argv[0]);
        return 2;
    }
    const int32_t n_samples = (int32_t)atol(argv[2]);
    const int32_t chunk = argc > 4 ? (int32_t)atol(argv[4]) : 0;
    if (n_samples <= 0 || n_samples > MAX_CLIP_SAMPLES || chunk < 0) {
        fprintf(stderr, "SAMPLES_PER_CLIP must be in [1, %d] and CHUNK >= 0\n", MAX_CLIP_SAMPLES);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[3], "wb");
    if (in == NULL || out == NULL) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[3]);
        return 2;
    }
    long clips = 0;
    while (fread(clip, sizeof(int16_t), (size_t)n_samples, in) == (size_t)n_samples) {
        int32_t n_frames = 0;
        int failed = chunk > 0 ? features_streamed(n_samples, chunk, &n_frames)
                               : kws_mfcc_clip(&kws_mfcc_tables, clip, n_samples, scratch,
                                               features, MAX_FRAMES, &n_frames) != KWS_OK;
        if (failed) {
            fprintf(stderr, "ERROR: clip %ld: MFCC call failed\n", clips);
            return 1;
        }
        fwrite(features, 1, (size_t)n_frames * KWS_MFCC_N_OUT, out);
        clips++;
    }
    fclose(in);
    fclose(out);
    return 0;
}
