/* Host harness for the MFCC front end: int16 clips in (raw, little-endian), int8 features out.
 *
 *   kws_mfcc_tool CLIPS.raw SAMPLES_PER_CLIP OUT.kwsr [CHUNK]
 *
 * CHUNK = 0 (default) uses kws_mfcc_clip; CHUNK > 0 feeds each clip to a fresh stream in pieces
 * of CHUNK samples (kws_mfcc_stream_push), which must give the same frames. OUT is a result file
 * (kws_results.h) holding "features", int8 [clips][frames][n_out] (frames 0 when there are no
 * clips). Exit 0 on success, 1 when a call fails or a clip gives another frame count than the
 * first, 2 on a usage or I/O error. */
#include <stdio.h>
#include <stdlib.h>

#include "kws_mfcc.h"
#include "kws_mfcc_tables.h"
#include "kws_results_file.h"

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
        fprintf(stderr, "usage: %s CLIPS.raw SAMPLES_PER_CLIP OUT.kwsr [CHUNK]\n", argv[0]);
        return 2;
    }
    const int32_t n_samples = (int32_t)atol(argv[2]);
    const int32_t chunk = argc > 4 ? (int32_t)atol(argv[4]) : 0;
    if (n_samples <= 0 || n_samples > MAX_CLIP_SAMPLES || chunk < 0) {
        fprintf(stderr, "SAMPLES_PER_CLIP must be in [1, %d] and CHUNK >= 0\n", MAX_CLIP_SAMPLES);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    kws_results_file_t out;
    if (in == NULL || fseek(in, 0, SEEK_END) != 0) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 2;
    }
    /* the clip count, for the array's dims: whole clips only, as read below */
    const long n_clips = ftell(in) / (long)(n_samples * (int32_t)sizeof(int16_t));
    if (n_clips < 0 || n_clips > (long)UINT32_MAX || fseek(in, 0, SEEK_SET) != 0 ||
        kws_results_file_open(&out, argv[3]) != KWS_OK) {
        fprintf(stderr, "cannot read %s or create %s\n", argv[1], argv[3]);
        return 2;
    }
    long clips = 0;
    int32_t first_frames = 0;
    while (clips < n_clips &&
           fread(clip, sizeof(int16_t), (size_t)n_samples, in) == (size_t)n_samples) {
        int32_t n_frames = 0;
        int failed = chunk > 0 ? features_streamed(n_samples, chunk, &n_frames)
                               : kws_mfcc_clip(&kws_mfcc_tables, clip, n_samples, scratch,
                                               features, MAX_FRAMES, &n_frames) != KWS_OK;
        if (failed) {
            fprintf(stderr, "ERROR: clip %ld: MFCC call failed\n", clips);
            return 1;
        }
        if (clips == 0) {
            const uint32_t dims[3] = {(uint32_t)n_clips, (uint32_t)n_frames, KWS_MFCC_N_OUT};
            first_frames = n_frames;
            (void)kws_results_begin(&out.results, "features", KWS_RESULTS_INT8, 3, dims);
        } else if (n_frames != first_frames) {
            fprintf(stderr, "ERROR: clip %ld: %ld frames, clip 0 gave %ld\n", clips,
                    (long)n_frames, (long)first_frames);
            return 1;
        }
        (void)kws_results_append(&out.results, features, (uint32_t)(n_frames * KWS_MFCC_N_OUT));
        clips++;
    }
    fclose(in);
    if (clips != n_clips) {
        fprintf(stderr, "ERROR: %s: read %ld of %ld clips\n", argv[1], clips, n_clips);
        return 2;
    }
    if (n_clips == 0) {
        const uint32_t dims[3] = {0, 0, KWS_MFCC_N_OUT};
        (void)kws_results_begin(&out.results, "features", KWS_RESULTS_INT8, 3, dims);
    }
    if (kws_results_file_close(&out) != KWS_OK) {
        fprintf(stderr, "ERROR: writing %s failed\n", argv[3]);
        return 2;
    }
    return 0;
}
