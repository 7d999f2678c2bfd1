/* Quantized dot kernels for AVX-512 VNNI: the 256-bit body (quant_x86_body.h) with the EVEX
 * vpdpbusd/vpdpwssd (AVX512_VNNI + VL). Handed out only when cpuid reports AVX512_VNNI
 * (core/quant.c). */
#include "core/quant.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#pragma GCC push_options
#pragma GCC target("avx512vnni")
#define QB_NAME(x) x##_avx512vnni
#define QB_DPBUSD(c, u, s) _mm256_dpbusd_epi32((c), (u), (s))
#define QB_DPWSSD(c, a, b) _mm256_dpwssd_epi32((c), (a), (b))
#include "quant_x86_body.h"
#pragma GCC pop_options
