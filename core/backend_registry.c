/* The backend registry: the one file that knows which backends this build contains.
 *
 * CPU: always. CUDA, in one of two forms:
 *  - a CUDA-enabled build (MMRT_HAVE_CUDA_MODULE): the backend is the module libmmrt-cuda.so
 *    (cuda/module/cuda_module.h), dlopen()ed on the first request for device cuda or auto, from
 *    $MMRT_CUDA_MODULE, else next to libmmrt, else wherever the dynamic loader finds it. libmmrt
 *    itself links no CUDA library, so it loads and runs on the CPU on a host without CUDA;
 *  - the test-only emulated build (MMRT_HAVE_CUDA_EMU): the backend is linked in and runs its
 *    kernels on the CPU emulator; it is only used when asked for by name.
 * A host that cannot run the module (module or CUDA libraries missing, no driver, a driver older
 * than the runtime, no device, CUDA failing to start) makes `cuda` an error naming the cause and
 * `auto` a CPU backend, with the cause said once per process through the log.
 */
#include "backend.h"

#include "log.h"
#include "core/cpu/cpu_backend.h"
#include "core/cpu/gemm.h"
#include "core/cpu/simd.h"
#include "core/quant.h"
#include "core/strbuf.h"

#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef MMRT_HAVE_CUDA_EMU
#include "cuda/cuda_backend.h"
#endif
#ifdef MMRT_HAVE_CUDA_MODULE
#include "cuda/module/cuda_module.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#endif

#ifdef MMRT_HAVE_CUDA_MODULE

static const mmrt_cuda_host g_cuda_host = {
    .abi = MMRT_CUDA_MODULE_ABI,
    .version = MMRT_VERSION_STRING,
    .error_set = mmrt_error_set,
    .error_oom = mmrt_error_oom,
    .abort = mmrt_abort,
};

/* The module is loaded at most once per process and never unloaded (the CUDA runtime does not
 * support being unloaded while a context lives); a failure is kept and reported to every caller. */
static pthread_once_t g_cuda_once = PTHREAD_ONCE_INIT;
static const mmrt_cuda_module *g_cuda;
static mmrt_error g_cuda_err;

/* Where to dlopen the module from: $MMRT_CUDA_MODULE, else the directory libmmrt was loaded from
 * (the build tree and the install tree both put the module there), else the bare file name. */
static void cuda_module_path(char *buf, size_t n_buf) {
    const char *env = getenv(MMRT_CUDA_MODULE_ENV);
    if (env && env[0]) {
        snprintf(buf, n_buf, "%s", env);
        return;
    }
    Dl_info info;
    if (dladdr((void *)mmrt_backend_init, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash) {
            snprintf(buf, n_buf, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname,
                     MMRT_CUDA_MODULE_FILE);
            if (access(buf, F_OK) == 0) return;
        }
    }
    snprintf(buf, n_buf, "%s", MMRT_CUDA_MODULE_FILE);
}

static void cuda_module_load(void) {
    char path[4096];
    cuda_module_path(path, sizeof path);
    const bool explicit_path = strchr(path, '/') != NULL;
    if (explicit_path && access(path, F_OK) != 0) {
        mmrt_error_set(&g_cuda_err, MMRT_ERR_UNSUPPORTED,
                       "CUDA backend module %s not found (this mmrt was built with CUDA; install "
                       "%s next to libmmrt or set " MMRT_CUDA_MODULE_ENV " to its path)",
                       path, MMRT_CUDA_MODULE_FILE);
        return;
    }
    /* RTLD_NOW: a missing CUDA library or symbol fails here, with the loader's message. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        mmrt_error_set(&g_cuda_err, MMRT_ERR_UNSUPPORTED,
                       "CUDA backend module %s could not be loaded: %s (the CUDA runtime and "
                       "cuBLAS libraries must be installed and on the library path)",
                       path, why ? why : "unknown error");
        return;
    }
    const mmrt_cuda_module_init_fn init = (mmrt_cuda_module_init_fn)dlsym(h, MMRT_CUDA_MODULE_ENTRY);
    const mmrt_cuda_module *m = init ? init(&g_cuda_host) : NULL;
    if (!init || !m || m->abi != MMRT_CUDA_MODULE_ABI) {
        mmrt_error_set(&g_cuda_err, MMRT_ERR_BACKEND,
                       "%s is not a CUDA backend module for mmrt %s (%s)", path,
                       MMRT_VERSION_STRING,
                       !init ? "no " MMRT_CUDA_MODULE_ENTRY " symbol"
                             : "built for another version of mmrt");
        dlclose(h);
        return;
    }
    g_cuda = m;
}

static mmrt_status cuda_backend_init(const mmrt_backend_params *params, mmrt_backend **out,
                                     mmrt_error *err) {
    pthread_once(&g_cuda_once, cuda_module_load);
    if (!g_cuda) return mmrt_error_set(err, g_cuda_err.status, "%s", g_cuda_err.msg);
    return g_cuda->backend_init(params, out, err);
}

/* auto: CUDA when it works here, else the CPU, saying why once per process. */
static mmrt_status auto_backend_init(const mmrt_backend_params *params, mmrt_backend **out,
                                     mmrt_error *err) {
    static atomic_flag said = ATOMIC_FLAG_INIT;
    mmrt_error cuda_err = {0};
    if (cuda_backend_init(params, out, &cuda_err) == MMRT_OK) return MMRT_OK;
    if (!atomic_flag_test_and_set(&said))
        MMRT_LOG_W("device auto: running on the CPU: %s", cuda_err.msg);
    return mmrt_cpu_backend_init(params, out, err);
}

#endif /* MMRT_HAVE_CUDA_MODULE */

mmrt_status mmrt_backend_init(const mmrt_backend_params *params, mmrt_backend **out,
                              mmrt_error *err) {
    switch (params->device) {
    case MMRT_DEVICE_KIND_CPU:
        return mmrt_cpu_backend_init(params, out, err);
    case MMRT_DEVICE_KIND_AUTO:
#ifdef MMRT_HAVE_CUDA_MODULE
        return auto_backend_init(params, out, err);
#else /* no GPU backend in this build (the emulated one is asked for by name) */
        return mmrt_cpu_backend_init(params, out, err);
#endif
    case MMRT_DEVICE_KIND_CUDA:
#if defined(MMRT_HAVE_CUDA_EMU) /* test-only build: the CUDA backend's kernels on the CPU emulator */
        return mmrt_cuda_backend_init(params, out, err);
#elif defined(MMRT_HAVE_CUDA_MODULE)
        return cuda_backend_init(params, out, err);
#else
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "this build of mmrt has no CUDA backend (use --device cpu)");
#endif
    }
    return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "unknown device kind %d", (int)params->device);
}

