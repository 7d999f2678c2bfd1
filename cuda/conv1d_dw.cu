// Launcher of kernels/conv1d_dw.cuh: the conformer's depthwise convolution, one thread per output.
#include "cuda_ops.h"
#include "kernels/conv1d_dw.cuh"

// src: x (T, C) f32, w (C, K) f32/f16/bf16, b (C) f32/f16/bf16 or null; dst (n_out, C) f32.
mmrt_status mmrt_cuda_conv1d_dw(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor *x = op->src[0], *w = op->src[1], *b = op->src[2];
  conv1d_dw_params p = {};
  p.x = static_cast<const float*>(x->data);
  p.w = w->data;
  p.w_type = mmrt_cuda_float_type(w->type);
  p.b = b ? b->data : nullptr;
  p.b_type = b ? mmrt_cuda_float_type(b->type) : FLOAT_F32;
  p.dst = static_cast<float*>(op->dst->data);
  p.n_chan = x->ne[0];
  p.n_in = x->ne[1];
  p.n_out = op->dst->ne[1];
  p.k_len = w->ne[0];
  p.pad_left = op->p.conv1d.pad_left;
  p.x_stride = mmrt_cuda_stride(x, 1);
  p.w_stride = mmrt_cuda_stride(w, 1);
  p.dst_stride = mmrt_cuda_stride(op->dst, 1);
  if (p.n_out * p.n_chan == 0) return MMRT_OK;
  return MMRT_CUDA_LAUNCH(err, conv1d_dw_kernel, mmrt_cuda_flat_blocks(p.n_out * p.n_chan),
                          FLAT_THREADS, q.stream, p);
}
