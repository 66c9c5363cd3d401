/* The demo's WAV reader (kws_wav.h). */
#include "kws_wav.h"

#include <string.h>

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Skips n bytes by reading them (fseek fails on a pipe). n is 64-bit: a chunk of 2^32 - 1
 * bytes is 2^32 with its pad byte. */
static int skip(FILE *file, uint64_t n)
{
    unsigned char buffer[256];
    while (n > 0) {
        const size_t want = n < sizeof buffer ? (size_t)n : sizeof buffer;
        if (fread(buffer, 1, want, file) != want) {
            return 0;
        }
        n -= want;
    }
    return 1;
}

/* Bytes left in `file` from here, or -1 when it cannot tell (a pipe). */
static long bytes_left(FILE *file)
{
    long here = ftell(file), end;
    if (here < 0 || fseek(file, 0, SEEK_END) != 0) {
        return -1;
    }
    end = ftell(file);
    if (fseek(file, here, SEEK_SET) != 0) {
        return -1;
    }
    return end - here;
}

int kws_wav_open(FILE *file, uint32_t sample_rate, long *n_samples, char *error,
                 size_t error_size)
{
    unsigned char head[12], chunk[8], fmt[16];
    int have_fmt = 0;
    if (fread(head, 1, 12, file) != 12 || memcmp(head, "RIFF", 4) != 0 ||
        memcmp(head + 8, "WAVE", 4) != 0) {
        snprintf(error, error_size, "not a RIFF/WAVE file");
        return 0;
    }
    while (fread(chunk, 1, 8, file) == 8) {
        const uint32_t size = le32(chunk + 4);
        const uint64_t padded = (uint64_t)size + (size & 1);
        if (memcmp(chunk, "fmt ", 4) == 0 && size >= 16) {
            if (fread(fmt, 1, 16, file) != 16 || !skip(file, padded - 16)) {
                break;
            }
            if (le16(fmt) != 1 || le16(fmt + 2) != 1 || le32(fmt + 4) != sample_rate ||
                le16(fmt + 14) != 16) {
                snprintf(error, error_size, "need 16-bit PCM mono at %lu Hz (format %u, "
                                            "%u channels, %lu Hz, %u bits)",
                         (unsigned long)sample_rate, le16(fmt), le16(fmt + 2),
                         (unsigned long)le32(fmt + 4), le16(fmt + 14));
                return 0;
            }
            have_fmt = 1;
        } else if (memcmp(chunk, "data", 4) == 0) {
            const long left = bytes_left(file);
            if (!have_fmt) {
                snprintf(error, error_size, "the data chunk comes before a fmt chunk");
                return 0;
            }
            if (size == KWS_WAV_UNKNOWN_LENGTH) {
                *n_samples = -1;
                return 1;
            }
            if (left >= 0 && (unsigned long)left < size) {
                snprintf(error, error_size, "truncated: the header declares %lu bytes of audio, "
                                            "the file holds %ld", (unsigned long)size, left);
                return 0;
            }
            *n_samples = (long)(size / 2);
            return 1;
        } else if (!skip(file, padded)) {
            break;
        }
    }
    snprintf(error, error_size, "%s", have_fmt ? "no data chunk (truncated?)"
                                               : "no fmt chunk before a data chunk");
    return 0;
}
