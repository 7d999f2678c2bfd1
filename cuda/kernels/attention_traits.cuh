// attention_traits.cuh — the tile constants of attention.cuh (its header comment has the design),
// apart so that the backend's supports_op() can check shapes against them without the kernels.
#pragma once

#include <stddef.h>

constexpr int ATTN_BQ = 32;       // rows (query token × group head) per block
constexpr int ATTN_BK = 32;       // keys per shared-memory tile: one per lane
constexpr int ATTN_THREADS = 128; // 4 warps
constexpr int ATTN_WARPS = ATTN_THREADS / 32;
constexpr int ATTN_ROWS_PER_WARP = ATTN_BQ / ATTN_WARPS;
constexpr int ATTN_HD_MAX = 256;
constexpr int ATTN_COLS_PER_LANE = ATTN_HD_MAX / 32;  // output columns lane, lane + 32, ...
constexpr int ATTN_KV_CHUNK = 8 * ATTN_BK;            // keys per split of split-KV
static_assert(ATTN_BK == 32, "one key per lane in the score step");
static_assert(ATTN_THREADS % 32 == 0 && ATTN_BQ % ATTN_WARPS == 0, "whole warps, whole rows");
static_assert(ATTN_HD_MAX % 32 == 0, "output columns per lane");
static_assert(ATTN_KV_CHUNK % ATTN_BK == 0, "splits are whole tiles");

// Dynamic shared memory of attention_kernel for head dim hd.
inline size_t attention_smem_bytes(int hd) {
  return sizeof(float) * ((size_t)ATTN_BQ * hd + 2 * (size_t)ATTN_BK * (hd + 1) +
                          2 * (size_t)ATTN_BQ * ATTN_BK);
}

// Tensor-core variant (attention_mma.cuh): 16 rows per warp, 16-bit tiles.
constexpr int ATTN_MMA_BQ = 64;
constexpr int ATTN_MMA_BK = 32;
constexpr int ATTN_MMA_THREADS = 128;
static_assert(ATTN_MMA_BQ == 16 * (ATTN_MMA_THREADS / 32), "one m16 tile of rows per warp");
static_assert(ATTN_MMA_BK % 16 == 0, "whole mma k steps of keys in P V");
static_assert(ATTN_KV_CHUNK % ATTN_MMA_BK == 0, "splits are whole tiles");

// Dynamic shared memory of attention_mma_kernel: Q, K and V tiles of 16-bit elements, rows of
// hd rounded up to 16 plus 8 (16-byte aligned ldmatrix rows), then the f32 stage that cp.async
// fills with the next K and V tiles, rows of hd rounded up to 4 (16-byte aligned).
inline size_t attention_mma_smem_bytes(int hd) {
  return 2 * (size_t)(ATTN_MMA_BQ + 2 * ATTN_MMA_BK) * (size_t)((hd + 15) / 16 * 16 + 8) +
         4 * (size_t)(2 * ATTN_MMA_BK) * (size_t)((hd + 3) / 4 * 4);
}
