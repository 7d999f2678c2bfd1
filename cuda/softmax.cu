// Launcher of kernels/softmax.cuh: row softmax, one block per row.
#include "cuda_ops.h"
#include "kernels/softmax.cuh"

// src: x (rows, d) f32; dst (rows, d) f32.
mmrt_status mmrt_cuda_softmax(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor* x = op->src[0];
  if (x->ne[1] == 0) return MMRT_OK;
  softmax_params p = {};
  p.x = static_cast<const float*>(x->data);
  p.dst = static_cast<float*>(op->dst->data);
  p.d = x->ne[0];
  p.x_stride = mmrt_cuda_stride(x, 1);
  p.dst_stride = mmrt_cuda_stride(op->dst, 1);
  p.scale = op->p.scale.s;
  return MMRT_CUDA_LAUNCH(err, softmax_kernel, (unsigned)x->ne[1], mmrt_cuda_row_threads(p.d),
                          q.stream, p);
}
