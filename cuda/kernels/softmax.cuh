// softmax.cuh — row softmax of (x · scale), one block per row, f32 accumulation.
#pragma once

#include "common.cuh"

struct softmax_params {
  const float* x;  // (rows, d), row stride x_stride elements
  float* dst;      // (rows, d), row stride dst_stride; may alias x
  int64_t d, x_stride, dst_stride;
  float scale;
};

// Three passes over the row (max, sum of exp, write) so that every exp is of a value ≤ 0.
// expf, not __expf: the fast intrinsic's error grows with |x| and breaks 1e-5 against fp64.
__global__ void __launch_bounds__(ROW_THREADS_MAX) softmax_kernel(softmax_params p) {
  __shared__ float partial[32];
  const float* x = p.x + blockIdx.x * p.x_stride;
  float* dst = p.dst + blockIdx.x * p.dst_stride;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x) mx = fmaxf(mx, x[j] * p.scale);
  mx = block_max(mx, partial);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x) sum += expf(x[j] * p.scale - mx);
  const float inv = 1.0f / block_sum(sum, partial);
  for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x) dst[j] = expf(x[j] * p.scale - mx) * inv;
}
