// tiled_matmul.cuh — sample kernel: C = A B in f32 with square tiles in dynamic shared memory.
// Any M, N, K (ragged edge tiles are zero-padded).
#pragma once

#include "prims.cuh"

struct tiled_matmul_params {
  const float* a;  // (m, k), row stride lda
  const float* b;  // (k, n), row stride ldb
  float* c;        // (m, n), row stride ldc
  int m, n, k;
  int lda, ldb, ldc;
};

constexpr int MATMUL_TILE = 16;
static_assert(MATMUL_TILE * MATMUL_TILE <= 1024, "one thread per output of a tile");
constexpr size_t tiled_matmul_smem_bytes() { return 2 * MATMUL_TILE * MATMUL_TILE * sizeof(float); }

// block (TILE, TILE), grid (ceil(n/TILE), ceil(m/TILE)); smem tiled_matmul_smem_bytes().
__global__ void tiled_matmul_kernel(tiled_matmul_params p) {
  float* as = prim::dynamic_smem<float>();         // (TILE, TILE)
  float* bs = as + MATMUL_TILE * MATMUL_TILE;       // (TILE, TILE)
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * MATMUL_TILE + ty, col = blockIdx.x * MATMUL_TILE + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < p.k; k0 += MATMUL_TILE) {
    as[ty * MATMUL_TILE + tx] = row < p.m && k0 + tx < p.k ? p.a[row * p.lda + k0 + tx] : 0.0f;
    bs[ty * MATMUL_TILE + tx] = col < p.n && k0 + ty < p.k ? p.b[(k0 + ty) * p.ldb + col] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < MATMUL_TILE; ++kk) acc += as[ty * MATMUL_TILE + kk] * bs[kk * MATMUL_TILE + tx];
    __syncthreads();  // the next iteration overwrites the tiles
  }
  if (row < p.m && col < p.n) p.c[row * p.ldc + col] = acc;
}
