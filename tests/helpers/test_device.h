/* The device the model tests run on: $MMRT_TEST_DEVICE ("cuda"), the CPU otherwise. The emulated CUDA build
 * runs test_llama and test_smolvlm a second time as test_cuda_llama / test_cuda_smolvlm with
 * MMRT_TEST_DEVICE=cuda (tests/CMakeLists.txt), where weights are uploaded and every op must run
 * on the CUDA backend: the tests assert that nothing fell back to the CPU. */
#ifndef MMRT_TEST_DEVICE_H
#define MMRT_TEST_DEVICE_H

#include "core/backend.h"

#include <stdbool.h>

mmrt_device test_device(void);
bool test_on_cuda(void);

/* Every op ran on be itself (some did): a fallback to the CPU never passes for coverage. */
void test_assert_no_fallback(const mmrt_backend *be, const char *what);

/* A malloc'ed host copy of x, wherever it lives (x->backend downloads device memory). */
void *test_download(const mmrt_tensor *x);

#endif
