/* libFuzzer's entry point for a harness (kws_fuzz.h): clang -fsanitize=fuzzer,address,undefined.
 * libFuzzer supplies main (run the binary with -help=1 for its options; kws/toolchain/fuzz.py
 * runs it on a corpus folder with -runs / -max_total_time). With the environment variable
 * KWS_FUZZ_RECORD=OUT.kwsr every input run is recorded there (as kws_fuzz_main.c's --record):
 * run the binary on a corpus's files to compare them with the golden models. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>

#include "kws_fuzz.h"
#include "kws_results_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kws_results_file_t record;
static int recording = -1; /* -1: not looked yet */
static long recorded;

static void finish_record(void)
{
    if (kws_results_file_close(&record) != KWS_OK) {
        fprintf(stderr, "kws_fuzz: cannot write $KWS_FUZZ_RECORD\n");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (recording < 0) {
        const char *path = getenv("KWS_FUZZ_RECORD");
        recording = path != NULL && path[0] != '\0';
        if (recording) {
            KWS_FUZZ_CHECK(kws_results_file_open(&record, path) == KWS_OK, "cannot create %s",
                           path);
            atexit(finish_record);
        }
    }
    kws_fuzz_run(data, size, recording ? &record.results : NULL, recorded++);
    return 0;
}
