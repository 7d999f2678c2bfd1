// test_cublas.cpp — the emulated cuBLAS (cublas_emu.cpp) against cuBLAS's documented definitions:
// C = alpha * op(A) * op(B) + beta * C on column-major storage with padded leading dimensions,
// checked against a plain fp64 triple loop written from that definition; padding and gaps between
// batches must stay bit-identical; every documented invalid argument returns cuBLAS's status.
// No kernels are launched, so the area runs in one scheduling order.
#include <cublas_v2.h>

#include "emu_test.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <vector>

namespace {

// ---- host-side data in the three element types ---------------------------------------------------

size_t elem_bytes(cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; }

float to_float(const std::vector<unsigned char>& buf, cudaDataType t, size_t i) {
  if (t == CUDA_R_32F) {
    float f;
    memcpy(&f, &buf[4 * i], 4);
    return f;
  }
  uint16_t bits;
  memcpy(&bits, &buf[2 * i], 2);
  if (t == CUDA_R_16F) {
    __half_raw r;
    r.x = bits;
    return __half2float(__half(r));
  }
  __nv_bfloat16_raw r;
  r.x = bits;
  return __bfloat162float(__nv_bfloat16(r));
}

void from_float(std::vector<unsigned char>& buf, cudaDataType t, size_t i, float v) {
  if (t == CUDA_R_32F) {
    memcpy(&buf[4 * i], &v, 4);
    return;
  }
  uint16_t bits;
  if (t == CUDA_R_16F) {
    const __half_raw r = __float2half_rn(v);
    bits = r.x;
  } else {
    const __nv_bfloat16_raw r = __float2bfloat16_rn(v);
    bits = r.x;
  }
  memcpy(&buf[2 * i], &bits, 2);
}

struct rng {
  uint64_t s;
  // Uniform in [-1, 1) with a full 24-bit mantissa (so TF32/f16/bf16 rounding changes most values).
  float next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(s >> 40) / (double)(1ull << 23) - 1.0);
  }
};

// ---- the reference, from the documented definition ---------------------------------------------

enum class ref_round { none, tf32, f16, bf16 };

// TF32 = 10 explicit mantissa bits; nearest, ties away from zero (round()): written independently
// of the emulator's bit trick.
double round_ref(double x, ref_round r) {
  switch (r) {
    case ref_round::none: return x;
    case ref_round::tf32: {
      if (x == 0 || !isfinite(x)) return x;
      int e;
      const double mant = frexp(x, &e);  // |mant| in [0.5, 1): 11 significant bits = 2^11 steps
      return ldexp(round(mant * 2048.0), e - 11);
    }
    case ref_round::f16: return __half2float(__float2half_rn((float)x));
    case ref_round::bf16: return __bfloat162float(__float2bfloat16_rn((float)x));
  }
  return x;
}

// Stored extent of a rows x cols column-major matrix with leading dimension ld.
size_t span(int rows, int cols, int ld) { return rows && cols ? (size_t)(cols - 1) * ld + rows : 0; }

struct gemm_case {
  cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
  int m = 1, n = 1, k = 1;
  int pad = 3;  // ld = (stored rows) + pad
  cudaDataType ab_type = CUDA_R_32F, c_type = CUDA_R_32F;
  bool ex = false;  // cublasGemmEx / cublasGemmStridedBatchedEx instead of cublasSgemm*
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  ref_round round = ref_round::none;
  float alpha = 1.25f, beta = -0.5f;
  int batch = 1;  // > 1: the strided-batched entry point
  long long gap = 0;  // elements between consecutive batches beyond the matrix extent
  bool broadcast_a = false;  // strideA = 0
  bool nan_c = false;        // C (and its padding) all NaN
  uint64_t seed = 1;
  bool quiet = false;  // a mismatch is the expected outcome: do not log it
};

const char* op_name(cublasOperation_t op) { return op == CUBLAS_OP_N ? "N" : op == CUBLAS_OP_T ? "T" : "C"; }

struct operand {
  int rows, cols, ld;
  size_t span_elems;
  long long stride;
  std::vector<unsigned char> host;
  void* dev = nullptr;
};

operand make_operand(int rows, int cols, int pad, cudaDataType t, int batch, long long gap, bool broadcast,
                     rng& r, bool nan) {
  operand o;
  o.rows = rows;
  o.cols = cols;
  o.ld = rows + pad > 0 ? rows + pad : 1;
  o.span_elems = span(rows, cols, o.ld);
  o.stride = broadcast ? 0 : (long long)o.span_elems + gap;
  // Exactly the bytes the batches span: one element more read by the emulator fails the call.
  const size_t total = o.span_elems ? (size_t)(o.stride * (batch - 1)) + o.span_elems : 1;
  o.host.resize(total * elem_bytes(t));
  for (size_t i = 0; i < total; ++i) from_float(o.host, t, i, nan ? NAN : r.next());
  o.dev = emu_upload(o.host);
  return o;
}

