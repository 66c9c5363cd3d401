/* The fuzz harnesses' input decoding, recording and failure report (kws_fuzz.h). */
#include "kws_fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t kws_fuzz_u8(kws_fuzz_input_t *in)
{
    return in->pos < in->size ? in->data[in->pos++] : 0;
}

uint32_t kws_fuzz_u32(kws_fuzz_input_t *in)
{
    uint32_t v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        v |= (uint32_t)kws_fuzz_u8(in) << (8 * i);
    }
    return v;
}

int32_t kws_fuzz_range(kws_fuzz_input_t *in, int32_t lo, int32_t hi)
{
    const uint32_t span = (uint32_t)hi - (uint32_t)lo; /* hi - lo, modulo 2^32 */
    uint32_t v = 0;
    if (span == 0) {
        return lo;
    }
    if (span < 0xFFu) {
        v = kws_fuzz_u8(in) % (span + 1u);
    } else if (span < 0xFFFFu) {
        v = ((uint32_t)kws_fuzz_u8(in) | (uint32_t)kws_fuzz_u8(in) << 8) % (span + 1u);
    } else {
        v = kws_fuzz_u32(in);
        v = span == 0xFFFFFFFFu ? v : v % (span + 1u);
    }
    return (int32_t)((uint32_t)lo + v);
}

void kws_fuzz_bytes(kws_fuzz_input_t *in, void *dst, size_t n)
{
    const size_t have = kws_fuzz_left(in) < n ? kws_fuzz_left(in) : n;
    if (n == 0) {
        return;
    }
    if (have > 0) {
        memcpy(dst, in->data + in->pos, have);
    }
    memset((uint8_t *)dst + have, 0, n - have);
    in->pos += have;
}

size_t kws_fuzz_left(const kws_fuzz_input_t *in)
{
    return in->pos < in->size ? in->size - in->pos : 0;
}

void kws_fuzz_put(kws_fuzz_record_t *rec, const char *name, kws_results_dtype_t dtype,
                  uint32_t ndim, const uint32_t *dims, const void *data)
{
    char full[KWS_RESULTS_MAX_NAME + 1];
    if (rec == NULL) {
        return;
    }
    snprintf(full, sizeof full, "%ld.%s", rec->index, name);
    if (kws_results_array(rec->results, full, dtype, ndim, dims, data) != KWS_OK) {
        kws_fuzz_fail("recording %s failed", full);
    }
}

void kws_fuzz_put_i64(kws_fuzz_record_t *rec, const char *name, int64_t value)
{
    kws_fuzz_put(rec, name, KWS_RESULTS_INT64, 0, NULL, &value);
}

void kws_fuzz_run(const uint8_t *data, size_t size, kws_results_t *results, long index)
{
    kws_fuzz_record_t rec = {results, index};
    if (results != NULL) {
        const uint32_t dims[1] = {(uint32_t)size};
        kws_fuzz_put(&rec, "input", KWS_RESULTS_UINT8, 1, dims, data);
    }
    kws_fuzz_one(data, size, results != NULL ? &rec : NULL);
}

void kws_fuzz_fail(const char *fmt, ...)
{
    va_list args;
    fprintf(stderr, "kws_fuzz: %s: ", kws_fuzz_name);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}
