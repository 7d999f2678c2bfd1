// test_memory.cpp — atomics from many blocks on several workers, static and dynamic shared memory
// (dynamic poisoned at every block start).
#include "emu_test.h"

#include <algorithm>

struct atomic_params {
  int* i_sum;
  unsigned* u_sum;
  float* f_sum;
  int* i_max;
  int* i_min;
  int* cas_counter;
  int* exch_slot;  // (1)
  int* exch_seen;  // (n threads): the value each thread got back from atomicExch
};

__global__ void atomics_kernel(atomic_params p) {
  const int g = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  atomicAdd(p.i_sum, g % 7 - 3);
  atomicAdd(p.u_sum, 2u);
  atomicAdd(p.f_sum, (float)(g % 5));  // small integers: exact in any order
  atomicMax(p.i_max, (g * 7919) % 10007);
  atomicMin(p.i_min, (g * 7919) % 10007 - 5000);
  int old = atomicOr(p.cas_counter, 0), seen;  // increment by compare-and-swap
  while ((seen = atomicCAS(p.cas_counter, old, old + 1)) != old) old = seen;
  p.exch_seen[g] = atomicExch(p.exch_slot, g);
}

Test(memory, atomics_many_blocks) {
  const int n_blocks = 64, n = 128, total = n_blocks * n;
  std::vector<int> init = {0, 0, 0, -1, 1 << 30, 0, -1};  // i_sum u_sum f_sum i_max i_min cas exch
  int* d = emu_upload(init);
  int* seen = nullptr;
  cr_assert_eq(cudaMalloc(&seen, total * sizeof(int)), cudaSuccess);
  atomic_params p{d, reinterpret_cast<unsigned*>(d + 1), reinterpret_cast<float*>(d + 2), d + 3,
                  d + 4, d + 5, d + 6, seen};
  MMRT_LAUNCH(atomics_kernel, n_blocks, n, 0, 0, p);
  EMU_ASSERT_OK();
  std::vector<int> got = emu_download(d, 7);
  long long i_sum = 0;
  float f_sum = 0;
  int i_max = -1, i_min = 1 << 30;
  for (int g = 0; g < total; ++g) {
    i_sum += g % 7 - 3;
    f_sum += (float)(g % 5);
    i_max = std::max(i_max, (g * 7919) % 10007);
    i_min = std::min(i_min, (g * 7919) % 10007 - 5000);
  }
  float f_got;
  memcpy(&f_got, &got[2], sizeof f_got);
  cr_assert_eq(got[0], (int)i_sum);
  cr_assert_eq((unsigned)got[1], 2u * total);
  cr_assert_eq(f_got, f_sum, "float sum: want %g, got %g", (double)f_sum, (double)f_got);
  cr_assert_eq(got[3], i_max);
  cr_assert_eq(got[4], i_min);
  cr_assert_eq(got[5], total, "atomicCAS increments: %d", got[5]);
  // atomicExch hands every value on exactly once: the values seen plus the final one are
  // {-1, 0, ..., total-1}.
  std::vector<int> s = emu_download(seen, total);
  s.push_back(got[6]);
  std::sort(s.begin(), s.end());
  std::vector<int> want(total + 1);
  for (int i = 0; i <= total; ++i) want[i] = i - 1;
  emu_expect_equal(s.data(), want.data(), s.size(), "exchanged values");
  cudaFree(d);
  cudaFree(seen);
}

// Reads dynamic shared memory before writing it (a bug the poison makes visible), then writes it.
__global__ void read_uninitialised_smem_kernel(uint32_t* out) {
  uint32_t* s = prim::dynamic_smem<uint32_t>();
  const unsigned t = threadIdx.x;
  out[blockIdx.x * blockDim.x + t] = s[t];
  __syncthreads();
  s[t] = 1234 + blockIdx.x;
}

