/* Quantized dot kernels for AVX-512 VNNI on 512-bit vectors: the 32-element formats (Q8_0, Q4_0,
 * Q4_1, Q5_0, Q5_1) two blocks per vpdpbusd, the K formats 64 elements per maddubs + vpdpwssd. Structured as
 * the 256-bit body (quant_x86_body.h: integer parts exact, f32 lane accumulators, one weight
 * unpacking for up to 8 activation rows, a row's result independent of the number of rows).
 * Handed out only when cpuid reports AVX512_VNNI with F/BW/VL/DQ (core/quant.c).
 */
#include "core/quant.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

/* Everything below is compiled for avx512vnni too (GCC: target pragma; clang: the same attribute on
 * every function). */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512vnni")
#endif

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

/* Two weight blocks as vpdpbusd's unsigned operand, in element order (block 0 then block 1): Q8_0
 * as |x| with *neg marking x < 0, to be moved onto the activation; Q4_0 and Q4_1 as their nibbles;
 * Q5_0 and Q5_1 with their fifth bits (bit j of each block's qh: element j) added as 16. */
INLINE __m512i prep_pair(mmrt_qtype wt, const uint8_t *b0, const uint8_t *b1, __mmask64 *neg) {
    __m512i x;
    if (wt == MMRT_QTYPE_Q8_0) {
        x = load_2x256(b0 + 2, b1 + 2);
    } else {
        bool q5 = wt == MMRT_QTYPE_Q5_0 || wt == MMRT_QTYPE_Q5_1;
        size_t hq = mmrt_q32_has_min(wt) ? 4 : 2, at = q5 ? hq + 4 : hq; /* qh (Q5) then qs, after d (, m) */
        __m256i t = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(b1 + at)),
                                     _mm_loadu_si128((const __m128i *)(b0 + at)));
        __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(t), _mm256_srli_epi16(t, 4), 1);
        /* (lo0, lo1, hi0, hi1) → (lo0, hi0, lo1, hi1) */
        x = _mm512_and_si512(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)), _mm512_set1_epi8(0x0F));
        if (q5) {
            uint32_t h0, h1;
            memcpy(&h0, b0 + hq, 4);
            memcpy(&h1, b1 + hq, 4);
            x = _mm512_or_si512(x, _mm512_maskz_mov_epi8((__mmask64)h1 << 32 | h0, _mm512_set1_epi8(0x10)));
        }
        return x; /* Q4_0's −8 and Q5_0's −16 come off per row: step_pair */
    }
    *neg = _mm512_movepi8_mask(x);
    return _mm512_abs_epi8(x);
}

/* Blocks i, i+1 (b1: block i+1 or zero_block) of every row into acc[r][u]; Q4_1's and Q5_1's m·s
 * per row into two lanes of offs[r]. */
INLINE void step_pair(mmrt_qtype wt, const uint8_t *w, const uint8_t *act, size_t stride, int nx,
                      int64_t i, bool has_second, int u, __m512 acc[][2], __m128 *offs) {
    const size_t wb = mmrt_q32_block_bytes(wt);
    const size_t ab = mmrt_q32_has_min(wt) ? 36 : 34, aq = mmrt_q32_has_min(wt) ? 4 : 2;
    const uint8_t *b0 = w + (size_t)i * wb, *b1 = has_second ? b0 + wb : zero_block;
    __mmask64 neg = 0;
    __m512i x = prep_pair(wt, b0, b1, &neg);
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    __m128 dw = f16_pair(b0, b1);
    for (int r = 0; r < nx; r++) {
        const uint8_t *a0 = act + (size_t)r * stride + (size_t)i * ab, *a1 = has_second ? a0 + ab : zero_block;
        __m512i y = load_2x256(a0 + aq, a1 + aq);
        if (wt == MMRT_QTYPE_Q8_0) y = _mm512_mask_sub_epi8(y, neg, _mm512_setzero_si512(), y);
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), x, y);
        if (mmrt_q32_level_off(wt)) /* Σ (q − off)·a = Σ q·a − Σ off·a, both exact in int32 */
            p = _mm512_sub_epi32(p, _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                                                        _mm512_set1_epi8((char)mmrt_q32_level_off(wt)), y));
        /* dw_j·da_j for block j in lanes 8j..8j+7: the reference's one f32 product per block */
        __m512 d = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_mul_ps(dw, f16_pair(a0, a1))));
        acc[r][u] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[r][u]);
        if (mmrt_q32_has_min(wt)) /* m·s of both blocks in lanes 0 and 1 (zero_block's are 0) */
            offs[r] = _mm_add_ps(offs[r], _mm_mul_ps(f16_pair(b0 + 2, b1 + 2), f16_pair(a0 + 2, a1 + 2)));
    }
}

