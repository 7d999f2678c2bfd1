// gpu_device.h — what mmrt-gpu-bench asks the CUDA runtime about the device and its kernels.
// Two implementations, picked by bench/CMakeLists.txt: gpu_device_cuda.cu (nvcc build: the real
// queries) and gpu_device_emu.cpp (emulated build: the emulator has no device properties, so
// these report "unknown"). Keeps the bench free of __CUDACC__ tests (prims.cuh is the only file
// with those).
#pragma once

#include <stddef.h>

struct gpu_device_info {
  char name[256];
  int n_sm;          // multiprocessors; 0 when unknown
  double clock_ghz;  // SM clock; 0 when unknown
  double mem_gb;     // device memory; 0 when unknown
  int cc_major, cc_minor;
};

// Fills *out for the current device; false (and a name saying why) when it cannot.
bool gpu_device_query(gpu_device_info* out);

// Registers per thread of a kernel (host stub address) and how many blocks of `threads` threads
// with `smem` bytes of dynamic shared memory fit on one SM; -1 each when unknown.
void gpu_kernel_occupancy(const void* kernel, int threads, size_t smem, int* regs, int* blocks);
