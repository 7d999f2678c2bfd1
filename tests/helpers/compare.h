/* The project's one error metric (ARCHITECTURE.md, Correctness): max |got − ref| ≤ tol · max |ref|.
 * On failure, prints the first mismatches (index, expected, got) to stderr and returns false. */
#ifndef MMRT_TESTS_COMPARE_H
#define MMRT_TESTS_COMPARE_H

#include <stdbool.h>
#include <stdint.h>

bool mmrt_test_close(const char *what, const float *got, const float *ref, int64_t n, double tol);
/* Fills x with deterministic pseudo-random values in [lo, hi). */
void mmrt_test_fill(float *x, int64_t n, uint64_t seed, float lo, float hi);

#endif
