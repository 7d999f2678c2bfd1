/* Plain C reference of the quantized formats: dequantization, llama.cpp's reference quantizers and
 * the block dot products every SIMD kernel is tested against.
 *
 * Numerics follow ggml-quants.c's reference rows operation for operation (the library is built
 * as ISO C11, so no multiply-add is contracted and every f32 rounding is the one written here).
 */
#include "core/quant.h"
#include "core/tensor.h"

#include <math.h>
#include <string.h>

_Static_assert(sizeof(mmrt_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(mmrt_block_q8_1) == 36, "q8_1 block");
_Static_assert(sizeof(mmrt_block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(mmrt_block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(mmrt_block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(mmrt_block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(mmrt_block_q4_K) == 144, "q4_K block");
_Static_assert(sizeof(mmrt_block_q5_K) == 176, "q5_K block");
_Static_assert(sizeof(mmrt_block_q6_K) == 210, "q6_K block");
_Static_assert(sizeof(mmrt_block_q8_K) == 292, "q8_K block");

#define F16(h) mmrt_f16_to_f32(h)

/* ---- dequantization -------------------------------------------------------------------------- */

static void dequant_q8_0(const mmrt_block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += MMRT_QK) {
        float d = F16(b[i].d);
        for (int j = 0; j < MMRT_QK; j++) y[j] = (float)b[i].qs[j] * d;
    }
}

/* The 32 levels of a Q4_0/Q4_1/Q5_0/Q5_1 block b: nibbles (0..15), plus Q5's fifth bits (0..31). */
static inline void levels32(mmrt_qtype t, const uint8_t *b, uint8_t lv[MMRT_QK]) {
    bool q5 = t == MMRT_QTYPE_Q5_0 || t == MMRT_QTYPE_Q5_1;
    const uint8_t *qh = b + (t == MMRT_QTYPE_Q4_0 || t == MMRT_QTYPE_Q5_0 ? 2 : 4); /* after d (, m) */
    const uint8_t *qs = q5 ? qh + 4 : qh;
    for (int j = 0; j < 16; j++) {
        lv[j] = qs[j] & 0xF;
        lv[j + 16] = qs[j] >> 4;
    }
    if (!q5) return;
    uint32_t h;
    memcpy(&h, qh, 4);
    for (int j = 0; j < MMRT_QK; j++) lv[j] |= (uint8_t)((h >> j & 1) << 4); /* bit j: element j's */
}

/* The formats with an offset level (Q4_0: off 8, Q5_0: 16): x = d·(q − off). */
static void dequant_off(mmrt_qtype t, const uint8_t *b, float *y, int64_t nb, int off) {
    size_t bb = mmrt_q32_block_bytes(t);
    for (int64_t i = 0; i < nb; i++, y += MMRT_QK, b += bb) {
        uint16_t dh;
        memcpy(&dh, b, 2);
        float d = F16(dh);
        uint8_t lv[MMRT_QK];
        levels32(t, b, lv);
        for (int j = 0; j < MMRT_QK; j++) y[j] = d * (float)(lv[j] - off);
    }
}

/* The formats with a min (Q4_1, Q5_1): x = d·q + m. */
static void dequant_min(mmrt_qtype t, const uint8_t *b, float *y, int64_t nb) {
    size_t bb = mmrt_q32_block_bytes(t);
    for (int64_t i = 0; i < nb; i++, y += MMRT_QK, b += bb) {
        uint16_t h[2];
        memcpy(h, b, 4);
        float d = F16(h[0]), m = F16(h[1]);
        uint8_t lv[MMRT_QK];
        levels32(t, b, lv);
        for (int j = 0; j < MMRT_QK; j++) y[j] = d * (float)lv[j] + m;
    }
}

/* Q4_K and Q5_K: qh NULL for Q4_K. */
static void dequant_k45(uint16_t dh, uint16_t dminh, const uint8_t *scales, const uint8_t *qh,
                        const uint8_t *qs, float *y) {
    float d = F16(dh), dmin = F16(dminh);
    for (int s = 0; s < 8; s++) {
        uint8_t sc, m;
        mmrt_q4k_scale_min(s, scales, &sc, &m);
        float d1 = d * (float)sc, m1 = dmin * (float)m;
        const uint8_t *q = qs + 32 * (s / 2);
        int shift = 4 * (s & 1);
        for (int l = 0; l < 32; l++) {
            int v = (q[l] >> shift) & 0xF;
            if (qh) v |= ((qh[l] >> s) & 1) << 4;
            y[32 * s + l] = d1 * (float)v - m1;
        }
    }
}

static void dequant_q6_K(const mmrt_block_q6_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += MMRT_QK_K) {
        float d = F16(b[i].d);
        for (int e = 0; e < MMRT_QK_K; e++) {
            int h = e / 128, part = (e % 128) / 32, l = e % 32;
            int lo = b[i].ql[64 * h + 32 * (part & 1) + l] >> (4 * (part >> 1)) & 0xF;
            int hi = (b[i].qh[32 * h + l] >> (2 * part)) & 3;
            y[e] = d * (float)b[i].scales[e / 16] * (float)((lo | hi << 4) - 32);
        }
    }
}

void mmrt_dequant_ref(mmrt_qtype type, const void *src, float *dst, int64_t k) {
    switch (type) {
    case MMRT_QTYPE_F32: memcpy(dst, src, (size_t)k * 4); return;
    case MMRT_QTYPE_F16: mmrt_to_f32(MMRT_F16, src, dst, k); return;
    case MMRT_QTYPE_BF16: mmrt_to_f32(MMRT_BF16, src, dst, k); return;
    case MMRT_QTYPE_Q8_0: dequant_q8_0(src, dst, k / MMRT_QK); return;
    case MMRT_QTYPE_Q4_0:
    case MMRT_QTYPE_Q5_0: dequant_off(type, src, dst, k / MMRT_QK, mmrt_q32_level_off(type)); return;
    case MMRT_QTYPE_Q4_1:
    case MMRT_QTYPE_Q5_1: dequant_min(type, src, dst, k / MMRT_QK); return;
    case MMRT_QTYPE_Q4_K:
        for (int64_t i = 0; i < k / MMRT_QK_K; i++) {
            const mmrt_block_q4_K *b = (const mmrt_block_q4_K *)src + i;
            dequant_k45(b->d, b->dmin, b->scales, NULL, b->qs, dst + i * MMRT_QK_K);
        }
        return;
    case MMRT_QTYPE_Q5_K:
        for (int64_t i = 0; i < k / MMRT_QK_K; i++) {
            const mmrt_block_q5_K *b = (const mmrt_block_q5_K *)src + i;
            dequant_k45(b->d, b->dmin, b->scales, b->qh, b->qs, dst + i * MMRT_QK_K);
        }
        return;
    case MMRT_QTYPE_Q6_K: dequant_q6_K(src, dst, k / MMRT_QK_K); return;
    default: MMRT_ASSERT(!"mmrt_dequant_ref: type checked by the caller");
    }
}

/* ---- quantization ---------------------------------------------------------------------------- */

/* ggml's nearest_int: round half to even through the float's mantissa (|v| < 2^22). */
static inline int nearest_int(float v) {
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static float block_amax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[j]));
    return amax;
}

/* Q8_0 and Q8_1 (with_sum: s = f16(Σq · d)). */
static void quantize_q8_x(const float *x, int8_t *qs, uint16_t *d_out, uint16_t *s_out) {
    float d = block_amax(x, MMRT_QK) / 127;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    *d_out = mmrt_f32_to_f16(d);
    for (int j = 0; j < MMRT_QK; j++) {
        qs[j] = (int8_t)roundf(x[j] * id);
        sum += qs[j];
    }
    if (s_out) *s_out = mmrt_f32_to_f16((float)sum * d);
}

static void quantize_q4_0(const float *x, mmrt_block_q4_0 *b) {
    float amax = 0.0f, max = 0.0f; /* the first element of largest magnitude, with its sign */
    for (int j = 0; j < MMRT_QK; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    float d = max / -8;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = mmrt_f32_to_f16(d);
    for (int j = 0; j < 16; j++) {
        int q0 = (int8_t)(x[j] * id + 8.5f), q1 = (int8_t)(x[j + 16] * id + 8.5f);
        b->qs[j] = (uint8_t)((q0 < 15 ? q0 : 15) | (q1 < 15 ? q1 : 15) << 4);
    }
}

static void quantize_q8_K(const float *x, mmrt_block_q8_K *b) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < MMRT_QK_K; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    memset(b, 0, sizeof *b); /* amax 0: d = 0, all q and sums 0 (ggml leaves bsums unset there) */
    if (amax == 0.0f) return;
    float iscale = -127.f / max;
    for (int j = 0; j < MMRT_QK_K; j++) {
        int v = nearest_int(iscale * x[j]);
        b->qs[j] = (int8_t)(v < 127 ? v : 127);
        b->bsums[j / 16] = (int16_t)(b->bsums[j / 16] + b->qs[j]);
    }
    b->d = 1 / iscale;
}

/* ggml's make_qkx2_quants for Q4_K (n = 32, nmax = 15, rmin −1, rdelta 0.1, 20 steps, squared
 * error): L = levels, returns the scale, *the_min = −offset. */
static float make_qkx2_quants(const float *x, const float *w, uint8_t *L, float *the_min) {
    const int n = 32, nmax = 15, nstep = 20;
    const float rmin = -1.f, rdelta = 0.1f;
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        float diff = scale * L[i] + min - x[i];
        best_error += w[i] * (diff * diff);
    }
    uint8_t Laux[32];
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * (x[i] - min));
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D <= 0) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float cur_error = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            cur_error += w[i] * (diff * diff);
        }
        if (cur_error < best_error) {
            memcpy(L, Laux, (size_t)n);
            best_error = cur_error;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* Packs the 8 sub-blocks' 6-bit scales and mins (ggml's layout, see mmrt_q4k_scale_min). */
