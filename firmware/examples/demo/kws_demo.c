/* kws_demo FILE.wav: the wake-word loop on a recording; prints each detection.
 *
 * The WAV must be 16-bit PCM, mono, at the model's sample rate (KWS_SAMPLE_RATE). FILE may be
 * "-" or a pipe: the file is read front to back, never seeked. Output, one line per detection:
 *   <seconds at the end of the window>  <label>  <score>/255
 * Exit 0 on success (with or without detections), 1 on a loop error, 2 on a bad file, including
 * one whose data chunk is shorter than its header declares (a truncated file). */
#include <stdio.h>
#include <string.h>

#include "kws_app.h"
#include "kws_model_settings.h"

#define UNKNOWN_LENGTH 0xFFFFFFFFu      /* data chunk size of a WAV streamed to a pipe */

static const char *const labels[KWS_N_CLASSES] = KWS_LABELS;
static int16_t block[1024];

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Skips n bytes by reading them (fseek fails on a pipe). */
static int skip(FILE *file, uint32_t n)
{
    unsigned char buffer[256];
    while (n > 0) {
        const size_t want = n < sizeof buffer ? (size_t)n : sizeof buffer;
        if (fread(buffer, 1, want, file) != want) {
            return 0;
        }
        n -= (uint32_t)want;
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

/* Positions `file` at the first sample; *n_samples receives the data chunk's sample count (-1:
 * until the end of the input). */
static int open_wav(FILE *file, const char *path, long *n_samples)
{
    unsigned char head[12], chunk[8], fmt[16];
    int have_fmt = 0;
    if (fread(head, 1, 12, file) != 12 || memcmp(head, "RIFF", 4) != 0 ||
        memcmp(head + 8, "WAVE", 4) != 0) {
        fprintf(stderr, "kws_demo: %s: not a RIFF/WAVE file\n", path);
        return 0;
    }
    while (fread(chunk, 1, 8, file) == 8) {
        const uint32_t size = le32(chunk + 4);
        if (memcmp(chunk, "fmt ", 4) == 0 && size >= 16) {
            if (fread(fmt, 1, 16, file) != 16 || !skip(file, size - 16 + (size & 1))) {
                break;
            }
            if (le16(fmt) != 1 || le16(fmt + 2) != 1 || le32(fmt + 4) != KWS_SAMPLE_RATE ||
                le16(fmt + 14) != 16) {
                fprintf(stderr, "kws_demo: %s: need 16-bit PCM mono at %d Hz (format %u, "
                                "%u channels, %lu Hz, %u bits)\n", path, KWS_SAMPLE_RATE,
                        le16(fmt), le16(fmt + 2), (unsigned long)le32(fmt + 4), le16(fmt + 14));
                return 0;
            }
            have_fmt = 1;
        } else if (memcmp(chunk, "data", 4) == 0) {
            const long left = bytes_left(file);
            if (!have_fmt) {
                fprintf(stderr, "kws_demo: %s: the data chunk comes before a fmt chunk\n", path);
                return 0;
            }
            if (size == UNKNOWN_LENGTH) {
                *n_samples = -1;
                return 1;
            }
            if (left >= 0 && (unsigned long)left < size) {
                fprintf(stderr, "kws_demo: %s: truncated: the header declares %lu bytes of "
                                "audio, the file holds %ld\n", path, (unsigned long)size, left);
                return 0;
            }
            *n_samples = (long)(size / 2);
            return 1;
        } else if (!skip(file, size + (size & 1))) {
            break;
        }
    }
    fprintf(stderr, "kws_demo: %s: %s\n", path, have_fmt ? "no data chunk (truncated?)"
                                                         : "no fmt chunk before a data chunk");
    return 0;
}

static void print_detection(const kws_detection_t *event, void *user)
{
    /* Frame t's window ends at sample t * stride + window - 1. */
    const double end = ((double)event->frame_index * KWS_STRIDE_SAMPLES + KWS_WINDOW_SAMPLES) /
                       KWS_SAMPLE_RATE;
    (void)user;
    printf("%8.3f s  %-12s %3ld/255\n", end, labels[event->label], (long)event->score);
}

int main(int argc, char **argv)
{
    FILE *file;
    long n_samples = 0, done = 0;
    int from_stdin;
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.wav   (FILE may be - for standard input)\n", argv[0]);
        return 2;
    }
    from_stdin = strcmp(argv[1], "-") == 0;
    file = from_stdin ? stdin : fopen(argv[1], "rb");
    if (file == NULL) {
        fprintf(stderr, "kws_demo: cannot open %s\n", argv[1]);
        return 2;
    }
    if (!open_wav(file, argv[1], &n_samples)) {
        return 2;
    }
    if (kws_app_init(print_detection, NULL) != KWS_OK) {
        fprintf(stderr, "kws_demo: the wake-word loop rejected its settings\n");
        return 1;
    }
    while (n_samples < 0 || done < n_samples) {
        const long left = n_samples < 0 ? 1024 : n_samples - done;
        const size_t want = (size_t)(left < 1024 ? left : 1024);
        const size_t got = fread(block, sizeof(int16_t), want, file);
        if (got == 0) {
            break;
        }
        if (kws_app_feed(block, (int32_t)got) != KWS_OK) {
            fprintf(stderr, "kws_demo: the wake-word loop failed\n");
            return 1;
        }
        done += (long)got;
    }
    if (!from_stdin) {
        fclose(file);
    }
    if (n_samples >= 0 && done < n_samples) {          /* a pipe: only the end tells */
        fprintf(stderr, "kws_demo: %s: truncated: the header declares %ld samples, the input "
                        "ended after %ld\n", argv[1], n_samples, done);
        return 2;
    }
    printf("%ld samples (%.2f s), %lu inferences, %lu detections\n", done,
           (double)done / KWS_SAMPLE_RATE, (unsigned long)kws_app_state()->n_inferences,
           (unsigned long)kws_app_state()->n_detections);
    return 0;
}
