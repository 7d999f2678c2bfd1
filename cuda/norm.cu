// Launchers of kernels/norm.cuh: RMSNorm and LayerNorm, one block per row.
#include "cuda_ops.h"
#include "kernels/norm.cuh"

// src: x (rows, d) f32, w (d) [, b (d)]; dst (rows, d) f32.
static norm_params norm_params_of(const mmrt_op* op) {
  const mmrt_tensor *x = op->src[0], *w = op->src[1], *b = op->src[2];
  norm_params p = {};
  p.x = static_cast<const float*>(x->data);
  p.dst = static_cast<float*>(op->dst->data);
  p.w = w->data;
  p.w_type = mmrt_cuda_float_type(w->type);
  p.b = b ? b->data : nullptr;
  p.b_type = b ? mmrt_cuda_float_type(b->type) : FLOAT_F32;
  p.d = x->ne[0];
  p.x_stride = mmrt_cuda_stride(x, 1);
  p.dst_stride = mmrt_cuda_stride(op->dst, 1);
  p.eps = op->p.norm.eps;
  return p;
}

mmrt_status mmrt_cuda_rms_norm(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const int64_t rows = op->src[0]->ne[1];
  if (rows == 0) return MMRT_OK;
  return MMRT_CUDA_LAUNCH(err, rms_norm_kernel, (unsigned)rows,
                          mmrt_cuda_row_threads(op->src[0]->ne[0]), q.stream, norm_params_of(op));
}

mmrt_status mmrt_cuda_layer_norm(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const int64_t rows = op->src[0]->ne[1];
  if (rows == 0) return MMRT_OK;
  return MMRT_CUDA_LAUNCH(err, layer_norm_kernel, (unsigned)rows,
                          mmrt_cuda_row_threads(op->src[0]->ne[0]), q.stream, norm_params_of(op));
}
