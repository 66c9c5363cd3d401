/* Wake-word loop: audio provider → feature provider → model → recogniser → responder
 * (the roles of TFLite Micro's micro_speech). kws/detector.py (detect_stream) is the golden model;
 * the events this loop reports equal its events exactly.
 *
 *   audio provider    kws_audio_t: an int16 single-producer/single-consumer ring. The ISR (or
 *                     the host) calls kws_audio_write; the loop reads whatever is available.
 *   feature provider  kws_mfcc_stream_push, one frame per stride of new samples (old frames are
 *                     never recomputed), appended to a linear window of the latest F frames
 *                     [F][n_out], shifted by one frame (memmove) per new frame, so the model
 *                     always sees a contiguous input.
 *   model             config.invoke(features [F][n_out], logits [n_classes]) after frame t when
 *                     t + 1 >= F and (t + 1 - F) % infer_every == 0: kws_model_invoke (the
 *                     generated network) or any function with that signature.
 *   recogniser        kws_detector_push (kws_detector.h), frame index t.
 *   responder         config.on_detection(event, config.user) for each detection.
 *
 * No heap. The caller owns every buffer; sizes, with the generated kws_mfcc_tables.h:
 *   history   int16_t [KWS_MFCC_WINDOW_LEN]
 *   scratch   kws_mfcc_cell_t [KWS_MFCC_SCRATCH_CELLS]
 *   features  int8_t [KWS_WAKEWORD_FEATURES_LEN(KWS_MFCC_FRAMES_PER_CLIP, KWS_MFCC_N_OUT)]
 *   audio     int16_t [a power of two], e.g. a few strides plus the largest write
 */
#ifndef KWS_WAKEWORD_H
#define KWS_WAKEWORD_H

#include <stdint.h>

#include "kws_detector.h"
#include "kws_mfcc.h"
#include "kws_status.h"

#define KWS_WAKEWORD_FEATURES_LEN(frames, n_out) ((frames) * (n_out))

/* ---------------------------------------------------------------- audio provider */

/* Counters run freely modulo 2^32; a slot is count & (capacity - 1). Only the writer changes
 * write_count and dropped, only the reader read_count. */
typedef struct {
    int16_t *buffer;                 /* [capacity], caller-provided */
    uint32_t capacity;               /* a power of two in [1, 2^30] */
    volatile uint32_t write_count;   /* samples written so far */
    volatile uint32_t read_count;    /* samples consumed so far */
    volatile uint32_t dropped;       /* samples refused by kws_audio_write (overruns) */
} kws_audio_t;

kws_status_t kws_audio_init(kws_audio_t *audio, int16_t *buffer, int32_t capacity);

/* Append n samples, all or nothing: KWS_ERR_SIZE (and dropped += n) when fewer than n slots are
 * free. Safe to call from an interrupt while the loop runs (one writer, one reader). */
kws_status_t kws_audio_write(kws_audio_t *audio, const int16_t *samples, int32_t n);

/* Samples written and not yet consumed. */
int32_t kws_audio_available(const kws_audio_t *audio);

/* ---------------------------------------------------------------- the loop */

typedef kws_status_t (*kws_invoke_fn)(const int8_t *features, int8_t *logits);
typedef void (*kws_on_detection_fn)(const kws_detection_t *event, void *user);

typedef struct {
    const kws_mfcc_tables_t *tables;
    const kws_detector_settings_t *settings;  /* referenced: keep alive and unchanged */
    int32_t frames;                  /* F: frames per model input, >= 1 */
    kws_invoke_fn invoke;            /* features [F][n_out] → logits [settings->n_classes] */
    kws_on_detection_fn on_detection;  /* the responder; NULL to only count detections */
    void *user;                      /* passed to on_detection */
    int16_t *history;                /* [tables->window_len] */
    kws_mfcc_cell_t *scratch;        /* [KWS_MFCC_SCRATCH_CELLS_FOR(fft_len, n_mels)] */
    int8_t *features;                /* [frames][tables->n_out] */
} kws_wakeword_config_t;

typedef struct {
    kws_wakeword_config_t config;
    kws_audio_t *audio;
    kws_mfcc_stream_t stream;
    kws_detector_t detector;
    int8_t logits[KWS_DETECTOR_MAX_CLASSES];
    uint32_t n_frames;               /* MFCC frames so far: the next frame's index */
    int32_t until_infer;             /* frames until the next inference */
    uint32_t n_inferences;
    uint32_t n_detections;
} kws_wakeword_t;

/* Checks the config (KWS_ERR_ARG) and starts at frame 0 with an empty window (zeros). */
kws_status_t kws_wakeword_init(kws_wakeword_t *wakeword, const kws_wakeword_config_t *config,
                               kws_audio_t *audio);

/* Consume every sample available in the audio ring (including any written meanwhile), running
 * the front end, the model and the recogniser, and calling on_detection for each detection.
 * A non-KWS_OK status from invoke stops the call and is returned; that frame is consumed and
 * the next call carries on with the following samples. */
kws_status_t kws_wakeword_process(kws_wakeword_t *wakeword);

#endif /* KWS_WAKEWORD_H */
