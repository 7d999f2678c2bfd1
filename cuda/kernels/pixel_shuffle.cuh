// pixel_shuffle.cuh — the Idefics3 connector's pixel shuffle (MMRT_OP_PIXEL_SHUFFLE):
// x (n_tiles, s², D) f32 → dst (n_tiles·w², D·r²) f32 with w = s / r,
// dst[t·w² + I·w + J, (a·r + b)·D + d] = x[t, (I·r + a)·s + J·r + b, d].
#pragma once

#include "common.cuh"

struct pixel_shuffle_params {
  const float* x;         // (n_tiles, s², D): row stride x_stride1, tile stride x_stride2
  float* dst;             // (n_tiles·w², D·r²), row stride dst_stride
  int64_t d, r, side, w;  // D, scale factor, patches per tile side s, s / r
  int64_t x_stride1, x_stride2, dst_stride;
};

// One block per dst row: r² source rows of D floats, concatenated.
__global__ void __launch_bounds__(ROW_THREADS_MAX) pixel_shuffle_kernel(pixel_shuffle_params p) {
  const int64_t row = blockIdx.x, ww = p.w * p.w;
  const int64_t t = row / ww, I = row % ww / p.w, J = row % p.w;
  const float* x = p.x + t * p.x_stride2 + (I * p.r * p.side + J * p.r) * p.x_stride1;
  float* dst = p.dst + row * p.dst_stride;
  for (int64_t col = threadIdx.x; col < p.d * p.r * p.r; col += blockDim.x) {
    const int64_t ab = col / p.d, a = ab / p.r, b = ab % p.r;
    dst[col] = x[(a * p.side + b) * p.x_stride1 + col % p.d];
  }
}
