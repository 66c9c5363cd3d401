/* SysTick as a free-running 64-bit tick counter (24-bit SysTick + a wrap count kept by
 * SysTick_Handler), clocked from the processor clock (SYST_CSR.CLKSOURCE = 1).
 *
 * On silicon a tick is a CPU cycle. Under QEMU it is NOT: QEMU models no pipeline, caches or
 * wait states, and its SysTick counts virtual time at the board's CPU clock (mps2-an385, -an386,
 * -an500: 25 MHz, a tick every 40 ns). With `-icount shift=N` each instruction advances virtual
 * time by exactly 2^N ns, so a tick is 40 / 2^N instructions. Measured on QEMU 7.2 with
 * kws_ticks_over_nops (main.c prints it): 1,026,000 NOP-loop instructions take
 *     shift=0: 25,650 ticks → 40 instructions per tick (on all three boards)
 *     shift=1: 51,301 ticks → 20;   shift=3: 205,202 ticks → 5
 * and the per-frame / per-inference instruction counts agree across shifts to within a tick.
 * Each reading is rounded down to a tick boundary, so one interval is exact to ±1 tick (±40
 * instructions at shift=0); runs are deterministic (same ELF → same ticks).
 * Without -icount the ticks follow the host's clock and mean nothing (1 M NOPs read 0 ticks).
 */
#ifndef KWS_SYSTICK_H
#define KWS_SYSTICK_H

#include <stdint.h>

/* Starts the counter at 0 (reload 2^24 - 1, interrupt on wrap). Interrupts must be enabled. */
void kws_ticks_init(void);

/* Ticks since kws_ticks_init. Monotonic; safe against a wrap between its two reads. */
uint64_t kws_ticks(void);

/* For measuring what a tick is: the ticks spent on n_blocks blocks of KWS_NOPS_PER_BLOCK NOPs,
 * n_blocks * (KWS_NOPS_PER_BLOCK + 2) instructions (the NOPs, a subtract, a branch), plus
 * a call, a return and the two readings. */
#define KWS_NOPS_PER_BLOCK 1024u
uint64_t kws_ticks_over_nops(uint32_t n_blocks);

/* The SysTick interrupt (in the vector table). */
void SysTick_Handler(void);

#endif /* KWS_SYSTICK_H */
