// Launcher of kernels/patchify.cuh: patch-embedding im2col, one block per patch.
#include "cuda_ops.h"
#include "kernels/patchify.cuh"

// src: pixels (n_img, C, H, W) f32; dst (n_img·(H/p)·(W/p), C·p·p) f32.
mmrt_status mmrt_cuda_patchify(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor* px = op->src[0];
  if (op->dst->ne[1] == 0 || op->dst->ne[0] == 0) return MMRT_OK;
  patchify_params p = {};
  p.px = static_cast<const float*>(px->data);
  p.dst = static_cast<float*>(op->dst->data);
  p.n_chan = px->ne[2];
  p.patch = op->p.patchify.patch;
  p.ny = px->ne[1] / p.patch;
  p.nx = px->ne[0] / p.patch;
  p.px_stride1 = mmrt_cuda_stride(px, 1);
  p.px_stride2 = mmrt_cuda_stride(px, 2);
  p.px_stride3 = mmrt_cuda_stride(px, 3);
  p.dst_stride = mmrt_cuda_stride(op->dst, 1);
  return MMRT_CUDA_LAUNCH(err, patchify_kernel, (unsigned)op->dst->ne[1],
                          mmrt_cuda_row_threads(op->dst->ne[0]), q.stream, p);
}
