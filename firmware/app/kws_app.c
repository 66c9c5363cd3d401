/* The application: the wake-word loop over the generated model (see kws_app.h). */
#include "kws_app.h"

#include "kws_mfcc_tables.h"
#include "kws_model.h"
#include "kws_model_data.h"

static int16_t audio_ring[KWS_APP_AUDIO_CAPACITY];
static int16_t history[KWS_MFCC_WINDOW_LEN];
static kws_mfcc_cell_t scratch[KWS_MFCC_SCRATCH_CELLS];
static int8_t features[KWS_WAKEWORD_FEATURES_LEN(KWS_MODEL_INPUT_FRAMES, KWS_MODEL_INPUT_COEFFS)];
static kws_audio_t audio;
static kws_wakeword_t wakeword;

kws_status_t kws_app_init(kws_on_detection_fn on_detection, void *user)
{
    kws_wakeword_config_t config;
    kws_status_t status = kws_audio_init(&audio, audio_ring, KWS_APP_AUDIO_CAPACITY);
    if (status != KWS_OK) {
        return status;
    }
    config.tables = &kws_mfcc_tables;
    config.settings = &kws_model_detector_settings;
    config.frames = KWS_MODEL_INPUT_FRAMES;
    config.invoke = kws_model_invoke;
    config.on_detection = on_detection;
    config.user = user;
    config.history = history;
    config.scratch = scratch;
    config.features = features;
    return kws_wakeword_init(&wakeword, &config, &audio);
}

kws_status_t kws_app_feed(const int16_t *samples, int32_t n)
{
    const int32_t piece = KWS_APP_AUDIO_CAPACITY / 2;
    int32_t pos;
    for (pos = 0; pos < n; pos += piece) {
        const int32_t count = n - pos < piece ? n - pos : piece;
        kws_status_t status = kws_audio_write(&audio, samples + pos, count);
        if (status == KWS_OK) {
            status = kws_wakeword_process(&wakeword);
        }
        if (status != KWS_OK) {
            return status;
        }
    }
    return KWS_OK;
}

const kws_wakeword_t *kws_app_state(void)
{
    return &wakeword;
}
