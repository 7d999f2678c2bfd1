// test_mma.cpp — tensor-core emulation: mma.m16n8k16 and ldmatrix checked against the fragment
// layouts as the PTX ISA documents them (written out here independently of the emulator, which
// uses the inverse maps), then a whole ldmatrix + mma GEMM against a CPU loop.
#include "emu_test.h"
#include "kernels/mma_gemm.cuh"
#include "kernels/mma_probes.cuh"

#include <random>

template <class T>
static uint16_t bits16(T v) {
  uint16_t u;
  memcpy(&u, static_cast<const void*>(&v), sizeof u);
  return u;
}

template <class T>
static void check_mma_fragments(bool integers) {
  std::mt19937 rng(integers ? 1 : 2);
  std::uniform_real_distribution<float> uni(-2.0f, 2.0f);
  std::vector<uint16_t> a(256), b(128);
  std::vector<float> af(256), bf(128), c(128);
  for (int i = 0; i < 256; ++i) {
    const T v = T(integers ? (float)((int)(rng() % 17) - 8) : uni(rng));
    a[i] = bits16(v);
    af[i] = (float)v;
  }
  for (int i = 0; i < 128; ++i) {
    const T v = T(integers ? (float)((int)(rng() % 17) - 8) : uni(rng));
    b[i] = bits16(v);
    bf[i] = (float)v;
    c[i] = integers ? (float)((int)(rng() % 100) - 50) : uni(rng);
  }
  uint16_t* da = emu_upload(a);
  uint16_t* db = emu_upload(b);
  float* dc = emu_upload(c);
  float* dd = nullptr;
  cr_assert_eq(cudaMalloc(&dd, 128 * sizeof(float)), cudaSuccess);
  MMRT_LAUNCH(mma_fragments_kernel<T>, 1, 32, 0, 0, da, db, dc, dd);
  EMU_ASSERT_OK();
  std::vector<float> got = emu_download(dd, 128);
  std::vector<double> want(128);
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n) {
      double s = c[r * 8 + n];
      for (int k = 0; k < 16; ++k) s += (double)af[r * 16 + k] * bf[k * 8 + n];
      want[r * 8 + n] = s;
    }
  emu_expect_close(got.data(), want.data(), 128, integers ? 0.0 : 1e-6, "mma D");
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  cudaFree(dd);
}

Test(mma, fragments_bf16_integers_exact) { check_mma_fragments<__nv_bfloat16>(true); }
Test(mma, fragments_f16_integers_exact) { check_mma_fragments<__half>(true); }
Test(mma, fragments_bf16_random) { check_mma_fragments<__nv_bfloat16>(false); }
Test(mma, fragments_f16_random) { check_mma_fragments<__half>(false); }

Test(mma, ldmatrix_layouts) {
  std::vector<uint16_t> src(4 * 8 * LDM_LD, 0xdead);
  auto m = [](int j, int r, int c) { return (uint16_t)(1000 * j + 10 * r + c); };
  for (int j = 0; j < 4; ++j)
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c) src[(j * 8 + r) * LDM_LD + c] = m(j, r, c);
  uint16_t* dsrc = emu_upload(src);
  uint32_t* dout = nullptr;
  cr_assert_eq(cudaMalloc(&dout, 128 * sizeof(uint32_t)), cudaSuccess);
  for (int trans = 0; trans < 2; ++trans)
    for (int num : {1, 2, 4}) {
      MMRT_LAUNCH(ldmatrix_kernel, 1, 32, src.size() * sizeof(uint16_t), 0, dsrc, dout, num, trans);
      EMU_ASSERT_OK();
      std::vector<uint32_t> got = emu_download(dout, 128), want(128, 0);
      for (int l = 0; l < 32; ++l)
        for (int j = 0; j < num; ++j) {
          // PTX ISA: lane l holds row l/4, columns 2(l%4) and 2(l%4)+1; .trans the transpose.
          const int r = l / 4, c = 2 * (l % 4);
          want[l * 4 + j] = trans ? (uint32_t)m(j, c, r) | (uint32_t)m(j, c + 1, r) << 16
                                  : (uint32_t)m(j, r, c) | (uint32_t)m(j, r, c + 1) << 16;
        }
      char what[48];
      snprintf(what, sizeof what, "ldmatrix .x%d%s", num, trans ? ".trans" : "");
      emu_expect_equal(got.data(), want.data(), 128, what);
    }
  cudaFree(dsrc);
  cudaFree(dout);
}

template <class T>
static void check_mma_gemm(int m, int n, int k, bool integers) {
  std::mt19937 rng(m * 31 + n * 7 + k);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  const int lda = k + 8, ldb = n + 2, ldc = n;
  std::vector<T> a((size_t)m * lda, T(0.0f)), b((size_t)k * ldb, T(0.0f));
  for (auto& v : a) v = T(integers ? (float)((int)(rng() % 7) - 3) : uni(rng));
  for (auto& v : b) v = T(integers ? (float)((int)(rng() % 7) - 3) : uni(rng));
  T* da = emu_upload(a);
  T* db = emu_upload(b);
  float* dc = nullptr;
  cr_assert_eq(cudaMalloc(&dc, (size_t)m * ldc * sizeof(float)), cudaSuccess);
  mma_gemm_params<T> p{da, db, dc, m, n, k, lda, ldb, ldc};
  const dim3 grid((n + MMA_GEMM_BN - 1) / MMA_GEMM_BN, (m + MMA_GEMM_BM - 1) / MMA_GEMM_BM);
  MMRT_LAUNCH(mma_gemm_kernel<T>, grid, MMA_GEMM_THREADS, 0, 0, p);
  EMU_ASSERT_OK();
  std::vector<float> got = emu_download(dc, (size_t)m * ldc);
  std::vector<double> want((size_t)m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int kk = 0; kk < k; ++kk) s += (double)(float)a[(size_t)i * lda + kk] * (float)b[(size_t)kk * ldb + j];
      want[(size_t)i * n + j] = s;
    }
  // f32 accumulation of exact products: 1e-5 of max |ref| is ~40x the expected rounding.
  emu_expect_close(got.data(), want.data(), want.size(), integers ? 0.0 : 1e-5, "mma gemm");
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
}

Test(mma, gemm_bf16_integers_ragged) {
  check_mma_gemm<__nv_bfloat16>(37, 29, 45, true);
  check_mma_gemm<__nv_bfloat16>(32, 16, 16, true);
}
Test(mma, gemm_f16_integers_ragged) { check_mma_gemm<__half>(50, 21, 70, true); }
Test(mma, gemm_bf16_random) { check_mma_gemm<__nv_bfloat16>(64, 48, 96, false); }
Test(mma, gemm_f16_random) { check_mma_gemm<__half>(33, 40, 64, false); }
