// Launcher of kernels/sample.cuh: top-k / top-p / min-p sampling, one block per row.
#include "cuda_ops.h"
#include "kernels/sample.cuh"

// src: logits (rows, V) f32, u (rows) f32 contiguous; dst (rows) i32 contiguous. The threshold
// path takes (rows, V) f32 of scratch for the probabilities.
mmrt_status mmrt_cuda_sample(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor *x = op->src[0], *u = op->src[1];
  const int64_t rows = x->ne[1], V = x->ne[0];
  if (rows == 0) return MMRT_OK;
  sample_params p = {};
  p.logits = static_cast<const float*>(x->data);
  p.u = static_cast<const float*>(u->data);
  p.dst = static_cast<int32_t*>(op->dst->data);
  p.n_vocab = V;
  p.logits_stride = mmrt_cuda_stride(x, 1);
  while (((int64_t)1 << p.idx_bits) < V) p.idx_bits++;
  p.temperature = op->p.sample.temperature;
  p.top_k = op->p.sample.top_k;
  p.top_p = op->p.sample.top_p;
  p.min_p = op->p.sample.min_p;
  const int64_t k = p.top_k > 0 && p.top_k < V ? p.top_k : V;
  if (p.temperature > 0.0f && k > SAMPLE_SELECT_MAX) {
    void* scratch = nullptr;
    MMRT_TRY(mmrt_cuda_workspace(q, (size_t)(rows * V) * sizeof(float), &scratch, err));
    p.prob = static_cast<float*>(scratch);
  }
  return MMRT_CUDA_LAUNCH(err, sample_kernel, (unsigned)rows, mmrt_cuda_row_threads(V), q.stream,
                          p);
}
