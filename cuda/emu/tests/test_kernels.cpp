// test_kernels.cpp — the sample kernels (plain CUDA C++ over prims.cuh) against CPU loops.
#include "emu_test.h"
#include "kernels/block_sum.cuh"
#include "kernels/tiled_matmul.cuh"

#include <random>

Test(kernels, block_sum) {
  const int64_t sizes[] = {1, 255, 256, 1000, 65536 + 17};
  for (int64_t n : sizes) {
    std::vector<int> x(n);
    std::mt19937 rng(42 + (unsigned)n);
    long long want = 0;
    for (auto& v : x) {
      v = (int)(rng() % 2001) - 1000;
      want += v;
    }
    int* dx = emu_upload(x);
    int* dsum = emu_upload(std::vector<int>{0});
    const int n_blocks = (int)std::min<int64_t>(40, (n + BLOCK_SUM_THREADS - 1) / BLOCK_SUM_THREADS);
    MMRT_LAUNCH(block_sum_kernel, n_blocks, BLOCK_SUM_THREADS, 0, 0, block_sum_params{dx, dsum, n});
    EMU_ASSERT_OK();
    const int got = emu_download(dsum, 1)[0];
    cr_assert_eq(got, (int)want, "n %lld: want %lld, got %d", (long long)n, want, got);
    cudaFree(dx);
    cudaFree(dsum);
  }
}

// C = A B on the emulator vs a double-precision CPU loop; integer data compares exactly.
static void check_matmul(int m, int n, int k, bool integers) {
  std::mt19937 rng(7 * m + 3 * n + k);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  const int lda = k + 3, ldb = n + 1, ldc = n + 2;  // padded rows: strides are honoured
  std::vector<float> a((size_t)m * lda, 0.0f), b((size_t)k * ldb, 0.0f), c((size_t)m * ldc, -7.0f);
  for (auto& v : a) v = integers ? (float)((int)(rng() % 9) - 4) : uni(rng);
  for (auto& v : b) v = integers ? (float)((int)(rng() % 9) - 4) : uni(rng);
  float* da = emu_upload(a);
  float* db = emu_upload(b);
  float* dc = emu_upload(c);
  tiled_matmul_params p{da, db, dc, m, n, k, lda, ldb, ldc};
  const dim3 grid((n + MATMUL_TILE - 1) / MATMUL_TILE, (m + MATMUL_TILE - 1) / MATMUL_TILE);
  MMRT_LAUNCH(tiled_matmul_kernel, grid, dim3(MATMUL_TILE, MATMUL_TILE), tiled_matmul_smem_bytes(), 0, p);
  EMU_ASSERT_OK();
  std::vector<float> got_all = emu_download(dc, c.size());
  std::vector<float> got((size_t)m * n);
  std::vector<double> want((size_t)m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int kk = 0; kk < k; ++kk) s += (double)a[(size_t)i * lda + kk] * b[(size_t)kk * ldb + j];
      want[(size_t)i * n + j] = s;
      got[(size_t)i * n + j] = got_all[(size_t)i * ldc + j];
    }
  for (int i = 0; i < m; ++i)  // the padding columns of C are untouched
    for (int j = n; j < ldc; ++j) cr_assert_eq(got_all[(size_t)i * ldc + j], -7.0f);
  emu_expect_close(got.data(), want.data(), got.size(), integers ? 0.0 : 1e-5, "tiled matmul");
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
}

Test(kernels, tiled_matmul_integers_exact) {
  check_matmul(70, 45, 53, true);
  check_matmul(16, 16, 16, true);
  check_matmul(1, 3, 40, true);
}

Test(kernels, tiled_matmul_random) { check_matmul(64, 33, 97, false); }
