/* The generated model's identity and the settings it was made for. The export stage writes them
 * into kws_model.h (KWS_MODEL_API_VERSION, KWS_MODEL_GENERATOR, KWS_MODEL_HASH) and kws_model.c
 * (const kws_model_info_t kws_model_info); the library checks, before it runs anything, that the
 * model, the library and the tables and detector settings it is linked with agree
 * (kws_model_check, called by kws_wakeword_init when config.model is set, as kws_app_init does).
 */
#ifndef KWS_MODEL_INFO_H
#define KWS_MODEL_INFO_H

#include <stdint.h>

#include "kws_detector.h"
#include "kws_limits.h"   /* KWS_API_VERSION */
#include "kws_mfcc.h"
#include "kws_status.h"

typedef struct {
    int32_t api_version;       /* KWS_MODEL_API_VERSION: the generated API it was written for */
    const char *generator;     /* KWS_MODEL_GENERATOR: "kws <version>" (informative) */
    const char *hash;          /* KWS_MODEL_HASH: "sha256:<hex>" over the generated weights,
                                * settings and tables (informative; kws export-firmware's
                                * manifest records it too) */
    /* the front end the network was trained on (features/quant.json at export); all 0 for a
     * network that names none (kws-import: any tables are then a mismatch) */
    int32_t window_len;
    int32_t stride;
    int32_t fft_len;
    int32_t n_mels;
    int32_t n_out;             /* coefficients per frame: KWS_MODEL_INPUT_COEFFS */
    int32_t out_multiplier;    /* the features' int8 quantisation = the network's input's */
    int32_t out_shift;
    int32_t out_zero_point;
    int32_t frames;            /* frames per window: KWS_MODEL_INPUT_FRAMES */
    int32_t n_classes;         /* KWS_MODEL_N_CLASSES */
} kws_model_info_t;

/* KWS_OK when `model` fits this library and `tables` (unless NULL: a network run on its own,
 * without the front end) and `settings` (unless NULL); else the first mismatch:
 * KWS_ERR_MODEL_VERSION (api_version != KWS_API_VERSION), KWS_ERR_MODEL_FEATURES (any
 * front-end field differs from the tables'), KWS_ERR_MODEL_CLASSES (n_classes differs from
 * settings->n_classes or exceeds KWS_DETECTOR_MAX_CLASSES); KWS_ERR_ARG for a NULL model. */
kws_status_t kws_model_check(const kws_model_info_t *model, const kws_mfcc_tables_t *tables,
                             const kws_detector_settings_t *settings);

#endif /* KWS_MODEL_INFO_H */
