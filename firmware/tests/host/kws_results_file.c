/* The result file on the host (see kws_results_file.h). */
#include "kws_results_file.h"

static int file_sink(void *ctx, const void *data, uint32_t n)
{
    return fwrite(data, 1, n, (FILE *)ctx) == n ? 0 : 1;
}

kws_status_t kws_results_file_open(kws_results_file_t *out, const char *path)
{
    if (out == NULL || path == NULL || (out->file = fopen(path, "wb")) == NULL) {
        return KWS_ERR_ARG;
    }
    return kws_results_start(&out->results, file_sink, out->file);
}

kws_status_t kws_results_file_close(kws_results_file_t *out)
{
    kws_status_t status;
    if (out == NULL || out->file == NULL) {
        return KWS_ERR_ARG;
    }
    status = out->results.error != KWS_OK ? out->results.error : kws_results_finish(&out->results);
    if (fclose(out->file) != 0 && status == KWS_OK) {
        status = KWS_ERR_SIZE;
    }
    out->file = NULL;
    return status;
}
