// attention.cuh — fused attention (MMRT_OP_ATTENTION), f32 path: dst = softmax(q kᵀ · scale +
// mask) v over a KV cache, flash-style (online softmax; the n × n_kv scores never reach global
// memory).
//
// Design (f32, no tensor cores):
//   Grid (row tiles, h_kv, n_split). A block serves one KV head hk and ATTN_BQ "rows": row
//   R = t · group + g is query token t of head hk · group + g (GQA: the group's heads share the
//   K/V tiles the block loads once; repeated K/V is never materialised, and one-token decode
//   fills a tile with the group's heads instead of leaving it empty).
//   ATTN_THREADS = 128 (4 warps). Warp w owns rows w, w + 4, ..., w + 28 (ATTN_ROWS_PER_WARP = 8)
//   from scores to output, so softmax bookkeeping needs only __syncwarp, never a block barrier.
//   Per KV tile of ATTN_BK = 32 keys: the block stages K and V (32 × hd each, rows padded to
//   hd + 1 floats so that the 32 lanes reading 32 different keys hit 32 different banks); lane j
//   scores key j against the warp's 8 rows (Q broadcast from shared memory), writes S; every lane
//   reads its rows' 32 scores back for the tile max, writes P = exp(S − m_new); then lane l
//   accumulates output columns l, l + 32, ... (≤ 8 of them, hd ≤ 256) of its 8 rows from P and V.
//   Shared memory per block: (BQ·hd + 2·BK·(hd+1) + 2·BQ·BK) · 4 bytes = 33 KiB at hd 64, 41 KiB at
//   hd 72, 57 KiB at hd 128, 106 KiB at hd 256 (the launcher raises the 48 KiB default; sm_80
//   allows 163 KiB, sm_90 227 KiB). Registers: 64 output accumulators + 3 × 8 row statistics;
//   ptxas (nvcc 13.0, -O3, with the bias): 209 registers on sm_80, 206 on sm_90, no spills (the
//   combine kernel: 32); 128 threads × 209 registers allow 2 blocks per SM.
//   Online softmax: per row a running max m and sum l (f32, replicated in every lane of the owning
//   warp, all lanes computing them in the same order so they agree bit for bit); a new tile with
//   max m' > m rescales l and the accumulators by exp(m − m'). Scores and exps in f32 with expf.
//   Masks, as the fp64 oracle (core/cpu/ops_ref.c) applies them: a key past the row's causal
//   limit (pos0 + t) or past n_kv scores −inf (weight exactly 0); a key the key mask switches off
//   scores −FLT_MAX, so that it weighs exp(−FLT_MAX − m) = 0 once any key is on, and a row whose
//   keys are all off ends with equal scores −FLT_MAX: the mean of v over its visible keys. The
//   additive bias (per head or shared) is added to the scores of the keys left (32 lanes read 32
//   consecutive floats of one bias row); a −inf bias weighs 0 like the causal limit, and a row
//   whose scores are all −inf keeps m = −inf, l = 0 and is written as zeros.
//   Split-KV (one row tile per KV head, many keys: one-token decode over a long cache): grid.z
//   blocks each take ATTN_KV_CHUNK keys and write (m, l, unnormalised output) per (token, head);
//   attention_combine_kernel merges the splits in index order (deterministic).
#pragma once

#include <float.h>

#include "attention_traits.cuh"
#include "common.cuh"

struct attention_params {
  const float* q;         // (n_tok, n_head, hd): strides q_s1 (head), q_s2 (token), elements
  const float* k;         // (n_kv_max, h_kv, hd): strides k_s1, k_s2
  const float* v;         // (n_kv_max, h_kv, hd): strides v_s1, v_s2
  const void* key_mask;   // (≥ n_kv) u8 or i32 (mask_i32), key j on when != 0; NULL: all on
  const float* bias;      // (≥ n_kv, n_tok, 1 or n_head) added to scores: strides bias_s1
                          // (token), bias_s2 (head; 0 when all heads share one); NULL: none
  float* dst;             // (n_tok, n_head, hd): strides dst_s1, dst_s2
  float* part_o;          // split-KV only: (n_split, n_tok, n_head, hd) unnormalised outputs
  float* part_ml;         // split-KV only: (n_split, n_tok, n_head, 2) running max and sum
  int64_t q_s1, q_s2, k_s1, k_s2, v_s1, v_s2, dst_s1, dst_s2, bias_s1, bias_s2;
  int64_t n_tok, n_kv, pos0;
  int64_t kv_chunk;       // keys per grid.z block (a multiple of ATTN_BK); ≥ n_kv when unsplit
  int hd, n_head, group;  // group = n_head / h_kv
  float scale;
  bool causal, mask_i32;
};

// Keys 0 .. attention_n_vis(p, t) − 1 are visible to query token t.
__device__ __forceinline__ int64_t attention_n_vis(const attention_params& p, int64_t t) {
  if (!p.causal) return p.n_kv;
  const int64_t lim = p.pos0 + t + 1;
  return lim < p.n_kv ? lim : p.n_kv;
}

