/* kws_demo FILE.wav: the wake-word loop on a recording; prints each detection.
 *
 * The WAV must be 16-bit PCM, mono, at the model's sample rate (KWS_SAMPLE_RATE). Output, one
 * line per detection:  <seconds at the end of the window>  <label>  <score>/255
 * Exit 0 on success (with or without detections), 1 on a loop error, 2 on a bad file. */
#include <stdio.h>
#include <string.h>

#include "kws_app.h"
#include "kws_model_settings.h"

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

/* Positions `file` at the first sample; *n_samples receives the data chunk's sample count. */
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
            if (fread(fmt, 1, 16, file) != 16 || fseek(file, (long)(size - 16 + (size & 1)),
                                                       SEEK_CUR) != 0) {
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
            if (!have_fmt) {
                break;
            }
            *n_samples = (long)(size / 2);
            return 1;
        } else if (fseek(file, (long)(size + (size & 1)), SEEK_CUR) != 0) {
            break;
        }
    }
    fprintf(stderr, "kws_demo: %s: no fmt chunk before a data chunk\n", path);
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
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.wav\n", argv[0]);
        return 2;
    }
    file = fopen(argv[1], "rb");
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
    while (done < n_samples) {
        const long want = n_samples - done < 1024 ? n_samples - done : 1024;
        const size_t got = fread(block, sizeof(int16_t), (size_t)want, file);
        if (got == 0) {
            break;
        }
        if (kws_app_feed(block, (int32_t)got) != KWS_OK) {
            fprintf(stderr, "kws_demo: the wake-word loop failed\n");
            return 1;
        }
        done += (long)got;
    }
    fclose(file);
    printf("%ld samples (%.2f s), %lu inferences, %lu detections\n", done,
           (double)done / KWS_SAMPLE_RATE, (unsigned long)kws_app_state()->n_inferences,
           (unsigned long)kws_app_state()->n_detections);
    return 0;
}