/* Pairs 2j + u into acc_u (an odd last block paired with zeros, into acc_0). */
INLINE void rows32_512(mmrt_qtype wt, const void *w, const void *act, size_t stride, int nx,
                       int64_t k, float *out) {
    const int64_t nb = k / MMRT_QK;
    __m512 acc[MMRT_QUANT_DOTN_MAX][2];
    __m128 offs[MMRT_QUANT_DOTN_MAX];
    for (int r = 0; r < nx; r++) {
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        offs[r] = _mm_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        step_pair(wt, w, act, stride, nx, i, true, 0, acc, offs);
        step_pair(wt, w, act, stride, nx, i + 2, true, 1, acc, offs);
    }
    for (; i < nb; i += 2) step_pair(wt, w, act, stride, nx, i, i + 1 < nb, 0, acc, offs);
    for (int r = 0; r < nx; r++)
        out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1])) +
                 _mm_cvtss_f32(_mm_add_ss(offs[r], _mm_movehdup_ps(offs[r])));
}


/* ---- K formats: 64 elements per vector ------------------------------------------------------- */

/* A super-block unpacked for every row: vector v holds elements 64v..64v+63 (unsigned levels:
 * maddubs pairs within int16) and sc[v] the int16 scale of each maddubs lane (lane j covers
 * elements 64v + 2j, 2j + 1). */
typedef struct kblock512 {
    __m512i q[4], sc[4];
    __m256i gsc; /* int16 per group of 16: Q4_K/Q5_K the group's min, Q6_K its scale */
    float d, dmin;
} kblock512;

INLINE __m512i join_256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

INLINE void prep_k45_512(const uint8_t *b, bool has_qh, kblock512 *kb) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), one = _mm512_set1_epi8(1);
    const uint8_t *qs = b + (has_qh ? offsetof(mmrt_block_q5_K, qs) : offsetof(mmrt_block_q4_K, qs));
    __m512i qh = has_qh ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b + offsetof(mmrt_block_q5_K, qh))))
                        : _mm512_setzero_si512();
    for (int c = 0; c < 4; c++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m512i z = _mm512_and_si512(join_256(q, _mm256_srli_epi16(q, 4)), low4);
        if (has_qh) { /* sub-blocks 2c (low half) and 2c + 1: bits 2c and 2c + 1 of qh */
            __m512i shift = join_256(_mm256_set1_epi16((short)(2 * c)), _mm256_set1_epi16((short)(2 * c + 1)));
            z = _mm512_or_si512(z, _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift), one), 4));
        }
        kb->q[c] = z;
    }
    /* the 8 scales then the 8 mins as int16 lanes 0..15 */
    uint8_t u[16];
    mmrt_q4k_unpack_scales(b + 4, u);
    __m512i sm = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)u)));
    for (int c = 0; c < 4; c++)
        kb->sc[c] = _mm512_permutexvar_epi16(join_256(_mm256_set1_epi16((short)(2 * c)),
                                                      _mm256_set1_epi16((short)(2 * c + 1))), sm);
    const __m512i group_min = _mm512_setr_epi64(0x0009000900080008, 0x000b000b000a000a, 0x000d000d000c000c,
                                                0x000f000f000e000e, 0, 0, 0, 0); /* group g: min g / 2 */
    kb->gsc = _mm512_castsi512_si256(_mm512_permutexvar_epi16(group_min, sm));
    kb->d = f16_at(b);
    kb->dmin = f16_at(b + 2);
}

