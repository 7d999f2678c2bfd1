/* RMS_NORM, LAYER_NORM and ROPE: per-row transforms of activations. */
#include "cpu.h"

#include <math.h>

mmrt_status mmrt_cpu_rms_norm(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1];
    int64_t d = x->ne[0], rows = x->ne[1];
    float eps = op->p.norm.eps;
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (rows > 4)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = mmrt_cpu_row_f32(x, r, 0);
        float *dr = mmrt_cpu_row_f32(op->dst, r, 0);
        float ss = 0.0f;
        for (int64_t j = 0; j < d; j++) ss += xr[j] * xr[j];
        /* as transformers: x · rsqrt(mean(x²) + eps), then · weight */
        float inv = 1.0f / sqrtf(ss / (float)d + eps);
        for (int64_t j = 0; j < d; j++) dr[j] = mmrt_cpu_load(w->type, w->data, j) * (xr[j] * inv);
    }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_layer_norm(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1], *b = op->src[2];
    int64_t d = x->ne[0], rows = x->ne[1];
    float eps = op->p.norm.eps;
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (rows > 4)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = mmrt_cpu_row_f32(x, r, 0);
        float *dr = mmrt_cpu_row_f32(op->dst, r, 0);
        /* two passes (mean, then squared deviations): the one-pass E[x²] − E[x]² cancels badly
         * on activations with a large mean */
        float sum = 0.0f;
        for (int64_t j = 0; j < d; j++) sum += xr[j];
        float mean = sum / (float)d, ss = 0.0f;
        for (int64_t j = 0; j < d; j++) ss += (xr[j] - mean) * (xr[j] - mean);
        float inv = 1.0f / sqrtf(ss / (float)d + eps);
        for (int64_t j = 0; j < d; j++)
            dr[j] = (xr[j] - mean) * inv * mmrt_cpu_load(w->type, w->data, j) +
                    mmrt_cpu_load(b->type, b->data, j);
    }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_rope(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *pos = op->src[1], *inv_freq = op->src[2];
    int half = op->p.rope.n_rot / 2;
    float attn_factor = op->p.rope.attn_factor;
    int64_t n_head = x->ne[1], n_tok = x->ne[2];
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (n_tok > 4)
    for (int64_t t = 0; t < n_tok; t++) {
        float p = (float)((const int32_t *)pos->data)[t];
        for (int i = 0; i < half; i++) {
            /* transformers forms the angle as an f32 product; so do we, for the same rounding */
            float angle = p * ((const float *)inv_freq->data)[i];
            float c = cosf(angle) * attn_factor, s = sinf(angle) * attn_factor;
            for (int64_t h = 0; h < n_head; h++) {
                const float *xr = mmrt_cpu_row_f32(x, h, t);
                float *dr = mmrt_cpu_row_f32(op->dst, h, t);
                float x1 = xr[i], x2 = xr[i + half];
                dr[i] = x1 * c - x2 * s;
                dr[i + half] = x2 * c + x1 * s;
            }
        }
        if (op->dst->data != x->data)
            for (int64_t h = 0; h < n_head; h++)
                for (int64_t i = 2 * half; i < x->ne[0]; i++)
                    mmrt_cpu_row_f32(op->dst, h, t)[i] = mmrt_cpu_row_f32(x, h, t)[i];
    }
    return MMRT_OK;
}
