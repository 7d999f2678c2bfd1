# Compiler launcher for nvcc (CUDA_COMPILER_LAUNCHER of the CUDA module, cmake/MmrtCudaModule.cmake):
#   cmake -P MmrtNvccReport.cmake -- <nvcc command line with -o OBJ>
# Runs the compile and keeps its diagnostics, ptxas's per-kernel `-v` report included, in
# OBJ.ptxas.txt beside the object. Only the lines that are not ptxas's "info" report reach the
# console, so a build log shows warnings and errors, not hundreds of register counts.
# Fails (exit 1) when nvcc fails; ptxas's -warn-spills,-Werror make a spill such a failure.

set(cmd)
set(obj)
set(take_obj OFF)
set(in_cmd OFF)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  set(a "${CMAKE_ARGV${i}}")
  if(in_cmd)
    list(APPEND cmd "${a}")
    if(take_obj)
      set(obj "${a}")
      set(take_obj OFF)
    elseif(a STREQUAL "-o")
      set(take_obj ON)
    endif()
  elseif(a STREQUAL "--")
    set(in_cmd ON)
  endif()
endforeach()
if(NOT cmd)
  message(FATAL_ERROR "usage: cmake -P MmrtNvccReport.cmake -- nvcc ... -o OBJ ...")
endif()

execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(obj)
  file(WRITE "${obj}.ptxas.txt" "${out}")
endif()
string(REGEX REPLACE "ptxas info[^\n]*\n" "" shown "${out}")
string(REGEX REPLACE "(^|\n) +[0-9]+ bytes stack frame[^\n]*" "" shown "${shown}")
string(STRIP "${shown}" shown)
if(shown)
  message(NOTICE "${shown}")
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nvcc failed (${rc}) compiling ${obj}; full output in ${obj}.ptxas.txt")
endif()