/* Q6_K half h: vectors 2h (elements 128h + 0..63: ql[64h..64h+63] low nibbles, qh bits 0-1 and 2-3)
 * and 2h + 1 (128h + 64..127: the high nibbles, qh bits 4-5 and 6-7). */
INLINE void prep_q6_K_512(const mmrt_block_q6_K *b, kblock512 *kb) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), top2 = _mm512_set1_epi8(0x30);
    const __m512i up = join_256(_mm256_set1_epi16(4), _mm256_set1_epi16(2));
    const __m512i down = join_256(_mm256_setzero_si256(), _mm256_set1_epi16(2));
    for (int h = 0; h < 2; h++) {
        __m512i ql = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
        __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)));
        kb->q[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_and_si512(_mm512_sllv_epi16(qh, up), top2));
        kb->q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                                           _mm512_and_si512(_mm512_srlv_epi16(qh, down), top2));
    }
    /* vector v covers groups 4v..4v+3; each group's scale repeated over its 8 maddubs lanes */
    __m256i s16 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b->scales));
    for (int v = 0; v < 4; v++) {
        __m256i idx = _mm256_setr_epi8(4 * v, 4 * v, 4 * v, 4 * v, 4 * v, 4 * v, 4 * v, 4 * v, 4 * v + 1,
                                       4 * v + 1, 4 * v + 1, 4 * v + 1, 4 * v + 1, 4 * v + 1, 4 * v + 1,
                                       4 * v + 1, 4 * v + 2, 4 * v + 2, 4 * v + 2, 4 * v + 2, 4 * v + 2,
                                       4 * v + 2, 4 * v + 2, 4 * v + 2, 4 * v + 3, 4 * v + 3, 4 * v + 3,
                                       4 * v + 3, 4 * v + 3, 4 * v + 3, 4 * v + 3, 4 * v + 3);
        kb->sc[v] = _mm512_cvtepi8_epi16(_mm256_shuffle_epi8(s16, idx));
    }
    kb->gsc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    kb->d = f16_at((const uint8_t *)&b->d);
}

/* One row's super-block, as the 256-bit body's row_k: integer lanes exact, then d·a.d in f32.
 * Group sums against a's 16-sums (madd: exact): Q6_K's −32 offset comes off the integer lanes,
 * Q4_K/Q5_K's mins go to their own f32 lanes (*mins, subtracted at the end). */
INLINE __m512 row_k_512(mmrt_qtype wt, const kblock512 *kb, const mmrt_block_q8_K *a, __m512 acc,
                        __m256 *mins) {
    __m512i sumi = _mm512_setzero_si512();
    for (int v = 0; v < 4; v++) {
        __m512i p = _mm512_maddubs_epi16(kb->q[v], _mm512_loadu_si512((const void *)(a->qs + 64 * v)));
        sumi = _mm512_dpwssd_epi32(sumi, p, kb->sc[v]);
    }
    __m256i g = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), kb->gsc);
    if (wt == MMRT_QTYPE_Q6_K)
        sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32(g, 5)));
    else
        *mins = _mm256_fmadd_ps(_mm256_set1_ps(kb->dmin * a->d), _mm256_cvtepi32_ps(g), *mins);
    return _mm512_fmadd_ps(_mm512_set1_ps(kb->d * a->d), _mm512_cvtepi32_ps(sumi), acc);
}

