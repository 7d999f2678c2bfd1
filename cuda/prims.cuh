// prims.cuh — the one place where kernel source differs between nvcc and the CPU emulator.
//
// Kernels (cuda/kernels/*.cuh) include only this file and use, instead of CUDA syntax that a host
// compiler cannot read or that needs inline PTX:
//   MMRT_LAUNCH(kernel, grid, block, smem_bytes, stream, args...)   instead of kernel<<<...>>>(...)
//   prim::dynamic_smem<T>()                                         instead of extern __shared__
//   prim::mma_m16n8k16_bf16 / _f16                                  mma.sync (f32 accumulate)
//   prim::ldmatrix_x1/_x2/_x4 and their _trans forms                ldmatrix
//   prim::cp_async<BYTES>, cp_async_commit, cp_async_wait<N>        cp.async (global → shared)
//   prim::dp4a_s8                                                   __dp4a (signed bytes)
// Nothing else in the tree tests __CUDACC__ / __CUDA_ARCH__ or writes asm. After MMRT_LAUNCH,
// read the result with cudaGetLastError() on both builds; prim::launch_error_string() gives the
// most precise message each build has.
//
// Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type"), with
// g = lane / 4, t = lane % 4, elements numbered low half first within each 32-bit register:
//   a[0..3] (A, 16x16 row-major): a[0] = {A[g][2t],   A[g][2t+1]},   a[1] = {A[g+8][2t], A[g+8][2t+1]},
//                                 a[2] = {A[g][2t+8], A[g][2t+9]},   a[3] = {A[g+8][2t+8], A[g+8][2t+9]}
//   b[0..1] (B, 16x8, "col"):     b[0] = {B[2t][g], B[2t+1][g]},     b[1] = {B[2t+8][g], B[2t+9][g]}
//   c, d (16x8 f32):              {D[g][2t], D[g][2t+1], D[g+8][2t], D[g+8][2t+1]}
// ldmatrix: lanes 8j..8j+7 pass the row addresses (16 bytes, 16-byte aligned, shared memory) of
// matrix j; register j of lane l receives {M_j[l/4][2(l%4)], M_j[l/4][2(l%4)+1]}, or with .trans
// {M_j[2(l%4)][l/4], M_j[2(l%4)+1][l/4]}. So `ldmatrix_x4(a, &As[lane % 16][(lane / 16) * 8])`
// yields an A fragment, and `ldmatrix_x2_trans(b, &Bs[lane % 16][n0])` on a row-major K x N tile
// yields a B fragment. ldmatrix is a weak read: call __syncwarp() after other lanes' stores.
#pragma once

#include <stdint.h>

#if defined(__CUDACC__)

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define MMRT_LAUNCH(kernel, grid, block, smem, stream, ...) \
  kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)

#else

#include "emu/cuda_emu.h"

#define MMRT_LAUNCH(kernel, grid, block, smem, stream, ...)                                       \
  ((void)::mmrt_emu::launch(#kernel, kernel, (grid), (block), (smem),                             \
                            (stream)__VA_OPT__(, ) __VA_ARGS__))

#endif

// Inside prim:: functions, the emulator needs the caller's line for its reports.
#if defined(__CUDACC__)
#define MMRT_PRIM_LOC
#define MMRT_PRIM_LOC_ARG
#else
#define MMRT_PRIM_LOC , ::mmrt_emu::source_loc loc = ::mmrt_emu::source_loc::current()
#define MMRT_PRIM_LOC_ARG loc
#endif

namespace prim {

// Dynamic shared memory of the running block (the launch's smem_bytes), 16-byte aligned.
template <class T>
__device__ __forceinline__ T* dynamic_smem() {
#if defined(__CUDACC__)
  extern __shared__ __align__(16) unsigned char mmrt_dynamic_smem[];
  return reinterpret_cast<T*>(mmrt_dynamic_smem);
#else
  return static_cast<T*>(::mmrt_emu::dynamic_smem());
#endif
}

__device__ __forceinline__ unsigned lane_id() {
  return (threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) % 32u;
}

// ---- mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32: d = a*b + c -------------
// Warp-collective: all 32 lanes of a full warp, converged. d may alias c.

__device__ __forceinline__ void mma_m16n8k16_bf16(float d[4], const uint32_t a[4],
                                                  const uint32_t b[2],
                                                  const float c[4] MMRT_PRIM_LOC) {
#if defined(__CUDACC__)
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
        "f"(c[2]), "f"(c[3]));
#elif defined(__CUDA_ARCH__)
  __trap();  // bf16 mma needs sm_80
#endif
#else
  ::mmrt_emu::warp_mma_m16n8k16(d, a, b, c, ::mmrt_emu::mma_type::bf16, MMRT_PRIM_LOC_ARG);
#endif
}

__device__ __forceinline__ void mma_m16n8k16_f16(float d[4], const uint32_t a[4],
                                                 const uint32_t b[2],
                                                 const float c[4] MMRT_PRIM_LOC) {
#if defined(__CUDACC__)
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
        "f"(c[2]), "f"(c[3]));
#elif defined(__CUDA_ARCH__)
  __trap();  // m16n8k16 needs sm_80
#endif
#else
  ::mmrt_emu::warp_mma_m16n8k16(d, a, b, c, ::mmrt_emu::mma_type::f16, MMRT_PRIM_LOC_ARG);
#endif
}

// ---- ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{,.trans}.shared.b16 ---------------------------------
// Each lane passes the generic address of the shared-memory row it supplies (see above).

