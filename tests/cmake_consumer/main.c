/* A user's main: the wake-word app over the generated model (tests/cmake_consumer). */
#include <stdio.h>

#include "kws_app.h"

static void on_detection(const kws_detection_t *event, void *user)
{
    (void)user;
    printf("detected class %d at frame %lu\n", (int)event->label, (unsigned long)event->frame_index);
}

int main(void)
{
    static int16_t silence[16000];
    const kws_status_t status = kws_app_init(on_detection, NULL);
    printf("kws_app_init: %d (model %s, API %d)\n", (int)status, kws_model_info.hash,
           (int)kws_model_info.api_version);
    if (status != KWS_OK || kws_app_feed(silence, 16000) != KWS_OK) {
        return 1;
    }
    printf("%lu frames\n", (unsigned long)kws_app_state()->n_frames);
    return 0;
}
