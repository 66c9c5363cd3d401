/* MFCC front-end harness for QEMU's MPS2 boards (bench/mfcc_target.py, tests/test_mfcc_fastpath.py):
 * one front end run frame by frame on the same real frames, instructions per frame counted
 * with SysTick exactly as firmware/tests/target/check_main.c does (QEMU -icount shift=0: a tick is 40
 * instructions, measured here with a run of NOPs; see systick.h), and every output compared
 * with the host's.
 *
 * Built twice from this file:
 *   default           ours: kws_mfcc_frame (firmware/src/kws_mfcc.c) with kws_mfcc_tables.{c,h}
 *                     (kws.mfcc_tables), int8 outputs checked against the golden model
 *                     (kws.mfcc_fixed), which must match exactly;
 *   -DKWS_PEER_CMSIS  CMSIS-DSP's arm_mfcc_q15 (arm_mfcc_init_512_q15) with the tables of
 *                     cmsis_mfcc_tables.{c,h} (cmsisdsp.mfcc), q8.7 outputs compared with the
 *                     cmsisdsp Python binding (the same C built for the host without the DSP
 *                     extension: a difference is reported, not an error).
 * Data (generated into mfcc_bench_data.{c,h}, in flash): K int16 clips and the expected outputs
 * of each frame; frame f of a clip starts at f * MB_STRIDE and is MB_WINDOW samples long.
 * Only the front-end call is timed: CMSIS-DSP overwrites its input, so each frame is first copied
 * (and zero-padded to the FFT length) into a buffer outside the timed interval.
 *
 * With MB_POWER_BINS defined in the data (ours only), each frame's power spectrum is also checked:
 * kws_mfcc_frame leaves P' of bins 0 .. MB_POWER_BINS - 1 in its scratch cells (kws_mfcc.c keeps
 * the low word, and the high word plus the low word's sign bit), hashed here (FNV-1a over the
 * low and high words) and compared with the golden model's. That reads kws_mfcc.c's internals,
 * not its API: it checks the FFT, split and power exactly, where the int8 outputs could hide an
 * error of a unit.
 *
 * With -DKWS_MFCC_PROFILE=kws_bench_step (ours only) kws_mfcc.c calls kws_bench_step(step) after
 * each step; the ticks between calls are summed per step and printed (the hook's own few
 * instructions are included in each step).
 *
 * Result file (kws_results.h), read by bench/mfcc_target.py: insn_per_tick, frames,
 * frames_equal, max_abs_difference, insn_mean (rounded), insn_min, insn_max (per frame),
 * stack_bytes; with MB_POWER_BINS power_equal and power_checked; with KWS_MFCC_PROFILE
 * step_instructions uint64 [steps] (means per frame, rounded); and when an output differed,
 * first_difference int32 [5]: clip, frame, output, target, host. The console lines are for
 * people. Exit status: 0 when ours matched the golden model on every frame (always 0 for
 * CMSIS-DSP), 1 on a mismatch, 2 on an error (or a failed result file), 3 on a fault. */
#include <stdint.h>
#include <string.h>

#include "kws_results_semihost.h"
#include "mfcc_bench_data.h"
#include "semihost.h"
#include "startup.h"
#include "systick.h"

#if defined(KWS_PEER_CMSIS)
#include "cmsis_mfcc_tables.h"
#include "dsp/transform_functions.h"
typedef int16_t out_t;
static arm_mfcc_instance_q15 mfcc;
static q15_t buffer[CMSIS_MFCC_FFT_LEN];
static q31_t tmp[2 * CMSIS_MFCC_FFT_LEN];
#define FRONT_END "CMSIS-DSP arm_mfcc_q15"
#else
#include "kws_mfcc.h"
#include "kws_mfcc_tables.h"
typedef int8_t out_t;
static kws_mfcc_cell_t scratch[KWS_MFCC_SCRATCH_CELLS];
#define FRONT_END "kws_mfcc_frame"
typedef char check_window[KWS_MFCC_WINDOW_LEN == MB_WINDOW ? 1 : -1];
typedef char check_n_out[KWS_MFCC_N_OUT == MB_N_OUT ? 1 : -1];
#endif

#define CALIBRATION_BLOCKS 200u

static out_t out[MB_N_OUT];
static int32_t first_difference[5]; /* clip, frame, output, target, host */

#if defined(KWS_MFCC_PROFILE)
#define MAX_STEPS 16
void KWS_MFCC_PROFILE(int step);
static uint64_t step_ticks[MAX_STEPS];
static uint64_t last_tick;
static int max_step = -1;