cublasStatus_t call_gemm(cublasHandle_t h, const gemm_case& c, const operand& a, const operand& b, operand& cc) {
  const float* A = (const float*)a.dev;
  const float* B = (const float*)b.dev;
  float* C = (float*)cc.dev;
  if (!c.ex && c.batch == 1)
    return cublasSgemm(h, c.ta, c.tb, c.m, c.n, c.k, &c.alpha, A, a.ld, B, b.ld, &c.beta, C, cc.ld);
  if (!c.ex)
    return cublasSgemmStridedBatched(h, c.ta, c.tb, c.m, c.n, c.k, &c.alpha, A, a.ld, a.stride, B, b.ld,
                                     b.stride, &c.beta, C, cc.ld, cc.stride, c.batch);
  if (c.batch == 1)
    return cublasGemmEx(h, c.ta, c.tb, c.m, c.n, c.k, &c.alpha, A, c.ab_type, a.ld, B, c.ab_type, b.ld,
                        &c.beta, C, c.c_type, cc.ld, c.compute, CUBLAS_GEMM_DEFAULT);
  return cublasGemmStridedBatchedEx(h, c.ta, c.tb, c.m, c.n, c.k, &c.alpha, A, c.ab_type, a.ld, a.stride, B,
                                    c.ab_type, b.ld, b.stride, &c.beta, C, c.c_type, cc.ld, cc.stride,
                                    c.batch, c.compute, CUBLAS_GEMM_DEFAULT);
}

// Runs one case and returns the number of wrong elements (logging the first few). The reference:
//   C[i + j*ldc] = alpha * sum_p op(A)[i,p] * op(B)[p,j] + beta * C[i + j*ldc]   (beta == 0: C not read)
//   op(A)[i,p] = A[i + p*lda] for N, A[p + i*lda] for T and C;  op(B)[p,j] likewise with ldb.
// Bound per element: f32 accumulation in any order is within k*u*sum|a*b| (u = 2^-24), plus the
// alpha product, the beta product and the final add; twice that, plus half an ulp of C's type.
size_t run_case(cublasHandle_t h, const gemm_case& c) {
  rng r{c.seed};
  const bool an = c.ta == CUBLAS_OP_N, bn = c.tb == CUBLAS_OP_N;
  operand a = make_operand(an ? c.m : c.k, an ? c.k : c.m, c.pad, c.ab_type, c.batch, c.gap, c.broadcast_a, r, false);
  operand b = make_operand(bn ? c.k : c.n, bn ? c.n : c.k, c.pad + 1, c.ab_type, c.batch, c.gap + 2, false, r, false);
  operand cc = make_operand(c.m, c.n, c.pad + 2, c.c_type, c.batch, c.gap + 1, false, r, c.nan_c);

  const cublasStatus_t st = call_gemm(h, c, a, b, cc);
  cr_assert_eq(st, CUBLAS_STATUS_SUCCESS, "%s: %s", cublasGetStatusName(st), mmrt_emu_last_error_message());
  const std::vector<unsigned char> got = emu_download((const unsigned char*)cc.dev, cc.host.size());

  const double u = ldexp(1.0, -24);
  const double out_ulp = c.c_type == CUDA_R_32F ? 0 : c.c_type == CUDA_R_16F ? ldexp(1.0, -11) : ldexp(1.0, -8);
  std::vector<bool> is_entry(cc.host.size() / elem_bytes(c.c_type), false);
  size_t bad = 0;
  for (int bi = 0; bi < c.batch; ++bi) {
    const size_t a0 = (size_t)(a.stride * bi), b0 = (size_t)(b.stride * bi), c0 = (size_t)(cc.stride * bi);
    for (int j = 0; j < c.n; ++j) {
      for (int i = 0; i < c.m; ++i) {
        double sum = 0, mag = 0;
        for (int p = 0; p < c.k; ++p) {
          const size_t ai = a0 + (an ? (size_t)i + (size_t)p * a.ld : (size_t)p + (size_t)i * a.ld);
          const size_t bj = b0 + (bn ? (size_t)p + (size_t)j * b.ld : (size_t)j + (size_t)p * b.ld);
          const double prod = round_ref(to_float(a.host, c.ab_type, ai), c.round) *
                              round_ref(to_float(b.host, c.ab_type, bj), c.round);
          sum += prod;
          mag += fabs(prod);
        }
        const size_t ci = c0 + (size_t)i + (size_t)j * cc.ld;
        is_entry[ci] = true;
        double want = (double)c.alpha * sum, bound_mag = fabs((double)c.alpha) * mag;
        if (c.beta != 0) {
          const double old = to_float(cc.host, c.c_type, ci);
          want += (double)c.beta * old;
          bound_mag += fabs((double)c.beta * old);
        }
        const double bound = 2 * (c.k + 4) * u * bound_mag + out_ulp * fabs(want) + 1e-30;
        const double g = to_float(got, c.c_type, ci);
        if (!(fabs(g - want) <= bound)) {
          if (bad < 5 && !c.quiet)
            cr_log_error("op %s%s m %d n %d k %d batch %d: C[%d + %d*ldc] want %.9g got %.9g (bound %.3g)",
                         op_name(c.ta), op_name(c.tb), c.m, c.n, c.k, bi, i, j, want, g, bound);
          ++bad;
        }
      }
    }
  }
  // Padding rows, gaps between batches: untouched, bit for bit.
  const size_t eb = elem_bytes(c.c_type);
  for (size_t e = 0; e < is_entry.size(); ++e) {
    if (is_entry[e] || memcmp(&got[e * eb], &cc.host[e * eb], eb) == 0) continue;
    if (bad < 5) cr_log_error("op %s%s m %d n %d k %d: C element %zu outside the m x n entries changed",
                              op_name(c.ta), op_name(c.tb), c.m, c.n, c.k, e);
    ++bad;
  }
  cudaFree(a.dev);
  cudaFree(b.dev);
  cudaFree(cc.dev);
  return bad;
}

