// test_warp.cpp — shuffles, votes and __syncwarp against results computed by hand from the CUDA
// Programming Guide's definitions (segments of `width` lanes; out-of-range sources give the
// lane's own value), including widths, partial masks and partial warps.
#include "emu_test.h"

enum shfl_op { OP_IDX, OP_UP, OP_DOWN, OP_XOR };

__global__ void shfl_kernel(int* out, int op, int arg, int width) {
  const int lane = (int)prim::lane_id();
  const int v = lane * 10 + 1;
  int r = 0;
  switch (op) {
    case OP_IDX: r = __shfl_sync(0xffffffffu, v, arg, width); break;
    case OP_UP: r = __shfl_up_sync(0xffffffffu, v, (unsigned)arg, width); break;
    case OP_DOWN: r = __shfl_down_sync(0xffffffffu, v, (unsigned)arg, width); break;
    case OP_XOR: r = __shfl_xor_sync(0xffffffffu, v, arg, width); break;
  }
  out[threadIdx.x] = r;
}

// shfl.sync takes the lane operand modulo 32 (PTX uses its low 5 bits), so a delta of 37 is 5.
static int shfl_reference(int op, int lane, int arg, int width) {
  const int base = lane / width * width;
  arg &= 31;
  int src = lane;
  switch (op) {
    case OP_IDX: src = base + arg % width; break;
    case OP_UP: src = lane - base >= arg ? lane - arg : lane; break;
    case OP_DOWN: src = lane - base + arg < width ? lane + arg : lane; break;
    case OP_XOR: src = (lane ^ arg) < base + width ? lane ^ arg : lane; break;
  }
  return src * 10 + 1;
}

Test(warp, shuffles_all_widths) {
  static const char* const names[] = {"__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync"};
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 64 * sizeof(int)), cudaSuccess);
  const int widths[] = {1, 2, 4, 8, 16, 32};
  const int args[] = {0, 1, 3, 5, 8, 16, 31, 37};
  for (int op = OP_IDX; op <= OP_XOR; ++op)
    for (int w : widths)
      for (int a : args) {
        if (op == OP_XOR && a > 31) continue;
        MMRT_LAUNCH(shfl_kernel, 1, 64, 0, 0, d, op, a, w);
        EMU_ASSERT_OK();
        std::vector<int> got = emu_download(d, 64), want(64);
        for (int t = 0; t < 64; ++t) want[t] = shfl_reference(op, t % 32, a, w);
        char what[64];
        snprintf(what, sizeof what, "%s(arg %d, width %d)", names[op], a, w);
        emu_expect_equal(got.data(), want.data(), 64, what);
      }
  cudaFree(d);
}

// Three disjoint groups of one warp run different collectives at the same time, each reading only
// lanes of its own mask.
__global__ void partial_masks_kernel(int* out) {
  const unsigned lane = prim::lane_id();
  const int v = (int)lane * 10 + 1;
  int r;
  if (lane < 16) r = __shfl_xor_sync(0x0000ffffu, v, 1);
  else if (lane < 28) r = __shfl_down_sync(0x0fff0000u, v, 2, 4);
  else r = __shfl_sync(0xf0000000u, v, 29);
  out[threadIdx.x] = r;
}

Test(warp, partial_masks) {
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 32 * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(partial_masks_kernel, 1, 32, 0, 0, d);
  EMU_ASSERT_OK();
  std::vector<int> got = emu_download(d, 32), want(32);
  for (int l = 0; l < 32; ++l) {
    int src;
    if (l < 16) src = l ^ 1;
    else if (l < 28) src = l % 4 + 2 < 4 ? l + 2 : l;
    else src = 29;
    want[l] = src * 10 + 1;
  }
  emu_expect_equal(got.data(), want.data(), 32, "partial masks");
  cudaFree(d);
}

__global__ void wide_types_kernel(double* out_d, __half* out_h) {
  const unsigned lane = prim::lane_id();
  out_d[lane] = __shfl_xor_sync(0xffffffffu, 1.5 * lane + 1e12, 3);
  out_h[lane] = __shfl_up_sync(0xffffffffu, __float2half((float)lane), 4);
}