__device__ __forceinline__ bool attention_key_on(const attention_params& p, int64_t j) {
  if (!p.key_mask) return true;
  return p.mask_i32 ? static_cast<const int32_t*>(p.key_mask)[j] != 0
                    : static_cast<const uint8_t*>(p.key_mask)[j] != 0;
}

// The bias row (keys) of query token t, head `head`; NULL without a bias.
__device__ __forceinline__ const float* attention_bias_row(const attention_params& p, int64_t t,
                                                           int64_t head) {
  return p.bias ? p.bias + t * p.bias_s1 + head * p.bias_s2 : nullptr;
}

// Where a finished row goes: its row of dst, normalised by 1/l (0 when no key was visible, as
// with n_kv = 0), or, under split-KV, this split's unnormalised partial, whose (m, l) the lane
// with writes_ml stores.
struct attention_out {
  float* row;  // hd floats
  float scale;
};

__device__ __forceinline__ attention_out attention_output_row(const attention_params& p,
                                                              int64_t row, int64_t hk, float m,
                                                              float l, bool writes_ml) {
  const int64_t t = row / p.group, head = hk * p.group + row % p.group;
  if (!p.part_o) return {p.dst + t * p.dst_s2 + head * p.dst_s1, l > 0.0f ? 1.0f / l : 0.0f};
  const int64_t idx = ((int64_t)blockIdx.z * p.n_tok + t) * p.n_head + head;
  if (writes_ml) {
    p.part_ml[2 * idx] = m;
    p.part_ml[2 * idx + 1] = l;
  }
  return {p.part_o + idx * p.hd, 1.0f};
}

// Rows rows (≤ ATTN_BK) of a (·, hd) cache slice into a (ATTN_BK, ld) tile, zeros past `rows`:
// shared memory starts as garbage (NaN under the emulator), and 0 · NaN would poison the sums.
__device__ __forceinline__ void attention_load_tile(float* tile, int ld, const float* src,
                                                    int64_t src_stride, int rows, int hd) {
  for (int e = threadIdx.x; e < ATTN_BK * hd; e += ATTN_THREADS) {
    const int r = e / hd, d = e % hd;
    tile[r * ld + d] = r < rows ? src[r * src_stride + d] : 0.0f;
  }
}

