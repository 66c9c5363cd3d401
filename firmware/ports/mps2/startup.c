/* Reset and fault handling for QEMU's MPS2 boards (Cortex-M3/M4F/M7); see mps2.ld.
 *
 * Reset_Handler: enable the FPU when built for one (CPACR, before any FP instruction), copy
 * .data from flash, zero .bss, paint the unused stack with KWS_STACK_PAINT for the high-water
 * mark, start SysTick, run main() and exit through semihosting with its status.
 * Faults: every fault vector reports the stacked PC and the fault status registers through
 * semihosting and exits with status KWS_FAULT_EXIT_STATUS. No newlib start files are used
 * (link with -nostartfiles): a plain rdimon link has no vector table and locks up on QEMU. */
#include <stdint.h>

#include "semihost.h"
#include "startup.h"
#include "systick.h"

extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_limit[], __stack_top[];

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);
void kws_reset_c(void) __attribute__((noreturn, used));
void kws_fault_report(const uint32_t *frame, uint32_t exc_return) __attribute__((noreturn, used));

#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)

typedef void (*vector_t)(void);

/* Cortex-M system exceptions; no device interrupt is used. */
__attribute__((section(".vectors"), used)) static const vector_t vectors[16] = {
    (vector_t)(uintptr_t)__stack_top, /* initial MSP */
    Reset_Handler,
    Default_Handler, /* NMI */
    Fault_Handler,   /* HardFault */
    Fault_Handler,   /* MemManage */
    Fault_Handler,   /* BusFault */
    Fault_Handler,   /* UsageFault */
    0, 0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};

/* Naked: no compiler-generated code may run before the FPU is on (it could use FP registers). */
__attribute__((naked, noreturn)) void Reset_Handler(void)
{
    __asm__ volatile(
#if defined(__ARM_FP)
        "movw r0, #0xED88\n\t"   /* CPACR */
        "movt r0, #0xE000\n\t"
        "ldr r1, [r0]\n\t"
        "orr r1, r1, #(0xF << 20)\n\t" /* CP10, CP11: full access */
        "str r1, [r0]\n\t"
        "dsb\n\t"
        "isb\n\t"
#endif
        "b kws_reset_c\n\t");
}

void kws_reset_c(void)
{
    uint32_t *src = __data_load;
    uint32_t *dst;
    volatile uint32_t *p;
    uint32_t sp;
    for (dst = __data_start; dst < __data_end; dst++) {
        *dst = *src++;
    }
    for (dst = __bss_start; dst < __bss_end; dst++) {
        *dst = 0;
    }
    /* Paint from the stack's bottom up to 64 bytes below the live stack pointer. */
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (p = (volatile uint32_t *)__stack_limit; (uint32_t)(uintptr_t)p < sp - 64u; p++) {
        *p = KWS_STACK_PAINT;
    }
    kws_ticks_init();
    sh_exit(main());
}

uint32_t kws_stack_used_bytes(void)
{
    const volatile uint32_t *p = (const volatile uint32_t *)__stack_limit;
    while (p < (const volatile uint32_t *)__stack_top && *p == KWS_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

uint32_t kws_stack_size_bytes(void)
{
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_limit);
}

/* Which stack holds the exception frame: bit 2 of EXC_RETURN (0 = MSP, 1 = PSP). */
__attribute__((naked)) void Fault_Handler(void)
{
    __asm__ volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "mov r1, lr\n\t"
        "b kws_fault_report\n\t");
}

void kws_fault_report(const uint32_t *frame, uint32_t exc_return)
{
    sh_puts("\nFAULT: exception ");
    sh_put_u32(SCB_ICSR & 0x1FFu);
    sh_puts(" pc ");
    sh_put_hex32(frame[6]);
    sh_puts(" lr ");
    sh_put_hex32(frame[5]);
    sh_puts(" CFSR ");
    sh_put_hex32(SCB_CFSR);
    sh_puts(" HFSR ");
    sh_put_hex32(SCB_HFSR);
    sh_puts(" MMFAR ");
    sh_put_hex32(SCB_MMFAR);
    sh_puts(" BFAR ");
    sh_put_hex32(SCB_BFAR);
    sh_puts(" EXC_RETURN ");
    sh_put_hex32(exc_return);
    sh_puts("\n");
    sh_exit(KWS_FAULT_EXIT_STATUS);
}

void Default_Handler(void)
{
    sh_puts("\nFAULT: unexpected exception ");
    sh_put_u32(SCB_ICSR & 0x1FFu);
    sh_puts("\n");
    sh_exit(KWS_FAULT_EXIT_STATUS);
}
