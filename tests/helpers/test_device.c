#include "test_device.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

mmrt_device test_device(void) {
    const char *d = getenv("MMRT_TEST_DEVICE");
    return d && strcmp(d, "cuda") == 0 ? MMRT_DEVICE_CUDA : MMRT_DEVICE_CPU;
}

bool test_on_cuda(void) { return test_device() == MMRT_DEVICE_CUDA; }

void *test_download(const mmrt_tensor *x) {
    size_t n = mmrt_tensor_nbytes(x);
    void *h = malloc(n ? n : 1);
    cr_assert_not_null(h);
    mmrt_backend *be = x->backend;
    if (!be || be->iface->host_memory) {
        memcpy(h, x->data, n);
        return h;
    }
    mmrt_error err = {0};
    cr_assert_eq(be->iface->download(be, h, x->data, n, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(be->iface->synchronize(be, &err), MMRT_OK, "%s", err.msg);
    return h;
}

void test_assert_no_fallback(const mmrt_backend *be, const char *what) {
    cr_assert_gt(be->n_ops, 0, "%s: no op ran on %s", what, be->iface->name);
    cr_assert_eq(be->n_fallback, 0, "%s: %lld of %lld ops fell back from %s to the CPU", what,
                 (long long)be->n_fallback, (long long)be->n_ops, be->iface->name);
}
