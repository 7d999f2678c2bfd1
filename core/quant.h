/* Quantized weight formats: llama.cpp's (ggml's) block formats, as GGUF files store them.
 *
 * A row of k weights is k / block_size blocks, each block a fixed number of bytes holding the
 * block's scale(s) and its packed integers; k must be a multiple of the block size. The type ids
 * are ggml's own (the values GGUF files carry), so a GGUF tensor's type field maps to one without
 * a table. mmrt reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K, and writes Q8_0,
 * Q4_0 and Q4_K (`mmrt quantize`, `--quant`).
 *
 * Dequantization is bit-identical to the `gguf` Python package's (gguf-py, llama.cpp's
 * `ggml-quants.c` reference rows). The dot kernels multiply a quantized weight row by activations
 * that were themselves quantized per block (to Q8_0 or Q8_1 for the 32-element formats, to Q8_K
 * for the K formats) as llama.cpp does, integer products summed exactly, scales applied per block
 * in f32.
 *
 * Usage for one matrix-vector product y = W·x (W: n rows of k weights of type wt):
 *
 *     mmrt_qtype at = mmrt_quant_act_type(wt);            // Q8_0, Q8_1 or Q8_K
 *     MMRT_TRY(mmrt_quantize_row(at, x, xq, k, err));     // xq: mmrt_qtype_row_bytes(at, k) bytes
 *     mmrt_quant_dotn_fn dot = mmrt_quant_dotn_get(wt);   // checked once per matrix
 *     for (r = 0; r < n; r++) dot(w + r * row_bytes, xq, 0, 1, k, &y[r]);
 */
#ifndef MMRT_CORE_QUANT_H
#define MMRT_CORE_QUANT_H

#include "core/error.h"
#include "core/tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum mmrt_qtype { /* ggml_type values */
    MMRT_QTYPE_F32 = 0,
    MMRT_QTYPE_F16 = 1,
    MMRT_QTYPE_Q4_0 = 2,
    MMRT_QTYPE_Q4_1 = 3,
    MMRT_QTYPE_Q5_0 = 6,
    MMRT_QTYPE_Q5_1 = 7,
    MMRT_QTYPE_Q8_0 = 8,
    MMRT_QTYPE_Q8_1 = 9,
    MMRT_QTYPE_Q2_K = 10,
    MMRT_QTYPE_Q3_K = 11,
    MMRT_QTYPE_Q4_K = 12,
    MMRT_QTYPE_Q5_K = 13,
    MMRT_QTYPE_Q6_K = 14,
    MMRT_QTYPE_Q8_K = 15,
    MMRT_QTYPE_BF16 = 30,
    MMRT_QTYPE_COUNT = 40 /* above every ggml type id this file names */
} mmrt_qtype;

typedef struct mmrt_qtype_info {
    const char *name;     /* ggml's: "q4_K", "bf16" (NULL: not a type mmrt knows) */
    int32_t block_size;   /* weights per block (1 for F32/F16/BF16) */
    int32_t block_bytes;  /* bytes per block */
    bool readable;        /* mmrt can load and compute with it */
} mmrt_qtype_info;

/* The qtype of a tensor dtype: F32, F16, BF16 and the block formats; -1 for the others (integers). */
static inline int mmrt_dtype_qtype(mmrt_dtype t) {
    switch (t) {
    case MMRT_F32: return MMRT_QTYPE_F32;
    case MMRT_F16: return MMRT_QTYPE_F16;
    case MMRT_BF16: return MMRT_QTYPE_BF16;
    case MMRT_Q8_0: return MMRT_QTYPE_Q8_0;
    case MMRT_Q4_0: return MMRT_QTYPE_Q4_0;
    case MMRT_Q4_1: return MMRT_QTYPE_Q4_1;
    case MMRT_Q5_0: return MMRT_QTYPE_Q5_0;
    case MMRT_Q5_1: return MMRT_QTYPE_Q5_1;
    case MMRT_Q4_K: return MMRT_QTYPE_Q4_K;
    case MMRT_Q5_K: return MMRT_QTYPE_Q5_K;
    case MMRT_Q6_K: return MMRT_QTYPE_Q6_K;
    default: return -1;
    }
}

/* The type's layout; NULL for an id mmrt does not know (GGUF readers name the id in the error). */
const mmrt_qtype_info *mmrt_qtype_get(uint32_t type);

/* Bytes of one row of k weights, or 0 when k is not a multiple of the block size (or overflows). */
size_t mmrt_qtype_row_bytes(mmrt_qtype t, int64_t k);

/* ---- block layouts (ggml's, byte for byte; f16 scales kept as their bits) ---------------------- */

#define MMRT_QK 32   /* weights per block of the 32-element formats */
#define MMRT_QK_K 256 /* weights per super-block of the K formats */

