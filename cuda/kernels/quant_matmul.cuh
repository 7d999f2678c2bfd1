// quant_matmul.cuh — MATMUL dst(m, n) = x(m, k) · w(n, k)ᵀ with w in a block format (quant.cuh):
//   quant_gemv_kernel     decode (m ≤ QMM_M_MAX): weights dequantized exactly in registers, f32
//                         products (or bf16-rounded weights and x: the bf16 mode), f32 sums
//   quant_dequant_kernel  prefill in the f32/bf16 modes: a tile of weight rows dequantized to a
//                         f32 or bf16 workspace for the cuBLAS GEMM (cuda/quant_matmul.cu)
//   quant_act_kernel      the int8 mode: x's rows quantized per block as llama.cpp's reference
//                         quantizers do (Q8_0, Q8_1, Q8_K), bit for bit with core/quant_ref.c
//   quant_dot_kernel      the int8 mode: integer dot products (dp4a) per block, block scales in
//                         f32, blocks added in order: the same operations, in the same order, as
//                         core/quant_ref.c's reference dot kernels
// One warp per weight row, QMM_WARPS rows per block; grid.y walks x's rows QMM_M_MAX at a time.
// Each lane handles eight consecutive weights of every QMM_UNIT of the row (quant.cuh).
#pragma once

#include "quant.cuh"

struct quant_gemv_params {
  const uint8_t* w;  // (n, k) blocks of type, row stride w_stride bytes
  int64_t w_stride;
  quant_type type;
  const float* x;  // (m, k), row stride x_stride elements
  int64_t x_stride;
  float* dst;  // (m, n), row stride dst_stride elements
  int64_t dst_stride;
  int64_t m, n, k;
  bool bf16;  // round weights and x to bf16 (exact products, f32 sums)
};

__device__ __forceinline__ float quant_round_bf16(float v) {
  return __bfloat162float(__float2bfloat16_rn(v));
}

__global__ void __launch_bounds__(QMM_WARPS * 32) quant_gemv_kernel(quant_gemv_params p) {
  const int lane = (int)(threadIdx.x % 32);
  const int64_t j = (int64_t)blockIdx.x * QMM_WARPS + threadIdx.x / 32;
  if (j >= p.n) return;  // the whole warp
  const int64_t i0 = (int64_t)blockIdx.y * QMM_M_MAX;
  const int rows = (int)(p.m - i0 < QMM_M_MAX ? p.m - i0 : QMM_M_MAX);
  const uint8_t* wr = p.w + j * p.w_stride;
  float acc[QMM_M_MAX];
#pragma unroll
  for (int r = 0; r < QMM_M_MAX; r++) acc[r] = 0.0f;
  for (int64_t e0 = 8 * lane; e0 < p.k; e0 += QMM_UNIT) {
    float w[8];
    quant_dequant8(p.type, quant_decode8(p.type, wr, e0), w);
    if (p.bf16)
      for (int i = 0; i < 8; i++) w[i] = quant_round_bf16(w[i]);
#pragma unroll
    for (int r = 0; r < QMM_M_MAX; r++) {
      if (r >= rows) break;
      const float* x = p.x + (i0 + r) * p.x_stride + e0;
      for (int i = 0; i < 8; i++) acc[r] += w[i] * (p.bf16 ? quant_round_bf16(x[i]) : x[i]);
    }
  }
#pragma unroll
  for (int r = 0; r < QMM_M_MAX; r++) {
    if (r >= rows) break;
    const float v = warp_sum(acc[r]);
    if (lane == 0) p.dst[(i0 + r) * p.dst_stride + j] = v;
  }
}

struct quant_dequant_params {
  const uint8_t* w;  // rows of k weights of type, row stride w_stride bytes
  int64_t w_stride;
  quant_type type;
  void* dst;  // (rows, k) packed, f32 or (bf16) __nv_bfloat16
  int64_t rows, k;
  bool bf16;
};

// Flat grid-stride over rows · k / 8 groups of eight weights.
__global__ void __launch_bounds__(FLAT_THREADS) quant_dequant_kernel(quant_dequant_params p) {
  const int64_t groups = p.k / 8, total = p.rows * groups;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = idx / groups, e0 = (idx % groups) * 8;
    float w[8];
    quant_dequant8(p.type, quant_decode8(p.type, p.w + r * p.w_stride, e0), w);
    if (p.bf16) {
      __nv_bfloat16* d = static_cast<__nv_bfloat16*>(p.dst) + r * p.k + e0;
      for (int i = 0; i < 8; i++) d[i] = __float2bfloat16_rn(w[i]);
    } else {
      float* d = static_cast<float*>(p.dst) + r * p.k + e0;
      for (int i = 0; i < 8; i++) d[i] = w[i];
    }
  }
}

