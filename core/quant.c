#include "quant.h"

#include "core/cpu/simd.h"

#include <cpuid.h>
#include <pthread.h>

/* ---- checked rows ---------------------------------------------------------------------------- */

static mmrt_status check_k(mmrt_qtype t, int64_t k, const char *what, mmrt_error *err) {
    const mmrt_qtype_info *q = mmrt_qtype_get((uint32_t)t);
    if (k <= 0 || mmrt_qtype_row_bytes(t, k) == 0)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "%s: a row of %lld %s weights is not a positive multiple of its block "
                              "of %d", what, (long long)k, q->name, (int)q->block_size);
    return MMRT_OK;
}

static const char *type_name(mmrt_qtype t) {
    const mmrt_qtype_info *q = mmrt_qtype_get((uint32_t)t);
    return q ? q->name : "unknown";
}

mmrt_status mmrt_dequantize_row(mmrt_qtype type, const void *src, float *dst, int64_t k,
                                mmrt_error *err) {
    const mmrt_qtype_info *q = mmrt_qtype_get((uint32_t)type);
    if (!q || !q->readable)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "dequantize: type %d (%s) is not readable",
                              (int)type, type_name(type));
    MMRT_TRY(check_k(type, k, "dequantize", err));
    mmrt_dequant_ref(type, src, dst, k);
    return MMRT_OK;
}

mmrt_status mmrt_quantize_row(mmrt_qtype type, const float *src, void *dst, int64_t k,
                              mmrt_error *err) {
    if (type != MMRT_QTYPE_Q8_0 && type != MMRT_QTYPE_Q4_0 && type != MMRT_QTYPE_Q4_K &&
        type != MMRT_QTYPE_Q8_1 && type != MMRT_QTYPE_Q8_K)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "quantize: type %d (%s) cannot be written (q8_0, q4_0, q4_K, q8_1, q8_K)",
                              (int)type, type_name(type));
    MMRT_TRY(check_k(type, k, "quantize", err));
    mmrt_quantize_ref(type, src, dst, k);
    return MMRT_OK;
}

/* ---- dot kernels, chosen at run time --------------------------------------------------------- */

int mmrt_quant_act_type(mmrt_qtype wt) {
    switch (wt) {
    case MMRT_QTYPE_Q8_0:
    case MMRT_QTYPE_Q4_0:
    case MMRT_QTYPE_Q5_0: return MMRT_QTYPE_Q8_0;
    case MMRT_QTYPE_Q4_1:
    case MMRT_QTYPE_Q5_1: return MMRT_QTYPE_Q8_1;
    case MMRT_QTYPE_Q4_K:
    case MMRT_QTYPE_Q5_K:
    case MMRT_QTYPE_Q6_K: return MMRT_QTYPE_Q8_K;
    default: return -1;
    }
}

const char *mmrt_quant_isa_name(mmrt_quant_isa isa) {
    static const char *const names[] = {"ref", "avx2", "avxvnni", "avx512vnni"};
    return isa < MMRT_QUANT_ISA_COUNT ? names[isa] : "unknown";
}

/* AVX-VNNI: CPUID.(7, 1):EAX bit 4 (asked directly: clang before 16 has no "avxvnni" for
 * __builtin_cpu_supports). The OS's saving of the YMM state is part of the AVX2 level's check. */
static bool has_avx_vnni(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 4 & 1u);
}

/* Which ISAs this CPU runs (AVX-512 VNNI needs F/BW/VL too: mmrt_simd_detect's level), asked once:
 * cpuid traps to the hypervisor in a VM, and kernels are looked up per matmul. */
static bool g_isa_ok[MMRT_QUANT_ISA_COUNT];

static void detect_isas(void) {
    mmrt_simd_level best = mmrt_simd_detect(NULL);
    g_isa_ok[MMRT_QUANT_ISA_REF] = true;
    g_isa_ok[MMRT_QUANT_ISA_AVX2] = best >= MMRT_SIMD_AVX2;
    g_isa_ok[MMRT_QUANT_ISA_AVXVNNI] = best >= MMRT_SIMD_AVX2 && has_avx_vnni();
    g_isa_ok[MMRT_QUANT_ISA_AVX512VNNI] = best >= MMRT_SIMD_AVX512 && __builtin_cpu_supports("avx512vnni");
}

static bool isa_supported(mmrt_quant_isa isa) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, detect_isas);
    return (unsigned)isa < MMRT_QUANT_ISA_COUNT && g_isa_ok[isa];
}

mmrt_quant_dotn_fn mmrt_quant_dotn_isa(mmrt_qtype wt, mmrt_quant_isa isa) {
    if ((uint32_t)wt >= MMRT_QTYPE_COUNT || !isa_supported(isa)) return NULL;
    switch (isa) {
    case MMRT_QUANT_ISA_AVX2: return mmrt_quant_kernels_avx2()[wt];
    case MMRT_QUANT_ISA_AVXVNNI: return mmrt_quant_kernels_avxvnni()[wt];
    case MMRT_QUANT_ISA_AVX512VNNI: return mmrt_quant_kernels_avx512vnni()[wt];
    default: return mmrt_quant_kernels_ref()[wt];
    }
}

/* The best ISA allowed by the SIMD level in use (MMRT_SIMD lowers it): AVX-512 VNNI at avx512,
 * AVX-VNNI or else AVX2 at avx2. */
mmrt_quant_isa mmrt_quant_isa_best(void) {
    mmrt_simd_level level = mmrt_simd_level_get();
    if (level >= MMRT_SIMD_AVX512 && isa_supported(MMRT_QUANT_ISA_AVX512VNNI))
        return MMRT_QUANT_ISA_AVX512VNNI;
    if (level >= MMRT_SIMD_AVX2 && isa_supported(MMRT_QUANT_ISA_AVXVNNI)) return MMRT_QUANT_ISA_AVXVNNI;
    if (level >= MMRT_SIMD_AVX2) return MMRT_QUANT_ISA_AVX2;
    return MMRT_QUANT_ISA_REF;
}

mmrt_quant_dotn_fn mmrt_quant_dotn_get(mmrt_qtype wt) {
    mmrt_quant_dotn_fn f = mmrt_quant_dotn_isa(wt, mmrt_quant_isa_best());
    return f ? f : mmrt_quant_dotn_isa(wt, MMRT_QUANT_ISA_REF);
}

mmrt_status mmrt_quant_dot(mmrt_qtype wt, const void *w, const void *act, int64_t k, float *out,
                           mmrt_error *err) {
    mmrt_quant_dotn_fn f = mmrt_quant_dotn_get(wt);
    if (!f)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "quantized dot: no kernel for %s weights",
                              type_name(wt));
    MMRT_TRY(check_k(wt, k, "quantized dot", err));
    f(w, act, 0, 1, k, out);
    return MMRT_OK;
}
