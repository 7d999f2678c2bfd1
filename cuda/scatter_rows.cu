// Launcher of kernels/scatter_rows.cuh: media embeddings into the token stream, one block per row.
#include "cuda_ops.h"
#include "kernels/scatter_rows.cuh"

// src: src (m, d) f32, idx (m) i32; dst (n, d) f32, in place. Out-of-range indices are reported by
// the next synchronize() (MMRT_ERR_INVALID_ARG), as the CPU backend reports them at once.
mmrt_status mmrt_cuda_scatter_rows(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor *src = op->src[0], *idx = op->src[1];
  if (src->ne[1] == 0) return MMRT_OK;
  scatter_rows_params p = {};
  p.src = static_cast<const float*>(src->data);
  p.idx = static_cast<const int32_t*>(idx->data);
  p.dst = static_cast<float*>(op->dst->data);
  p.n = op->dst->ne[1];
  p.d = src->ne[0];
  p.src_stride = mmrt_cuda_stride(src, 1);
  p.dst_stride = mmrt_cuda_stride(op->dst, 1);
  p.bad = q.bad;
  p.bad_code = MMRT_CUDA_BAD_SCATTER_ROWS;
  return MMRT_CUDA_LAUNCH(err, scatter_rows_kernel, (unsigned)src->ne[1],
                          mmrt_cuda_row_threads(p.d), q.stream, p);
}
