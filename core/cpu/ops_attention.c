/* ATTENTION over a KV cache: dst(n, h, hd) = softmax(q kᵀ · scale) v, causal or bidirectional,
 * with grouped KV heads (query head h reads KV head h / (n_head / n_kv_head)), never
 * materialising repeated K/V.
 *
 * One (token, head) pair per work item: its scores over the visible keys go to a per-thread
 * buffer, then a max-subtracted exp and a weighted sum of V rows. Work is split over the pairs
 * only, so the result does not depend on the thread count.
 */
#include "cpu.h"
#include "simd.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

mmrt_status mmrt_cpu_attention(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2];
    int64_t hd = q->ne[0], n_head = q->ne[1], n_tok = q->ne[2], n_kv = op->p.attn.n_kv;
    int64_t group = n_head / k->ne[1];
    int n_threads = ctx->n_threads;
    size_t per_thread = (size_t)(n_kv > 0 ? n_kv : 1);
    float *scores = malloc(sizeof(float) * per_thread * (size_t)n_threads);
    if (!scores) return mmrt_error_oom(err, sizeof(float) * per_thread * (size_t)n_threads, "attention scores");
    mmrt_dotn_fn dotn = mmrt_simd_dotn();
    float scale = op->p.attn.scale;

#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
    for (int64_t th = 0; th < n_tok * n_head; th++) {
        int64_t t = th / n_head, h = th % n_head, hk = h / group;
        float *s = scores + per_thread * (size_t)omp_get_thread_num();
        /* causal: the query at absolute position pos0 + t sees keys 0 .. pos0 + t */
        int64_t n_vis = op->p.attn.causal ? op->p.attn.pos0 + t + 1 : n_kv;
        if (n_vis > n_kv) n_vis = n_kv;
        const float *qr = mmrt_cpu_row_f32(q, h, t);
        float *dr = mmrt_cpu_row_f32(op->dst, h, t);
        float mx = -INFINITY;
        for (int64_t j = 0; j < n_vis; j++) {
            dotn(MMRT_F32, qr, 0, 1, mmrt_cpu_row_f32(k, hk, j), hd, &s[j]);
            s[j] *= scale;
            if (s[j] > mx) mx = s[j];
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < n_vis; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        for (int64_t i = 0; i < hd; i++) dr[i] = 0.0f;
        for (int64_t j = 0; j < n_vis; j++) {
            const float *vr = mmrt_cpu_row_f32(v, hk, j);
            float pj = s[j];
            for (int64_t i = 0; i < hd; i++) dr[i] += pj * vr[i];
        }
        float inv = n_vis > 0 ? 1.0f / sum : 0.0f;
        for (int64_t i = 0; i < hd; i++) dr[i] *= inv;
    }
    free(scores);
    return MMRT_OK;
}
