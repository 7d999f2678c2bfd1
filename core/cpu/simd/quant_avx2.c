/* Quantized dot kernels for AVX2 (maddubs/madd) and AVX-VNNI (vpdpbusd/vpdpwssd on 256 bits):
 * one body (quant_x86_body.h) compiled twice. The AVX-VNNI copy is built for that target here and
 * only handed out when cpuid reports it (core/quant.c). */
#include "core/quant.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define QB_NAME(x) x##_avx2
#define QB_DPBUSD(c, u, s)                                                                         \
    _mm256_add_epi32((c), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#define QB_DPWSSD(c, a, b) _mm256_add_epi32((c), _mm256_madd_epi16((a), (b)))
/* pairs: q·s − off·s per maddubs, each term within ±2·31·127 and their difference within ±2·16·127 */
#define QB_DPBUSD_OFF(u, s, off)                                                                   \
    _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16((u), (s)),                             \
                                       _mm256_maddubs_epi16(_mm256_set1_epi8(off), (s))),          \
                      _mm256_set1_epi16(1))
#include "quant_x86_body.h"
#undef QB_NAME
#undef QB_DPBUSD
#undef QB_DPWSSD
#undef QB_DPBUSD_OFF

mmrt_quant_table mmrt_quant_kernels_avx2(void) { return table_avx2(); }

/* Everything below is compiled for avxvnni too (GCC: target pragma; clang: the same attribute on
 * every function). */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avxvnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avxvnni")
#endif
#define QB_NAME(x) x##_avxvnni
#define QB_DPBUSD(c, u, s) _mm256_dpbusd_avx_epi32((c), (u), (s))
#define QB_DPWSSD(c, a, b) _mm256_dpwssd_avx_epi32((c), (a), (b))
#define QB_DPBUSD_OFF(u, s, off)                                                                   \
    _mm256_sub_epi32(_mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), (u), (s)),                   \
                     _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(off), (s)))
#include "quant_x86_body.h"

mmrt_quant_table mmrt_quant_kernels_avxvnni(void) { return table_avxvnni(); }
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
