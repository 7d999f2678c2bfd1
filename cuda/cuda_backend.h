/* The CUDA backend (cuda/cuda_backend.cu): device buffers, one stream, and a kernel per op.
 *
 * Built by nvcc for the GPU (later work) or, in the test-only MMRT_CUDA_EMU build, by the host C++
 * compiler against cuda/emu, where the same kernels run on the CPU. core/backend_registry.c is the
 * only caller; model code reaches it through mmrt_backend_init(device = MMRT_DEVICE_CUDA).
 *
 * Limits of this version: every tensor of an op (weights included) must live in device memory that
 * this backend allocated (buffer_alloc + upload); supports_op() says no otherwise. ATTENTION is
 * not implemented yet (supports_op() says no); MATMUL is a plain tiled f32 kernel until the cuBLAS
 * wrapper replaces it.
 */
#ifndef MMRT_CUDA_BACKEND_H
#define MMRT_CUDA_BACKEND_H

#include "core/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a backend on the current CUDA device with its own stream. Errors: MMRT_ERR_BACKEND when
 * no device or stream is available (the CUDA message is kept), MMRT_ERR_OOM. */
mmrt_status mmrt_cuda_backend_init(const mmrt_backend_params *params, mmrt_backend **out,
                                   mmrt_error *err);

#ifdef __cplusplus
}
#endif

#endif
