/* The quantized dot kernels on 256-bit vectors, written once and compiled per instruction set.
 *
 * The including file defines, then includes this file (no include guard: it is meant to be
 * included once per ISA, each time inside that ISA's target), and gets QB_NAME(table), the kernels
 * by weight type:
 *   QB_NAME(x)         the ISA's name for x (x##_avx2)
 *   QB_DPBUSD(c, u, s) c + Σ of 4 adjacent u8·s8 products per int32 lane (the caller keeps each
 *                      pair of products within int16, so the maddubs/madd form is exact too)
 *   QB_DPWSSD(c, a, b) c + Σ of 2 adjacent s16·s16 products per int32 lane
 *   QB_DPBUSD_OFF(u, s, off) Σ of 4 adjacent (u8 − off)·s8 products per int32 lane (Q4_0: off 8,
 *                      Q5_0: 16; u < 32)
 *
 * Integer parts are exact and summed per block as in core/quant_ref.c; each block's integer lanes
 * are scaled into f32 lane accumulators, so the only difference from the reference is the f32
 * summation order across blocks.
 *
 * Multi-row form: each weight block is unpacked once and multiplied with the block of every
 * activation row (up to MMRT_QUANT_DOTN_MAX). A row's operations are the same sequence whatever
 * the number of rows, so its result is too; the per-nx copies (QB_NROWS) give the compiler
 * constant trip counts to keep the accumulators in registers.
 */

#define QB_INLINE static inline __attribute__((always_inline))

