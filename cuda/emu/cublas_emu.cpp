// cublas_emu.cpp — the subset of cuBLAS that mmrt's GEMM wrapper calls, for the emulator build:
// handles, streams, pointer and math modes, cublasSgemm, cublasSgemmStridedBatched, cublasGemmEx,
// cublasGemmStridedBatchedEx, cublasGetStatusName/String. The functions are defined against the
// toolkit's own cublas_v2.h, so the prototypes and enums are cuBLAS's; code that calls cuBLAS
// links against mmrt::cuda_emu instead of libcublas.
//
// Contract: cuBLAS's documented semantics, exactly where they are documented —
//   C = alpha * op(A) * op(B) + beta * C on column-major storage, op(X) = X (N) or X^T (T, and C,
//   which is the same for real types); A is lda x k (N) or lda x m (T) with lda >= max(1, m) resp.
//   max(1, k); B is ldb x n (N) or ldb x k (T) with ldb >= max(1, k) resp. max(1, n); C is ldc x n
//   with ldc >= max(1, m); batch i uses A + i*strideA, B + i*strideB, C + i*strideC (elements);
//   beta == 0 means C is not read (NaN in C does not propagate); only the m x n entries of C are
//   written, never the padding rows between m and ldc.
// Arguments cuBLAS rejects are rejected with its status: a NULL (or destroyed) handle →
// CUBLAS_STATUS_NOT_INITIALIZED; negative m/n/k/batchCount, a transpose outside {N, T, C}, a
// leading dimension below its minimum, NULL alpha/beta, NULL C when C is written →
// CUBLAS_STATUS_INVALID_VALUE; type/compute-type/algo combinations outside cuBLAS's table (or
// outside what this file implements: 16F/64F/32I compute, complex, 8-bit types) →
// CUBLAS_STATUS_NOT_SUPPORTED. Validation comes first, so m == 0 with lda == 0 is still invalid.
//
// What a GPU would only show as a fault is checked too: every matrix the call reads or writes
// (its exact extent, (cols-1)*ld + rows elements per batch) and device-mode alpha/beta must lie
// inside one live cudaMalloc allocation, or the call fails with CUBLAS_STATUS_EXECUTION_FAILED and
// a message (mmrt_emu_last_error_message()) naming the function, the operand and the batch; the
// failed device access also leaves cudaErrorInvalidValue pending for cudaGetLastError, as a faulting
// kernel leaves an error on the GPU. Argument errors leave the CUDA error state alone (only the
// message is set). Host code reaches device memory only through cudaMemcpy, whose allocation
// tracking does the check.
//
// Numerics: inputs are converted to f32 (exact for f16/bf16), rounded first when the compute type
// or math mode allows reduced-precision inputs (TF32: 10-bit mantissa, round to nearest, ties away
// from zero as PTX cvt.rna.tf32.f32; FAST_16F/FAST_16BF: f16/bf16, round to nearest even), then
// multiplied and accumulated in f32 — k split into 8 interleaved partial sums, added pairwise at
// the end — and alpha * acc + beta * C is formed in f32 and rounded once to C's type. f32, not f64:
// cuBLAS's COMPUTE_32F accumulates in f32 on the GPU, so a tolerance that holds here holds there;
// an f64 emulation would be more accurate than the GPU and hide tolerances that are too tight.
// When alpha == 0 or k == 0, A and B are not read (as reference BLAS: NaN in them does not
// propagate). TF32 is used only when asked for: CUBLAS_COMPUTE_32F_FAST_TF32, or the math mode
// CUBLAS_TF32_TENSOR_OP_MATH with f32 inputs and CUBLAS_COMPUTE_32F (what cublasSgemm uses).
//
// Thread-safety: handles may be used from several threads, each handle by one thread at a time (as
// cuBLAS). Every call is synchronous: the result is in C when it returns.
#include <cublas_v2.h>

#include "emu_internal.h"

