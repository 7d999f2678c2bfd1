/* The CUDA backend module's entry point (libmmrt-cuda.so; contract in cuda_module.h).
 *
 * Besides the entry point this file gives the backend's launchers the core/error.h helpers they
 * call, forwarding to libmmrt's own through the host table: libmmrt keeps its internal symbols
 * hidden, and these carry state (the log callback, the abort path) that must stay libmmrt's.
 * core/tensor.c, stateless, is compiled into the module as is.
 * Every symbol here but the entry point is hidden (C visibility preset), so two modules or a
 * statically linked libmmrt never see each other's.
 */
#include "cuda_module.h"

#include "cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mmrt_cuda_host *g_host; /* set once by the entry point, before any other call */

/* ---- core/error.h, for the launchers ------------------------------------------------------ */

mmrt_status mmrt_error_set(mmrt_error *err, mmrt_status status, const char *fmt, ...) {
    if (!err) return status;
    char buf[MMRT_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return g_host->error_set(err, status, "%s", buf);
}

mmrt_status mmrt_error_oom(mmrt_error *err, size_t n_bytes, const char *what) {
    return g_host->error_oom(err, n_bytes, what);
}

_Noreturn void mmrt_abort(const char *file, int line, const char *expr) {
    g_host->abort(file, line, expr);
    abort(); /* the host's abort does not return either; this keeps _Noreturn honest */
}

/* ---- devices ------------------------------------------------------------------------------ */

/* "13.0" from CUDA's 1000 * major + 10 * minor. */
static void version_str(int v, char buf[16]) { snprintf(buf, 16, "%d.%d", v / 1000, v % 1000 / 10); }

static mmrt_status module_device_count(int *n_devices, mmrt_error *err) {
    *n_devices = 0;
    int rt = 0, drv = 0;
    char rt_s[16], drv_s[16];
    cudaRuntimeGetVersion(&rt);
    version_str(rt, rt_s);
    /* cudaDriverGetVersion reports 0, not an error, when libcuda.so.1 cannot be loaded. */
    if (cudaDriverGetVersion(&drv) != cudaSuccess || drv == 0)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "CUDA: no NVIDIA driver on this host (libcuda.so.1 not found; the "
                              "module was built with CUDA runtime %s)",
                              rt_s);
    version_str(drv, drv_s);
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorInsufficientDriver)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "CUDA: the NVIDIA driver (CUDA %s) is older than the CUDA runtime this "
                              "module was built with (%s); update the driver",
                              drv_s, rt_s);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0))
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "CUDA: no CUDA device found (driver CUDA %s, runtime %s)", drv_s, rt_s);
    if (e != cudaSuccess)
        return mmrt_error_set(err, MMRT_ERR_BACKEND,
                              "CUDA: cudaGetDeviceCount failed: %s (%s; driver CUDA %s, runtime %s)",
                              cudaGetErrorString(e), cudaGetErrorName(e), drv_s, rt_s);
    *n_devices = n;
    return MMRT_OK;
}

static mmrt_status module_device_describe(int i, char *buf, size_t n_buf, mmrt_error *err) {
    struct cudaDeviceProp prop;
    const cudaError_t e = cudaGetDeviceProperties(&prop, i);
    if (e != cudaSuccess)
        return mmrt_error_set(err, MMRT_ERR_BACKEND, "CUDA: device %d: %s", i,
                              cudaGetErrorString(e));
    int rt = 0, drv = 0;
    char rt_s[16], drv_s[16];
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    version_str(rt, rt_s);
    version_str(drv, drv_s);
    snprintf(buf, n_buf, "%s, sm_%d%d, %d SMs, %.1f GiB, driver CUDA %s, runtime %s", prop.name,
             prop.major, prop.minor, prop.multiProcessorCount,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), drv_s, rt_s);
    return MMRT_OK;
}

static mmrt_status module_backend_init(const mmrt_backend_params *params, mmrt_backend **out,
                                       mmrt_error *err) {
    int n = 0;
    MMRT_TRY(module_device_count(&n, err));
    return mmrt_cuda_backend_init(params, out, err);
}

static const mmrt_cuda_module g_module = {
    .abi = MMRT_CUDA_MODULE_ABI,
    .device_count = module_device_count,
    .device_describe = module_device_describe,
    .backend_init = module_backend_init,
};

__attribute__((visibility("default"))) const mmrt_cuda_module *
mmrt_cuda_module_init(const mmrt_cuda_host *host) {
    /* The module's structs (mmrt_op, mmrt_tensor, mmrt_backend_i) must be libmmrt's. */
    if (!host || host->abi != MMRT_CUDA_MODULE_ABI || strcmp(host->version, MMRT_VERSION_STRING))
        return NULL;
    g_host = host;
    return &g_module;
}
