// attention_mma.cuh — fused attention on tensor cores: the f32 q/k/v tiles are rounded once to
// bf16 or f16 (T) in shared memory, q kᵀ and p v run as mma.sync.m16n8k16 with f32 accumulation.
// Same params, masks, GQA row mapping, online softmax and split-KV partials as attention.cuh
// (whose header has the common design); only the inner products differ.
//
// Design:
//   ATTN_MMA_THREADS = 128 (4 warps); a block serves ATTN_MMA_BQ = 64 rows, 16 per warp (one
//   m16 tile), and walks the keys in tiles of ATTN_MMA_BK = 32.
//   Shared memory (T): Q (64, ld), K (32, ld), V (32, ld) with ld = hd16 + 8, hd16 = hd rounded up
//   to 16 (the mma k step; the pad columns hold zeros). The 8 extra elements keep every ldmatrix
//   row 16-byte aligned and shift consecutive rows by 4 banks.
//   Two stages (cp.async double buffering): K/V tiles travel as f32 (cp.async copies bytes, it
//   cannot round), so the second buffer is an f32 stage K (32, ldf), V (32, ldf), ldf = hd rounded
//   up to 4. Per tile: wait for the stage, barrier, convert it to the T tiles (zeros past the keys
//   and past hd), barrier, start the cp.async of the next tile into the stage, then compute on the
//   T tiles while it lands (the first tile's copy overlaps the Q conversion). Copies are 16 bytes
//   (.cg, L2 only) when hd, the caches' strides and base addresses are multiples of 4 floats, else
//   8 or 4 bytes. Still two barriers per tile, as without the stage.
//   Shared memory: 2 · 128 · ld + 4 · 64 · ldf bytes: 34 KiB at hd 64, 40 KiB at hd 72, 66 KiB at
//   hd 128, 130 KiB at hd 256 (under sm_80's 163 KiB; the launcher raises the 48 KiB default).
//   S = Q Kᵀ: per k step of 16 head dims, one ldmatrix.x4 of Q (A fragment) and, per 8 keys, one
//   ldmatrix.x2 of K: K's rows are B "col" fragments as they are (B[k][n] = K[n][k]).
//   Softmax on the accumulators: lane (g, t) holds rows g and g + 8, columns 2t, 2t + 1 of each
//   8-key tile; the row max combines the quad's 4 lanes with two xor shuffles; the row sum stays a
//   per-lane partial until the end (one quad reduction per row, not one per tile).
//   P V: the S accumulators of keys 16j .. 16j + 15 are, packed to T, exactly the A fragment of
//   k step j (FlashAttention-2's register reuse); V comes through ldmatrix.x2.trans. P is split
//   into T(P) + T(P − T(P)) and both halves are multiplied, so P's own rounding (2⁻⁹ for bf16)
//   does not add to the error of rounding q, k, v once.
//   Bias: each lane keeps the bias row pointers of its two rows; scores of the keys left get
//   bias[key] added before the online softmax (attention.cuh has the mask rules).
//   Registers: (hd rounded up to 8) / 8 output tiles × 4 floats (≤ 128 at hd 256); instantiated
//   for HD_MAX 64, 128 and 256 so that the accumulator array has a compile-time size. ptxas
//   (nvcc 13.0, -O3, bf16 and f16 alike, with bias and the cp.async stage): 128 / 161 / 230
//   registers on sm_80, 128 / 164 / 233 on sm_90, no spills, no stack, 1 barrier, no static
//   shared memory; every instantiation's PTX has mma.sync, ldmatrix, cp.async and
//   cp.async.wait_group. At 128 threads × 233 registers a block still fits twice per SM by
//   registers; shared memory limits hd 256 to one block per SM on sm_80.
//   Measured on the tests' inputs: error against fp64 within 1.002 × that of rounding q, k, v once
//   and computing in f32; without the P split, up to 1.72 × (the issue allows 2 ×).
#pragma once

#include <float.h>

#include "attention.cuh"

// The two 16-bit input types: conversion from f32, raw bits for fragments, and the mma.
template <class T>
struct attention_mma_type;

template <>
struct attention_mma_type<__nv_bfloat16> {
  static __device__ __forceinline__ __nv_bfloat16 from(float x) { return __float2bfloat16_rn(x); }
  static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ uint16_t bits(__nv_bfloat16 x) {
    return __bfloat16_as_ushort(x);
  }
  static __device__ __forceinline__ void mma(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    prim::mma_m16n8k16_bf16(d, a, b, d);
  }
};

