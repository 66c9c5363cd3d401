/* The generated model against the library and its inputs (see kws_model_info.h). */
#include "kws_model_info.h"

#include <stddef.h>

kws_status_t kws_model_check(const kws_model_info_t *model, const kws_mfcc_tables_t *tables,
                             const kws_detector_settings_t *settings)
{
    if (model == NULL) {
        return KWS_ERR_ARG;
    }
    if (model->api_version != KWS_API_VERSION) {
        return KWS_ERR_MODEL_VERSION;
    }
    if (tables != NULL && (model->window_len != tables->window_len || model->stride != tables->stride ||
        model->fft_len != tables->fft_len || model->n_mels != tables->n_mels ||
        model->n_out != tables->n_out || model->out_multiplier != tables->out_multiplier ||
        model->out_shift != tables->out_shift ||
        model->out_zero_point != tables->out_zero_point || model->frames < 1)) {
        return KWS_ERR_MODEL_FEATURES;
    }
    if (model->n_classes < 1 || model->n_classes > KWS_DETECTOR_MAX_CLASSES ||
        (settings != NULL && settings->n_classes != model->n_classes)) {
        return KWS_ERR_MODEL_CLASSES;
    }
    return KWS_OK;
}