static void pack_scales_k4(const uint8_t ls[8], const uint8_t lm[8], uint8_t *q) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            q[j] = ls[j];
            q[j + 4] = lm[j];
        } else {
            q[j + 4] = (uint8_t)((ls[j] & 0xF) | (lm[j] & 0xF) << 4);
            q[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            q[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* ggml's quantize_row_q4_K_ref for one super-block: per sub-block an importance-weighted
 * (weights av|x| + |x|) scale and min search, both quantized to 6 bits against the largest, then
 * the levels recomputed with the quantized scale and min. */
static void quantize_q4_K(const float *x, mmrt_block_q4_K *b) {
    uint8_t L[MMRT_QK_K], ls[8], lm[8];
    float weights[32], mins[8], scales[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(x + 32 * j, weights, L + 32 * j, &mins[j]);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; j++) {
        uint8_t s = (uint8_t)nearest_int(inv_scale * scales[j]), m = (uint8_t)nearest_int(inv_min * mins[j]);
        ls[j] = s < 63 ? s : 63;
        lm[j] = m < 63 ? m : 63;
    }
    pack_scales_k4(ls, lm, b->scales);
    b->d = mmrt_f32_to_f16(max_scale / 63.f);
    b->dmin = mmrt_f32_to_f16(max_min / 63.f);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        mmrt_q4k_scale_min(j, b->scales, &sc, &m);
        float d = F16(b->d) * sc;
        if (d == 0.0f) continue;
        float dm = F16(b->dmin) * m;
        for (int i = 0; i < 32; i++) {
            int l = nearest_int((x[32 * j + i] + dm) / d);
            L[32 * j + i] = (uint8_t)(l < 0 ? 0 : l > 15 ? 15 : l);
        }
    }
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) b->qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
}

void mmrt_quantize_ref(mmrt_qtype type, const float *src, void *dst, int64_t k) {
    for (int64_t i = 0; i < k / MMRT_QK; i++) {
        const float *x = src + i * MMRT_QK;
        if (type == MMRT_QTYPE_Q8_0) {
            mmrt_block_q8_0 *b = (mmrt_block_q8_0 *)dst + i;
            quantize_q8_x(x, b->qs, &b->d, NULL);
        } else if (type == MMRT_QTYPE_Q8_1) {
            mmrt_block_q8_1 *b = (mmrt_block_q8_1 *)dst + i;
            quantize_q8_x(x, b->qs, &b->d, &b->s);
        } else if (type == MMRT_QTYPE_Q4_0) {
            quantize_q4_0(x, (mmrt_block_q4_0 *)dst + i);
        }
    }
    for (int64_t i = 0; i < k / MMRT_QK_K; i++) {
        const float *x = src + i * MMRT_QK_K;
        if (type == MMRT_QTYPE_Q8_K) quantize_q8_K(x, (mmrt_block_q8_K *)dst + i);
        else if (type == MMRT_QTYPE_Q4_K) quantize_q4_K(x, (mmrt_block_q4_K *)dst + i);
    }
}

/* ---- dot products: integer sums per block, then the block's scales in f32 ---------------------- */

static float dot_q8_0(const mmrt_block_q8_0 *w, const mmrt_block_q8_0 *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < MMRT_QK; j++) sumi += w[i].qs[j] * a[i].qs[j];
        sum += (float)sumi * (F16(w[i].d) * F16(a[i].d));
    }
    return sum;
}

