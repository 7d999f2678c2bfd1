/* MATMUL: dst(m, n) = x(m, k) · w(n, k)ᵀ — every linear layer.
 *
 * Two regimes. Decode (m small) is bound by reading w once: each weight row is streamed through
 * the SIMD dot kernel against all m input rows while it sits in L1. Prefill (m large) is bound by
 * FLOPs: oneDNN's matmul (core/cpu/gemm.h), which picks AMX / AVX512-BF16 / AVX-512 / AVX2 at run
 * time.
 *
 * f32 mode: exact f32 products. Weights in bf16/f16 are widened to f32 a block of rows at a time
 * (exact), so no second full-size f32 copy of the model is ever kept.
 * bf16 mode: x is rounded to bf16 once; bf16 weights go to oneDNN as stored, f32/f16 weights are
 * rounded to bf16 a block of rows at a time. Decode rounds x and such weight rows the same way
 * and runs the same dot kernels: a bf16 × bf16 product is exact in f32, so both regimes compute
 * the same products.
 * Block-format (quantized) weights: dequantized exactly to f32 a row (decode) or a block of rows
 * (prefill) at a time, then as f32 weights in the f32 mode and rounded to bf16 in the bf16 mode;
 * in the int8 mode they take core/cpu/ops_matmul_quant.c's integer path instead.
 */
#include "cpu.h"
#include "gemm.h"
#include "simd.h"

#include <omp.h>
#include <stdlib.h>

#define MATMUL_GEMM_MIN_M 16  /* below this, the GEMM's packing costs more than it saves */
#define MATMUL_BLOCK_ROWS 128 /* weight rows converted per GEMM call (and per thread) */

/* x's rows rounded to bf16 and widened back (exactly) to f32: the decode path's bf16 inputs. */
static void round_rows_f32(const mmrt_tensor *x, float *out, mmrt_round_bf16_fn round, uint16_t *tmp) {
    int64_t k = x->ne[0];
    for (int64_t i = 0; i < x->ne[1]; i++) {
        round(mmrt_cpu_row_f32(x, i, 0), tmp, k);
        mmrt_to_f32(MMRT_BF16, tmp, out + i * k, k);
    }
}

static mmrt_status matmul_dot(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1];
    int64_t k = x->ne[0], m = x->ne[1], n = w->ne[1];
    const float *xd = x->data;
    size_t xs = x->nb[1] / sizeof(float);
    /* the bf16 mode: x rounded (held as f32), and f32/f16 weight rows rounded per thread;
     * quantized weight rows are dequantized per thread in every mode (then rounded in bf16) */
    bool quant = mmrt_dtype_is_quant(w->type);
    bool conv_w = quant || (ctx->bf16 && w->type != MMRT_BF16);
    size_t x_bytes = ctx->bf16 ? sizeof(float) * (size_t)(m * k) + sizeof(uint16_t) * (size_t)k : 0;
    x_bytes = (x_bytes + 63) & ~(size_t)63;
    size_t w_bytes = conv_w ? (((sizeof(uint16_t) + sizeof(float)) * (size_t)k + 63) & ~(size_t)63) : 0; /* per thread */
    char *scratch = NULL;
    size_t total = x_bytes + w_bytes * (size_t)ctx->n_threads;
    if (total && !(scratch = mmrt_cpu_scratch_get(ctx, total))) return mmrt_error_oom(err, total, "matmul inputs");
    if (ctx->bf16) {
        float *xr = (float *)scratch;
        round_rows_f32(x, xr, mmrt_simd_round_bf16(), (uint16_t *)(xr + m * k));
        xd = xr;
        xs = (size_t)k;
    }
    mmrt_dotn_fn dotn = mmrt_simd_dotn();
    mmrt_round_bf16_fn round = mmrt_simd_round_bf16();
#pragma omp parallel num_threads(ctx->n_threads)
    {
        char *mine = conv_w ? scratch + x_bytes + w_bytes * (size_t)omp_get_thread_num() : NULL;
#pragma omp for schedule(static)
        for (int64_t j = 0; j < n; j++) {
            const void *wr = mmrt_tensor_row(w, j, 0, 0);
            mmrt_dtype wt = w->type;
            if (conv_w) {
                float *f = (float *)mine;
                uint16_t *h = (uint16_t *)(f + k);
                if (wt != MMRT_F32) mmrt_cpu_widen_row(wt, wr, f, k);
                if (ctx->bf16) {
                    round(wt == MMRT_F32 ? (const float *)wr : f, h, k);
                    wr = h;
                    wt = MMRT_BF16;
                } else {
                    wr = f;
                    wt = MMRT_F32;
                }
            }
            for (int64_t i = 0; i < m; i += MMRT_DOTN_MAX) {
                int nx = (int)(m - i < MMRT_DOTN_MAX ? m - i : MMRT_DOTN_MAX);
                float out[MMRT_DOTN_MAX];
                dotn(wt, xd + i * xs, xs, nx, wr, k, out);
                for (int r = 0; r < nx; r++) mmrt_cpu_row_f32(op->dst, i + r, 0)[j] = out[r];
            }
        }
    }
    return MMRT_OK;
}