Test(memory, dynamic_smem_poisoned_every_block) {
  const unsigned n_blocks = 9, n = 64;
  uint32_t* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, n_blocks * n * sizeof(uint32_t)), cudaSuccess);
  for (int launch = 0; launch < 2; ++launch) {
    MMRT_LAUNCH(read_uninitialised_smem_kernel, n_blocks, n, n * sizeof(uint32_t), 0, d);
    EMU_ASSERT_OK();
    std::vector<uint32_t> got = emu_download(d, n_blocks * n), want(n_blocks * n, 0xffffffffu);
    emu_expect_equal(got.data(), want.data(), got.size(), "first read of dynamic smem");
  }
  float nan_bits;
  const uint32_t ones = 0xffffffffu;
  memcpy(&nan_bits, &ones, sizeof nan_bits);
  cr_assert(nan_bits != nan_bits, "the poison pattern reads as NaN in f32");
  cudaFree(d);
}

// Every block keeps its own copy of static __shared__ while blocks run on several workers.
__global__ void static_smem_per_block_kernel(int* out) {
  __shared__ int block_id;
  __shared__ float tile[32];
  if (threadIdx.x == 0) block_id = (int)blockIdx.x;
  tile[threadIdx.x] = (float)(blockIdx.x * 100 + threadIdx.x);
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] =
      block_id * 1000 + (int)tile[(threadIdx.x + 5) % 32] - (int)blockIdx.x * 100;
}

Test(memory, static_smem_private_to_block) {
  const int n_blocks = 50, n = 32;
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, n_blocks * n * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(static_smem_per_block_kernel, n_blocks, n, 0, 0, d);
  EMU_ASSERT_OK();
  std::vector<int> got = emu_download(d, n_blocks * n), want(n_blocks * n);
  for (int b = 0; b < n_blocks; ++b)
    for (int t = 0; t < n; ++t) want[b * n + t] = b * 1000 + (t + 5) % 32;
  emu_expect_equal(got.data(), want.data(), got.size(), "static smem");
  cudaFree(d);
}

// A kernel that needs a deep stack: 16 KiB of locals per thread fit in the default 64 KiB fiber.
__global__ void deep_stack_kernel(int* out) {
  volatile int big[4096];
  for (int i = 0; i < 4096; ++i) big[i] = i + (int)threadIdx.x;
  int s = 0;
  for (int i = 0; i < 4096; i += 512) s += big[i];
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

Test(memory, large_thread_stack) {
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 128 * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(deep_stack_kernel, 2, 64, 0, 0, d);
  EMU_ASSERT_OK();
  std::vector<int> got = emu_download(d, 128), want(128);
  for (int t = 0; t < 128; ++t) want[t] = (0 + 512 + 1024 + 1536 + 2048 + 2560 + 3072 + 3584) + 8 * (t % 64);
  emu_expect_equal(got.data(), want.data(), 128, "stack sums");
  cudaFree(d);
}

#if !defined(MMRT_EMU_PLAIN_RUNNER) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#include <signal.h>
// Overflowing a fiber stack hits its guard page: a clean SIGSEGV, not silent corruption.
__global__ void stack_overflow_kernel(int* out, int n) {
  volatile char big[256 * 1024];
  for (int i = 0; i < n; i += 4096) big[i] = (char)i;
  out[threadIdx.x] = big[0];
}

Test(memory, stack_overflow_hits_guard_page, .signal = SIGSEGV) {
  int* d = nullptr;
  cudaMalloc(&d, 32 * sizeof(int));
  MMRT_LAUNCH(stack_overflow_kernel, 1, 32, 0, 0, d, 256 * 1024);
}
#endif

#if defined(__SANITIZE_ADDRESS__) && !defined(MMRT_EMU_PLAIN_RUNNER)
// Past the launch's dynamic shared memory size the arena is poisoned: ASan stops the kernel at the
// faulty line (its report names test_memory.cpp) and exits with status 1.
__global__ void dynamic_smem_overflow_kernel(float* out) {
  float* s = prim::dynamic_smem<float>();
  s[threadIdx.x + 1] = 1.0f;  // the bug: thread 31 writes s[32] of a 32-float array
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];
}

Test(memory, asan_catches_dynamic_smem_overflow, .exit_code = 1) {
  float* d = nullptr;
  cudaMalloc(&d, 32 * sizeof(float));
  MMRT_LAUNCH(dynamic_smem_overflow_kernel, 1, 32, 32 * sizeof(float), 0, d);
}
#endif
