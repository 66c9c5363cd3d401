/* The demo's WAV reader: 16-bit PCM mono at the model's rate, read front to back (a pipe works).
 * Fuzzed by firmware/tests/fuzz/kws_fuzz_wav.c on malformed files. */
#ifndef KWS_WAV_H
#define KWS_WAV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The data chunk size of a WAV streamed to a pipe: "until the end of the input". */
#define KWS_WAV_UNKNOWN_LENGTH 0xFFFFFFFFu

/* Reads the RIFF/WAVE header of `file` up to the first sample of its data chunk: chunks before
 * it are skipped by reading them (odd sizes padded to even); a "fmt " chunk must come first and
 * say PCM (format 1), 1 channel, sample_rate Hz, 16 bits. Where the file can tell its length (not
 * a pipe), a data chunk longer than what is left is refused as truncated.
 * Returns 1 and *n_samples, the data chunk's sample count (-1 for KWS_WAV_UNKNOWN_LENGTH: read
 * to the end), or 0 with one message in error (error_size bytes, NUL-terminated). */
int kws_wav_open(FILE *file, uint32_t sample_rate, long *n_samples, char *error,
                 size_t error_size);

#endif /* KWS_WAV_H */
