// Launcher of kernels/rel_pos_bias.cuh: the conformer's positional scores, one thread per output.
#include "cuda_ops.h"
#include "kernels/rel_pos_bias.cuh"

// src: qe (n, h, R) f32, rows strided; dst (h, n, n_kv) f32.
mmrt_status mmrt_cuda_rel_pos_bias(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor *qe = op->src[0], *d = op->dst;
  rel_pos_bias_params p = {};
  p.qe = static_cast<const float*>(qe->data);
  p.dst = static_cast<float*>(d->data);
  p.n_tok = qe->ne[2];
  p.n_head = qe->ne[1];
  p.n_kv = d->ne[0];
  p.qe_stride1 = mmrt_cuda_stride(qe, 1);
  p.qe_stride2 = mmrt_cuda_stride(qe, 2);
  p.dst_stride1 = mmrt_cuda_stride(d, 1);
  p.dst_stride2 = mmrt_cuda_stride(d, 2);
  p.max_dist = op->p.rel_pos.max_dist;
  p.offset = op->p.rel_pos.offset;
  p.scale = op->p.rel_pos.scale;
  const int64_t total = p.n_head * p.n_tok * p.n_kv;
  if (total == 0) return MMRT_OK;
  return MMRT_CUDA_LAUNCH(err, rel_pos_bias_kernel, mmrt_cuda_flat_blocks(total), FLAT_THREADS,
                          q.stream, p);
}
