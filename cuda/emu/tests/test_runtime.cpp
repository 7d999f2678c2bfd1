// test_runtime.cpp — the CUDA runtime shim: host code written for CUDA runs unchanged, and misuse
// that a GPU would reject (wrong copy direction, double free, unknown handles) is rejected here.
#include "emu_test.h"

#include <string.h>

__global__ void scale_kernel(float* x, float s, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= s;
}

__global__ void no_args_kernel() {}

Test(runtime, malloc_copy_launch_roundtrip) {
  const int n = 1000;
  std::vector<float> h(n);
  for (int i = 0; i < n; ++i) h[i] = (float)i;
  float* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, n * sizeof(float)), cudaSuccess);
  cr_assert_eq((uintptr_t)d % 256, 0u, "cudaMalloc aligns to 256 bytes");
  cudaStream_t stream;
  cr_assert_eq(cudaStreamCreate(&stream), cudaSuccess);
  cr_assert_eq(cudaMemcpyAsync(d, h.data(), n * sizeof(float), cudaMemcpyHostToDevice, stream), cudaSuccess);
  MMRT_LAUNCH(scale_kernel, (n + 127) / 128, 128, 0, stream, d, 2.5f, n);
  EMU_ASSERT_OK();
  MMRT_LAUNCH(no_args_kernel, 1, 1, 0, stream);
  EMU_ASSERT_OK();
  std::vector<float> back(n);
  cr_assert_eq(cudaMemcpyAsync(back.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost, stream), cudaSuccess);
  cr_assert_eq(cudaStreamSynchronize(stream), cudaSuccess);
  for (int i = 0; i < n; ++i) cr_assert_eq(back[i], 2.5f * i, "x[%d] = %g", i, (double)back[i]);
  cr_assert_eq(cudaStreamDestroy(stream), cudaSuccess);
  cr_assert_eq(cudaFree(d), cudaSuccess);
  cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
}

Test(runtime, memset_and_device_to_device) {
  unsigned char* a = nullptr;
  unsigned char* b = nullptr;
  cr_assert_eq(cudaMalloc(&a, 300), cudaSuccess);
  cr_assert_eq(cudaMalloc(&b, 300), cudaSuccess);
  std::vector<unsigned char> fresh = emu_download(a, 300);
  for (unsigned char v : fresh) cr_assert_eq(v, 0xff, "new device memory is poisoned with 0xff");
  cr_assert_eq(cudaMemset(a, 0x5a, 300), cudaSuccess);
  cr_assert_eq(cudaMemsetAsync(a + 100, 0x11, 50, 0), cudaSuccess);
  cr_assert_eq(cudaMemcpy(b, a, 300, cudaMemcpyDeviceToDevice), cudaSuccess);
  std::vector<unsigned char> got = emu_download(b, 300);
  for (int i = 0; i < 300; ++i) cr_assert_eq(got[i], i >= 100 && i < 150 ? 0x11 : 0x5a, "byte %d", i);
  cudaFree(a);
  cudaFree(b);
}

Test(runtime, misuse_is_rejected) {
  float* d = nullptr;
  std::vector<float> h(16, 1.0f);
  cr_assert_eq(cudaMalloc(&d, 16 * sizeof(float)), cudaSuccess);
  // swapped arguments: the "device" destination is a host buffer
  cr_assert_eq(cudaMemcpy(h.data(), d, 16 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  cr_assert(strstr(mmrt_emu_last_error_message(), "destination") != nullptr, "%s", mmrt_emu_last_error_message());
  cr_assert_eq(cudaGetLastError(), cudaErrorInvalidValue);
  cr_assert_eq(cudaGetLastError(), cudaSuccess, "cudaGetLastError resets the error");
  // overrun of the allocation
  cr_assert_eq(cudaMemcpy(d + 8, h.data(), 16 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  cr_assert_eq(cudaPeekAtLastError(), cudaErrorInvalidValue);
  cr_assert_eq(cudaPeekAtLastError(), cudaErrorInvalidValue, "peek does not reset");
  cr_assert_eq(cudaMemset(h.data(), 0, 4), cudaErrorInvalidValue);
  cr_assert_eq(cudaFree(d), cudaSuccess);
  cr_assert_eq(cudaFree(d), cudaErrorInvalidValue, "double free");
  cr_assert_eq(cudaFree(nullptr), cudaSuccess);
  cr_assert_eq(cudaStreamDestroy((cudaStream_t)h.data()), cudaErrorInvalidResourceHandle);
  cr_assert_eq(cudaSetDevice(1), cudaErrorInvalidDevice);
  cr_assert_str_eq(cudaGetErrorString(cudaErrorInvalidValue), "invalid argument");
  cr_assert_str_eq(cudaGetErrorName(cudaErrorLaunchFailure), "cudaErrorLaunchFailure");
  (void)cudaGetLastError();
}

Test(runtime, events_time_a_launch) {
  const int n = 1 << 16;
  float* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, n * sizeof(float)), cudaSuccess);
  cudaEvent_t start, stop;
  cr_assert_eq(cudaEventCreate(&start), cudaSuccess);
  cr_assert_eq(cudaEventCreateWithFlags(&stop, cudaEventDefault), cudaSuccess);
  float ms = -1;
  cr_assert_eq(cudaEventElapsedTime(&ms, start, stop), cudaErrorInvalidResourceHandle, "not recorded yet");
  cr_assert_eq(cudaGetLastError(), cudaErrorInvalidResourceHandle, "the error stays until read");
  cr_assert_eq(cudaEventRecord(start, 0), cudaSuccess);
  MMRT_LAUNCH(scale_kernel, n / 256, 256, 0, 0, d, 1.0f, n);
  EMU_ASSERT_OK();
  cr_assert_eq(cudaEventRecord(stop, 0), cudaSuccess);
  cr_assert_eq(cudaEventSynchronize(stop), cudaSuccess);
  cr_assert_eq(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
  cr_assert(ms > 0.0f && ms < 10000.0f, "elapsed %g ms", (double)ms);
  cr_assert_eq(cudaEventDestroy(start), cudaSuccess);
  cr_assert_eq(cudaEventDestroy(stop), cudaSuccess);
  cudaFree(d);
}

Test(runtime, device_queries) {
  int count = 0, dev = -1;
  cr_assert_eq(cudaGetDeviceCount(&count), cudaSuccess);
  cr_assert_eq(count, 1);
  cr_assert_eq(cudaSetDevice(0), cudaSuccess);
  cr_assert_eq(cudaGetDevice(&dev), cudaSuccess);
  cr_assert_eq(dev, 0);
  int optin = 0;
  cr_assert_eq(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0), cudaSuccess);
  cr_assert_gt(optin, 48 * 1024);  // an sm_90 device: above the 48 KiB every kernel gets
  cr_assert_neq(cudaDeviceGetAttribute(&optin, cudaDevAttrClockRate, 0), cudaSuccess);
  (void)cudaGetLastError();
  void* pinned = nullptr;
  cr_assert_eq(cudaMallocHost(&pinned, 64), cudaSuccess);
  cr_assert_eq(cudaFreeHost(pinned), cudaSuccess);
}