QB_INLINE float QB_NAME(hsum4)(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

QB_INLINE float QB_NAME(hsum)(__m256 v) {
    return QB_NAME(hsum4)(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

QB_INLINE float QB_NAME(f16)(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* The f16 values at p, p + step, p + 2·step, p + 3·step as four f32 lanes (exact). */
QB_INLINE __m128 QB_NAME(f16x4)(const uint8_t *p, size_t step) {
    uint16_t h[4];
    for (int j = 0; j < 4; j++) memcpy(&h[j], p + (size_t)j * step, 2);
    return _mm_cvtph_ps(_mm_setr_epi16((short)h[0], (short)h[1], (short)h[2], (short)h[3], 0, 0, 0, 0));
}

/* 16 bytes of nibbles as 32 bytes: low nibbles first, then high ones (Q4_0/Q4_1's order). */
QB_INLINE __m256i QB_NAME(nibbles)(const uint8_t *qs) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* Q5's 32 fifth bits (bit j of the little-endian uint32 at qh) as 0x10 in byte j, 0 elsewhere. */
QB_INLINE __m256i QB_NAME(fifth_bits)(const uint8_t *qh) {
    int32_t h;
    memcpy(&h, qh, 4);
    /* byte j ← byte j / 8 of h (each 128-bit lane holds all four), then its bit j % 8 */
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(h), spread), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(0x10));
}

/* ---- Q8_0, Q4_0, Q5_0 (× Q8_0) and Q4_1, Q5_1 (× Q8_1): 32-element blocks ---------------------- */

/* The weight block as vpdpbusd's unsigned operand: Q8_0 (−127..127) as |x|, its sign moved onto
 * the activation (*sign) so that pairs stay within int16 for maddubs; Q4_0, Q4_1 as their nibbles,
 * Q5_0, Q5_1 with their fifth bits (0..31: Q4_0's −8 and Q5_0's −16 come off per row,
 * QB_DPBUSD_OFF). */
QB_INLINE __m256i QB_NAME(prep32)(mmrt_qtype wt, const uint8_t *b, __m256i *sign) {
    if (wt == MMRT_QTYPE_Q4_1) return QB_NAME(nibbles)(b + 4);
    if (wt == MMRT_QTYPE_Q4_0) return QB_NAME(nibbles)(b + 2);
    if (wt == MMRT_QTYPE_Q5_0) return _mm256_or_si256(QB_NAME(nibbles)(b + 6), QB_NAME(fifth_bits)(b + 2));
    if (wt == MMRT_QTYPE_Q5_1) return _mm256_or_si256(QB_NAME(nibbles)(b + 8), QB_NAME(fifth_bits)(b + 4));
    __m256i x = _mm256_loadu_si256((const __m256i *)(b + 2));
    *sign = x;
    return _mm256_sign_epi8(x, x);
}

/* Block i of every row into accumulator u (blocks 4j + u into acc_u, the last nb % 4 into acc_0:
 * one block is too little work to wait out a multiply-add's latency per block). d4 (or NULL):
 * each row's four dw·da of blocks 4j..4j+3, the same products as the scalar ones, converted four
 * at a time; the m·s terms (Q4_1, Q5_1) then go to rows32's lanes, else (the last nb % 4) to a
 * scalar. */
QB_INLINE void QB_NAME(step32)(mmrt_qtype wt, const uint8_t *w, const uint8_t *act, size_t stride,
                               int nx, int64_t i, int u, const __m128 *d4, __m256 acc[][4], float *offs) {
    const size_t wb = mmrt_q32_block_bytes(wt);
    const size_t ab = mmrt_q32_has_min(wt) ? 36 : 34, aq = mmrt_q32_has_min(wt) ? 4 : 2;
    const uint8_t *b = w + (size_t)i * wb;
    __m256i sign = _mm256_setzero_si256();
    __m256i x = QB_NAME(prep32)(wt, b, &sign);
    float dw = QB_NAME(f16)(b);
    for (int r = 0; r < nx; r++) {
        const uint8_t *a = act + (size_t)r * stride + (size_t)i * ab;
        __m256i y = _mm256_loadu_si256((const __m256i *)(a + aq));
        if (wt == MMRT_QTYPE_Q8_0) y = _mm256_sign_epi8(y, sign);
        const int off = mmrt_q32_level_off(wt);
        __m256i p = off ? QB_DPBUSD_OFF(x, y, off) : QB_DPBUSD(_mm256_setzero_si256(), x, y);
        __m256 d = d4 ? _mm256_permutevar8x32_ps(_mm256_castps128_ps256(d4[r]), _mm256_set1_epi32(u))
                      : _mm256_set1_ps(dw * QB_NAME(f16)(a));
        acc[r][u] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[r][u]);
        if (mmrt_q32_has_min(wt) && !d4) offs[r] += QB_NAME(f16)(b + 2) * QB_NAME(f16)(a + 2);
    }
}

QB_INLINE void QB_NAME(rows32)(mmrt_qtype wt, const uint8_t *w, const uint8_t *act, size_t stride,
                               int nx, int64_t nb, float *out) {
    __m256 acc[MMRT_QUANT_DOTN_MAX][4];
    __m128 offs4[MMRT_QUANT_DOTN_MAX]; /* m·s of whole groups of 4 blocks, one block per lane */
    float offs[MMRT_QUANT_DOTN_MAX];   /* and of the last nb % 4 */
    for (int r = 0; r < nx; r++) {
        acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm256_setzero_ps();
        offs4[r] = _mm_setzero_ps();
        offs[r] = 0.0f;
    }
    int64_t i = 0;
    const size_t wb = mmrt_q32_block_bytes(wt), ab = mmrt_q32_has_min(wt) ? 36 : 34;
    for (; i + 4 <= nb; i += 4) {
        __m128 d4[MMRT_QUANT_DOTN_MAX], dw = QB_NAME(f16x4)(w + (size_t)i * wb, wb);
        for (int r = 0; r < nx; r++)
            d4[r] = _mm_mul_ps(dw, QB_NAME(f16x4)(act + (size_t)r * stride + (size_t)i * ab, ab));
        if (mmrt_q32_has_min(wt)) {
            __m128 m = QB_NAME(f16x4)(w + (size_t)i * wb + 2, wb);
            for (int r = 0; r < nx; r++)
                offs4[r] = _mm_add_ps(offs4[r], _mm_mul_ps(m, QB_NAME(f16x4)(act + (size_t)r * stride + (size_t)i * ab + 2, ab)));
        }
        QB_NAME(step32)(wt, w, act, stride, nx, i, 0, d4, acc, offs);
        QB_NAME(step32)(wt, w, act, stride, nx, i + 1, 1, d4, acc, offs);
        QB_NAME(step32)(wt, w, act, stride, nx, i + 2, 2, d4, acc, offs);
        QB_NAME(step32)(wt, w, act, stride, nx, i + 3, 3, d4, acc, offs);
    }
    for (; i < nb; i++) QB_NAME(step32)(wt, w, act, stride, nx, i, 0, NULL, acc, offs);
    for (int r = 0; r < nx; r++)
        out[r] = QB_NAME(hsum)(_mm256_add_ps(_mm256_add_ps(acc[r][0], acc[r][1]),
                                             _mm256_add_ps(acc[r][2], acc[r][3]))) +
                 (QB_NAME(hsum4)(offs4[r]) + offs[r]);
}

/* ---- Q4_K, Q5_K, Q6_K (× Q8_K): 256-element super-blocks -------------------------------------- */

/* A super-block unpacked for every row: 8 vectors of 32 levels (unsigned: Q4_K 0..15, Q5_K 0..31,
 * Q6_K 0..63, so maddubs pairs stay within int16) and each vector's int16 scales (Q4_K/Q5_K: one
 * 6-bit scale per 32; Q6_K: one int8 scale per 16, low lane then high lane). */
typedef struct QB_NAME(kblock) {
    __m256i q[8], sc[8];
    __m256i gsc; /* int16 per group of 16: Q4_K/Q5_K the group's min, Q6_K its scale */
    float d, dmin;
} QB_NAME(kblock);

QB_INLINE void QB_NAME(prep_k45)(const uint8_t *b, bool has_qh, QB_NAME(kblock) *kb) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const uint8_t *qs = b + (has_qh ? offsetof(mmrt_block_q5_K, qs) : offsetof(mmrt_block_q4_K, qs));
    __m256i qh = has_qh ? _mm256_loadu_si256((const __m256i *)(b + offsetof(mmrt_block_q5_K, qh)))
                        : _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
        if (has_qh) { /* sub-block s's fifth bits: bit s of each qh byte */
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
        }
        kb->q[2 * c] = lo;
        kb->q[2 * c + 1] = hi;
    }
    /* scales and mins as bytes 0..15 of both lanes; a shuffle index 0x80 | j gives byte j as int16 */
    uint8_t u[16];
    mmrt_q4k_unpack_scales(b + 4, u);
    __m256i sm = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)u));
    for (int s = 0; s < 8; s++) kb->sc[s] = _mm256_shuffle_epi8(sm, _mm256_set1_epi16((short)(0x8000 | s)));
    kb->gsc = _mm256_shuffle_epi8(sm, _mm256_setr_epi16(0x8008, 0x8008, 0x8009, 0x8009, 0x800a, 0x800a, 0x800b,
                                                        0x800b, 0x800c, 0x800c, 0x800d, 0x800d, 0x800e, 0x800e,
                                                        0x800f, 0x800f)); /* group g: min g / 2 */
    kb->d = QB_NAME(f16)(b);
    kb->dmin = QB_NAME(f16)(b + 2);
}

