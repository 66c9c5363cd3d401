/* Host harness for the result-file writer (kws_results.h), driven by tests/test_results.py.
 *
 *   kws_results_tool write OUT     every dtype, a scalar of each extreme, empty and 8-dimensional
 *                                  arrays, an array written in pieces; exit 0
 *   kws_results_tool stop OUT N    N arrays, then exit 0 without the end marker (a harness that
 *                                  stopped early)
 *   kws_results_tool misuse OUT    each misuse returns its status and sticks, and the file has
 *                                  no end marker; exit 0 when all did, 1 (naming it) otherwise
 * Exit 2: usage or I/O error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kws_results_file.h"

static int write_all(kws_results_t *r)
{
    static const int8_t s8[3][4] = {{-128, -1, 0, 1}, {2, 3, 4, 5}, {6, 7, 126, 127}};
    static const uint8_t u8[1] = {255};
    static const int16_t s16[1] = {0};
    static const uint16_t u16 = 65535u;
    static const int32_t s32[5] = {INT32_MIN, -1, 0, 1, INT32_MAX};
    static const uint32_t u32[2][2] = {{0u, 1u}, {0x80000000u, UINT32_MAX}};
    static const uint32_t dims_s8[2] = {3, 4}, dims_u8[1] = {1}, dims_empty[3] = {2, 0, 3};
    static const uint32_t dims_s32[1] = {5}, dims_u32[2] = {2, 2};
    static const uint32_t dims8[8] = {1, 2, 1, 2, 1, 2, 1, 2};
    static const uint32_t dims_pieces[2] = {4, 3};
    int16_t eight[16];
    int32_t pieces[12];
    int i;
    for (i = 0; i < 16; i++) {
        eight[i] = (int16_t)(i * 1000 - 8000);
    }
    for (i = 0; i < 12; i++) {
        pieces[i] = i * i - 50;
    }
    return kws_results_array(r, "int8.matrix", KWS_RESULTS_INT8, 2, dims_s8, s8) != KWS_OK ||
           kws_results_array(r, "uint8", KWS_RESULTS_UINT8, 1, dims_u8, u8) != KWS_OK ||
           kws_results_array(r, "empty", KWS_RESULTS_INT16, 3, dims_empty, s16) != KWS_OK ||
           kws_results_array(r, "uint16_scalar", KWS_RESULTS_UINT16, 0, NULL, &u16) != KWS_OK ||
           kws_results_array(r, "int32", KWS_RESULTS_INT32, 1, dims_s32, s32) != KWS_OK ||
           kws_results_array(r, "uint32-2x2", KWS_RESULTS_UINT32, 2, dims_u32, u32) != KWS_OK ||
           kws_results_i64(r, "int64_min", INT64_MIN) != KWS_OK ||
           kws_results_u64(r, "uint64_max", UINT64_MAX) != KWS_OK ||
           kws_results_array(r, "eight_dims", KWS_RESULTS_INT16, 8, dims8, eight) != KWS_OK ||
           kws_results_begin(r, "pieces", KWS_RESULTS_INT32, 2, dims_pieces) != KWS_OK ||
           kws_results_append(r, pieces, 5) != KWS_OK ||
           kws_results_append(r, NULL, 0) != KWS_OK ||
           kws_results_append(r, pieces + 5, 7) != KWS_OK;
}

/* One misuse: `got` must be `want`, and the writer must keep failing afterwards. */
static int expect(kws_results_t *r, const char *what, kws_status_t got, kws_status_t want)
{
    if (got != want || kws_results_u64(r, "after", 1) != want) {
        fprintf(stderr, "misuse '%s': status %d (want %d), then %d\n", what, (int)got, (int)want,
                (int)kws_results_u64(r, "after", 1));
        return 1;
    }
    return 0;
}

static int failing_sink(void *ctx, const void *data, uint32_t n)
{
    (void)ctx;
    (void)data;
    return n > 0;
}

/* Takes every byte and forgets it: the misuses below write to no file. */
static int null_sink(void *ctx, const void *data, uint32_t n)
{
    (void)ctx;
    (void)data;
    (void)n;
    return 0;
}

