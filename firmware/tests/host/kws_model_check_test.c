/* The generated model's check at init (kws_model_check, kws_model_info.h): the generated
 * kws_model_info against the library, its tables and its detector settings, then each kind of
 * mismatch planted in a copy of it, through kws_model_check and through kws_wakeword_init (the
 * init path every application takes: kws_app_init sets config.model = &kws_model_info).
 *
 *   kws_model_check_test          exit 0 when every case returns its status, 1 otherwise
 *
 * Linked with a generated model folder (kws_model.c, kws_model_data.c, kws_mfcc_tables.c) and
 * the library; tests/test_model_info.py and ctest run it. */
#include <stdio.h>
#include <string.h>

#include "kws_mfcc_tables.h"
#include "kws_model.h"
#include "kws_model_data.h"
#include "kws_wakeword.h"

static int16_t history[KWS_MFCC_WINDOW_LEN];
static kws_mfcc_cell_t scratch[KWS_MFCC_SCRATCH_CELLS];
static int8_t features[KWS_MODEL_INPUT_FRAMES * KWS_MODEL_INPUT_COEFFS];
static int16_t ring[1024];

static int failures;

static void expect(const char *what, kws_status_t got, kws_status_t want)
{
    if (got != want) {
        printf("ERROR %s: got %d want %d\n", what, (int)got, (int)want);
        failures++;
    } else {
        printf("ok %s: %d\n", what, (int)got);
    }
}

static kws_status_t init_with(const kws_model_info_t *model, const kws_detector_settings_t *s)
{
    static kws_wakeword_t ww;
    static kws_audio_t audio;
    kws_wakeword_config_t c;
    memset(&c, 0, sizeof c);
    c.model = model;
    c.tables = &kws_mfcc_tables;
    c.settings = s;
    c.frames = KWS_MODEL_INPUT_FRAMES;
    c.invoke = kws_model_invoke;
    c.history = history;
    c.scratch = scratch;
    c.features = features;
    if (kws_audio_init(&audio, ring, 1024) != KWS_OK) {
        return KWS_ERR_ARG;
    }
    return kws_wakeword_init(&ww, &c, &audio);
}

int main(void)
{
    const kws_detector_settings_t *settings = &kws_model_detector_settings;
    kws_detector_settings_t other_settings = kws_model_detector_settings;
    kws_model_info_t bad;

    printf("model %s, generator %s, API %d (library %d)\n", kws_model_info.hash,
           kws_model_info.generator, (int)kws_model_info.api_version, KWS_API_VERSION);
    if (strcmp(kws_model_info.hash, KWS_MODEL_HASH) != 0 ||
        kws_model_info.api_version != KWS_MODEL_API_VERSION) {
        printf("ERROR kws_model_info does not carry kws_model.h's hash and version\n");
        failures++;
    }
    expect("generated model", kws_model_check(&kws_model_info, &kws_mfcc_tables, settings), KWS_OK);
    expect("init, generated model", init_with(&kws_model_info, settings), KWS_OK);
    expect("no model", kws_model_check(NULL, &kws_mfcc_tables, settings), KWS_ERR_ARG);
    expect("the network alone (no tables)", kws_model_check(&kws_model_info, NULL, NULL), KWS_OK);

    bad = kws_model_info;
    bad.api_version = KWS_API_VERSION + 1;
    expect("api version", kws_model_check(&bad, &kws_mfcc_tables, settings), KWS_ERR_MODEL_VERSION);
    expect("init, api version", init_with(&bad, settings), KWS_ERR_MODEL_VERSION);
    expect("api version, no tables", kws_model_check(&bad, NULL, NULL), KWS_ERR_MODEL_VERSION);

    bad = kws_model_info;
    bad.n_out += 1;
    expect("coefficients", kws_model_check(&bad, &kws_mfcc_tables, settings), KWS_ERR_MODEL_FEATURES);
    expect("init, coefficients", init_with(&bad, settings), KWS_ERR_MODEL_FEATURES);
    bad = kws_model_info;
    bad.stride += 1;
    expect("stride", kws_model_check(&bad, &kws_mfcc_tables, settings), KWS_ERR_MODEL_FEATURES);
    bad = kws_model_info;
    bad.out_zero_point += 1;
    expect("input zero point", kws_model_check(&bad, &kws_mfcc_tables, settings),
           KWS_ERR_MODEL_FEATURES);
    bad = kws_model_info;
    bad.frames += 1;   /* the window path's frames differ from the model's */
    expect("init, window frames", init_with(&bad, settings), KWS_ERR_MODEL_FEATURES);

    bad = kws_model_info;
    bad.n_classes += 1;
    expect("classes", kws_model_check(&bad, &kws_mfcc_tables, settings), KWS_ERR_MODEL_CLASSES);
    expect("init, classes", init_with(&bad, settings), KWS_ERR_MODEL_CLASSES);
    bad.n_classes = KWS_DETECTOR_MAX_CLASSES + 1;
    expect("classes over the maximum", kws_model_check(&bad, &kws_mfcc_tables, NULL),
           KWS_ERR_MODEL_CLASSES);
    other_settings.n_classes = kws_model_info.n_classes - 1;
    expect("detector settings' classes", kws_model_check(&kws_model_info, &kws_mfcc_tables,
                                                         &other_settings), KWS_ERR_MODEL_CLASSES);

    printf("%s: %d failure%s\n", failures ? "FAILED" : "PASSED", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
