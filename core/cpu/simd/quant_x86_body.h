/* The quantized dot kernels on 256-bit vectors, written once and compiled per instruction set.
 *
 * The including file defines, then includes this file (no include guard: it is meant to be
 * included once per ISA, each time inside that ISA's target):
 *   QB_NAME(x)         the ISA's name for x (x##_avx2)
 *   QB_DPBUSD(c, u, s) c + Σ of 4 adjacent u8·s8 products per int32 lane (the caller keeps each
 *                      pair of products within int16, so the maddubs/madd form is exact too)
 *   QB_DPWSSD(c, a, b) c + Σ of 2 adjacent s16·s16 products per int32 lane
 *
 * Integer parts are exact and summed per block as in core/quant_ref.c; each block's integer lanes
 * are scaled into f32 lane accumulators, so the only difference from the reference is the f32
 * summation order across blocks.
 */

static inline float QB_NAME(hsum)(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Σ x·y over 32 signed bytes as int32 lanes: |x| against y with x's sign (x, y in −127..127). */
static inline __m256i QB_NAME(dot_i8)(__m256i x, __m256i y) {
    return QB_DPBUSD(_mm256_setzero_si256(), _mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* 16 bytes of nibbles as 32 bytes: low nibbles first, then high ones (Q4_0/Q4_1's order). */
static inline __m256i QB_NAME(nibbles)(const uint8_t *qs) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* Block i's int32 lanes for the 32-element formats. */
static inline __m256i QB_NAME(block_q8_0)(const mmrt_block_q8_0 *w, const mmrt_block_q8_0 *a) {
    return QB_NAME(dot_i8)(_mm256_loadu_si256((const __m256i *)w->qs),
                           _mm256_loadu_si256((const __m256i *)a->qs));
}

static inline __m256i QB_NAME(block_q4_0)(const mmrt_block_q4_0 *w, const mmrt_block_q8_0 *a) {
    __m256i x = _mm256_sub_epi8(QB_NAME(nibbles)(w->qs), _mm256_set1_epi8(8));
    return QB_NAME(dot_i8)(x, _mm256_loadu_si256((const __m256i *)a->qs));
}

static inline __m256i QB_NAME(block_q4_1)(const mmrt_block_q4_1 *w, const mmrt_block_q8_1 *a) {
    return QB_DPBUSD(_mm256_setzero_si256(), QB_NAME(nibbles)(w->qs),
                     _mm256_loadu_si256((const __m256i *)a->qs));
}

/* Four lane accumulators, blocks 4j + u into acc_u (the last nb % 4 into acc0): a 32-element block
 * is too little work to wait out one multiply-add's latency per block. The order, and so the
 * result, is fixed by nb alone. */
#define QB_BLOCK_ACC(BLOCK, W, A, i, acc)                                                          \
    acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss((W)[i].d) * _cvtsh_ss((A)[i].d)),               \
                          _mm256_cvtepi32_ps(BLOCK(&(W)[i], &(A)[i])), acc)
#define QB_BLOCK_LOOP(BLOCK, W, A)                                                                 \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;                      \
    int64_t i = 0;                                                                                 \
    for (; i + 4 <= nb; i += 4) {                                                                  \
        QB_BLOCK_ACC(BLOCK, W, A, i, acc0);                                                        \
        QB_BLOCK_ACC(BLOCK, W, A, i + 1, acc1);                                                    \
        QB_BLOCK_ACC(BLOCK, W, A, i + 2, acc2);                                                    \
        QB_BLOCK_ACC(BLOCK, W, A, i + 3, acc3);                                                    \
    }                                                                                              \
    for (; i < nb; i++) QB_BLOCK_ACC(BLOCK, W, A, i, acc0);                                        \
    float sum = QB_NAME(hsum)(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));

static float QB_NAME(dot_q8_0)(const mmrt_block_q8_0 *w, const mmrt_block_q8_0 *a, int64_t nb) {
    QB_BLOCK_LOOP(QB_NAME(block_q8_0), w, a)
    return sum;
}

static float QB_NAME(dot_q4_0)(const mmrt_block_q4_0 *w, const mmrt_block_q8_0 *a, int64_t nb) {
    QB_BLOCK_LOOP(QB_NAME(block_q4_0), w, a)
    return sum;
}

static float QB_NAME(dot_q4_1)(const mmrt_block_q4_1 *w, const mmrt_block_q8_1 *a, int64_t nb) {
    QB_BLOCK_LOOP(QB_NAME(block_q4_1), w, a)
    float offs = 0.0f;
    for (int64_t j = 0; j < nb; j++) offs += _cvtsh_ss(w[j].m) * _cvtsh_ss(a[j].s);
    return sum + offs;
}
#undef QB_BLOCK_LOOP
#undef QB_BLOCK_ACC

/* Q4_K/Q5_K: per super-block Σ_s sc_s·(q·a) in int32 lanes (maddubs pairs ≤ 2·31·127, then × a
 * 6-bit scale), the mins against a's 16-sums in a scalar int. qh NULL for Q4_K. */
static float QB_NAME(dot_k45)(const uint8_t *blocks, size_t block_bytes, size_t qh_at, size_t qs_at,
                              bool has_qh, const mmrt_block_q8_K *a, int64_t nb) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = blocks + (size_t)i * block_bytes, *scales = b + 4, *qs = b + qs_at;
        __m256i qh = has_qh ? _mm256_loadu_si256((const __m256i *)(b + qh_at)) : _mm256_setzero_si256();
        __m256i sumi = _mm256_setzero_si256();
        int summ = 0;
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
            if (has_qh) {
                __m256i b0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one);
                __m256i b1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one);
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(b0, 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(b1, 4));
            }
            uint8_t sc0, m0, sc1, m1;
            mmrt_q4k_scale_min(2 * c, scales, &sc0, &m0);
            mmrt_q4k_scale_min(2 * c + 1, scales, &sc1, &m1);
            const int8_t *y = a[i].qs + 64 * c;
            __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)y));
            __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 32)));
            sumi = QB_DPWSSD(sumi, p0, _mm256_set1_epi16(sc0));
            sumi = QB_DPWSSD(sumi, p1, _mm256_set1_epi16(sc1));
            summ += m0 * (a[i].bsums[4 * c] + a[i].bsums[4 * c + 1]) +
                    m1 * (a[i].bsums[4 * c + 2] + a[i].bsums[4 * c + 3]);
        }
        uint16_t dh, dminh;
        memcpy(&dh, b, 2);
        memcpy(&dminh, b + 2, 2);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(dh) * a[i].d), _mm256_cvtepi32_ps(sumi), acc);
        mins += _cvtsh_ss(dminh) * a[i].d * (float)summ;
    }
    return QB_NAME(hsum)(acc) - mins;
}