Test(warp, shuffle_64_and_16_bit_types) {
  double* dd = nullptr;
  __half* dh = nullptr;
  cr_assert_eq(cudaMalloc(&dd, 32 * sizeof(double)), cudaSuccess);
  cr_assert_eq(cudaMalloc(&dh, 32 * sizeof(__half)), cudaSuccess);
  MMRT_LAUNCH(wide_types_kernel, 1, 32, 0, 0, dd, dh);
  EMU_ASSERT_OK();
  std::vector<double> gd = emu_download(dd, 32);
  std::vector<__half> gh = emu_download(dh, 32);
  for (int l = 0; l < 32; ++l) {
    cr_assert_eq(gd[l], 1.5 * (l ^ 3) + 1e12, "double lane %d: %.17g", l, gd[l]);
    const float want = (float)(l >= 4 ? l - 4 : l);
    cr_assert_eq(__half2float(gh[l]), want, "half lane %d: %g", l, (double)__half2float(gh[l]));
  }
  cudaFree(dd);
  cudaFree(dh);
}

// out per thread: ballot(full), ballot(0x0f0f0f0f) or -1, any, all, activemask.
__global__ void votes_kernel(unsigned* out) {
  const unsigned lane = prim::lane_id();
  unsigned* o = out + 5 * threadIdx.x;
  o[0] = __ballot_sync(0xffffffffu, lane % 3 == 0);
  o[1] = 0xdeadbeefu;
  if ((0x0f0f0f0fu >> lane) & 1u) o[1] = __ballot_sync(0x0f0f0f0fu, lane > 8);
  o[2] = __any_sync(0xffffffffu, lane == 7);
  o[3] = __all_sync(0xffffffffu, lane < 40);
  o[4] = __activemask();
}

Test(warp, ballot_any_all_partial_warp) {
  // 48 threads: warp 1 has only lanes 0-15, which is all a full mask names there.
  const int n = 48;
  unsigned* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 5 * n * sizeof(unsigned)), cudaSuccess);
  MMRT_LAUNCH(votes_kernel, 1, n, 0, 0, d);
  EMU_ASSERT_OK();
  std::vector<unsigned> got = emu_download(d, 5 * n), want(5 * n);
  for (int t = 0; t < n; ++t) {
    const int lane = t % 32, warp = t / 32;
    const unsigned present = warp == 0 ? 0xffffffffu : 0x0000ffffu;
    unsigned b = 0, b2 = 0;
    for (int l = 0; l < 32; ++l) {
      if (!(present >> l & 1u)) continue;
      if (l % 3 == 0) b |= 1u << l;
      if ((0x0f0f0f0fu >> l & 1u) && l > 8) b2 |= 1u << l;
    }
    want[5 * t + 0] = b;
    want[5 * t + 1] = (0x0f0f0f0fu >> lane & 1u) ? b2 : 0xdeadbeefu;
    want[5 * t + 2] = 1;  // both warps have a lane 7
    want[5 * t + 3] = 1;
    want[5 * t + 4] = present;
  }
  emu_expect_equal(got.data(), want.data(), got.size(), "votes");
  cudaFree(d);
}

// Lanes exchange through shared memory; __syncwarp orders the writes before the reads.
__global__ void syncwarp_kernel(int* out) {
  __shared__ int s[64];
  const unsigned t = threadIdx.x;
  for (int r = 0; r < 4; ++r) {
    s[t] = (int)t * 100 + r;
    __syncwarp();
    out[t * 4 + r] = s[(t & ~31u) | ((t + 1) & 31u)];
    __syncwarp();
  }
}

Test(warp, syncwarp_exchange) {
  int* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, 64 * 4 * sizeof(int)), cudaSuccess);
  MMRT_LAUNCH(syncwarp_kernel, 3, 64, 0, 0, d);
  EMU_ASSERT_OK();
  std::vector<int> got = emu_download(d, 256), want(256);
  for (int t = 0; t < 64; ++t)
    for (int r = 0; r < 4; ++r) want[t * 4 + r] = ((t & ~31) | ((t + 1) & 31)) * 100 + r;
  emu_expect_equal(got.data(), want.data(), 256, "syncwarp");
  cudaFree(d);
}