__global__ void __launch_bounds__(ATTN_THREADS) attention_kernel(attention_params p) {
  float* qs = prim::dynamic_smem<float>();  // (BQ, hd)
  float* ks = qs + ATTN_BQ * p.hd;          // (BK, hd + 1)
  float* vs = ks + ATTN_BK * (p.hd + 1);    // (BK, hd + 1)
  float* ss = vs + ATTN_BK * (p.hd + 1);    // (BQ, BK) scores
  float* ps = ss + ATTN_BQ * ATTN_BK;       // (BQ, BK) exp(score − running max)
  const int hd = p.hd, ld = hd + 1;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t n_rows = p.n_tok * p.group, row0 = (int64_t)blockIdx.x * ATTN_BQ;
  const int64_t hk = blockIdx.y;

  // Q rows of the tile, zeros past the last row.
  for (int e = threadIdx.x; e < ATTN_BQ * hd; e += ATTN_THREADS) {
    const int i = e / hd, d = e % hd;
    const int64_t r = row0 + i;
    qs[e] = r < n_rows ? p.q[(r / p.group) * p.q_s2 + (hk * p.group + r % p.group) * p.q_s1 + d]
                       : 0.0f;
  }

  // This block's keys: its split's chunk, cut at the last row's causal limit.
  const int64_t last_row = (row0 + ATTN_BQ < n_rows ? row0 + ATTN_BQ : n_rows) - 1;
  const int64_t k_begin = (int64_t)blockIdx.z * p.kv_chunk;
  int64_t k_end = attention_n_vis(p, last_row / p.group);
  if (k_begin + p.kv_chunk < k_end) k_end = k_begin + p.kv_chunk;

  float m[ATTN_ROWS_PER_WARP], l[ATTN_ROWS_PER_WARP];
  float o[ATTN_ROWS_PER_WARP][ATTN_COLS_PER_LANE];
#pragma unroll
  for (int r = 0; r < ATTN_ROWS_PER_WARP; r++) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < ATTN_COLS_PER_LANE; c++) o[r][c] = 0.0f;
  }

  for (int64_t kv0 = k_begin; kv0 < k_end; kv0 += ATTN_BK) {
    const int n_keys = (int)(k_end - kv0 < ATTN_BK ? k_end - kv0 : ATTN_BK);
    __syncthreads();  // the previous tile's K/V reads are done (and, the first time, Q's writes)
    attention_load_tile(ks, ld, p.k + kv0 * p.k_s2 + hk * p.k_s1, p.k_s2, n_keys, hd);
    attention_load_tile(vs, ld, p.v + kv0 * p.v_s2 + hk * p.v_s1, p.v_s2, n_keys, hd);
    __syncthreads();

    // Scores: lane = key, 8 rows at once so that each K element is read once.
    float acc[ATTN_ROWS_PER_WARP] = {};
    const float* kr = ks + lane * ld;
    for (int d = 0; d < hd; d++) {
      const float kd = kr[d];
#pragma unroll
      for (int r = 0; r < ATTN_ROWS_PER_WARP; r++)
        acc[r] += qs[(warp + ATTN_WARPS * r) * hd + d] * kd;
    }
    const int64_t key = kv0 + lane;
    const bool on = lane < n_keys && attention_key_on(p, key);
#pragma unroll
    for (int r = 0; r < ATTN_ROWS_PER_WARP; r++) {
      // recomputed per tile rather than kept: 8 more 64-bit registers spill on sm_90
      const int64_t row = row0 + warp + ATTN_WARPS * r, t = row / p.group;
      const int64_t n_vis = row < n_rows ? attention_n_vis(p, t) : 0;
      float s = key >= n_vis || lane >= n_keys ? -INFINITY : on ? acc[r] * p.scale : -FLT_MAX;
      if (p.bias && on && key < n_vis)  // lanes read consecutive keys of one bias row
        s += attention_bias_row(p, t, hk * p.group + row % p.group)[key];
      ss[(warp + ATTN_WARPS * r) * ATTN_BK + lane] = s;
    }
    __syncwarp();

    // Online softmax: every lane derives the same tile max from the row in shared memory.
    float alpha[ATTN_ROWS_PER_WARP];
#pragma unroll
    for (int r = 0; r < ATTN_ROWS_PER_WARP; r++) {
      const float* sr = ss + (warp + ATTN_WARPS * r) * ATTN_BK;
      float tmax = -INFINITY;
      for (int j = 0; j < ATTN_BK; j++) tmax = fmaxf(tmax, sr[j]);
      const float m_new = fmaxf(m[r], tmax);
      // m_new = −inf: no visible key yet; keep everything (zeros) as it is
      alpha[r] = m_new == -INFINITY ? 1.0f : expf(m[r] - m_new);
      const float s = sr[lane];
      ps[(warp + ATTN_WARPS * r) * ATTN_BK + lane] = s == -INFINITY ? 0.0f : expf(s - m_new);
      m[r] = m_new;
    }
    __syncwarp();

    // P·V: lane owns columns lane + 32c; the row sums come from the same P reads.
#pragma unroll
    for (int r = 0; r < ATTN_ROWS_PER_WARP; r++) {
      l[r] *= alpha[r];
#pragma unroll
      for (int c = 0; c < ATTN_COLS_PER_LANE; c++) o[r][c] *= alpha[r];
    }
    for (int j = 0; j < ATTN_BK; j++) {
      float vj[ATTN_COLS_PER_LANE];
#pragma unroll
      for (int c = 0; c < ATTN_COLS_PER_LANE; c++) {
        const int d = lane + 32 * c;
        vj[c] = d < hd ? vs[j * ld + d] : 0.0f;
      }
#pragma unroll
      for (int r = 0; r < ATTN_ROWS_PER_WARP; r++) {
        const float pj = ps[(warp + ATTN_WARPS * r) * ATTN_BK + j];
        l[r] += pj;
#pragma unroll
        for (int c = 0; c < ATTN_COLS_PER_LANE; c++) o[r][c] += pj * vj[c];
      }
    }
  }

  // Output: normalised into dst, or this split's partial state.
#pragma unroll
  for (int r = 0; r < ATTN_ROWS_PER_WARP; r++) {
    const int64_t row = row0 + warp + ATTN_WARPS * r;
    if (row >= n_rows) continue;
    const attention_out out = attention_output_row(p, row, hk, m[r], l[r], lane == 0);
#pragma unroll
    for (int c = 0; c < ATTN_COLS_PER_LANE; c++)
      if (lane + 32 * c < hd) out.row[lane + 32 * c] = o[r][c] * out.scale;
  }
}

// Split-KV merge: one block per (token, head), thread per output column. Every thread rescales
// the splits to their common max in split order, so the result does not depend on scheduling.
// A split that saw no visible key (m = −inf, l = 0) weighs 0.
__global__ void __launch_bounds__(ATTN_HD_MAX) attention_combine_kernel(attention_params p,
                                                                         int n_split) {
  const int64_t idx = blockIdx.x;  // t · n_head + head
  const int64_t t = idx / p.n_head, head = idx % p.n_head;
  const int64_t stride = p.n_tok * p.n_head;  // between splits
  float mx = -INFINITY;
  for (int z = 0; z < n_split; z++) mx = fmaxf(mx, p.part_ml[2 * (z * stride + idx)]);
  for (int d = threadIdx.x; d < p.hd; d += blockDim.x) {
    float l = 0.0f, o = 0.0f;
    for (int z = 0; z < n_split; z++) {
      const int64_t zi = z * stride + idx;
      const float mz = p.part_ml[2 * zi];
      const float w = mz == -INFINITY ? 0.0f : expf(mz - mx);
      l += p.part_ml[2 * zi + 1] * w;
      o += p.part_o[zi * p.hd + d] * w;
    }
    p.dst[t * p.dst_s2 + head * p.dst_s1 + d] = l > 0.0f ? o / l : 0.0f;
  }
}
