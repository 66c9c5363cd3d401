/* The result file (kws_results.h) on the host: written with stdio. */
#ifndef KWS_RESULTS_FILE_H
#define KWS_RESULTS_FILE_H

#include <stdio.h>

#include "kws_results.h"

typedef struct {
    kws_results_t results; /* write arrays through this */
    FILE *file;
} kws_results_file_t;

/* Creates (truncates) `path` and starts the result file. KWS_ERR_ARG if it cannot be opened. */
kws_status_t kws_results_file_open(kws_results_file_t *out, const char *path);

/* Writes the end marker and closes the file; KWS_OK only if every write succeeded. Closes the
 * file also after an earlier error (leaving it without its end marker). */
kws_status_t kws_results_file_close(kws_results_file_t *out);

#endif /* KWS_RESULTS_FILE_H */
