// quant_get_rows.cuh — GET_ROWS from a table in a block format (quant.cuh): dst(n, d) f32 =
// the dequantized rows table(V, d)[ids(n)], bit for bit the CPU's.
#pragma once

#include "quant.cuh"

struct get_rows_quant_params {
  const uint8_t* table;  // (V, d) blocks of type, row stride table_stride bytes
  quant_type type;
  const int32_t* ids;  // (n)
  float* dst;          // (n, d), row stride dst_stride elements
  int64_t n_vocab, d, table_stride, dst_stride;
  int* bad;  // the bad-input report, as get_rows_params's
};

// One block per id, eight weights per thread and step; an out-of-range id writes a zero row and
// reports itself (as get_rows_kernel does).
__global__ void __launch_bounds__(ROW_THREADS_MAX) get_rows_quant_kernel(get_rows_quant_params p) {
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
  const uint8_t* row = p.table + id * p.table_stride;
  for (int64_t e0 = 8 * (int64_t)threadIdx.x; e0 < p.d; e0 += 8 * (int64_t)blockDim.x) {
    float w[8];
    quant_dequant8(p.type, quant_decode8(p.type, row, e0), w);
    for (int i = 0; i < 8; i++) dst[e0 + i] = w[i];
  }
}
