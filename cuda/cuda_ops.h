// cuda_ops.h — what the CUDA backend's launchers share (internal, C++; included by cuda/*.cu only).
//
// Each op has one launcher, `mmrt_cuda_<op>(op, queue, err)`, in the cuda/*.cu file named after its
// kernel header in cuda/kernels/. Launchers assume cuda_backend.cu's supports_op() accepted the op
// (dtypes, rows contiguous, strides whole elements, every pointer device memory of this backend):
// they translate the mmrt_op into the kernel's params struct, launch on the queue's stream and map
// a launch failure to MMRT_ERR_BACKEND naming the kernel.
#pragma once

// core/ headers are C11 without C++ guards (core/error.h spells mmrt_abort's [[noreturn]] for C++).
extern "C" {
#include "core/backend.h"
}
#include "cuda_backend.h"

#include "kernels/common.cuh"
#include "kernels/quant.cuh"

// Device scratch of one backend, grown on demand (see mmrt_cuda_workspace).
struct mmrt_cuda_scratch {
  void* ptr;
  size_t bytes;
  void* owner;  // the backend's context (its cached buffers go back to the device before an OOM)
};

// Which kernel filled the bad-input report q.bad: [0] this code, [1] the bad index, [2] the bound.
enum mmrt_cuda_bad : int { MMRT_CUDA_BAD_GET_ROWS = 1, MMRT_CUDA_BAD_SCATTER_ROWS = 2 };

// What a launcher needs from the backend.
struct mmrt_cuda_queue {
  cudaStream_t stream;
  int* bad;       // device (3): bad-input report (mmrt_cuda_bad), read and cleared by synchronize()
  void* blas;     // the cublasHandle_t bound to stream
  mmrt_math math; // the arithmetic mmrt_backend_params asked for (INT8: BF16, and int8 set)
  bool int8;      // MMRT_MATH_INT8: MATMUL on block-format weights as llama.cpp (quant_matmul.cu)
  mmrt_cuda_scratch* scratch;
};

// At least `bytes` of device scratch for the op being launched, valid until the next call (on the
// same stream, so kernels queued earlier that use the old scratch finish first: growing frees it
// with cudaFree, which waits for them). MMRT_ERR_OOM names the size.
mmrt_status mmrt_cuda_workspace(const mmrt_cuda_queue& q, size_t bytes, void** out,
                                mmrt_error* err);

// One GEMM, or a strided batch of them, on q's cuBLAS handle (so on q.stream), in cuBLAS's
// column-major terms. For each i < batch:
//   C_i (m x n) = alpha · op(A_i) · op(B_i) + beta · C_i,   op(X) = Xᵀ when trans_X, else X;
//   A_i = a + i · stride_a elements, stored lda x k (lda x m when trans_a); B_i likewise, ldb x n
//   (ldb x k when trans_b); C_i = c + i · stride_c, ldc x n. beta == 0: C is not read.
// A row-major (rows, cols) matrix with row stride ld is the column-major (cols x rows) one with
// leading dimension ld, its transpose: row-major D = X · Wᵀ is column-major Dᵀ = W · Xᵀ, so
// a = W with trans_a, b = X without (mmrt_cuda_matmul in cuda/matmul.cu).
// A and B are one of f32/f16/bf16 (ab_type), C is f32. Products are exact and sums f32
// (CUBLAS_COMPUTE_32F), except that tf32 lets f32 inputs be rounded to TF32
// (CUBLAS_COMPUTE_32F_FAST_TF32). A leading dimension that addresses nothing (a stored matrix of
// one column, or of no rows) is replaced by cuBLAS's minimum, so single-row views need no care.
// Errors: a size, leading dimension, stride or batch cuBLAS cannot take (above INT_MAX, negative)
// → MMRT_ERR_UNSUPPORTED; cuBLAS out of memory → MMRT_ERR_OOM; any other cuBLAS failure →
// MMRT_ERR_BACKEND naming the call, the shape and cublasGetStatusString.
struct mmrt_cuda_gemm_params {
  bool trans_a, trans_b;
  int64_t m, n, k;
  float_type ab_type;
  const void* a;
  int64_t lda, stride_a;
  const void* b;
  int64_t ldb, stride_b;
  float* c;
  int64_t ldc, stride_c;
  int64_t batch;  // GEMMs to run; 1 for a single one (then the strides are unused)
  float alpha, beta;
  bool tf32;
};
mmrt_status mmrt_cuda_gemm(const mmrt_cuda_queue& q, const mmrt_cuda_gemm_params& p,
                           mmrt_error* err);

