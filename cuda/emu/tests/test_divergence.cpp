// test_divergence.cpp — kernels that break CUDA's rules fail their launch with a message naming
// the kernel, the block and the source line; they never hang or abort, and later launches work.
// (Not built under TSan: abandoned fibers confuse it; see README.md.)
#include "emu_test.h"

#include <string.h>

// Asserts the last launch failed with `code` and that its message contains every `parts` entry.
static void expect_failure(cudaError_t code, std::initializer_list<const char*> parts) {
  const cudaError_t e = cudaGetLastError();
  const char* msg = mmrt_emu_last_error_message();
  cr_assert_eq(e, code, "want %s, got %s (%s)", cudaGetErrorName(code), cudaGetErrorName(e), msg);
  for (const char* p : parts) cr_assert(strstr(msg, p) != nullptr, "message lacks \"%s\": %s", p, msg);
}

__global__ void fill_kernel(int* out, int v) { out[blockIdx.x * blockDim.x + threadIdx.x] = v; }

// After a failed launch the same workers (and fibers) must run a healthy kernel correctly.
static void expect_healthy_launch() {
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 8 * 64 * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(fill_kernel, 8, 64, 0, 0, d, 42);
  EMU_ASSERT_OK();
  std::vector<int> got = emu_download(d, 8 * 64), want(8 * 64, 42);
  emu_expect_equal(got.data(), want.data(), got.size(), "after failure");
  cudaFree(d);
}

__global__ void early_exit_kernel(int* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;  // the bug: threads of the last block leave before the barrier
  __shared__ int s[128];
  s[threadIdx.x] = i;
  __syncthreads();
  out[i] = s[(threadIdx.x + 1) % blockDim.x];
}

Test(divergence, exit_before_barrier) {
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 300 * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(early_exit_kernel, 3, 128, 0, 0, d, 300);
  expect_failure(cudaErrorLaunchFailure, {"early_exit_kernel", "block (2,0,0)", "exited", "__syncthreads"});
  cudaFree(d);
  expect_healthy_launch();
}

__global__ void different_barriers_kernel(int* out) {
  if (threadIdx.x % 2) {
    out[threadIdx.x] = 1;
    __syncthreads();
  } else {
    out[threadIdx.x] = 2;
    __syncthreads();
  }
}

Test(divergence, different_barriers) {
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 64 * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(different_barriers_kernel, 2, 64, 0, 0, d);
  expect_failure(cudaErrorLaunchFailure, {"different_barriers_kernel", "barrier divergence", "test_divergence.cpp"});
  cudaFree(d);
  expect_healthy_launch();
}

__global__ void shuffle_after_exit_kernel(int* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, (int)threadIdx.x, 1);
}

Test(divergence, shuffle_waits_for_exited_lanes) {
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 32 * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(shuffle_after_exit_kernel, 1, 32, 0, 0, d);
  expect_failure(cudaErrorLaunchFailure, {"shuffle_after_exit_kernel", "deadlock", "__shfl_down_sync", "16 threads exited"});
  cudaFree(d);
  expect_healthy_launch();
}

__global__ void mixed_collectives_kernel(int* out) {
  int v;
  if (threadIdx.x < 16) v = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 1);
  else v = (int)__ballot_sync(0xffffffffu, 1);
  out[threadIdx.x] = v;
}

Test(divergence, mixed_collectives) {
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 32 * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(mixed_collectives_kernel, 1, 32, 0, 0, d);
  expect_failure(cudaErrorLaunchFailure, {"mixed_collectives_kernel", "different warp collectives", "__shfl_xor_sync", "__ballot_sync"});
  cudaFree(d);
  expect_healthy_launch();
}

__global__ void mask_excludes_self_kernel(int* out) {
  out[threadIdx.x] = __shfl_sync(0x0000ffffu, (int)threadIdx.x, 0);
}

