/* Host harness of the verify stage: the generated model and the wake-word loop, driven by files.
 *
 *   kws_verify_tool clips  CLIPS.raw SAMPLES_PER_CLIP OUT.kwsr
 *       per int16 clip: kws_mfcc_clip → int8 features [F][n_out] → kws_model_invoke → logits;
 *       OUT: "features" int8 [clips][F][n_out], "logits" int8 [clips][n_classes]
 *   kws_verify_tool trace  FEATURES.raw OUT.kwsr
 *       one int8 input [F][n_out] through the model; OUT: "layer.<i>" int8 [bytes], every
 *       layer's output (KWS_MODEL_TRACE_HOOK=kws_verify_trace)
 *   kws_verify_tool stream PCM.raw CHUNK OUT.kwsr
 *       the wake-word loop over an int16 stream fed CHUNK samples at a time; OUT: "events"
 *       uint32 [detections][3] (frame_index, label, score), "frames", "inferences", "detections"
 * Inputs are raw little-endian, without headers; OUT is a result file (kws_results.h). Exit 0 on
 * success, 1 on a kernel or loop error, 2 on a usage or I/O error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kws_app.h"
#include "kws_mfcc_tables.h"
#include "kws_model.h"
#include "kws_results_file.h"

#define FEATURES_LEN (KWS_MODEL_INPUT_FRAMES * KWS_MODEL_INPUT_COEFFS)
#define MAX_CLIP_SAMPLES (KWS_MFCC_SAMPLE_RATE * 10)
#define STREAM_CHUNK_MAX 16384
#define MAX_EVENTS (1 << 16)

static int16_t clip[MAX_CLIP_SAMPLES];
static int8_t features[MAX_CLIP_SAMPLES / KWS_MFCC_STRIDE + 1][KWS_MFCC_N_OUT];
static kws_mfcc_cell_t scratch[KWS_MFCC_SCRATCH_CELLS];
static int16_t chunk[STREAM_CHUNK_MAX];
static uint32_t events[MAX_EVENTS][3];
static uint32_t n_events;
static kws_results_t *trace_out;

void kws_verify_trace(int layer, const int8_t *data, int bytes);

/* Called by the generated kws_model_invoke after each layer (-DKWS_MODEL_TRACE_HOOK=kws_verify_trace). */
void kws_verify_trace(int layer, const int8_t *data, int bytes)
{
    if (trace_out != NULL) {
        char name[32];
        const uint32_t dims[1] = {(uint32_t)bytes};
        snprintf(name, sizeof name, "layer.%d", layer);
        (void)kws_results_array(trace_out, name, KWS_RESULTS_INT8, 1, dims, data);
    }
}

/* The whole clips in `in` (file size / clip size); -1 if it cannot tell. */
static long count_records(FILE *in, long record_bytes)
{
    long size;
    if (fseek(in, 0, SEEK_END) != 0 || (size = ftell(in)) < 0 || fseek(in, 0, SEEK_SET) != 0) {
        return -1;
    }
    return size / record_bytes;
}

static int run_clips(const char *clips_path, long n_samples, const char *out_path)
{
    FILE *in = fopen(clips_path, "rb");
    kws_results_file_t out;
    int8_t *all_logits;
    long index = 0;
    const long n_clips = in == NULL ? -1 : count_records(in, n_samples * (long)sizeof(int16_t));
    if (n_clips < 0 || n_clips > (long)UINT32_MAX ||
        (all_logits = malloc((size_t)(n_clips > 0 ? n_clips : 1) * KWS_MODEL_N_CLASSES)) == NULL ||
        kws_results_file_open(&out, out_path) != KWS_OK) {
        fprintf(stderr, "ERROR: cannot read %s or create %s\n", clips_path, out_path);
        return 2;
    }
    {
        const uint32_t dims[3] = {(uint32_t)n_clips, KWS_MODEL_INPUT_FRAMES,
                                  KWS_MODEL_INPUT_COEFFS};
        (void)kws_results_begin(&out.results, "features", KWS_RESULTS_INT8, 3, dims);
    }
    while (index < n_clips &&
           fread(clip, sizeof(int16_t), (size_t)n_samples, in) == (size_t)n_samples) {
        int8_t logits[KWS_MODEL_N_CLASSES];
        int32_t n_frames = 0;
        kws_status_t status = kws_mfcc_clip(&kws_mfcc_tables, clip, (int32_t)n_samples, scratch,
                                            &features[0][0], (int32_t)(sizeof features /
                                                                       sizeof features[0]),
                                            &n_frames);
        if (status != KWS_OK || n_frames != KWS_MODEL_INPUT_FRAMES) {
            fprintf(stderr, "ERROR: clip %ld: kws_mfcc_clip status %d, %ld frames (want %d)\n",
                    index, (int)status, (long)n_frames, KWS_MODEL_INPUT_FRAMES);
            return 1;
        }
        status = kws_model_invoke(&features[0][0], logits);
        if (status != KWS_OK) {
            fprintf(stderr, "ERROR: clip %ld: kws_model_invoke status %d\n", index, (int)status);
            return 1;
        }
        (void)kws_results_append(&out.results, &features[0][0], FEATURES_LEN);
        memcpy(all_logits + index * KWS_MODEL_N_CLASSES, logits, KWS_MODEL_N_CLASSES);
        index++;
    }
    fclose(in);
    if (index != n_clips) {
        fprintf(stderr, "ERROR: %s: read %ld of %ld clips\n", clips_path, index, n_clips);
        return 2;
    }
    {
        const uint32_t dims[2] = {(uint32_t)n_clips, KWS_MODEL_N_CLASSES};
        (void)kws_results_array(&out.results, "logits", KWS_RESULTS_INT8, 2, dims, all_logits);
    }
    free(all_logits);
    if (kws_results_file_close(&out) != KWS_OK) {
        fprintf(stderr, "ERROR: writing %s failed\n", out_path);
        return 2;
    }
    return 0;
}

