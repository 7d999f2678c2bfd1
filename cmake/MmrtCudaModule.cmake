# The real CUDA backend: cuda/*.cu built by nvcc into the MODULE library libmmrt-cuda.so, placed
# (and installed) next to libmmrt, which dlopen()s it (core/backend_registry.c; contract in
# cuda/module/cuda_module.h). libmmrt links no CUDA library.
#
# ptxas runs with -v,-warn-spills,-Werror: a spill or a ptxas warning fails the build. The
# per-kernel register/shared-memory/spill report of every object is kept beside it
# (OBJ.ptxas.txt) and gathered in ${PROJECT_BINARY_DIR}/mmrt-cuda-ptxas.txt after each link;
# tools/ptxas-summary.sh prints it as a table.
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

set(MMRT_CUDA_ARCHITECTURES "80-real;90" CACHE STRING
  "mmrt: GPU architectures of the CUDA module (CMake CUDA_ARCHITECTURES: SASS for sm_80 and sm_90, PTX of sm_90 for newer GPUs)")

file(GLOB MMRT_CUDA_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/cuda/*.cu)
# core/tensor.c is stateless and compiled in; the stateful core helpers come from libmmrt through
# the module's entry point (cuda/module/cuda_module.c).
add_library(mmrt_cuda MODULE ${MMRT_CUDA_SOURCES} ${PROJECT_SOURCE_DIR}/cuda/module/cuda_module.c
  ${PROJECT_SOURCE_DIR}/core/tensor.c)
set_target_properties(mmrt_cuda PROPERTIES
  OUTPUT_NAME mmrt-cuda
  LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}  # beside libmmrt.so, where the registry looks
  CUDA_ARCHITECTURES "${MMRT_CUDA_ARCHITECTURES}"
  CUDA_RUNTIME_LIBRARY Shared                     # CUDA::cudart below, not CMake's static default
  CUDA_VISIBILITY_PRESET hidden                   # only mmrt_cuda_module_init is exported
  CUDA_COMPILER_LAUNCHER "${CMAKE_COMMAND};-P;${PROJECT_SOURCE_DIR}/cmake/MmrtNvccReport.cmake;--")
target_include_directories(mmrt_cuda PRIVATE
  ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/cuda)
target_compile_definitions(mmrt_cuda PRIVATE _GNU_SOURCE)

# -std=c++20 by hand: CMake 3.25 does not know nvcc's CUDA_STANDARD 20 flag.
# The directory's warning and sanitizer flags are host-compiler flags that nvcc does not take:
# they stay on the C shim only; the .cu files get the host warnings through -Xcompiler.
get_target_property(dir_opts mmrt_cuda COMPILE_OPTIONS)
if(NOT dir_opts)
  set(dir_opts)
endif()
set(c_opts)
foreach(o IN LISTS dir_opts)
  list(APPEND c_opts "$<$<COMPILE_LANGUAGE:C>:${o}>")
endforeach()
set_property(TARGET mmrt_cuda PROPERTY COMPILE_OPTIONS ${c_opts})
target_compile_options(mmrt_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 -Xptxas=-v,-warn-spills,-Werror -Xcompiler=-Wall,-Wextra,-Wno-unused-parameter>)
if(MMRT_FATAL_WARNINGS)
  target_compile_options(mmrt_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings>)
endif()

# cuBLAS: the GEMM wrapper (cuda/matmul.cu); the module is only loaded where the CUDA libraries are.
target_link_libraries(mmrt_cuda PRIVATE CUDA::cudart CUDA::cublas m)
# Every symbol resolved at link time: a core helper that a launcher starts to use and the module
# does not provide fails the build here, not the dlopen on a user's machine.
target_link_options(mmrt_cuda PRIVATE LINKER:-z,defs)

add_custom_command(TARGET mmrt_cuda POST_BUILD
  COMMAND ${CMAKE_COMMAND} -DOBJ_DIR=${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/mmrt_cuda.dir
          -DREPORT=${PROJECT_BINARY_DIR}/mmrt-cuda-ptxas.txt
          -P ${PROJECT_SOURCE_DIR}/cmake/MmrtPtxasReport.cmake
  COMMENT "ptxas report of the CUDA module: ${PROJECT_BINARY_DIR}/mmrt-cuda-ptxas.txt"
  VERBATIM)

install(TARGETS mmrt_cuda LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
