#include "backend_test.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#define MAX_HOST_ALLOCS 64

static void *host_allocs[MAX_HOST_ALLOCS];
static int n_host_allocs;

void *test_host_alloc(size_t n) {
    cr_assert_lt(n_host_allocs, MAX_HOST_ALLOCS, "too many host buffers in one case");
    void *p = malloc(n ? n : 1);
    cr_assert(p);
    return host_allocs[n_host_allocs++] = p;
}

void test_free_host(void) {
    while (n_host_allocs > 0) free(host_allocs[--n_host_allocs]);
}

mmrt_backend *test_backend(mmrt_device_kind device, bool use_ref) {
    mmrt_backend *be = NULL;
    mmrt_error err = {0};
    mmrt_backend_params p = {.device = device, .n_threads = 1, .use_ref = use_ref};
    cr_assert_eq(mmrt_backend_init(&p, &be, &err), MMRT_OK, "backend init: %s", err.msg);
    return be;
}

mmrt_tensor test_to_device(mmrt_backend *be, const mmrt_tensor *h) {
    mmrt_error err = {0};
    size_t n = mmrt_tensor_nbytes(h);
    void *p = NULL;
    cr_assert_eq(be->iface->buffer_alloc(be, n, &p, &err), MMRT_OK, "buffer_alloc: %s", err.msg);
    cr_assert_eq(be->iface->upload(be, p, h->data, n, &err), MMRT_OK, "upload: %s", err.msg);
    mmrt_tensor d = *h;
    d.data = p;
    d.backend = be;
    return d;
}

mmrt_backend *test_cpu_backend(int n_threads, bool use_ref, mmrt_math math) {
    mmrt_backend *be = NULL;
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = n_threads, .use_ref = use_ref,
                             .math = math};
    cr_assert_eq(mmrt_backend_init(&p, &be, NULL), MMRT_OK);
    return be;
}
