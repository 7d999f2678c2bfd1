// Launcher of kernels/convert.cuh as MMRT_OP_CONVERT: f32 rows stored as bf16/f16/f32 (a KV
// cache's rows), each value rounded to nearest even once, as the CPU backend does.
#include "cuda_ops.h"
#include "kernels/convert.cuh"

// src (ne3, ne2, ne1, ne0) f32 whose rows are evenly spaced (one row stride across every row:
// supports_op checked); dst the same shape, packed, BF16/F16/F32, apart from src.
mmrt_status mmrt_cuda_convert(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor *x = op->src[0], *d = op->dst;
  convert_params p = {};
  p.x = static_cast<const float*>(x->data);
  p.dst = d->data;
  p.n = x->ne[0];
  p.rows = x->ne[1] * x->ne[2] * x->ne[3];
  p.x_stride = mmrt_cuda_stride(x, 1);
  const int64_t total = p.n * p.rows;
  if (total == 0) return MMRT_OK;
  const unsigned blocks = mmrt_cuda_flat_blocks(total);
  switch (d->type) {
    case MMRT_BF16:
      return MMRT_CUDA_LAUNCH(err, convert_kernel<__nv_bfloat16>, blocks, FLAT_THREADS, q.stream,
                              p);
    case MMRT_F16:
      return MMRT_CUDA_LAUNCH(err, convert_kernel<__half>, blocks, FLAT_THREADS, q.stream, p);
    default:
      return MMRT_CUDA_LAUNCH(err, convert_kernel<float>, blocks, FLAT_THREADS, q.stream, p);
  }
}
