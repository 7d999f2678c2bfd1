// test_barrier.cpp — built-in variables and __syncthreads in the three scheduling orders.
#include "emu_test.h"

static const mmrt_emu_sched all_orders[] = {MMRT_EMU_SCHED_FORWARD, MMRT_EMU_SCHED_REVERSE,
                                            MMRT_EMU_SCHED_SHUFFLE};
static const char* const order_names[] = {"forward", "reverse", "shuffle"};

// Every thread records its indices: out[linear global thread] = packed ids.
__global__ void record_ids_kernel(uint32_t* out) {
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned n = blockDim.x * blockDim.y * blockDim.z;
  out[b * n + t] = threadIdx.x | threadIdx.y << 4 | threadIdx.z << 8 | blockIdx.x << 12 |
                   blockIdx.y << 16 | blockIdx.z << 20;
}

Test(barrier, builtin_variables) {
  const dim3 grid(3, 2, 2), block(5, 3, 2);
  const unsigned n = 12 * 30;
  uint32_t* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, n * sizeof(uint32_t)), cudaSuccess);
  MMRT_LAUNCH(record_ids_kernel, grid, block, 0, 0, d);
  EMU_ASSERT_OK();
  std::vector<uint32_t> got = emu_download(d, n), want(n);
  for (unsigned bz = 0; bz < 2; ++bz)
    for (unsigned by = 0; by < 2; ++by)
      for (unsigned bx = 0; bx < 3; ++bx)
        for (unsigned tz = 0; tz < 2; ++tz)
          for (unsigned ty = 0; ty < 3; ++ty)
            for (unsigned tx = 0; tx < 5; ++tx)
              want[(bx + 3 * (by + 2 * bz)) * 30 + tx + 5 * (ty + 3 * tz)] =
                  tx | ty << 4 | tz << 8 | bx << 12 | by << 16 | bz << 20;
  emu_expect_equal(got.data(), want.data(), n, "ids");
  cudaFree(d);
}

// Rotating a block's values through shared memory needs both barriers: after the writes, and
// before the next round overwrites what slower threads still read.
__global__ void rotate_kernel(const int* in, int* out, int rounds) {
  __shared__ int buf[256];
  const unsigned n = blockDim.x, t = threadIdx.x;
  int v = in[blockIdx.x * n + t];
  for (int r = 0; r < rounds; ++r) {
    buf[t] = v;
    __syncthreads();
    v = buf[(t + 1) % n] + 1;
    __syncthreads();
  }
  out[blockIdx.x * n + t] = v;
}

Test(barrier, rotate_all_orders) {
  const unsigned n_blocks = 7, n = 96;
  const int rounds = 5;
  std::vector<int> in(n_blocks * n);
  for (size_t i = 0; i < in.size(); ++i) in[i] = (int)(i * 37 % 1000);
  int* d_in = emu_upload(in);
  int* d_out = nullptr;
  cr_assert_eq(cudaMalloc(&d_out, in.size() * sizeof(int)), cudaSuccess);
  std::vector<int> want(in.size());
  for (unsigned b = 0; b < n_blocks; ++b)
    for (unsigned t = 0; t < n; ++t) want[b * n + t] = in[b * n + (t + rounds) % n] + rounds;
  const mmrt_emu_sched saved = mmrt_emu_get_sched();
  for (int o = 0; o < 3; ++o) {
    mmrt_emu_set_sched(all_orders[o], 11);
    MMRT_LAUNCH(rotate_kernel, n_blocks, n, 0, 0, d_in, d_out, rounds);
    EMU_ASSERT_OK();
    std::vector<int> got = emu_download(d_out, in.size());
    emu_expect_equal(got.data(), want.data(), in.size(), order_names[o]);
  }
  mmrt_emu_set_sched(saved, 7);
  cudaFree(d_in);
  cudaFree(d_out);
}

#if !defined(__SANITIZE_THREAD__)  // a deliberate race: TSan reports it (and fails the run)
// Thread 0 publishes a value without a barrier: a race that the forward order hides and the
// reverse order exposes (every other thread runs before thread 0 writes).
__global__ void publish_without_barrier_kernel(int* out) {
  __shared__ int flag;
  if (threadIdx.x == 0) flag = 1000 + (int)blockIdx.x;
  out[blockIdx.x * blockDim.x + threadIdx.x] = flag;
}

Test(barrier, reverse_order_exposes_missing_barrier) {
  const unsigned n = 64;
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, n * sizeof(int)), cudaSuccess);
  const mmrt_emu_sched saved = mmrt_emu_get_sched();
  mmrt_emu_set_sched(MMRT_EMU_SCHED_REVERSE, 1);
  MMRT_LAUNCH(publish_without_barrier_kernel, 1, n, 0, 0, d);
  mmrt_emu_set_sched(saved, 7);
  EMU_ASSERT_OK();
  std::vector<int> got = emu_download(d, n);
  unsigned stale = 0;
  for (unsigned i = 0; i < n; ++i) stale += got[i] != 1000;
  cr_assert_geq(stale, n - 1, "reverse order should run threads 1..63 before thread 0 (%u stale)", stale);
  cudaFree(d);
}
#endif

__global__ void sync_predicates_kernel(int* out) {
  const int t = threadIdx.x;
  const int count = __syncthreads_count(t % 3 == 0);
  const int all = __syncthreads_and(t < 1000);
  const int none = __syncthreads_and(t != 5);
  const int any = __syncthreads_or(t == 77);
  const int nobody = __syncthreads_or(t < 0);
  if (t == 0) {
    int* o = out + 5 * blockIdx.x;
    o[0] = count;
    o[1] = all;
    o[2] = none;
    o[3] = any;
    o[4] = nobody;
  }
}

Test(barrier, syncthreads_count_and_or) {
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 10 * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(sync_predicates_kernel, 2, 100, 0, 0, d);
  EMU_ASSERT_OK();
  std::vector<int> got = emu_download(d, 10);
  const int want[10] = {34, 1, 0, 1, 0, 34, 1, 0, 1, 0};
  emu_expect_equal(got.data(), want, 10, "predicates");
  cudaFree(d);
}

// Many barriers per thread across many blocks on all workers: counts arrivals per phase.
__global__ void phases_kernel(int* out, int n_phases) {
  __shared__ int arrivals;
  if (threadIdx.x == 0) arrivals = 0;
  __syncthreads();
  int seen = 0;
  for (int ph = 1; ph <= n_phases; ++ph) {
    atomicAdd(&arrivals, 1);
    __syncthreads();
    seen += arrivals == ph * (int)blockDim.x;
    __syncthreads();
  }
  out[blockIdx.x * blockDim.x + threadIdx.x] = seen;
}

Test(barrier, many_phases_many_blocks) {
  const unsigned n_blocks = 40, n = 128;
  const int n_phases = 9;
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, n_blocks * n * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(phases_kernel, n_blocks, n, 0, 0, d, n_phases);
  EMU_ASSERT_OK();
  std::vector<int> got = emu_download(d, n_blocks * n), want(n_blocks * n, n_phases);
  emu_expect_equal(got.data(), want.data(), got.size(), "phases seen");
  cudaFree(d);
}
