// attention_bench.cu — mmrt-gpu-bench: kernel timings of mmrt's CUDA attention kernels and of the
// cuBLAS GEMM shapes of SmolVLM-256M, with CUDA events, as TFLOP/s, GB/s and fraction of the
// H100 bound (bench/GPU.md has the predictions these are to be compared with).
//
//   mmrt-gpu-bench [--smoke] [--only attention|decode|gemm] [--reps R]
//                  [--tflops 790] [--fp32-tflops 53] [--tbps 3.0]
//
// Attention: attention_kernel (f32) and attention_mma_kernel<bf16 / f16> on one layer of
// 1k-16k tokens, head dim 64 (32 heads) and 128 (16 heads), causal and bidirectional; split-KV
// decode (one token over 1k-16k cached keys, GQA). The launches mirror cuda/attention.cu's
// launcher (same grid, same split rule; the partials buffer is allocated once here, where the
// launcher allocates it per call). GEMMs: cublasGemmEx as cuda/matmul.cu calls it (row-major
// out = x · wᵀ, f32 output, COMPUTE_32F) on the ViT, connector, prefill and decode shapes, with
// bf16 inputs (math bf16) and f32 inputs (the default exact f32 math).
//
// Fraction of bound = max(FLOPs / peak, bytes / bandwidth) / measured time; bytes count every
// operand once (the kernels' f32 q/k/v/o). The f32 kernels are held to the FP32 peak.
//
// --smoke: tiny shapes, each result checked against a host fp64 reference computed from the same
// (rounded) inputs; exits 1 on a mismatch. This is what the emulated build runs (CI), so a broken
// harness fails there; timings under the emulator mean nothing.
#include <cublas_v2.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "gpu_device.h"
#include "kernels/attention_mma.cuh"

namespace {

struct options {
  bool smoke = false;
  const char* only = nullptr;  // attention, decode, gemm or all
  int reps = 10;
  double tflops = 790, fp32_tflops = 53, tbps = 3.0;
};

int g_failures = 0;

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  fprintf(stderr, "mmrt-gpu-bench: %s: %s\n", what, prim::launch_error_string(e));
  exit(1);
}

void check_blas(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  fprintf(stderr, "mmrt-gpu-bench: %s: %s\n", what, cublasGetStatusString(s));
  exit(1);
}

// Deterministic inputs in [-1, 1).
void fill(std::vector<float>& x, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15u + 1;
  for (float& v : x) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    v = (float)((s >> 40) * (1.0 / (1 << 23))) - 1.0f;
  }
}

float* to_device(const std::vector<float>& h) {
  float* d = nullptr;
  check(cudaMalloc(&d, h.size() * sizeof(float)), "cudaMalloc");
  check(cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice), "upload");
  return d;
}

// Mean milliseconds of run() over reps launches on stream s, after one untimed launch.
template <class F>
double time_ms(F&& run, int reps, cudaStream_t s) {
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), "cudaEventCreate");
  check(cudaEventCreate(&e1), "cudaEventCreate");
  run();
  check(cudaStreamSynchronize(s), "warm-up");
  check(cudaEventRecord(e0, s), "cudaEventRecord");
  for (int i = 0; i < reps; i++) run();
  check(cudaEventRecord(e1, s), "cudaEventRecord");
  check(cudaEventSynchronize(e1), "timed launches");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime");
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return ms / reps;
}

// Largest |got − ref| against tol · max |ref|; prints the first mismatches and counts a failure.
bool compare(const char* what, const std::vector<float>& got, const std::vector<double>& ref,
             double tol) {
  double ref_max = 0, err = 0;
  for (double r : ref) ref_max = fmax(ref_max, fabs(r));
  int shown = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    const double e = fabs((double)got[i] - ref[i]);
    if (!(e <= tol * ref_max) && shown++ < 4)  // NaN fails too
      fprintf(stderr, "  %s: index %zu: expected %.7g, got %.7g\n", what, i, ref[i], got[i]);
    err = isnan(got[i]) ? INFINITY : fmax(err, e);
  }
  const bool ok = err <= tol * ref_max;
  printf("  check %-44s max err %.2e of max |ref| %.3g (tol %.0e): %s\n", what, err, ref_max, tol,
         ok ? "ok" : "FAILED");
  if (!ok) g_failures++;
  return ok;
}

