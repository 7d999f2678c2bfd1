/* The CPU backend: host memory, synchronous "stream", and the op table of core/cpu/cpu.h. */
#include "cpu.h"
#include "cpu_backend.h"
#include "gemm.h"
#include "simd.h"

#include "core/log.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static mmrt_status cpu_buffer_alloc(mmrt_backend *be, size_t n_bytes, void **ptr, mmrt_error *err) {
    *ptr = aligned_alloc(64, (n_bytes + 63) & ~(size_t)63);
    if (!*ptr && n_bytes) return mmrt_error_oom(err, n_bytes, "CPU buffer");
    return MMRT_OK;
}

static void cpu_buffer_free(mmrt_backend *be, void *ptr) { free(ptr); }

static mmrt_status cpu_copy(mmrt_backend *be, void *dst, const void *src, size_t n_bytes,
                            mmrt_error *err) {
    if (n_bytes) memcpy(dst, src, n_bytes);
    return MMRT_OK;
}

static mmrt_status cpu_synchronize(mmrt_backend *be, mmrt_error *err) { return MMRT_OK; }

static const struct {
    mmrt_cpu_op_fn fast, ref;
} cpu_ops[MMRT_OP_COUNT] = {
#define MMRT_CPU_ENTRY(KIND, name) [MMRT_OP_##KIND] = {mmrt_cpu_##name, mmrt_cpu_##name##_ref},
    MMRT_CPU_OPS(MMRT_CPU_ENTRY)
#undef MMRT_CPU_ENTRY
};

static bool is_float(mmrt_dtype t) { return t == MMRT_F32 || t == MMRT_F16 || t == MMRT_BF16; }

/* MATMUL's weights and GET_ROWS's table: a float type or a block format with an integer dot
 * kernel (mmrt_quant_act_type: all eight), which every mode can also dequantize. */
static bool is_weight(mmrt_dtype t) {
    int q = mmrt_dtype_qtype(t);
    return is_float(t) || (mmrt_dtype_is_quant(t) && q >= 0 && mmrt_quant_act_type((mmrt_qtype)q) >= 0);
}

/* The CPU runs every op; only weight-like operands may be f16/bf16 (and MATMUL's and GET_ROWS's
 * quantized), activations are f32 — but ATTENTION's K and V may be a bf16 cache in the bf16 mode,
 * where the values attention rounds k and v to are the cache's own (cpu_kv_dtype). */
static bool cpu_supports_op(mmrt_backend *be, const mmrt_op *op) {
    if ((unsigned)op->kind >= MMRT_OP_COUNT || !cpu_ops[op->kind].fast) return false;
    switch (op->kind) {
    case MMRT_OP_GET_ROWS: return is_weight(op->src[0]->type) && op->src[1]->type == MMRT_I32;
    case MMRT_OP_MATMUL: return op->src[0]->type == MMRT_F32 && is_weight(op->src[1]->type);
    case MMRT_OP_RMS_NORM:
    case MMRT_OP_ADD_BIAS: return op->src[0]->type == MMRT_F32 && is_float(op->src[1]->type);
    case MMRT_OP_LAYER_NORM:
        return op->src[0]->type == MMRT_F32 && is_float(op->src[1]->type) &&
               is_float(op->src[2]->type);
    case MMRT_OP_CONV1D_DW:
        return op->src[0]->type == MMRT_F32 && is_float(op->src[1]->type) &&
               (!op->src[2] || is_float(op->src[2]->type));
    case MMRT_OP_ATTENTION:
        return op->src[0]->type == MMRT_F32 &&
               (op->src[1]->type == MMRT_F32 || ((const mmrt_cpu_ctx *)be->ctx)->bf16);
    default: return op->src[0]->type == MMRT_F32;
    }
}

static mmrt_status cpu_compute(mmrt_backend *be, const mmrt_op *op, mmrt_error *err) {
    const mmrt_cpu_ctx *ctx = be->ctx;
    mmrt_cpu_op_fn fn = ctx->use_ref ? cpu_ops[op->kind].ref : cpu_ops[op->kind].fast;
    return fn(op, ctx, err);
}

void *mmrt_cpu_scratch_get(const mmrt_cpu_ctx *ctx, size_t n_bytes) {
    mmrt_cpu_scratch *s = ctx->scratch;
    if (n_bytes == 0) n_bytes = 1; /* a valid pointer even for nothing */
    if (n_bytes <= s->n_bytes) return s->p;
    size_t n = (n_bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, n);
    if (!p) return NULL;
    free(s->p);
    s->p = p;
    s->n_bytes = n;
    return p;
}

static void cpu_free(mmrt_backend *be) {
    mmrt_cpu_ctx *ctx = be->ctx;
    free(ctx->scratch->p);
    free(ctx->scratch);
    free(ctx);
    free(be);
}

static mmrt_status cpu_fork(mmrt_backend *be, mmrt_backend **out, mmrt_error *err) {
    const mmrt_cpu_ctx *ctx = be->ctx;
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = ctx->n_threads,
                             .use_ref = ctx->use_ref,
                             .math = ctx->int8 ? MMRT_MATH_INT8 : ctx->bf16 ? MMRT_MATH_BF16 : MMRT_MATH_F32};
    return mmrt_cpu_backend_init(&p, out, err);
}

static void cpu_set_threads(mmrt_backend *be, int n) { ((mmrt_cpu_ctx *)be->ctx)->n_threads = n; }

static mmrt_dtype cpu_kv_dtype(mmrt_backend *be) {
    return ((const mmrt_cpu_ctx *)be->ctx)->bf16 ? MMRT_BF16 : MMRT_F32;
}

static const mmrt_backend_i cpu_iface = {
    .name = "cpu",
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .synchronize = cpu_synchronize,
    .supports_op = cpu_supports_op,
    .compute = cpu_compute,
    .host_memory = true,
    .fork = cpu_fork,
    .free = cpu_free,
    .set_threads = cpu_set_threads,
    .kv_dtype = cpu_kv_dtype,
};

mmrt_status mmrt_cpu_backend_init(const mmrt_backend_params *params, mmrt_backend **out, mmrt_error *err) {
    mmrt_backend *be = calloc(1, sizeof *be);
    mmrt_cpu_ctx *ctx = calloc(1, sizeof *ctx);
    mmrt_cpu_scratch *scratch = calloc(1, sizeof *scratch);
    if (!be || !ctx || !scratch) {
        free(be);
        free(ctx);
        free(scratch);
        return mmrt_error_oom(err, sizeof *be + sizeof *ctx + sizeof *scratch, "CPU backend");
    }
    ctx->n_threads = params->n_threads > 0 ? params->n_threads : omp_get_num_procs();
    ctx->use_ref = params->use_ref;
    ctx->bf16 = params->math == MMRT_MATH_BF16 || params->math == MMRT_MATH_INT8;
    ctx->int8 = params->math == MMRT_MATH_INT8;
    ctx->scratch = scratch;
    be->math = params->math;
    be->iface = &cpu_iface;
    be->ctx = ctx;
    MMRT_LOG_D("CPU backend: %d threads, SIMD %s, GEMMs oneDNN %s, %s arithmetic%s", ctx->n_threads,
               mmrt_simd_level_name(mmrt_simd_level_get()), mmrt_cpu_gemm_isa(), ctx->int8 ? "int8" : ctx->bf16 ? "bf16" : "f32",
               ctx->use_ref ? ", reference ops" : "");
    *out = be;
    return MMRT_OK;
}
