/* What the fuzz harnesses share (firmware/tests/fuzz/, built by kws/toolchain/fuzz.py).
 *
 * Each harness (kws_fuzz_<name>.c) implements kws_fuzz_one: it decodes an arbitrary byte string
 * into the arguments of a library call -- within the ranges the headers document, or, when the
 * input asks for it, with one argument outside them -- makes the call and checks the result
 * against the header's contract and a plain reference written in the harness. A broken check
 * calls kws_fuzz_fail, which prints the reason and aborts, so libFuzzer (or the driver) stops on
 * the input and keeps it. The sanitizers (ASan + UBSan, -fno-sanitize-recover=all) stop on any
 * out-of-bounds access or undefined behaviour the same way.
 *
 * Two engines link the same harness:
 *   kws_fuzz_libfuzzer.c  LLVMFuzzerTestOneInput: clang -fsanitize=fuzzer (coverage-guided);
 *                         with $KWS_FUZZ_RECORD set it records every input it runs there
 *   kws_fuzz_main.c       a main of its own, any compiler: seeded random inputs (--random N)
 *                         and replay of input files; --record writes what each input called and
 *                         got as a result file (kws_results.h), for the golden comparison in
 *                         Python (kws.toolchain.fuzz).
 *
 * Decoding never fails: past the end of the input every byte reads as 0, so every input,
 * empty included, is a valid case. */
#ifndef KWS_FUZZ_H
#define KWS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "kws_results.h"

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
} kws_fuzz_input_t;

/* The next byte (0 past the end). */
uint8_t kws_fuzz_u8(kws_fuzz_input_t *in);
/* The next 4 bytes as a little-endian uint32. */
uint32_t kws_fuzz_u32(kws_fuzz_input_t *in);
/* A value in [lo, hi] (lo <= hi), from as few bytes as the range needs. */
int32_t kws_fuzz_range(kws_fuzz_input_t *in, int32_t lo, int32_t hi);
/* n bytes into dst (zeros past the end). */
void kws_fuzz_bytes(kws_fuzz_input_t *in, void *dst, size_t n);
/* Bytes not read yet. */
size_t kws_fuzz_left(const kws_fuzz_input_t *in);

/* Where a harness records one input's call for the golden comparison; NULL: not recording
 * (libFuzzer, --random). Arrays are named "<index>.<name>". */
typedef struct {
    kws_results_t *results;
    long index;
} kws_fuzz_record_t;

void kws_fuzz_put(kws_fuzz_record_t *rec, const char *name, kws_results_dtype_t dtype,
                  uint32_t ndim, const uint32_t *dims, const void *data);
/* One int64 scalar. */
void kws_fuzz_put_i64(kws_fuzz_record_t *rec, const char *name, int64_t value);

/* The harness: one input. rec: see kws_fuzz_record_t. */
void kws_fuzz_one(const uint8_t *data, size_t size, kws_fuzz_record_t *rec);

/* kws_fuzz_one recording into results (NULL: not recording) as input `index`, its bytes first
 * ("<index>.input"). */
void kws_fuzz_run(const uint8_t *data, size_t size, kws_results_t *results, long index);

/* A broken check: prints "kws_fuzz: <harness>: <message>" and aborts. */
void kws_fuzz_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;

#define KWS_FUZZ_CHECK(cond, ...)                                                             \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            kws_fuzz_fail(__VA_ARGS__);                                                       \
        }                                                                                     \
    } while (0)

/* The harness's name (for messages), defined by each harness. */
extern const char kws_fuzz_name[];

#endif /* KWS_FUZZ_H */
