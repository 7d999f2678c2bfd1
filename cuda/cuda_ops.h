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

// What a launcher needs from the backend.
struct mmrt_cuda_queue {
  cudaStream_t stream;
  int* bad;  // device (3): bad-input report of get_rows, read and cleared by synchronize()
};

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
  X(ATTENTION, attention)

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
