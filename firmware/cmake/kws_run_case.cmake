# One ctest case (cmake -P; kws_tests.cmake passes the arguments): runs TOOL with ARGS ("|"
# separated, @OUT@ = WORK/out.kwsr), on the host or, with QEMU = "qemu-system-arm|MACHINE",
# under QEMU's semihosting in WORK (the program writes results.kwsr there; ARGS, if any, follow
# the program's name on its semihosting command line); fails on a non-zero
# exit, then, with EXPECT, unless COMPARE (kws_results_compare) finds the result file equal,
# or, with MATCH, unless the standard output (QEMU: the semihosting console) matches the
# regular expression MATCH. DIFFERS:
# the comparison must find a difference (exit 1) instead.
string(REPLACE "|" ";" args "${ARGS}")
file(REMOVE "${WORK}/out.kwsr" "${WORK}/results.kwsr")
if(QEMU)
  string(REPLACE "|" ";" qemu "${QEMU}")
  list(GET qemu 0 qemu_exe)
  list(GET qemu 1 machine)
  get_filename_component(elf_name "${TOOL}" NAME)
  file(COPY "${TOOL}" DESTINATION "${WORK}")
  # kws/toolchain/cortex_m.py qemu_command: -icount shift=0, semihosting command line
  # "PROGRAM RESULTS_FILE", or "PROGRAM ARGS..." when ARGS are given (@OUT@: the results file)
  set(semihosting "enable=on,target=native,arg=${elf_name}")
  if(args STREQUAL "")
    set(args results.kwsr)
  endif()
  foreach(a IN LISTS args)
    string(REPLACE "@OUT@" "results.kwsr" a "${a}")
    string(APPEND semihosting ",arg=${a}")
  endforeach()
  set(cmd "${qemu_exe}" -M ${machine} -nographic -monitor none -semihosting-config
      "${semihosting}" -icount shift=0 -kernel "${WORK}/${elf_name}")
  set(out "${WORK}/results.kwsr")
else()
  set(out "${WORK}/out.kwsr")
  string(REPLACE "@OUT@" "${out}" args "${args}")
  set(cmd "${TOOL}" ${args})
endif()
execute_process(COMMAND ${cmd} WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc
                OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr)
set(console "${stdout}")
if(QEMU)   # QEMU writes the semihosting console to its standard error
  set(console "${stderr}")
endif()
if(DEFINED MATCH AND NOT MATCH STREQUAL "" AND NOT console MATCHES "${MATCH}")
  message("${stdout}${stderr}")
  message(FATAL_ERROR "${TOOL}: the output does not match '${MATCH}'")
endif()
string(LENGTH "${stdout}" n)
if(n GREATER 3000)
  math(EXPR start "${n} - 3000")
  string(SUBSTRING "${stdout}" ${start} 3000 stdout)
endif()
message("${stdout}${stderr}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${cmd}: exit ${rc}")
endif()
if(EXPECT)
  execute_process(COMMAND "${COMPARE}" "${EXPECT}" "${out}" RESULT_VARIABLE rc
                  OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr)
  message("${stdout}${stderr}")
  if(DIFFERS)
    if(NOT rc EQUAL 1)
      message(FATAL_ERROR "expected the comparison to find the planted difference in ${EXPECT} "
                          "(exit 1), got exit ${rc}")
    endif()
  elseif(NOT rc EQUAL 0)
    message(FATAL_ERROR "the result differs from the golden ${EXPECT} (exit ${rc})")
  endif()
endif()
