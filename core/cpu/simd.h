/* SIMD kernels chosen at run time from the CPU's features.
 *
 * Builds are portable (no -march=native): each instruction set's kernels live in their own file
 * compiled with that set's flags (core/cpu/simd/dot_avx2.c, dot_avx512.c), and simd.c picks one per
 * process from cpuid, unless MMRT_SIMD=generic|avx2|avx512 in the environment asks for less.
 */
#ifndef MMRT_CORE_CPU_SIMD_H
#define MMRT_CORE_CPU_SIMD_H

#include "core/tensor.h"

typedef enum mmrt_simd_level {
    MMRT_SIMD_GENERIC = 0,
    MMRT_SIMD_AVX2 = 1,   /* AVX2 + FMA + F16C */
    MMRT_SIMD_AVX512 = 2, /* AVX-512 F/BW/VL/DQ (+ BF16 reported separately) */
} mmrt_simd_level;

/* out[r] = Σ_l x[r·x_stride + l] · w[l] for r < nx (1..4), w of dtype wt (F32/F16/BF16).
 * Each row's sum is accumulated in the same order whatever nx is, so grouping rows never
 * changes a result. */
typedef void (*mmrt_dotn_fn)(mmrt_dtype wt, const float *x, size_t x_stride, int nx,
                             const void *w, int64_t k, float *out);

#define MMRT_DOTN_MAX 4

/* y[i] += a · x[i] for i < n (f32). */
typedef void (*mmrt_axpy_fn)(float a, const float *x, float *y, int64_t n);
void mmrt_axpy_generic(float a, const float *x, float *y, int64_t n);
void mmrt_axpy_avx2(float a, const float *x, float *y, int64_t n);
void mmrt_axpy_avx512(float a, const float *x, float *y, int64_t n);

void mmrt_dotn_generic(mmrt_dtype wt, const float *x, size_t x_stride, int nx, const void *w,
                       int64_t k, float *out);
void mmrt_dotn_avx2(mmrt_dtype wt, const float *x, size_t x_stride, int nx, const void *w,
                    int64_t k, float *out);
void mmrt_dotn_avx512(mmrt_dtype wt, const float *x, size_t x_stride, int nx, const void *w,
                      int64_t k, float *out);

/* The best level this CPU supports (cpuid), and whether it has AVX512-BF16. */
mmrt_simd_level mmrt_simd_detect(bool *has_bf16);
/* The level in use: the detected one, lowered by MMRT_SIMD or mmrt_simd_force(). */
mmrt_simd_level mmrt_simd_level_get(void);
const char *mmrt_simd_level_name(mmrt_simd_level level);
/* Tests: run everything at `level` (clamped to what the CPU supports). Not thread-safe. */
void mmrt_simd_force(mmrt_simd_level level);

/* x[i] = exp(x[i] − m) for i < n (−inf gives exactly 0); returns the sum. Summed in a fixed lane
 * order, so the result depends only on the inputs. */
typedef float (*mmrt_exp_sum_fn)(float *x, int64_t n, float m);
float mmrt_exp_sum_generic(float *x, int64_t n, float m);
float mmrt_exp_sum_avx512(float *x, int64_t n, float m);

/* Attention's weighted sum of values: acc[g·acc_stride + i] += Σ_j p[g·p_stride + j] · v[j·v_stride + i]
 * for g < group, i < hd, j < len, each sum taken in j order. */
typedef void (*mmrt_attn_accum_fn)(const float *p, int64_t p_stride, int64_t group, const float *v,
                                   size_t v_stride, int64_t len, float *acc, int64_t acc_stride,
                                   int64_t hd);
void mmrt_attn_accum_generic(const float *p, int64_t p_stride, int64_t group, const float *v,
                             size_t v_stride, int64_t len, float *acc, int64_t acc_stride, int64_t hd);
void mmrt_attn_accum_avx512(const float *p, int64_t p_stride, int64_t group, const float *v,
                            size_t v_stride, int64_t len, float *acc, int64_t acc_stride, int64_t hd);

/* y[i] = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) for i < n (GELU, torch's tanh approximation);
 * y may be x. The generic kernel follows torch's order of operations; the AVX-512 one computes
 * x · sigmoid(2u), equal within a few f32 ulps. */
typedef void (*mmrt_gelu_tanh_fn)(const float *x, float *y, int64_t n);
void mmrt_gelu_tanh_generic(const float *x, float *y, int64_t n);
void mmrt_gelu_tanh_avx512(const float *x, float *y, int64_t n);

/* dst[i] = src[i] rounded to bf16 (round to nearest even, NaN kept quiet), as mmrt_f32_to_bf16. */
typedef void (*mmrt_round_bf16_fn)(const float *src, uint16_t *dst, int64_t n);
void mmrt_round_bf16_generic(const float *src, uint16_t *dst, int64_t n);
void mmrt_round_bf16_avx512(const float *src, uint16_t *dst, int64_t n);

mmrt_dotn_fn mmrt_simd_dotn(void);
mmrt_round_bf16_fn mmrt_simd_round_bf16(void);
mmrt_axpy_fn mmrt_simd_axpy(void);
mmrt_exp_sum_fn mmrt_simd_exp_sum(void);
mmrt_attn_accum_fn mmrt_simd_attn_accum(void);
mmrt_gelu_tanh_fn mmrt_simd_gelu_tanh(void);

#endif