typedef mmrt_status (*mmrt_cuda_op_fn)(const mmrt_op* op, const mmrt_cuda_queue& q,
                                       mmrt_error* err);

#define MMRT_CUDA_OPS(X)    \
  X(GET_ROWS, get_rows)     \
  X(MATMUL, matmul)         \
  X(RMS_NORM, rms_norm)     \
  X(LAYER_NORM, layer_norm) \
  X(ROPE, rope)             \
  X(SOFTMAX, softmax)       \
  X(SILU_MUL, silu_mul)     \
  X(ADD, add)               \
  X(MUL, mul)               \
  X(SCALE, scale)           \
  X(GELU, gelu)             \
  X(GELU_TANH, gelu_tanh)   \
  X(ADD_BIAS, add_bias)     \
  X(ARGMAX, argmax)         \
  X(ATTENTION, attention)   \
  X(PATCHIFY, patchify)     \
  X(PIXEL_SHUFFLE, pixel_shuffle) \
  X(SCATTER_ROWS, scatter_rows) \
  X(SAMPLE, sample)         \
  X(SILU, silu)             \
  X(GLU, glu)               \
  X(CONV1D_DW, conv1d_dw)   \
  X(REL_POS_BIAS, rel_pos_bias) \
  X(CONVERT, convert)

#define MMRT_CUDA_DECLARE(KIND, name) \
  mmrt_status mmrt_cuda_##name(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err);
MMRT_CUDA_OPS(MMRT_CUDA_DECLARE)
#undef MMRT_CUDA_DECLARE

// MMRT_ERR_BACKEND "CUDA kernel <name>: <message>" when the last launch failed, else MMRT_OK.
mmrt_status mmrt_cuda_check_launch(const char* kernel, mmrt_error* err);

// Launches kernel (no dynamic shared memory) and checks it. A stale error of an earlier runtime
// call is cleared first so that it is never blamed on this kernel. Evaluates to an mmrt_status.
#define MMRT_CUDA_LAUNCH(err, kernel, grid, block, stream, ...)                        \
  ((void)cudaGetLastError(), MMRT_LAUNCH(kernel, grid, block, 0, stream, __VA_ARGS__), \
   mmrt_cuda_check_launch(#kernel, err))

// MATMUL (cuda/matmul.cu) and GET_ROWS (cuda/get_rows.cu) hand block-format weights to these
// (cuda/quant_matmul.cu).
mmrt_status mmrt_cuda_matmul_quant(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err);
mmrt_status mmrt_cuda_get_rows_quant(const mmrt_op* op, const mmrt_cuda_queue& q,
                                     mmrt_error* err);

// The kernels' quant_type of a block-format dtype; -1 for the others.
inline int mmrt_cuda_quant_type(mmrt_dtype t) {
  switch (t) {
    case MMRT_Q8_0: return QUANT_Q8_0;
    case MMRT_Q4_0: return QUANT_Q4_0;
    case MMRT_Q4_1: return QUANT_Q4_1;
    case MMRT_Q5_0: return QUANT_Q5_0;
    case MMRT_Q5_1: return QUANT_Q5_1;
    case MMRT_Q4_K: return QUANT_Q4_K;
    case MMRT_Q5_K: return QUANT_Q5_K;
    case MMRT_Q6_K: return QUANT_Q6_K;
    default: return -1;
  }
}

inline float_type mmrt_cuda_float_type(mmrt_dtype t) {
  return t == MMRT_F16 ? FLOAT_F16 : t == MMRT_BF16 ? FLOAT_BF16 : FLOAT_F32;
}

// Stride of dimension dim in elements (supports_op checked that it divides).
inline int64_t mmrt_cuda_stride(const mmrt_tensor* t, int dim) {
  return (int64_t)(t->nb[dim] / mmrt_dtype_size(t->type));
}

// Threads for a one-block-per-row kernel: whole warps, no more than the row needs.
inline unsigned mmrt_cuda_row_threads(int64_t d) {
  const int64_t warps = (d + 31) / 32;
  return (unsigned)(warps * 32 >= ROW_THREADS_MAX ? ROW_THREADS_MAX
                                                  : (warps < 1 ? 32 : warps * 32));
}

// Blocks for a flat grid-stride kernel over n items (n > 0).
inline unsigned mmrt_cuda_flat_blocks(int64_t n) {
  const int64_t b = (n + FLAT_THREADS - 1) / FLAT_THREADS;
  return (unsigned)(b < FLAT_BLOCKS_MAX ? b : FLAT_BLOCKS_MAX);
}
