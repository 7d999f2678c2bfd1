/* AVX-512 GELU with torch's tanh approximation (compiled with -mavx512*). */
#include "core/cpu/simd.h"
#include "core/cpu/simd/exp_avx512.h"

#include <immintrin.h>

/* 0.5·x·(1 + tanh(u)) = x · sigmoid(2u) = x / (1 + exp(−2u)), u = √(2/π)·(x + 0.044715·x³):
 * one exp and one division, no cancellation near u = 0. exp512 clamps its argument, so large |x|
 * gives x (u ≫ 0) or a signed 0 (u ≪ 0), never a NaN. */
void mmrt_gelu_tanh_avx512(const float *x, float *y, int64_t n) {
    const __m512 k0x2 = _mm512_set1_ps(-2.0f * 0.79788456080286536f), k1 = _mm512_set1_ps(0.044715f);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(k, x + i);
        __m512 inner = _mm512_fmadd_ps(_mm512_mul_ps(k1, v), _mm512_mul_ps(v, v), v); /* x + k1·x³ */
        __m512 e = exp512(_mm512_mul_ps(k0x2, inner));                              /* exp(−2u) */
        _mm512_mask_storeu_ps(y + i, k, _mm512_div_ps(v, _mm512_add_ps(one, e)));
    }
}