/* Q6_K: q (0..63) against a by maddubs (pairs ≤ 2·63·127), × the group's int8 scale; the −32 offset
 * as 32·Σ_g sc_g·bsums_g, subtracted from lane 0 in integers. */
static float QB_NAME(dot_q6_K)(const mmrt_block_q6_K *w, const mmrt_block_q8_K *a, int64_t nb) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), top2 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i sumi = _mm256_setzero_si256();
        int offset = 0;
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)(w[i].ql + 64 * h));
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(w[i].ql + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h));
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), top2)),
                _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), top2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, top2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), top2)),
            };
            for (int part = 0; part < 4; part++) {
                int g = 8 * h + 2 * part;
                const int8_t *y = a[i].qs + 128 * h + 32 * part;
                __m256i p = _mm256_maddubs_epi16(q[part], _mm256_loadu_si256((const __m256i *)y));
                __m256i sc = _mm256_set_m128i(_mm_set1_epi16(w[i].scales[g + 1]), _mm_set1_epi16(w[i].scales[g]));
                sumi = QB_DPWSSD(sumi, p, sc);
                offset += w[i].scales[g] * a[i].bsums[g] + w[i].scales[g + 1] * a[i].bsums[g + 1];
            }
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_setr_epi32(32 * offset, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(w[i].d) * a[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return QB_NAME(hsum)(acc);
}

static float QB_NAME(dot_row)(mmrt_qtype wt, const void *w, const void *a, int64_t k) {
    switch (wt) {
    case MMRT_QTYPE_Q8_0: return QB_NAME(dot_q8_0)(w, a, k / MMRT_QK);
    case MMRT_QTYPE_Q4_0: return QB_NAME(dot_q4_0)(w, a, k / MMRT_QK);
    case MMRT_QTYPE_Q4_1: return QB_NAME(dot_q4_1)(w, a, k / MMRT_QK);
    case MMRT_QTYPE_Q4_K:
        return QB_NAME(dot_k45)(w, sizeof(mmrt_block_q4_K), 0, offsetof(mmrt_block_q4_K, qs), false, a,
                                k / MMRT_QK_K);
    case MMRT_QTYPE_Q5_K:
        return QB_NAME(dot_k45)(w, sizeof(mmrt_block_q5_K), offsetof(mmrt_block_q5_K, qh),
                                offsetof(mmrt_block_q5_K, qs), true, a, k / MMRT_QK_K);
    default: return QB_NAME(dot_q6_K)(w, a, k / MMRT_QK_K);
    }
}

/* Rows one after another: the weight row stays in L1 between them. */
#define QB_KERNEL(wt, tag)                                                                         \
    static void QB_NAME(qdot_##tag)(const void *w, const void *act, size_t stride, int nx, int64_t k, \
                                    float *out) {                                                  \
        for (int r = 0; r < nx; r++)                                                               \
            out[r] = QB_NAME(dot_row)(wt, w, (const char *)act + (size_t)r * stride, k);           \
    }
QB_KERNEL(MMRT_QTYPE_Q8_0, q8_0)
QB_KERNEL(MMRT_QTYPE_Q4_0, q4_0)
QB_KERNEL(MMRT_QTYPE_Q4_1, q4_1)
QB_KERNEL(MMRT_QTYPE_Q4_K, q4_K)
QB_KERNEL(MMRT_QTYPE_Q5_K, q5_K)
QB_KERNEL(MMRT_QTYPE_Q6_K, q6_K)
#undef QB_KERNEL

mmrt_quant_table QB_NAME(mmrt_quant_kernels)(void) {
    static const mmrt_quant_dotn_fn table[MMRT_QTYPE_COUNT] = {
        [MMRT_QTYPE_Q8_0] = QB_NAME(qdot_q8_0), [MMRT_QTYPE_Q4_0] = QB_NAME(qdot_q4_0),
        [MMRT_QTYPE_Q4_1] = QB_NAME(qdot_q4_1), [MMRT_QTYPE_Q4_K] = QB_NAME(qdot_q4_K),
        [MMRT_QTYPE_Q5_K] = QB_NAME(qdot_q5_K), [MMRT_QTYPE_Q6_K] = QB_NAME(qdot_q6_K),
    };
    return table;
}
