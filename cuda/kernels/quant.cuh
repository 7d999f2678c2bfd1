// quant.cuh — llama.cpp's block formats on the device: decoding eight consecutive weights of a
// row (their integer levels and their block's scales) and dequantization bit-identical to the
// CPU's (core/quant_ref.c).
//
// Byte layouts (ggml's; cuda/quant_matmul.cu checks them against core/quant.h's structs), f16
// scales as their bits:
//   Q8_0  34 B / 32: d, qs[32] (int8)                    x = d·q
//   Q4_0  18 B / 32: d, qs[16]                           x = d·(q − 8)
//   Q4_1  20 B / 32: d, m, qs[16]                        x = d·q + m
//   Q5_0  22 B / 32: d, qh[4], qs[16]                    x = d·(q − 16)
//   Q5_1  24 B / 32: d, m, qh[4], qs[16]                 x = d·q + m
//       element j < 16: low nibble of qs[j]; element 16 + j: its high nibble; Q5's fifth bit of
//       element j: bit j of qh (a little-endian uint32)
//   Q4_K 144 B / 256: d, dmin, scales[12], qs[128]       x = (d·sc)·q − dmin·mn
//       (sc, mn: 6 bits each per sub-block of 32; qs as ggml packs it, see quant_decode8_k)
//   Q5_K 176 B / 256: d, dmin, scales[12], qh[32], qs[128]   (as Q4_K; q's fifth bit for
//       element 32s + l: bit s of qh[l])
//   Q6_K 210 B / 256: ql[128], qh[64], scales[16] (int8), d   x = (d·sc)·(q − 32)
//       (sc per group of 16)
//
// Every kernel here hands each thread eight consecutive weights [e0, e0 + 8), e0 a multiple of 8,
// which always lie in one block, one K sub-block of 32 and one Q6_K group of 16.
//
// Exactness: nvcc contracts a·b + c into an FMA, which would round differently from the CPU's
// separate multiply and add; the products and sums that must match the CPU's use __fmul_rn /
// __fadd_rn, which are never contracted.
#pragma once

#include "common.cuh"

// The matmul kernels' geometry (quant_matmul.cuh; cuda_backend.cu's supports_op bounds the grid).
constexpr int QMM_WARPS = 4;    // weight rows (warps) per block
constexpr int QMM_M_MAX = 8;    // x rows per grid.y step (and the decode kernel's m)
constexpr int QMM_UNIT = 256;   // weights a warp covers per step: 8 per lane
static_assert(QMM_UNIT == 8 * 32, "eight weights per lane");
static_assert(QMM_UNIT % 256 == 0, "a step covers whole K super-blocks");

// The block formats: the 32-element ones, then the K formats from QUANT_Q4_K on (quant_is_k);
// mmrt_cuda_quant_type maps mmrt_dtype to them.
enum quant_type : int {
  QUANT_Q8_0 = 0,
  QUANT_Q4_0,
  QUANT_Q4_1,
  QUANT_Q5_0,
  QUANT_Q5_1,
  QUANT_Q4_K,
  QUANT_Q5_K,
  QUANT_Q6_K
};

__host__ __device__ constexpr int quant_block_size(quant_type t) {
  return t >= QUANT_Q4_K ? 256 : 32;
}
__host__ __device__ constexpr int quant_block_bytes(quant_type t) {
  return t == QUANT_Q8_0 ? 34 : t == QUANT_Q4_0 ? 18 : t == QUANT_Q4_1 ? 20 : t == QUANT_Q5_0 ? 22
         : t == QUANT_Q5_1 ? 24 : t == QUANT_Q4_K ? 144 : t == QUANT_Q5_K ? 176 : 210;
}
__host__ __device__ constexpr bool quant_is_k(quant_type t) { return t >= QUANT_Q4_K; }
// The 32-element formats with a min m (x = d·q + m; their activations are Q8_1).
__host__ __device__ constexpr bool quant_has_min(quant_type t) {
  return t == QUANT_Q4_1 || t == QUANT_Q5_1;
}

// Eight consecutive weights of a row: levels lv (signed bytes, weight e0 + i in byte i % 4 of
// lv[i / 4]) and what scales them. Per format:
//   Q8_0, Q4_0, Q5_0: x = d·lv              (lv: q, q − 8, q − 16)
//   Q4_1, Q5_1: x = d·lv + dm               (dm: the block's m)
//   Q4_K, Q5_K: x = (d·sc)·lv − dm·mn       (dm: the block's dmin; sc, mn: the sub-block's)
//   Q6_K:       x = (d·sc)·lv               (lv: q − 32; sc: the group's int8 scale)
struct quant8 {
  int32_t lv[2];
  float d, dm;
  int sc, mn;
};

__device__ __forceinline__ float quant_f16(const uint8_t* p) {
  return __half2float(__ushort_as_half(*reinterpret_cast<const uint16_t*>(p)));
}

__device__ __forceinline__ int32_t quant_pack4(int a, int b, int c, int d) {
  return (int32_t)((uint32_t)(a & 0xff) | (uint32_t)(b & 0xff) << 8 | (uint32_t)(c & 0xff) << 16 |
                   (uint32_t)(d & 0xff) << 24);
}