// ---- the int8 mode ----------------------------------------------------------------------------

// x's rows quantized, per block of 32 (Q8_K's super-blocks of 256 are 8 such blocks sharing d).
struct quant_act {
  int8_t* qs;  // (m, k) levels
  float* d;    // (m, k / 32) the block's scale (Q8_0/Q8_1: the f16 value; Q8_K: its f32 d)
  float* s;    // (m, k / 32) Q8_1: f16(d·Σq) as f32
  int* sum;    // (m, k / 32) Σq over the block (Q8_K: two of its bsums)
};

struct quant_act_params {
  const float* x;  // (m, k), row stride x_stride elements
  int64_t x_stride;
  quant_act act;
  int64_t m, k;
  quant_type wtype;  // the weights': Q8_0/Q4_0/Q5_0 → Q8_0, Q4_1/Q5_1 → Q8_1, K formats → Q8_K
};

__device__ __forceinline__ float quant_round_f16(float v) {
  return __half2float(__float2half_rn(v));
}

// ggml's nearest_int: round half to even through the float's mantissa (|v| < 2^22).
__device__ __forceinline__ int quant_nearest_int(float v) {
  return (__float_as_int(__fadd_rn(v, 12582912.f)) & 0x007fffff) - 0x00400000;
}

__device__ __forceinline__ int warp_isum(int v, int width) {
  for (int off = 1; off < width; off *= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Q8_K's scale: -127 / the first of the largest-magnitude values of the warp's 256 (x[8]: this
// lane's, the unit's elements e0..e0+7), or 0 when they are all 0.
__device__ __forceinline__ float quant_q8k_iscale(const float x[8], int e0) {
  float amax = 0.0f, max = 0.0f;
  int at = QMM_UNIT;
  for (int i = 0; i < 8; i++)
    if (fabsf(x[i]) > amax) {
      amax = fabsf(x[i]);
      max = x[i];
      at = e0 + i;
    }
  for (int off = 16; off > 0; off /= 2) {
    const float oa = __shfl_xor_sync(0xffffffffu, amax, off);
    const float om = __shfl_xor_sync(0xffffffffu, max, off);
    const int oi = __shfl_xor_sync(0xffffffffu, at, off);
    if (oa > amax || (oa == amax && oi < at)) {
      amax = oa;
      max = om;
      at = oi;
    }
  }
  return amax == 0.0f ? 0.0f : -127.f / max;
}

// One warp per (row, QMM_UNIT of it).
__global__ void __launch_bounds__(QMM_WARPS * 32) quant_act_kernel(quant_act_params p) {
  const int lane = (int)(threadIdx.x % 32);
  const int64_t units = (p.k + QMM_UNIT - 1) / QMM_UNIT;
  const int64_t wid = (int64_t)blockIdx.x * QMM_WARPS + threadIdx.x / 32;
  if (wid >= p.m * units) return;  // the whole warp
  const int64_t i = wid / units, e0 = (wid % units) * QMM_UNIT + 8 * lane;
  const bool on = e0 < p.k;  // the 32-element formats' last unit may be short (whole blocks)
  float x[8];
  for (int l = 0; l < 8; l++) x[l] = on ? p.x[i * p.x_stride + e0 + l] : 0.0f;
  int q[8];
  float d;
  if (quant_is_k(p.wtype)) {
    const float iscale = quant_q8k_iscale(x, 8 * lane);
    for (int l = 0; l < 8; l++) {
      const int v = iscale == 0.0f ? 0 : quant_nearest_int(__fmul_rn(iscale, x[l]));
      q[l] = v < 127 ? v : 127;
    }
    d = iscale == 0.0f ? 0.0f : 1.0f / iscale;
  } else {
    float amax = 0.0f;
    for (int l = 0; l < 8; l++) amax = fmaxf(amax, fabsf(x[l]));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
    const float dd = amax / 127, id = dd != 0.0f ? 1.0f / dd : 0.0f;
    for (int l = 0; l < 8; l++) q[l] = (int)roundf(__fmul_rn(x[l], id));
    d = dd;
  }
  int sum = 0;
  for (int l = 0; l < 8; l++) sum += q[l];
  sum = warp_isum(sum, 4);  // the four lanes of a block of 32
  if (!on) return;
  const int64_t g = i * (p.k / 32) + e0 / 32;
  int8_t* qs = p.act.qs + i * p.k + e0;
  for (int l = 0; l < 8; l++) qs[l] = (int8_t)q[l];
  if (lane % 4 == 0) {
    const bool k = quant_is_k(p.wtype);
    p.act.d[g] = k ? d : quant_round_f16(d);
    p.act.s[g] = quant_has_min(p.wtype) ? quant_round_f16(__fmul_rn((float)sum, d)) : 0.0f;
    p.act.sum[g] = sum;
  }
}

struct quant_dot_params {
  const uint8_t* w;  // (n, k) blocks of type, row stride w_stride bytes
  int64_t w_stride;
  quant_type type;
  quant_act act;  // x's rows, by quant_act_kernel
  float* dst;     // (m, n), row stride dst_stride elements
  int64_t dst_stride;
  int64_t m, n, k;
};

// One 32-element block's contribution (core/quant_ref.c's dot_q8_0 / dot_off / dot_min body).
__device__ __forceinline__ float quant_block_dot(quant_type t, const quant8& q, int sumi,
                                                 const quant_act& a, int64_t g) {
  const float dd = __fmul_rn(q.d, a.d[g]);
  if (quant_has_min(t)) return __fadd_rn(__fmul_rn(dd, (float)sumi), __fmul_rn(q.dm, a.s[g]));
  return __fmul_rn((float)sumi, dd);
}

// One K super-block's contribution (dot_k45_block / dot_q6_K_block), from the warp's sums.
__device__ __forceinline__ float quant_kblock_dot(quant_type t, const quant8& q, int sumi, int summ,
                                                  float ad) {
  const float v = __fmul_rn(__fmul_rn(q.d, ad), (float)sumi);
  if (t == QUANT_Q6_K) return v;
  return __fadd_rn(v, -__fmul_rn(__fmul_rn(q.dm, ad), (float)summ));
}

// Row i's running sum over the unit at u0 (lane 0's `total` is the one that counts).
__device__ __forceinline__ void quant_dot_unit(const quant_dot_params& p, const quant8& q,
                                               int64_t i, int64_t u0, int lane, float* total) {
  const int64_t e0 = u0 + 8 * lane, g = i * (p.k / 32) + e0 / 32;
  const bool on = e0 < p.k;
  int dot = 0;
  if (on) {
    const int32_t* a = reinterpret_cast<const int32_t*>(p.act.qs + i * p.k + e0);
    dot = prim::dp4a_s8(q.lv[1], a[1], prim::dp4a_s8(q.lv[0], a[0], 0));
  }
  if (quant_is_k(p.type)) {  // the whole warp is one super-block
    const bool mins = p.type != QUANT_Q6_K && lane % 4 == 0;
    const int sumi = warp_isum(q.sc * dot, 32);
    const int summ = warp_isum(mins ? q.mn * p.act.sum[g] : 0, 32);
    if (lane == 0) *total = __fadd_rn(*total, quant_kblock_dot(p.type, q, sumi, summ, p.act.d[g]));
    return;
  }
  dot = warp_isum(dot, 4);  // each four lanes are one block of 32
  const float v = on && lane % 4 == 0 ? quant_block_dot(p.type, q, dot, p.act, g) : 0.0f;
  for (int b = 0; b < 8; b++) {  // the unit's blocks, in order
    const float vb = __shfl_sync(0xffffffffu, v, 4 * b);
    if (lane == 0 && u0 + 32 * b < p.k) *total = __fadd_rn(*total, vb);
  }
}

__global__ void __launch_bounds__(QMM_WARPS * 32) quant_dot_kernel(quant_dot_params p) {
  const int lane = (int)(threadIdx.x % 32);
  const int64_t j = (int64_t)blockIdx.x * QMM_WARPS + threadIdx.x / 32;
  if (j >= p.n) return;  // the whole warp
  const int64_t i0 = (int64_t)blockIdx.y * QMM_M_MAX;
  const int rows = (int)(p.m - i0 < QMM_M_MAX ? p.m - i0 : QMM_M_MAX);
  const uint8_t* wr = p.w + j * p.w_stride;
  float total[QMM_M_MAX];
#pragma unroll
  for (int r = 0; r < QMM_M_MAX; r++) total[r] = 0.0f;
  for (int64_t u0 = 0; u0 < p.k; u0 += QMM_UNIT) {  // the same trips on every lane
    const int64_t e0 = u0 + 8 * lane;
    const quant8 q = e0 < p.k ? quant_decode8(p.type, wr, e0) : quant8{{0, 0}, 0.0f, 0.0f, 0, 0};
#pragma unroll
    for (int r = 0; r < QMM_M_MAX; r++) {
      if (r >= rows) break;
      quant_dot_unit(p, q, i0 + r, u0, lane, &total[r]);
    }
  }
  if (lane == 0)
    for (int r = 0; r < rows; r++) p.dst[(i0 + r) * p.dst_stride + j] = total[r];
}