typedef struct { uint16_t d; int8_t qs[32]; } mmrt_block_q8_0;             /* x = d·q */
typedef struct { uint16_t d, s; int8_t qs[32]; } mmrt_block_q8_1;          /* s = d·Σq (f16) */
typedef struct { uint16_t d; uint8_t qs[16]; } mmrt_block_q4_0;            /* x = d·(q − 8) */
typedef struct { uint16_t d, m; uint8_t qs[16]; } mmrt_block_q4_1;         /* x = d·q + m */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } mmrt_block_q5_0;    /* x = d·(q − 16) */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } mmrt_block_q5_1; /* x = d·q + m */
/* Element j < 16: low nibble of qs[j]; element 16 + j: its high nibble. Q5_0/Q5_1 add element j's
 * fifth bit as bit j of qh (a little-endian uint32). */

/* Bytes per block of the 32-element formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1); 0 for the others. */
static inline size_t mmrt_q32_block_bytes(mmrt_qtype t) {
    switch (t) {
    case MMRT_QTYPE_Q8_0: return sizeof(mmrt_block_q8_0);
    case MMRT_QTYPE_Q4_0: return sizeof(mmrt_block_q4_0);
    case MMRT_QTYPE_Q4_1: return sizeof(mmrt_block_q4_1);
    case MMRT_QTYPE_Q5_0: return sizeof(mmrt_block_q5_0);
    case MMRT_QTYPE_Q5_1: return sizeof(mmrt_block_q5_1);
    default: return 0;
    }
}
/* The level offset of Q4_0 (8) and Q5_0 (16), x = d·(q − off); 0 for the others. */
static inline int mmrt_q32_level_off(mmrt_qtype t) {
    return t == MMRT_QTYPE_Q4_0 ? 8 : t == MMRT_QTYPE_Q5_0 ? 16 : 0;
}
/* Q4_1 and Q5_1: x = d·q + m, activations Q8_1 (with their sums s = d·Σq). */
static inline bool mmrt_q32_has_min(mmrt_qtype t) { return t == MMRT_QTYPE_Q4_1 || t == MMRT_QTYPE_Q5_1; }

/* 8 sub-blocks of 32 with 6-bit scale sc and min m each (packed in scales[12], see
 * mmrt_q4k_scale_min): x = d·sc·q − dmin·m. Chunk c < 4 of 64 elements: qs[32c + l] holds element
 * 64c + l (low nibble) and 64c + 32 + l (high nibble). Q5_K adds the fifth bit of element
 * 32s + l as bit s of qh[l]. */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } mmrt_block_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } mmrt_block_q5_K;
/* 16 groups of 16 with an int8 scale each: x = d·scales[g]·(q − 32), q 6 bits; in each half h of 128
 * elements, element 128h + 32i + l (i < 4, l < 32) has its low 4 bits in ql[64h + 32(i & 1) + l]
 * (low nibble for i < 2, high for i ≥ 2) and its top 2 bits at bits 2i of qh[32h + l]. */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } mmrt_block_q6_K;
/* Activations for the K formats: x = d·q (f32 d), bsums[g] = Σ of q over group g of 16. */
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } mmrt_block_q8_K;

