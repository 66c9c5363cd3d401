/* The board app: the wake-word loop (app/kws_app.c over the generated model) on QEMU's MPS2
 * board, fed the way a microphone driver feeds it: a block of one stride (KWS_STRIDE_SAMPLES
 * samples) at a time, here read from a file on the host through semihosting instead of a DMA
 * buffer.
 *
 *   qemu-system-arm -M mps2-an386 -nographic -monitor none -kernel kws_mps2_board_app.elf \
 *       -semihosting-config enable=on,target=native,arg=kws_mps2_board_app,arg=AUDIO.raw
 *
 * AUDIO.raw: int16 little-endian mono samples at the model's rate (KWS_SAMPLE_RATE), no header.
 * Output (the semihosting console), one line per detection:
 *   detection at frame <frame index>: <label> <score>/255
 * then "<samples> samples, <inferences> inferences, <detections> detections" (as kws_demo's
 * last line). Exit 0 on success, 1 on a loop error, 2 on a missing or unreadable file. */
#include <stdint.h>
#include <string.h>

#include "kws_app.h"
#include "kws_model_settings.h"
#include "semihost.h"

static const char *const labels[KWS_N_CLASSES] = KWS_LABELS;
static int16_t block[KWS_STRIDE_SAMPLES];
static char cmdline[256];

static void print_detection(const kws_detection_t *event, void *user)
{
    (void)user;
    sh_puts("detection at frame ");
    sh_put_u32(event->frame_index);
    sh_puts(": ");
    sh_puts(labels[event->label]);
    sh_puts(" ");
    sh_put_u32((uint32_t)event->score);
    sh_puts("/255\n");
}

/* The audio file: the command line's second word ("PROGRAM AUDIO.raw"). */
static const char *audio_path(void)
{
    char *space;
    if (sh_get_cmdline(cmdline, sizeof cmdline) != 0 || (space = strchr(cmdline, ' ')) == NULL ||
        space[1] == '\0') {
        return NULL;
    }
    return space + 1;
}

int main(void)
{
    const char *path = audio_path();
    uint32_t samples = 0;
    int32_t file;
    if (path == NULL || (file = sh_open(path, (uint32_t)strlen(path), SH_MODE_RB)) < 0) {
        sh_puts("kws_board_app: usage: PROGRAM AUDIO.raw (int16 LE samples), a file QEMU "
                "can open\n");
        return 2;
    }
    if (kws_app_init(print_detection, NULL) != KWS_OK) {
        sh_puts("kws_board_app: the wake-word loop rejected its settings\n");
        return 1;
    }
    for (;;) {
        const uint32_t got = (uint32_t)sizeof block - sh_read(file, block, sizeof block);
        if (got / sizeof(int16_t) == 0) {
            break;
        }
        if (kws_app_feed(block, (int32_t)(got / sizeof(int16_t))) != KWS_OK) {
            sh_puts("kws_board_app: the wake-word loop failed\n");
            return 1;
        }
        samples += got / (uint32_t)sizeof(int16_t);
    }
    (void)sh_close(file);
    sh_put_u32(samples);
    sh_puts(" samples, ");
    sh_put_u32(kws_app_state()->n_inferences);
    sh_puts(" inferences, ");
    sh_put_u32(kws_app_state()->n_detections);
    sh_puts(" detections\n");
    return 0;
}
