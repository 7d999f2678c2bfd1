// patchify.cuh — patch-embedding im2col (MMRT_OP_PATCHIFY): pixels (n_img, C, H, W) f32 →
// dst (n_img·(H/p)·(W/p), C·p·p) f32, one row per patch, columns in Conv2d weight order (c, ky,
// kx).
#pragma once

#include "common.cuh"

struct patchify_params {
  const float* px;  // (n_img, C, H, W): row stride px_stride1, channel px_stride2, image px_stride3
  float* dst;       // (n_row, C·p·p), row stride dst_stride
  int64_t n_chan, patch, ny, nx;  // ny × nx patches per image
  int64_t px_stride1, px_stride2, px_stride3, dst_stride;
};

// One block per patch (dst row); consecutive threads read consecutive pixels of a patch row.
__global__ void __launch_bounds__(ROW_THREADS_MAX) patchify_kernel(patchify_params p) {
  const int64_t r = blockIdx.x, pp = p.patch * p.patch;
  const int64_t i = r / (p.ny * p.nx), py = r / p.nx % p.ny, x0 = r % p.nx * p.patch;
  const float* img = p.px + i * p.px_stride3 + py * p.patch * p.px_stride1 + x0;
  float* dst = p.dst + r * p.dst_stride;
  for (int64_t col = threadIdx.x; col < p.n_chan * pp; col += blockDim.x) {
    const int64_t c = col / pp, ky = col % pp / p.patch, kx = col % p.patch;
    dst[col] = img[c * p.px_stride2 + ky * p.px_stride1 + kx];
  }
}