void KWS_MFCC_PROFILE(int step)
{
    const uint64_t now = kws_ticks();
    if (step >= 0 && step < MAX_STEPS) {
        step_ticks[step] += now - last_tick;
        if (step > max_step) {
            max_step = step;
        }
    }
    last_tick = now;
}
#endif

#if defined(MB_POWER_BINS) && !defined(KWS_PEER_CMSIS)
static uint32_t power_hash(const kws_mfcc_cell_t *cells)
{
    uint32_t h = 2166136261u;
    int32_t k;
    for (k = 0; k < MB_POWER_BINS; k++) {
        const uint32_t lo = (uint32_t)cells[k].c.re;
        const uint32_t hi = (uint32_t)cells[k].c.im - (lo >> 31);
        h = (h ^ lo) * 16777619u;
        h = (h ^ hi) * 16777619u;
    }
    return h ? h : 1u;
}
#endif

static void put_line_u64(const char *label, uint64_t v)
{
    sh_puts(label);
    sh_put_u64(v);
    sh_puts("\n");
}

int main(void)
{
    uint32_t clip;
    uint32_t frame;
    uint32_t equal = 0;
    uint32_t max_diff = 0;
    int reported = 0;
    uint32_t power_checked = 0;
    uint32_t power_equal = 0;
    uint64_t total = 0;
    uint64_t lo = UINT64_MAX;
    uint64_t hi = 0;

    sh_puts("MFCC bench harness: " FRONT_END "\n");
    const uint64_t cal_ticks = kws_ticks_over_nops(CALIBRATION_BLOCKS);
    const uint64_t cal_insns = (uint64_t)CALIBRATION_BLOCKS * (KWS_NOPS_PER_BLOCK + 2u);
    const uint64_t insn_per_tick = cal_ticks ? (cal_insns + cal_ticks / 2) / cal_ticks : 0;
    put_line_u64("INSTRUCTIONS per tick: ", insn_per_tick);

#if defined(KWS_PEER_CMSIS)
    if (arm_mfcc_init_512_q15(&mfcc, CMSIS_MFCC_N_MELS, CMSIS_MFCC_N_DCT, cmsis_mfcc_dct_q15,
                              cmsis_mfcc_filter_pos, cmsis_mfcc_filter_len,
                              cmsis_mfcc_filter_q15, cmsis_mfcc_window_q15) != ARM_MATH_SUCCESS) {
        sh_puts("ERROR arm_mfcc_init_512_q15\n");
        return 2;
    }
#endif
    for (clip = 0; clip < MB_N_CLIPS; clip++) {
        for (frame = 0; frame < MB_FRAMES; frame++) {
            const int16_t *x = &mb_clips[clip][frame * MB_STRIDE];
            const out_t *want = &mb_expected[clip][frame][0];
            uint64_t t0;
            uint64_t t1;
            uint32_t i;
            uint32_t same = 1;
#if defined(KWS_PEER_CMSIS)
            memcpy(buffer, x, MB_WINDOW * sizeof(int16_t));
            memset(buffer + MB_WINDOW, 0, (CMSIS_MFCC_FFT_LEN - MB_WINDOW) * sizeof(int16_t));
            t0 = kws_ticks();
#if defined(KWS_MFCC_PROFILE)
            last_tick = t0;
#endif
            const arm_status status = arm_mfcc_q15(&mfcc, buffer, out, tmp);
            t1 = kws_ticks();
            if (status != ARM_MATH_SUCCESS) {
                sh_puts("ERROR arm_mfcc_q15 status ");
                sh_put_i32(status);
                sh_puts("\n");
                return 2;
            }
#else
            t0 = kws_ticks();
#if defined(KWS_MFCC_PROFILE)
            last_tick = t0;
#endif
            const kws_status_t status = kws_mfcc_frame(&kws_mfcc_tables, x, scratch, out);
            t1 = kws_ticks();
            if (status != KWS_OK) {
                sh_puts("ERROR kws_mfcc_frame status ");
                sh_put_i32(status);
                sh_puts("\n");
                return 2;
            }
#if defined(MB_POWER_BINS)
            if (mb_power_hash[clip][frame] != 0u) { /* 0: a silent frame, not checked */
                power_checked++;
                if (power_hash(scratch) == mb_power_hash[clip][frame]) {
                    power_equal++;
                } else if (power_checked - power_equal == 1u) {
                    sh_puts("POWER DIFFERENCE clip ");
                    sh_put_u32(clip);
                    sh_puts(" frame ");
                    sh_put_u32(frame);
                    sh_puts("\n");
                }
            }
#endif
#endif
            total += t1 - t0;
            lo = (t1 - t0) < lo ? (t1 - t0) : lo;
            hi = (t1 - t0) > hi ? (t1 - t0) : hi;
            for (i = 0; i < MB_N_OUT; i++) {
                const int32_t d = (int32_t)out[i] - (int32_t)want[i];
                const uint32_t a = (uint32_t)(d < 0 ? -d : d);
                if (a != 0u) {
                    if (!reported) { /* the first difference only */
                        reported = 1;
                        first_difference[0] = (int32_t)clip;
                        first_difference[1] = (int32_t)frame;
                        first_difference[2] = (int32_t)i;
                        first_difference[3] = out[i];
                        first_difference[4] = want[i];
                        sh_puts("DIFFERENCE clip ");
                        sh_put_u32(clip);
                        sh_puts(" frame ");
                        sh_put_u32(frame);
                        sh_puts(" output ");
                        sh_put_u32(i);
                        sh_puts(": target ");
                        sh_put_i32(out[i]);
                        sh_puts(", host ");
                        sh_put_i32(want[i]);
                        sh_puts("\n");
                    }
                    same = 0;
                }
                max_diff = a > max_diff ? a : max_diff;
            }
            equal += same;
        }
    }
    const uint64_t n = (uint64_t)MB_N_CLIPS * MB_FRAMES;
    put_line_u64("frames: ", n);
    sh_puts("frames equal to the host: ");
    sh_put_u32(equal);
    sh_puts("/");
    sh_put_u32((uint32_t)n);
    sh_puts("\n");
    put_line_u64("max abs difference: ", max_diff);
#if defined(MB_POWER_BINS) && !defined(KWS_PEER_CMSIS)
    sh_puts("power spectra equal to the golden model's: ");
    sh_put_u32(power_equal);
    sh_puts("/");
    sh_put_u32(power_checked);
    sh_puts("\n");
#endif
    put_line_u64("INSTRUCTIONS per frame (mean): ", (total * insn_per_tick + n / 2) / n);
    put_line_u64("INSTRUCTIONS per frame (min): ", lo * insn_per_tick);
    put_line_u64("INSTRUCTIONS per frame (max): ", hi * insn_per_tick);
#if defined(KWS_MFCC_PROFILE)
    {
        int s;
        for (s = 0; s <= max_step; s++) {
            sh_puts("INSTRUCTIONS step ");
            sh_put_u32((uint32_t)s);
            sh_puts(" (mean): ");
            sh_put_u64((step_ticks[s] * insn_per_tick + n / 2) / n);
            sh_puts("\n");
        }
    }
#endif
    const uint32_t stack_used = kws_stack_used_bytes();
    sh_puts("stack high-water: ");
    sh_put_u32(stack_used);
    sh_puts(" bytes\n");
    {
        kws_results_semihost_t file;
        kws_results_t *r = &file.results;
        const uint32_t five = 5;
        if (kws_results_semihost_open(&file) != KWS_OK) {
            return 2;
        }
        (void)kws_results_u64(r, "insn_per_tick", insn_per_tick);
        (void)kws_results_u64(r, "frames", n);
        (void)kws_results_u64(r, "frames_equal", equal);
        (void)kws_results_u64(r, "max_abs_difference", max_diff);
        (void)kws_results_u64(r, "insn_mean", (total * insn_per_tick + n / 2) / n);
        (void)kws_results_u64(r, "insn_min", lo * insn_per_tick);
        (void)kws_results_u64(r, "insn_max", hi * insn_per_tick);
        (void)kws_results_u64(r, "stack_bytes", stack_used);
#if defined(MB_POWER_BINS) && !defined(KWS_PEER_CMSIS)
        (void)kws_results_u64(r, "power_equal", power_equal);
        (void)kws_results_u64(r, "power_checked", power_checked);
#endif
#if defined(KWS_MFCC_PROFILE)
        {
            const uint32_t n_steps = (uint32_t)(max_step + 1);
            int s;
            (void)kws_results_begin(r, "step_instructions", KWS_RESULTS_UINT64, 1, &n_steps);
            for (s = 0; s <= max_step; s++) {
                const uint64_t mean = (step_ticks[s] * insn_per_tick + n / 2) / n;
                (void)kws_results_append(r, &mean, 1);
            }
        }
#endif
        if (reported) {
            (void)kws_results_array(r, "first_difference", KWS_RESULTS_INT32, 1, &five,
                                    first_difference);
        }
        if (kws_results_semihost_close(&file) != KWS_OK) {
            sh_puts("ERROR writing the result file\n");
            return 2;
        }
    }
#if defined(KWS_PEER_CMSIS)
    (void)power_checked;
    (void)power_equal;
    return 0;
#else
    return (equal == n && power_equal == power_checked) ? 0 : 1;
#endif
}
