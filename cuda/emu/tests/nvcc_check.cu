// nvcc_check.cu — compiles cuda/prims.cuh and the sample kernels with nvcc (no GPU needed) so the
// build proves the kernel sources the emulator runs are also valid CUDA for sm_80 / sm_90, and
// ptxas reports their registers, shared memory and spills.
#include "emu/tests/kernels/block_sum.cuh"
#include "emu/tests/kernels/mma_gemm.cuh"
#include "emu/tests/kernels/mma_probes.cuh"
#include "emu/tests/kernels/tiled_matmul.cuh"

template __global__ void mma_gemm_kernel<__nv_bfloat16>(mma_gemm_params<__nv_bfloat16>);
template __global__ void mma_gemm_kernel<__half>(mma_gemm_params<__half>);

// A host launcher, so MMRT_LAUNCH itself is compiled by nvcc too.
cudaError_t launch_block_sum(const block_sum_params& p, int n_blocks, cudaStream_t stream) {
  MMRT_LAUNCH(block_sum_kernel, n_blocks, BLOCK_SUM_THREADS, 0, stream, p);
  return cudaGetLastError();
}

template __global__ void mma_fragments_kernel<__nv_bfloat16>(const uint16_t*, const uint16_t*, const float*, float*);
template __global__ void mma_fragments_kernel<__half>(const uint16_t*, const uint16_t*, const float*, float*);
