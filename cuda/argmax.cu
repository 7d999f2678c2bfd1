// Launcher of kernels/argmax.cuh: first index of the row maximum, one block per row.
#include "cuda_ops.h"
#include "kernels/argmax.cuh"

// src: x (rows, d) f32; dst (rows) i32, contiguous.
mmrt_status mmrt_cuda_argmax(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor* x = op->src[0];
  if (x->ne[1] == 0) return MMRT_OK;
  argmax_params p = {};
  p.x = static_cast<const float*>(x->data);
  p.dst = static_cast<int32_t*>(op->dst->data);
  p.d = x->ne[0];
  p.x_stride = mmrt_cuda_stride(x, 1);
  return MMRT_CUDA_LAUNCH(err, argmax_kernel, (unsigned)x->ne[1], mmrt_cuda_row_threads(p.d),
                          q.stream, p);
}
