# The ctest tests (included by CMakeLists.txt when KWS_BUILD_TESTS).
#
# Self-checking programs (exit 0 = pass) need nothing more. The harnesses that compute numbers
# (kws_mfcc_tool, kws_verify_tool, kws_nn_tool, ...) need inputs and golden results: the folder
# KWS_TEST_CASES written for a model folder by
#     python -m kws.toolchain.ctest_cases RUN_DIR FOLDER
# (the golden models' outputs as result files, and cases.cmake, which calls kws_case below). Its
# model hash must be KWS_MODEL_DIR's (a stale folder is refused, with the command that remakes
# it). Each case runs one program and compares its result file with the golden one
# (kws_results_compare: every golden array equal, value for value).
#
#   kws_case(<name> TOOL <target> [ARGS <arg>...] [EXPECT <golden.kwsr>] [DIFFERS])
#       ARGS: @OUT@ stands for the result file (in the test's own folder). A TOOL target missing
#       from this build (a host tool when cross-compiling, a target program on the host) adds
#       no test. Target programs (TOOL kws_mps2_check) run under QEMU on KWS_QEMU_MACHINE.
#       DIFFERS: the golden file has a planted difference; the case passes only when the program
#       succeeds and the comparison reports a difference (exit 1), not on any other failure.
set(KWS_RUN_CASE "${CMAKE_CURRENT_LIST_DIR}/kws_run_case.cmake")
find_program(KWS_QEMU qemu-system-arm)

# _kws_qemu(<name> <out>): <out> = "qemu-system-arm|MACHINE" in a cross build ("" on the host),
# or NOTFOUND (the case is not added) when QEMU or the machine is missing
function(_kws_qemu name out)
  set(qemu "")
  if(CMAKE_CROSSCOMPILING)
    if(NOT KWS_QEMU OR NOT KWS_QEMU_MACHINE)
      message(STATUS "kws: ${name} not added (qemu-system-arm or KWS_QEMU_MACHINE missing)")
      set(qemu NOTFOUND)
    else()
      set(qemu "${KWS_QEMU}|${KWS_QEMU_MACHINE}")
    endif()
  endif()
  set(${out} "${qemu}" PARENT_SCOPE)
endfunction()

function(kws_case name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "DIFFERS" "TOOL;EXPECT" "ARGS")
  if(NOT TARGET ${arg_TOOL})
    return()
  endif()
  set(work "${CMAKE_CURRENT_BINARY_DIR}/ctest/${name}")
  file(MAKE_DIRECTORY "${work}")
  set(cmd "$<TARGET_FILE:${arg_TOOL}>")
  _kws_qemu(${name} qemu)
  if(qemu STREQUAL "NOTFOUND")
    return()
  endif()
  string(REPLACE ";" "|" args "${arg_ARGS}")
  set(compare "")
  if(arg_EXPECT)
    set(compare "$<TARGET_FILE:kws_results_compare>")
    if(CMAKE_CROSSCOMPILING)
      if(NOT KWS_HOST_COMPARE)
        message(STATUS "kws: ${name} not added (set KWS_HOST_COMPARE to a host build's "
                       "kws_results_compare)")
        return()
      endif()
      set(compare "${KWS_HOST_COMPARE}")
    endif()
  endif()
  add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} "-DTOOL=${cmd}" "-DARGS=${args}"
           "-DEXPECT=${arg_EXPECT}" "-DCOMPARE=${compare}" "-DWORK=${work}" "-DQEMU=${qemu}"
           "-DDIFFERS=${arg_DIFFERS}"
           -P "${KWS_RUN_CASE}")
  set_tests_properties(${name} PROPERTIES TIMEOUT 300 LABELS "$<IF:$<BOOL:${qemu}>,qemu,host>")
endfunction()

# kws_case_output(<name> TOOL <target> [ARGS <arg>...] MATCH <regex>): passes when the program
# exits 0 and its standard output matches (a console program: kws_demo; under QEMU, the board
# app, its ARGS on the semihosting command line after its name)
function(kws_case_output name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "TOOL;MATCH" "ARGS")
  if(NOT TARGET ${arg_TOOL})
    return()
  endif()
  _kws_qemu(${name} qemu)
  if(qemu STREQUAL "NOTFOUND")
    return()
  endif()
  set(work "${CMAKE_CURRENT_BINARY_DIR}/ctest/${name}")
  file(MAKE_DIRECTORY "${work}")
  string(REPLACE ";" "|" args "${arg_ARGS}")
  add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} "-DTOOL=$<TARGET_FILE:${arg_TOOL}>"
           "-DARGS=${args}" "-DMATCH=${arg_MATCH}" "-DWORK=${work}" "-DQEMU=${qemu}"
           -P "${KWS_RUN_CASE}")
  set_tests_properties(${name} PROPERTIES TIMEOUT 300 LABELS "$<IF:$<BOOL:${qemu}>,qemu,host>")
