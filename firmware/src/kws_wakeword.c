/* Wake-word loop: mirrors kws/detector.py detect_stream frame by frame (see kws_wakeword.h). */
#include "kws_wakeword.h"

#include <stddef.h>
#include <string.h>

/* Keeps the compiler from moving ring accesses across the counter updates. A single-core MCU
 * needs no more; a multi-core target would need a hardware barrier here. */
#if defined(__GNUC__)
#define KWS_BARRIER() __asm__ __volatile__("" ::: "memory")
#else
#define KWS_BARRIER() ((void)0)
#endif

/* ---------------------------------------------------------------- audio provider */

kws_status_t kws_audio_init(kws_audio_t *a, int16_t *buffer, int32_t capacity)
{
    if (a == NULL || buffer == NULL || capacity < 1 || capacity > (1 << 30) ||
        (capacity & (capacity - 1)) != 0) {
        return KWS_ERR_ARG;
    }
    a->buffer = buffer;
    a->capacity = (uint32_t)capacity;
    a->write_count = 0;
    a->read_count = 0;
    a->dropped = 0;
    return KWS_OK;
}

int32_t kws_audio_available(const kws_audio_t *a)
{
    return a == NULL ? 0 : (int32_t)(a->write_count - a->read_count);
}

kws_status_t kws_audio_write(kws_audio_t *a, const int16_t *samples, int32_t n)
{
    if (a == NULL || (samples == NULL && n > 0) || n < 0) {
        return KWS_ERR_ARG;
    }
    const uint32_t w = a->write_count;
    const uint32_t used = w - a->read_count;
    if ((uint32_t)n > a->capacity - used) {
        a->dropped += (uint32_t)n;
        return KWS_ERR_SIZE;
    }
    KWS_BARRIER();
    const uint32_t start = w & (a->capacity - 1);
    const uint32_t first = (uint32_t)n < a->capacity - start ? (uint32_t)n : a->capacity - start;
    memcpy(a->buffer + start, samples, first * sizeof(int16_t));
    memcpy(a->buffer, samples + first, ((uint32_t)n - first) * sizeof(int16_t));
    KWS_BARRIER();
    a->write_count = w + (uint32_t)n;
    return KWS_OK;
}

/* ---------------------------------------------------------------- the loop */

static kws_status_t restart(kws_wakeword_t *w)
{
    const kws_wakeword_config_t *c = &w->config;
    kws_status_t st = kws_mfcc_stream_init(&w->stream, c->tables, c->history, c->scratch);
    if (st != KWS_OK) {
        return st;
    }
    st = kws_detector_init(&w->detector, c->settings);
    if (st != KWS_OK) {
        return st;
    }
    memset(c->features, 0, (size_t)c->frames * (size_t)c->tables->n_out);
    memset(w->logits, 0, sizeof w->logits);
    if (c->reset != NULL) {
        c->reset();
    }
    w->n_frames = 0;
    w->until_infer = c->frames;
    w->pending = 0;
    w->pending_end = 0;
    w->n_inferences = 0;
    w->n_detections = 0;
    return KWS_OK;
}

kws_status_t kws_wakeword_init(kws_wakeword_t *w, const kws_wakeword_config_t *config,
                               kws_audio_t *audio)
{
    if (w == NULL || config == NULL || audio == NULL || config->tables == NULL ||
        config->settings == NULL || (config->invoke == NULL) == (config->step == NULL) ||
        config->features == NULL || config->frames < 1 || config->tables->n_out < 1 ||
        config->frames > INT32_MAX / config->tables->n_out ||
        (config->step != NULL && config->frames != config->settings->infer_every)) {
        return KWS_ERR_ARG;
    }
    if (config->model != NULL) {
        const kws_status_t st = kws_model_check(config->model, config->tables, config->settings);
        if (st != KWS_OK) {
            return st;
        }
        if (config->invoke != NULL && config->frames != config->model->frames) {
            return KWS_ERR_MODEL_FEATURES;
        }
    }
    memset(w, 0, sizeof(*w));
    w->config = *config;
    w->audio = audio;
    return restart(w);
}

kws_status_t kws_wakeword_reset(kws_wakeword_t *w)
{
    if (w == NULL || w->audio == NULL) {
        return KWS_ERR_ARG;
    }
    return restart(w);
}

