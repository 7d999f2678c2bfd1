/* Helpers of the backend op tests (test_cuda_ops.c, test_cuda_attention.c): host buffers freed per
 * case, backends, and device copies of host tensors. Each fails the calling test on error. */
#ifndef MMRT_TESTS_HELPERS_BACKEND_TEST_H
#define MMRT_TESTS_HELPERS_BACKEND_TEST_H

#include "core/backend.h"

#include <stdbool.h>
#include <stddef.h>

/* malloc (at least 1 byte), remembered until test_free_host(). */
void *test_host_alloc(size_t n);
/* Frees every test_host_alloc buffer. */
void test_free_host(void);

/* A backend of `device`, one CPU thread; use_ref selects the CPU's naive oracle ops. */
mmrt_backend *test_backend(mmrt_device_kind device, bool use_ref);

/* A CPU backend with n_threads threads, the naive oracle ops when use_ref, in arithmetic math. */
mmrt_backend *test_cpu_backend(int n_threads, bool use_ref, mmrt_math math);

/* A device copy of host tensor h (same shape and strides) in a new buffer of be. */
mmrt_tensor test_to_device(mmrt_backend *be, const mmrt_tensor *h);

#endif