__device__ __forceinline__ int quant_level(const quant8& q, int i) {
  return (int)(int8_t)(q.lv[i / 4] >> (8 * (i % 4)));
}

// Sub-block j's 6-bit scale and min of a Q4_K/Q5_K block (mmrt_q4k_scale_min's unpacking).
__device__ __forceinline__ void quant_k4_scale_min(const uint8_t* s, int j, int* sc, int* mn) {
  if (j < 4) {
    *sc = s[j] & 63;
    *mn = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Levels of the 32-element formats: eb (0, 8, 16, 24) is the first weight's place in block b.
__device__ __forceinline__ void quant_decode8_small(quant_type t, const uint8_t* b, int eb,
                                                    quant8* q) {
  int v[8];
  if (t == QUANT_Q8_0) {
    for (int i = 0; i < 8; i++) v[i] = (int8_t)b[2 + eb + i];
  } else {
    const bool q5 = t == QUANT_Q5_0 || t == QUANT_Q5_1;
    const uint8_t* qh = b + (quant_has_min(t) ? 4 : 2);  // after d (, m); Q5 only
    const uint8_t* qs = (q5 ? qh + 4 : qh) + eb % 16;
    const int shift = eb < 16 ? 0 : 4, off = t == QUANT_Q4_0 ? 8 : t == QUANT_Q5_0 ? 16 : 0;
    const uint32_t hi = q5 ? (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 |
                                 (uint32_t)qh[3] << 24
                           : 0u;
    for (int i = 0; i < 8; i++)
      v[i] = (((qs[i] >> shift) & 0xF) | (int)((hi >> (eb + i)) & 1) << 4) - off;
  }
  q->lv[0] = quant_pack4(v[0], v[1], v[2], v[3]);
  q->lv[1] = quant_pack4(v[4], v[5], v[6], v[7]);
  q->d = quant_f16(b);
  q->dm = quant_has_min(t) ? quant_f16(b + 2) : 0.0f;
  q->sc = 1;
  q->mn = 0;
}

// Levels of the K formats: eb (a multiple of 8 below 256) is the first weight's place in block b.
__device__ __forceinline__ void quant_decode8_k(quant_type t, const uint8_t* b, int eb, quant8* q) {
  int v[8];
  if (t == QUANT_Q6_K) {
    const int h = eb / 128, part = (eb % 128) / 32, l0 = eb % 32;
    const uint8_t* ql = b + 64 * h + 32 * (part & 1) + l0;
    const uint8_t* qh = b + 128 + 32 * h + l0;
    for (int i = 0; i < 8; i++)
      v[i] = (((ql[i] >> (4 * (part >> 1))) & 0xF) | ((qh[i] >> (2 * part)) & 3) << 4) - 32;
    q->d = quant_f16(b + 208);
    q->dm = 0.0f;
    q->sc = (int8_t)b[192 + eb / 16];
    q->mn = 0;
  } else {
    const int s = eb / 32, l0 = eb % 32;
    const uint8_t* qs = b + (t == QUANT_Q5_K ? 48 : 16) + 32 * (s / 2) + l0;
    for (int i = 0; i < 8; i++) {
      v[i] = (qs[i] >> (4 * (s & 1))) & 0xF;
      if (t == QUANT_Q5_K) v[i] |= ((b[16 + l0 + i] >> s) & 1) << 4;
    }
    q->d = quant_f16(b);
    q->dm = quant_f16(b + 2);
    quant_k4_scale_min(b + 4, s, &q->sc, &q->mn);
  }
  q->lv[0] = quant_pack4(v[0], v[1], v[2], v[3]);
  q->lv[1] = quant_pack4(v[4], v[5], v[6], v[7]);
}

// Weights [e0, e0 + 8) of a row (e0 a multiple of 8 below the row's length).
__device__ __forceinline__ quant8 quant_decode8(quant_type t, const uint8_t* row, int64_t e0) {
  const int bs = quant_block_size(t);
  const uint8_t* b = row + (e0 / bs) * quant_block_bytes(t);
  quant8 q;
  if (quant_is_k(t))
    quant_decode8_k(t, b, (int)(e0 % bs), &q);
  else
    quant_decode8_small(t, b, (int)(e0 % bs), &q);
  return q;
}

// The eight weights as f32, exactly as core/quant_ref.c's dequantizers compute them.
__device__ __forceinline__ void quant_dequant8(quant_type t, const quant8& q, float out[8]) {
  const float scale = quant_is_k(t) ? __fmul_rn(q.d, (float)q.sc) : q.d;
  const bool has_offset = quant_has_min(t) || t == QUANT_Q4_K || t == QUANT_Q5_K;
  // Q4_K/Q5_K subtract dmin·mn: adding its negation rounds the same
  const float offset = quant_has_min(t) ? q.dm : -__fmul_rn(q.dm, (float)q.mn);
#pragma unroll
  for (int i = 0; i < 8; i++) {
    const float w = __fmul_rn(scale, (float)quant_level(q, i));
    out[i] = has_offset ? __fadd_rn(w, offset) : w;
  }
}
