#include "gemm_bf16.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define MR 8    /* rows of C per micro-kernel call */
#define NR 32   /* columns of C per micro-kernel call: two 16-lane panels */
#define KC 384  /* k per block (even) */
#define MC 128  /* rows of A per block */

bool gemm_bf16_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f");
}

/* packed[panel][pair][lane][2]: panel = j / 16, lane = j % 16, pair = k / 2 */
uint16_t *gemm_bf16_pack_b(const uint16_t *b, int n, int k) {
    uint16_t *p = malloc(sizeof(uint16_t) * (size_t)n * (size_t)k);
    if (!p) return NULL;
    for (int j = 0; j < n; j++)
        for (int q = 0; q < k / 2; q++) {
            size_t o = (((size_t)(j / 16) * (size_t)(k / 2) + (size_t)q) * 16 + (size_t)(j % 16)) * 2;
            p[o] = b[(size_t)j * (size_t)k + 2 * (size_t)q];
            p[o + 1] = b[(size_t)j * (size_t)k + 2 * (size_t)q + 1];
        }
    return p;
}

/* C[0..MR)[0..NR) (+)= A[0..MR)[k0..k0+kc) · B panels p0, p0+1 over the same k; ldc = n. */
__attribute__((target("avx512f,avx512bf16"))) static void kernel(const uint16_t *a, int lda,
                                                                  const uint16_t *b0, const uint16_t *b1,
                                                                  int pairs, float *c, int ldc, bool accumulate) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int q = 0; q < pairs; q++) {
        __m512bh v0 = (__m512bh)_mm512_loadu_si512(b0 + (size_t)q * 32);
        __m512bh v1 = (__m512bh)_mm512_loadu_si512(b1 + (size_t)q * 32);
        for (int r = 0; r < MR; r++) {
            int32_t pair;
            memcpy(&pair, a + (size_t)r * (size_t)lda + 2 * (size_t)q, 4);
            __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, v0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, v1);
        }
    }
    for (int r = 0; r < MR; r++) {
        float *row = c + (size_t)r * (size_t)ldc;
        if (accumulate) {
            acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_loadu_ps(row));
            acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_loadu_ps(row + 16));
        }
        _mm512_storeu_ps(row, acc[r][0]);
        _mm512_storeu_ps(row + 16, acc[r][1]);
    }
}

void gemm_bf16(const uint16_t *a, const uint16_t *packed_b, float *c, int m, int n, int k, int n_threads) {
    int n_mb = (m + MC - 1) / MC, n_np = n / NR;
    for (int k0 = 0; k0 < k; k0 += KC) {
        int kc = k - k0 < KC ? k - k0 : KC;
#pragma omp parallel for num_threads(n_threads) schedule(static)
        for (int t = 0; t < n_mb * n_np; t++) {
            int i0 = (t / n_np) * MC, j0 = (t % n_np) * NR;
            int i1 = i0 + MC < m ? i0 + MC : m;
            const uint16_t *b0 = packed_b + ((size_t)(j0 / 16) * (size_t)(k / 2) + (size_t)(k0 / 2)) * 32;
            const uint16_t *b1 = b0 + (size_t)(k / 2) * 32;
            for (int i = i0; i < i1; i += MR)
                kernel(a + (size_t)i * (size_t)k + k0, k, b0, b1, kc / 2, c + (size_t)i * (size_t)n + j0, n, k0 > 0);
        }
    }
}
