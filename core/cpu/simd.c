#include "simd.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Plain C: 8 partial sums per row, the same lane structure as the vector kernels. */
void mmrt_dotn_generic(mmrt_dtype wt, const float *x, size_t x_stride, int nx, const void *w,
                       int64_t k, float *out) {
    for (int r = 0; r < nx; r++) {
        const float *xr = x + (size_t)r * x_stride;
        float lane[8] = {0};
        for (int64_t l = 0; l < k; l++) {
            float wv;
            if (wt == MMRT_F32) wv = ((const float *)w)[l];
            else if (wt == MMRT_BF16) wv = mmrt_bf16_to_f32(((const uint16_t *)w)[l]);
            else wv = mmrt_f16_to_f32(((const uint16_t *)w)[l]);
            lane[l & 7] += xr[l] * wv;
        }
        out[r] = ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
    }
}

void mmrt_axpy_generic(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

float mmrt_exp_sum_generic(float *x, int64_t n, float m) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += x[i] = expf(x[i] - m);
    return sum;
}

void mmrt_attn_accum_generic(const float *p, int64_t p_stride, int64_t group, const float *v,
                             size_t v_stride, int64_t len, float *acc, int64_t acc_stride, int64_t hd) {
    for (int64_t j = 0; j < len; j++)
        for (int64_t g = 0; g < group; g++) {
            float pj = p[g * p_stride + j];
            float *a = acc + g * acc_stride;
            const float *vr = v + (size_t)j * v_stride;
            for (int64_t i = 0; i < hd; i++) a[i] += pj * vr[i];
        }
}

void mmrt_gelu_tanh_generic(const float *x, float *y, int64_t n) {
    const float k0 = 0.79788456080286536f, k1 = 0.044715f; /* sqrt(2/π) */
    for (int64_t j = 0; j < n; j++) {
        float v = x[j];
        y[j] = 0.5f * v * (1.0f + tanhf(k0 * (v + k1 * v * v * v)));
    }
}

void mmrt_round_bf16_generic(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = mmrt_f32_to_bf16(src[i]);
}

static int g_level = -1;
static bool g_bf16;

mmrt_simd_level mmrt_simd_detect(bool *has_bf16) {
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    if (has_bf16) *has_bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
    return avx512 ? MMRT_SIMD_AVX512 : avx2 ? MMRT_SIMD_AVX2 : MMRT_SIMD_GENERIC;
}

const char *mmrt_simd_level_name(mmrt_simd_level level) {
    static const char *const names[] = {"generic", "avx2", "avx512"};
    return names[level];
}

static void init_level(void) {
    mmrt_simd_level best = mmrt_simd_detect(&g_bf16), want = best;
    const char *env = getenv("MMRT_SIMD");
    if (env && strcmp(env, "generic") == 0) want = MMRT_SIMD_GENERIC;
    else if (env && strcmp(env, "avx2") == 0) want = MMRT_SIMD_AVX2;
    g_level = want < best ? want : best;
}

mmrt_simd_level mmrt_simd_level_get(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_level);
    return (mmrt_simd_level)g_level;
}

void mmrt_simd_force(mmrt_simd_level level) {
    mmrt_simd_level_get(); /* run the one-time detection first, so it cannot undo this later */
    mmrt_simd_level best = mmrt_simd_detect(&g_bf16);
    g_level = level < best ? level : best;
}

mmrt_dotn_fn mmrt_simd_dotn(void) {
    switch (mmrt_simd_level_get()) {
    case MMRT_SIMD_AVX512: return mmrt_dotn_avx512;
    case MMRT_SIMD_AVX2: return mmrt_dotn_avx2;
    default: return mmrt_dotn_generic;
    }
}

mmrt_axpy_fn mmrt_simd_axpy(void) {
    switch (mmrt_simd_level_get()) {
    case MMRT_SIMD_AVX512: return mmrt_axpy_avx512;
    case MMRT_SIMD_AVX2: return mmrt_axpy_avx2;
    default: return mmrt_axpy_generic;
    }
}

mmrt_exp_sum_fn mmrt_simd_exp_sum(void) {
    return mmrt_simd_level_get() == MMRT_SIMD_AVX512 ? mmrt_exp_sum_avx512 : mmrt_exp_sum_generic;
}

mmrt_attn_accum_fn mmrt_simd_attn_accum(void) {
    return mmrt_simd_level_get() == MMRT_SIMD_AVX512 ? mmrt_attn_accum_avx512 : mmrt_attn_accum_generic;
}

mmrt_gelu_tanh_fn mmrt_simd_gelu_tanh(void) {
    return mmrt_simd_level_get() == MMRT_SIMD_AVX512 ? mmrt_gelu_tanh_avx512 : mmrt_gelu_tanh_generic;
}

mmrt_round_bf16_fn mmrt_simd_round_bf16(void) {
    return mmrt_simd_level_get() == MMRT_SIMD_AVX512 ? mmrt_round_bf16_avx512 : mmrt_round_bf16_generic;
}
