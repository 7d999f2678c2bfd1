// silu.cuh — torch's SiLU (MMRT_OP_SILU): dst = a · sigmoid(a) over an f32 tensor of up to four
// dims with strided rows, as a / (1 + exp(−a)).
#pragma once

#include "common.cuh"

struct silu_params {
  const float* a;  // (ne3, ne2, ne1, ne0): element (i3, i2, i1, i0) at i3·a_stride[2] +
                   // i2·a_stride[1] + i1·a_stride[0] + i0
  float* dst;      // the same shape, strides dst_stride[]; may alias a
  int64_t ne[4];
  int64_t a_stride[3], dst_stride[3];
};

// One thread per element, flat grid-stride.
__global__ void __launch_bounds__(FLAT_THREADS) silu_kernel(silu_params p) {
  const int64_t total = p.ne[0] * p.ne[1] * p.ne[2] * p.ne[3];
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i0 = idx % p.ne[0], r = idx / p.ne[0];
    const int64_t i1 = r % p.ne[1], i2 = r / p.ne[1] % p.ne[2], i3 = r / (p.ne[1] * p.ne[2]);
    const float v = p.a[i3 * p.a_stride[2] + i2 * p.a_stride[1] + i1 * p.a_stride[0] + i0];
    p.dst[i3 * p.dst_stride[2] + i2 * p.dst_stride[1] + i1 * p.dst_stride[0] + i0] =
        v / (1.0f + expf(-v));
  }
}