/* Recognise the logits in w->logits at frame t; the responder for a detection. */
static kws_status_t recognise(kws_wakeword_t *w, uint32_t t)
{
    int32_t fired = 0;
    kws_detection_t event;
    const kws_status_t st = kws_detector_push(&w->detector, t, w->logits, &fired, &event);
    if (st != KWS_OK) {
        return st;
    }
    w->n_inferences++;
    if (fired) {
        w->n_detections++;
        if (w->config.on_detection != NULL) {
            w->config.on_detection(&event, w->config.user);
        }
    }
    return KWS_OK;
}

/* Window path: a new frame t is in the last row of the window; run the model when it is due. */
static kws_status_t on_frame_window(kws_wakeword_t *w)
{
    const uint32_t t = w->n_frames++;
    kws_status_t st;
    if (--w->until_infer > 0) {
        return KWS_OK;
    }
    w->until_infer = w->config.settings->infer_every;
    st = w->config.invoke(w->config.features, w->logits);
    if (st != KWS_OK) {
        return st;
    }
    return recognise(w, t);
}

/* Streaming path: a new frame t is in row S - until_infer of the step buffer; a step when the
 * buffer is full; its logits held until their window's last frame (window_end: a frame of the
 * step, or up to the network's lag after it) has arrived, then recognised at window_end. */
static kws_status_t on_frame_step(kws_wakeword_t *w)
{
    const uint32_t t = w->n_frames++;
    if (--w->until_infer == 0) {
        int32_t ready = 0;
        uint32_t end = 0;
        w->until_infer = w->config.frames;
        if (w->pending) {
            /* a window ends at most S - 1 frames after the step that completes it, so the
             * previous one was recognised before this step: a model breaking that is wrong */
            return KWS_ERR_ARG;
        }
        const kws_status_t st = w->config.step(w->config.features, w->logits, &ready, &end);
        if (st != KWS_OK) {
            return st;
        }
        if (ready) {
            w->pending = 1;
            w->pending_end = end;
        }
    }
    /* frames count modulo 2^32: the window's end has arrived when t - end is "non-negative" */
    if (w->pending && (t - w->pending_end) < 0x80000000u) {
        w->pending = 0;
        return recognise(w, w->pending_end);
    }
    return KWS_OK;
}

kws_status_t kws_wakeword_process(kws_wakeword_t *w)
{
    if (w == NULL || w->audio == NULL) {
        return KWS_ERR_ARG;
    }
    kws_audio_t *a = w->audio;
    const int32_t n_out = w->config.tables->n_out;
    const int32_t streaming = w->config.step != NULL;
    const size_t keep = streaming ? 0 : (size_t)(w->config.frames - 1) * (size_t)n_out;
    for (;;) {
        const uint32_t r = a->read_count;
        const uint32_t avail = a->write_count - r;
        if (avail == 0) {
            return KWS_OK;
        }
        KWS_BARRIER();
        const uint32_t start = r & (a->capacity - 1);
        const uint32_t span = avail < a->capacity - start ? avail : a->capacity - start;
        /* Feed at most up to the next frame boundary, so each push yields 0 or 1 frame. */
        const int32_t need = w->config.tables->window_len - w->stream.filled;
        const int32_t take = (int32_t)span < need ? (int32_t)span : need;
        const int32_t completes = take == need;
        int8_t *newest;
        int32_t got = 0;
        if (streaming) {            /* the step buffer's next row */
            newest = w->config.features +
                     (size_t)(w->config.frames - w->until_infer) * (size_t)n_out;
        } else {                    /* the window's last row, after the shift */
            newest = w->config.features + keep;
            if (completes && keep > 0) {
                memmove(w->config.features, w->config.features + n_out, keep);
            }
        }
        kws_status_t st = kws_mfcc_stream_push(&w->stream, a->buffer + start, take,
                                               completes ? newest : NULL, completes, &got);
        KWS_BARRIER();
        a->read_count = r + (uint32_t)take;
        if (st != KWS_OK) {
            return st;
        }
        if (got == 1) {
            st = streaming ? on_frame_step(w) : on_frame_window(w);
            if (st != KWS_OK) {
                return st;
            }
        }
    }
}