void print_rate(const char* what, double ms, double flops, double bytes, double peak_tflops,
                const options& o) {
  const double bound_ms = fmax(flops / (peak_tflops * 1e12), bytes / (o.tbps * 1e12)) * 1e3;
  printf("  %-48s %9.4f ms %8.2f TFLOP/s %8.1f GB/s %6.1f %% of bound (%s-bound)\n", what, ms,
         flops / (ms * 1e9), bytes / (ms * 1e6), 100.0 * bound_ms / ms,
         flops / (peak_tflops * 1e12) >= bytes / (o.tbps * 1e12) ? "compute" : "memory");
}

// ---- attention -------------------------------------------------------------------------------

typedef void (*attention_kernel_fn)(attention_params);

enum class attn_type { f32, bf16, f16 };

struct attn_variant {
  const char* name;
  attn_type type;
  attention_kernel_fn kernel;
  int threads, rows_per_block;
  size_t smem;
};

template <class T>
attention_kernel_fn mma_kernel(int hd) {
  const int hd16 = attention_mma_hd16(hd);
  return hd16 <= 64 ? attention_mma_kernel<T, 64>
         : hd16 <= 128 ? attention_mma_kernel<T, 128> : attention_mma_kernel<T, 256>;
}

// The kernel cuda/attention.cu's select_variant() picks for mmrt_math F32 (and TF32) / BF16 / F16.
attn_variant make_variant(attn_type t, int hd) {
  if (t == attn_type::f32)
    return {"f32", t, attention_kernel, ATTN_THREADS, ATTN_BQ, attention_smem_bytes(hd)};
  if (t == attn_type::bf16)
    return {"bf16 mma", t, mma_kernel<__nv_bfloat16>(hd), ATTN_MMA_THREADS, ATTN_MMA_BQ,
            attention_mma_smem_bytes(hd)};
  return {"f16 mma", t, mma_kernel<__half>(hd), ATTN_MMA_THREADS, ATTN_MMA_BQ,
          attention_mma_smem_bytes(hd)};
}

// One attention op: n_tok queries at positions pos0.. over n_kv cached keys.
struct attn_case {
  int64_t n_tok, n_kv, pos0;
  int n_head, h_kv, hd;
  bool causal;

  int64_t visible(int64_t t) const {
    const int64_t lim = pos0 + t + 1;
    return causal && lim < n_kv ? lim : n_kv;
  }
  double flops() const {  // QKᵀ and PV over the visible (query head, key) pairs
    double pairs = 0;
    for (int64_t t = 0; t < n_tok; t++) pairs += (double)visible(t);
    return 4.0 * hd * n_head * pairs;
  }
  double bytes() const {  // q and o once, the visible K and V once, f32
    return 4.0 * hd * (2.0 * n_tok * n_head + 2.0 * visible(n_tok - 1) * h_kv);
  }
};

struct attn_run {
  attn_variant var;
  attention_params p;
  dim3 grid;
  int64_t n_split;
};

// Grid and split-KV exactly as mmrt_cuda_attention() decides them; part: device scratch of at
// least attn_part_floats() floats when split.
int64_t attn_split(const attn_variant& v, const attn_case& c) {
  const int group = c.n_head / c.h_kv;
  const int64_t n_row_tiles = (c.n_tok * group + v.rows_per_block - 1) / v.rows_per_block;
  const int64_t kv_used = c.visible(c.n_tok - 1);
  return n_row_tiles == 1 && kv_used > ATTN_KV_CHUNK ? (kv_used + ATTN_KV_CHUNK - 1) / ATTN_KV_CHUNK
                                                     : 1;
}

size_t attn_part_floats(const attn_variant& v, const attn_case& c) {
  const int64_t n = attn_split(v, c);
  return n == 1 ? 0 : (size_t)(n * c.n_tok * c.n_head) * (size_t)(c.hd + 2);
}

