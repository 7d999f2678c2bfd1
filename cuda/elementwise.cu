// Launchers of kernels/elementwise.cuh: one per op, flat grid-stride over (rows, n).
#include "cuda_ops.h"
#include "kernels/elementwise.cuh"

// src: a (rows, n) f32 [, b (rows, n) f32]; dst (rows, n) f32, may alias a or b.
static elementwise_params elementwise_params_of(const mmrt_op* op) {
  const mmrt_tensor *a = op->src[0], *b = op->src[1];
  elementwise_params p = {};
  p.a = static_cast<const float*>(a->data);
  p.b = b ? static_cast<const float*>(b->data) : nullptr;
  p.dst = static_cast<float*>(op->dst->data);
  p.n = a->ne[0];
  p.rows = a->ne[1];
  p.a_stride = mmrt_cuda_stride(a, 1);
  p.b_stride = b ? mmrt_cuda_stride(b, 1) : 0;
  p.dst_stride = mmrt_cuda_stride(op->dst, 1);
  p.s = op->kind == MMRT_OP_SCALE ? op->p.scale.s : 0.0f;
  return p;
}

#define MMRT_CUDA_ELEMENTWISE(name)                                                            \
  mmrt_status mmrt_cuda_##name(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) { \
    const elementwise_params p = elementwise_params_of(op);                                    \
    if (p.n * p.rows == 0) return MMRT_OK;                                                     \
    return MMRT_CUDA_LAUNCH(err, elementwise_kernel<ew_op::name>,                              \
                            mmrt_cuda_flat_blocks(p.n * p.rows), FLAT_THREADS, q.stream, p);   \
  }
MMRT_CUDA_ELEMENTWISE(silu_mul)
MMRT_CUDA_ELEMENTWISE(add)
MMRT_CUDA_ELEMENTWISE(mul)
MMRT_CUDA_ELEMENTWISE(scale)
MMRT_CUDA_ELEMENTWISE(gelu)
MMRT_CUDA_ELEMENTWISE(gelu_tanh)
#undef MMRT_CUDA_ELEMENTWISE

// src: x (rows, n) f32, b (n) f32/f16/bf16; dst (rows, n) f32, may alias x.
mmrt_status mmrt_cuda_add_bias(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor *x = op->src[0], *b = op->src[1];
  add_bias_params p = {};
  p.x = static_cast<const float*>(x->data);
  p.b = b->data;
  p.b_type = mmrt_cuda_float_type(b->type);
  p.dst = static_cast<float*>(op->dst->data);
  p.n = x->ne[0];
  p.rows = x->ne[1];
  p.x_stride = mmrt_cuda_stride(x, 1);
  p.dst_stride = mmrt_cuda_stride(op->dst, 1);
  if (p.n * p.rows == 0) return MMRT_OK;
  return MMRT_CUDA_LAUNCH(err, add_bias_kernel, mmrt_cuda_flat_blocks(p.n * p.rows), FLAT_THREADS,
                          q.stream, p);
}
