// glu.cuh — torch's nn.GLU over the last dim (MMRT_OP_GLU): x (m, 2n) f32 →
// dst (m, n) f32, dst[i, j] = x[i, j] · sigmoid(x[i, n + j]) = x[i, j] / (1 + exp(−x[i, n + j])).
#pragma once

#include "common.cuh"

struct glu_params {
  const float* x;  // (m, 2n), row stride x_stride elements
  float* dst;      // (m, n), row stride dst_stride
  int64_t n, rows, x_stride, dst_stride;
};

// One thread per output element, flat grid-stride.
__global__ void __launch_bounds__(FLAT_THREADS) glu_kernel(glu_params p) {
  const int64_t total = p.n * p.rows;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = idx / p.n, j = idx % p.n;
    const float* x = p.x + r * p.x_stride;
    p.dst[r * p.dst_stride + j] = x[j] / (1.0f + expf(-x[p.n + j]));
  }
}
