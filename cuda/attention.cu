// Launcher of kernels/attention.cuh (f32) and kernels/attention_mma.cuh (tensor cores), with
// split-KV for decode.
//
// Precision: the backend's mmrt_math. MMRT_MATH_F32 and _TF32 run the f32 kernel; _BF16 and _F16
// the tensor-core kernel, which rounds q, k and v once to that type (and accumulates in f32).
#include "cuda_ops.h"
#include "kernels/attention_mma.cuh"

namespace {

typedef void (*attention_kernel_fn)(attention_params);

// One kernel variant and its launch shape for the op's head dim.
struct attention_variant {
  const char* name;
  attention_kernel_fn kernel;
  int threads, rows_per_block;
  size_t smem;
};

template <class T>
attention_variant mma_variant(const char* name, int hd) {
  const int hd16 = attention_mma_hd16(hd);
  attention_kernel_fn k = hd16 <= 64    ? attention_mma_kernel<T, 64>
                          : hd16 <= 128 ? attention_mma_kernel<T, 128>
                                        : attention_mma_kernel<T, 256>;
  return {name, k, ATTN_MMA_THREADS, ATTN_MMA_BQ, attention_mma_smem_bytes(hd)};
}

// The variant the backend's math asks for (TF32 only concerns GEMMs: attention stays f32).
attention_variant select_variant(mmrt_math math, int hd) {
  switch (math) {
    case MMRT_MATH_BF16: return mma_variant<__nv_bfloat16>("attention_mma_kernel<bf16>", hd);
    case MMRT_MATH_F16: return mma_variant<__half>("attention_mma_kernel<f16>", hd);
    default:
      return {"attention_kernel", attention_kernel, ATTN_THREADS, ATTN_BQ,
              attention_smem_bytes(hd)};
  }
}

mmrt_status launch_attention(const attention_variant& var, const attention_params& p, dim3 grid,
                             cudaStream_t stream, mmrt_error* err) {
  (void)cudaGetLastError();  // a stale error of an earlier call is not this kernel's
  // Above 48 KiB of dynamic shared memory a kernel must opt in (large head dims).
  cudaError_t e = cudaFuncSetAttribute(reinterpret_cast<const void*>(var.kernel),
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, (int)var.smem);
  if (e != cudaSuccess)
    return mmrt_error_set(err, MMRT_ERR_BACKEND, "CUDA kernel %s: %zu bytes of shared memory: %s",
                          var.name, var.smem, prim::launch_error_string(e));
  const attention_kernel_fn kernel = var.kernel;
  MMRT_LAUNCH(kernel, grid, (unsigned)var.threads, var.smem, stream, p);
  return mmrt_cuda_check_launch(var.name, err);
}

}  // namespace

// src: q (n, h, hd), k and v caches (n_kv_max, h_kv, hd), key_mask (≥ n_kv) u8/i32 or NULL, bias
// (≥ n_kv, n, 1 or h) or NULL, all f32 but the mask; dst (n, h, hd) f32. supports_op() accepted hd (even, ≤ ATTN_HD_MAX) and the
// grid limits.
mmrt_status mmrt_cuda_attention(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor *qt = op->src[0], *k = op->src[1], *v = op->src[2], *mask = op->src[3];
  const mmrt_tensor* bias = op->src[4];
  attention_params p = {};
  p.q = static_cast<const float*>(qt->data);
  p.k = static_cast<const float*>(k->data);
  p.v = static_cast<const float*>(v->data);
  p.key_mask = mask ? mask->data : nullptr;
  p.mask_i32 = mask && mask->type == MMRT_I32;
  p.dst = static_cast<float*>(op->dst->data);
  p.q_s1 = mmrt_cuda_stride(qt, 1);
  p.q_s2 = mmrt_cuda_stride(qt, 2);
  p.k_s1 = mmrt_cuda_stride(k, 1);
  p.k_s2 = mmrt_cuda_stride(k, 2);
  p.v_s1 = mmrt_cuda_stride(v, 1);
  p.v_s2 = mmrt_cuda_stride(v, 2);
  p.dst_s1 = mmrt_cuda_stride(op->dst, 1);
  p.dst_s2 = mmrt_cuda_stride(op->dst, 2);
  if (bias) {  // (≥ n_kv, n_tok, 1 or n_head): one row shared by all heads has head stride 0
    p.bias = static_cast<const float*>(bias->data);
    p.bias_s1 = mmrt_cuda_stride(bias, 1);
    p.bias_s2 = bias->ne[2] == 1 ? 0 : mmrt_cuda_stride(bias, 2);
  }
  p.hd = (int)qt->ne[0];
  p.n_head = (int)qt->ne[1];
  p.n_tok = qt->ne[2];
  p.group = (int)(qt->ne[1] / k->ne[1]);
  p.n_kv = op->p.attn.n_kv;
  p.pos0 = op->p.attn.pos0;
  p.causal = op->p.attn.causal;
  p.scale = op->p.attn.scale;
  if (p.n_tok == 0 || p.n_head == 0) return MMRT_OK;

  const attention_variant var = select_variant(q.math, p.hd);
  const int64_t n_row_tiles = (p.n_tok * p.group + var.rows_per_block - 1) / var.rows_per_block;
  // Keys the last query sees: the most any block of this launch reads.
  int64_t kv_used = p.n_kv;
  if (p.causal && p.pos0 + p.n_tok < kv_used) kv_used = p.pos0 + p.n_tok;

  // Split-KV when one row tile per KV head would leave the GPU idle over a long cache.
  const int64_t n_split =
      n_row_tiles == 1 && kv_used > ATTN_KV_CHUNK ? (kv_used + ATTN_KV_CHUNK - 1) / ATTN_KV_CHUNK
                                                  : 1;
  if (n_split == 1) {
    p.kv_chunk = p.n_kv > 0 ? p.n_kv : 1;
    return launch_attention(var, p, dim3((unsigned)n_row_tiles, (unsigned)k->ne[1]), q.stream,
                            err);
  }

  // Partial results: n_split × n_tok × n_head × (hd outputs + max + sum) floats, in the backend's
  // scratch (queued after any earlier kernel that used it, on the same stream).
  const size_t n_part = (size_t)(n_split * p.n_tok * p.n_head);
  const size_t bytes = n_part * (size_t)(p.hd + 2) * sizeof(float);
  void* ws = nullptr;
  mmrt_status st = mmrt_cuda_workspace(q, bytes, &ws, err);
  if (st != MMRT_OK) return st;
  p.part_o = static_cast<float*>(ws);
  p.part_ml = p.part_o + n_part * (size_t)p.hd;
  p.kv_chunk = ATTN_KV_CHUNK;
  st = launch_attention(var, p, dim3(1, (unsigned)k->ne[1], (unsigned)n_split), q.stream, err);
  if (st != MMRT_OK) return st;
  const unsigned threads = p.hd < 32 ? 32 : (unsigned)(p.hd + 31) / 32 * 32;
  return MMRT_CUDA_LAUNCH(err, attention_combine_kernel, (unsigned)(p.n_tok * p.n_head), threads,
                          q.stream, p, (int)n_split);
}
