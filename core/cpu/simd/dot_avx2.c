/* AVX2 + FMA + F16C dot products of f32 rows against a f32/f16/bf16 weight row. */
#include "core/cpu/simd.h"

#include <immintrin.h>
#include <math.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE __m256 load_w(mmrt_dtype wt, const void *w, int64_t l) {
    if (wt == MMRT_F32) return _mm256_loadu_ps((const float *)w + l);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + l));
    if (wt == MMRT_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

ALWAYS_INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

ALWAYS_INLINE float load_scalar(mmrt_dtype wt, const void *w, int64_t l) {
    if (wt == MMRT_F32) return ((const float *)w)[l];
    if (wt == MMRT_BF16) return mmrt_bf16_to_f32(((const uint16_t *)w)[l]);
    return mmrt_f16_to_f32(((const uint16_t *)w)[l]);
}

/* Two accumulators per row over 16-element steps, then one 8-wide step, then scalars. */
ALWAYS_INLINE void dotn(mmrt_dtype wt, const float *x, size_t xs, int nx, const void *w, int64_t k,
                        float *out) {
    __m256 acc0[MMRT_DOTN_MAX], acc1[MMRT_DOTN_MAX];
    for (int r = 0; r < nx; r++) acc0[r] = acc1[r] = _mm256_setzero_ps();
    int64_t l = 0;
    for (; l + 16 <= k; l += 16) {
        __m256 w0 = load_w(wt, w, l), w1 = load_w(wt, w, l + 8);
        for (int r = 0; r < nx; r++) {
            acc0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * xs + l), w0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * xs + l + 8), w1, acc1[r]);
        }
    }
    if (l + 8 <= k) {
        __m256 w0 = load_w(wt, w, l);
        for (int r = 0; r < nx; r++)
            acc0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * xs + l), w0, acc0[r]);
        l += 8;
    }
    for (int r = 0; r < nx; r++) {
        float s = hsum(_mm256_add_ps(acc0[r], acc1[r]));
        for (int64_t t = l; t < k; t++) s += x[r * xs + t] * load_scalar(wt, w, t);
        out[r] = s;
    }
}

#define DOTN_CASES(WT)                                                                             \
    switch (nx) {                                                                                  \
    case 1: dotn(WT, x, xs, 1, w, k, out); return;                                                 \
    case 2: dotn(WT, x, xs, 2, w, k, out); return;                                                 \
    case 3: dotn(WT, x, xs, 3, w, k, out); return;                                                 \
    default: dotn(WT, x, xs, 4, w, k, out); return;                                                \
    }

void mmrt_dotn_avx2(mmrt_dtype wt, const float *x, size_t xs, int nx, const void *w, int64_t k,
                    float *out) {
    if (wt == MMRT_BF16) DOTN_CASES(MMRT_BF16)
    if (wt == MMRT_F16) DOTN_CASES(MMRT_F16)
    DOTN_CASES(MMRT_F32)
}

void mmrt_axpy_avx2(float a, const float *x, float *y, int64_t n) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}
