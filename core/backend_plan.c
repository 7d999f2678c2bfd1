/* The plan backend (core/backend.h): every entry succeeds without touching memory. */
#include "backend.h"

#include <stdint.h>

static mmrt_status plan_alloc(mmrt_backend *be, size_t n_bytes, void **ptr, mmrt_error *err) {
    (void)be;
    (void)n_bytes;
    (void)err;
    *ptr = (void *)(uintptr_t)64; /* a placeholder: aligned, not NULL, never read */
    return MMRT_OK;
}

static void plan_free(mmrt_backend *be, void *ptr) {
    (void)be;
    (void)ptr;
}

static mmrt_status plan_copy(mmrt_backend *be, void *dst, const void *src, size_t n_bytes, mmrt_error *err) {
    (void)be;
    (void)dst;
    (void)src;
    (void)n_bytes;
    (void)err;
    return MMRT_OK;
}

static mmrt_status plan_sync(mmrt_backend *be, mmrt_error *err) {
    (void)be;
    (void)err;
    return MMRT_OK;
}

static bool plan_supports(mmrt_backend *be, const mmrt_op *op) {
    (void)be;
    (void)op;
    return true;
}

static mmrt_status plan_compute(mmrt_backend *be, const mmrt_op *op, mmrt_error *err) {
    (void)be;
    (void)op;
    (void)err;
    return MMRT_OK;
}

static mmrt_status plan_fork(mmrt_backend *be, mmrt_backend **out, mmrt_error *err) {
    (void)be;
    *out = NULL;
    return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "the plan backend cannot be forked");
}

static void plan_backend_free(mmrt_backend *be) { (void)be; }

static const mmrt_backend_i plan_iface = {
    .name = "plan",
    .buffer_alloc = plan_alloc,
    .buffer_free = plan_free,
    .upload = plan_copy,
    .download = plan_copy,
    .synchronize = plan_sync,
    .supports_op = plan_supports,
    .compute = plan_compute,
    .host_memory = false,
    .fork = plan_fork,
    .free = plan_backend_free,
};

mmrt_backend mmrt_backend_plan(void) { return (mmrt_backend){.iface = &plan_iface}; }