template <>
struct attention_mma_type<__half> {
  static __device__ __forceinline__ __half from(float x) { return __float2half_rn(x); }
  static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
  static __device__ __forceinline__ uint16_t bits(__half x) { return __half_as_ushort(x); }
  static __device__ __forceinline__ void mma(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    prim::mma_m16n8k16_f16(d, a, b, d);
  }
};

// Head dim rounded up to the mma k step, and the tiles' row stride (elements).
__host__ __device__ __forceinline__ int attention_mma_hd16(int hd) { return (hd + 15) / 16 * 16; }
__host__ __device__ __forceinline__ int attention_mma_ld(int hd) {
  return attention_mma_hd16(hd) + 8;
}

// Row stride (floats) of the f32 stage: whole 16-byte cp.async chunks.
__host__ __device__ __forceinline__ int attention_mma_ldf(int hd) { return (hd + 3) / 4 * 4; }

// {lo, hi} packed as a fragment register holds them, lo in the low half.
template <class T>
__device__ __forceinline__ uint32_t attention_mma_pack(float lo, float hi) {
  using M = attention_mma_type<T>;
  return prim::pack2(M::bits(M::from(lo)), M::bits(M::from(hi)));
}

// Floats per cp.async of the K/V rows: 4 (16 bytes) when hd, the caches' strides and base
// addresses allow it, else 2, else 1 (any f32 view).
__device__ __forceinline__ int attention_mma_copy_floats(const attention_params& p) {
  const uintptr_t ptrs = reinterpret_cast<uintptr_t>(p.k) | reinterpret_cast<uintptr_t>(p.v);
  const int64_t strides = p.hd | p.k_s1 | p.k_s2 | p.v_s1 | p.v_s2;
  return ptrs % 16 == 0 && strides % 4 == 0 ? 4 : ptrs % 8 == 0 && strides % 2 == 0 ? 2 : 1;
}

// Starts the asynchronous copy of rows [0, rows) of a (·, hd) f32 cache slice into the (BK, ldf)
// f32 stage, `vec` floats per cp.async; the rest of the stage is left as it is (never read).
__device__ __forceinline__ void attention_mma_stage(float* stage, int ldf, const float* src,
                                                    int64_t src_stride, int rows, int hd,
                                                    int vec) {
  const int per_row = hd / vec;
  for (int e = threadIdx.x; e < rows * per_row; e += ATTN_MMA_THREADS) {
    const int r = e / per_row, c = e % per_row * vec;
    float* dst = stage + r * ldf + c;
    const float* from = src + r * src_stride + c;
    if (vec == 4)
      prim::cp_async<16>(dst, from);
    else if (vec == 2)
      prim::cp_async<8>(dst, from);
    else
      prim::cp_async<4>(dst, from);
  }
}

// The landed f32 stage into a (BK, ld) T tile, two elements per store; zeros past `rows` and in
// the columns hd .. hd16 (shared memory starts as garbage: NaN under the emulator, and 0 · NaN in
// P V would poison the sums).
template <class T>
__device__ __forceinline__ void attention_mma_convert(T* tile, int ld, const float* stage, int ldf,
                                                      int rows, int hd) {
  const int half16 = attention_mma_hd16(hd) / 2;  // hd is even: pairs never straddle hd
  for (int e = threadIdx.x; e < ATTN_MMA_BK * half16; e += ATTN_MMA_THREADS) {
    const int r = e / half16, d = 2 * (e % half16);
    const bool in = r < rows && d < hd;
    const float2 x = in ? *reinterpret_cast<const float2*>(stage + r * ldf + d)
                        : make_float2(0.0f, 0.0f);
    *reinterpret_cast<uint32_t*>(tile + r * ld + d) = attention_mma_pack<T>(x.x, x.y);
  }
}

// Starts loading the K and V tiles of keys [kv0, kv0 + rows) into the stage, as one cp.async group.
__device__ __forceinline__ void attention_mma_prefetch(const attention_params& p, float* k_stage,
                                                       float* v_stage, int ldf, int64_t kv0,
                                                       int64_t hk, int rows, int vec) {
  attention_mma_stage(k_stage, ldf, p.k + kv0 * p.k_s2 + hk * p.k_s1, p.k_s2, rows, p.hd, vec);
  attention_mma_stage(v_stage, ldf, p.v + kv0 * p.v_s2 + hk * p.v_s1, p.v_s2, rows, p.hd, vec);
  prim::cp_async_commit();
}