Test(divergence, mask_excludes_caller) {
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 32 * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(mask_excludes_self_kernel, 1, 32, 0, 0, d);
  expect_failure(cudaErrorLaunchFailure, {"mask_excludes_self_kernel", "excludes the calling lane"});
  cudaFree(d);
  expect_healthy_launch();
}

__global__ void reads_outside_mask_kernel(int* out) {
  // lanes 0-7 exchange among themselves but lane 7 reads lane 8
  if (threadIdx.x < 8) out[threadIdx.x] = __shfl_down_sync(0xffu, (int)threadIdx.x, 1);
}

Test(divergence, shuffle_source_outside_mask) {
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 32 * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(reads_outside_mask_kernel, 1, 32, 0, 0, d);
  expect_failure(cudaErrorLaunchFailure, {"reads lane 8", "not in the member mask"});
  cudaFree(d);
  expect_healthy_launch();
}

Test(divergence, invalid_configurations) {
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 64 * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(fill_kernel, 1, 2048, 0, 0, d, 1);
  expect_failure(cudaErrorInvalidConfiguration, {"fill_kernel", "block (2048,1,1)", "1..1024"});
  MMRT_LAUNCH(fill_kernel, dim3(1, 70000), 32, 0, 0, d, 1);
  expect_failure(cudaErrorInvalidConfiguration, {"grid (1,70000,1)"});
  MMRT_LAUNCH(fill_kernel, 0, 32, 0, 0, d, 1);
  expect_failure(cudaErrorInvalidConfiguration, {"grid (0,1,1)"});
  // More than 48 KiB of dynamic shared memory needs the kernel's opt-in, as on the GPU.
  MMRT_LAUNCH(fill_kernel, 1, 32, 64 * 1024, 0, d, 1);
  expect_failure(cudaErrorInvalidValue, {"cudaFuncSetAttribute"});
  cr_assert_eq(cudaFuncSetAttribute(fill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024), cudaSuccess);
  MMRT_LAUNCH(fill_kernel, 1, 32, 64 * 1024, 0, d, 1);
  EMU_ASSERT_OK();
  MMRT_LAUNCH(fill_kernel, 1, 32, 300 * 1024, 0, d, 1);
  expect_failure(cudaErrorInvalidValue, {"device limit"});
  cudaFree(d);
}

__global__ void mma_partial_warp_kernel(float* out) {
  const uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
  float c[4] = {0, 0, 0, 0};
  prim::mma_m16n8k16_bf16(c, a, b, c);
  out[threadIdx.x] = c[0];
}

Test(divergence, mma_needs_full_warp) {
  float* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 32 * sizeof(float)), cudaSuccess);
  MMRT_LAUNCH(mma_partial_warp_kernel, 1, 16, 0, 0, d);
  expect_failure(cudaErrorLaunchFailure, {"mma_partial_warp_kernel", "needs all 32 lanes"});
  cudaFree(d);
  expect_healthy_launch();
}

__global__ void ldmatrix_misaligned_kernel(uint32_t* out) {
  uint16_t* s = prim::dynamic_smem<uint16_t>();
  const unsigned lane = prim::lane_id();
  for (int i = 0; i < 8; ++i) s[lane * 8 + i] = (uint16_t)i;
  __syncwarp();
  uint32_t r[1];
  prim::ldmatrix_x1(r, s + 1 + (lane % 8) * 8);  // rows 2 bytes off their 16-byte alignment
  out[lane] = r[0];
}

Test(divergence, ldmatrix_misaligned_rows) {
  uint32_t* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 32 * sizeof(uint32_t)), cudaSuccess);
  MMRT_LAUNCH(ldmatrix_misaligned_kernel, 1, 32, 1024, 0, d);
  expect_failure(cudaErrorLaunchFailure, {"ldmatrix_misaligned_kernel", "not 16-byte aligned"});
  cudaFree(d);
  expect_healthy_launch();
}
