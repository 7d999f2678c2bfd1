/* Row-wise and elementwise ops: GET_ROWS, SOFTMAX, SILU_MUL, ADD, MUL, SCALE, ARGMAX.
 * Operands are at most 2-D here (rows × row length) with contiguous rows. */
#include "cpu.h"

#include <math.h>

mmrt_status mmrt_cpu_get_rows(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *table = op->src[0], *ids = op->src[1];
    for (int64_t i = 0; i < ids->ne[0]; i++) {
        int32_t id = ((const int32_t *)ids->data)[i];
        if (id < 0 || id >= table->ne[1])
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "token id %d out of range [0, %lld)",
                                  id, (long long)table->ne[1]);
        mmrt_to_f32(table->type, mmrt_tensor_row(table, id, 0, 0), mmrt_cpu_row_f32(op->dst, i, 0),
                    table->ne[0]);
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

#define ELEMENTWISE(name, expr)                                                                    \
    mmrt_status mmrt_cpu_##name(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {     \
        const mmrt_tensor *ta = op->src[0], *tb = op->src[1];                                      \
        float s = op->p.scale.s;                                                                   \
        (void)s;                                                                                   \
        _Pragma("omp parallel for num_threads(ctx->n_threads) schedule(static) if (ta->ne[1] > 4)") \
        for (int64_t r = 0; r < ta->ne[1]; r++) {                                                  \
            const float *a = mmrt_cpu_row_f32(ta, r, 0);                                           \
            const float *b = tb ? mmrt_cpu_row_f32(tb, r, 0) : a;                                  \
            float *d = mmrt_cpu_row_f32(op->dst, r, 0);                                            \
            (void)b;                                                                               \
            for (int64_t j = 0; j < ta->ne[0]; j++) d[j] = (expr);                                 \
        }                                                                                          \
        return MMRT_OK;                                                                            \
    }

/* silu(a) · b as transformers' SiLU: a · sigmoid(a) */
ELEMENTWISE(silu_mul, a[j] / (1.0f + expf(-a[j])) * b[j])
ELEMENTWISE(add, a[j] + b[j])
ELEMENTWISE(mul, a[j] * b[j])
ELEMENTWISE(scale, a[j] * s)

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