/* Q6_K: in half h, vector 4h + i holds elements 128h + 32i + l: low 4 bits from ql (low nibbles
 * for i < 2), top 2 from bits 2i of qh. */
QB_INLINE void QB_NAME(prep_q6_K)(const mmrt_block_q6_K *b, QB_NAME(kblock) *kb) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), top2 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; h++) {
        __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
        __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        __m256i *q = kb->q + 4 * h;
        q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), top2));
        q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), top2));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, top2));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                               _mm256_and_si256(_mm256_srli_epi16(qh, 2), top2));
    }
    for (int v = 0; v < 8; v++)
        kb->sc[v] = _mm256_set_m128i(_mm_set1_epi16(b->scales[2 * v + 1]), _mm_set1_epi16(b->scales[2 * v]));
    kb->gsc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    kb->d = QB_NAME(f16)((const uint8_t *)&b->d);
}

/* One row's super-block: Σ_v sc_v·(q_v·a) in int32 lanes. Group sums against a's 16-sums (madd:
 * exact): Q6_K's −32 offset (32·Σ_g sc_g·bsums_g) comes off the integer lanes, Q4_K/Q5_K's mins go
 * to their own f32 lanes (*mins, subtracted at the end). */
QB_INLINE __m256 QB_NAME(row_k)(mmrt_qtype wt, const QB_NAME(kblock) *kb, const mmrt_block_q8_K *a,
                                __m256 acc, __m256 *mins) {
    __m256i sumi = _mm256_setzero_si256();
    for (int v = 0; v < 8; v++) {
        __m256i p = _mm256_maddubs_epi16(kb->q[v], _mm256_loadu_si256((const __m256i *)(a->qs + 32 * v)));
        sumi = QB_DPWSSD(sumi, p, kb->sc[v]);
    }
    __m256i g = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), kb->gsc);
    if (wt == MMRT_QTYPE_Q6_K)
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(g, 5));
    else
        *mins = _mm256_fmadd_ps(_mm256_set1_ps(kb->dmin * a->d), _mm256_cvtepi32_ps(g), *mins);
    return _mm256_fmadd_ps(_mm256_set1_ps(kb->d * a->d), _mm256_cvtepi32_ps(sumi), acc);
}

