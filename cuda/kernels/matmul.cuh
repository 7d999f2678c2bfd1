// matmul.cuh — dst(m, n) f32 = x(m, k) f32 · w(n, k)ᵀ, w f32/f16/bf16: a plain shared-memory tiled
// kernel with f32 accumulation, until the cuBLAS(Lt) wrapper takes MATMUL over.
#pragma once

#include "common.cuh"

struct matmul_params {
  const float* x;  // (m, k), row stride x_stride elements
  const void* w;   // (n, k), row stride w_stride elements
  float_type w_type;
  float* dst;  // (m, n), row stride dst_stride elements; must not alias x or w
  int64_t m, n, k, x_stride, w_stride, dst_stride;
};

// block (TILE, TILE), grid (ceil(n / TILE), ceil(m / TILE)). Both tiles are loaded along k (the
// contiguous dimension of x and w); ragged edges load zeros. The +1 column keeps the transposed
// reads of ws on distinct banks.
__global__ void __launch_bounds__(MATMUL_TILE* MATMUL_TILE) matmul_kernel(matmul_params p) {
  __shared__ float xs[MATMUL_TILE][MATMUL_TILE + 1];  // (rows of x, k)
  __shared__ float ws[MATMUL_TILE][MATMUL_TILE + 1];  // (rows of w, k)
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t row0 = (int64_t)blockIdx.y * MATMUL_TILE, col0 = (int64_t)blockIdx.x * MATMUL_TILE;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < p.k; k0 += MATMUL_TILE) {
    const int64_t kk = k0 + tx;
    xs[ty][tx] = row0 + ty < p.m && kk < p.k ? p.x[(row0 + ty) * p.x_stride + kk] : 0.0f;
    ws[ty][tx] = col0 + ty < p.n && kk < p.k
                     ? load_float(p.w, p.w_type, (col0 + ty) * p.w_stride + kk)
                     : 0.0f;
    __syncthreads();
#pragma unroll
    for (int j = 0; j < MATMUL_TILE; j++) acc += xs[ty][j] * ws[tx][j];
    __syncthreads();  // the next iteration overwrites the tiles
  }
  if (row0 + ty < p.m && col0 + tx < p.n) p.dst[(row0 + ty) * p.dst_stride + col0 + tx] = acc;
}
