// Launcher of kernels/matmul.cuh: the interim tiled GEMM (to be replaced by the cuBLAS wrapper).
#include "cuda_ops.h"
#include "kernels/matmul.cuh"

// src: x (m, k) f32, w (n, k) f32/f16/bf16; dst (m, n) f32.
mmrt_status mmrt_cuda_matmul(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor *x = op->src[0], *w = op->src[1];
  matmul_params p = {};
  p.x = static_cast<const float*>(x->data);
  p.w = w->data;
  p.w_type = mmrt_cuda_float_type(w->type);
  p.dst = static_cast<float*>(op->dst->data);
  p.m = x->ne[1];
  p.n = w->ne[1];
  p.k = x->ne[0];
  p.x_stride = mmrt_cuda_stride(x, 1);
  p.w_stride = mmrt_cuda_stride(w, 1);
  p.dst_stride = mmrt_cuda_stride(op->dst, 1);
  if (p.m == 0 || p.n == 0) return MMRT_OK;
  const dim3 grid((unsigned)((p.n + MATMUL_TILE - 1) / MATMUL_TILE),
                  (unsigned)((p.m + MATMUL_TILE - 1) / MATMUL_TILE));
  return MMRT_CUDA_LAUNCH(err, matmul_kernel, grid, dim3(MATMUL_TILE, MATMUL_TILE), q.stream, p);
}