static int run_trace(const char *features_path, const char *out_path)
{
    FILE *in = fopen(features_path, "rb");
    int8_t input[FEATURES_LEN];
    int8_t logits[KWS_MODEL_N_CLASSES];
    kws_results_file_t out;
    if (in == NULL || count_records(in, FEATURES_LEN) != 1 ||
        fread(input, 1, FEATURES_LEN, in) != FEATURES_LEN) {
        fprintf(stderr, "ERROR: %s must hold one input of %d int8\n", features_path,
                FEATURES_LEN);
        return 2;
    }
    fclose(in);
    if (kws_results_file_open(&out, out_path) != KWS_OK) {
        fprintf(stderr, "ERROR: cannot create %s\n", out_path);
        return 2;
    }
    trace_out = &out.results;
    const kws_status_t status = kws_model_invoke(input, logits);
    trace_out = NULL;
    if (status != KWS_OK) {
        fprintf(stderr, "ERROR: kws_model_invoke failed\n");
        return 1;
    }
    if (kws_results_file_close(&out) != KWS_OK) {
        fprintf(stderr, "ERROR: writing %s failed\n", out_path);
        return 2;
    }
    return 0;
}

/* Keeps an event for the result file; past MAX_EVENTS only counts it (run_stream then fails). */
static void write_event(const kws_detection_t *event, void *user)
{
    (void)user;
    if (n_events < MAX_EVENTS) {
        events[n_events][0] = event->frame_index;
        events[n_events][1] = (uint32_t)event->label;
        events[n_events][2] = (uint32_t)event->score;
    }
    n_events++;
}

static int run_stream(const char *pcm_path, long chunk_len, const char *out_path)
{
    FILE *in = fopen(pcm_path, "rb");
    kws_results_file_t out;
    size_t got;
    if (in == NULL) {
        fprintf(stderr, "ERROR: cannot open %s\n", pcm_path);
        return 2;
    }
    if (kws_app_init(write_event, NULL) != KWS_OK) {
        fprintf(stderr, "ERROR: the wake-word loop rejected its settings\n");
        return 1;
    }
    while ((got = fread(chunk, sizeof(int16_t), (size_t)chunk_len, in)) > 0) {
        if (kws_app_feed(chunk, (int32_t)got) != KWS_OK) {
            fprintf(stderr, "ERROR: the wake-word loop failed\n");
            return 1;
        }
    }
    fclose(in);
    if (n_events > MAX_EVENTS) {
        fprintf(stderr, "ERROR: %lu detections, more than the harness keeps (%d)\n",
                (unsigned long)n_events, MAX_EVENTS);
        return 1;
    }
    if (kws_results_file_open(&out, out_path) != KWS_OK) {
        fprintf(stderr, "ERROR: cannot create %s\n", out_path);
        return 2;
    }
    {
        const uint32_t dims[2] = {n_events, 3};
        (void)kws_results_array(&out.results, "events", KWS_RESULTS_UINT32, 2, dims, events);
    }
    (void)kws_results_u64(&out.results, "frames", kws_app_state()->n_frames);
    (void)kws_results_u64(&out.results, "inferences", kws_app_state()->n_inferences);
    (void)kws_results_u64(&out.results, "detections", kws_app_state()->n_detections);
    if (kws_results_file_close(&out) != KWS_OK) {
        fprintf(stderr, "ERROR: writing %s failed\n", out_path);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "clips") == 0) {
        const long n_samples = atol(argv[3]);
        if (n_samples < KWS_MFCC_WINDOW_LEN || n_samples > MAX_CLIP_SAMPLES) {
            fprintf(stderr, "SAMPLES_PER_CLIP must be in [%d, %d]\n", KWS_MFCC_WINDOW_LEN,
                    MAX_CLIP_SAMPLES);
            return 2;
        }
        return run_clips(argv[2], n_samples, argv[4]);
    }
    if (argc == 4 && strcmp(argv[1], "trace") == 0) {
        return run_trace(argv[2], argv[3]);
    }
    if (argc == 5 && strcmp(argv[1], "stream") == 0) {
        const long chunk_len = atol(argv[3]);
        if (chunk_len < 1 || chunk_len > STREAM_CHUNK_MAX) {
            fprintf(stderr, "CHUNK must be in [1, %d]\n", STREAM_CHUNK_MAX);
            return 2;
        }
        return run_stream(argv[2], chunk_len, argv[4]);
    }
    fprintf(stderr, "usage: %s clips CLIPS.raw SAMPLES_PER_CLIP OUT.kwsr\n"
                    "       %s trace FEATURES.raw OUT.kwsr\n"
                    "       %s stream PCM.raw CHUNK OUT.kwsr\n", argv[0], argv[0], argv[0]);
    return 2;
}
