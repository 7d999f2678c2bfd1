// gpu_device_cuda.cu — gpu_device.h on the CUDA runtime (nvcc build).
#include "gpu_device.h"

#include <cuda_runtime.h>
#include <stdio.h>

bool gpu_device_query(gpu_device_info* out) {
  *out = {};
  int dev = 0;
  cudaDeviceProp p;
  cudaError_t e = cudaGetDevice(&dev);
  if (e == cudaSuccess) e = cudaGetDeviceProperties(&p, dev);
  if (e != cudaSuccess) {
    snprintf(out->name, sizeof out->name, "no CUDA device: %s", cudaGetErrorString(e));
    return false;
  }
  int clock_khz = 0;
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, dev);
  snprintf(out->name, sizeof out->name, "%s", p.name);
  out->n_sm = p.multiProcessorCount;
  out->clock_ghz = clock_khz / 1e6;
  out->mem_gb = (double)p.totalGlobalMem / 1e9;
  out->cc_major = p.major;
  out->cc_minor = p.minor;
  return true;
}

void gpu_kernel_occupancy(const void* kernel, int threads, size_t smem, int* regs, int* blocks) {
  cudaFuncAttributes a;
  *regs = cudaFuncGetAttributes(&a, kernel) == cudaSuccess ? a.numRegs : -1;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks, kernel, threads, smem) != cudaSuccess)
    *blocks = -1;
  (void)cudaGetLastError();
}
