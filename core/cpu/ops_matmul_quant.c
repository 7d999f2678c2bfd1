/* MATMUL with block-format weights in the int8 mode (MMRT_MATH_INT8): dst(m, n) = x(m, k) · w(n, k)ᵀ
 * computed as llama.cpp computes it.
 *
 * x's rows are quantized once per call, per block, to the weights' activation type
 * (mmrt_quant_act_type: Q8_0, Q8_1 or Q8_K) into the backend's scratch; each output is then the dot
 * kernel's (core/quant.h): integer products summed exactly per block, block scales applied in f32.
 * The oracle (ops_ref.c) runs the same quantizer and the reference kernels, so the fast path
 * differs from it only in the order of the f32 sums across blocks.
 *
 * Work split: weight rows in tiles of about MATMUL_Q_TILE_BYTES, the tiles shared out statically.
 * Within a tile all activation rows pass over it, MMRT_QUANT_DOTN_MAX at a time, so each weight
 * byte comes from memory once and then from cache (prefill, m ≥ 16), and decode (m ≤ 8) reads each
 * weight row exactly once. Outputs are split, reductions never: the result is the same for any
 * thread count.
 */
#include "cpu.h"

#include <math.h>
#include <omp.h>

/* Weight bytes per tile: L2-resident beside the MMRT_QUANT_DOTN_MAX activation rows (≤ 36 KiB
 * of Q8_0/Q8_K for k = 4096) that pass over it. */
#define MATMUL_Q_TILE_BYTES (128 * 1024)

/* Rows per tile: as many as fit MATMUL_Q_TILE_BYTES, but no more than an even share per thread, so
 * a small matrix (a decode step's k/v projections) still spreads over every thread. */
static int64_t tile_rows(size_t row_bytes, int64_t n, int n_threads) {
    int64_t fit = (int64_t)(MATMUL_Q_TILE_BYTES / (row_bytes ? row_bytes : 1));
    int64_t share = (n + n_threads - 1) / n_threads;
    int64_t rows = fit < share ? fit : share;
    return rows > 0 ? rows : 1;
}

/* One Q8_0 / Q8_1 block exactly as mmrt_quantize_ref writes it (d = amax / 127, q = roundf(x / d),
 * Q8_1's s = f16(Σq · d)), without its libm calls: fmaxf and roundf cost ~5 ns an element, a fifth
 * of an int8 prefill. The amax by comparisons (equal to fmaxf's, NaN ignored alike); roundf's
 * half-away-from-zero from the truncation t and the exact remainder v − t (|v| ≤ ~127). */
static void quantize_q8_block(const float *x, int8_t *qs, uint16_t *d_out, uint16_t *s_out) {
    float amax = 0.0f;
    for (int j = 0; j < MMRT_QK; j++) {
        float a = fabsf(x[j]);
        amax = a > amax ? a : amax;
    }
    float d = amax / 127, id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < MMRT_QK; j++) {
        float v = x[j] * id;
        int t = (int)v;
        float r = v - (float)t;
        t += (r >= 0.5f) - (r <= -0.5f);
        qs[j] = (int8_t)t;
        sum += t;
    }
    *d_out = mmrt_f32_to_f16(d);
    if (s_out) *s_out = mmrt_f32_to_f16((float)sum * d);
}

void mmrt_cpu_quantize_act(mmrt_qtype at, const float *x, void *dst, int64_t k) {
    if (at != MMRT_QTYPE_Q8_0 && at != MMRT_QTYPE_Q8_1) {
        mmrt_quantize_ref(at, x, dst, k); /* Q8_K's reference has no libm calls */
        return;
    }
    for (int64_t b = 0; b < k / MMRT_QK; b++) {
        if (at == MMRT_QTYPE_Q8_0) {
            mmrt_block_q8_0 *q = (mmrt_block_q8_0 *)dst + b;
            quantize_q8_block(x + b * MMRT_QK, q->qs, &q->d, NULL);
        } else {
            mmrt_block_q8_1 *q = (mmrt_block_q8_1 *)dst + b;
            quantize_q8_block(x + b * MMRT_QK, q->qs, &q->d, &q->s);
        }
    }
}

