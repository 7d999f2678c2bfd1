// mma_probes.cuh — one-warp kernels that expose the tensor-core fragment layouts: the emulator
// tests (test_mma.cpp) check them against the PTX ISA tables, and the same kernels, built by nvcc
// (nvcc_check.cu), are the golden check of those tables on the first GPU available.
#pragma once

#include "prims.cuh"

#include <type_traits>

// One warp: D (16x8) = A (16x16) B (16x8) + C, fragments gathered with the documented formulas.
template <class T>
__global__ void mma_fragments_kernel(const uint16_t* A, const uint16_t* B, const float* C, float* D) {
  const int lane = (int)prim::lane_id(), g = lane / 4, t = lane % 4;
  auto a_at = [&](int r, int k) { return A[r * 16 + k]; };
  auto b_at = [&](int k, int n) { return B[k * 8 + n]; };
  const uint32_t a[4] = {prim::pack2(a_at(g, 2 * t), a_at(g, 2 * t + 1)),
                         prim::pack2(a_at(g + 8, 2 * t), a_at(g + 8, 2 * t + 1)),
                         prim::pack2(a_at(g, 2 * t + 8), a_at(g, 2 * t + 9)),
                         prim::pack2(a_at(g + 8, 2 * t + 8), a_at(g + 8, 2 * t + 9))};
  const uint32_t b[2] = {prim::pack2(b_at(2 * t, g), b_at(2 * t + 1, g)),
                         prim::pack2(b_at(2 * t + 8, g), b_at(2 * t + 9, g))};
  float c[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};
  if constexpr (std::is_same_v<T, __nv_bfloat16>) prim::mma_m16n8k16_bf16(c, a, b, c);
  else prim::mma_m16n8k16_f16(c, a, b, c);
  D[g * 8 + 2 * t] = c[0];
  D[g * 8 + 2 * t + 1] = c[1];
  D[(g + 8) * 8 + 2 * t] = c[2];
  D[(g + 8) * 8 + 2 * t + 1] = c[3];
}

// Four 8x8 matrices of 16-bit values in dynamic shared memory, rows `ld` elements apart; lane l
// gives row l % 8 of matrix l / 8. out[lane * 4 + j] = register j.
constexpr int LDM_LD = 24;
__global__ void ldmatrix_kernel(const uint16_t* src, uint32_t* out, int num, int trans) {
  uint16_t* s = prim::dynamic_smem<uint16_t>();
  const int lane = (int)prim::lane_id();
  for (int i = lane; i < 4 * 8 * LDM_LD; i += 32) s[i] = src[i];
  __syncwarp();
  const void* row = &s[(lane / 8) * 8 * LDM_LD + (lane % 8) * LDM_LD];
  uint32_t r[4] = {0, 0, 0, 0};
  if (!trans && num == 1) prim::ldmatrix_x1(r, row);
  if (!trans && num == 2) prim::ldmatrix_x2(r, row);
  if (!trans && num == 4) prim::ldmatrix_x4(r, row);
  if (trans && num == 1) prim::ldmatrix_x1_trans(r, row);
  if (trans && num == 2) prim::ldmatrix_x2_trans(r, row);
  if (trans && num == 4) prim::ldmatrix_x4_trans(r, row);
  for (int j = 0; j < 4; ++j) out[lane * 4 + j] = r[j];
}