const int sizes[] = {1, 3, 17, 64};
const cublasOperation_t ops_all[] = {CUBLAS_OP_N, CUBLAS_OP_T, CUBLAS_OP_C};
const cublasOperation_t ops_real[] = {CUBLAS_OP_N, CUBLAS_OP_T};

cublasHandle_t new_handle() {
  cublasHandle_t h = nullptr;
  cr_assert_eq(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  return h;
}

// Runs `base` for every transpose pair in `ops` and every m, n, k in `sizes`; asserts all pass.
template <size_t N>
void sweep(cublasHandle_t h, gemm_case base, const cublasOperation_t (&ops)[N], const char* what) {
  size_t bad_cases = 0, n_cases = 0;
  for (cublasOperation_t ta : ops)
    for (cublasOperation_t tb : ops)
      for (int m : sizes)
        for (int n : sizes)
          for (int k : sizes) {
            gemm_case c = base;
            c.ta = ta;
            c.tb = tb;
            c.m = m;
            c.n = n;
            c.k = k;
            c.pad = (m + n + k) % 4;  // 0..3 padding rows, tight leading dimensions included
            c.seed = ++n_cases;
            if (run_case(h, c)) ++bad_cases;
          }
  cr_assert_eq(bad_cases, 0u, "%s: %zu of %zu cases wrong", what, bad_cases, n_cases);
}

}  // namespace

// ---- results --------------------------------------------------------------------------------------

Test(cublas, sgemm_every_transpose_and_odd_sizes) {
  cublasHandle_t h = new_handle();
  sweep(h, gemm_case{}, ops_all, "cublasSgemm");
  cublasDestroy(h);
}

Test(cublas, gemm_ex_f32_every_transpose_and_odd_sizes) {
  cublasHandle_t h = new_handle();
  gemm_case c;
  c.ex = true;
  sweep(h, c, ops_all, "cublasGemmEx f32");
  c.compute = CUBLAS_COMPUTE_32F_PEDANTIC;
  sweep(h, c, ops_real, "cublasGemmEx f32 pedantic");
  cublasDestroy(h);
}

Test(cublas, gemm_ex_bf16_f16_inputs) {
  cublasHandle_t h = new_handle();
  for (cudaDataType t : {CUDA_R_16BF, CUDA_R_16F}) {
    for (cudaDataType ct : {CUDA_R_32F, t}) {
      gemm_case c;
      c.ex = true;
      c.ab_type = t;
      c.c_type = ct;
      sweep(h, c, ops_real, t == CUDA_R_16BF ? "cublasGemmEx bf16" : "cublasGemmEx f16");
    }
  }
  cublasDestroy(h);
}

Test(cublas, strided_batches) {
  cublasHandle_t h = new_handle();
  const int shapes[][3] = {{3, 17, 5}, {17, 3, 64}, {64, 1, 17}, {1, 1, 1}};
  size_t bad = 0, n_cases = 0;
  for (const auto& s : shapes)
    for (cublasOperation_t ta : ops_real)
      for (cublasOperation_t tb : ops_real)
        for (int variant = 0; variant < 4; ++variant) {
          gemm_case c;
          c.ta = ta;
          c.tb = tb;
          c.m = s[0];
          c.n = s[1];
          c.k = s[2];
          c.batch = 3 + variant % 2;
          c.gap = variant * 5;  // gaps between batches must stay untouched
          c.broadcast_a = variant == 3;  // strideA = 0: one A for every batch
          c.ex = variant >= 2;
          if (variant == 2) c.ab_type = c.c_type = CUDA_R_16BF;
          c.seed = ++n_cases;
          if (run_case(h, c)) ++bad;
        }
  cr_assert_eq(bad, 0u, "%zu of %zu strided-batched cases wrong", bad, n_cases);
  cublasDestroy(h);
}

Test(cublas, beta_zero_does_not_read_c) {
  cublasHandle_t h = new_handle();
  size_t bad = 0;
  for (int ex = 0; ex < 3; ++ex) {
    gemm_case c;
    c.m = 17;
    c.n = 3;
    c.k = 64;
    c.ta = CUBLAS_OP_T;
    c.beta = 0.0f;
    c.nan_c = true;
    c.ex = ex > 0;
    if (ex == 2) c.ab_type = c.c_type = CUDA_R_16F;
    c.batch = ex == 1 ? 2 : 1;
    bad += run_case(h, c);  // a NaN result is outside every bound
  }
  cr_assert_eq(bad, 0u, "NaN in C leaked through beta == 0");
  cublasDestroy(h);
}

