/* The oracle of PATCHIFY, PIXEL_SHUFFLE and SCATTER_ROWS (see ops_ref.c): element by element
 * from the definitions in core/backend.h. Slow on purpose. (SAMPLE's is in ops_sample.c.) */
#include "cpu.h"


mmrt_status mmrt_cpu_patchify_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *px = op->src[0];
    int64_t p = op->p.patchify.patch, ny = px->ne[1] / p, nx = px->ne[0] / p;
    for (int64_t i = 0; i < px->ne[3]; i++)
        for (int64_t py = 0; py < ny; py++)
            for (int64_t pxx = 0; pxx < nx; pxx++) {
                float *dst = mmrt_cpu_row_f32(op->dst, (i * ny + py) * nx + pxx, 0);
                for (int64_t c = 0; c < px->ne[2]; c++)
                    for (int64_t ky = 0; ky < p; ky++)
                        for (int64_t kx = 0; kx < p; kx++)
                            dst[(c * p + ky) * p + kx] =
                                ((const float *)mmrt_tensor_row(px, py * p + ky, c, i))[pxx * p + kx];
            }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_pixel_shuffle_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0];
    int64_t r = op->p.shuffle.scale_factor, D = x->ne[0], s = 0;
    while (s * s < x->ne[1]) s++;
    int64_t w = s / r;
    for (int64_t t = 0; t < x->ne[2]; t++)
        for (int64_t I = 0; I < w; I++)
            for (int64_t J = 0; J < w; J++) {
                float *dst = mmrt_cpu_row_f32(op->dst, t * w * w + I * w + J, 0);
                for (int64_t a = 0; a < r; a++)
                    for (int64_t b = 0; b < r; b++)
                        for (int64_t d = 0; d < D; d++)
                            dst[(a * r + b) * D + d] = mmrt_cpu_row_f32(x, (I * r + a) * s + J * r + b, t)[d];
            }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_scatter_rows_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *src = op->src[0];
    const int32_t *ids = op->src[1]->data;
    int64_t n = op->dst->ne[1];
    for (int64_t i = 0; i < src->ne[1]; i++)
        if (ids[i] < 0 || ids[i] >= n)
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "scatter_rows: row index %d (entry %lld) out of range [0, %lld)",
                                  ids[i], (long long)i, (long long)n);
    for (int64_t i = 0; i < src->ne[1]; i++)
        for (int64_t j = 0; j < src->ne[0]; j++)
            mmrt_cpu_row_f32(op->dst, ids[i], 0)[j] = mmrt_cpu_row_f32(src, i, 0)[j];
    return MMRT_OK;
}
