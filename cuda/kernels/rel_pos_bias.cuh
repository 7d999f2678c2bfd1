// rel_pos_bias.cuh — Shaw relative-position scores into an attention bias (MMRT_OP_REL_POS_BIAS):
// qe (n, h, R) f32 → dst (h, n, n_kv) f32,
// dst[hh, i, j] = scale · qe[i, hh, clamp(i − j, −max_dist, max_dist) + offset].
#pragma once

#include "common.cuh"

struct rel_pos_bias_params {
  const float* qe;  // (n, h, R): head stride qe_stride1, query stride qe_stride2 elements
  float* dst;       // (h, n, n_kv): row stride dst_stride1, head stride dst_stride2
  int64_t n_tok, n_head, n_kv;
  int64_t qe_stride1, qe_stride2, dst_stride1, dst_stride2;
  int64_t max_dist, offset;  // offset ± max_dist lie inside [0, R) (asserted by mmrt_backend_run)
  float scale;
};

// One thread per output element, flat grid-stride with the key fastest.
__global__ void __launch_bounds__(FLAT_THREADS) rel_pos_bias_kernel(rel_pos_bias_params p) {
  const int64_t total = p.n_head * p.n_tok * p.n_kv;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = idx % p.n_kv, i = idx / p.n_kv % p.n_tok, h = idx / (p.n_kv * p.n_tok);
    const int64_t d = i - j < -p.max_dist ? -p.max_dist : (i - j > p.max_dist ? p.max_dist : i - j);
    p.dst[h * p.dst_stride2 + i * p.dst_stride1 + j] =
        p.scale * p.qe[i * p.qe_stride2 + h * p.qe_stride1 + d + p.offset];
  }
}
