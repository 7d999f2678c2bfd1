// common.cuh — device helpers shared by the op kernels: float loads of f32/f16/bf16 operands and
// block-wide reductions.
#pragma once

#include "prims.cuh"

// Element type of a float operand (weights, tables); activations are always f32.
enum float_type : int { FLOAT_F32 = 0, FLOAT_F16 = 1, FLOAT_BF16 = 2 };

// Element i of a f32/f16/bf16 array, as f32 (exact). The switch is uniform across a launch.
__device__ __forceinline__ float load_float(const void* p, float_type t, int64_t i) {
  switch (t) {
    case FLOAT_F16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case FLOAT_BF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}

// Row kernels run one block of ROW_THREADS_MAX threads or fewer (whole warps) per row.
constexpr int ROW_THREADS_MAX = 256;
static_assert(ROW_THREADS_MAX % 32 == 0 && ROW_THREADS_MAX <= 1024, "whole warps, one block");

// Elementwise kernels: flat grid-stride loops.
constexpr int FLAT_THREADS = 256;
constexpr int FLAT_BLOCKS_MAX = 1024;
static_assert(FLAT_THREADS % 32 == 0, "whole warps");

__device__ __forceinline__ float warp_sum(float v) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int off = 16; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Block-wide sum or max (blockDim.x a multiple of 32, every thread calls it). Each warp reduces
// the per-warp partials itself, so no broadcast is needed; the summation tree is fixed, so the
// result does not depend on the order threads run in. `partial` holds 32 floats of shared memory;
// the trailing barrier lets the caller reuse it at once.
template <bool IS_MAX>
__device__ __forceinline__ float block_reduce(float v, float* partial) {
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
  v = IS_MAX ? warp_max(v) : warp_sum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const float id = IS_MAX ? -INFINITY : 0.0f;
  v = lane < n_warps ? partial[lane] : id;
  v = IS_MAX ? warp_max(v) : warp_sum(v);
  __syncthreads();
  return v;
}

__device__ __forceinline__ float block_sum(float v, float* partial) {
  return block_reduce<false>(v, partial);
}
__device__ __forceinline__ float block_max(float v, float* partial) {
  return block_reduce<true>(v, partial);
}
