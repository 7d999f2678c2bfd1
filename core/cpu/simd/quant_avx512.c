/* Quantized dot kernels for AVX-512 VNNI. The 32-element formats (Q8_0, Q4_0, Q4_1) run two blocks
 * per 512-bit vpdpbusd; the K formats use the 256-bit body (quant_x86_body.h) with the EVEX
 * vpdpbusd/vpdpwssd. Handed out only when cpuid reports AVX512_VNNI with F/BW/VL/DQ (core/quant.c).
 */
#include "core/quant.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#pragma GCC push_options
#pragma GCC target("avx512vnni")
#define QB_NAME(x) x##_evex256
#define QB_DPBUSD(c, u, s) _mm256_dpbusd_epi32((c), (u), (s))
#define QB_DPWSSD(c, a, b) _mm256_dpwssd_epi32((c), (a), (b))
#include "quant_x86_body.h"

#define INLINE static inline __attribute__((always_inline))

/* A block of zeros standing in for the partner of an odd last block: its f16 scales are 0, so it
 * adds exactly nothing. Big enough for every 32-element weight and activation block. */
static const uint8_t zero_block[40];

INLINE __m512i load_2x256(const uint8_t *p0, const uint8_t *p1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p0)),
                              _mm256_loadu_si256((const __m256i *)p1), 1);
}

INLINE float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* The f16 values at p0 and p1 as lanes 0 and 1 (exact conversions, as _cvtsh_ss). */
INLINE __m128 f16_pair(const uint8_t *p0, const uint8_t *p1) {
    uint16_t h0, h1;
    memcpy(&h0, p0, 2);
    memcpy(&h1, p1, 2);
    return _mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(h0), h1, 1));
}

/* Two weight blocks as vpdpbusd's unsigned operand, in element order (block 0 then block 1). The
 * signed formats go in as |x| with *neg marking x < 0, to be moved onto the activation. */
INLINE __m512i prep_pair(mmrt_qtype wt, const uint8_t *b0, const uint8_t *b1, __mmask64 *neg) {
    __m512i x;
    if (wt == MMRT_QTYPE_Q8_0) {
        x = load_2x256(b0 + 2, b1 + 2);
    } else {
        size_t at = wt == MMRT_QTYPE_Q4_1 ? 4 : 2;
        __m256i t = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(b1 + at)),
                                     _mm_loadu_si128((const __m128i *)(b0 + at)));
        __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(t), _mm256_srli_epi16(t, 4), 1);
        /* (lo0, lo1, hi0, hi1) → (lo0, hi0, lo1, hi1) */
        x = _mm512_and_si512(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)), _mm512_set1_epi8(0x0F));
        if (wt == MMRT_QTYPE_Q4_1) return x;
        x = _mm512_sub_epi8(x, _mm512_set1_epi8(8));
    }
    *neg = _mm512_movepi8_mask(x);
    return _mm512_abs_epi8(x);
}

/* Blocks i, i+1 (b1: block i+1 or zero_block) of every row into acc[r][u]; Q4_1's m·s per row in
 * block order. */
INLINE void step_pair(mmrt_qtype wt, const uint8_t *w, const uint8_t *act, size_t stride, int nx,
                      int64_t i, bool has_second, int u, __m512 acc[][2], float *offs) {
    const size_t wb = wt == MMRT_QTYPE_Q8_0 ? 34 : wt == MMRT_QTYPE_Q4_0 ? 18 : 20;
    const size_t ab = wt == MMRT_QTYPE_Q4_1 ? 36 : 34, aq = wt == MMRT_QTYPE_Q4_1 ? 4 : 2;
    const uint8_t *b0 = w + (size_t)i * wb, *b1 = has_second ? b0 + wb : zero_block;
    __mmask64 neg = 0;
    __m512i x = prep_pair(wt, b0, b1, &neg);
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    __m128 dw = f16_pair(b0, b1);
    for (int r = 0; r < nx; r++) {
        const uint8_t *a0 = act + (size_t)r * stride + (size_t)i * ab, *a1 = has_second ? a0 + ab : zero_block;
        __m512i y = load_2x256(a0 + aq, a1 + aq);
        if (wt != MMRT_QTYPE_Q4_1) y = _mm512_mask_sub_epi8(y, neg, _mm512_setzero_si512(), y);
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), x, y);
        /* dw_j·da_j for block j in lanes 8j..8j+7: the reference's one f32 product per block */
        __m512 d = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_mul_ps(dw, f16_pair(a0, a1))));
        acc[r][u] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[r][u]);
        if (wt == MMRT_QTYPE_Q4_1) {
            offs[r] += f16_at(b0 + 2) * f16_at(a0 + 2);
            if (has_second) offs[r] += f16_at(b1 + 2) * f16_at(a1 + 2);
        }
    }
}

/* Pairs 2j + u into acc_u (an odd last block paired with zeros, into acc_0). */
INLINE void rows32_512(mmrt_qtype wt, const void *w, const void *act, size_t stride, int nx,
                       int64_t k, float *out) {
    const int64_t nb = k / MMRT_QK;
    __m512 acc[MMRT_QUANT_DOTN_MAX][2];
    float offs[MMRT_QUANT_DOTN_MAX];
    for (int r = 0; r < nx; r++) {
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        offs[r] = 0.0f;
    }
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        step_pair(wt, w, act, stride, nx, i, true, 0, acc, offs);
        step_pair(wt, w, act, stride, nx, i + 2, true, 1, acc, offs);
    }
    for (; i < nb; i += 2) step_pair(wt, w, act, stride, nx, i, i + 1 < nb, 0, acc, offs);
    for (int r = 0; r < nx; r++) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1])) + offs[r];
}

#define NROWS(wt, n)                                                                               \
    case n: rows32_512(wt, w, act, stride, n, k, out); return;
#define KERNEL(wt, tag)                                                                            \
    static void qdot_##tag##_512(const void *w, const void *act, size_t stride, int nx, int64_t k,  \
                                 float *out) {                                                     \
        switch (nx) {                                                                              \
            NROWS(wt, 1) NROWS(wt, 2) NROWS(wt, 3) NROWS(wt, 4) NROWS(wt, 5) NROWS(wt, 6) NROWS(wt, 7) \
        default: rows32_512(wt, w, act, stride, MMRT_QUANT_DOTN_MAX, k, out); return;              \
        }                                                                                          \
    }
KERNEL(MMRT_QTYPE_Q8_0, q8_0)
KERNEL(MMRT_QTYPE_Q4_0, q4_0)
KERNEL(MMRT_QTYPE_Q4_1, q4_1)
#undef KERNEL
#undef NROWS

mmrt_quant_table mmrt_quant_kernels_avx512vnni(void) {
    static const mmrt_quant_dotn_fn table[MMRT_QTYPE_COUNT] = {
        [MMRT_QTYPE_Q8_0] = qdot_q8_0_512, [MMRT_QTYPE_Q4_0] = qdot_q4_0_512,
        [MMRT_QTYPE_Q4_1] = qdot_q4_1_512, [MMRT_QTYPE_Q4_K] = qdot_q4_K_evex256,
        [MMRT_QTYPE_Q5_K] = qdot_q5_K_evex256, [MMRT_QTYPE_Q6_K] = qdot_q6_K_evex256,
    };
    return table;
}
#pragma GCC pop_options
