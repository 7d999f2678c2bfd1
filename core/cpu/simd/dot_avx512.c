/* AVX-512 dot products of f32 rows against a f32/f16/bf16 weight row (compiled with -mavx512*). */
#include "core/cpu/simd.h"

#include <immintrin.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* 16 weights as f32; bf16 → f32 is a 16-bit shift, so it is exact. */
ALWAYS_INLINE __m512 load_w(mmrt_dtype wt, const void *w, int64_t l, __mmask16 m) {
    if (wt == MMRT_F32) return _mm512_maskz_loadu_ps(m, (const float *)w + l);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + l);
    if (wt == MMRT_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* Two accumulators per row over 32-element steps; a masked tail of up to two vectors. */
ALWAYS_INLINE void dotn(mmrt_dtype wt, const float *x, size_t xs, int nx, const void *w, int64_t k,
                        float *out) {
    __m512 acc0[MMRT_DOTN_MAX], acc1[MMRT_DOTN_MAX];
    for (int r = 0; r < nx; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
    int64_t l = 0;
    for (; l + 32 <= k; l += 32) {
        __m512 w0 = load_w(wt, w, l, 0xffff), w1 = load_w(wt, w, l + 16, 0xffff);
        for (int r = 0; r < nx; r++) {
            acc0[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + r * xs + l), w0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + r * xs + l + 16), w1, acc1[r]);
        }
    }
    int64_t rest = k - l;
    if (rest > 0) {
        __mmask16 m0 = rest >= 16 ? 0xffff : (__mmask16)((1u << rest) - 1u);
        __mmask16 m1 = rest > 16 ? (__mmask16)((1u << (rest - 16)) - 1u) : 0;
        if (rest == 32) m1 = 0xffff;
        __m512 w0 = load_w(wt, w, l, m0), w1 = load_w(wt, w, l + 16, m1);
        for (int r = 0; r < nx; r++) {
            acc0[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, x + r * xs + l), w0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, x + r * xs + l + 16), w1, acc1[r]);
        }
    }
    for (int r = 0; r < nx; r++) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
}

#define DOTN_CASES(WT)                                                                             \
    switch (nx) {                                                                                  \
    case 1: dotn(WT, x, xs, 1, w, k, out); return;                                                 \
    case 2: dotn(WT, x, xs, 2, w, k, out); return;                                                 \
    case 3: dotn(WT, x, xs, 3, w, k, out); return;                                                 \
    default: dotn(WT, x, xs, 4, w, k, out); return;                                                \
    }

void mmrt_dotn_avx512(mmrt_dtype wt, const float *x, size_t xs, int nx, const void *w, int64_t k,
                      float *out) {
    if (wt == MMRT_BF16) DOTN_CASES(MMRT_BF16)
    if (wt == MMRT_F16) DOTN_CASES(MMRT_F16)
    DOTN_CASES(MMRT_F32)
}

void mmrt_axpy_avx512(float a, const float *x, float *y, int64_t n) {
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i),
                                                         _mm512_maskz_loadu_ps(m, y + i)));
    }
}
