/* The backend registry: the one file that knows which backends this build contains. */
#include "backend.h"

#include "core/cpu/cpu_backend.h"
#ifdef MMRT_HAVE_CUDA_EMU
#include "cuda/cuda_backend.h"
#endif

mmrt_status mmrt_backend_init(const mmrt_backend_params *params, mmrt_backend **out,
                              mmrt_error *err) {
    switch (params->device) {
    case MMRT_DEVICE_CPU:
    case MMRT_DEVICE_AUTO: /* no GPU backend in this build (the emulated one is asked for by name) */
        return mmrt_cpu_backend_init(params->n_threads, params->use_ref, out, err);
    case MMRT_DEVICE_CUDA:
#ifdef MMRT_HAVE_CUDA_EMU /* test-only build: the CUDA backend's kernels on the CPU emulator */
        return mmrt_cuda_backend_init(params, out, err);
#else
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "this build of mmrt has no CUDA backend (use --device cpu)");
#endif
    }
    return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "unknown device kind %d", (int)params->device);
}

void mmrt_backend_free(mmrt_backend *be) {
    if (be) be->iface->free(be);
}
