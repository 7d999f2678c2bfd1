/* The CUDA backend (cuda/cuda_backend.cu): device buffers, one stream with its cuBLAS handle, and
 * a kernel (or a cuBLAS call) per op.
 *
 * Built by nvcc into the module libmmrt-cuda.so or, in the test-only MMRT_CUDA_EMU build, by the
 * host C++ compiler against cuda/emu, where the same kernels run on the CPU. core/backend_registry.c
 * is the only caller; model code reaches it through mmrt_backend_init(device = MMRT_DEVICE_KIND_CUDA).
 *
 * Every tensor of an op (weights included) must live in device memory that this backend, or the
 * backend it was forked from, handed out; supports_op() says no otherwise (and the op falls back to
 * the CPU, counted). A model uploads its weights once through its backend; each session forks it.
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