#include <algorithm>
#include <mutex>
#include <set>
#include <vector>

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
  cublasMath_t math_mode = CUBLAS_DEFAULT_MATH;
};

namespace {

using mmrt_emu::format;

struct handle_registry {
  std::mutex m;
  std::set<const cublasContext*> live;
};
handle_registry& handles() {
  static handle_registry r;
  return r;
}

// A destroyed handle is rejected like a NULL one instead of being used after free.
bool handle_ok(cublasHandle_t h) {
  if (!h) return false;
  std::lock_guard lk(handles().m);
  return handles().live.count(h) != 0;
}

// Keeps the CUDA error code as it is and sets the emulator's message (argument errors in cuBLAS do
// not touch the CUDA runtime's error state).
cublasStatus_t fail(cublasStatus_t status, const std::string& msg) {
  mmrt_emu::record_error(cudaPeekAtLastError(), msg);
  return status;
}

enum class input_round { none, tf32, f16, bf16 };

size_t type_bytes(cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; }

const char* type_name(cudaDataType t) {
  switch (t) {
    case CUDA_R_32F: return "CUDA_R_32F";
    case CUDA_R_16F: return "CUDA_R_16F";
    case CUDA_R_16BF: return "CUDA_R_16BF";
    default: return "an unsupported cudaDataType";
  }
}

float load(const unsigned char* base, cudaDataType t, size_t i) {
  if (t == CUDA_R_32F) {
    float f;
    memcpy(&f, base + 4 * i, 4);
    return f;
  }
  unsigned short bits;
  memcpy(&bits, base + 2 * i, 2);
  if (t == CUDA_R_16F) {
    __half_raw r;
    r.x = bits;
    return __half2float(__half(r));
  }
  __nv_bfloat16_raw r;
  r.x = bits;
  return __bfloat162float(__nv_bfloat16(r));
}

void store(unsigned char* base, cudaDataType t, size_t i, float v) {
  if (t == CUDA_R_32F) {
    memcpy(base + 4 * i, &v, 4);
    return;
  }
  unsigned short bits;
  if (t == CUDA_R_16F) {
    const __half_raw r = __float2half_rn(v);
    bits = r.x;
  } else {
    const __nv_bfloat16_raw r = __float2bfloat16_rn(v);
    bits = r.x;
  }
  memcpy(base + 2 * i, &bits, 2);
}

// TF32 keeps f32's sign and exponent and the top 10 mantissa bits. Round to nearest, ties away
// from zero (cvt.rna.tf32.f32): add half of the dropped range to the magnitude, then truncate; a
// carry into the exponent is the correct rounding, up to infinity. NaN and infinity pass through.
float round_tf32(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) {
    u += 0x1000u;
    u &= 0xffffe000u;
  }
  memcpy(&x, &u, 4);
  return x;
}

float round_input(float x, input_round r) {
  switch (r) {
    case input_round::none: return x;
    case input_round::tf32: return round_tf32(x);
    case input_round::f16: return __half2float(__float2half_rn(x));
    case input_round::bf16: return __bfloat162float(__float2bfloat16_rn(x));
  }
  return x;
}

// Sum over p < k of a[p] * b[p] in f32, in 8 interleaved partial sums added pairwise (a fixed,
// documented order; the compiler vectorises the 8 lanes without reassociating anything).
float dot(const float* a, const float* b, int k) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int p = 0;
  for (; p + 8 <= k; p += 8)
    for (int l = 0; l < 8; ++l) s[l] += a[p + l] * b[p + l];
  for (int l = 0; p < k; ++p, ++l) s[l] += a[p] * b[p];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

struct gemm_args {
  const char* fn;
  cublasHandle_t handle;
  cublasOperation_t transa, transb;
  int m, n, k;
  const void* alpha;
  const void* A;
  cudaDataType a_type;
  int lda;
  long long stride_a;
  const void* B;
  cudaDataType b_type;
  int ldb;
  long long stride_b;
  const void* beta;
  void* C;
  cudaDataType c_type;
  int ldc;
  long long stride_c;
  int batch;
  cublasComputeType_t compute;
  cublasGemmAlgo_t algo;
};

