/* The harnesses' result file: named arrays in a versioned binary format, written here and read
 * by kws/toolchain/results.py (read_results). Harnesses keep their human-readable console lines;
 * programs read numbers from this file only.
 *
 * Layout, version 1 (every integer little-endian, no padding):
 *   char   magic[4]        "KWSR"
 *   uint32 version         KWS_RESULTS_VERSION
 *   then, per array (names unique in the file):
 *     uint8  name_len      1 .. KWS_RESULTS_MAX_NAME
 *     char   name[name_len]  [A-Za-z0-9_.-]
 *     uint8  dtype         kws_results_dtype_t
 *     uint8  ndim          0 .. KWS_RESULTS_MAX_DIMS (0: a scalar, one element)
 *     uint32 dims[ndim]    any may be 0 (an empty array)
 *     data                 prod(dims) elements, row-major (the last dimension fastest)
 *   and last, the end marker, without which the file counts as truncated:
 *     uint8  0             (a name length of 0)
 *     char   end[4]        "KEND"
 *     uint32 n_arrays      arrays before the marker
 *
 * The writer is allocation-free and knows no files: it hands bytes to a sink (stdio on the host,
 * semihosting on the target). Element data is copied as it lies in memory, so it requires a
 * little-endian CPU (kws_results_start checks). Use:
 *   kws_results_start(&r, sink, ctx);
 *   kws_results_array(&r, "logits", KWS_RESULTS_INT8, 2, dims, logits);      (whole arrays)
 *   kws_results_begin(&r, "features", KWS_RESULTS_INT8, 3, dims);            (or in pieces:
 *   kws_results_append(&r, clip_features, n);  ...                           element counts)
 *   kws_results_finish(&r);                                                  (the end marker)
 * Every call returns KWS_OK, KWS_ERR_ARG on a misuse (NULL, a bad name, dtype or ndim, more
 * elements than the open array holds, an array begun before the last one is complete, a call
 * after finish) or KWS_ERR_SIZE when the sink did not take every byte. Errors stick: once a call
 * fails, every later call returns its status and the end marker is never written, so a reader
 * sees a truncated file rather than a complete-looking wrong one. */
#ifndef KWS_RESULTS_H
#define KWS_RESULTS_H

#include <stdint.h>

#include "kws_status.h"

#define KWS_RESULTS_VERSION 1u
#define KWS_RESULTS_MAX_NAME 63
#define KWS_RESULTS_MAX_DIMS 8

typedef enum {
    KWS_RESULTS_INT8 = 1,
    KWS_RESULTS_UINT8 = 2,
    KWS_RESULTS_INT16 = 3,
    KWS_RESULTS_UINT16 = 4,
    KWS_RESULTS_INT32 = 5,
    KWS_RESULTS_UINT32 = 6,
    KWS_RESULTS_INT64 = 7,
    KWS_RESULTS_UINT64 = 8
} kws_results_dtype_t;

/* Writes n bytes; returns 0 when all of them were written. */
typedef int (*kws_results_sink_fn)(void *ctx, const void *data, uint32_t n);

typedef struct {
    kws_results_sink_fn sink;
    void *ctx;
    uint32_t n_arrays;   /* arrays begun */
    uint64_t pending;    /* elements the open array still needs */
    uint32_t item;       /* bytes per element of the open array */
    int32_t state;       /* private: see kws_results.c */
    kws_status_t error;  /* the first failure, KWS_OK while none */
} kws_results_t;

/* Writes the magic and the version. */
kws_status_t kws_results_start(kws_results_t *r, kws_results_sink_fn sink, void *ctx);

/* Starts an array of prod(dims[0..ndim)) elements of dtype (dims may be NULL when ndim is 0),
 * filled by kws_results_append; the previous array must be complete. */
kws_status_t kws_results_begin(kws_results_t *r, const char *name, kws_results_dtype_t dtype,
                               uint32_t ndim, const uint32_t *dims);

/* The next `count` elements of the open array (count may be 0; data may then be NULL). */
kws_status_t kws_results_append(kws_results_t *r, const void *data, uint32_t count);

/* kws_results_begin, then every element at once. */
kws_status_t kws_results_array(kws_results_t *r, const char *name, kws_results_dtype_t dtype,
                               uint32_t ndim, const uint32_t *dims, const void *data);

/* Scalars (ndim 0). */
kws_status_t kws_results_u64(kws_results_t *r, const char *name, uint64_t value);
kws_status_t kws_results_i64(kws_results_t *r, const char *name, int64_t value);

/* The end marker; the last array must be complete. */
kws_status_t kws_results_finish(kws_results_t *r);

#endif /* KWS_RESULTS_H */
