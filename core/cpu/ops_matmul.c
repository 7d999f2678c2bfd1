/* MATMUL: dst(m, n) = x(m, k) · w(n, k)ᵀ — every linear layer.
 *
 * Two regimes. Decode (m small) is bound by reading w once: each weight row is streamed through
 * the SIMD dot kernel against all m input rows while it sits in L1. Prefill (m large) is bound by
 * FLOPs: OpenBLAS sgemm. Weights in bf16/f16 are widened to f32 a block of rows at a time (exact),
 * so no second full-size f32 copy of the model is ever kept.
 */
#include "cpu.h"
#include "simd.h"

#include <cblas.h>
#include <stdlib.h>

#define MATMUL_BLAS_MIN_M 16 /* below this, sgemm's packing costs more than it saves */
#define MATMUL_WIDEN_ROWS 256 /* weight rows widened per sgemm call */

static void matmul_dot(const mmrt_op *op, const mmrt_cpu_ctx *ctx) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1];
    int64_t k = x->ne[0], m = x->ne[1], n = w->ne[1];
    size_t xs = x->nb[1] / sizeof(float);
    mmrt_dotn_fn dotn = mmrt_simd_dotn();
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static)
    for (int64_t j = 0; j < n; j++) {
        const void *wr = mmrt_tensor_row(w, j, 0, 0);
        for (int64_t i = 0; i < m; i += MMRT_DOTN_MAX) {
            int nx = (int)(m - i < MMRT_DOTN_MAX ? m - i : MMRT_DOTN_MAX);
            float out[MMRT_DOTN_MAX];
            dotn(w->type, (const float *)x->data + i * xs, xs, nx, wr, k, out);
            for (int r = 0; r < nx; r++) mmrt_cpu_row_f32(op->dst, i + r, 0)[j] = out[r];
        }
    }
}

static mmrt_status matmul_blas(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1];
    int64_t k = x->ne[0], m = x->ne[1], n = w->ne[1];
    int lda = (int)(x->nb[1] / 4), ldd = (int)(op->dst->nb[1] / 4);
    openblas_set_num_threads(ctx->n_threads);
    if (w->type == MMRT_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, x->data,
                    lda, w->data, (int)(w->nb[1] / 4), 0.0f, op->dst->data, ldd);
        return MMRT_OK;
    }
    int64_t rows = n < MATMUL_WIDEN_ROWS ? n : MATMUL_WIDEN_ROWS;
    float *wf = malloc(sizeof(float) * (size_t)(rows * k));
    if (!wf) return mmrt_error_oom(err, sizeof(float) * (size_t)(rows * k), "matmul weight block");
    for (int64_t j0 = 0; j0 < n; j0 += rows) {
        int64_t nb = n - j0 < rows ? n - j0 : rows;
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static)
        for (int64_t j = 0; j < nb; j++)
            mmrt_to_f32(w->type, mmrt_tensor_row(w, j0 + j, 0, 0), wf + j * k, k);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nb, (int)k, 1.0f,
                    x->data, lda, wf, (int)k, 0.0f, (float *)op->dst->data + j0, ldd);
    }
    free(wf);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_matmul(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    if (op->src[0]->ne[1] >= MATMUL_BLAS_MIN_M) return matmul_blas(op, ctx, err);
    matmul_dot(op, ctx);
    return MMRT_OK;
}
