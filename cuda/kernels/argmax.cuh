// argmax.cuh — index of the largest element of each row of a (rows, d) f32 matrix, the first one
// on ties; one block per row.
#pragma once

#include "common.cuh"

struct argmax_params {
  const float* x;  // (rows, d), row stride x_stride elements
  int32_t* dst;    // (rows), contiguous
  int64_t d, x_stride;
};

// (value, index) candidates; index d means "none yet". b wins over a when larger, or equal and
// earlier: the reduction then yields the first maximum whatever the tree shape.
__device__ __forceinline__ bool argmax_better(float bv, int64_t bi, float av, int64_t ai,
                                              int64_t none) {
  if (bi == none) return false;
  return ai == none || bv > av || (bv == av && bi < ai);
}

// Each thread scans a strided slice; warps then combine by shuffles, warp leaders through shared
// memory. NaNs are not ordered: a row with NaNs may give another index than the CPU oracle.
__global__ void __launch_bounds__(ROW_THREADS_MAX) argmax_kernel(argmax_params p) {
  __shared__ float part_v[32];
  __shared__ int64_t part_i[32];
  const float* x = p.x + blockIdx.x * p.x_stride;
  const int64_t none = p.d;
  float v = -INFINITY;
  int64_t i = none;
  for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x)
    if (argmax_better(x[j], j, v, i, none)) v = x[j], i = j;
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
  for (int off = 16; off > 0; off /= 2) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, off);
    const int64_t oi = __shfl_xor_sync(0xffffffffu, i, off);
    if (argmax_better(ov, oi, v, i, none)) v = ov, i = oi;
  }
  if (lane == 0) part_v[warp] = v, part_i[warp] = i;
  __syncthreads();
  if (warp == 0) {
    v = lane < n_warps ? part_v[lane] : -INFINITY;
    i = lane < n_warps ? part_i[lane] : none;
    for (int off = 16; off > 0; off /= 2) {
      const float ov = __shfl_xor_sync(0xffffffffu, v, off);
      const int64_t oi = __shfl_xor_sync(0xffffffffu, i, off);
      if (argmax_better(ov, oi, v, i, none)) v = ov, i = oi;
    }
    // An empty row (d = 0) gives 0, as the oracle does.
    if (lane == 0) p.dst[blockIdx.x] = (int32_t)(i == none ? 0 : i);
  }
}
