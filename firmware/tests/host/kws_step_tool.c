/* Host harness of the streaming step (kws_model_step, generated for a valid-in-time network):
 *
 *   kws_step_tool stream FEATURES.raw RESET_AT OUT.kwsr
 *       int8 features [N][KWS_MODEL_INPUT_COEFFS], one stream: kws_model_reset, then
 *       kws_model_step on each whole step of KWS_MODEL_STEP_FRAMES frames (the frames past the
 *       last whole step wait, as in kws.golden.streaming); before step RESET_AT (if >= 0)
 *       kws_model_reset again, so frame indices restart there. OUT: "window_end" uint32 [M],
 *       "logits" int8 [M][KWS_MODEL_N_CLASSES], "step" uint32 [M] (the step that made each),
 *       "steps" (steps run)
 *   kws_step_tool clips FEATURES.raw OUT.kwsr
 *       int8 features [N][KWS_MODEL_INPUT_FRAMES][KWS_MODEL_INPUT_COEFFS], one window each:
 *       kws_model_reset, then the window's frames (zeros after it up to a whole step) step by
 *       step; the logits of the window ending at its last frame (KWS_MODEL_FIRST_WINDOW_END).
 *       OUT: "logits" int8 [N][KWS_MODEL_N_CLASSES]
 * Inputs are raw int8 without headers; OUT is a result file (kws_results.h). Exit 0 on success,
 * 1 on a model error (or a window the steps never completed), 2 on a usage or I/O error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kws_model.h"
#include "kws_results_file.h"

#if !KWS_MODEL_STREAMING
#error "kws_step_tool needs a streaming network (KWS_MODEL_STREAMING 1 in kws_model.h)"
#endif

#define COEFFS KWS_MODEL_INPUT_COEFFS
#define STEP_BYTES (KWS_MODEL_STEP_FRAMES * COEFFS)
#define WINDOW_BYTES (KWS_MODEL_INPUT_FRAMES * COEFFS)
/* steps that cover one window from a reset: its frames rounded up to whole steps */
#define WINDOW_STEPS ((KWS_MODEL_INPUT_FRAMES + KWS_MODEL_STEP_FRAMES - 1) / KWS_MODEL_STEP_FRAMES)

/* The whole file, malloc'd (*n: its bytes); NULL if it cannot be read. */
static int8_t *read_all(const char *path, long *n)
{
    FILE *in = fopen(path, "rb");
    int8_t *data = NULL;
    if (in == NULL) {
        return NULL;
    }
    if (fseek(in, 0, SEEK_END) == 0 && (*n = ftell(in)) >= 0 && fseek(in, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)(*n > 0 ? *n : 1))) != NULL &&
        fread(data, 1, (size_t)*n, in) != (size_t)*n) {
        free(data);
        data = NULL;
    }
    fclose(in);
    return data;
}

static int run_stream(const char *path, long reset_at, const char *out_path)
{
    long n_bytes = 0;
    int8_t *features = read_all(path, &n_bytes);
    kws_results_file_t out;
    if (features == NULL || n_bytes % COEFFS != 0) {
        fprintf(stderr, "ERROR: %s must hold int8 frames of %d coefficients\n", path, COEFFS);
        return 2;
    }
    const long steps = n_bytes / STEP_BYTES;
    uint32_t *window_end = malloc((size_t)(steps > 0 ? steps : 1) * sizeof(uint32_t));
    uint32_t *step_of = malloc((size_t)(steps > 0 ? steps : 1) * sizeof(uint32_t));
    int8_t *logits = malloc((size_t)(steps > 0 ? steps : 1) * KWS_MODEL_N_CLASSES);
    uint32_t m = 0;
    long s;
    if (window_end == NULL || step_of == NULL || logits == NULL) {
        fprintf(stderr, "ERROR: out of memory\n");
        return 2;
    }
    kws_model_reset();
    for (s = 0; s < steps; s++) {
        int32_t ready = 0;
        if (s == reset_at) {
            kws_model_reset();
        }
        const kws_status_t status = kws_model_step(features + s * STEP_BYTES,
                                                   logits + m * KWS_MODEL_N_CLASSES, &ready,
                                                   &window_end[m]);
        if (status != KWS_OK) {
            fprintf(stderr, "ERROR: step %ld: kws_model_step status %d\n", s, (int)status);
            return 1;
        }
        if (ready) {
            step_of[m++] = (uint32_t)s;
        }
    }
    if (kws_results_file_open(&out, out_path) != KWS_OK) {
        fprintf(stderr, "ERROR: cannot create %s\n", out_path);
        return 2;
    }
    {
        const uint32_t dims[2] = {m, KWS_MODEL_N_CLASSES};
        (void)kws_results_array(&out.results, "window_end", KWS_RESULTS_UINT32, 1, dims,
                                window_end);
        (void)kws_results_array(&out.results, "logits", KWS_RESULTS_INT8, 2, dims, logits);
        (void)kws_results_array(&out.results, "step", KWS_RESULTS_UINT32, 1, dims, step_of);
        (void)kws_results_u64(&out.results, "steps", (uint64_t)steps);
    }
    free(features);
    free(window_end);
    free(step_of);
    free(logits);
    if (kws_results_file_close(&out) != KWS_OK) {
        fprintf(stderr, "ERROR: writing %s failed\n", out_path);
        return 2;
    }
    return 0;
}

