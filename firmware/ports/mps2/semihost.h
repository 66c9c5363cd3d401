/* Semihosting (Arm "Semihosting for AArch32 and AArch64", v2.0): console output, files on the
 * host, the command line and the exit status, through `bkpt 0xAB`. QEMU serves these with -semihosting-config enable=on,target=native;
 * without a debugger or QEMU semihosting the breakpoint faults, so this is for QEMU only.
 *
 * Exit: SYS_EXIT_EXTENDED (0x20) with { ADP_Stopped_ApplicationExit, status }, which QEMU (>= 5.x
 * for A32/T32 guests) turns into its own exit status. A host that does not know 0x20 returns from
 * the call; then SYS_EXIT (0x18) is used, which on A32/T32 can only say "success"
 * (ADP_Stopped_ApplicationExit → QEMU exits 0) or "failure" (any other reason → QEMU exits 1). */
#ifndef KWS_SEMIHOST_H
#define KWS_SEMIHOST_H

#include <stdint.h>

/* A NUL-terminated string to the host's console (SYS_WRITE0). */
void sh_puts(const char *s);

/* Decimal numbers, without a newline. */
void sh_put_u32(uint32_t v);
void sh_put_i32(int32_t v);
void sh_put_u64(uint64_t v);

/* Hexadecimal, "0x" and 8 digits. */
void sh_put_hex32(uint32_t v);

/* Files on the host (SYS_OPEN, SYS_READ, SYS_WRITE, SYS_CLOSE). QEMU with target=native opens them in its
 * own working directory. sh_open: path[0 .. len), a handle >= 0, or -1; mode as fopen's, e.g.
 * SH_MODE_WB. */
#define SH_MODE_RB 1u /* "rb": read, binary */
#define SH_MODE_WB 5u /* "wb": create or truncate, binary */
int32_t sh_open(const char *path, uint32_t len, uint32_t mode);

/* Writes n bytes; returns how many were NOT written (0: all). */
uint32_t sh_write(int32_t handle, const void *data, uint32_t n);

/* Reads up to n bytes; returns how many were NOT read (n: the end of the file). */
uint32_t sh_read(int32_t handle, void *data, uint32_t n);

/* Returns 0 when the file closed cleanly. */
int32_t sh_close(int32_t handle);

/* The command line QEMU passes (-semihosting-config ...,arg=A,arg=B gives "A B"), NUL-terminated
 * in buf[0 .. size). Returns 0, or -1 when the host has none or it does not fit. */
int32_t sh_get_cmdline(char *buf, uint32_t size);

/* Ends the program: QEMU exits with `status` (0..255). Never returns. */
void sh_exit(int status) __attribute__((noreturn));

#endif /* KWS_SEMIHOST_H */
