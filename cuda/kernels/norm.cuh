// norm.cuh — RMSNorm and LayerNorm over the rows of a (rows, d) f32 matrix, one block per row,
// f32 accumulation; weights and bias f32/f16/bf16.
#pragma once

#include "common.cuh"

struct norm_params {
  const float* x;  // (rows, d), row stride x_stride elements
  float* dst;      // (rows, d), row stride dst_stride; may alias x
  const void* w;   // (d)
  const void* b;   // (d), LayerNorm only
  float_type w_type, b_type;
  int64_t d, x_stride, dst_stride;
  float eps;
};

// dst = x / sqrt(mean(x²) + eps) · w
__global__ void __launch_bounds__(ROW_THREADS_MAX) rms_norm_kernel(norm_params p) {
  __shared__ float partial[32];
  const float* x = p.x + blockIdx.x * p.x_stride;
  float* dst = p.dst + blockIdx.x * p.dst_stride;
  float ss = 0.0f;
  for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x) ss += x[j] * x[j];
  ss = block_sum(ss, partial);
  const float inv = 1.0f / sqrtf(ss / (float)p.d + p.eps);
  for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x)
    dst[j] = x[j] * inv * load_float(p.w, p.w_type, j);
}

// dst = (x − mean) / sqrt(var + eps) · w + b, biased variance. Two passes over x (mean, then the
// centred squares) rather than E[x²] − mean², which cancels catastrophically for large means.
__global__ void __launch_bounds__(ROW_THREADS_MAX) layer_norm_kernel(norm_params p) {
  __shared__ float partial[32];
  const float* x = p.x + blockIdx.x * p.x_stride;
  float* dst = p.dst + blockIdx.x * p.dst_stride;
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x) sum += x[j];
  const float mean = block_sum(sum, partial) / (float)p.d;
  float sq = 0.0f;
  for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x) sq += (x[j] - mean) * (x[j] - mean);
  const float inv = 1.0f / sqrtf(block_sum(sq, partial) / (float)p.d + p.eps);
  for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x)
    dst[j] = (x[j] - mean) * inv * load_float(p.w, p.w_type, j) + load_float(p.b, p.b_type, j);
}
