/* The conformer's ops (Granite Speech): SILU, GLU, CONV1D_DW and REL_POS_BIAS. Definitions:
 * core/backend.h; the oracles are in ops_ref_audio.c. Threads split output rows only. */
#include "cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

mmrt_status mmrt_cpu_silu(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *a = op->src[0]; /* (ne3, ne2, ne1, ne0), any of them 1 */
    int64_t n = a->ne[0], n1 = a->ne[1], n2 = a->ne[2], n_row = n1 * n2 * a->ne[3];
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (n_row > 4)
    for (int64_t r = 0; r < n_row; r++) {
        int64_t i1 = r % n1, i2 = r / n1 % n2, i3 = r / (n1 * n2);
        const float *ar = mmrt_tensor_row(a, i1, i2, i3);
        float *dr = mmrt_tensor_row(op->dst, i1, i2, i3);
        for (int64_t j = 0; j < n; j++) dr[j] = ar[j] / (1.0f + expf(-ar[j]));
    }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_glu(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0]; /* (m, 2n) */
    int64_t n = op->dst->ne[0], m = x->ne[1];
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (m > 4)
    for (int64_t r = 0; r < m; r++) {
        const float *xr = mmrt_cpu_row_f32(x, r, 0);
        float *dr = mmrt_cpu_row_f32(op->dst, r, 0);
        for (int64_t j = 0; j < n; j++) dr[j] = xr[j] / (1.0f + expf(-xr[n + j]));
    }
    return MMRT_OK;
}

/* The weight transposed to (K, C) f32 so that each tap is one contiguous row over the channels,
 * and the bias after it: every output row is the bias plus K scaled rows of x (the ones inside
 * [0, T)), added in tap order. */
mmrt_status mmrt_cpu_conv1d_dw(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1], *b = op->src[2]; /* (T, C), (C, K), (C) */
    int64_t n_chan = x->ne[0], n_in = x->ne[1], k_len = w->ne[0], n_out = op->dst->ne[1];
    int64_t pad_left = op->p.conv1d.pad_left;
    size_t n_bytes = sizeof(float) * (size_t)((k_len + 1) * n_chan + 1);
    float *wt = malloc(n_bytes); /* (K + 1, C): taps, then the bias */
    if (!wt) return mmrt_error_oom(err, n_bytes, "conv1d_dw weights");
    float *bias = wt + k_len * n_chan;
    for (int64_t c = 0; c < n_chan; c++) {
        const void *wr = mmrt_tensor_row(w, c, 0, 0);
        for (int64_t k = 0; k < k_len; k++) wt[k * n_chan + c] = mmrt_cpu_load(w->type, wr, k);
        bias[c] = b ? mmrt_cpu_load(b->type, b->data, c) : 0.0f;
    }
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (n_out > 4)
    for (int64_t t = 0; t < n_out; t++) {
        float *dr = mmrt_cpu_row_f32(op->dst, t, 0);
        memcpy(dr, bias, sizeof(float) * (size_t)n_chan);
        for (int64_t k = 0; k < k_len; k++) {
            int64_t s = t + k - pad_left;
            if (s < 0 || s >= n_in) continue; /* the zero padding */
            const float *xr = mmrt_cpu_row_f32(x, s, 0), *wk = wt + k * n_chan;
            for (int64_t c = 0; c < n_chan; c++) dr[c] += wk[c] * xr[c];
        }
    }
    free(wt);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_rel_pos_bias(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *qe = op->src[0]; /* (n, h, R) */
    int64_t n_head = qe->ne[1], n_tok = qe->ne[2], n_kv = op->dst->ne[0];
    int64_t c = op->p.rel_pos.max_dist, o = op->p.rel_pos.offset;
    float s = op->p.rel_pos.scale;
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (n_head * n_tok > 16)
    for (int64_t r = 0; r < n_head * n_tok; r++) {
        int64_t h = r / n_tok, i = r % n_tok;
        const float *qr = mmrt_cpu_row_f32(qe, h, i); /* (R) */
        float *dr = mmrt_cpu_row_f32(op->dst, i, h);  /* (n_kv) */
        for (int64_t j = 0; j < n_kv; j++) {
            int64_t dist = i - j < -c ? -c : i - j > c ? c : i - j;
            dr[j] = s * qr[dist + o];
        }
    }
    return MMRT_OK;
}
