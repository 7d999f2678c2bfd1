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
#include <omp.h>
#include <stdlib.h>

#define MATMUL_BLAS_MIN_M 16 /* below this, sgemm's packing costs more than it saves */
#define MATMUL_BLOCK_ROWS 128 /* weight rows per sgemm call (and per thread) */

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

/* One thread pool: OpenMP splits the weight rows into fixed blocks and each thread runs a
 * single-threaded sgemm on its block. (OpenBLAS's own pool beside OpenMP's makes the two fight
 * over the cores: 3× slower prefill on 2 threads.) The blocks do not depend on the thread count,
 * so neither do the results. */
static mmrt_status matmul_blas(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1];
    int64_t k = x->ne[0], m = x->ne[1], n = w->ne[1];
    int lda = (int)(x->nb[1] / 4), ldd = (int)(op->dst->nb[1] / 4);
    int64_t n_blocks = (n + MATMUL_BLOCK_ROWS - 1) / MATMUL_BLOCK_ROWS;
    bool widen = w->type != MMRT_F32;
    size_t block_floats = (size_t)(MATMUL_BLOCK_ROWS * k);
    float *wf = NULL;
    if (widen) {
        wf = malloc(sizeof(float) * block_floats * (size_t)ctx->n_threads);
        if (!wf) return mmrt_error_oom(err, sizeof(float) * block_floats * (size_t)ctx->n_threads, "matmul weight blocks");
    }
    /* OpenBLAS's thread count is process-wide: restore the application's when done */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
#pragma omp parallel for num_threads(ctx->n_threads) schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t j0 = b * MATMUL_BLOCK_ROWS, rows = n - j0 < MATMUL_BLOCK_ROWS ? n - j0 : MATMUL_BLOCK_ROWS;
        const float *wb = (const float *)mmrt_tensor_row(w, j0, 0, 0);
        int ldw = (int)(w->nb[1] / 4);
        if (widen) { /* bf16/f16 → f32 is exact: the same products as an f32 checkpoint */
            float *buf = wf + block_floats * (size_t)omp_get_thread_num();
            for (int64_t j = 0; j < rows; j++) mmrt_to_f32(w->type, mmrt_tensor_row(w, j0 + j, 0, 0), buf + j * k, k);
            wb = buf;
            ldw = (int)k;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)rows, (int)k, 1.0f, x->data,
                    lda, wb, ldw, 0.0f, (float *)op->dst->data + j0, ldd);
    }
    openblas_set_num_threads(blas_threads);
    free(wf);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_matmul(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    if (op->src[0]->ne[1] >= MATMUL_BLAS_MIN_M) return matmul_blas(op, ctx, err);
    matmul_dot(op, ctx);
    return MMRT_OK;
}
