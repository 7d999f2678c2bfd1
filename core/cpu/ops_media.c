/* Data movement around the models: PATCHIFY, PIXEL_SHUFFLE (one memcpy per contiguous run) and
 * SCATTER_ROWS. Definitions: core/backend.h. */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

mmrt_status mmrt_cpu_patchify(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *px = op->src[0]; /* (n_img, C, H, W) */
    int64_t p = op->p.patchify.patch, n_chan = px->ne[2];
    int64_t ny = px->ne[1] / p, nx = px->ne[0] / p, n_row = px->ne[3] * ny * nx;
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (n_row > 16)
    for (int64_t r = 0; r < n_row; r++) {
        int64_t i = r / (ny * nx), py = r / nx % ny, x0 = r % nx * p;
        float *dst = mmrt_cpu_row_f32(op->dst, r, 0); /* (C, p, p) */
        for (int64_t c = 0; c < n_chan; c++)
            for (int64_t ky = 0; ky < p; ky++)
                memcpy(dst + (c * p + ky) * p, (const float *)mmrt_tensor_row(px, py * p + ky, c, i) + x0,
                       (size_t)p * sizeof(float));
    }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_pixel_shuffle(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0]; /* (n_tiles, s², D) */
    int64_t r = op->p.shuffle.scale_factor, d = x->ne[0], s = 0;
    while (s * s < x->ne[1]) s++;
    int64_t w = s / r, n_row = x->ne[2] * w * w;
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (n_row > 16)
    for (int64_t row = 0; row < n_row; row++) {
        int64_t t = row / (w * w), I = row / w % w, J = row % w;
        float *dst = mmrt_cpu_row_f32(op->dst, row, 0); /* (r, r, D) */
        for (int64_t a = 0; a < r; a++)
            for (int64_t b = 0; b < r; b++)
                memcpy(dst + (a * r + b) * d, mmrt_cpu_row_f32(x, (I * r + a) * s + J * r + b, t),
                       (size_t)d * sizeof(float));
    }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_scatter_rows(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *src = op->src[0], *idx = op->src[1];
    const int32_t *ids = idx->data;
    int64_t m = src->ne[1], n = op->dst->ne[1];
    /* every index checked before the first write: bad input leaves dst as it was */
    for (int64_t i = 0; i < m; i++)
        if (ids[i] < 0 || ids[i] >= n)
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "scatter_rows: row index %d (entry %lld) out of range [0, %lld)",
                                  ids[i], (long long)i, (long long)n);
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (m > 16)
    for (int64_t i = 0; i < m; i++)
        memcpy(mmrt_cpu_row_f32(op->dst, ids[i], 0), mmrt_cpu_row_f32(src, i, 0),
               (size_t)src->ne[0] * sizeof(float));
    return MMRT_OK;
}
