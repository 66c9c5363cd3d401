/* The result file (kws_results.h) on QEMU's MPS2 boards: written on the host through
 * semihosting. kws.toolchain.cortex_m runs QEMU in the build folder and passes the file's name
 * as the second word of the semihosting command line ("PROGRAM RESULTS"). */
#ifndef KWS_RESULTS_SEMIHOST_H
#define KWS_RESULTS_SEMIHOST_H

#include "kws_results.h"

typedef struct {
    kws_results_t results; /* write arrays through this */
    int32_t handle;
} kws_results_semihost_t;

/* Creates the file the command line names and starts the result file. KWS_ERR_ARG (with a
 * console message) when the command line names none or the host cannot create it. */
kws_status_t kws_results_semihost_open(kws_results_semihost_t *out);

/* Writes the end marker and closes the file; KWS_OK only if every write succeeded. */
kws_status_t kws_results_semihost_close(kws_results_semihost_t *out);

#endif /* KWS_RESULTS_SEMIHOST_H */