attn_run attn_prepare(const attn_variant& v, const attn_case& c, const float* q, const float* k,
                      const float* vv, float* dst, float* part) {
  attn_run r = {v, {}, dim3(1), attn_split(v, c)};
  attention_params& p = r.p;
  p.q = q, p.k = k, p.v = vv, p.dst = dst;
  p.q_s1 = p.dst_s1 = c.hd, p.q_s2 = p.dst_s2 = (int64_t)c.n_head * c.hd;  // (n_tok, n_head, hd)
  p.k_s1 = p.v_s1 = c.hd, p.k_s2 = p.v_s2 = (int64_t)c.h_kv * c.hd;        // (n_kv, h_kv, hd)
  p.hd = c.hd, p.n_head = c.n_head, p.n_tok = c.n_tok, p.group = c.n_head / c.h_kv;
  p.n_kv = c.n_kv, p.pos0 = c.pos0, p.causal = c.causal, p.scale = 1.0f / sqrtf((float)c.hd);
  const int64_t n_row_tiles = (c.n_tok * p.group + v.rows_per_block - 1) / v.rows_per_block;
  if (r.n_split == 1) {
    p.kv_chunk = c.n_kv > 0 ? c.n_kv : 1;
    r.grid = dim3((unsigned)n_row_tiles, (unsigned)c.h_kv);
  } else {
    p.part_o = part;
    p.part_ml = part + (size_t)(r.n_split * c.n_tok * c.n_head) * (size_t)c.hd;
    p.kv_chunk = ATTN_KV_CHUNK;
    r.grid = dim3(1, (unsigned)c.h_kv, (unsigned)r.n_split);
  }
  check(cudaFuncSetAttribute(reinterpret_cast<const void*>(v.kernel),
                             cudaFuncAttributeMaxDynamicSharedMemorySize, (int)v.smem),
        "cudaFuncSetAttribute (dynamic shared memory)");
  return r;
}

void attn_launch(const attn_run& r, cudaStream_t s) {
  const attention_kernel_fn kernel = r.var.kernel;
  MMRT_LAUNCH(kernel, r.grid, (unsigned)r.var.threads, r.var.smem, s, r.p);
  if (r.n_split > 1) {
    const unsigned threads = r.p.hd < 32 ? 32 : (unsigned)(r.p.hd + 31) / 32 * 32;
    MMRT_LAUNCH(attention_combine_kernel, (unsigned)(r.p.n_tok * r.p.n_head), threads, 0, s, r.p,
                (int)r.n_split);
  }
  check(cudaGetLastError(), r.var.name);
}

float round_to(attn_type t, float x) {
  if (t == attn_type::bf16) return __bfloat162float(__float2bfloat16_rn(x));
  if (t == attn_type::f16) return __half2float(__float2half_rn(x));
  return x;
}

// fp64 attention of the inputs as the kernel sees them (rounded once for the mma kernels).
std::vector<double> attn_reference(const attn_case& c, attn_type t, const std::vector<float>& q,
                                   const std::vector<float>& k, const std::vector<float>& v) {
  std::vector<double> out((size_t)(c.n_tok * c.n_head * c.hd)), w((size_t)c.n_kv);
  const double scale = 1.0 / sqrt((double)c.hd);
  const int group = c.n_head / c.h_kv;
  for (int64_t i = 0; i < c.n_tok; i++)
    for (int h = 0; h < c.n_head; h++) {
      const float* qi = &q[(size_t)((i * c.n_head + h) * c.hd)];
      const int64_t n = c.visible(i);
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < n; j++) {
        const float* kj = &k[(size_t)((j * c.h_kv + h / group) * c.hd)];
        double s = 0;
        for (int d = 0; d < c.hd; d++) s += (double)round_to(t, qi[d]) * round_to(t, kj[d]);
        w[(size_t)j] = s * scale;
        mx = fmax(mx, w[(size_t)j]);
      }
      for (int64_t j = 0; j < n; j++) sum += w[(size_t)j] = exp(w[(size_t)j] - mx);
      double* o = &out[(size_t)((i * c.n_head + h) * c.hd)];
      for (int64_t j = 0; j < n; j++) {
        const float* vj = &v[(size_t)((j * c.h_kv + h / group) * c.hd)];
        for (int d = 0; d < c.hd; d++) o[d] += w[(size_t)j] / sum * round_to(t, vj[d]);
      }
    }
  return out;
}

void print_kernel_info(const attn_variant& v, int hd) {
  int regs, blocks;
  gpu_kernel_occupancy(reinterpret_cast<const void*>(v.kernel), v.threads, v.smem, &regs, &blocks);
  printf("  kernel %-9s hd %3d: %d threads, %d rows per block, %.1f KiB dynamic shared memory",
         v.name, hd, v.threads, v.rows_per_block, v.smem / 1024.0);
  if (regs >= 0) printf(", %d registers, %d blocks per SM", regs, blocks);
  printf("\n");
}

