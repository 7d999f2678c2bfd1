// Launcher of kernels/rope.cuh: rotate-half RoPE, flat over (token, head, pair).
#include "cuda_ops.h"
#include "kernels/rope.cuh"

// src: x (n, h, hd) f32, pos (n) i32, inv_freq (n_rot/2) f32; dst (n, h, hd) f32, may alias x.
mmrt_status mmrt_cuda_rope(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor *x = op->src[0], *pos = op->src[1], *inv_freq = op->src[2];
  rope_params p = {};
  p.x = static_cast<const float*>(x->data);
  p.dst = static_cast<float*>(op->dst->data);
  p.pos = static_cast<const int32_t*>(pos->data);
  p.inv_freq = static_cast<const float*>(inv_freq->data);
  p.hd = x->ne[0];
  p.n_head = x->ne[1];
  p.n_tok = x->ne[2];
  p.x_s1 = mmrt_cuda_stride(x, 1);
  p.x_s2 = mmrt_cuda_stride(x, 2);
  p.dst_s1 = mmrt_cuda_stride(op->dst, 1);
  p.dst_s2 = mmrt_cuda_stride(op->dst, 2);
  p.n_rot = op->p.rope.n_rot;
  p.attn_factor = op->p.rope.attn_factor;
  const int64_t total = (p.hd - p.n_rot / 2) * p.n_head * p.n_tok;
  if (total == 0) return MMRT_OK;
  return MMRT_CUDA_LAUNCH(err, rope_kernel, mmrt_cuda_flat_blocks(total), FLAT_THREADS, q.stream,
                          p);
}
