// scatter_rows.cuh — rows into a matrix (MMRT_OP_SCATTER_ROWS): dst(n, d) row idx[i] = src(m, d)
// row i, f32; the other rows of dst are not touched.
#pragma once

#include "common.cuh"

struct scatter_rows_params {
  const float* src;    // (m, d), row stride src_stride elements
  const int32_t* idx;  // (m)
  float* dst;          // (n, d), row stride dst_stride elements
  int64_t n, d, src_stride, dst_stride;
  // (3) bad-input report, as get_rows_params::bad: [0] set to bad_code once an index is out of
  // [0, n), [1] that index, [2] n.
  int* bad;
  int bad_code;
};

// One block per source row. An out-of-range index writes nothing and reports itself.
__global__ void __launch_bounds__(ROW_THREADS_MAX) scatter_rows_kernel(scatter_rows_params p) {
  const int32_t to = p.idx[blockIdx.x];
  if (to < 0 || to >= p.n) {
    if (threadIdx.x == 0 && atomicCAS(&p.bad[0], 0, p.bad_code) == 0) {
      p.bad[1] = to;
      p.bad[2] = (int)p.n;
    }
    return;
  }
  const float* src = p.src + blockIdx.x * p.src_stride;
  float* dst = p.dst + to * p.dst_stride;
  for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x) dst[j] = src[j];
}
