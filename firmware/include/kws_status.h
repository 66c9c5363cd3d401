/* Status codes returned by every kws_* function (README: "Integrate into your firmware" says
 * what to do about each). */
#ifndef KWS_STATUS_H
#define KWS_STATUS_H

typedef enum {
    KWS_OK = 0,
    KWS_ERR_ARG = -1,      /* a NULL pointer or an argument out of its documented range */
    KWS_ERR_SIZE = -2,     /* an output buffer too small for what the call would produce */
    /* kws_model_check (kws_model_info.h), at kws_wakeword_init and kws_app_init: the generated
     * model and what it is linked with disagree */
    KWS_ERR_MODEL_VERSION = -3,   /* kws_model.c was generated for another API version of this
                                   * library (KWS_MODEL_API_VERSION != KWS_API_VERSION) */
    KWS_ERR_MODEL_FEATURES = -4,  /* the model's feature settings (frame, stride, FFT, mel and
                                   * coefficient counts, input quantisation, window frames)
                                   * differ from the linked kws_mfcc_tables.c or the config */
    KWS_ERR_MODEL_CLASSES = -5    /* the model's class count differs from the detector
                                   * settings' (or exceeds KWS_DETECTOR_MAX_CLASSES) */
} kws_status_t;

#endif /* KWS_STATUS_H */