// Runs (and in smoke mode checks) one case for each variant.
void attn_bench(const attn_case& c, const options& o, cudaStream_t s, const char* label) {
  std::vector<float> q((size_t)(c.n_tok * c.n_head * c.hd)), k((size_t)(c.n_kv * c.h_kv * c.hd)),
      v(k.size()), out(q.size());
  fill(q, 1), fill(k, 2), fill(v, 3);
  float *dq = to_device(q), *dk = to_device(k), *dv = to_device(v), *dout = nullptr,
        *part = nullptr;
  check(cudaMalloc(&dout, out.size() * sizeof(float)), "cudaMalloc");
  size_t part_floats = 0;
  for (attn_type t : {attn_type::f32, attn_type::bf16, attn_type::f16})
    part_floats = std::max(part_floats, attn_part_floats(make_variant(t, c.hd), c));
  if (part_floats) check(cudaMalloc(&part, part_floats * sizeof(float)), "cudaMalloc (partials)");
  for (attn_type t : {attn_type::f32, attn_type::bf16, attn_type::f16}) {
    const attn_variant var = make_variant(t, c.hd);
    const attn_run r = attn_prepare(var, c, dq, dk, dv, dout, part);
    char what[160];
    snprintf(what, sizeof what, "%s %s%s", var.name, label,
             r.n_split > 1 ? " (split-KV)" : "");
    if (o.smoke) {
      check(cudaMemset(dout, 0xff, out.size() * sizeof(float)), "cudaMemset");  // NaN
      attn_launch(r, s);
      check(cudaStreamSynchronize(s), what);
      check(cudaMemcpy(out.data(), dout, out.size() * sizeof(float), cudaMemcpyDeviceToHost),
            "download");
      compare(what, out, attn_reference(c, t, q, k, v), t == attn_type::f32 ? 1e-5 : 1e-3);
    }
    // f32 at 16k tokens takes a good part of a second per launch: fewer reps there
    const int reps = o.smoke ? 1 : t == attn_type::f32 && c.flops() > 1e12 ? 2 : o.reps;
    const double ms = time_ms([&] { attn_launch(r, s); }, reps, s);
    print_rate(what, ms, c.flops(), c.bytes(), t == attn_type::f32 ? o.fp32_tflops : o.tflops, o);
  }
  cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(dout), cudaFree(part);
}

void attention_sweep(const options& o, cudaStream_t s) {
  printf("\nattention, one layer (%s)\n", o.smoke ? "smoke: tiny shapes, checked" : "model dim 2048");
  for (int hd : {64, 128}) {
    for (attn_type t : {attn_type::f32, attn_type::bf16, attn_type::f16})
      print_kernel_info(make_variant(t, hd), hd);
    for (bool causal : {true, false}) {
      // smoke: 2 KV heads shared by 2 query heads each, a partial last row tile
      const std::vector<int64_t> ns = o.smoke ? std::vector<int64_t>{80}
                                              : std::vector<int64_t>{1024, 2048, 4096, 8192, 16384};
      for (int64_t n : ns) {
        const int n_head = o.smoke ? 4 : 2048 / hd, h_kv = o.smoke ? 2 : n_head;
        const attn_case c = {n, n, 0, n_head, h_kv, hd, causal};
        char label[96];
        snprintf(label, sizeof label, "hd %d %s n %lld", hd, causal ? "causal" : "bidir",
                 (long long)n);
        attn_bench(c, o, s, label);
      }
    }
  }
}

void decode_sweep(const options& o, cudaStream_t s) {
  printf("\nsplit-KV decode: one token over a KV cache (GQA)\n");
  struct shape { int n_head, h_kv, hd; };
  for (shape sh : {shape{9, 3, 64}, shape{24, 8, 128}}) {
    const std::vector<int64_t> ns = o.smoke ? std::vector<int64_t>{600}
                                            : std::vector<int64_t>{1024, 2048, 4096, 8192, 16384};
    for (int64_t n : ns) {
      const attn_case c = {1, n, n - 1, sh.n_head, sh.h_kv, sh.hd, true};
      char label[96];
      snprintf(label, sizeof label, "decode %d/%d x %d n_kv %lld", sh.n_head, sh.h_kv, sh.hd,
               (long long)n);
      attn_bench(c, o, s, label);
    }
  }
}

// ---- cuBLAS GEMMs ------------------------------------------------------------------------------

// Row-major out (rows, n_out) = x (rows, k_in) · w (n_out, k_in)ᵀ.
struct gemm_shape {
  const char* what;
  int rows, n_out, k_in;
};

