/* Semihosting calls for QEMU (see semihost.h). Tiny and allocation-free: no newlib stdio. */
#include "semihost.h"

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define ADP_STOPPED_RUN_TIME_ERROR_UNKNOWN 0x20023

static uint32_t sh_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_puts(const char *s)
{
    sh_call(SYS_WRITE0, s);
}

void sh_put_u64(uint64_t v)
{
    char buf[21];
    int i = (int)sizeof buf - 1;
    buf[i] = '\0';
    do {
        const uint64_t q = v / 10u;
        buf[--i] = (char)('0' + (int)(v - q * 10u));
        v = q;
    } while (v != 0 && i > 0);
    sh_puts(&buf[i]);
}

void sh_put_u32(uint32_t v)
{
    char buf[11];
    int i = (int)sizeof buf - 1;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0 && i > 0);
    sh_puts(&buf[i]);
}

void sh_put_i32(int32_t v)
{
    if (v < 0) {
        sh_puts("-");
        sh_put_u32(0u - (uint32_t)v);
    } else {
        sh_put_u32((uint32_t)v);
    }
}

void sh_put_hex32(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    char buf[11];
    int i;
    buf[0] = '0';
    buf[1] = 'x';
    for (i = 0; i < 8; i++) {
        buf[2 + i] = digits[(v >> (28 - 4 * i)) & 0xFu];
    }
    buf[10] = '\0';
    sh_puts(buf);
}

int32_t sh_open(const char *path, uint32_t len, uint32_t mode)
{
    /* SYS_OPEN takes the length too; the host reads path[0 .. len) and wants path[len] == 0 */
    const uint32_t block[3] = {(uint32_t)(uintptr_t)path, mode, len};
    return (int32_t)sh_call(SYS_OPEN, block);
}

uint32_t sh_write(int32_t handle, const void *data, uint32_t n)
{
    const uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)data, n};
    return sh_call(SYS_WRITE, block);
}

uint32_t sh_read(int32_t handle, void *data, uint32_t n)
{
    const uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)data, n};
    return sh_call(SYS_READ, block);
}

int32_t sh_close(int32_t handle)
{
    const uint32_t block[1] = {(uint32_t)handle};
    return (int32_t)sh_call(SYS_CLOSE, block);
}

int32_t sh_get_cmdline(char *buf, uint32_t size)
{
    /* the host writes at most size bytes including the NUL and sets block[1] to the length */
    uint32_t block[2] = {(uint32_t)(uintptr_t)buf, size};
    if (size == 0 || sh_call(SYS_GET_CMDLINE, block) != 0 || block[1] >= size) {
        return -1;
    }
    buf[block[1]] = '\0';
    return 0;
}

void sh_exit(int status)
{
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    sh_call(SYS_EXIT_EXTENDED, block);
    /* Still here: the host lacks SYS_EXIT_EXTENDED; A32 SYS_EXIT takes the reason by value. */
    sh_call(SYS_EXIT, (const void *)(uintptr_t)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                                             : ADP_STOPPED_RUN_TIME_ERROR_UNKNOWN));
    for (;;) {
    }
}
