/* A bf16 GEMM for measuring the CPU's bf16 peak where OpenBLAS has no sbgemm (Debian's 0.3.21 is
 * built without it): C(m, n) f32 = A(m, k) · B(n, k)ᵀ with bf16 A and B, AVX512-BF16 `vdpbf16ps`
 * (pairs of bf16 products summed into f32 lanes). Benchmark code: the library does not use it.
 *
 * B is packed once into panels of 16 rows with each lane holding the pair (b[j][2p], b[j][2p+1]),
 * the layout vdpbf16ps multiplies against a broadcast pair of A. The loops block k by 384 and m by
 * 128 (A's block stays in L2, a 32-column B panel in L1), and an OpenMP loop runs over (m block,
 * panel pair) tiles, which write disjoint parts of C. m must be a multiple of 8, n of 32, k of 2.
 */
#ifndef MMRT_BENCH_GEMM_BF16_H
#define MMRT_BENCH_GEMM_BF16_H

#include <stdbool.h>
#include <stdint.h>

/* True when the CPU runs AVX512-BF16 (and the compiler could build the kernel). */
bool gemm_bf16_supported(void);

/* Packs B (n, k) bf16 row-major into *packed (malloc'ed, n·k values). */
uint16_t *gemm_bf16_pack_b(const uint16_t *b, int n, int k);

/* C = A · Bᵀ with B packed by gemm_bf16_pack_b, on n_threads OpenMP threads. */
void gemm_bf16(const uint16_t *a, const uint16_t *packed_b, float *c, int m, int n, int k, int n_threads);

#endif
