// Launcher of kernels/glu.cuh: the gated linear unit, flat grid-stride over (m, n).
#include "cuda_ops.h"
#include "kernels/glu.cuh"

// src: x (m, 2n) f32, rows strided; dst (m, n) f32.
mmrt_status mmrt_cuda_glu(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor* x = op->src[0];
  glu_params p = {};
  p.x = static_cast<const float*>(x->data);
  p.dst = static_cast<float*>(op->dst->data);
  p.n = op->dst->ne[0];
  p.rows = x->ne[1];
  p.x_stride = mmrt_cuda_stride(x, 1);
  p.dst_stride = mmrt_cuda_stride(op->dst, 1);
  if (p.n * p.rows == 0) return MMRT_OK;
  return MMRT_CUDA_LAUNCH(err, glu_kernel, mmrt_cuda_flat_blocks(p.n * p.rows), FLAT_THREADS,
                          q.stream, p);
}