Test(cublas, alpha_zero_or_k_zero_scales_c_only) {
  cublasHandle_t h = new_handle();
  const int m = 5, n = 4, ld = 7;
  std::vector<float> a(ld * 8, NAN), c0(ld * n);
  for (int i = 0; i < ld * n; ++i) c0[i] = (float)(i % 11) - 3.0f;
  float* dA = emu_upload(a);
  float* dC = emu_upload(c0);
  const float zero = 0.0f, two = 2.0f;
  // alpha == 0: A and B (NaN here) are not read, C = beta * C.
  cr_assert_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, 8, &zero, dA, ld, dA, 8, &two, dC, ld),
               CUBLAS_STATUS_SUCCESS);
  std::vector<float> got = emu_download(dC, ld * n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < ld; ++i)
      cr_assert_eq(got[i + j * ld], i < m ? 2.0f * c0[i + j * ld] : c0[i + j * ld], "alpha 0: C[%d,%d] = %g",
                   i, j, (double)got[i + j * ld]);
  // k == 0: the product is empty; A and B may be NULL; C = beta * C.
  cr_assert_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, 0, &two, nullptr, ld, nullptr, 1, &two, dC, ld),
               CUBLAS_STATUS_SUCCESS);
  got = emu_download(dC, ld * n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i)
      cr_assert_eq(got[i + j * ld], 4.0f * c0[i + j * ld], "k 0: C[%d,%d] = %g", i, j, (double)got[i + j * ld]);
  cudaFree(dA);
  cudaFree(dC);
  cublasDestroy(h);
}

// TF32 changes results only when asked for: exact f32 by default, in PEDANTIC and for
// CUBLAS_COMPUTE_32F_PEDANTIC; TF32-rounded inputs with CUBLAS_TF32_TENSOR_OP_MATH (cublasSgemm,
// cublasGemmEx with CUBLAS_COMPUTE_32F) or CUBLAS_COMPUTE_32F_FAST_TF32.
Test(cublas, tf32_only_when_asked) {
  cublasHandle_t h = new_handle();
  gemm_case c;
  c.m = 17;
  c.n = 3;
  c.k = 64;
  c.seed = 99;
  // The check can fail: TF32-rounded and exact inputs give results further apart than the bound.
  c.round = ref_round::tf32;
  c.quiet = true;
  cr_assert_gt(run_case(h, c), 0u, "default math must not round to TF32");
  c.round = ref_round::none;
  c.quiet = false;
  cr_assert_eq(run_case(h, c), 0u, "default math: exact f32");

  cr_assert_eq(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH), CUBLAS_STATUS_SUCCESS);
  c.quiet = true;
  cr_assert_gt(run_case(h, c), 0u, "TF32 math: cublasSgemm must round to TF32");
  c.quiet = false;
  c.round = ref_round::tf32;
  cr_assert_eq(run_case(h, c), 0u, "TF32 math: cublasSgemm");
  c.ex = true;
  cr_assert_eq(run_case(h, c), 0u, "TF32 math: cublasGemmEx CUBLAS_COMPUTE_32F");
  c.compute = CUBLAS_COMPUTE_32F_PEDANTIC;
  c.round = ref_round::none;
  cr_assert_eq(run_case(h, c), 0u, "TF32 math: CUBLAS_COMPUTE_32F_PEDANTIC stays exact");
  cr_assert_eq(cublasSetMathMode(h, (cublasMath_t)(CUBLAS_PEDANTIC_MATH)), CUBLAS_STATUS_SUCCESS);
  c.ex = false;
  cr_assert_eq(run_case(h, c), 0u, "PEDANTIC math: cublasSgemm stays exact");
  cr_assert_eq(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), CUBLAS_STATUS_SUCCESS);

  c.ex = true;
  c.compute = CUBLAS_COMPUTE_32F_FAST_TF32;
  c.round = ref_round::tf32;
  cr_assert_eq(run_case(h, c), 0u, "CUBLAS_COMPUTE_32F_FAST_TF32");
  c.batch = 2;
  cr_assert_eq(run_case(h, c), 0u, "CUBLAS_COMPUTE_32F_FAST_TF32 strided batched");
  c.batch = 1;
  c.compute = CUBLAS_COMPUTE_32F_FAST_16BF;
  c.round = ref_round::bf16;
  cr_assert_eq(run_case(h, c), 0u, "CUBLAS_COMPUTE_32F_FAST_16BF rounds inputs to bf16");
  c.compute = CUBLAS_COMPUTE_32F_FAST_16F;
  c.round = ref_round::f16;
  cr_assert_eq(run_case(h, c), 0u, "CUBLAS_COMPUTE_32F_FAST_16F rounds inputs to f16");
  cublasDestroy(h);
}

