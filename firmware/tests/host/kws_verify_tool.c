/* Host harness of the verify stage: the generated model and the wake-word loop, driven by files.
 *
 *   kws_verify_tool clips  CLIPS.raw SAMPLES_PER_CLIP FEATURES.raw LOGITS.raw
 *       per int16 clip: kws_mfcc_clip → int8 features [F][n_out] → kws_model_invoke → logits
 *   kws_verify_tool trace  FEATURES.raw LAYERS.raw
 *       per int8 input [F][n_out]: every layer's output, concatenated (KWS_MODEL_TRACE)
 *   kws_verify_tool stream PCM.raw CHUNK EVENTS.txt
 *       the wake-word loop over an int16 stream fed CHUNK samples at a time; one line per
 *       detection: "frame_index label score"
 * Raw files are little-endian, without headers. Exit 0 on success, 1 on a kernel or loop
 * error, 2 on a usage or I/O error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kws_app.h"
#include "kws_mfcc_tables.h"
#include "kws_model.h"

#define FEATURES_LEN (KWS_MODEL_INPUT_FRAMES * KWS_MODEL_INPUT_COEFFS)
#define MAX_CLIP_SAMPLES (KWS_MFCC_SAMPLE_RATE * 10)
#define STREAM_CHUNK_MAX 16384

static int16_t clip[MAX_CLIP_SAMPLES];
static int8_t features[MAX_CLIP_SAMPLES / KWS_MFCC_STRIDE + 1][KWS_MFCC_N_OUT];
static kws_mfcc_cell_t scratch[KWS_MFCC_SCRATCH_CELLS];
static int16_t chunk[STREAM_CHUNK_MAX];
static FILE *trace_out;

/* Called by the generated kws_model_invoke after each layer (-DKWS_MODEL_TRACE_HOOK=kws_verify_trace). */
void kws_verify_trace(int layer, const int8_t *data, int bytes)
{
    (void)layer;
    if (trace_out != NULL) {
        fwrite(data, 1, (size_t)bytes, trace_out);
    }
}

static int run_clips(const char *clips_path, long n_samples, const char *features_path,
                     const char *logits_path)
{
    FILE *in = fopen(clips_path, "rb");
    FILE *feat_out = fopen(features_path, "wb");
    FILE *logit_out = fopen(logits_path, "wb");
    long index = 0;
    if (in == NULL || feat_out == NULL || logit_out == NULL) {
        fprintf(stderr, "ERROR: cannot open %s, %s or %s\n", clips_path, features_path,
                logits_path);
        return 2;
    }
    while (fread(clip, sizeof(int16_t), (size_t)n_samples, in) == (size_t)n_samples) {
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
        fwrite(&features[0][0], 1, FEATURES_LEN, feat_out);
        fwrite(logits, 1, KWS_MODEL_N_CLASSES, logit_out);
        index++;
    }
    fclose(in);
    fclose(feat_out);
    fclose(logit_out);
    return 0;
}

static int run_trace(const char *features_path, const char *layers_path)
{
    FILE *in = fopen(features_path, "rb");
    int8_t input[FEATURES_LEN];
    int8_t logits[KWS_MODEL_N_CLASSES];
    trace_out = fopen(layers_path, "wb");
    if (in == NULL || trace_out == NULL) {
        fprintf(stderr, "ERROR: cannot open %s or %s\n", features_path, layers_path);
        return 2;
    }
    while (fread(input, 1, FEATURES_LEN, in) == FEATURES_LEN) {
        if (kws_model_invoke(input, logits) != KWS_OK) {
            fprintf(stderr, "ERROR: kws_model_invoke failed\n");
            return 1;
        }
    }
    fclose(in);
    fclose(trace_out);
    trace_out = NULL;
    return 0;
}

static void write_event(const kws_detection_t *event, void *user)
{
    fprintf((FILE *)user, "%lu %ld %ld\n", (unsigned long)event->frame_index,
            (long)event->label, (long)event->score);
}

static int run_stream(const char *pcm_path, long chunk_len, const char *events_path)
{
    FILE *in = fopen(pcm_path, "rb");
    FILE *out = fopen(events_path, "w");
    size_t got;
    if (in == NULL || out == NULL) {
        fprintf(stderr, "ERROR: cannot open %s or %s\n", pcm_path, events_path);
        return 2;
    }
    if (kws_app_init(write_event, out) != KWS_OK) {
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
    fclose(out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "clips") == 0) {
        const long n_samples = atol(argv[3]);
        if (n_samples < KWS_MFCC_WINDOW_LEN || n_samples > MAX_CLIP_SAMPLES) {
            fprintf(stderr, "SAMPLES_PER_CLIP must be in [%d, %d]\n", KWS_MFCC_WINDOW_LEN,
                    MAX_CLIP_SAMPLES);
            return 2;
        }
        return run_clips(argv[2], n_samples, argv[4], argv[5]);
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
    fprintf(stderr, "usage: %s clips CLIPS.raw SAMPLES_PER_CLIP FEATURES.raw LOGITS.raw\n"
                    "       %s trace FEATURES.raw LAYERS.raw\n"
                    "       %s stream PCM.raw CHUNK EVENTS.txt\n", argv[0], argv[0], argv[0]);
    return 2;
}
