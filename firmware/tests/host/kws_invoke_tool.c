/* Host harness of the generated window model (kws_model_invoke), for any input shape:
 *
 *   kws_invoke_tool INPUTS.raw OUT.kwsr
 *       int8 inputs [N][KWS_MODEL_INPUT_BYTES] without a header (NHWC each); one
 *       kws_model_invoke per input. OUT (a result file, kws_results.h): "logits" int8
 *       [N][KWS_MODEL_N_CLASSES].
 * First, as an application does at init, kws_model_check(&kws_model_info, NULL, NULL): the
 * generated model against this library (its API version; the front end is not linked here).
 * Exit 0 on success, 1 on a model error (a failed check too), 2 on a usage or I/O error. `kws-import --verify` and its
 * tests run it (with ASan/UBSan in the tests). */
#include <stdio.h>
#include <stdlib.h>

#include "kws_model.h"
#include "kws_results_file.h"

/* The whole file, malloc'd (*n: its bytes); NULL if it cannot be read. */
static int8_t *read_all(const char *path, long *n)
{
    FILE *in = fopen(path, "rb");
    int8_t *data = NULL;
    if (in == NULL) {
        return NULL;
    }
    if (fseek(in, 0, SEEK_END) == 0 && (*n = ftell(in)) >= 0 && fseek(in, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)(*n > 0 ? *n : 1))) != NULL &&
        fread(data, 1, (size_t)*n, in) != (size_t)*n) {
        free(data);
        data = NULL;
    }
    fclose(in);
    return data;
}

int main(int argc, char **argv)
{
    long n_bytes = 0, i;
    int8_t *inputs, *logits;
    kws_results_file_t out;
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUTS.raw OUT.kwsr\n", argv[0]);
        return 2;
    }
    const kws_status_t check = kws_model_check(&kws_model_info, NULL, NULL);
    if (check != KWS_OK) {
        fprintf(stderr, "ERROR: kws_model_check: status %d (model %s, API %d, library %d)\n",
                (int)check, kws_model_info.hash, (int)kws_model_info.api_version,
                KWS_API_VERSION);
        return 1;
    }
    inputs = read_all(argv[1], &n_bytes);
    if (inputs == NULL || n_bytes == 0 || n_bytes % KWS_MODEL_INPUT_BYTES != 0) {
        fprintf(stderr, "ERROR: %s must hold int8 inputs of %d bytes each\n", argv[1],
                KWS_MODEL_INPUT_BYTES);
        return 2;
    }
    const long n = n_bytes / KWS_MODEL_INPUT_BYTES;
    logits = malloc((size_t)n * KWS_MODEL_N_CLASSES);
    if (logits == NULL) {
        fprintf(stderr, "ERROR: out of memory\n");
        return 2;
    }
    for (i = 0; i < n; i++) {
        const kws_status_t status = kws_model_invoke(inputs + i * KWS_MODEL_INPUT_BYTES,
                                                     logits + i * KWS_MODEL_N_CLASSES);
        if (status != KWS_OK) {
            fprintf(stderr, "ERROR: input %ld: kws_model_invoke status %d\n", i, (int)status);
            return 1;
        }
    }
    if (kws_results_file_open(&out, argv[2]) != KWS_OK) {
        fprintf(stderr, "ERROR: cannot create %s\n", argv[2]);
        return 2;
    }
    {
        const uint32_t dims[2] = {(uint32_t)n, KWS_MODEL_N_CLASSES};
        (void)kws_results_array(&out.results, "logits", KWS_RESULTS_INT8, 2, dims, logits);
    }
    free(inputs);
    free(logits);
    if (kws_results_file_close(&out) != KWS_OK) {
        fprintf(stderr, "ERROR: writing %s failed\n", argv[2]);
        return 2;
    }
    return 0;
}
