#include "tensor.h"

#include "error.h"

#include <math.h>
#include <string.h>

size_t mmrt_dtype_size(mmrt_dtype t) {
    switch (t) {
    case MMRT_F32: return 4;
    case MMRT_F16: return 2;
    case MMRT_BF16: return 2;
    case MMRT_I32: return 4;
    case MMRT_I64: return 8;
    case MMRT_U8: return 1;
    case MMRT_Q8_0: return 34;
    case MMRT_Q4_0: return 18;
    case MMRT_Q4_1: return 20;
    case MMRT_Q4_K: return 144;
    case MMRT_Q5_K: return 176;
    case MMRT_Q6_K: return 210;
    case MMRT_Q5_0: return 22;
    case MMRT_Q5_1: return 24;
    case MMRT_DTYPE_COUNT: break;
    }
    return 0;
}

int64_t mmrt_dtype_block(mmrt_dtype t) {
    switch (t) {
    case MMRT_Q8_0:
    case MMRT_Q4_0:
    case MMRT_Q4_1:
    case MMRT_Q5_0:
    case MMRT_Q5_1: return 32;
    case MMRT_Q4_K:
    case MMRT_Q5_K:
    case MMRT_Q6_K: return 256;
    default: return 1;
    }
}

size_t mmrt_dtype_row_bytes(mmrt_dtype t, int64_t ne0) {
    return (size_t)(ne0 / mmrt_dtype_block(t)) * mmrt_dtype_size(t);
}

const char *mmrt_dtype_name(mmrt_dtype t) {
    static const char *const names[] = {"F32", "F16", "BF16", "I32", "I64", "U8",
                                        "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K",
                                        "Q5_0", "Q5_1"};
    _Static_assert(sizeof names / sizeof *names == MMRT_DTYPE_COUNT, "a name per dtype");
    return (unsigned)t < MMRT_DTYPE_COUNT ? names[t] : "?";
}

mmrt_tensor mmrt_tensor_make(mmrt_dtype t, void *data, int n_dims, const int64_t *ne) {
    MMRT_ASSERT(n_dims >= 1 && n_dims <= MMRT_MAX_DIMS);
    mmrt_tensor r = {.type = t, .data = data};
    for (int i = 0; i < MMRT_MAX_DIMS; i++) r.ne[i] = i < n_dims ? ne[i] : 1;
    r.nb[0] = mmrt_dtype_size(t);
    r.nb[1] = mmrt_dtype_row_bytes(t, r.ne[0]);
    for (int i = 2; i < MMRT_MAX_DIMS; i++) r.nb[i] = r.nb[i - 1] * (size_t)r.ne[i - 1];
    return r;
}

mmrt_tensor mmrt_tensor_1d(mmrt_dtype t, void *data, int64_t ne0) {
    return mmrt_tensor_make(t, data, 1, (int64_t[]){ne0});
}

mmrt_tensor mmrt_tensor_2d(mmrt_dtype t, void *data, int64_t ne0, int64_t ne1) {
    return mmrt_tensor_make(t, data, 2, (int64_t[]){ne0, ne1});
}

mmrt_tensor mmrt_tensor_3d(mmrt_dtype t, void *data, int64_t ne0, int64_t ne1, int64_t ne2) {
    return mmrt_tensor_make(t, data, 3, (int64_t[]){ne0, ne1, ne2});
}

int64_t mmrt_tensor_nelements(const mmrt_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

size_t mmrt_tensor_nbytes(const mmrt_tensor *t) {
    if (mmrt_tensor_nelements(t) == 0) return 0;
    /* a block-format row is its blocks, back to back */
    size_t n = mmrt_dtype_is_quant(t->type) ? mmrt_dtype_row_bytes(t->type, t->ne[0])
                                             : mmrt_dtype_size(t->type) + (size_t)(t->ne[0] - 1) * t->nb[0];
    for (int i = 1; i < MMRT_MAX_DIMS; i++) n += (size_t)(t->ne[i] - 1) * t->nb[i];
    return n;
}

bool mmrt_tensor_is_contiguous(const mmrt_tensor *t) {
    size_t expect = mmrt_dtype_row_bytes(t->type, t->ne[0]);
    if (!mmrt_dtype_is_quant(t->type) && t->ne[0] != 1 && t->nb[0] != mmrt_dtype_size(t->type)) return false;
    for (int i = 1; i < MMRT_MAX_DIMS; i++) {
        if (t->ne[i] != 1 && t->nb[i] != expect) return false;
        expect *= (size_t)t->ne[i];
    }
    return true;
}

bool mmrt_tensor_rows_contiguous(const mmrt_tensor *t) {
    return t->ne[0] == 1 || t->nb[0] == mmrt_dtype_size(t->type);
}

bool mmrt_tensor_same_shape(const mmrt_tensor *a, const mmrt_tensor *b) {
    return memcmp(a->ne, b->ne, sizeof a->ne) == 0;
}

mmrt_tensor mmrt_tensor_slice(const mmrt_tensor *t, int dim, int64_t i0, int64_t n) {
    MMRT_ASSERT(dim >= 0 && dim < MMRT_MAX_DIMS && i0 >= 0 && n >= 0 && i0 + n <= t->ne[dim]);
    mmrt_tensor r = *t;
    r.data = (char *)t->data + (size_t)i0 * t->nb[dim];
    r.ne[dim] = n;
    return r;
}

mmrt_tensor mmrt_tensor_split_heads(const mmrt_tensor *t, int64_t hd) {
    mmrt_tensor r = *t;
    r.ne[0] = hd;
    r.ne[1] = t->ne[0] / hd;
    r.ne[2] = t->ne[1];
    r.nb[1] = (size_t)hd * mmrt_dtype_size(t->type);
    r.nb[2] = t->nb[1];
    r.nb[3] = r.nb[2] * (size_t)r.ne[2];
    return r;
}

/* ---- scalar conversions ------------------------------------------------------------------ */

float mmrt_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t mmrt_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float mmrt_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: value = man * 2^-24 */
            float f = ldexpf((float)man, -24);
            return sign ? -f : f;
        }
    } else {
        u = sign | ((exp + 112u) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t mmrt_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t au = u & 0x7fffffffu;
    if (au > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (au >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
    if (au < 0x38800000u) { /* result is subnormal or zero: round man * 2^24 to an integer */
        float a;
        memcpy(&a, &au, 4);
        return (uint16_t)(sign | (uint32_t)lrintf(a * 16777216.0f));
    }
    uint32_t r = au + 0xfffu + ((au >> 13) & 1u);
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

void mmrt_to_f32(mmrt_dtype t, const void *src, float *dst, int64_t n) {
    switch (t) {
    case MMRT_F32: memcpy(dst, src, (size_t)n * 4); return;
    case MMRT_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = mmrt_bf16_to_f32(((const uint16_t *)src)[i]);
        return;
    case MMRT_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = mmrt_f16_to_f32(((const uint16_t *)src)[i]);
        return;
    default: MMRT_ASSERT(!"mmrt_to_f32: not a float dtype");
    }
}
