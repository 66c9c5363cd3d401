# CMake toolchain file: the GNU Arm Embedded compiler (Debian: gcc-arm-none-eabi,
# libnewlib-arm-none-eabi) for a Cortex-M, bare metal.
#
#   cmake -S firmware -B build-m4 -DCMAKE_TOOLCHAIN_FILE=firmware/cmake/arm-none-eabi.cmake \
#         -DKWS_CPU=cortex-m4f        # or cortex-m3, cortex-m7
#
# KWS_CPU picks the flags (kws/toolchain/cortex_m.py BOARDS, the QEMU MPS2 boards: an386, an385,
# an500); the library's DSP fast paths follow from them (__ARM_FEATURE_DSP: on for M4F and M7,
# off for M3, which runs the portable C). KWS_QEMU_MACHINE is the matching QEMU board.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)   # no start files for a test program

set(KWS_CPU "cortex-m4f" CACHE STRING "Target core: cortex-m4f, cortex-m3 or cortex-m7")
set_property(CACHE KWS_CPU PROPERTY STRINGS cortex-m4f cortex-m3 cortex-m7)
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES KWS_CPU)

if(KWS_CPU STREQUAL "cortex-m4f")
  set(KWS_CPU_FLAGS -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16)
  set(KWS_QEMU_MACHINE mps2-an386)
elseif(KWS_CPU STREQUAL "cortex-m3")
  set(KWS_CPU_FLAGS -mcpu=cortex-m3 -mthumb -mfloat-abi=soft)
  set(KWS_QEMU_MACHINE mps2-an385)
elseif(KWS_CPU STREQUAL "cortex-m7")
  set(KWS_CPU_FLAGS -mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16)
  set(KWS_QEMU_MACHINE mps2-an500)
else()
  message(FATAL_ERROR "KWS_CPU=${KWS_CPU}: choose cortex-m4f, cortex-m3 or cortex-m7")
endif()

list(JOIN KWS_CPU_FLAGS " " _kws_cpu_flags)
set(CMAKE_C_FLAGS_INIT "${_kws_cpu_flags}")
set(CMAKE_ASM_FLAGS_INIT "${_kws_cpu_flags}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_kws_cpu_flags}")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