/* Q4_0/Q5_0 (× Q8_0): Σ (q − off)·a per block, times dw·da. */
static float dot_off(mmrt_qtype t, const uint8_t *w, const mmrt_block_q8_0 *a, int64_t nb, int off) {
    size_t bb = mmrt_q32_block_bytes(t);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, w += bb) {
        uint8_t lv[MMRT_QK];
        int sumi = 0;
        levels32(t, w, lv);
        for (int j = 0; j < MMRT_QK; j++) sumi += (lv[j] - off) * a[i].qs[j];
        uint16_t dh;
        memcpy(&dh, w, 2);
        sum += (float)sumi * (F16(dh) * F16(a[i].d));
    }
    return sum;
}

/* Q4_1/Q5_1 (× Q8_1): dw·da·Σ q·a + m·s per block (s = da·Σ a's levels, as Q8_1 stores it). */
static float dot_min(mmrt_qtype t, const uint8_t *w, const mmrt_block_q8_1 *a, int64_t nb) {
    size_t bb = mmrt_q32_block_bytes(t);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, w += bb) {
        uint8_t lv[MMRT_QK];
        int sumi = 0;
        levels32(t, w, lv);
        for (int j = 0; j < MMRT_QK; j++) sumi += lv[j] * a[i].qs[j];
        uint16_t h[2];
        memcpy(h, w, 4);
        sum += (F16(h[0]) * F16(a[i].d)) * (float)sumi + F16(h[1]) * F16(a[i].s);
    }
    return sum;
}