/* Sub-block j's 6-bit scale and min from a Q4_K/Q5_K block's 12 packed bytes. */
static inline void mmrt_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* All 8 scales then all 8 mins (out[0..7], out[8..15]) of a Q4_K/Q5_K block's 12 packed bytes: what
 * mmrt_q4k_scale_min gives for each j, computed on 32-bit words (the SIMD kernels' form). */
static inline void mmrt_q4k_unpack_scales(const uint8_t *q, uint8_t out[16]) {
    uint32_t u[4];
    memcpy(u, q, 12);
    u[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4); /* mins 4..7 */
    uint32_t mins_lo = u[1] & 0x3f3f3f3fu;                                   /* mins 0..3 */
    u[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);        /* scales 4..7 */
    u[2] = mins_lo;
    u[0] &= 0x3f3f3f3fu;                                                      /* scales 0..3 */
    memcpy(out, u, 16);
}

/* ---- rows ------------------------------------------------------------------------------------ */

/* dst[0..k) = the k weights of row src (type: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
 * Q5_K, Q6_K),
 * bit-identical to gguf-py's dequantize. Refused: another type (MMRT_ERR_UNSUPPORTED), k not a
 * positive multiple of the block size (MMRT_ERR_INVALID_ARG). */
mmrt_status mmrt_dequantize_row(mmrt_qtype type, const void *src, float *dst, int64_t k,
                                mmrt_error *err);

/* dst (mmrt_qtype_row_bytes(type, k) bytes) = src[0..k) quantized as llama.cpp's reference
 * quantizers do, byte for byte: Q8_0, Q4_0, Q4_K (weights) and Q8_1, Q8_K (activations; Q8_0 serves
 * both). Inputs must be finite. Refused like mmrt_dequantize_row: another type, or a bad k. */
mmrt_status mmrt_quantize_row(mmrt_qtype type, const float *src, void *dst, int64_t k,
                              mmrt_error *err);

/* ---- dot products ---------------------------------------------------------------------------- */

/* The type activations are quantized to for weights of type wt (llama.cpp's: Q8_0 for Q8_0/Q4_0/Q5_0,
 * Q8_1 for Q4_1/Q5_1, Q8_K for Q4_K/Q5_K/Q6_K); -1 when wt has no quantized dot kernel. */
int mmrt_quant_act_type(mmrt_qtype wt);

#define MMRT_QUANT_DOTN_MAX 8

/* out[r] = w · act_r for r < nx (1..MMRT_QUANT_DOTN_MAX), w one weight row of k weights and act_r
 * the row at act + r·act_stride bytes, quantized to mmrt_quant_act_type(wt) by mmrt_quantize_row
 * (its levels stay within ±127, which the kernels' sign tricks rely on). k must be a positive
 * multiple of the block size (not checked: the caller checks once per matrix, e.g. with
 * mmrt_quant_dot). Each row's result is the same whatever nx is. The reference sums each block's
 * integer products exactly and adds the scaled blocks in order in f32; the SIMD kernels get the
 * same integers and differ only in the f32 order across blocks: within (3·n_blocks + 16)·2^-24 ·
 * Σ_i (|w_i| + offset_i)·|a_i| of the reference (offset_i: Q4_0's 8·|d|, Q5_0's 16·|d|, Q4_1's and
 * Q5_1's |m|, the K mins' 2·dmin·m, Q6_K's 32·|d·sc|), as tests/test_quant.c checks. */
typedef void (*mmrt_quant_dotn_fn)(const void *w, const void *act, size_t act_stride, int nx,
                                   int64_t k, float *out);

/* Instruction sets the kernels are written for. */
typedef enum mmrt_quant_isa {
    MMRT_QUANT_ISA_REF = 0,     /* plain C: the reference */
    MMRT_QUANT_ISA_AVX2 = 1,    /* AVX2 maddubs/madd */
    MMRT_QUANT_ISA_AVXVNNI = 2, /* AVX-VNNI vpdpbusd/vpdpwssd on 256 bits */
    MMRT_QUANT_ISA_AVX512VNNI = 3, /* AVX-512 VNNI (+F/BW/VL/DQ) on 512 bits */
    MMRT_QUANT_ISA_COUNT
} mmrt_quant_isa;

/* The kernel for weights of type wt at the best ISA the CPU has and MMRT_SIMD allows (MMRT_SIMD=avx2
 * rules out AVX-512, =generic everything but the reference); NULL when wt has none. */
mmrt_quant_dotn_fn mmrt_quant_dotn_get(mmrt_qtype wt);
/* The kernel at one ISA (tests, benchmarks); NULL when the CPU lacks the ISA or wt has no kernel. */
mmrt_quant_dotn_fn mmrt_quant_dotn_isa(mmrt_qtype wt, mmrt_quant_isa isa);
const char *mmrt_quant_isa_name(mmrt_quant_isa isa);
/* The ISA mmrt_quant_dotn_get's kernels use: the best the CPU has within the SIMD level in use
 * (MMRT_SIMD lowers it): AVX-512 VNNI at avx512, AVX-VNNI or else AVX2 at avx2. */
mmrt_quant_isa mmrt_quant_isa_best(void);

/* *out = w · act for one row (checked: wt has a kernel, k is a positive multiple of its block). */
mmrt_status mmrt_quant_dot(mmrt_qtype wt, const void *w, const void *act, int64_t k, float *out,
                           mmrt_error *err);

/* ---- kernels (core/quant_ref.c, core/cpu/simd/quant_*.c) -------------------------------------- */

void mmrt_dequant_ref(mmrt_qtype type, const void *src, float *dst, int64_t k);
void mmrt_quantize_ref(mmrt_qtype type, const float *src, void *dst, int64_t k);

/* Each ISA's kernels, indexed by weight type (NULL entries: no kernel). The SIMD tables exist
 * whatever the CPU: mmrt_quant_dotn_isa checks the CPU before handing one out. */
typedef const mmrt_quant_dotn_fn *mmrt_quant_table;
mmrt_quant_table mmrt_quant_kernels_ref(void);
mmrt_quant_table mmrt_quant_kernels_avx2(void);
mmrt_quant_table mmrt_quant_kernels_avxvnni(void);
mmrt_quant_table mmrt_quant_kernels_avx512vnni(void);

#endif
