/* The result file through semihosting (see kws_results_semihost.h). */
#include "kws_results_semihost.h"

#include "semihost.h"

#define CMDLINE_MAX 128

static int semihost_sink(void *ctx, const void *data, uint32_t n)
{
    return sh_write(((const kws_results_semihost_t *)ctx)->handle, data, n) != 0u;
}

kws_status_t kws_results_semihost_open(kws_results_semihost_t *out)
{
    char cmdline[CMDLINE_MAX];
    const char *name = cmdline;
    uint32_t i;
    if (out == 0) {
        return KWS_ERR_ARG;
    }
    out->handle = -1;
    if (sh_get_cmdline(cmdline, CMDLINE_MAX) != 0) {
        sh_puts("ERROR no semihosting command line\n");
        return KWS_ERR_ARG;
    }
    /* "PROGRAM RESULTS": exactly two words; anything else could name the program itself */
    for (i = 0; cmdline[i] != '\0' && cmdline[i] != ' '; i++) {
    }
    if (i == 0 || cmdline[i] != ' ') {
        sh_puts("ERROR the semihosting command line names no result file\n");
        return KWS_ERR_ARG;
    }
    name = cmdline + i + 1;
    for (i = 0; name[i] != '\0'; i++) {
        if (name[i] == ' ') {
            sh_puts("ERROR the semihosting command line has more than two words\n");
            return KWS_ERR_ARG;
        }
    }
    if (i == 0 || (out->handle = sh_open(name, i, SH_MODE_WB)) < 0) {
        sh_puts("ERROR cannot create the result file\n");
        return KWS_ERR_ARG;
    }
    return kws_results_start(&out->results, semihost_sink, out);
}

kws_status_t kws_results_semihost_close(kws_results_semihost_t *out)
{
    kws_status_t status;
    if (out == 0 || out->handle < 0) {
        return KWS_ERR_ARG;
    }
    status = out->results.error != KWS_OK ? out->results.error : kws_results_finish(&out->results);
    if (sh_close(out->handle) != 0 && status == KWS_OK) {
        status = KWS_ERR_SIZE;
    }
    out->handle = -1;
    return status;
}
