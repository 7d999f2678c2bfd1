/* The project's one error metric (ARCHITECTURE.md, Correctness): max |got − ref| ≤ tol · max |ref|.
 * On failure, prints the first mismatches (index, expected, got) to stderr and returns false. */
#ifndef MMRT_TESTS_COMPARE_H
#define MMRT_TESTS_COMPARE_H

#include <stdbool.h>
#include <stdint.h>

bool mmrt_test_close(const char *what, const float *got, const float *ref, int64_t n, double tol);
/* Reduced-precision results (16-bit or TF32 inputs), judged as flash attention's tensor-core path
 * is: max |got − ref| ≤ 2 · max |plain − ref| + 1e-6, ref the fp64 oracle and plain the same
 * computation with its inputs rounded once and f32 sums (an all-zero ref must be met exactly).
 * Prints the mismatches like mmrt_test_close and returns false when it is not met. */
bool mmrt_test_close_to_plain(const char *what, const float *got, const float *ref, const float *plain,
                              int64_t n);
/* Fills x with deterministic pseudo-random values in [lo, hi). */
void mmrt_test_fill(float *x, int64_t n, uint64_t seed, float lo, float hi);

#endif
