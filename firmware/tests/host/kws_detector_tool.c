/* Host harness for the recogniser and the wake-word loop (driven by
 * kws/toolchain/detector_harness.py).
 *
 *   kws_detector_tool recognizer SETTINGS.txt FRAMES.u32 LOGITS.s8 OUT.kwsr
 *       N inferences: frame indices uint32 LE [N], logits int8 [N][n_classes], each through
 *       kws_detector_push.
 *   kws_detector_tool stream SETTINGS.txt PCM.s16 OUT.kwsr SEED MAX_CHUNK RING_CAPACITY
 *       int16 LE samples, read in chunks of pseudo-random sizes in [1, MAX_CHUNK] (xorshift32
 *       from SEED), written to a kws_audio_t ring of RING_CAPACITY samples (a power of two
 *       >= MAX_CHUNK); kws_wakeword_process runs when the next chunk does not fit and otherwise
 *       after about half the writes, and once at the end.
 *
 * SETTINGS.txt: whitespace-separated integers: n_classes average_window min_count threshold
 * suppression_frames infer_every, then is_keyword[n_classes], then exp_lut[256].
 * OUT is a result file (kws_results.h): "events", uint32 [detections][3] (frame_index, label,
 * score; at most MAX_EVENTS); stream also the loop's counters "frames", "inferences",
 * "detections" and the ring's "dropped".
 *
 * The model: KWS_TOOL_INVOKE, by default the test stand-in kws_standin_invoke
 * (kws_standin_model.c). To run the real network, build with
 * -DKWS_TOOL_INVOKE=kws_model_invoke and link the generated model instead of the stand-in.
 * Model input: KWS_MFCC_FRAMES_PER_CLIP frames.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kws_detector.h"
#include "kws_mfcc_tables.h"
#include "kws_results_file.h"
#include "kws_wakeword.h"

#ifndef KWS_TOOL_INVOKE
#define KWS_TOOL_INVOKE kws_standin_invoke
#endif
kws_status_t KWS_TOOL_INVOKE(const int8_t *features, int8_t *logits);

#define MAX_RING (1 << 20)
#define MAX_EVENTS (1 << 16)

static kws_detector_settings_t settings;
static int16_t ring[MAX_RING];
static int16_t chunk[MAX_RING];
static int16_t history[KWS_MFCC_WINDOW_LEN];
static kws_mfcc_cell_t scratch[KWS_MFCC_SCRATCH_CELLS];
static int8_t features[KWS_WAKEWORD_FEATURES_LEN(KWS_MFCC_FRAMES_PER_CLIP, KWS_MFCC_N_OUT)];
static uint32_t events[MAX_EVENTS][3];
static uint32_t n_events;

static int read_int(FILE *f, long lo, long hi, long *v)
{
    return fscanf(f, "%ld", v) == 1 && *v >= lo && *v <= hi;
}

static int read_settings(const char *path)
{
    FILE *f = fopen(path, "r");
    long v[6];
    long x;
    int i;
    int ok = f != NULL;
    for (i = 0; ok && i < 6; i++) {
        ok = read_int(f, -2147483647L, 2147483647L, &v[i]);
    }
    ok = ok && v[0] >= 1 && v[0] <= KWS_DETECTOR_MAX_CLASSES;
    if (ok) {
        settings.n_classes = (int32_t)v[0];
        settings.average_window = (int32_t)v[1];
        settings.min_count = (int32_t)v[2];
        settings.threshold = (int32_t)v[3];
        settings.suppression_frames = (int32_t)v[4];
        settings.infer_every = (int32_t)v[5];
    }
    for (i = 0; ok && i < settings.n_classes; i++) {
        ok = read_int(f, 0, 1, &x);
        settings.is_keyword[i] = (uint8_t)x;
    }
    for (i = 0; ok && i < KWS_DETECTOR_EXP_LUT_LEN; i++) {
        ok = read_int(f, 0, 65535, &x);
        settings.exp_lut[i] = (uint16_t)x;
    }
    if (f != NULL) {
        fclose(f);
    }
    if (!ok) {
        fprintf(stderr, "ERROR: bad settings file %s\n", path);
    }
    return ok;
}

/* Keeps an event for the result file; past MAX_EVENTS only counts it (main then fails). */
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

static int run_recognizer(const char *frames_path, const char *logits_path)
{
    FILE *ff = fopen(frames_path, "rb");
    FILE *fl = fopen(logits_path, "rb");
    kws_detector_t det;
    int ok = ff != NULL && fl != NULL && kws_detector_init(&det, &settings) == KWS_OK;
    unsigned char b[4];
    int8_t logits[KWS_DETECTOR_MAX_CLASSES];
    while (ok && fread(b, 1, 4, ff) == 4) {
        const uint32_t frame = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                               (uint32_t)b[3] << 24;
        int32_t fired = 0;
        kws_detection_t event;
        ok = fread(logits, 1, (size_t)settings.n_classes, fl) == (size_t)settings.n_classes &&
             kws_detector_push(&det, frame, logits, &fired, &event) == KWS_OK;
        if (ok && fired) {
            write_event(&event, NULL);
        }
    }
    if (ff != NULL) {
        fclose(ff);
    }
    if (fl != NULL) {
        fclose(fl);
    }
    if (!ok) {
        fprintf(stderr, "ERROR: recognizer run failed (files, settings or a short read)\n");
    }
    return ok;
}