Test(cublas, device_pointer_mode) {
  cublasHandle_t h = new_handle();
  cr_assert_eq(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_DEVICE), CUBLAS_STATUS_SUCCESS);
  cublasPointerMode_t mode;
  cr_assert_eq(cublasGetPointerMode(h, &mode), CUBLAS_STATUS_SUCCESS);
  cr_assert_eq(mode, CUBLAS_POINTER_MODE_DEVICE);
  const std::vector<float> a = {1, 2, 3, 4}, b = {5, 6, 7, 8}, c = {1, 1, 1, 1}, ab = {3.0f, 0.5f};
  float* dA = emu_upload(a);
  float* dB = emu_upload(b);
  float* dC = emu_upload(c);
  float* dS = emu_upload(ab);  // alpha = 3, beta = 0.5
  cr_assert_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, dS, dA, 2, dB, 2, dS + 1, dC, 2),
               CUBLAS_STATUS_SUCCESS, "%s", mmrt_emu_last_error_message());
  // A = [1 3; 2 4], B = [5 7; 6 8] (column-major): A*B = [23 31; 34 46]
  const float want[4] = {3 * 23 + 0.5f, 3 * 34 + 0.5f, 3 * 31 + 0.5f, 3 * 46 + 0.5f};
  std::vector<float> got = emu_download(dC, 4);
  for (int i = 0; i < 4; ++i) cr_assert_eq(got[i], want[i], "C[%d] want %g got %g", i, (double)want[i], (double)got[i]);
  // A host alpha in device mode is an invalid device access.
  const float host_alpha = 1.0f;
  cr_assert_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &host_alpha, dA, 2, dB, 2, dS + 1, dC, 2),
               CUBLAS_STATUS_EXECUTION_FAILED);
  cr_assert(strstr(mmrt_emu_last_error_message(), "alpha") != nullptr, "%s", mmrt_emu_last_error_message());
  (void)cudaGetLastError();
  cudaFree(dA);
  cudaFree(dB);
  cudaFree(dC);
  cudaFree(dS);
  cublasDestroy(h);
}

// ---- arguments cuBLAS rejects -------------------------------------------------------------------

namespace {

// A valid 4 x 3 x 5 problem (C = A * B, A 4x5 lda 6, B 5x3 ldb 5, C 4x3 ldc 4) the invalid-argument
// test varies one argument at a time; C keeps its poison (0xff bytes) unless a call writes it.
struct valid_call {
  cublasHandle_t h;
  float *A, *B, *C;
  float alpha = 1, beta = 0;
  valid_call() : h(new_handle()) {
    cr_assert_eq(cudaMalloc(&A, span(4, 5, 6) * 4), cudaSuccess);
    cr_assert_eq(cudaMalloc(&B, span(5, 3, 5) * 4), cudaSuccess);
    cr_assert_eq(cudaMalloc(&C, span(4, 3, 4) * 4), cudaSuccess);
    cr_assert_eq(cudaMemset(A, 0, span(4, 5, 6) * 4), cudaSuccess);
    cr_assert_eq(cudaMemset(B, 0, span(5, 3, 5) * 4), cudaSuccess);
  }
  ~valid_call() {
    cudaFree(A);
    cudaFree(B);
    cudaFree(C);
    cublasDestroy(h);
  }
  bool c_untouched() const {
    std::vector<uint32_t> c = emu_download((const uint32_t*)C, span(4, 3, 4));
    for (uint32_t v : c)
      if (v != 0xffffffffu) return false;
    return true;
  }
};

}  // namespace

#define EXPECT_STATUS(call, want)                                                                    \
  do {                                                                                               \
    const cublasStatus_t st_ = (call);                                                               \
    cr_assert_eq(st_, (want), "%s: want %s, got %s (%s)", #call, cublasGetStatusName(want),         \
                 cublasGetStatusName(st_), mmrt_emu_last_error_message());                         \
  } while (0)

