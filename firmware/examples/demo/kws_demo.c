/* kws_demo FILE.wav: the wake-word loop on a recording; prints each detection.
 *
 * The WAV must be 16-bit PCM, mono, at the model's sample rate (KWS_SAMPLE_RATE); kws_wav.h reads
 * it. FILE may be "-" or a pipe: the file is read front to back, never seeked. Output, one line
 * per detection:
 *   <seconds at the end of the window>  <label>  <score>/255
 * Exit 0 on success (with or without detections), 1 on a loop error, 2 on a bad file, including
 * one whose data chunk is shorter than its header declares (a truncated file). */
#include <stdio.h>
#include <string.h>

#include "kws_app.h"
#include "kws_model_settings.h"
#include "kws_wav.h"

static const char *const labels[KWS_N_CLASSES] = KWS_LABELS;
static int16_t block[1024];

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
    char error[160];
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
    if (!kws_wav_open(file, KWS_SAMPLE_RATE, &n_samples, error, sizeof error)) {
        fprintf(stderr, "kws_demo: %s: %s\n", argv[1], error);
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