/* Weights oneDNN cannot take as stored (bf16/f16 in the f32 mode; f32/f16 in the bf16 mode; the
 * block formats in both):
 * OpenMP splits the rows into fixed blocks, each converted into the thread's buffer and
 * multiplied by a single-threaded GEMM. */
static mmrt_status matmul_blocks(const mmrt_op *op, const mmrt_cpu_ctx *ctx, const void *a, mmrt_dtype t,
                                 void *buf, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1];
    int64_t k = x->ne[0], m = x->ne[1], n = w->ne[1];
    int64_t n_blocks = (n + MATMUL_BLOCK_ROWS - 1) / MATMUL_BLOCK_ROWS;
    size_t es = t == MMRT_BF16 ? 2 : 4, block_bytes = es * (size_t)(MATMUL_BLOCK_ROWS * k);
    mmrt_round_bf16_fn round = mmrt_simd_round_bf16();
    int lda = t == MMRT_BF16 ? (int)k : (int)(x->nb[1] / 4);
    mmrt_status st = MMRT_OK;
#pragma omp parallel for num_threads(ctx->n_threads) schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t j0 = b * MATMUL_BLOCK_ROWS, rows = n - j0 < MATMUL_BLOCK_ROWS ? n - j0 : MATMUL_BLOCK_ROWS;
        /* per thread: the converted block, then one f32 row (for f16 or quantized → bf16) */
        char *wb = (char *)buf + (block_bytes + 4 * (size_t)k) * (size_t)omp_get_thread_num();
        float *row = (float *)(wb + block_bytes);
        for (int64_t j = 0; j < rows; j++) {
            const void *src = mmrt_tensor_row(w, j0 + j, 0, 0);
            if (t == MMRT_F32) mmrt_cpu_widen_row(w->type, src, (float *)wb + j * k, k);
            else if (w->type == MMRT_F32) round(src, (uint16_t *)wb + j * k, k);
            else mmrt_cpu_widen_row(w->type, src, row, k), round(row, (uint16_t *)wb + j * k, k);
        }
        mmrt_gemm g = {.m = m, .n = rows, .k = k, .type = t, .a = a, .lda = lda, .b = wb, .ldb = k,
                       .b_rows_n = true, .c = mmrt_cpu_row_f32(op->dst, 0, 0) + j0,
                       .ldc = (int64_t)(op->dst->nb[1] / 4)};
        mmrt_error e = {0};
        if (mmrt_cpu_gemm(&g, 1, &e) != MMRT_OK) {
#pragma omp critical
            if (st == MMRT_OK) st = mmrt_error_set(err, e.status, "%s", e.msg);
        }
    }
    return st;
}

static mmrt_status matmul_gemm(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1];
    int64_t k = x->ne[0], m = x->ne[1], n = w->ne[1];
    mmrt_dtype t = ctx->bf16 ? MMRT_BF16 : MMRT_F32;
    bool direct = w->type == t;
    size_t a_bytes = t == MMRT_BF16 ? sizeof(uint16_t) * (size_t)(m * k) : 0;
    size_t es = t == MMRT_BF16 ? 2 : 4;
    size_t blocks_bytes = direct ? 0 : (es * (size_t)(MATMUL_BLOCK_ROWS * k) + 4 * (size_t)k) * (size_t)ctx->n_threads;
    size_t scratch_bytes = ((a_bytes + 63) & ~(size_t)63) + blocks_bytes;
    char *scratch = scratch_bytes ? mmrt_cpu_scratch_get(ctx, scratch_bytes) : NULL;
    if (scratch_bytes && !scratch) return mmrt_error_oom(err, a_bytes + blocks_bytes, "matmul scratch");
    const void *a = x->data;
    int64_t lda = (int64_t)(x->nb[1] / 4);
    if (t == MMRT_BF16) {
        mmrt_round_bf16_fn round = mmrt_simd_round_bf16();
        uint16_t *xb = (uint16_t *)scratch;
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static)
        for (int64_t i = 0; i < m; i++) round(mmrt_cpu_row_f32(x, i, 0), xb + i * k, k);
        a = xb;
        lda = k;
    }
    if (!direct) return matmul_blocks(op, ctx, a, t, scratch + ((a_bytes + 63) & ~(size_t)63), err);
    mmrt_gemm g = {.m = m, .n = n, .k = k, .type = t, .a = a, .lda = lda, .b = w->data,
                   .ldb = (int64_t)(w->nb[1] / es), .b_rows_n = true, .c = op->dst->data,
                   .ldc = (int64_t)(op->dst->nb[1] / 4)};
    return mmrt_cpu_gemm(&g, ctx->n_threads, err);
}

mmrt_status mmrt_cpu_matmul(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    if (ctx->int8 && mmrt_dtype_is_quant(op->src[1]->type)) return mmrt_cpu_matmul_int8(op, ctx, err);
    if (op->src[0]->ne[1] >= MATMUL_GEMM_MIN_M) return matmul_gemm(op, ctx, err);
    return matmul_dot(op, ctx, err);
}
