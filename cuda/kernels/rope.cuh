// rope.cuh — rotary position embedding (rotate-half) on x(n, h, hd): the first n_rot dims of each
// head rotate in pairs (i, i + n_rot/2) by angle pos(t) · inv_freq(i); cos and sin are scaled by
// attn_factor; dims n_rot.. are copied.
#pragma once

#include "common.cuh"

struct rope_params {
  const float* x;         // (n, h, hd), strides x_s1 (head) and x_s2 (token) in elements
  float* dst;             // (n, h, hd), strides dst_s1, dst_s2; may alias x
  const int32_t* pos;     // (n)
  const float* inv_freq;  // (n_rot / 2)
  int64_t hd, n_head, n_tok, x_s1, x_s2, dst_s1, dst_s2;
  int n_rot;
  float attn_factor;
};

// Flat grid-stride loop over (token, head, k) with k < hd − n_rot/2: k < n_rot/2 rotates the pair
// (k, k + n_rot/2), the rest copies one dim past n_rot. Each element has exactly one owner, so
// in-place is safe.
//
// Precision: pos · inv_freq reaches 10⁴ rad and more; its f32 rounding alone would be an error of
// ~1e-4 in cos/sin. The product's rounding error is recovered exactly with an FMA (pos is an
// integer below 2²⁴, exact in f32) and applied to first order, which keeps cos/sin within f32
// precision of the fp64 oracle. sinf/cosf (not __sinf) reduce large arguments exactly.
__global__ void __launch_bounds__(FLAT_THREADS) rope_kernel(rope_params p) {
  const int n_half = p.n_rot / 2;
  const int64_t per_row = p.hd - n_half;
  const int64_t total = per_row * p.n_head * p.n_tok;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t k = idx % per_row, row = idx / per_row;
    const int64_t h = row % p.n_head, t = row / p.n_head;
    const float* x = p.x + h * p.x_s1 + t * p.x_s2;
    float* dst = p.dst + h * p.dst_s1 + t * p.dst_s2;
    if (k >= n_half) {
      const int64_t e = p.n_rot + (k - n_half);
      dst[e] = x[e];
      continue;
    }
    const float fp = (float)p.pos[t], f = p.inv_freq[k];
    const float angle = fp * f;
    const float angle_err = fmaf(fp, f, -angle);  // angle + angle_err == pos · inv_freq exactly
    const float s0 = sinf(angle), c0 = cosf(angle);
    const float c = (c0 - s0 * angle_err) * p.attn_factor;
    const float s = (s0 + c0 * angle_err) * p.attn_factor;
    const float x1 = x[k], x2 = x[k + n_half];
    dst[k] = x1 * c - x2 * s;
    dst[k + n_half] = x2 * c + x1 * s;
  }
}
