/* SysTick tick counter (see systick.h). */
#include "systick.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)
#define SYST_MASK 0x00FFFFFFu

static volatile uint32_t wraps;

void SysTick_Handler(void)
{
    wraps++;
}

void kws_ticks_init(void)
{
    SYST_CSR = 0;
    wraps = 0;
    SYST_RVR = SYST_MASK;
    SYST_CVR = 0; /* any write clears it; the next tick reloads 2^24 - 1 */
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
}

uint64_t kws_ticks(void)
{
    uint32_t hi;
    uint32_t cvr;
    do {
        hi = wraps;
        cvr = SYST_CVR;
    } while (hi != wraps);
    /* The counter runs 0, 2^24-1, ..., 1, 0 (interrupt: wraps++), 2^24-1, ...: elapsed ticks
     * are (2^24 - cvr) mod 2^24 past the last wrap. */
    return ((uint64_t)hi << 24) + ((0x01000000u - cvr) & SYST_MASK);
}

/* n_blocks (>= 1) blocks of NOPs, in asm alone so that no compiler branch has to jump over
 * them (GCC counts an asm statement as one instruction when it picks short branches). */
__attribute__((naked, noinline)) static void nop_blocks(uint32_t n_blocks)
{
    __asm__ volatile("1:\n\t"
                     ".rept 1024\n\t" /* KWS_NOPS_PER_BLOCK */
                     "nop\n\t"
                     ".endr\n\t"
                     "subs r0, r0, #1\n\t"
                     "bne.w 1b\n\t"
                     "bx lr\n\t");
    (void)n_blocks;
}

uint64_t kws_ticks_over_nops(uint32_t n_blocks)
{
    uint64_t start;
    if (n_blocks == 0) {
        return 0;
    }
    start = kws_ticks();
    nop_blocks(n_blocks);
    return kws_ticks() - start;
}
