/* The contract between libmmrt and the CUDA backend module (libmmrt-cuda.so).
 *
 * The real CUDA backend is built by nvcc into a separate MODULE library that links the CUDA
 * runtime and cuBLAS; libmmrt links no CUDA library and dlopen()s the module only when a caller
 * asks for --device cuda or auto (core/backend_registry.c). So a CUDA-enabled libmmrt still loads
 * and runs on the CPU on a host without the CUDA driver or runtime libraries.
 *
 * The module exports one symbol, MMRT_CUDA_MODULE_ENTRY. libmmrt calls it once with the table of
 * the stateful core helpers the backend's launchers use (libmmrt keeps its internal symbols
 * hidden, so the module cannot link against them; the stateless ones, core/tensor.c, are compiled
 * into the module) and gets back the module's table, or NULL when the module was built for
 * another libmmrt (a different MMRT_CUDA_MODULE_ABI or version string).
 *
 * Both tables are plain C and never change layout without a bump of MMRT_CUDA_MODULE_ABI.
 */
#ifndef MMRT_CUDA_MODULE_H
#define MMRT_CUDA_MODULE_H

#include "core/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MMRT_CUDA_MODULE_ABI 2
#define MMRT_CUDA_MODULE_FILE "libmmrt-cuda.so"
#define MMRT_CUDA_MODULE_ENTRY "mmrt_cuda_module_init"
/* Environment variable naming the module's path; overrides the search next to libmmrt. */
#define MMRT_CUDA_MODULE_ENV "MMRT_CUDA_MODULE"

/* What libmmrt lends the module: the core/error.h helpers the cuda/ launchers call. */
typedef struct mmrt_cuda_host {
    int abi;             /* MMRT_CUDA_MODULE_ABI of libmmrt */
    const char *version; /* mmrt_version() of libmmrt */
    mmrt_status (*error_set)(mmrt_error *err, mmrt_status status, const char *fmt, ...);
    mmrt_status (*error_oom)(mmrt_error *err, size_t n_bytes, const char *what);
    void (*abort)(const char *file, int line, const char *expr);
} mmrt_cuda_host;

/* What the module gives back. */
typedef struct mmrt_cuda_module {
    int abi; /* MMRT_CUDA_MODULE_ABI of the module */
    /* Number of usable devices (>= 1), or a status: MMRT_ERR_UNSUPPORTED naming the cause when
     * this host cannot run CUDA (no driver, a driver older than the runtime, no device),
     * MMRT_ERR_BACKEND for other CUDA failures. */
    mmrt_status (*device_count)(int *n_devices, mmrt_error *err);
    /* One line describing device i ("NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB, driver 13.0, runtime
     * 13.0"). */
    mmrt_status (*device_describe)(int i, char *buf, size_t n_buf, mmrt_error *err);
    /* The backend factory (cuda/cuda_backend.h), after the same checks as device_count. */
    mmrt_status (*backend_init)(const mmrt_backend_params *params, mmrt_backend **out,
                                mmrt_error *err);
} mmrt_cuda_module;

typedef const mmrt_cuda_module *(*mmrt_cuda_module_init_fn)(const mmrt_cuda_host *host);

#ifdef __cplusplus
}
#endif

#endif