Test(cublas, invalid_arguments_sgemm) {
  valid_call v;
  const cublasOperation_t N = CUBLAS_OP_N, T = CUBLAS_OP_T;
  const cublasStatus_t INV = CUBLAS_STATUS_INVALID_VALUE;
  float* A = v.A;
  float* B = v.B;
  float* C = v.C;
  const float* al = &v.alpha;
  const float* be = &v.beta;
  cublasHandle_t h = v.h;
  EXPECT_STATUS(cublasSgemm(nullptr, N, N, 4, 3, 5, al, A, 6, B, 5, be, C, 4), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_STATUS(cublasSgemm(h, N, N, -1, 3, 5, al, A, 6, B, 5, be, C, 4), INV);
  EXPECT_STATUS(cublasSgemm(h, N, N, 4, -1, 5, al, A, 6, B, 5, be, C, 4), INV);
  EXPECT_STATUS(cublasSgemm(h, N, N, 4, 3, -1, al, A, 6, B, 5, be, C, 4), INV);
  // (Only in-range enum values: anything else is undefined behaviour in C++, which UBSan reports.)
  EXPECT_STATUS(cublasSgemm(h, CUBLAS_OP_CONJG, N, 4, 3, 5, al, A, 6, B, 5, be, C, 4), INV);
  EXPECT_STATUS(cublasSgemm(h, N, CUBLAS_OP_CONJG, 4, 3, 5, al, A, 6, B, 5, be, C, 4), INV);
  // lda >= max(1, m) for N, >= max(1, k) for T
  EXPECT_STATUS(cublasSgemm(h, N, N, 4, 3, 5, al, A, 3, B, 5, be, C, 4), INV);
  EXPECT_STATUS(cublasSgemm(h, T, N, 4, 3, 5, al, A, 4, B, 5, be, C, 4), INV);  // 4 >= m but < k
  EXPECT_STATUS(cublasSgemm(h, N, N, 0, 3, 5, al, A, 0, B, 5, be, C, 1), INV);  // max(1, 0) = 1
  // ldb >= max(1, k) for N, >= max(1, n) for T
  EXPECT_STATUS(cublasSgemm(h, N, N, 4, 3, 5, al, A, 6, B, 4, be, C, 4), INV);
  EXPECT_STATUS(cublasSgemm(h, N, T, 4, 3, 5, al, A, 6, B, 2, be, C, 4), INV);
  // ldc >= max(1, m)
  EXPECT_STATUS(cublasSgemm(h, N, N, 4, 3, 5, al, A, 6, B, 5, be, C, 3), INV);
  EXPECT_STATUS(cublasSgemm(h, N, N, 0, 3, 5, al, A, 1, B, 5, be, C, 0), INV);  // max(1, 0) = 1
  EXPECT_STATUS(cublasSgemm(h, N, N, 4, 3, 0, al, A, 6, B, 0, be, C, 4), INV);  // ldb >= max(1, k = 0)
  EXPECT_STATUS(cublasSgemm(h, T, N, 4, 3, 0, al, A, 0, B, 1, be, C, 4), INV);  // lda >= max(1, k = 0)
  EXPECT_STATUS(cublasSgemm(h, N, N, 4, 3, 5, nullptr, A, 6, B, 5, be, C, 4), INV);
  EXPECT_STATUS(cublasSgemm(h, N, N, 4, 3, 5, al, A, 6, B, 5, nullptr, C, 4), INV);
  EXPECT_STATUS(cublasSgemm(h, N, N, 4, 3, 5, al, A, 6, B, 5, be, nullptr, 4), INV);
  EXPECT_STATUS(cublasSgemmStridedBatched(h, N, N, 4, 3, 5, al, A, 6, 0, B, 5, 0, be, C, 4, 0, -1), INV);
  EXPECT_STATUS(cublasSgemmStridedBatched(h, N, N, 4, 3, 5, al, A, 3, 0, B, 5, 0, be, C, 4, 0, 1), INV);
  cr_assert(v.c_untouched(), "a rejected call wrote C");
  // Each transpose has its own minimums: T/T needs lda >= k = 5 and ldb >= n = 3.
  EXPECT_STATUS(cublasSgemm(h, T, T, 4, 3, 5, al, A, 5, B, 3, be, C, 4), CUBLAS_STATUS_SUCCESS);
  EXPECT_STATUS(cublasSgemm(h, N, N, 4, 3, 5, al, A, 6, B, 5, be, C, 4), CUBLAS_STATUS_SUCCESS);
}

Test(cublas, invalid_arguments_gemm_ex) {
  valid_call v;
  const cublasOperation_t N = CUBLAS_OP_N;
  const cublasStatus_t INV = CUBLAS_STATUS_INVALID_VALUE, NS = CUBLAS_STATUS_NOT_SUPPORTED;
  void* A = v.A;
  void* B = v.B;
  void* C = v.C;
  const float* al = &v.alpha;
  const float* be = &v.beta;
  cublasHandle_t h = v.h;
  const cublasComputeType_t c32 = CUBLAS_COMPUTE_32F;
  const cublasGemmAlgo_t dflt = CUBLAS_GEMM_DEFAULT;
  EXPECT_STATUS(cublasGemmEx(nullptr, N, N, 4, 3, 5, al, A, CUDA_R_32F, 6, B, CUDA_R_32F, 5, be, C, CUDA_R_32F, 4,
                             c32, dflt), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_STATUS(cublasGemmEx(h, N, N, 4, 3, -5, al, A, CUDA_R_32F, 6, B, CUDA_R_32F, 5, be, C, CUDA_R_32F, 4,
                             c32, dflt), INV);
  EXPECT_STATUS(cublasGemmEx(h, N, N, 4, 3, 5, al, A, CUDA_R_16BF, 3, B, CUDA_R_16BF, 5, be, C, CUDA_R_32F, 4,
                             c32, dflt), INV);
  EXPECT_STATUS(cublasGemmStridedBatchedEx(h, N, N, 4, 3, 5, al, A, CUDA_R_32F, 6, 0, B, CUDA_R_32F, 5, 0, be, C,
                                           CUDA_R_32F, 4, 0, -2, c32, dflt), INV);
  // Type combinations outside cuBLAS's table
  const struct {
    cudaDataType a, b, c;
    cublasComputeType_t ct;
  } unsupported[] = {
      {CUDA_R_16F, CUDA_R_16BF, CUDA_R_32F, c32},   {CUDA_R_16BF, CUDA_R_16F, CUDA_R_32F, c32},
      {CUDA_R_16F, CUDA_R_16F, CUDA_R_16BF, c32},   {CUDA_R_16BF, CUDA_R_16BF, CUDA_R_16F, c32},
      {CUDA_R_32F, CUDA_R_32F, CUDA_R_16F, c32},    {CUDA_R_32F, CUDA_R_32F, CUDA_R_16BF, c32},
      {CUDA_R_32F, CUDA_R_16F, CUDA_R_32F, c32},    {CUDA_R_64F, CUDA_R_64F, CUDA_R_64F, c32},
      {CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_64F},
      {CUDA_R_16BF, CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32},
      {CUDA_R_16F, CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_16F},
      {CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, (cublasComputeType_t)100},
  };
  for (const auto& u : unsupported)
    EXPECT_STATUS(cublasGemmEx(h, N, N, 4, 3, 5, al, A, u.a, 6, B, u.b, 5, be, C, u.c, 4, u.ct, dflt), NS);
  EXPECT_STATUS(cublasGemmEx(h, N, N, 4, 3, 5, al, A, CUDA_R_32F, 6, B, CUDA_R_32F, 5, be, C, CUDA_R_32F, 4, c32,
                             (cublasGemmAlgo_t)50), NS);
  cr_assert(v.c_untouched(), "a rejected call wrote C");
  EXPECT_STATUS(cublasGemmEx(h, N, N, 4, 3, 5, al, A, CUDA_R_32F, 6, B, CUDA_R_32F, 5, be, C, CUDA_R_32F, 4, c32,
                             CUBLAS_GEMM_DEFAULT_TENSOR_OP), CUBLAS_STATUS_SUCCESS);
}

// What a GPU shows as a fault: operands outside live device allocations.
Test(cublas, non_device_memory_fails_the_call) {
  valid_call v;
  const cublasOperation_t N = CUBLAS_OP_N, T = CUBLAS_OP_T;
  std::vector<float> host(64, 1.0f);
  EXPECT_STATUS(cublasSgemm(v.h, N, N, 4, 3, 5, &v.alpha, host.data(), 6, v.B, 5, &v.beta, v.C, 4),
                CUBLAS_STATUS_EXECUTION_FAILED);
  cr_assert(strstr(mmrt_emu_last_error_message(), " A of batch 0") != nullptr, "%s", mmrt_emu_last_error_message());
  cr_assert_eq(cudaGetLastError(), cudaErrorInvalidValue, "the failed access leaves a CUDA error pending");
  // B is 5 x 3 with ldb 5: 15 floats. ldb 6 spans 2*6+5 = 17: past the allocation.
  EXPECT_STATUS(cublasSgemm(v.h, N, N, 4, 3, 5, &v.alpha, v.A, 6, v.B, 6, &v.beta, v.C, 4),
                CUBLAS_STATUS_EXECUTION_FAILED);
  cr_assert(strstr(mmrt_emu_last_error_message(), " B of batch 0") != nullptr, "%s", mmrt_emu_last_error_message());
  // A wrong transpose reads a different extent: A^T of a 4 x 5 problem with lda 6 spans 3*6+5 = 23 <= 28.
  EXPECT_STATUS(cublasSgemm(v.h, T, N, 4, 3, 5, &v.alpha, v.A, 6, v.B, 5, &v.beta, v.C, 4), CUBLAS_STATUS_SUCCESS);
  // Batch 1 of C runs past the allocation.
  EXPECT_STATUS(cublasSgemmStridedBatched(v.h, N, N, 4, 3, 5, &v.alpha, v.A, 6, 0, v.B, 5, 0, &v.beta, v.C, 4, 12, 2),
                CUBLAS_STATUS_EXECUTION_FAILED);
  cr_assert(strstr(mmrt_emu_last_error_message(), " C of batch 1") != nullptr, "%s", mmrt_emu_last_error_message());
  (void)cudaGetLastError();
}

Test(cublas, quick_returns) {
  valid_call v;
  const cublasOperation_t N = CUBLAS_OP_N;
  // m, n or batchCount 0: nothing is read or written, NULL pointers are fine once the arguments are valid.
  EXPECT_STATUS(cublasSgemm(v.h, N, N, 0, 3, 5, &v.alpha, nullptr, 1, nullptr, 5, &v.beta, nullptr, 1),
                CUBLAS_STATUS_SUCCESS);
  EXPECT_STATUS(cublasSgemm(v.h, N, N, 4, 0, 5, &v.alpha, nullptr, 4, nullptr, 5, &v.beta, nullptr, 4),
                CUBLAS_STATUS_SUCCESS);
  EXPECT_STATUS(cublasSgemmStridedBatched(v.h, N, N, 4, 3, 5, &v.alpha, nullptr, 4, 0, nullptr, 5, 0, &v.beta,
                                          v.C, 4, 0, 0), CUBLAS_STATUS_SUCCESS);
  cr_assert(v.c_untouched(), "an empty call wrote C");
}

// ---- handles, streams, modes, status strings ------------------------------------------------------

Test(cublas, handle_stream_and_modes) {
  cublasHandle_t h = nullptr;
  EXPECT_STATUS(cublasCreate(nullptr), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_STATUS(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  cudaStream_t s = nullptr, got = (cudaStream_t)&h;
  cr_assert_eq(cudaStreamCreate(&s), cudaSuccess);
  EXPECT_STATUS(cublasGetStream(h, &got), CUBLAS_STATUS_SUCCESS);
  cr_assert_eq(got, (cudaStream_t)nullptr, "a new handle uses the default stream");
  EXPECT_STATUS(cublasSetStream(h, s), CUBLAS_STATUS_SUCCESS);
  EXPECT_STATUS(cublasGetStream(h, &got), CUBLAS_STATUS_SUCCESS);
  cr_assert_eq(got, s);
  EXPECT_STATUS(cublasGetStream(h, nullptr), CUBLAS_STATUS_INVALID_VALUE);

  cublasMath_t math;
  EXPECT_STATUS(cublasGetMathMode(h, &math), CUBLAS_STATUS_SUCCESS);
  cr_assert_eq(math, CUBLAS_DEFAULT_MATH, "TF32 is opt-in: a new handle uses CUBLAS_DEFAULT_MATH");
  const cublasMath_t tf32_strict =
      (cublasMath_t)(CUBLAS_TF32_TENSOR_OP_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION);
  EXPECT_STATUS(cublasSetMathMode(h, tf32_strict), CUBLAS_STATUS_SUCCESS);
  EXPECT_STATUS(cublasGetMathMode(h, &math), CUBLAS_STATUS_SUCCESS);
  cr_assert_eq(math, tf32_strict);
  EXPECT_STATUS(cublasSetMathMode(h, (cublasMath_t)5), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_STATUS(cublasSetMathMode(h, (cublasMath_t)31), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_STATUS(cublasGetMathMode(h, nullptr), CUBLAS_STATUS_INVALID_VALUE);
  cublasPointerMode_t pm;
  EXPECT_STATUS(cublasGetPointerMode(h, &pm), CUBLAS_STATUS_SUCCESS);
  cr_assert_eq(pm, CUBLAS_POINTER_MODE_HOST);

  // A GEMM on a destroyed stream fails like a launch into it would.
  float* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 4), cudaSuccess);
  const float one = 1.0f;
  cr_assert_eq(cudaStreamDestroy(s), cudaSuccess);
  EXPECT_STATUS(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, d, 1, d, 1, &one, d, 1),
                CUBLAS_STATUS_EXECUTION_FAILED);
  (void)cudaGetLastError();
  cudaFree(d);

  // NULL and destroyed handles
  EXPECT_STATUS(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
  EXPECT_STATUS(cublasDestroy(h), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_STATUS(cublasSetStream(h, nullptr), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_STATUS(cublasGetStream(nullptr, &got), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_STATUS(cublasSetMathMode(nullptr, CUBLAS_DEFAULT_MATH), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_STATUS(cublasGetMathMode(h, &math), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_STATUS(cublasSetPointerMode(nullptr, CUBLAS_POINTER_MODE_HOST), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_STATUS(cublasGetPointerMode(nullptr, &pm), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_STATUS(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, nullptr, 1, 0, nullptr, 1, 0,
                                          &one, nullptr, 1, 0, 1), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_STATUS(cublasGemmStridedBatchedEx(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, nullptr, CUDA_R_32F,
                                           1, 0, nullptr, CUDA_R_32F, 1, 0, &one, nullptr, CUDA_R_32F, 1, 0, 1,
                                           CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), CUBLAS_STATUS_NOT_INITIALIZED);
}

Test(cublas, status_names_and_strings) {
  const struct {
    cublasStatus_t s;
    const char* name;
    const char* text;
  } want[] = {
      {CUBLAS_STATUS_SUCCESS, "CUBLAS_STATUS_SUCCESS", "success"},
      {CUBLAS_STATUS_NOT_INITIALIZED, "CUBLAS_STATUS_NOT_INITIALIZED", "the library was not initialized"},
      {CUBLAS_STATUS_ALLOC_FAILED, "CUBLAS_STATUS_ALLOC_FAILED", "the resource allocation failed"},
      {CUBLAS_STATUS_INVALID_VALUE, "CUBLAS_STATUS_INVALID_VALUE",
       "an unsupported value or parameter was passed to the function"},
      {CUBLAS_STATUS_ARCH_MISMATCH, "CUBLAS_STATUS_ARCH_MISMATCH",
       "the function requires an architectural feature absent from the device"},
      {CUBLAS_STATUS_MAPPING_ERROR, "CUBLAS_STATUS_MAPPING_ERROR", "an access to GPU memory space failed"},
      {CUBLAS_STATUS_EXECUTION_FAILED, "CUBLAS_STATUS_EXECUTION_FAILED", "the function failed to launch on the GPU"},
      {CUBLAS_STATUS_INTERNAL_ERROR, "CUBLAS_STATUS_INTERNAL_ERROR", "an internal operation failed"},
      {CUBLAS_STATUS_NOT_SUPPORTED, "CUBLAS_STATUS_NOT_SUPPORTED", "the requested functionality is not supported"},
      {CUBLAS_STATUS_LICENSE_ERROR, "CUBLAS_STATUS_LICENSE_ERROR", "the license check failed"},
      {(cublasStatus_t)2, "unrecognized status", "unrecognized status"},
  };
  for (const auto& w : want) {
    cr_assert_str_eq(cublasGetStatusName(w.s), w.name);
    cr_assert_str_eq(cublasGetStatusString(w.s), w.text);
  }
}