template <class T>
__device__ __forceinline__ float attention_mma_residual(float x) {
  using M = attention_mma_type<T>;
  return x - M::to_float(M::from(x));
}

template <class T, int HD_MAX>
__global__ void __launch_bounds__(ATTN_MMA_THREADS) attention_mma_kernel(attention_params p) {
  using M = attention_mma_type<T>;
  constexpr int N_OT = HD_MAX / 8;  // output tiles of 8 columns
  const int hd = p.hd, hd16 = attention_mma_hd16(hd), ld = attention_mma_ld(hd);
  const int n_ot = (hd + 7) / 8;
  const int ldf = attention_mma_ldf(hd), vec = attention_mma_copy_floats(p);
  T* qs = prim::dynamic_smem<T>();  // (BQ, ld)
  T* ks = qs + ATTN_MMA_BQ * ld;    // (BK, ld) the tile being computed
  T* vs = ks + ATTN_MMA_BK * ld;    // (BK, ld)
  float* k_stage = reinterpret_cast<float*>(vs + ATTN_MMA_BK * ld);  // (BK, ldf) the next tile
  float* v_stage = k_stage + ATTN_MMA_BK * ldf;                      // (BK, ldf)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t4 = lane % 4;
  const int64_t n_rows = p.n_tok * p.group, row0 = (int64_t)blockIdx.x * ATTN_MMA_BQ;
  const int64_t hk = blockIdx.y;

  const int64_t last_row = (row0 + ATTN_MMA_BQ < n_rows ? row0 + ATTN_MMA_BQ : n_rows) - 1;
  const int64_t k_begin = (int64_t)blockIdx.z * p.kv_chunk;
  int64_t k_end = attention_n_vis(p, last_row / p.group);
  if (k_begin + p.kv_chunk < k_end) k_end = k_begin + p.kv_chunk;
  if (k_begin < k_end)  // the first tile's copy overlaps the Q conversion
    attention_mma_prefetch(p, k_stage, v_stage, ldf, k_begin, hk,
                           (int)(k_end - k_begin < ATTN_MMA_BK ? k_end - k_begin : ATTN_MMA_BK),
                           vec);

  for (int e = threadIdx.x; e < ATTN_MMA_BQ * hd16; e += ATTN_MMA_THREADS) {
    const int i = e / hd16, d = e % hd16;
    const int64_t r = row0 + i;
    qs[i * ld + d] = M::from(
        r < n_rows && d < hd
            ? p.q[(r / p.group) * p.q_s2 + (hk * p.group + r % p.group) * p.q_s1 + d]
            : 0.0f);
  }

  // This lane's two rows: g and g + 8 of the warp's 16 (their visible keys and bias rows).
  int64_t n_vis[2];
  const float* bias[2];
  for (int h = 0; h < 2; h++) {
    const int64_t row = row0 + warp * 16 + g + 8 * h;
    n_vis[h] = row < n_rows ? attention_n_vis(p, row / p.group) : 0;
    bias[h] = row < n_rows ? attention_bias_row(p, row / p.group, hk * p.group + row % p.group)
                           : nullptr;
  }
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  float o[N_OT][4];
#pragma unroll
  for (int ot = 0; ot < N_OT; ot++) o[ot][0] = o[ot][1] = o[ot][2] = o[ot][3] = 0.0f;

  for (int64_t kv0 = k_begin; kv0 < k_end; kv0 += ATTN_MMA_BK) {
    const int n_keys = (int)(k_end - kv0 < ATTN_MMA_BK ? k_end - kv0 : ATTN_MMA_BK);
    prim::cp_async_wait<0>();  // this thread's copies of the tile have landed
    __syncthreads();  // everyone's have, and the previous tile's K/V reads (Q's writes) are done
    attention_mma_convert(ks, ld, k_stage, ldf, n_keys, hd);
    attention_mma_convert(vs, ld, v_stage, ldf, n_keys, hd);
    __syncthreads();  // the T tiles are whole and the stage is free
    if (kv0 + ATTN_MMA_BK < k_end) {  // the next tile lands while this one is computed
      const int64_t next = kv0 + ATTN_MMA_BK;
      attention_mma_prefetch(p, k_stage, v_stage, ldf, next, hk,
                             (int)(k_end - next < ATTN_MMA_BK ? k_end - next : ATTN_MMA_BK), vec);
    }

    // S (16 rows × 32 keys) = Q Kᵀ, four 8-key accumulator tiles.
    float s[ATTN_MMA_BK / 8][4] = {};
    for (int k0 = 0; k0 < hd16; k0 += 16) {
      uint32_t a[4];
      prim::ldmatrix_x4(a, &qs[(warp * 16 + lane % 16) * ld + k0 + (lane / 16) * 8]);
#pragma unroll
      for (int nt = 0; nt < ATTN_MMA_BK / 8; nt++) {
        uint32_t b[2];
        prim::ldmatrix_x2(b, &ks[(nt * 8 + lane % 8) * ld + k0 + (lane / 8) % 2 * 8]);
        M::mma(s[nt], a, b);
      }
    }

    // Masks and scale, then the online softmax per row (h = 0: row g, h = 1: row g + 8).
#pragma unroll
    for (int nt = 0; nt < ATTN_MMA_BK / 8; nt++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int j = nt * 8 + 2 * t4 + e % 2;
        const int64_t key = kv0 + j;
        s[nt][e] = j >= n_keys || key >= n_vis[e / 2] ? -INFINITY
                   : !attention_key_on(p, key)        ? -FLT_MAX
                   : bias[e / 2]                      ? s[nt][e] * p.scale + bias[e / 2][key]
                                                      : s[nt][e] * p.scale;
      }
#pragma unroll
    for (int h = 0; h < 2; h++) {
      float tmax = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < ATTN_MMA_BK / 8; nt++)
        tmax = fmaxf(tmax, fmaxf(s[nt][2 * h], s[nt][2 * h + 1]));
      // the quad (lanes 4g .. 4g + 3) holds the row's 32 scores
      tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
      tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 2));
      const float m_new = fmaxf(m[h], tmax);
      const float alpha = m_new == -INFINITY ? 1.0f : expf(m[h] - m_new);
      m[h] = m_new;
      l[h] *= alpha;
