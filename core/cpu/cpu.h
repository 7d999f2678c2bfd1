/* The CPU backend's op implementations.
 *
 * Each op has a fast version (SIMD picked at run time, OpenMP threads) and a deliberately naive
 * `_ref` version (fp64 accumulation, no SIMD, no threads, straight from the definition): the
 * oracle that every other implementation, CPU or GPU, is tested against. Both take the same
 * mmrt_op, already shape-checked by core/backend.c.
 *
 * Determinism: fast ops split work over output elements only, never over a reduction, so results
 * are identical for any thread count — except the GEMMs that oneDNN runs (core/cpu/gemm.h), which
 * may split a reduction between threads: there results may differ in the last bits.
 *
 * Arithmetic (ctx->bf16, ARCHITECTURE "Arithmetic on the CPU"): in the bf16 mode MATMUL and
 * ATTENTION round their inputs (activations, weights, q, k, v and the softmax weights) to bf16
 * and accumulate in f32; every other op computes in f32 as in the f32 mode. Block-format
 * (quantized) weights are dequantized exactly to f32 first, in every mode but one: in the int8
 * mode (ctx->int8) MATMUL runs them as llama.cpp does (8-bit activations, integer dots).
 */
#ifndef MMRT_CORE_CPU_H
#define MMRT_CORE_CPU_H

#include "core/backend.h"
#include "core/quant.h"

/* A buffer an op may use for the duration of one call (ops on one backend run one at a time). */
typedef struct mmrt_cpu_scratch {
    void *p;
    size_t n_bytes;
} mmrt_cpu_scratch;

typedef struct mmrt_cpu_ctx {
    int n_threads;
    bool use_ref;
    bool bf16;                  /* MMRT_MATH_BF16 or INT8: GEMM and attention inputs rounded to bf16 */
    bool int8;                  /* MMRT_MATH_INT8: quantized weights' dots on 8-bit activations */
    mmrt_cpu_scratch *scratch; /* owned by the backend */
} mmrt_cpu_ctx;

/* The backend's scratch, grown to at least n_bytes (64-byte aligned); NULL when out of memory. Valid
 * until the next call on the same backend. */
void *mmrt_cpu_scratch_get(const mmrt_cpu_ctx *ctx, size_t n_bytes);

typedef mmrt_status (*mmrt_cpu_op_fn)(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err);

#define MMRT_CPU_OPS(X)                                                                            \
    X(GET_ROWS, get_rows)                                                                          \
    X(MATMUL, matmul)                                                                              \
    X(RMS_NORM, rms_norm)                                                                          \
    X(ROPE, rope)                                                                                  \
    X(SOFTMAX, softmax)                                                                            \
    X(ATTENTION, attention)                                                                        \
    X(SILU_MUL, silu_mul)                                                                          \
    X(ADD, add)                                                                                    \
    X(MUL, mul)                                                                                    \
    X(SCALE, scale)                                                                                \
    X(ARGMAX, argmax)                                                                              \
    X(LAYER_NORM, layer_norm)                                                                      \
    X(GELU, gelu)                                                                                  \
    X(GELU_TANH, gelu_tanh)                                                                        \
    X(ADD_BIAS, add_bias)                                                                          \
    X(PATCHIFY, patchify)                                                                          \
    X(PIXEL_SHUFFLE, pixel_shuffle)                                                                \
    X(SCATTER_ROWS, scatter_rows)                                                                  \
    X(SAMPLE, sample)                                                                              \
    X(SILU, silu)                                                                                  \
    X(GLU, glu)                                                                                    \
    X(CONV1D_DW, conv1d_dw)                                                                        \
    X(REL_POS_BIAS, rel_pos_bias)                                                                  \
    X(CONVERT, convert)

#define MMRT_CPU_DECLARE(KIND, name)                                                               \
    mmrt_status mmrt_cpu_##name(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err);      \
    mmrt_status mmrt_cpu_##name##_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err);
MMRT_CPU_OPS(MMRT_CPU_DECLARE)
#undef MMRT_CPU_DECLARE

/* A float element of a F32/F16/BF16 tensor row, as f32 (used by the _ref ops and tails). */
static inline float mmrt_cpu_load(mmrt_dtype t, const void *row, int64_t i) {
    switch (t) {
    case MMRT_F32: return ((const float *)row)[i];
    case MMRT_BF16: return mmrt_bf16_to_f32(((const uint16_t *)row)[i]);
    case MMRT_F16: return mmrt_f16_to_f32(((const uint16_t *)row)[i]);
    default: return 0.0f;
    }
}

/* dst[0..k) = the k weights of a row of dtype t (F32/F16/BF16, or a block format dequantized as
 * gguf-py does), all exact in f32. k is a multiple of t's block (the tensor's shape says so). */
static inline void mmrt_cpu_widen_row(mmrt_dtype t, const void *src, float *dst, int64_t k) {
    if (mmrt_dtype_is_quant(t)) mmrt_dequant_ref((mmrt_qtype)mmrt_dtype_qtype(t), src, dst, k);
    else mmrt_to_f32(t, src, dst, k);
}

/* MATMUL with block-format weights in the int8 mode (core/cpu/ops_matmul_quant.c): x's rows
 * quantized per block to mmrt_quant_act_type, integer dots (core/quant.h). */
mmrt_status mmrt_cpu_matmul_int8(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err);
/* x[0..k) quantized to the activation type at (Q8_0, Q8_1, Q8_K): byte for byte what
 * mmrt_quantize_ref writes (the int8 oracle's quantizer), faster for Q8_0/Q8_1. k a multiple of
 * at's block; x finite. */
void mmrt_cpu_quantize_act(mmrt_qtype at, const float *x, void *dst, int64_t k);

/* Whether key j of an attention op takes part: no mask, or key_mask[j] != 0 (u8 or i32). */
static inline bool mmrt_cpu_key_on(const mmrt_tensor *key_mask, int64_t j) {
    if (!key_mask) return true;
    return key_mask->type == MMRT_U8 ? ((const uint8_t *)key_mask->data)[j] != 0
                                     : ((const int32_t *)key_mask->data)[j] != 0;
}

static inline float *mmrt_cpu_row_f32(const mmrt_tensor *t, int64_t i1, int64_t i2) {
    return (float *)mmrt_tensor_row(t, i1, i2, 0);
}

#endif
