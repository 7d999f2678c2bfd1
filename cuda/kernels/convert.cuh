// convert.cuh — f32 (rows, n) matrices with strided rows to packed f16 or bf16: the activations of
// a GEMM on 16-bit weights (cuBLAS multiplies A and B of one type); and MMRT_OP_CONVERT
// (cuda/convert.cu), which may also copy to f32.
#pragma once

#include "common.cuh"

struct convert_params {
  const float* x;  // (rows, n), row stride x_stride elements
  void* dst;       // (rows, n) packed (row stride n), f16, bf16 or f32 as T; must not alias x
  int64_t n, rows, x_stride;
};

// Round to nearest even, once (as the CPU backend's mmrt_f32_to_f16/_bf16).
__device__ __forceinline__ void store_rounded(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void store_rounded(__nv_bfloat16* p, float v) {
  *p = __float2bfloat16_rn(v);
}
__device__ __forceinline__ void store_rounded(float* p, float v) { *p = v; }  // a plain copy

// Flat grid-stride over rows · n elements. T: __half, __nv_bfloat16 or float (a copy).
template <class T>
__global__ void __launch_bounds__(FLAT_THREADS) convert_kernel(convert_params p) {
  const int64_t total = p.n * p.rows;
  T* dst = static_cast<T*>(p.dst);
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = idx / p.n, j = idx % p.n;
    store_rounded(dst + idx, p.x[r * p.x_stride + j]);
  }
}