bool op_ok(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; }

bool algo_ok(cublasGemmAlgo_t a) {
  const int v = (int)a;
  return v == CUBLAS_GEMM_DEFAULT || (v >= CUBLAS_GEMM_ALGO0 && v <= CUBLAS_GEMM_ALGO23) ||
         (v >= CUBLAS_GEMM_DEFAULT_TENSOR_OP && v <= CUBLAS_GEMM_ALGO15_TENSOR_OP) ||
         v == CUBLAS_GEMM_AUTOTUNE;
}

// The rows of cuBLAS's cublasGemmEx type table this file implements (all with f32 alpha/beta):
//   COMPUTE_32F, COMPUTE_32F_PEDANTIC: A = B = 32F, C = 32F; A = B = 16F, C = 16F or 32F;
//                                      A = B = 16BF, C = 16BF or 32F
//   COMPUTE_32F_FAST_16F/_16BF/_TF32:  A = B = C = 32F
// Sets `round` to what the compute type and math mode allow for the inputs.
bool types_ok(const gemm_args& g, cublasMath_t math, input_round* round) {
  const bool f32 = g.a_type == CUDA_R_32F && g.b_type == CUDA_R_32F && g.c_type == CUDA_R_32F;
  *round = input_round::none;
  switch (g.compute) {
    case CUBLAS_COMPUTE_32F:
    case CUBLAS_COMPUTE_32F_PEDANTIC:
      if (g.a_type != g.b_type) return false;
      if (g.a_type == CUDA_R_32F) {
        if (g.c_type != CUDA_R_32F) return false;
        if (g.compute == CUBLAS_COMPUTE_32F) {
          const int base = (int)math & ~(int)CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
          if (base == CUBLAS_TF32_TENSOR_OP_MATH) *round = input_round::tf32;
          if (base == CUBLAS_TENSOR_OP_MATH) *round = input_round::f16;  // deprecated = FAST_16F
        }
        return true;
      }
      if (g.a_type == CUDA_R_16F || g.a_type == CUDA_R_16BF)
        return g.c_type == CUDA_R_32F || g.c_type == g.a_type;
      return false;
    case CUBLAS_COMPUTE_32F_FAST_TF32: *round = input_round::tf32; return f32;
    case CUBLAS_COMPUTE_32F_FAST_16F: *round = input_round::f16; return f32;
    case CUBLAS_COMPUTE_32F_FAST_16BF: *round = input_round::bf16; return f32;
    default: return false;
  }
}

// Elements a (rows x cols, leading dimension ld) matrix spans in column-major storage.
size_t span_elems(int rows, int cols, int ld) {
  if (rows == 0 || cols == 0) return 0;
  return (size_t)(cols - 1) * (size_t)ld + (size_t)rows;
}

// Copies `bytes` of device memory at `base + batch * stride * elem` into `out`; false (with the
// message set, status EXECUTION_FAILED) if that range is not inside one live cudaMalloc block.
bool fetch(const gemm_args& g, const char* what, const void* base, long long stride, size_t elem,
           int batch, size_t bytes, std::vector<unsigned char>& out, uintptr_t* addr) {
  long long off;
  const bool overflow = __builtin_mul_overflow(stride, (long long)batch, &off) ||
                        __builtin_mul_overflow(off, (long long)elem, &off);
  *addr = (uintptr_t)base + (uintptr_t)off;  // modular: an out-of-range address fails the copy
  out.resize(bytes);
  if (!overflow && cudaMemcpy(out.data(), (const void*)*addr, bytes, cudaMemcpyDeviceToHost) == cudaSuccess)
    return true;
  mmrt_emu::record_error(cudaErrorInvalidValue,
                         format("%s: %s of batch %d (%p, %zu bytes) is not inside a live cudaMalloc "
                                "allocation (a GPU would fault)",
                                g.fn, what, batch, (const void*)*addr, bytes));
  return false;
}