#if defined(__CUDACC__)
#define MMRT_LDMATRIX_ASM(num, trans, regs, ...)                                                   \
  asm volatile("ldmatrix.sync.aligned.m8n8.x" #num trans ".shared.b16 " regs ";\n"                \
               : __VA_ARGS__                                                                       \
               : "r"((unsigned)__cvta_generic_to_shared(row)))
#endif

__device__ __forceinline__ void ldmatrix_x1(uint32_t r[1], const void* row MMRT_PRIM_LOC) {
#if defined(__CUDA_ARCH__)
  MMRT_LDMATRIX_ASM(1, "", "{%0}, [%1]", "=r"(r[0]));
#elif !defined(__CUDACC__)
  ::mmrt_emu::warp_ldmatrix(r, 1, false, row, MMRT_PRIM_LOC_ARG);
#endif
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t r[2], const void* row MMRT_PRIM_LOC) {
#if defined(__CUDA_ARCH__)
  MMRT_LDMATRIX_ASM(2, "", "{%0,%1}, [%2]", "=r"(r[0]), "=r"(r[1]));
#elif !defined(__CUDACC__)
  ::mmrt_emu::warp_ldmatrix(r, 2, false, row, MMRT_PRIM_LOC_ARG);
#endif
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void* row MMRT_PRIM_LOC) {
#if defined(__CUDA_ARCH__)
  MMRT_LDMATRIX_ASM(4, "", "{%0,%1,%2,%3}, [%4]", "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]));
#elif !defined(__CUDACC__)
  ::mmrt_emu::warp_ldmatrix(r, 4, false, row, MMRT_PRIM_LOC_ARG);
#endif
}
__device__ __forceinline__ void ldmatrix_x1_trans(uint32_t r[1], const void* row MMRT_PRIM_LOC) {
#if defined(__CUDA_ARCH__)
  MMRT_LDMATRIX_ASM(1, ".trans", "{%0}, [%1]", "=r"(r[0]));
#elif !defined(__CUDACC__)
  ::mmrt_emu::warp_ldmatrix(r, 1, true, row, MMRT_PRIM_LOC_ARG);
#endif
}
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t r[2], const void* row MMRT_PRIM_LOC) {
#if defined(__CUDA_ARCH__)
  MMRT_LDMATRIX_ASM(2, ".trans", "{%0,%1}, [%2]", "=r"(r[0]), "=r"(r[1]));
#elif !defined(__CUDACC__)
  ::mmrt_emu::warp_ldmatrix(r, 2, true, row, MMRT_PRIM_LOC_ARG);
#endif
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void* row MMRT_PRIM_LOC) {
#if defined(__CUDA_ARCH__)
  MMRT_LDMATRIX_ASM(4, ".trans", "{%0,%1,%2,%3}, [%4]", "=r"(r[0]), "=r"(r[1]), "=r"(r[2]),
                    "=r"(r[3]));
#elif !defined(__CUDACC__)
  ::mmrt_emu::warp_ldmatrix(r, 4, true, row, MMRT_PRIM_LOC_ARG);
#endif
}

// ---- cp.async.{ca,cg}.shared.global, commit_group, wait_group (sm_80) --------------------------
// cp_async<BYTES>(smem, gmem) starts copying BYTES (4, 8 or 16) from global to shared memory, both
// generic addresses aligned to BYTES; cp_async_commit() closes the group of this thread's copies
// issued since the last commit; cp_async_wait<N>() returns once at most N of this thread's groups
// are still in flight. A copy is visible to its own thread after the wait and to the block after a
// __syncthreads() that follows the wait. 16-byte copies bypass L1 (.cg: K/V tiles are read once
// per block and shared through L2). Under the emulator (and below sm_80) a cp.async is a plain
// synchronous copy and commit/wait do nothing, so a missing wait is invisible there.

template <int BYTES>
__device__ __forceinline__ void cp_async(void* smem, const void* gmem) {
  static_assert(BYTES == 4 || BYTES == 8 || BYTES == 16, "cp.async copies 4, 8 or 16 bytes");
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned dst = (unsigned)__cvta_generic_to_shared(smem);
  if constexpr (BYTES == 16)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(gmem) : "memory");
  else
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2;\n" ::"r"(dst), "l"(gmem), "n"(BYTES)
                 : "memory");
#else
  __builtin_memcpy(smem, gmem, BYTES);
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

// ---- dp4a.s32.s32 (sm_61): c + Σ_{i<4} a_i·b_i over the signed bytes of a and b ---------------

__device__ __forceinline__ int dp4a_s8(int a, int b, int c) {
#if defined(__CUDA_ARCH__)
  return __dp4a(a, b, c);
#else
  for (int i = 0; i < 4; i++) c += (int)(int8_t)(a >> (8 * i)) * (int)(int8_t)(b >> (8 * i));
  return c;
#endif
}

// Packs two 16-bit values, `lo` in the low half, as fragments hold them.
__device__ __forceinline__ uint32_t pack2(uint16_t lo, uint16_t hi) {
  return (uint32_t)lo | ((uint32_t)hi << 16);
}

// ---- host side -------------------------------------------------------------------------------

// The most precise description of a failed launch or runtime call that this build can give.
inline const char* launch_error_string(cudaError_t err) {
#if defined(__CUDACC__)
  return cudaGetErrorString(err);
#else
  const char* msg = mmrt_emu_last_error_message();
  return err != cudaSuccess && msg[0] ? msg : cudaGetErrorString(err);
#endif
}

}  // namespace prim
