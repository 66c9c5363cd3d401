/* The result-file writer (see kws_results.h for the layout). */
#include "kws_results.h"

#include <string.h>

enum { STATE_IDLE = 0, STATE_STARTED = 0x5253574B, STATE_FINISHED = 0x444E454B };

static const uint32_t item_bytes[] = {0, 1, 1, 2, 2, 4, 4, 8, 8}; /* by dtype */

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

static kws_status_t fail(kws_results_t *r, kws_status_t status)
{
    if (r->error == KWS_OK) {
        r->error = status;
    }
    return r->error;
}

static kws_status_t emit(kws_results_t *r, const void *data, uint32_t n)
{
    if (n > 0 && r->sink(r->ctx, data, n) != 0) {
        return fail(r, KWS_ERR_SIZE);
    }
    return KWS_OK;
}

/* A usable writer with no array waiting for elements. */
static int ready(const kws_results_t *r)
{
    return r->state == STATE_STARTED && r->error == KWS_OK && r->pending == 0;
}

static int name_ok(const char *name, uint32_t *len)
{
    uint32_t i;
    if (name == 0) {
        return 0;
    }
    for (i = 0; name[i] != '\0'; i++) {
        const char c = name[i];
        if (i >= KWS_RESULTS_MAX_NAME ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return 0;
        }
    }
    *len = i;
    return i > 0;
}

kws_status_t kws_results_start(kws_results_t *r, kws_results_sink_fn sink, void *ctx)
{
    const uint16_t probe = 1;
    uint8_t head[8];
    if (r == 0) {
        return KWS_ERR_ARG;
    }
    r->sink = sink;
    r->ctx = ctx;
    r->n_arrays = 0;
    r->pending = 0;
    r->item = 0;
    r->state = STATE_STARTED;
    r->error = KWS_OK;
    /* the elements go out as they lie in memory: only a little-endian CPU writes the format */
    if (sink == 0 || *(const uint8_t *)&probe != 1) {
        return fail(r, KWS_ERR_ARG);
    }
    memcpy(head, "KWSR", 4);
    put_u32(head + 4, KWS_RESULTS_VERSION);
    return emit(r, head, sizeof head);
}

kws_status_t kws_results_begin(kws_results_t *r, const char *name, kws_results_dtype_t dtype,
                               uint32_t ndim, const uint32_t *dims)
{
    uint8_t head[1 + KWS_RESULTS_MAX_NAME + 2 + 4 * KWS_RESULTS_MAX_DIMS];
    uint8_t *p = head;
    uint64_t count = 1;
    uint32_t len = 0, i;
    if (r == 0) {
        return KWS_ERR_ARG;
    }
    if (!ready(r)) {
        return fail(r, KWS_ERR_ARG);
    }
    if (!name_ok(name, &len) || (int)dtype < KWS_RESULTS_INT8 || (int)dtype > KWS_RESULTS_UINT64 ||
        ndim > KWS_RESULTS_MAX_DIMS || (ndim > 0 && dims == 0)) {
        return fail(r, KWS_ERR_ARG);
    }
    for (i = 0; i < ndim; i++) {
        /* every element count below 2^56 keeps count * 8 bytes within uint64 */
        if (dims[i] != 0 && count > ((uint64_t)1 << 56) / dims[i]) {
            return fail(r, KWS_ERR_ARG);
        }
        count *= dims[i];
    }
    *p++ = (uint8_t)len;
    memcpy(p, name, len);
    p += len;
    *p++ = (uint8_t)dtype;
    *p++ = (uint8_t)ndim;
    for (i = 0; i < ndim; i++) {
        p = put_u32(p, dims[i]);
    }
    r->n_arrays++;
    r->item = item_bytes[dtype];
    r->pending = count;
    return emit(r, head, (uint32_t)(p - head));
}

kws_status_t kws_results_append(kws_results_t *r, const void *data, uint32_t count)
{
    if (r == 0) {
        return KWS_ERR_ARG;
    }
    if (r->state != STATE_STARTED || r->error != KWS_OK || count > r->pending ||
        (count > 0 && data == 0) || (uint64_t)count * r->item > UINT32_MAX) {
        return fail(r, KWS_ERR_ARG);
    }
    r->pending -= count;
    return emit(r, data, count * r->item);
}

kws_status_t kws_results_array(kws_results_t *r, const char *name, kws_results_dtype_t dtype,
                               uint32_t ndim, const uint32_t *dims, const void *data)
{
    const uint8_t *bytes = (const uint8_t *)data;
    kws_status_t status = kws_results_begin(r, name, dtype, ndim, dims);
    /* in pieces of at most 2^24 elements: a piece's byte count stays within uint32 */
    while (status == KWS_OK && r->pending > 0) {
        const uint32_t n = r->pending < (1u << 24) ? (uint32_t)r->pending : (1u << 24);
        status = kws_results_append(r, bytes, n);
        bytes += (uint64_t)n * r->item;
    }
    return status;
}

kws_status_t kws_results_u64(kws_results_t *r, const char *name, uint64_t value)
{
    return kws_results_array(r, name, KWS_RESULTS_UINT64, 0, 0, &value);
}

kws_status_t kws_results_i64(kws_results_t *r, const char *name, int64_t value)
{
    return kws_results_array(r, name, KWS_RESULTS_INT64, 0, 0, &value);
}

kws_status_t kws_results_finish(kws_results_t *r)
{
    uint8_t end[9];
    kws_status_t status;
    if (r == 0) {
        return KWS_ERR_ARG;
    }
    if (!ready(r)) {
        return fail(r, KWS_ERR_ARG);
    }
    end[0] = 0;
    memcpy(end + 1, "KEND", 4);
    put_u32(end + 5, r->n_arrays);
    status = emit(r, end, sizeof end);
    if (status == KWS_OK) {
        r->state = STATE_FINISHED;
    }
    return status;
}