// Reads alpha or beta (f32 for every compute type implemented here) in the handle's pointer mode.
bool read_scalar(const gemm_args& g, const char* what, const void* p, float* v) {
  if (g.handle->pointer_mode == CUBLAS_POINTER_MODE_HOST) {
    memcpy(v, p, sizeof(float));
    return true;
  }
  std::vector<unsigned char> bytes;
  uintptr_t addr;
  if (!fetch(g, what, p, 0, sizeof(float), 0, sizeof(float), bytes, &addr)) return false;
  memcpy(v, bytes.data(), sizeof(float));
  return true;
}

// op(X) gathered as `outer` rows of k floats: out[o * k + p] = X[o * outer_stride + p * k_stride].
void gather(std::vector<float>& out, const std::vector<unsigned char>& x, cudaDataType t, int outer,
            int k, size_t outer_stride, size_t k_stride, input_round r) {
  out.resize((size_t)outer * (size_t)k);
  for (int o = 0; o < outer; ++o)
    for (int p = 0; p < k; ++p)
      out[(size_t)o * k + p] = round_input(load(x.data(), t, o * outer_stride + p * k_stride), r);
}

cublasStatus_t gemm(const gemm_args& g) {
  if (!handle_ok(g.handle)) return fail(CUBLAS_STATUS_NOT_INITIALIZED, format("%s: invalid handle", g.fn));
  const bool a_n = g.transa == CUBLAS_OP_N, b_n = g.transb == CUBLAS_OP_N;
  const int lda_min = a_n ? std::max(1, g.m) : std::max(1, g.k);
  const int ldb_min = b_n ? std::max(1, g.k) : std::max(1, g.n);
  const int ldc_min = std::max(1, g.m);
  if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0)
    return fail(CUBLAS_STATUS_INVALID_VALUE, format("%s: m %d, n %d, k %d, batchCount %d must not be negative",
                                                    g.fn, g.m, g.n, g.k, g.batch));
  if (!op_ok(g.transa) || !op_ok(g.transb))
    return fail(CUBLAS_STATUS_INVALID_VALUE,
                format("%s: transa %d / transb %d is not CUBLAS_OP_N, _T or _C", g.fn, g.transa, g.transb));
  if (g.lda < lda_min || g.ldb < ldb_min || g.ldc < ldc_min)
    return fail(CUBLAS_STATUS_INVALID_VALUE,
                format("%s: lda %d (min %d), ldb %d (min %d), ldc %d (min %d) for m %d n %d k %d, op %c%c",
                       g.fn, g.lda, lda_min, g.ldb, ldb_min, g.ldc, ldc_min, g.m, g.n, g.k,
                       a_n ? 'N' : 'T', b_n ? 'N' : 'T'));
  if (!g.alpha || !g.beta) return fail(CUBLAS_STATUS_INVALID_VALUE, format("%s: alpha or beta is NULL", g.fn));
  if (!g.C && g.m > 0 && g.n > 0) return fail(CUBLAS_STATUS_INVALID_VALUE, format("%s: C is NULL", g.fn));
  input_round round;
  if (!types_ok(g, g.handle->math_mode, &round) || !algo_ok(g.algo))
    return fail(CUBLAS_STATUS_NOT_SUPPORTED,
                format("%s: A %s, B %s, C %s, computeType %d, algo %d is not supported", g.fn,
                       type_name(g.a_type), type_name(g.b_type), type_name(g.c_type), (int)g.compute,
                       (int)g.algo));
  if (g.m == 0 || g.n == 0 || g.batch == 0) return CUBLAS_STATUS_SUCCESS;
  if (cudaStreamSynchronize(g.handle->stream) != cudaSuccess)
    return fail(CUBLAS_STATUS_EXECUTION_FAILED, format("%s: the handle's stream is not a live stream", g.fn));

  float alpha, beta;
  if (!read_scalar(g, "alpha", g.alpha, &alpha) || !read_scalar(g, "beta", g.beta, &beta))
    return CUBLAS_STATUS_EXECUTION_FAILED;
  const bool use_ab = alpha != 0.0f && g.k > 0;
  const size_t ea = type_bytes(g.a_type), eb = type_bytes(g.b_type), ec = type_bytes(g.c_type);
  // Stored shapes: A is (m x k) for N, (k x m) for T; B is (k x n) for N, (n x k) for T.
  const size_t a_bytes = ea * (a_n ? span_elems(g.m, g.k, g.lda) : span_elems(g.k, g.m, g.lda));
  const size_t b_bytes = eb * (b_n ? span_elems(g.k, g.n, g.ldb) : span_elems(g.n, g.k, g.ldb));
  const size_t c_bytes = ec * span_elems(g.m, g.n, g.ldc);

  std::vector<unsigned char> a_raw, b_raw, c_raw;
  std::vector<float> a_rows, b_cols;  // (m, k) op(A) row by row; (n, k) op(B) column by column
  for (int bi = 0; bi < g.batch; ++bi) {
    uintptr_t c_addr, addr;
    if (!fetch(g, "C", g.C, g.stride_c, ec, bi, c_bytes, c_raw, &c_addr)) return CUBLAS_STATUS_EXECUTION_FAILED;
    if (use_ab) {
      if (!fetch(g, "A", g.A, g.stride_a, ea, bi, a_bytes, a_raw, &addr) ||
          !fetch(g, "B", g.B, g.stride_b, eb, bi, b_bytes, b_raw, &addr))
        return CUBLAS_STATUS_EXECUTION_FAILED;
      // op(A)[i, p] = A[i + p*lda] (N) or A[p + i*lda] (T); op(B)[p, j] = B[p + j*ldb] (N) or B[j + p*ldb] (T)
      gather(a_rows, a_raw, g.a_type, g.m, g.k, a_n ? 1 : g.lda, a_n ? g.lda : 1, round);
      gather(b_cols, b_raw, g.b_type, g.n, g.k, b_n ? g.ldb : 1, b_n ? 1 : g.ldb, round);
    }
    for (int j = 0; j < g.n; ++j) {
      for (int i = 0; i < g.m; ++i) {
        const size_t ci = (size_t)i + (size_t)j * g.ldc;
        const float acc = use_ab ? dot(&a_rows[(size_t)i * g.k], &b_cols[(size_t)j * g.k], g.k) : 0.0f;
        float r = alpha * acc;
        if (beta != 0.0f) r += beta * load(c_raw.data(), g.c_type, ci);  // beta == 0: C is not read
        store(c_raw.data(), g.c_type, ci, r);
      }
    }
    // Padding rows were copied in and go back unchanged: only the m x n entries differ.
    if (cudaMemcpy((void*)c_addr, c_raw.data(), c_bytes, cudaMemcpyHostToDevice) != cudaSuccess)
      return fail(CUBLAS_STATUS_EXECUTION_FAILED, format("%s: writing C of batch %d failed", g.fn, bi));
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

// ---- context -----------------------------------------------------------------------------------
// cublas_v2.h maps cublasCreate, cublasDestroy, cublasSetStream, ... to these _v2 symbols.

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  if (!handle) return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasCreate: handle is NULL");
  *handle = new cublasContext;
  std::lock_guard lk(handles().m);
  handles().live.insert(*handle);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  {
    std::lock_guard lk(handles().m);
    if (!handle || !handles().live.erase(handle))
      return fail(CUBLAS_STATUS_NOT_INITIALIZED, "cublasDestroy: invalid handle");
  }
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle_ok(handle)) return fail(CUBLAS_STATUS_NOT_INITIALIZED, "cublasSetStream: invalid handle");
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetStream_v2(cublasHandle_t handle, cudaStream_t* stream) {
  if (!handle_ok(handle)) return fail(CUBLAS_STATUS_NOT_INITIALIZED, "cublasGetStream: invalid handle");
  if (!stream) return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasGetStream: streamId is NULL");
  *stream = handle->stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t* mode) {
  if (!handle_ok(handle)) return fail(CUBLAS_STATUS_NOT_INITIALIZED, "cublasGetPointerMode: invalid handle");
  if (!mode) return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasGetPointerMode: mode is NULL");
  *mode = handle->pointer_mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode) {
  if (!handle_ok(handle)) return fail(CUBLAS_STATUS_NOT_INITIALIZED, "cublasSetPointerMode: invalid handle");
  if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE)
    return fail(CUBLAS_STATUS_INVALID_VALUE, format("cublasSetPointerMode: mode %d", (int)mode));
  handle->pointer_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
  if (!handle_ok(handle)) return fail(CUBLAS_STATUS_NOT_INITIALIZED, "cublasGetMathMode: invalid handle");
  if (!mode) return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasGetMathMode: mode is NULL");
  *mode = handle->math_mode;
  return CUBLAS_STATUS_SUCCESS;
}

