// Launcher of kernels/pixel_shuffle.cuh: the Idefics3 connector's pixel shuffle, one block per row.
#include "cuda_ops.h"
#include "kernels/pixel_shuffle.cuh"

// src: x (n_tiles, s², D) f32; dst (n_tiles·(s/r)², D·r²) f32.
mmrt_status mmrt_cuda_pixel_shuffle(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor* x = op->src[0];
  if (op->dst->ne[1] == 0 || op->dst->ne[0] == 0) return MMRT_OK;
  pixel_shuffle_params p = {};
  p.x = static_cast<const float*>(x->data);
  p.dst = static_cast<float*>(op->dst->data);
  p.d = x->ne[0];
  p.r = op->p.shuffle.scale_factor;
  while (p.side * p.side < x->ne[1]) p.side++;
  p.w = p.side / p.r;
  p.x_stride1 = mmrt_cuda_stride(x, 1);
  p.x_stride2 = mmrt_cuda_stride(x, 2);
  p.dst_stride = mmrt_cuda_stride(op->dst, 1);
  return MMRT_CUDA_LAUNCH(err, pixel_shuffle_kernel, (unsigned)op->dst->ne[1],
                          mmrt_cuda_row_threads(op->dst->ne[0]), q.stream, p);
}
