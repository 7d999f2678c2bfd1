// Launcher of kernels/silu.cuh: torch's SiLU, flat grid-stride over every element.
#include "cuda_ops.h"
#include "kernels/silu.cuh"

// src: a (ne3, ne2, ne1, ne0) f32, rows strided; dst the same shape, may alias a.
mmrt_status mmrt_cuda_silu(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor* a = op->src[0];
  silu_params p = {};
  p.a = static_cast<const float*>(a->data);
  p.dst = static_cast<float*>(op->dst->data);
  for (int i = 0; i < 4; i++) p.ne[i] = a->ne[i];
  for (int i = 0; i < 3; i++) {
    p.a_stride[i] = mmrt_cuda_stride(a, i + 1);
    p.dst_stride[i] = mmrt_cuda_stride(op->dst, i + 1);
  }
  const int64_t total = mmrt_tensor_nelements(a);
  if (total == 0) return MMRT_OK;
  return MMRT_CUDA_LAUNCH(err, silu_kernel, mmrt_cuda_flat_blocks(total), FLAT_THREADS, q.stream,
                          p);
}