// One of the cublasMath_t modes, optionally or-ed with CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION.
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!handle_ok(handle)) return fail(CUBLAS_STATUS_NOT_INITIALIZED, "cublasSetMathMode: invalid handle");
  const int base = (int)mode & ~(int)CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
  switch (base) {
    case CUBLAS_DEFAULT_MATH:
    case CUBLAS_TENSOR_OP_MATH:
    case CUBLAS_PEDANTIC_MATH:
    case CUBLAS_TF32_TENSOR_OP_MATH:
    case CUBLAS_FP32_EMULATED_BF16X9_MATH:
    case CUBLAS_FP64_EMULATED_FIXEDPOINT_MATH: break;
    default: return fail(CUBLAS_STATUS_INVALID_VALUE, format("cublasSetMathMode: mode %d", (int)mode));
  }
  handle->math_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

// ---- status ------------------------------------------------------------------------------------
// The texts are cuBLAS 13.1's own (libcublasLt).

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "unrecognized status";
}

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an unsupported value or parameter was passed to the function";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "the function requires an architectural feature absent from the device";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the function failed to launch on the GPU";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the requested functionality is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "the license check failed";
  }
  return "unrecognized status";
}

// ---- GEMM --------------------------------------------------------------------------------------

cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                              int m, int n, int k, const float* alpha, const float* A, int lda,
                              const float* B, int ldb, const float* beta, float* C, int ldc) {
  return gemm({"cublasSgemm", handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, 0, B,
               CUDA_R_32F, ldb, 0, beta, C, CUDA_R_32F, ldc, 0, 1, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT});
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k, const float* alpha,
                                         const float* A, int lda, long long int strideA, const float* B,
                                         int ldb, long long int strideB, const float* beta, float* C,
                                         int ldc, long long int strideC, int batchCount) {
  return gemm({"cublasSgemmStridedBatched", handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda,
               strideA, B, CUDA_R_32F, ldb, strideB, beta, C, CUDA_R_32F, ldc, strideC, batchCount,
               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT});
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                            int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                            int lda, const void* B, cudaDataType Btype, int ldb, const void* beta,
                            void* C, cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                            cublasGemmAlgo_t algo) {
  return gemm({"cublasGemmEx", handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype,
               ldb, 0, beta, C, Ctype, ldc, 0, 1, computeType, algo});
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                          cublasOperation_t transb, int m, int n, int k, const void* alpha,
                                          const void* A, cudaDataType Atype, int lda, long long int strideA,
                                          const void* B, cudaDataType Btype, int ldb, long long int strideB,
                                          const void* beta, void* C, cudaDataType Ctype, int ldc,
                                          long long int strideC, int batchCount,
                                          cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  return gemm({"cublasGemmStridedBatchedEx", handle, transa, transb, m, n, k, alpha, A, Atype, lda,
               strideA, B, Btype, ldb, strideB, beta, C, Ctype, ldc, strideC, batchCount, computeType,
               algo});
}