/* Q4_K/Q5_K super-block: Σ_s sc_s·Σ q·a (int) and Σ_s m_s·(a's sums over s), then
 * d·a.d·sumi − dmin·a.d·summ. qh NULL for Q4_K. */
static float dot_k45_block(uint16_t dh, uint16_t dminh, const uint8_t *scales, const uint8_t *qh,
                           const uint8_t *qs, const mmrt_block_q8_K *a) {
    int sumi = 0, summ = 0;
    for (int s = 0; s < 8; s++) {
        uint8_t sc, m;
        mmrt_q4k_scale_min(s, scales, &sc, &m);
        const uint8_t *q = qs + 32 * (s / 2);
        int shift = 4 * (s & 1), p = 0;
        for (int l = 0; l < 32; l++) {
            int v = (q[l] >> shift) & 0xF;
            if (qh) v |= ((qh[l] >> s) & 1) << 4;
            p += v * a->qs[32 * s + l];
        }
        sumi += sc * p;
        summ += m * (a->bsums[2 * s] + a->bsums[2 * s + 1]);
    }
    return F16(dh) * a->d * (float)sumi - F16(dminh) * a->d * (float)summ;
}

static float dot_q6_K_block(const mmrt_block_q6_K *w, const mmrt_block_q8_K *a) {
    int sumi = 0;
    for (int g = 0; g < 16; g++) {
        int p = 0;
        for (int e = 16 * g; e < 16 * g + 16; e++) {
            int h = e / 128, part = (e % 128) / 32, l = e % 32;
            int lo = w->ql[64 * h + 32 * (part & 1) + l] >> (4 * (part >> 1)) & 0xF;
            int hi = (w->qh[32 * h + l] >> (2 * part)) & 3;
            p += ((lo | hi << 4) - 32) * a->qs[e];
        }
        sumi += w->scales[g] * p;
    }
    return F16(w->d) * a->d * (float)sumi;
}