/* Thread t's share of the m · n_blocks activation blocks (row-major), quantized: blocks are
 * independent, so even one row (decode) spreads over the threads instead of leaving them idle. */
static void quantize_share(const mmrt_tensor *x, mmrt_qtype at, char *act, int t, int nt) {
    const mmrt_qtype_info *q = mmrt_qtype_get((uint32_t)at);
    int64_t k = x->ne[0], nb = k / q->block_size, total = x->ne[1] * nb;
    int64_t b = total * t / nt, end = total * (t + 1) / nt;
    while (b < end) {
        int64_t i = b / nb, j = b % nb, run = nb - j < end - b ? nb - j : end - b;
        mmrt_cpu_quantize_act(at, mmrt_cpu_row_f32(x, i, 0) + j * q->block_size,
                              act + (size_t)b * (size_t)q->block_bytes, run * q->block_size);
        b += run;
    }
}

/* dst's columns [j0, j0 + rows): every activation row against weight rows j0 .. j0 + rows − 1. */
static void dot_tile(const mmrt_op *op, mmrt_quant_dotn_fn dot, const char *act, size_t act_bytes,
                     int64_t j0, int64_t rows) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1];
    int64_t k = x->ne[0], m = x->ne[1];
    for (int64_t i = 0; i < m; i += MMRT_QUANT_DOTN_MAX) {
        int nx = (int)(m - i < MMRT_QUANT_DOTN_MAX ? m - i : MMRT_QUANT_DOTN_MAX);
        for (int64_t j = j0; j < j0 + rows; j++) {
            float out[MMRT_QUANT_DOTN_MAX];
            dot(mmrt_tensor_row(w, j, 0, 0), act + (size_t)i * act_bytes, act_bytes, nx, k, out);
            for (int r = 0; r < nx; r++) mmrt_cpu_row_f32(op->dst, i + r, 0)[j] = out[r];
        }
    }
}

mmrt_status mmrt_cpu_matmul_int8(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1];
    int64_t k = x->ne[0], m = x->ne[1], n = w->ne[1];
    int wq = mmrt_dtype_qtype(w->type);
    int at = wq < 0 ? -1 : mmrt_quant_act_type((mmrt_qtype)wq);
    mmrt_quant_dotn_fn dot = at < 0 ? NULL : mmrt_quant_dotn_get((mmrt_qtype)wq);
    size_t act_bytes = at < 0 ? 0 : mmrt_qtype_row_bytes((mmrt_qtype)at, k);
    if (!dot || act_bytes == 0)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "matmul (int8): no integer dot for %s weights with rows of %lld",
                              mmrt_dtype_name(w->type), (long long)k);
    /* (m, act_bytes) x's rows, quantized */
    char *act = mmrt_cpu_scratch_get(ctx, act_bytes * (size_t)m);
    if (!act) return mmrt_error_oom(err, act_bytes * (size_t)m, "matmul (int8) activations");
    int64_t tile = tile_rows(w->nb[1], n, ctx->n_threads), n_tiles = (n + tile - 1) / tile;
    /* one parallel region per call: a decode step runs ~7 of these per layer, each only
     * microseconds long, so a second fork-join would cost a visible share */
#pragma omp parallel num_threads(ctx->n_threads)
    {
        quantize_share(x, (mmrt_qtype)at, act, omp_get_thread_num(), omp_get_num_threads());
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t t = 0; t < n_tiles; t++) {
            int64_t j0 = t * tile;
            dot_tile(op, dot, act, act_bytes, j0, n - j0 < tile ? n - j0 : tile);
        }
    }
    return MMRT_OK;
}
