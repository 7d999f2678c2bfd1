/* AVX-512 pieces of CPU attention: a vector exp for the softmax weights and the weighted sum of
 * value rows kept in registers (compiled with -mavx512*). */
#include "core/cpu/simd.h"
#include "core/cpu/simd/exp_avx512.h"

#include <immintrin.h>
#include <math.h>

float mmrt_exp_sum_avx512(float *x, int64_t n, float m) {
    __m512 vm = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1u);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm));
        e = _mm512_maskz_mov_ps(k, e);
        _mm512_mask_storeu_ps(x + i, k, e);
        sum = _mm512_add_ps(sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

#define ACC_HEADS 4 /* query heads whose accumulators share one pass over V */
#define ACC_VECS 4  /* 64 floats of a row per pass */

void mmrt_attn_accum_avx512(const float *p, int64_t p_stride, int64_t group, const float *v,
                            size_t v_stride, int64_t len, float *acc, int64_t acc_stride, int64_t hd) {
    for (int64_t i0 = 0; i0 < hd; i0 += 16 * ACC_VECS) {
        __mmask16 mk[ACC_VECS];
        for (int c = 0; c < ACC_VECS; c++) {
            int64_t rest = hd - i0 - 16 * c;
            mk[c] = rest >= 16 ? 0xffff : rest > 0 ? (__mmask16)((1u << rest) - 1u) : 0;
        }
        for (int64_t g0 = 0; g0 < group; g0 += ACC_HEADS) {
            int gn = (int)(group - g0 < ACC_HEADS ? group - g0 : ACC_HEADS);
            __m512 a[ACC_HEADS][ACC_VECS];
            for (int g = 0; g < gn; g++)
                for (int c = 0; c < ACC_VECS; c++)
                    a[g][c] = _mm512_maskz_loadu_ps(mk[c], acc + (g0 + g) * acc_stride + i0 + 16 * c);
            for (int64_t j = 0; j < len; j++) {
                const float *vr = v + (size_t)j * v_stride + i0;
                __m512 vv[ACC_VECS];
                for (int c = 0; c < ACC_VECS; c++) vv[c] = _mm512_maskz_loadu_ps(mk[c], vr + 16 * c);
                for (int g = 0; g < gn; g++) {
                    __m512 pj = _mm512_set1_ps(p[(g0 + g) * p_stride + j]);
                    for (int c = 0; c < ACC_VECS; c++) a[g][c] = _mm512_fmadd_ps(pj, vv[c], a[g][c]);
                }
            }
            for (int g = 0; g < gn; g++)
                for (int c = 0; c < ACC_VECS; c++)
                    _mm512_mask_storeu_ps(acc + (g0 + g) * acc_stride + i0 + 16 * c, mk[c], a[g][c]);
        }
    }
}
