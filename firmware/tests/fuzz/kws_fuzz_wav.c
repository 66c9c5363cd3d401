/* Fuzz harness: kws_demo's WAV reader (examples/demo/kws_wav.h) on malformed files.
 *
 * An input is one mode byte, then the file. Mode bit 0: the file as a pipe (no seek, no length)
 * or as a seekable file; bit 1: the sample rate asked for, 16 kHz or 8 kHz. The file is opened
 * with fopencookie over the input bytes (unbuffered, so the reader's position is the cookie's),
 * then kws_wav_open reads it and the harness reads the samples the way kws_demo does.
 *
 * Checks, against a chunk walk over the bytes written here: the reader accepts exactly the files
 * the walk accepts (RIFF/WAVE, chunks skipped with their pad byte -- 64-bit sizes -- a "fmt "
 * of PCM mono 16-bit at the rate before the data chunk, and where the length is known a data
 * chunk that fits); on acceptance it stops at the walk's first sample and reports its count (-1
 * for the streamed length 0xFFFFFFFF), and the samples read are the file's bytes there, as many
 * as the file holds up to that count; on refusal its message is one non-empty line. Recorded:
 * "accepted", "n_samples", "offset", "read" (int64). */
#define _GNU_SOURCE /* fopencookie */
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "kws_fuzz.h"
#include "kws_wav.h"

const char kws_fuzz_name[] = "wav";

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
} cookie_t;

static ssize_t cookie_read(void *c, char *buf, size_t n)
{
    cookie_t *k = c;
    const size_t left = k->size - k->pos, take = n < left ? n : left;
    if (take > 0) {
        memcpy(buf, k->data + k->pos, take);
    }
    k->pos += take;
    return (ssize_t)take;
}

static int cookie_seek(void *c, off64_t *offset, int whence)
{
    cookie_t *k = c;
    const int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)k->pos
                                                                      : (int64_t)k->size;
    const int64_t to = base + *offset;
    if (to < 0 || to > (int64_t)k->size) {
        return -1;
    }
    k->pos = (size_t)to;
    *offset = to;
    return 0;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* The reference: 1 and the first sample's offset and the count, or 0. */
static int walk(const uint8_t *d, uint64_t size, int pipe, uint32_t rate, uint64_t *offset,
                long *n_samples)
{
    uint64_t pos = 12;
    int have_fmt = 0;
    if (size < 12 || memcmp(d, "RIFF", 4) != 0 || memcmp(d + 8, "WAVE", 4) != 0) {
        return 0;
    }
    while (pos + 8 <= size) {
        const uint8_t *id = d + pos;
        const uint32_t n = le32(d + pos + 4);
        const uint64_t padded = (uint64_t)n + (n & 1);
        pos += 8;
        if (memcmp(id, "fmt ", 4) == 0 && n >= 16) {
            if (pos + padded > size) {
                return 0;                   /* the chunk runs past the end */
            }
            if (le16(d + pos) != 1 || le16(d + pos + 2) != 1 || le32(d + pos + 4) != rate ||
                le16(d + pos + 14) != 16) {
                return 0;
            }
            have_fmt = 1;
            pos += padded;
        } else if (memcmp(id, "data", 4) == 0) {
            if (!have_fmt) {
                return 0;
            }
            *offset = pos;
            if (n == 0xFFFFFFFFu) {
                *n_samples = -1;
                return 1;
            }
            if (!pipe && size - pos < n) {
                return 0;
            }
            *n_samples = (long)(n / 2);
            return 1;
        } else {
            if (pos + padded > size) {
                return 0;
            }
            pos += padded;
        }
    }
    return 0;
}

void kws_fuzz_one(const uint8_t *data, size_t size, kws_fuzz_record_t *rec)
{
    const uint8_t mode = size > 0 ? data[0] : 0;
    const int pipe = mode & 1;
    const uint32_t rate = mode & 2 ? 8000 : 16000;
    cookie_t cookie = {size > 0 ? data + 1 : data, size > 0 ? size - 1 : 0, 0};
    cookie_io_functions_t io = {cookie_read, NULL, pipe ? NULL : cookie_seek, NULL};
    char error[160];
    long n_samples = -2, want_samples = -2, got = 0;
    uint64_t offset = 0;
    FILE *file = fopencookie(&cookie, "rb", io);
    int accepted, want;
    KWS_FUZZ_CHECK(file != NULL, "fopencookie failed");
    KWS_FUZZ_CHECK(setvbuf(file, NULL, _IONBF, 0) == 0, "setvbuf failed");
    memset(error, 0, sizeof error);

    accepted = kws_wav_open(file, rate, &n_samples, error, sizeof error);
    want = walk(cookie.data, cookie.size, pipe, rate, &offset, &want_samples);
    KWS_FUZZ_CHECK(accepted == want, "kws_wav_open %s a file the chunk walk %s (%s)",
                   accepted ? "accepted" : "refused", want ? "accepts" : "refuses", error);
    if (accepted) {
        const uint64_t holds = (cookie.size - offset) / 2;
        int16_t block[1024];
        size_t n;
        KWS_FUZZ_CHECK(cookie.pos == offset && n_samples == want_samples,
                       "accepted at byte %lu with %ld samples, the walk says %lu and %ld",
                       (unsigned long)cookie.pos, n_samples, (unsigned long)offset,
                       want_samples);
        while ((n_samples < 0 || got < n_samples) &&
               (n = fread(block, 2, n_samples < 0 || n_samples - got > 1024
                                       ? 1024 : (size_t)(n_samples - got), file)) > 0) {
            KWS_FUZZ_CHECK(memcmp(block, cookie.data + offset + 2 * (uint64_t)got, 2 * n) == 0,
                           "samples at %ld differ from the file's bytes", got);
            got += (long)n;
        }
        KWS_FUZZ_CHECK((uint64_t)got == (n_samples < 0 || holds < (uint64_t)n_samples
                                             ? holds : (uint64_t)n_samples),
                       "read %ld samples: the file holds %lu, the header declares %ld", got,
                       (unsigned long)holds, n_samples);
        KWS_FUZZ_CHECK(pipe || n_samples < 0 || got == n_samples,
                       "a seekable file was accepted without its samples");
    } else {
        KWS_FUZZ_CHECK(error[0] != '\0' && strchr(error, '\n') == NULL,
                       "refused without one line of message: '%s'", error);
    }
    fclose(file);
    kws_fuzz_put_i64(rec, "accepted", accepted);
    kws_fuzz_put_i64(rec, "n_samples", accepted ? n_samples : 0);
    kws_fuzz_put_i64(rec, "offset", accepted ? (int64_t)offset : 0);
    kws_fuzz_put_i64(rec, "read", got);
}
