/* A harness's own main (kws_fuzz.h), for any compiler: seeded random inputs, replay, recording.
 *
 *   kws_fuzz_<name> [--random N] [--seed S] [--max-len L] [--record OUT.kwsr]
 *                   [--artifact-prefix P] [FILE...]
 *
 * FILE...            inputs, run in order (with --random: the seeds random inputs mutate)
 * --random N         then N seeded random inputs: half fresh random bytes of a random length in
 *                    [0, L] (default 4096), half a seed FILE mutated (byte flips, extreme bytes,
 *                    a span inserted or deleted, truncation) -- the fallback where clang's
 *                    libFuzzer is not installed
 * --record OUT       a result file (kws_results.h): per input i the harness's arrays
 *                    "<i>.<name>" and "<i>.input", its bytes (kws.toolchain.fuzz compares them
 *                    with the golden models)
 * --artifact-prefix  where an input that fails is written (default "./"): P + "crash-<i>"
 *
 * Prints "executions: N" and exits 0 when every input passed. A failed check or a sanitizer
 * report writes the input and ends the process (abort, exit status non-zero). */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<sanitizer/common_interface_defs.h>)
#include <sanitizer/common_interface_defs.h>
#define KWS_FUZZ_DEATH_CALLBACK 1
#endif
#endif

#include "kws_fuzz.h"
#include "kws_results_file.h"

#define MAX_FILE (1L << 20)

static const uint8_t *current;        /* the input being run, for the crash file */
static size_t current_size;
static long current_index;
static char crash_path[4096];

/* Writes the current input to the crash file: from a signal handler or the sanitizers' death
 * callback, so only open/write/close. */
static void save_current(void)
{
    char path[sizeof crash_path + 32];
    size_t n = strlen(crash_path), k = 0;
    char digits[24];
    long i = current_index;
    int fd;
    if (current == NULL) {
        return;
    }
    memcpy(path, crash_path, n);
    memcpy(path + n, "crash-", 6);
    n += 6;
    do {
        digits[k++] = (char)('0' + i % 10);
        i /= 10;
    } while (i > 0 && k < sizeof digits);
    while (k > 0) {
        path[n++] = digits[--k];
    }
    path[n] = '\0';
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (current_size > 0 && write(fd, current, current_size) < 0) {
            (void)0;
        }
        close(fd);
        if (write(2, "kws_fuzz: input written to ", 27) < 0 || write(2, path, n) < 0 ||
            write(2, "\n", 1) < 0) {
            (void)0;
        }
    }
}

