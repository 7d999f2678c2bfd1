// The GEMM wrapper over cuBLAS (mmrt_cuda_gemm, contract in cuda_ops.h) and MATMUL's launcher on
// it, with kernels/convert.cuh for the activations of 16-bit weights.
#include <cublas_v2.h>
#include <limits.h>

#include "cuda_ops.h"
#include "kernels/convert.cuh"

namespace {

cudaDataType cuda_type(float_type t) {
  return t == FLOAT_F16 ? CUDA_R_16F : t == FLOAT_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

const char* type_name(float_type t) {
  return t == FLOAT_F16 ? "f16" : t == FLOAT_BF16 ? "bf16" : "f32";
}

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

// cuBLAS wants ld ≥ max(1, rows) of every stored matrix, even where ld addresses nothing: a
// matrix of one column or of no rows (a single-row view may carry any row stride).
int64_t leading_dim(int64_t ld, int64_t rows, int64_t cols) {
  if (rows == 0 || cols <= 1) return rows > 1 ? rows : 1;
  return ld;
}

}  // namespace

mmrt_status mmrt_cuda_gemm(const mmrt_cuda_queue& q, const mmrt_cuda_gemm_params& p,
                           mmrt_error* err) {
  // stored shapes (rows x cols, column-major): A k x m or m x k, B n x k or k x n, C m x n
  const int64_t lda = leading_dim(p.lda, p.trans_a ? p.k : p.m, p.trans_a ? p.m : p.k);
  const int64_t ldb = leading_dim(p.ldb, p.trans_b ? p.n : p.k, p.trans_b ? p.k : p.n);
  const int64_t ldc = leading_dim(p.ldc, p.m, p.n);
  if (!fits_int(p.m) || !fits_int(p.n) || !fits_int(p.k) || !fits_int(lda) || !fits_int(ldb) ||
      !fits_int(ldc) || !fits_int(p.batch))
    return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                          "cuBLAS GEMM: m %lld, n %lld, k %lld, lda %lld, ldb %lld, ldc %lld, "
                          "batch %lld: cuBLAS takes each as a non-negative int",
                          (long long)p.m, (long long)p.n, (long long)p.k, (long long)lda,
                          (long long)ldb, (long long)ldc, (long long)p.batch);
  if (p.m == 0 || p.n == 0 || p.batch == 0) return MMRT_OK;

  cublasHandle_t h = static_cast<cublasHandle_t>(q.blas);
  const cublasOperation_t ta = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cudaDataType t = cuda_type(p.ab_type);
  // COMPUTE_32F on the backend's handle (CUBLAS_DEFAULT_MATH) keeps f32 inputs' full mantissas:
  // no TF32 unless asked for.
  const cublasComputeType_t compute = p.tf32 && p.ab_type == FLOAT_F32
                                          ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F;
  const char* fn;
  cublasStatus_t st;
  if (p.batch == 1) {
    fn = "cublasGemmEx";
    st = cublasGemmEx(h, ta, tb, (int)p.m, (int)p.n, (int)p.k, &p.alpha, p.a, t, (int)lda, p.b, t,
                      (int)ldb, &p.beta, p.c, CUDA_R_32F, (int)ldc, compute, CUBLAS_GEMM_DEFAULT);
  } else {
    fn = "cublasGemmStridedBatchedEx";
    st = cublasGemmStridedBatchedEx(h, ta, tb, (int)p.m, (int)p.n, (int)p.k, &p.alpha, p.a, t,
                                    (int)lda, p.stride_a, p.b, t, (int)ldb, p.stride_b, &p.beta,
                                    p.c, CUDA_R_32F, (int)ldc, p.stride_c, (int)p.batch, compute,
                                    CUBLAS_GEMM_DEFAULT);
  }
  if (st == CUBLAS_STATUS_SUCCESS) return MMRT_OK;
  return mmrt_error_set(err, st == CUBLAS_STATUS_ALLOC_FAILED ? MMRT_ERR_OOM : MMRT_ERR_BACKEND,
                        "cuBLAS %s (%c%c, m %lld, n %lld, k %lld, lda %lld, ldb %lld, ldc %lld, "
                        "batch %lld, %s inputs%s): %s",
                        fn, p.trans_a ? 'T' : 'N', p.trans_b ? 'T' : 'N', (long long)p.m,
                        (long long)p.n, (long long)p.k, (long long)lda, (long long)ldb,
                        (long long)ldc, (long long)p.batch, type_name(p.ab_type),
                        compute == CUBLAS_COMPUTE_32F_FAST_TF32 ? ", TF32" : "",
                        cublasGetStatusString(st));
}

// src: x (m, k) f32, w (n, k) f32/f16/bf16; dst (m, n) f32, must not alias x or w.
// Row-major dst = x · wᵀ is column-major dstᵀ (n x m) = Wᵀ · X: the row-major w (n, k) is the
// column-major k x n W with ld = w's row stride, x (m, k) the k x m X, dst the n x m C.
// f32 weights: TF32 only when the backend's math allows it. 16-bit weights: x is rounded once to
// the weight type into the workspace (cuBLAS multiplies A and B of one type), then the products
// are exact and the sums f32.
mmrt_status mmrt_cuda_matmul(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  if (mmrt_dtype_is_quant(op->src[1]->type)) return mmrt_cuda_matmul_quant(op, q, err);
  const mmrt_tensor *x = op->src[0], *w = op->src[1], *dst = op->dst;
  const int64_t m = x->ne[1], n = w->ne[1], k = x->ne[0];
  mmrt_cuda_gemm_params g = {};
  g.trans_a = true;
  g.m = n;
  g.n = m;
  g.k = k;
  g.ab_type = mmrt_cuda_float_type(w->type);
  g.a = w->data;
  g.lda = mmrt_cuda_stride(w, 1);
  g.b = x->data;
  g.ldb = mmrt_cuda_stride(x, 1);
  g.c = static_cast<float*>(dst->data);
  g.ldc = mmrt_cuda_stride(dst, 1);
  g.batch = 1;
  g.alpha = 1.0f;
  g.beta = 0.0f;
  g.tf32 = q.math != MMRT_MATH_F32;
  if (g.ab_type != FLOAT_F32 && m > 0 && n > 0 && k > 0) {
    void* xs = nullptr;  // (m, k) packed, w's type
    MMRT_TRY(mmrt_cuda_workspace(q, (size_t)m * (size_t)k * 2, &xs, err));
    convert_params c = {};
    c.x = static_cast<const float*>(x->data);
    c.dst = xs;
    c.n = k;
    c.rows = m;
    c.x_stride = mmrt_cuda_stride(x, 1);
    const unsigned blocks = mmrt_cuda_flat_blocks(m * k);
    MMRT_TRY(g.ab_type == FLOAT_F16
                 ? MMRT_CUDA_LAUNCH(err, convert_kernel<__half>, blocks, FLAT_THREADS, q.stream, c)
                 : MMRT_CUDA_LAUNCH(err, convert_kernel<__nv_bfloat16>, blocks, FLAT_THREADS,
                                    q.stream, c));
    g.b = xs;
    g.ldb = k;
  }
  return mmrt_cuda_gemm(q, g, err);
}
