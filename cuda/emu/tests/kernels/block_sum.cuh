// block_sum.cuh — sample kernel: sum of an int array, one partial sum per block combined with
// atomicAdd. Exercises static __shared__, __syncthreads in a loop, warp shuffles and atomics.
#pragma once

#include "prims.cuh"

struct block_sum_params {
  const int* x;  // (n)
  int* sum;      // (1), accumulated into
  int64_t n;
};

constexpr int BLOCK_SUM_THREADS = 256;
static_assert(BLOCK_SUM_THREADS % 32 == 0 && BLOCK_SUM_THREADS <= 1024, "whole warps");

// Grid-stride loop per thread, tree reduction in shared memory down to one warp, then shuffles.
__global__ void __launch_bounds__(BLOCK_SUM_THREADS) block_sum_kernel(block_sum_params p) {
  __shared__ int partial[BLOCK_SUM_THREADS];
  const unsigned tid = threadIdx.x;
  int acc = 0;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + tid; i < p.n; i += (int64_t)gridDim.x * blockDim.x)
    acc += p.x[i];
  partial[tid] = acc;
  __syncthreads();
  for (unsigned stride = BLOCK_SUM_THREADS / 2; stride >= 32; stride /= 2) {
    if (tid < stride) partial[tid] += partial[tid + stride];
    __syncthreads();
  }
  if (tid < 32) {
    int v = partial[tid];
    for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
    if (tid == 0) atomicAdd(p.sum, v);
  }
}