static void on_abort(int sig)
{
    save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The sanitizers end a run by abort(), so that on_abort writes the input (their own death
 * callback is not called by every runtime: gcc's UBSan skips it). */
const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__asan_default_options(void)
{
    return "abort_on_error=1";
}
const char *__ubsan_default_options(void)
{
    return "abort_on_error=1:print_stacktrace=1";
}

/* splitmix64 */
static uint64_t rng_state;
static uint64_t next_random(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t below(size_t n)
{
    return n == 0 ? 0 : (size_t)(next_random() % n);
}

typedef struct {
    uint8_t *data;
    size_t size;
} blob_t;

static int read_file(const char *path, blob_t *out)
{
    FILE *f = fopen(path, "rb");
    long size;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > MAX_FILE ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s (or larger than %ld bytes)\n", path, MAX_FILE);
        if (f != NULL) {
            fclose(f);
        }
        return 0;
    }
    out->size = (size_t)size;
    out->data = malloc(out->size > 0 ? out->size : 1); /* exact: ASan sees overreads */
    if (out->data == NULL || fread(out->data, 1, out->size, f) != out->size) {
        fprintf(stderr, "cannot read %s\n", path);
        fclose(f);
        return 0;
    }
    fclose(f);
    return 1;
}

/* A random input into buf [cap]: fresh bytes, or a mutated seed. Returns its size. */
static size_t random_input(uint8_t *buf, size_t cap, size_t max_len, const blob_t *seeds,
                           size_t n_seeds)
{
    static const uint8_t extremes[] = {0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE};
    size_t size, i, k;
    if (n_seeds == 0 || next_random() % 2 == 0) {
        size = below(max_len + 1);
        for (i = 0; i < size; i++) {
            buf[i] = (uint8_t)next_random();
        }
        return size;
    }
    const blob_t *seed = &seeds[below(n_seeds)];
    size = seed->size < cap ? seed->size : cap;
    memcpy(buf, seed->data, size);
    for (k = 1 + below(4); k > 0; k--) {
        switch (below(5)) {
        case 0: /* flip bits */
            if (size > 0) {
                buf[below(size)] ^= (uint8_t)(1 + below(255));
            }
            break;
        case 1: /* an extreme byte */
            if (size > 0) {
                buf[below(size)] = extremes[below(sizeof extremes)];
            }
            break;
        case 2: { /* insert up to 16 random bytes */
            const size_t at = below(size + 1), n = 1 + below(16);
            if (size + n <= cap) {
                memmove(buf + at + n, buf + at, size - at);
                for (i = 0; i < n; i++) {
                    buf[at + i] = (uint8_t)next_random();
                }
                size += n;
            }
            break;
        }
        case 3: { /* delete a span */
            const size_t at = below(size + 1), n = below(size - at + 1) % 17;
            memmove(buf + at, buf + at + n, size - at - n);
            size -= n;
            break;
        }
        default: /* truncate */
            size = below(size + 1);
            break;
        }
    }
    return size;
}

static void run(const uint8_t *data, size_t size, long index, kws_results_t *results)
{
    current = data;
    current_size = size;
    current_index = index;
    kws_fuzz_run(data, size, results, index);
}

int main(int argc, char **argv)
{
    long n_random = 0, executions = 0;
    unsigned long long seed = 0;
    size_t max_len = 4096, n_files = 0, i;
    const char *record = NULL;
    blob_t *files = calloc((size_t)argc, sizeof(blob_t));
    kws_results_file_t out;
    int a;

    strcpy(crash_path, "./");
    for (a = 1; a < argc; a++) {
        const int more = a + 1 < argc;
        if (strcmp(argv[a], "--random") == 0 && more) {
            n_random = atol(argv[++a]);
        } else if (strcmp(argv[a], "--seed") == 0 && more) {
            seed = strtoull(argv[++a], NULL, 10);
        } else if (strcmp(argv[a], "--max-len") == 0 && more) {
            max_len = (size_t)atol(argv[++a]);
        } else if (strcmp(argv[a], "--record") == 0 && more) {
            record = argv[++a];
        } else if (strcmp(argv[a], "--artifact-prefix") == 0 && more &&
                   strlen(argv[a + 1]) < sizeof crash_path) {
            strcpy(crash_path, argv[++a]);
        } else if (argv[a][0] == '-' && argv[a][1] == '-') {
            fprintf(stderr, "usage: %s [--random N] [--seed S] [--max-len L] [--record OUT.kwsr] "
                            "[--artifact-prefix P] [FILE...]\n", argv[0]);
            return 2;
        } else if (files == NULL || !read_file(argv[a], &files[n_files++])) {
            return 2;
        }
    }
    if (n_random < 0 || max_len > (size_t)MAX_FILE) {
        fprintf(stderr, "--random must be >= 0 and --max-len <= %ld\n", MAX_FILE);
        return 2;
    }
    signal(SIGABRT, on_abort);
#ifdef KWS_FUZZ_DEATH_CALLBACK
    __sanitizer_set_death_callback(save_current);
#endif
    if (record != NULL && kws_results_file_open(&out, record) != KWS_OK) {
        fprintf(stderr, "cannot create %s\n", record);
        return 2;
    }
    kws_results_t *results = record != NULL ? &out.results : NULL;
    for (i = 0; i < n_files; i++) {
        run(files[i].data, files[i].size, executions++, results);
    }
    if (n_random > 0) {
        const size_t cap = (max_len > MAX_FILE / 2 ? MAX_FILE : 2 * max_len) + 64;
        uint8_t *buf = malloc(cap);
        if (buf == NULL) {
            fprintf(stderr, "out of memory\n");
            return 2;
        }
        rng_state = seed;
        while (n_random-- > 0) {
            const size_t size = random_input(buf, cap, max_len, files, n_files);
            /* an exact-size copy, so that ASan sees a read past the input's end */
            uint8_t *copy = malloc(size > 0 ? size : 1);
            if (copy == NULL) {
                fprintf(stderr, "out of memory\n");
                return 2;
            }
            memcpy(copy, buf, size);
            run(copy, size, executions++, results);
            free(copy);
        }
        free(buf);
    }
    current = NULL;
    current_size = 0;
    if (record != NULL && kws_results_file_close(&out) != KWS_OK) {
        fprintf(stderr, "cannot write %s\n", record);
        return 2;
    }
    for (i = 0; i < n_files; i++) {
        free(files[i].data);
    }
    free(files);
    printf("executions: %ld\n", executions);
    return 0;
}