endfunction()

# kws_fuzz_case(<harness> SEEDS <folder> MAX_LEN <bytes> RUNS <n>): a short libFuzzer campaign
# (fixed seed, RUNS executions) of kws_fuzz_<harness>_libfuzzer from the seed inputs in <folder>
# (kws.toolchain.fuzz.write_seeds; new inputs go to the test's own corpus folder); passes when
# libFuzzer finds nothing. No test without that target (clang or libFuzzer missing).
function(kws_fuzz_case harness)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "SEEDS;MAX_LEN;RUNS" "")
  set(tool kws_fuzz_${harness}_libfuzzer)
  if(NOT TARGET ${tool})
    return()
  endif()
  set(work "${CMAKE_CURRENT_BINARY_DIR}/ctest/fuzz_${harness}_libfuzzer")
  file(MAKE_DIRECTORY "${work}/corpus")
  get_target_property(exe ${tool} KWS_EXECUTABLE)
  add_test(NAME fuzz_${harness}_libfuzzer COMMAND "${exe}" "${work}/corpus" "${arg_SEEDS}"
           -runs=${arg_RUNS} -seed=1 -max_len=${arg_MAX_LEN} -timeout=10 -rss_limit_mb=8192
           -malloc_limit_mb=2048 "-artifact_prefix=${work}/")
  set_tests_properties(fuzz_${harness}_libfuzzer PROPERTIES TIMEOUT 300 LABELS host)
endfunction()

if(NOT CMAKE_CROSSCOMPILING)
  # the fuzz harnesses under ASan + UBSan, their own driver: 2,000 seeded random inputs each
  foreach(h nn detector wav mfcc)
    if(TARGET kws_fuzz_${h}_driver)
      add_test(NAME fuzz_${h}_driver COMMAND kws_fuzz_${h}_driver --random 2000 --seed 0
               --artifact-prefix "${CMAKE_CURRENT_BINARY_DIR}/fuzz-${h}-")
      set_tests_properties(fuzz_${h}_driver PROPERTIES TIMEOUT 300 LABELS host)
    endif()
  endforeach()
  if(TARGET kws_model_check_test)
    add_test(NAME model_check COMMAND kws_model_check_test)
    set_tests_properties(model_check PROPERTIES LABELS host)
  endif()
else()
  set(KWS_HOST_COMPARE "" CACHE FILEPATH
      "kws_results_compare built for the host (a cross build compares target results with it)")
endif()

if(KWS_TEST_CASES)
  get_filename_component(KWS_CASES "${KWS_TEST_CASES}" ABSOLUTE)
  if(NOT EXISTS "${KWS_CASES}/cases.cmake")
    message(FATAL_ERROR "KWS_TEST_CASES=${KWS_CASES}: no cases.cmake (write it: python -m "
                        "kws.toolchain.ctest_cases RUN_DIR ${KWS_CASES})")
  endif()
  if(NOT KWS_MODEL_DIR)
    message(FATAL_ERROR "KWS_TEST_CASES needs KWS_MODEL_DIR, the model folder they were made for")
  endif()
  file(STRINGS "${KWS_MODEL_DIR}/kws_model.h" _hash REGEX "^#define KWS_MODEL_HASH ")
  string(REGEX REPLACE "^#define KWS_MODEL_HASH \"(.*)\"$" "\\1" KWS_MODEL_HASH "${_hash}")
  include("${KWS_CASES}/cases.cmake")   # sets KWS_CASES_MODEL_HASH, calls kws_case
  if(NOT KWS_CASES_MODEL_HASH STREQUAL KWS_MODEL_HASH)
    message(FATAL_ERROR "KWS_TEST_CASES=${KWS_CASES} were made for model ${KWS_CASES_MODEL_HASH}, "
                        "KWS_MODEL_DIR=${KWS_MODEL_DIR} is ${KWS_MODEL_HASH}: remake them "
                        "(python -m kws.toolchain.ctest_cases RUN_DIR ${KWS_CASES})")
  endif()
endif()
