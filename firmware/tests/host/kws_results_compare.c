/* Compares a harness's result file with the golden one, array by array (the ctest cases of
 * cmake/kws_tests.cmake; the golden files are written by kws.toolchain.ctest_cases).
 *
 *   kws_results_compare EXPECTED.kwsr ACTUAL.kwsr
 *
 * Every array of EXPECTED must be in ACTUAL under its name with the same dtype, shape and
 * values (ACTUAL may hold more arrays: numbers the golden side does not model). The first
 * mismatches are printed as `ERROR at pos P of NAME: got G want W`. Exit 0: equal, 1: a
 * difference, 2: a usage, I/O or format error (either file not a complete result file, layout
 * version 1 of firmware/tests/common/kws_results.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARRAYS 1024
#define MAX_DIMS 8
#define MAX_REPORTED 10

typedef struct {
    char name[64];
    int dtype;
    int ndim;
    uint32_t dims[MAX_DIMS];
    uint64_t count;
    const uint8_t *data;
} array_t;

typedef struct {
    uint8_t *bytes;
    long size;
    int n;
    array_t arrays[MAX_ARRAYS];
} file_t;

static const int ITEM_SIZE[9] = {0, 1, 1, 2, 2, 4, 4, 8, 8};   /* by dtype code 1..8 */

static uint32_t u32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int64_t value_at(const array_t *a, uint64_t i)
{
    const uint8_t *p = a->data + i * (uint64_t)ITEM_SIZE[a->dtype];
    uint64_t u = 0;
    int b;
    for (b = ITEM_SIZE[a->dtype] - 1; b >= 0; b--) {
        u = u << 8 | p[b];
    }
    switch (a->dtype) {
    case 1: return (int8_t)u;
    case 3: return (int16_t)u;
    case 5: return (int32_t)u;
    case 7: return (int64_t)u;
    default: return (int64_t)u;   /* unsigned: printed as their bits */
    }
}

static int load(const char *path, file_t *f)
{
    FILE *in = fopen(path, "rb");
    long pos = 8;
    if (in == NULL || fseek(in, 0, SEEK_END) != 0 || (f->size = ftell(in)) < 8 ||
        fseek(in, 0, SEEK_SET) != 0 || (f->bytes = malloc((size_t)f->size)) == NULL ||
        fread(f->bytes, 1, (size_t)f->size, in) != (size_t)f->size) {
        fprintf(stderr, "ERROR: cannot read %s as a result file\n", path);
        if (in != NULL) {
            fclose(in);
        }
        return 0;
    }
    fclose(in);
    if (memcmp(f->bytes, "KWSR", 4) != 0 || u32_at(f->bytes + 4) != 1) {
        fprintf(stderr, "ERROR: %s is not a result file of version 1\n", path);
        return 0;
    }
    f->n = 0;
    for (;;) {
        array_t *a = &f->arrays[f->n];
        int name_len, d;
        if (pos >= f->size) {
            fprintf(stderr, "ERROR: %s: truncated after %d arrays (no end marker)\n", path, f->n);
            return 0;
        }
        name_len = f->bytes[pos++];
        if (name_len == 0) {
            if (pos + 8 != f->size || memcmp(f->bytes + pos, "KEND", 4) != 0 ||
                u32_at(f->bytes + pos + 4) != (uint32_t)f->n) {
                fprintf(stderr, "ERROR: %s: bad end marker\n", path);
                return 0;
            }
            return 1;
        }
        if (f->n == MAX_ARRAYS || name_len > 63 || pos + name_len + 2 > f->size) {
            fprintf(stderr, "ERROR: %s: bad array header at byte %ld\n", path, pos - 1);
            return 0;
        }
        memcpy(a->name, f->bytes + pos, (size_t)name_len);
        a->name[name_len] = '\0';
        pos += name_len;
        a->dtype = f->bytes[pos++];
        a->ndim = f->bytes[pos++];
        if (a->dtype < 1 || a->dtype > 8 || a->ndim > MAX_DIMS ||
            pos + 4L * a->ndim > f->size) {
            fprintf(stderr, "ERROR: %s: array %s: bad dtype or dims\n", path, a->name);
            return 0;
        }
        a->count = 1;
        for (d = 0; d < a->ndim; d++) {
            a->dims[d] = u32_at(f->bytes + pos);
            a->count *= a->dims[d];
            pos += 4;
        }
        if (a->count > (uint64_t)(f->size - pos) / (uint64_t)ITEM_SIZE[a->dtype]) {
            fprintf(stderr, "ERROR: %s: array %s: truncated data\n", path, a->name);
            return 0;
        }
        a->data = f->bytes + pos;
        pos += (long)(a->count * (uint64_t)ITEM_SIZE[a->dtype]);
        f->n++;
    }
}

static file_t expected, actual;

int main(int argc, char **argv)
{
    int i, j, differ = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: %s EXPECTED.kwsr ACTUAL.kwsr\n", argv[0]);
        return 2;
    }
    if (!load(argv[1], &expected) || !load(argv[2], &actual)) {
        return 2;
    }
    for (i = 0; i < expected.n; i++) {
        const array_t *want = &expected.arrays[i];
        const array_t *got = NULL;
        uint64_t k, reported = 0, wrong = 0;
        for (j = 0; j < actual.n && got == NULL; j++) {
            if (strcmp(actual.arrays[j].name, want->name) == 0) {
                got = &actual.arrays[j];
            }
        }
        if (got == NULL) {
            printf("ERROR: %s: no array %s\n", argv[2], want->name);
            differ = 1;
            continue;
        }
        if (got->dtype != want->dtype || got->ndim != want->ndim ||
            memcmp(got->dims, want->dims, sizeof(uint32_t) * (size_t)want->ndim) != 0) {
            printf("ERROR: %s: dtype %d, %d dims (first %u), want dtype %d, %d dims (first %u)\n",
                   want->name, got->dtype, got->ndim, got->ndim ? got->dims[0] : 0,
                   want->dtype, want->ndim, want->ndim ? want->dims[0] : 0);
            differ = 1;
            continue;
        }
        for (k = 0; k < want->count; k++) {
            const int64_t g = value_at(got, k), w = value_at(want, k);
            if (g != w) {
                if (reported++ < MAX_REPORTED) {
                    printf("ERROR at pos %llu of %s: got %lld want %lld\n",
                           (unsigned long long)k, want->name, (long long)g, (long long)w);
                }
                wrong++;
            }
        }
        if (wrong) {
            printf("%s: %llu of %llu values differ\n", want->name, (unsigned long long)wrong,
                   (unsigned long long)want->count);
            differ = 1;
        }
    }
    printf("%s: %d arrays compared with %s: %s\n", argv[2], expected.n, argv[1],
           differ ? "DIFFERENT" : "equal");
    free(expected.bytes);
    free(actual.bytes);
    return differ;
}
