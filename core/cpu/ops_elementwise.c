/* Row-wise and elementwise ops: GET_ROWS, SOFTMAX, SILU_MUL, ADD, MUL, SCALE, GELU, GELU_TANH,
 * ADD_BIAS, ARGMAX.
 * Operands are at most 2-D here (rows × row length) with contiguous rows. */
#include "cpu.h"
#include "simd.h"

#include <math.h>
#include <stdlib.h>

mmrt_status mmrt_cpu_get_rows(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *table = op->src[0], *ids = op->src[1];
    for (int64_t i = 0; i < ids->ne[0]; i++) {
        int32_t id = ((const int32_t *)ids->data)[i];
        if (id < 0 || id >= table->ne[1])
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "token id %d out of range [0, %lld)",
                                  id, (long long)table->ne[1]);
        mmrt_cpu_widen_row(table->type, mmrt_tensor_row(table, id, 0, 0),
                           mmrt_cpu_row_f32(op->dst, i, 0), table->ne[0]);
    }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_softmax(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0];
    int64_t d = x->ne[0];
    float scale = op->p.scale.s;
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (x->ne[1] > 4)
    for (int64_t r = 0; r < x->ne[1]; r++) {
        const float *xr = mmrt_cpu_row_f32(x, r, 0);
        float *dr = mmrt_cpu_row_f32(op->dst, r, 0);
        float mx = -INFINITY;
        double sum = 0.0; /* a vocabulary-long f32 sum would lose ~1e-4 relative */
        for (int64_t j = 0; j < d; j++) mx = fmaxf(mx, xr[j] * scale);
        for (int64_t j = 0; j < d; j++) sum += dr[j] = expf(xr[j] * scale - mx);
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < d; j++) dr[j] *= inv;
    }
    return MMRT_OK;
}

/* SILU_MUL, ADD, MUL, SCALE, GELU, GELU_TANH: one row loop, the op chosen per row (rows are long
 * enough that the switch costs nothing next to the arithmetic). */
static void elementwise_row(mmrt_op_kind kind, const float *a, const float *b, float s, float *d,
                            int64_t n) {
    switch (kind) {
    case MMRT_OP_SILU_MUL: /* transformers' SiLU: a · sigmoid(a) */
        for (int64_t j = 0; j < n; j++) d[j] = a[j] / (1.0f + expf(-a[j])) * b[j];
        break;
    case MMRT_OP_ADD:
        for (int64_t j = 0; j < n; j++) d[j] = a[j] + b[j];
        break;
    case MMRT_OP_MUL:
        for (int64_t j = 0; j < n; j++) d[j] = a[j] * b[j];
        break;
    case MMRT_OP_GELU:
        for (int64_t j = 0; j < n; j++)
            d[j] = 0.5f * a[j] * (1.0f + erff(a[j] * 0.70710678118654752f)); /* a / √2 */
        break;
    case MMRT_OP_GELU_TANH: /* torch's tanh approximation, as x · sigmoid(2u) with a vector exp */
        mmrt_simd_gelu_tanh()(a, d, n);
        break;
    default:
        for (int64_t j = 0; j < n; j++) d[j] = a[j] * s;
        break;
    }
}

static mmrt_status elementwise(const mmrt_op *op, const mmrt_cpu_ctx *ctx) {
    const mmrt_tensor *a = op->src[0], *b = op->src[1];
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (a->ne[1] > 4)
    for (int64_t r = 0; r < a->ne[1]; r++)
        elementwise_row(op->kind, mmrt_cpu_row_f32(a, r, 0), b ? mmrt_cpu_row_f32(b, r, 0) : NULL,
                        op->p.scale.s, mmrt_cpu_row_f32(op->dst, r, 0), a->ne[0]);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_silu_mul(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    return elementwise(op, ctx);
}

mmrt_status mmrt_cpu_add(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    return elementwise(op, ctx);
}

mmrt_status mmrt_cpu_mul(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    return elementwise(op, ctx);
}

mmrt_status mmrt_cpu_scale(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    return elementwise(op, ctx);
}

mmrt_status mmrt_cpu_gelu(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    return elementwise(op, ctx);
}

mmrt_status mmrt_cpu_gelu_tanh(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    return elementwise(op, ctx);
}

mmrt_status mmrt_cpu_add_bias(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *b = op->src[1];
    int64_t n = x->ne[0];
    /* a f16/bf16 bias is widened once, not once per row */
    float *bf = b->type == MMRT_F32 ? NULL : malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (b->type != MMRT_F32 && !bf) return mmrt_error_oom(err, sizeof(float) * (size_t)n, "bias");
    if (bf) mmrt_to_f32(b->type, b->data, bf, n);
    const float *bias = bf ? bf : (const float *)b->data;
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (x->ne[1] > 4)
    for (int64_t r = 0; r < x->ne[1]; r++) {
        const float *xr = mmrt_cpu_row_f32(x, r, 0);
        float *dr = mmrt_cpu_row_f32(op->dst, r, 0);
        for (int64_t j = 0; j < n; j++) dr[j] = xr[j] + bias[j];
    }
    free(bf);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_argmax(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0];
    for (int64_t r = 0; r < x->ne[1]; r++) {
        const float *xr = mmrt_cpu_row_f32(x, r, 0);
        int64_t best = 0;
        for (int64_t j = 1; j < x->ne[0]; j++)
            if (xr[j] > xr[best]) best = j;
        ((int32_t *)op->dst->data)[r] = (int32_t)best;
    }
    return MMRT_OK;
}
