/* What startup.c offers the application: the stack's high-water mark. */
#ifndef KWS_STARTUP_H
#define KWS_STARTUP_H

#include <stdint.h>

#define KWS_STACK_PAINT 0x5A5A5A5Au   /* the unused stack holds this word */
#define KWS_FAULT_EXIT_STATUS 3       /* QEMU's exit status after a fault */

/* Bytes of stack ever used since reset: from the top down to the deepest word that no longer
 * holds KWS_STACK_PAINT (a frame that happens to write the pattern itself reads as unused).
 * An interrupt frame counts only if an interrupt came at the deepest point: the harness's one
 * interrupt, SysTick's wrap, comes every 2^24 ticks (671 M instructions at -icount shift=0). */
uint32_t kws_stack_used_bytes(void);

/* The stack region's size (mps2.ld's __stack_size). */
uint32_t kws_stack_size_bytes(void);

#endif /* KWS_STARTUP_H */