void mmrt_backend_set_threads(mmrt_backend *be, int n) {
    if (n > 0 && be->iface->set_threads) be->iface->set_threads(be, n);
}

mmrt_status mmrt_backend_fork(mmrt_backend *be, mmrt_backend **out, mmrt_error *err) {
    return be->iface->fork(be, out, err);
}

void mmrt_backend_free(mmrt_backend *be) {
    if (!be) return;
    mmrt_backend_free(be->cpu);
    be->iface->free(be);
}

/* ---- describing the devices ---------------------------------------------------------------- */

static mmrt_status put_line(mmrt_strbuf *b, const char *line, mmrt_error *err) {
    MMRT_TRY(mmrt_strbuf_puts(b, line, err));
    return mmrt_strbuf_puts(b, "\n", err);
}

static mmrt_status describe_cuda(mmrt_strbuf *b, mmrt_error *err) {
#if defined(MMRT_HAVE_CUDA_EMU)
    return put_line(b, "cuda: the CPU emulator of the CUDA kernels (a test-only build)", err);
#elif defined(MMRT_HAVE_CUDA_MODULE)
    pthread_once(&g_cuda_once, cuda_module_load);
    mmrt_error why = {0};
    int n = 0;
    if (!g_cuda) why = g_cuda_err;
    else g_cuda->device_count(&n, &why);
    if (n <= 0) {
        MMRT_TRY(mmrt_strbuf_puts(b, "cuda: unavailable: ", err));
        return put_line(b, why.msg[0] ? why.msg : "no device", err);
    }
    for (int i = 0; i < n; i++) {
        char head[32], desc[384];
        mmrt_error e = {0};
        snprintf(head, sizeof head, "cuda:%d: ", i);
        MMRT_TRY(mmrt_strbuf_puts(b, head, err));
        bool ok = g_cuda->device_describe(i, desc, sizeof desc, &e) == MMRT_OK;
        MMRT_TRY(put_line(b, ok ? desc : e.msg, err));
    }
    return MMRT_OK;
#else
    return put_line(b, "cuda: not in this build (configure with nvcc and -DMMRT_CUDA=ON)", err);
#endif
}

mmrt_status mmrt_devices_describe(char **text) {
    mmrt_error err = {0};
    if (!text) {
        mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "mmrt_devices_describe: NULL argument");
        mmrt_error_publish(&err);
        return MMRT_ERR_INVALID_ARG;
    }
    *text = NULL;
    bool bf16 = false;
    mmrt_simd_detect(&bf16);
    char line[256];
    snprintf(line, sizeof line, "cpu: %ld cores, SIMD %s%s; GEMMs oneDNN %s; quantized dots %s",
             sysconf(_SC_NPROCESSORS_ONLN), mmrt_simd_level_name(mmrt_simd_level_get()),
             bf16 ? " with AVX512-BF16" : "", mmrt_cpu_gemm_isa(), mmrt_quant_isa_name(mmrt_quant_isa_best()));
    mmrt_strbuf b = {0};
    mmrt_status st = put_line(&b, line, &err);
    if (st == MMRT_OK) st = describe_cuda(&b, &err);
    if (st == MMRT_OK && !(*text = mmrt_strbuf_take(&b))) st = mmrt_error_oom(&err, 1, "device list");
    mmrt_strbuf_free(&b);
    if (st != MMRT_OK) mmrt_error_publish(&err);
    return st;
}