static int run_clips(const char *path, const char *out_path)
{
    static int8_t frames[WINDOW_STEPS * STEP_BYTES];
    long n_bytes = 0;
    int8_t *features = read_all(path, &n_bytes);
    kws_results_file_t out;
    long clip;
    if (features == NULL || n_bytes % WINDOW_BYTES != 0) {
        fprintf(stderr, "ERROR: %s must hold int8 windows of %d x %d\n", path,
                KWS_MODEL_INPUT_FRAMES, COEFFS);
        return 2;
    }
    const long n_clips = n_bytes / WINDOW_BYTES;
    int8_t *logits = malloc((size_t)(n_clips > 0 ? n_clips : 1) * KWS_MODEL_N_CLASSES);
    if (logits == NULL) {
        fprintf(stderr, "ERROR: out of memory\n");
        return 2;
    }
    for (clip = 0; clip < n_clips; clip++) {
        int32_t found = 0, s;
        memset(frames, 0, sizeof frames);
        memcpy(frames, features + clip * WINDOW_BYTES, WINDOW_BYTES);
        kws_model_reset();
        for (s = 0; s < WINDOW_STEPS; s++) {
            int8_t step_logits[KWS_MODEL_N_CLASSES];
            int32_t ready = 0;
            uint32_t end = 0;
            if (kws_model_step(frames + s * STEP_BYTES, step_logits, &ready, &end) != KWS_OK) {
                fprintf(stderr, "ERROR: clip %ld: kws_model_step failed\n", clip);
                return 1;
            }
            if (ready && end == KWS_MODEL_FIRST_WINDOW_END) {
                memcpy(logits + clip * KWS_MODEL_N_CLASSES, step_logits, KWS_MODEL_N_CLASSES);
                found = 1;
            }
        }
        if (!found) {
            fprintf(stderr, "ERROR: clip %ld: no step completed the window\n", clip);
            return 1;
        }
    }
    if (kws_results_file_open(&out, out_path) != KWS_OK) {
        fprintf(stderr, "ERROR: cannot create %s\n", out_path);
        return 2;
    }
    {
        const uint32_t dims[2] = {(uint32_t)n_clips, KWS_MODEL_N_CLASSES};
        (void)kws_results_array(&out.results, "logits", KWS_RESULTS_INT8, 2, dims, logits);
    }
    free(features);
    free(logits);
    if (kws_results_file_close(&out) != KWS_OK) {
        fprintf(stderr, "ERROR: writing %s failed\n", out_path);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "stream") == 0) {
        return run_stream(argv[2], atol(argv[3]), argv[4]);
    }
    if (argc == 4 && strcmp(argv[1], "clips") == 0) {
        return run_clips(argv[2], argv[3]);
    }
    fprintf(stderr, "usage: %s stream FEATURES.raw RESET_AT OUT.kwsr\n"
                    "       %s clips FEATURES.raw OUT.kwsr\n", argv[0], argv[0]);
    return 2;
}