static uint32_t xorshift32(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static int run_stream(const char *pcm_path, kws_results_t *out, uint32_t seed, int32_t max_chunk,
                      int32_t capacity)
{
    kws_audio_t audio;
    kws_wakeword_t ww;
    kws_wakeword_config_t config;
    FILE *in = fopen(pcm_path, "rb");
    uint32_t rng = seed != 0 ? seed : 1u;
    if (in == NULL || kws_audio_init(&audio, ring, capacity) != KWS_OK) {
        fprintf(stderr, "ERROR: cannot open %s or bad ring capacity\n", pcm_path);
        return 0;
    }
    /* All or nothing: a write that does not fit is refused and counted. */
    if (kws_audio_write(&audio, chunk, capacity + 1) != KWS_ERR_SIZE || audio.dropped !=
        (uint32_t)capacity + 1 || kws_audio_available(&audio) != 0 ||
        kws_audio_init(&audio, ring, capacity) != KWS_OK) {
        fprintf(stderr, "ERROR: audio ring accepted an oversized write\n");
        return 0;
    }
    config.model = NULL;   /* the stand-in network has no generated info */
    config.tables = &kws_mfcc_tables;
    config.settings = &settings;
    config.frames = KWS_MFCC_FRAMES_PER_CLIP;
    config.invoke = KWS_TOOL_INVOKE;
    config.step = NULL;
    config.reset = NULL;
    config.on_detection = write_event;
    config.user = NULL;
    config.history = history;
    config.scratch = scratch;
    config.features = features;
    if (kws_wakeword_init(&ww, &config, &audio) != KWS_OK) {
        fprintf(stderr, "ERROR: kws_wakeword_init rejected the settings\n");
        fclose(in);
        return 0;
    }
    for (;;) {
        const int32_t want = 1 + (int32_t)(xorshift32(&rng) % (uint32_t)max_chunk);
        const int32_t n = (int32_t)fread(chunk, sizeof(int16_t), (size_t)want, in);
        if (n == 0) {
            break;
        }
        if ((int32_t)audio.capacity - kws_audio_available(&audio) < n &&
            kws_wakeword_process(&ww) != KWS_OK) {
            fprintf(stderr, "ERROR: kws_wakeword_process failed\n");
            fclose(in);
            return 0;
        }
        if (kws_audio_write(&audio, chunk, n) != KWS_OK ||
            ((xorshift32(&rng) & 1u) && kws_wakeword_process(&ww) != KWS_OK)) {
            fprintf(stderr, "ERROR: kws_audio_write or kws_wakeword_process failed\n");
            fclose(in);
            return 0;
        }
    }
    fclose(in);
    if (kws_wakeword_process(&ww) != KWS_OK) {
        fprintf(stderr, "ERROR: kws_wakeword_process failed\n");
        return 0;
    }
    (void)kws_results_u64(out, "frames", ww.n_frames);
    (void)kws_results_u64(out, "inferences", ww.n_inferences);
    (void)kws_results_u64(out, "detections", ww.n_detections);
    (void)kws_results_u64(out, "dropped", audio.dropped);
    return 1;
}

int main(int argc, char **argv)
{
    const int recognizer = argc == 6 && strcmp(argv[1], "recognizer") == 0;
    const int stream = argc == 8 && strcmp(argv[1], "stream") == 0;
    const char *events_path = argv[recognizer ? 5 : 4];
    if (!recognizer && !stream) {
        fprintf(stderr, "usage: %s recognizer SETTINGS.txt FRAMES.u32 LOGITS.s8 OUT.kwsr\n"
                        "       %s stream SETTINGS.txt PCM.s16 OUT.kwsr SEED MAX_CHUNK "
                        "RING_CAPACITY\n", argv[0], argv[0]);
        return 2;
    }
    if (!read_settings(argv[2])) {
        return 2;
    }
    kws_results_file_t out;
    if (kws_results_file_open(&out, events_path) != KWS_OK) {
        fprintf(stderr, "ERROR: cannot open %s\n", events_path);
        return 2;
    }
    int ok;
    if (recognizer) {
        ok = run_recognizer(argv[3], argv[4]);
    } else {
        const long seed = atol(argv[5]);
        const long max_chunk = atol(argv[6]);
        const long capacity = atol(argv[7]);
        if (seed < 0 || max_chunk < 1 || capacity < max_chunk || capacity > MAX_RING) {
            fprintf(stderr, "ERROR: need SEED >= 0, 1 <= MAX_CHUNK <= RING_CAPACITY <= %d\n",
                    MAX_RING);
            return 2;
        }
        ok = run_stream(argv[3], &out.results, (uint32_t)seed, (int32_t)max_chunk,
                        (int32_t)capacity);
    }
    if (ok && n_events > MAX_EVENTS) {
        fprintf(stderr, "ERROR: %lu detections, more than the harness keeps (%d)\n",
                (unsigned long)n_events, MAX_EVENTS);
        ok = 0;
    }
    if (ok) {
        const uint32_t dims[2] = {n_events, 3};
        (void)kws_results_array(&out.results, "events", KWS_RESULTS_UINT32, 2, dims, events);
        if (kws_results_file_close(&out) != KWS_OK) {
            fprintf(stderr, "ERROR: writing %s failed\n", events_path);
            return 2;
        }
    }
    return ok ? 0 : 1;
}
