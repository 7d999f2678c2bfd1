// get_rows.cuh — embedding gather: dst(n, d) f32 = table(V, d)[ids(n)], table f32/f16/bf16.
#pragma once

#include "common.cuh"

struct get_rows_params {
  const void* table;  // (V, d), row stride table_stride elements
  float_type table_type;
  const int32_t* ids;  // (n)
  float* dst;          // (n, d), row stride dst_stride elements
  int64_t n_vocab, d, table_stride, dst_stride;
  // (3) bad-input report: [0] set to 1 once an id is out of [0, V), [1] that id, [2] V. The host
  // reads it at synchronize(): a kernel cannot return an error, and reading it at once would stall
  // the stream.
  int* bad;
};

// One block per id. An out-of-range id writes a zero row (never reads outside the table) and
// reports itself.
__global__ void __launch_bounds__(ROW_THREADS_MAX) get_rows_kernel(get_rows_params p) {
  const int32_t id = p.ids[blockIdx.x];
  float* dst = p.dst + blockIdx.x * p.dst_stride;
  if (id < 0 || id >= p.n_vocab) {
    if (threadIdx.x == 0 && atomicCAS(&p.bad[0], 0, 1) == 0) {
      p.bad[1] = id;
      p.bad[2] = (int)p.n_vocab;
    }
    for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x) dst[j] = 0.0f;
    return;
  }
  const int64_t esize = p.table_type == FLOAT_F32 ? 4 : 2;
  const void* row = static_cast<const char*>(p.table) + id * p.table_stride * esize;
  for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x) dst[j] = load_float(row, p.table_type, j);
}