#pragma unroll
      for (int ot = 0; ot < N_OT; ot++) {
        o[ot][2 * h] *= alpha;
        o[ot][2 * h + 1] *= alpha;
      }
#pragma unroll
      for (int nt = 0; nt < ATTN_MMA_BK / 8; nt++)
#pragma unroll
        for (int e = 2 * h; e < 2 * h + 2; e++) {
          s[nt][e] = s[nt][e] == -INFINITY ? 0.0f : expf(s[nt][e] - m_new);
          l[h] += s[nt][e];
        }
    }

    // O += P V over two k steps of 16 keys; P as T(P) + T(P − T(P)).
#pragma unroll
    for (int j = 0; j < ATTN_MMA_BK / 16; j++) {
      const float* p0 = s[2 * j];
      const float* p1 = s[2 * j + 1];
      const uint32_t a_hi[4] = {attention_mma_pack<T>(p0[0], p0[1]),
                                attention_mma_pack<T>(p0[2], p0[3]),
                                attention_mma_pack<T>(p1[0], p1[1]),
                                attention_mma_pack<T>(p1[2], p1[3])};
      uint32_t a_lo[4];
      for (int r = 0; r < 4; r++) {
        const float* pr = r < 2 ? p0 : p1;
        const int e = 2 * (r % 2);
        a_lo[r] = attention_mma_pack<T>(attention_mma_residual<T>(pr[e]),
                                        attention_mma_residual<T>(pr[e + 1]));
      }
#pragma unroll
      for (int ot = 0; ot < N_OT; ot++) {
        if (ot >= n_ot) break;
        uint32_t b[2];
        prim::ldmatrix_x2_trans(b, &vs[(j * 16 + lane % 16) * ld + ot * 8]);
        M::mma(o[ot], a_hi, b);
        M::mma(o[ot], a_lo, b);
      }
    }
  }

  // Row sums: the quad's partials.
#pragma unroll
  for (int h = 0; h < 2; h++) {
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
  }

#pragma unroll
  for (int h = 0; h < 2; h++) {
    const int64_t row = row0 + warp * 16 + g + 8 * h;
    if (row >= n_rows) continue;
    const attention_out out = attention_output_row(p, row, hk, m[h], l[h], t4 == 0);
#pragma unroll
    for (int ot = 0; ot < N_OT; ot++)
      for (int e = 0; e < 2; e++) {
        const int d = ot * 8 + 2 * t4 + e;
        if (ot < n_ot && d < hd) out.row[d] = o[ot][2 * h + e] * out.scale;
      }
  }
}