void gemm_bench(const gemm_shape& g, cudaDataType ab, cublasHandle_t h, const options& o,
                cudaStream_t s) {
  const size_t nx = (size_t)g.rows * g.k_in, nw = (size_t)g.n_out * g.k_in;
  const size_t eb = ab == CUDA_R_32F ? 4 : 2;
  std::vector<float> x(nx), w(nw);
  fill(x, 4), fill(w, 5);
  std::vector<unsigned char> hx(nx * eb), hw(nw * eb);
  auto store = [&](std::vector<float>& src, std::vector<unsigned char>& dst) {
    for (size_t i = 0; i < src.size(); i++) {
      if (ab == CUDA_R_16BF) {
        const __nv_bfloat16 b = __float2bfloat16_rn(src[i]);
        memcpy(&dst[2 * i], &b, 2);
        src[i] = __bfloat162float(b);  // the reference uses what the GPU multiplies
      } else {
        memcpy(&dst[4 * i], &src[i], 4);
      }
    }
  };
  store(x, hx), store(w, hw);
  void *dx, *dw;
  float* dc;
  check(cudaMalloc(&dx, hx.size()), "cudaMalloc");
  check(cudaMalloc(&dw, hw.size()), "cudaMalloc");
  check(cudaMalloc(&dc, sizeof(float) * (size_t)g.rows * g.n_out), "cudaMalloc");
  check(cudaMemcpy(dx, hx.data(), hx.size(), cudaMemcpyHostToDevice), "upload");
  check(cudaMemcpy(dw, hw.data(), hw.size(), cudaMemcpyHostToDevice), "upload");
  const float one = 1.0f, zero = 0.0f;
  // column-major: C (n_out x rows) = Wᵀ (W stored k_in x n_out) · X (k_in x rows), as matmul.cu
  auto run = [&] {
    check_blas(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, g.n_out, g.rows, g.k_in, &one, dw, ab,
                            g.k_in, dx, ab, g.k_in, &zero, dc, CUDA_R_32F, g.n_out,
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
  };
  char what[160];
  snprintf(what, sizeof what, "%s %s %dx%dx%d", ab == CUDA_R_32F ? "f32 " : "bf16", g.what, g.rows,
           g.n_out, g.k_in);
  if (o.smoke) {
    run();
    std::vector<float> got((size_t)g.rows * g.n_out);
    check(cudaMemcpy(got.data(), dc, got.size() * sizeof(float), cudaMemcpyDeviceToHost),
          "download");
    std::vector<double> ref(got.size());
    for (int i = 0; i < g.rows; i++)
      for (int j = 0; j < g.n_out; j++) {
        double acc = 0;
        for (int kk = 0; kk < g.k_in; kk++)
          acc += (double)x[(size_t)i * g.k_in + kk] * w[(size_t)j * g.k_in + kk];
        ref[(size_t)i * g.n_out + j] = acc;
      }
    compare(what, got, ref, 1e-5);
  }
  const double ms = time_ms(run, o.smoke ? 1 : o.reps, s);
  const double flops = 2.0 * g.rows * g.n_out * g.k_in;
  const double bytes = (double)eb * (nx + nw) + 4.0 * g.rows * g.n_out;
  print_rate(what, ms, flops, bytes, ab == CUDA_R_32F ? o.fp32_tflops : o.tflops, o);
  cudaFree(dx), cudaFree(dw), cudaFree(dc);
}

void gemm_sweep(const options& o, cudaStream_t s) {
  printf("\ncuBLAS GEMMs of SmolVLM-256M (rows x out x in)\n");
  cublasHandle_t h;
  check_blas(cublasCreate(&h), "cublasCreate");
  check_blas(cublasSetStream(h, s), "cublasSetStream");
  static const gemm_shape smoke[] = {{"odd", 33, 40, 48}, {"one row", 1, 64, 32}};
  static const gemm_shape full[] = {
      {"ViT patch embedding (1 tile)", 1024, 768, 768},
      {"ViT q/k/v/out (1 tile)", 1024, 768, 768},
      {"ViT fc1 (1 tile)", 1024, 3072, 768},
      {"ViT fc2 (1 tile)", 1024, 768, 3072},
      {"ViT fc1 (13 tiles)", 13 * 1024, 3072, 768},
      {"connector (13 tiles)", 13 * 64, 576, 12288},
      {"prefill q/o", 894, 576, 576},
      {"prefill k/v", 894, 192, 576},
      {"prefill gate/up", 894, 1536, 576},
      {"prefill down", 894, 576, 1536},
      {"decode q/o", 1, 576, 576},
      {"decode gate/up", 1, 1536, 576},
      {"decode down", 1, 576, 1536},
      {"lm_head (1 token)", 1, 49280, 576},
  };
  for (cudaDataType ab : {CUDA_R_16BF, CUDA_R_32F}) {
    if (o.smoke)
      for (const gemm_shape& g : smoke) gemm_bench(g, ab, h, o, s);
    else
      for (const gemm_shape& g : full) gemm_bench(g, ab, h, o, s);
  }
  cublasDestroy(h);
}

void usage(FILE* f) {
  fprintf(f,
          "usage: mmrt-gpu-bench [--smoke] [--only attention|decode|gemm] [--reps R]\n"
          "                      [--tflops T] [--fp32-tflops T] [--tbps B]\n"
          "  --smoke         tiny shapes, results checked against a host reference (exit 1 on a\n"
          "                  mismatch); what the emulated build runs\n"
          "  --only WHAT     one sweep: attention (1k-16k tokens), decode (split-KV), gemm\n"
          "  --reps R        timed launches per case after one warm-up (default 10)\n"
          "  --tflops T      bf16/f16 dense tensor peak of the bound (default 790, H100)\n"
          "  --fp32-tflops T f32 (no tensor core) peak for the f32 kernels (default 53)\n"
          "  --tbps B        memory bandwidth of the bound in TB/s (default 3.0, H100)\n");
}

double num_arg(int argc, char** argv, int* i) {
  char* end = nullptr;
  const double v = *i + 1 < argc ? strtod(argv[++*i], &end) : 0;
  if (!end || *end || !(v > 0)) {
    fprintf(stderr, "mmrt-gpu-bench: %s: expected a positive number\n", argv[*i]);
    exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (!strcmp(a, "--smoke")) o.smoke = true;
    else if (!strcmp(a, "--only") && i + 1 < argc) o.only = argv[++i];
    else if (!strcmp(a, "--reps")) o.reps = (int)num_arg(argc, argv, &i);
    else if (!strcmp(a, "--tflops")) o.tflops = num_arg(argc, argv, &i);
    else if (!strcmp(a, "--fp32-tflops")) o.fp32_tflops = num_arg(argc, argv, &i);
    else if (!strcmp(a, "--tbps")) o.tbps = num_arg(argc, argv, &i);
    else if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 0;
    else return fprintf(stderr, "mmrt-gpu-bench: unknown argument \"%s\"\n", a), usage(stderr), 2;
  }
  if (o.only && strcmp(o.only, "attention") && strcmp(o.only, "decode") && strcmp(o.only, "gemm")) {
    fprintf(stderr, "mmrt-gpu-bench: --only %s: expected attention, decode or gemm\n", o.only);
    return 2;
  }
  gpu_device_info dev;
  if (!gpu_device_query(&dev)) {
    fprintf(stderr, "mmrt-gpu-bench: %s\n", dev.name);
    return 1;
  }
  printf("mmrt-gpu-bench on %s", dev.name);
  if (dev.n_sm)
    printf(" (sm_%d%d, %d SMs, %.2f GHz, %.0f GB)", dev.cc_major, dev.cc_minor, dev.n_sm,
           dev.clock_ghz, dev.mem_gb);
  printf("\nbound: %.0f TFLOP/s bf16/f16, %.0f TFLOP/s f32, %.2f TB/s; CUDA-event times, mean of "
         "%d launches after a warm-up\n",
         o.tflops, o.fp32_tflops, o.tbps, o.smoke ? 1 : o.reps);
  cudaStream_t s;
  check(cudaStreamCreate(&s), "cudaStreamCreate");
  if (!o.only || !strcmp(o.only, "attention")) attention_sweep(o, s);
  if (!o.only || !strcmp(o.only, "decode")) decode_sweep(o, s);
  if (!o.only || !strcmp(o.only, "gemm")) gemm_sweep(o, s);
  cudaStreamDestroy(s);
  if (g_failures) {
    fprintf(stderr, "mmrt-gpu-bench: %d check(s) FAILED\n", g_failures);
    return 1;
  }
  if (o.smoke) printf("\nall checks passed\n");
  return 0;
}