QB_INLINE void QB_NAME(rows_k)(mmrt_qtype wt, const uint8_t *w, const uint8_t *act, size_t stride,
                               int nx, int64_t nb, float *out) {
    const size_t wb = wt == MMRT_QTYPE_Q4_K ? sizeof(mmrt_block_q4_K)
                      : wt == MMRT_QTYPE_Q5_K ? sizeof(mmrt_block_q5_K) : sizeof(mmrt_block_q6_K);
    __m256 acc[MMRT_QUANT_DOTN_MAX], mins[MMRT_QUANT_DOTN_MAX];
    for (int r = 0; r < nx; r++) acc[r] = mins[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        QB_NAME(kblock) kb;
        if (wt == MMRT_QTYPE_Q6_K) QB_NAME(prep_q6_K)((const mmrt_block_q6_K *)(w + (size_t)i * wb), &kb);
        else QB_NAME(prep_k45)(w + (size_t)i * wb, wt == MMRT_QTYPE_Q5_K, &kb);
        for (int r = 0; r < nx; r++) {
            const mmrt_block_q8_K *a = (const mmrt_block_q8_K *)(act + (size_t)r * stride) + i;
            acc[r] = QB_NAME(row_k)(wt, &kb, a, acc[r], &mins[r]);
        }
    }
    for (int r = 0; r < nx; r++) out[r] = QB_NAME(hsum)(acc[r]) - QB_NAME(hsum)(mins[r]);
}

/* ---- entry points ---------------------------------------------------------------------------- */

QB_INLINE void QB_NAME(rows)(mmrt_qtype wt, const void *w, const void *act, size_t stride, int nx,
                             int64_t k, float *out) {
    if (mmrt_q32_block_bytes(wt))
        QB_NAME(rows32)(wt, w, act, stride, nx, k / MMRT_QK, out);
    else
        QB_NAME(rows_k)(wt, w, act, stride, nx, k / MMRT_QK_K, out);
}

/* One copy per (type, nx): nx a constant in each. */
#define QB_NROWS(wt, n)                                                                            \
    case n: QB_NAME(rows)(wt, w, act, stride, n, k, out); return;
#define QB_KERNEL(wt, tag)                                                                         \
    static void QB_NAME(qdot_##tag)(const void *w, const void *act, size_t stride, int nx, int64_t k, \
                                    float *out) {                                                  \
        switch (nx) {                                                                              \
            QB_NROWS(wt, 1) QB_NROWS(wt, 2) QB_NROWS(wt, 3) QB_NROWS(wt, 4)                        \
            QB_NROWS(wt, 5) QB_NROWS(wt, 6) QB_NROWS(wt, 7)                                        \
        default: QB_NAME(rows)(wt, w, act, stride, MMRT_QUANT_DOTN_MAX, k, out); return;           \
        }                                                                                          \
    }
_Static_assert(MMRT_QUANT_DOTN_MAX == 8, "QB_KERNEL's cases");
QB_KERNEL(MMRT_QTYPE_Q8_0, q8_0)
QB_KERNEL(MMRT_QTYPE_Q4_0, q4_0)
QB_KERNEL(MMRT_QTYPE_Q4_1, q4_1)
QB_KERNEL(MMRT_QTYPE_Q5_0, q5_0)
QB_KERNEL(MMRT_QTYPE_Q5_1, q5_1)
QB_KERNEL(MMRT_QTYPE_Q4_K, q4_K)
QB_KERNEL(MMRT_QTYPE_Q5_K, q5_K)
QB_KERNEL(MMRT_QTYPE_Q6_K, q6_K)
#undef QB_KERNEL
#undef QB_NROWS
#undef QB_INLINE

__attribute__((unused)) static mmrt_quant_table QB_NAME(table)(void) {
    static const mmrt_quant_dotn_fn table[MMRT_QTYPE_COUNT] = {
        [MMRT_QTYPE_Q8_0] = QB_NAME(qdot_q8_0), [MMRT_QTYPE_Q4_0] = QB_NAME(qdot_q4_0),
        [MMRT_QTYPE_Q4_1] = QB_NAME(qdot_q4_1), [MMRT_QTYPE_Q4_K] = QB_NAME(qdot_q4_K),
        [MMRT_QTYPE_Q5_K] = QB_NAME(qdot_q5_K), [MMRT_QTYPE_Q6_K] = QB_NAME(qdot_q6_K),
        [MMRT_QTYPE_Q5_0] = QB_NAME(qdot_q5_0), [MMRT_QTYPE_Q5_1] = QB_NAME(qdot_q5_1),
    };
    return table;
}
