/* Wake-word loop: audio provider → feature provider → model → recogniser → responder
 * (the roles of TFLite Micro's micro_speech). kws/detector.py (detect_stream) is the golden model;
 * the events this loop reports equal its events exactly.
 *
 *   audio provider    kws_audio_t: an int16 single-producer/single-consumer ring. The ISR (or
 *                     the host) calls kws_audio_write; the loop reads whatever is available.
 *   feature provider  kws_mfcc_stream_push, one frame per stride of new samples (old frames are
 *                     never recomputed).
 *   model             one of two paths, chosen by the config (the library knows no model):
 *     window path     config.invoke set, config.frames = F: the frames go into a linear window
 *                     of the latest F frames [F][n_out], shifted by one frame (memmove) per new
 *                     frame; config.invoke(features [F][n_out], logits) after frame t when
 *                     t + 1 >= F and (t + 1 - F) % infer_every == 0 (kws_model_invoke).
 *     streaming path  config.step set, config.frames = S (the step's frames,
 *                     KWS_MODEL_STEP_FRAMES): the frames fill a buffer [S][n_out], and every S
 *                     frames config.step(features, logits, &ready, &window_end) runs on it
 *                     (kws_model_step: the network keeps its own state, no window of F frames
 *                     is held). When ready, the logits belong to the window ending at frame
 *                     window_end: a frame of the step, or up to S - 1 frames after it (the
 *                     network's lag); they are recognised at window_end once that frame has
 *                     arrived, so the events are the window path's at infer_every = S exactly.
 *   recogniser        kws_detector_push (kws_detector.h), frame index t (the window's last).
 *   responder         config.on_detection(event, config.user) for each detection.
 *
 * No heap. The caller owns every buffer; sizes, with the generated kws_mfcc_tables.h:
 *   history   int16_t [KWS_MFCC_WINDOW_LEN]
 *   scratch   kws_mfcc_cell_t [KWS_MFCC_SCRATCH_CELLS]
 *   features  int8_t [KWS_WAKEWORD_FEATURES_LEN(config.frames, KWS_MFCC_N_OUT)]: window path
 *             KWS_MFCC_FRAMES_PER_CLIP frames, streaming path KWS_MODEL_STEP_FRAMES
 *   audio     int16_t [a power of two], e.g. a few strides plus the largest write
 * The streaming network's state (rings, running pool) is the model's, static in kws_model.c.
 */
#ifndef KWS_WAKEWORD_H
#define KWS_WAKEWORD_H

#include <stdint.h>

#include "kws_detector.h"
#include "kws_mfcc.h"
#include "kws_model_info.h"
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
/* The streaming path's model (kws_model_step's signature): frames int8 [S][n_out] in; *ready = 1
 * when logits [n_classes] were written for the window ending at frame *window_end (counted from
 * the last reset). */
typedef kws_status_t (*kws_step_fn)(const int8_t *frames, int8_t *logits, int32_t *ready,
                                    uint32_t *window_end);
typedef void (*kws_reset_fn)(void);
typedef void (*kws_on_detection_fn)(const kws_detection_t *event, void *user);

typedef struct {
    const kws_model_info_t *model;   /* the generated model's identity (&kws_model_info):
                                      * checked against the library, tables, settings and, on
                                      * the window path, frames (kws_model_check); NULL skips
                                      * the check (a network without generated info) */
    const kws_mfcc_tables_t *tables;
    const kws_detector_settings_t *settings;  /* referenced: keep alive and unchanged */
    int32_t frames;                  /* frames per model call, >= 1: F (invoke) or S (step) */
    kws_invoke_fn invoke;            /* window path: features [F][n_out] → logits
                                      * [settings->n_classes]; NULL on the streaming path */
    kws_step_fn step;                /* streaming path (set: invoke must be NULL); S must equal
                                      * settings->infer_every (the detector's cadence) */
    kws_reset_fn reset;              /* the streaming model's reset (kws_model_reset), called by
                                      * init and kws_wakeword_reset; NULL: none */
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
    int32_t until_infer;             /* frames until the next inference (or step) */
    int32_t pending;                 /* streaming: 1 while logits wait for frame pending_end */
    uint32_t pending_end;
    uint32_t n_inferences;
    uint32_t n_detections;
} kws_wakeword_t;

/* Checks the config (KWS_ERR_ARG: exactly one of invoke and step, frames >= 1, frames ==
 * settings->infer_every on the streaming path, ...), then the model against it when
 * config.model is set (kws_model_check: KWS_ERR_MODEL_VERSION, _FEATURES, _CLASSES; on the
 * window path frames != model->frames is KWS_ERR_MODEL_FEATURES), and starts at frame 0 with an empty window
 * (zeros) and, on the streaming path, a reset model. */
kws_status_t kws_wakeword_init(kws_wakeword_t *wakeword, const kws_wakeword_config_t *config,
                               kws_audio_t *audio);

/* Back to the state kws_wakeword_init left: frame 0 next, the front end's history, the feature
 * buffer, the recogniser (held posteriors, suppression) and the streaming model (config.reset)
 * all fresh, counters zero. Samples already in the audio ring stay there: the next
 * kws_wakeword_process starts a new stream with them, as a fresh loop would. */
kws_status_t kws_wakeword_reset(kws_wakeword_t *wakeword);

/* Consume every sample available in the audio ring (including any written meanwhile), running
 * the front end, the model and the recogniser, and calling on_detection for each detection.
 * A non-KWS_OK status from invoke or step stops the call and is returned; that frame is consumed
 * and the next call carries on with the following samples (after a failed step the streaming
 * model's state is undefined: call kws_wakeword_reset first). */
kws_status_t kws_wakeword_process(kws_wakeword_t *wakeword);

#endif /* KWS_WAKEWORD_H */
