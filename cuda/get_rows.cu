// Launcher of kernels/get_rows.cuh: embedding gather, one block per id.
#include "cuda_ops.h"
#include "kernels/get_rows.cuh"

// src: table (V, d) f32/f16/bf16, ids (n) i32; dst (n, d) f32. Out-of-range ids are reported by
// the next synchronize() (MMRT_ERR_INVALID_ARG), as the CPU backend reports them at once.
mmrt_status mmrt_cuda_get_rows(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor *table = op->src[0], *ids = op->src[1];
  if (ids->ne[0] == 0) return MMRT_OK;
  if (mmrt_dtype_is_quant(table->type)) return mmrt_cuda_get_rows_quant(op, q, err);
  get_rows_params p = {};
  p.table = table->data;
  p.table_type = mmrt_cuda_float_type(table->type);
  p.ids = static_cast<const int32_t*>(ids->data);
  p.dst = static_cast<float*>(op->dst->data);
  p.n_vocab = table->ne[1];
  p.d = table->ne[0];
  p.table_stride = mmrt_cuda_stride(table, 1);
  p.dst_stride = mmrt_cuda_stride(op->dst, 1);
  p.bad = q.bad;
  return MMRT_CUDA_LAUNCH(err, get_rows_kernel, (unsigned)ids->ne[0], mmrt_cuda_row_threads(p.d),
                          q.stream, p);
}
