// mma_gemm.cuh — sample kernel: C (f32) = A B with 16-bit inputs on tensor cores: ldmatrix from
// shared-memory tiles and mma.sync.m16n8k16. Any M, N, K (edge tiles are zero-padded).
#pragma once

#include "prims.cuh"

template <class T>
struct mma_gemm_params {
  const T* a;  // (m, k), row stride lda
  const T* b;  // (k, n), row stride ldb
  float* c;    // (m, n), row stride ldc
  int m, n, k;
  int lda, ldb, ldc;
};

// 4 warps as 2 x 2, each computing a 16 x 8 tile: block tile 32 x 16, k step 16.
constexpr int MMA_GEMM_WARPS_M = 2, MMA_GEMM_WARPS_N = 2;
constexpr int MMA_GEMM_BM = 16 * MMA_GEMM_WARPS_M, MMA_GEMM_BN = 8 * MMA_GEMM_WARPS_N, MMA_GEMM_BK = 16;
constexpr int MMA_GEMM_THREADS = 32 * MMA_GEMM_WARPS_M * MMA_GEMM_WARPS_N;
// Row strides of the tiles in elements: a multiple of 8 keeps every ldmatrix row 16-byte aligned.
constexpr int MMA_GEMM_AS_LD = MMA_GEMM_BK + 8, MMA_GEMM_BS_LD = MMA_GEMM_BN + 8;
static_assert(MMA_GEMM_AS_LD % 8 == 0 && MMA_GEMM_BS_LD % 8 == 0, "16-byte aligned ldmatrix rows");
static_assert(MMA_GEMM_BN % 8 == 0 && MMA_GEMM_BM % 16 == 0, "whole mma tiles");

template <class T>
__device__ __forceinline__ void mma_16816(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]);
template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                         const float c[4]) {
  prim::mma_m16n8k16_bf16(d, a, b, c);
}
template <>
__device__ __forceinline__ void mma_16816<__half>(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                  const float c[4]) {
  prim::mma_m16n8k16_f16(d, a, b, c);
}

// block MMA_GEMM_THREADS, grid (ceil(n/BN), ceil(m/BM)).
template <class T>
__global__ void __launch_bounds__(MMA_GEMM_THREADS) mma_gemm_kernel(mma_gemm_params<T> p) {
  __shared__ __align__(16) T as[MMA_GEMM_BM * MMA_GEMM_AS_LD];  // (BM, BK), stride AS_LD
  __shared__ __align__(16) T bs[MMA_GEMM_BK * MMA_GEMM_BS_LD];  // (BK, BN), stride BS_LD
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int wm = warp / MMA_GEMM_WARPS_N, wn = warp % MMA_GEMM_WARPS_N;
  const int m0 = blockIdx.y * MMA_GEMM_BM, n0 = blockIdx.x * MMA_GEMM_BN;
  const T zero = T(0.0f);
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int k0 = 0; k0 < p.k; k0 += MMA_GEMM_BK) {
    for (int i = tid; i < MMA_GEMM_BM * MMA_GEMM_BK; i += MMA_GEMM_THREADS) {
      const int r = i / MMA_GEMM_BK, kk = i % MMA_GEMM_BK;
      as[r * MMA_GEMM_AS_LD + kk] = m0 + r < p.m && k0 + kk < p.k ? p.a[(m0 + r) * p.lda + k0 + kk] : zero;
    }
    for (int i = tid; i < MMA_GEMM_BK * MMA_GEMM_BN; i += MMA_GEMM_THREADS) {
      const int kk = i / MMA_GEMM_BN, c = i % MMA_GEMM_BN;
      bs[kk * MMA_GEMM_BS_LD + c] = k0 + kk < p.k && n0 + c < p.n ? p.b[(k0 + kk) * p.ldb + n0 + c] : zero;
    }
    __syncthreads();
    uint32_t a[4], b[2];
    // A fragment: lanes 0-15 give rows 0-15 at k 0-7, lanes 16-31 the same rows at k 8-15.
    prim::ldmatrix_x4(a, &as[(wm * 16 + lane % 16) * MMA_GEMM_AS_LD + (lane / 16) * 8]);
    // B fragment: lanes 0-15 give k rows 0-15 of this warp's 8 columns; .trans makes them "col".
    prim::ldmatrix_x2_trans(b, &bs[(lane % 16) * MMA_GEMM_BS_LD + wn * 8]);
    mma_16816<T>(acc, a, b, acc);
    __syncthreads();
  }
  const int g = lane / 4, t = lane % 4;
  for (int i = 0; i < 4; ++i) {
    const int r = m0 + wm * 16 + g + 8 * (i / 2), c = n0 + wn * 8 + 2 * t + i % 2;
    if (r < p.m && c < p.n) p.c[r * p.ldc + c] = acc[i];
  }
}
