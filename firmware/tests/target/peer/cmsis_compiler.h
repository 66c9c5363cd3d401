/* Stand-in for CMSIS-Core's cmsis_compiler.h, enough to build CMSIS-DSP's arm_mfcc_q15 (and the
 * FFT, statistics, basic-math, fast-math and matrix functions it calls) with arm-none-eabi-gcc for
 * Cortex-M. CMSIS-DSP's own arm_math_types.h includes this header on every non-Python build; the
 * PyPI sdist (bench/mfcc_target.py downloads it) ships CMSIS-DSP but not CMSIS-Core.
 *
 * Only the GCC attributes and the intrinsics CMSIS-DSP uses, mapped to ACLE (<arm_acle.h>) or GCC builtins: on a
 * core with the DSP extension (Cortex-M4/M7: __ARM_FEATURE_DSP == 1) each is one instruction, as
 * with CMSIS-Core. Cores without it (Cortex-M3) get the plain-C fallbacks of CMSIS-DSP's none.h,
 * which only needs __CLZ, __SSAT and __USAT from here. Used by firmware/ports/mps2/peer/ only. */
#ifndef KWS_PEER_CMSIS_COMPILER_H
#define KWS_PEER_CMSIS_COMPILER_H

#include <stdint.h>

#if !defined(__GNUC__)
#error "this CMSIS-Core stand-in is for GCC"
#endif

#include <arm_acle.h>

#ifndef __ASM
#define __ASM __asm
#endif
#ifndef __INLINE
#define __INLINE inline
#endif
#ifndef __STATIC_INLINE
#define __STATIC_INLINE static inline
#endif
#ifndef __STATIC_FORCEINLINE
#define __STATIC_FORCEINLINE __attribute__((always_inline)) static inline
#endif
#ifndef __NO_RETURN
#define __NO_RETURN __attribute__((__noreturn__))
#endif
#ifndef __USED
#define __USED __attribute__((used))
#endif
#ifndef __WEAK
#define __WEAK __attribute__((weak))
#endif
#ifndef __PACKED
#define __PACKED __attribute__((packed, aligned(1)))
#endif
#ifndef __ALIGNED
#define __ALIGNED(x) __attribute__((aligned(x)))
#endif
#ifndef __RESTRICT
#define __RESTRICT __restrict
#endif

/* ---- ARMv7-M (Cortex-M3 and up) ---- */
/* CLZ of 0 is 32, as the instruction gives (CMSIS-Core's __CLZ guarantees it). */
#define __CLZ(x) ((uint8_t)((x) == 0u ? 32u : (uint32_t)__builtin_clz((uint32_t)(x))))
/* CMSIS-Core takes int32_t: a wider argument is converted first, as a call would. */
#define __SSAT(ARG1, ARG2) __ssat((int32_t)(ARG1), (ARG2))
#define __USAT(ARG1, ARG2) __usat((int32_t)(ARG1), (ARG2))
/* GCC 12's arm_acle.h has no __ror / __rev yet: the usual C forms, which GCC emits as ROR / REV. */
__STATIC_FORCEINLINE uint32_t __ROR(uint32_t op1, uint32_t op2)
{
    op2 %= 32u;
    return op2 == 0u ? op1 : (op1 >> op2) | (op1 << (32u - op2));
}
#define __REV(x) __builtin_bswap32((uint32_t)(x))

/* ---- DSP extension (ARMv7E-M: Cortex-M4, M7) ---- */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define __QADD(a, b) __qadd((int32_t)(a), (int32_t)(b))
#define __QSUB(a, b) __qsub((int32_t)(a), (int32_t)(b))
#define __QADD8(a, b) ((uint32_t)__qadd8((int8x4_t)(a), (int8x4_t)(b)))
#define __QSUB8(a, b) ((uint32_t)__qsub8((int8x4_t)(a), (int8x4_t)(b)))
#define __QADD16(a, b) ((uint32_t)__qadd16((int16x2_t)(a), (int16x2_t)(b)))
#define __QSUB16(a, b) ((uint32_t)__qsub16((int16x2_t)(a), (int16x2_t)(b)))
#define __SHADD16(a, b) ((uint32_t)__shadd16((int16x2_t)(a), (int16x2_t)(b)))
#define __SHSUB16(a, b) ((uint32_t)__shsub16((int16x2_t)(a), (int16x2_t)(b)))
#define __QASX(a, b) ((uint32_t)__qasx((int16x2_t)(a), (int16x2_t)(b)))
#define __QSAX(a, b) ((uint32_t)__qsax((int16x2_t)(a), (int16x2_t)(b)))
#define __SHASX(a, b) ((uint32_t)__shasx((int16x2_t)(a), (int16x2_t)(b)))
#define __SHSAX(a, b) ((uint32_t)__shsax((int16x2_t)(a), (int16x2_t)(b)))
#define __SXTB16(x) ((uint32_t)__sxtb16((int8x4_t)(x)))
#define __SMUAD(a, b) ((uint32_t)__smuad((int16x2_t)(a), (int16x2_t)(b)))
#define __SMUADX(a, b) ((uint32_t)__smuadx((int16x2_t)(a), (int16x2_t)(b)))
#define __SMUSD(a, b) ((uint32_t)__smusd((int16x2_t)(a), (int16x2_t)(b)))
#define __SMUSDX(a, b) ((uint32_t)__smusdx((int16x2_t)(a), (int16x2_t)(b)))
#define __SMLAD(a, b, c) ((uint32_t)__smlad((int16x2_t)(a), (int16x2_t)(b), (int32_t)(c)))
#define __SMLADX(a, b, c) ((uint32_t)__smladx((int16x2_t)(a), (int16x2_t)(b), (int32_t)(c)))
#define __SMLSD(a, b, c) ((uint32_t)__smlsd((int16x2_t)(a), (int16x2_t)(b), (int32_t)(c)))
#define __SMLSDX(a, b, c) ((uint32_t)__smlsdx((int16x2_t)(a), (int16x2_t)(b), (int32_t)(c)))
#define __SMLALD(a, b, c) ((uint64_t)__smlald((int16x2_t)(a), (int16x2_t)(b), (int64_t)(c)))
#define __SMLALDX(a, b, c) ((uint64_t)__smlaldx((int16x2_t)(a), (int16x2_t)(b), (int64_t)(c)))
#define __SMLSLD(a, b, c) ((uint64_t)__smlsld((int16x2_t)(a), (int16x2_t)(b), (int64_t)(c)))
#define __SMLSLDX(a, b, c) ((uint64_t)__smlsldx((int16x2_t)(a), (int16x2_t)(b), (int64_t)(c)))
/* Not in ACLE: (a * b + (c << 32)) >> 32, which GCC emits as one SMMLA. */
#define __SMMLA(a, b, c) \
    ((int32_t)(((int64_t)(int32_t)(a) * (int32_t)(b) + ((int64_t)(int32_t)(c) << 32)) >> 32))
/* As CMSIS-Core's C definitions; GCC emits PKHBT / PKHTB for them. */
#define __PKHBT(ARG1, ARG2, ARG3) \
    ((((uint32_t)(ARG1)) & 0x0000FFFFUL) | ((((uint32_t)(ARG2)) << (ARG3)) & 0xFFFF0000UL))
#define __PKHTB(ARG1, ARG2, ARG3) \
    ((((uint32_t)(ARG1)) & 0xFFFF0000UL) | ((((uint32_t)(ARG2)) >> (ARG3)) & 0x0000FFFFUL))
#endif

#endif /* KWS_PEER_CMSIS_COMPILER_H */