static float dot_k(mmrt_qtype wt, const void *w, const mmrt_block_q8_K *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        if (wt == MMRT_QTYPE_Q4_K) {
            const mmrt_block_q4_K *b = (const mmrt_block_q4_K *)w + i;
            sum += dot_k45_block(b->d, b->dmin, b->scales, NULL, b->qs, a + i);
        } else if (wt == MMRT_QTYPE_Q5_K) {
            const mmrt_block_q5_K *b = (const mmrt_block_q5_K *)w + i;
            sum += dot_k45_block(b->d, b->dmin, b->scales, b->qh, b->qs, a + i);
        } else {
            sum += dot_q6_K_block((const mmrt_block_q6_K *)w + i, a + i);
        }
    }
    return sum;
}

static float dot_row(mmrt_qtype wt, const void *w, const void *a, int64_t k) {
    switch (wt) {
    case MMRT_QTYPE_Q8_0: return dot_q8_0(w, a, k / MMRT_QK);
    case MMRT_QTYPE_Q4_0:
    case MMRT_QTYPE_Q5_0: return dot_off(wt, w, a, k / MMRT_QK, mmrt_q32_level_off(wt));
    case MMRT_QTYPE_Q4_1:
    case MMRT_QTYPE_Q5_1: return dot_min(wt, w, a, k / MMRT_QK);
    default: return dot_k(wt, w, a, k / MMRT_QK_K);
    }
}

static void dot_rows(mmrt_qtype wt, const void *w, const void *act, size_t stride, int nx, int64_t k,
                     float *out) {
    for (int r = 0; r < nx; r++) out[r] = dot_row(wt, w, (const char *)act + (size_t)r * stride, k);
}

#define REF_KERNEL(name, wt)                                                                       \
    static void name(const void *w, const void *act, size_t stride, int nx, int64_t k, float *out) { \
        dot_rows(wt, w, act, stride, nx, k, out);                                                  \
    }
REF_KERNEL(qdot_q8_0_ref, MMRT_QTYPE_Q8_0)
REF_KERNEL(qdot_q4_0_ref, MMRT_QTYPE_Q4_0)
REF_KERNEL(qdot_q4_1_ref, MMRT_QTYPE_Q4_1)
REF_KERNEL(qdot_q5_0_ref, MMRT_QTYPE_Q5_0)
REF_KERNEL(qdot_q5_1_ref, MMRT_QTYPE_Q5_1)
REF_KERNEL(qdot_q4_K_ref, MMRT_QTYPE_Q4_K)
REF_KERNEL(qdot_q5_K_ref, MMRT_QTYPE_Q5_K)
REF_KERNEL(qdot_q6_K_ref, MMRT_QTYPE_Q6_K)

mmrt_quant_table mmrt_quant_kernels_ref(void) {
    static const mmrt_quant_dotn_fn table[MMRT_QTYPE_COUNT] = {
        [MMRT_QTYPE_Q8_0] = qdot_q8_0_ref, [MMRT_QTYPE_Q4_0] = qdot_q4_0_ref,
        [MMRT_QTYPE_Q4_1] = qdot_q4_1_ref, [MMRT_QTYPE_Q4_K] = qdot_q4_K_ref,
        [MMRT_QTYPE_Q5_K] = qdot_q5_K_ref, [MMRT_QTYPE_Q6_K] = qdot_q6_K_ref,
        [MMRT_QTYPE_Q5_0] = qdot_q5_0_ref, [MMRT_QTYPE_Q5_1] = qdot_q5_1_ref,
    };
    return table;
}
