// conv1d_dw.cuh — depthwise 1-D convolution along time (MMRT_OP_CONV1D_DW): x (T, C) f32,
// w (C, K) f32/f16/bf16, optional b (C) f32/f16/bf16 → dst (n_out, C) f32 with
// n_out = T + pad_left + pad_right − K + 1,
// dst[t, c] = b[c] + Σ_k w[c, k] · x[t + k − pad_left, c], rows of x outside [0, T) zero.
#pragma once

#include "common.cuh"

struct conv1d_dw_params {
  const float* x;  // (T, C), row stride x_stride elements
  const void* w;   // (C, K), row stride w_stride
  float_type w_type;
  const void* b;  // (C), or null: no bias
  float_type b_type;
  float* dst;  // (n_out, C), row stride dst_stride
  int64_t n_chan, n_in, n_out, k_len, pad_left;
  int64_t x_stride, w_stride, dst_stride;
};

// One thread per output element, flat grid-stride with the channel fastest, so that a warp reads
// consecutive floats of each input row. Taps whose input row lies in the padding are skipped;
// the sum runs in tap order from the bias, as the CPU backend's.
__global__ void __launch_bounds__(FLAT_THREADS) conv1d_dw_kernel(conv1d_dw_params p) {
  const int64_t total = p.n_out * p.n_chan;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = idx / p.n_chan, c = idx % p.n_chan;
    const int64_t s0 = t - p.pad_left;  // input row of tap 0
    const int64_t k0 = s0 < 0 ? -s0 : 0, k1 = p.n_in - s0 < p.k_len ? p.n_in - s0 : p.k_len;
    float acc = p.b ? load_float(p.b, p.b_type, c) : 0.0f;
    for (int64_t k = k0; k < k1; k++)
      acc += load_float(p.w, p.w_type, c * p.w_stride + k) * p.x[(s0 + k) * p.x_stride + c];
    p.dst[t * p.dst_stride + c] = acc;
  }
}