static int misuse(kws_results_file_t *f)
{
    static const uint32_t dims[1] = {3};
    static const uint32_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint32_t huge[3] = {1u << 31, 1u << 31, 1u << 31};
    static const int8_t x[4] = {1, 2, 3, 4};
    const char *const bad_names[] = {"", "has space", "slash/", "x\n",
                                     "a123456789012345678901234567890123456789012345678901234567890123"};
    kws_results_t r;
    int bad = 0;
    size_t i;
    for (i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        (void)kws_results_start(&r, null_sink, NULL);
        bad |= expect(&r, bad_names[i],
                      kws_results_array(&r, bad_names[i], KWS_RESULTS_INT8, 1, dims, x),
                      KWS_ERR_ARG);
    }
    (void)kws_results_start(&r, failing_sink, NULL);
    bad |= expect(&r, "a sink that fails", r.error, KWS_ERR_SIZE);
#define FRESH() kws_results_start(&r, null_sink, NULL)
    FRESH();
    bad |= expect(&r, "dtype 0", kws_results_array(&r, "a", (kws_results_dtype_t)0, 1, dims, x),
                  KWS_ERR_ARG);
    FRESH();
    bad |= expect(&r, "dtype 9", kws_results_array(&r, "a", (kws_results_dtype_t)9, 1, dims, x),
                  KWS_ERR_ARG);
    FRESH();
    bad |= expect(&r, "9 dims", kws_results_array(&r, "a", KWS_RESULTS_INT8, 9, nine, x),
                  KWS_ERR_ARG);
    FRESH();
    bad |= expect(&r, "NULL dims", kws_results_begin(&r, "a", KWS_RESULTS_INT8, 1, NULL),
                  KWS_ERR_ARG);
    FRESH();
    bad |= expect(&r, "2^93 elements", kws_results_begin(&r, "a", KWS_RESULTS_INT8, 3, huge),
                  KWS_ERR_ARG);
    FRESH();
    (void)kws_results_begin(&r, "a", KWS_RESULTS_INT8, 1, dims);
    bad |= expect(&r, "4 elements into 3", kws_results_append(&r, x, 4), KWS_ERR_ARG);
    FRESH();
    (void)kws_results_begin(&r, "a", KWS_RESULTS_INT8, 1, dims);
    (void)kws_results_append(&r, x, 2);
    bad |= expect(&r, "an array begun before the last is complete",
                  kws_results_array(&r, "b", KWS_RESULTS_INT8, 1, dims, x), KWS_ERR_ARG);
    FRESH();
    (void)kws_results_begin(&r, "a", KWS_RESULTS_INT8, 1, dims);
    bad |= expect(&r, "finish with an incomplete array", kws_results_finish(&r), KWS_ERR_ARG);
    FRESH();
    (void)kws_results_begin(&r, "a", KWS_RESULTS_INT8, 1, dims);
    bad |= expect(&r, "NULL data", kws_results_append(&r, NULL, 3), KWS_ERR_ARG);
    FRESH();
    (void)kws_results_finish(&r);
    bad |= expect(&r, "an array after finish",
                  kws_results_array(&r, "a", KWS_RESULTS_INT8, 1, dims, x), KWS_ERR_ARG);
#undef FRESH
    /* the file: one good array, then a misuse; closing it must report the misuse and leave the
     * file without its end marker */
    bad |= kws_results_array(&f->results, "before", KWS_RESULTS_INT8, 1, dims, x) != KWS_OK;
    bad |= kws_results_append(&f->results, x, 1) != KWS_ERR_ARG;
    if (bad) {
        fprintf(stderr, "misuse: the writer accepted a misuse or did not keep its error\n");
    }
    return bad;
}

int main(int argc, char **argv)
{
    kws_results_file_t f;
    int bad = 0;
    if (argc < 3 || (strcmp(argv[1], "stop") == 0 && argc != 4) ||
        kws_results_file_open(&f, argv[2]) != KWS_OK) {
        fprintf(stderr, "usage: %s write|misuse OUT | stop OUT N\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "write") == 0) {
        bad = write_all(&f.results);
    } else if (strcmp(argv[1], "stop") == 0) {
        const long n = atol(argv[3]);
        long i;
        for (i = 0; i < n && !bad; i++) {
            char name[32];
            snprintf(name, sizeof name, "a%ld", i);
            bad = kws_results_u64(&f.results, name, (uint64_t)i) != KWS_OK;
        }
        fclose(f.file);
        return bad ? 2 : 0;
    } else if (strcmp(argv[1], "misuse") == 0) {
        bad = misuse(&f);
        if (kws_results_file_close(&f) != KWS_ERR_ARG) {
            fprintf(stderr, "misuse: closing after a misuse did not report it\n");
            bad = 1;
        }
        return bad;
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    if (kws_results_file_close(&f) != KWS_OK || bad) {
        fprintf(stderr, "writing %s failed\n", argv[2]);
        return 2;
    }
    return 0;
}