INLINE void rows_k_512(mmrt_qtype wt, const void *w, const void *act, size_t stride, int nx,
                       int64_t k, float *out) {
    const size_t wb = wt == MMRT_QTYPE_Q4_K ? sizeof(mmrt_block_q4_K)
                      : wt == MMRT_QTYPE_Q5_K ? sizeof(mmrt_block_q5_K) : sizeof(mmrt_block_q6_K);
    __m512 acc[MMRT_QUANT_DOTN_MAX];
    __m256 mins[MMRT_QUANT_DOTN_MAX];
    for (int r = 0; r < nx; r++) {
        acc[r] = _mm512_setzero_ps();
        mins[r] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < k / MMRT_QK_K; i++) {
        const uint8_t *b = (const uint8_t *)w + (size_t)i * wb;
        kblock512 kb;
        if (wt == MMRT_QTYPE_Q6_K) prep_q6_K_512((const mmrt_block_q6_K *)b, &kb);
        else prep_k45_512(b, wt == MMRT_QTYPE_Q5_K, &kb);
        for (int r = 0; r < nx; r++) {
            const mmrt_block_q8_K *a = (const mmrt_block_q8_K *)((const uint8_t *)act + (size_t)r * stride) + i;
            acc[r] = row_k_512(wt, &kb, a, acc[r], &mins[r]);
        }
    }
    for (int r = 0; r < nx; r++)
        out[r] = _mm512_reduce_add_ps(acc[r]) - _mm512_reduce_add_ps(_mm512_zextps256_ps512(mins[r]));
}

INLINE void rows_512(mmrt_qtype wt, const void *w, const void *act, size_t stride, int nx, int64_t k,
                     float *out) {
    if (mmrt_q32_block_bytes(wt))
        rows32_512(wt, w, act, stride, nx, k, out);
    else
        rows_k_512(wt, w, act, stride, nx, k, out);
}

/* One copy per (type, nx): nx a constant in each. */
#define NROWS(wt, n)                                                                               \
    case n: rows_512(wt, w, act, stride, n, k, out); return;
#define KERNEL(wt, tag)                                                                            \
    static void qdot_##tag##_512(const void *w, const void *act, size_t stride, int nx, int64_t k,  \
                                 float *out) {                                                     \
        switch (nx) {                                                                              \
            NROWS(wt, 1) NROWS(wt, 2) NROWS(wt, 3) NROWS(wt, 4) NROWS(wt, 5) NROWS(wt, 6) NROWS(wt, 7) \
        default: rows_512(wt, w, act, stride, MMRT_QUANT_DOTN_MAX, k, out); return;                \
        }                                                                                          \
    }
KERNEL(MMRT_QTYPE_Q8_0, q8_0)
KERNEL(MMRT_QTYPE_Q4_0, q4_0)
KERNEL(MMRT_QTYPE_Q4_1, q4_1)
KERNEL(MMRT_QTYPE_Q5_0, q5_0)
KERNEL(MMRT_QTYPE_Q5_1, q5_1)
KERNEL(MMRT_QTYPE_Q4_K, q4_K)
KERNEL(MMRT_QTYPE_Q5_K, q5_K)
KERNEL(MMRT_QTYPE_Q6_K, q6_K)
#undef KERNEL
#undef NROWS

mmrt_quant_table mmrt_quant_kernels_avx512vnni(void) {
    static const mmrt_quant_dotn_fn table[MMRT_QTYPE_COUNT] = {
        [MMRT_QTYPE_Q8_0] = qdot_q8_0_512, [MMRT_QTYPE_Q4_0] = qdot_q4_0_512,
        [MMRT_QTYPE_Q4_1] = qdot_q4_1_512, [MMRT_QTYPE_Q4_K] = qdot_q4_K_512,
        [MMRT_QTYPE_Q5_K] = qdot_q5_K_512, [MMRT_QTYPE_Q6_K] = qdot_q6_K_512,
        [MMRT_QTYPE_Q5_0] = qdot_q5_0_512, [MMRT_QTYPE_Q5_1] = qdot_q5_1_512,
    };
    return table;
}
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
