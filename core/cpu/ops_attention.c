/* ATTENTION over a KV cache: dst(n, h, hd) = softmax(q kᵀ · scale) v, causal or bidirectional,
 * with grouped KV heads (query head h reads KV head h / (n_head / n_kv_head)), never
 * materialising repeated K/V.
 *
 * An optional key mask (bidirectional only) drops keys: their scores are -FLT_MAX, as
 * transformers' additive finfo.min, whatever their bias. When every key is masked the scores are
 * all equal: every score is set to 0 for the same uniform weights, without computing any. An
 * optional additive bias (src[4], per head or shared by all heads) is added to the other scores;
 * a bias of -inf removes a key like the causal limit, and a query left with every score -inf
 * gets zeros.
 *
 * A work item is one KV head of one token over a range of keys ("chunk"), for all the query heads
 * that share that KV head: each K and V row is loaded once per group, not once per query head.
 * Prefill has plenty of (token, KV head) items, so each covers all visible keys. A single decoded
 * token has only n_kv_head of them, so its keys are split into fixed chunks whose partial results
 * (running max m, sum l, unnormalised output) are merged in chunk order afterwards, as
 * flash-decoding does. Chunk boundaries never depend on the thread count, and neither do results.
 *
 * Long prefills (a ViT tile: 1024 queries × 1024 keys per head) are bound by arithmetic, and
 * per-key dot products reach only a fraction of the FMA rate. There a work item is one query head
 * of a block of ATTN_GEMM_BLOCK tokens: S = Q Kᵀ · scale over every key the block's last token
 * sees (one single-threaded sgemm), masked (causal and key mask) and exponentiated row by row,
 * then O = P V (a second sgemm) and each row divided by its sum. A row's softmax covers all of
 * its keys at once, so no merging is needed. Blocks are fixed, so results do not depend on the
 * thread count either.
 */
#include "cpu.h"
#include "simd.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#define ATTN_DECODE_CHUNK 64 /* keys per work item when one token attends */
#define ATTN_GEMM_BLOCK 128  /* query tokens per work item on the GEMM path */
#define ATTN_GEMM_MIN_TOK 32 /* GEMM path from this many query tokens ... */
#define ATTN_GEMM_MIN_KV 32  /* ... and keys; below, sgemm's packing costs more than it saves */

typedef struct attn_shape {
    int64_t hd, n_head, n_tok, group;
    int64_t n_chunks; /* per (token, KV head): 1 in prefill */
    const mmrt_tensor *key_mask; /* NULL: none */
    const mmrt_tensor *bias;     /* (≥ n_kv, n_tok, 1 or n_head) f32, NULL: none */
    bool uniform;     /* every key masked: equal scores */
    mmrt_dotn_fn dotn;
    mmrt_axpy_fn axpy;
    mmrt_exp_sum_fn exp_sum;
    mmrt_attn_accum_fn accum;
} attn_shape;

/* Keys token t may see. */
static int64_t visible(const mmrt_op *op, int64_t t) {
    int64_t n_kv = op->p.attn.n_kv;
    /* causal: the query at absolute position pos0 + t sees keys 0 .. pos0 + t */
    int64_t n = op->p.attn.causal ? op->p.attn.pos0 + t + 1 : n_kv;
    return n < n_kv ? n : n_kv;
}

/* Row of bias for query head h of token t (NULL: no bias). */
static const float *bias_row(const attn_shape *sh, int64_t h, int64_t t) {
    if (!sh->bias) return NULL;
    return mmrt_cpu_row_f32(sh->bias, t, sh->bias->ne[2] == 1 ? 0 : h);
}

/* Scores, softmax statistics and the unnormalised output of the query heads of KV head hk of
 * token t over keys [j0, j1). part: per head, hd outputs then m and l. s: scratch, group · (j1-j0). */
static void attend_chunk(const mmrt_op *op, const attn_shape *sh, int64_t t, int64_t hk, int64_t j0,
                         int64_t j1, float *s, float *part) {
    const mmrt_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2];
    int64_t hd = sh->hd, group = sh->group, len = j1 - j0, h0 = hk * group;
    size_t q_stride = q->nb[1] / sizeof(float);
    for (int64_t g = 0; g < group; g += MMRT_DOTN_MAX) {
        int nx = (int)(group - g < MMRT_DOTN_MAX ? group - g : MMRT_DOTN_MAX);
        const float *qg = mmrt_cpu_row_f32(q, h0 + g, t);
        for (int64_t j = j0; j < j1; j++) {
            float out[MMRT_DOTN_MAX];
            bool on = mmrt_cpu_key_on(sh->key_mask, j);
            if (on && !sh->uniform) {
                sh->dotn(MMRT_F32, qg, q_stride, nx, mmrt_cpu_row_f32(k, hk, j), hd, out);
                for (int r = 0; r < nx; r++) {
                    const float *br = bias_row(sh, h0 + g + r, t);
                    out[r] = out[r] * op->p.attn.scale + (br ? br[j] : 0.0f);
                }
            } else {
                for (int r = 0; r < nx; r++) out[r] = sh->uniform ? 0.0f : -FLT_MAX;
            }
            for (int r = 0; r < nx; r++) s[(g + r) * len + (j - j0)] = out[r];
        }
    }
    for (int64_t g = 0; g < group; g++) {
        float *sg = s + g * len, *pg = part + g * (hd + 2);
        float m = -INFINITY, l = 0.0f;
        for (int64_t j = 0; j < len; j++) m = sg[j] > m ? sg[j] : m;
        if (m == -INFINITY) /* every key of this chunk removed (bias -inf): an empty chunk */
            for (int64_t j = 0; j < len; j++) sg[j] = 0.0f;
        else
            l = sh->exp_sum(sg, len, m);
        for (int64_t i = 0; i < hd; i++) pg[i] = 0.0f;
        pg[hd] = m;
        pg[hd + 1] = l;
    }
    sh->accum(s, len, group, mmrt_cpu_row_f32(v, hk, j0), v->nb[2] / sizeof(float), len, part,
              hd + 2, hd);
}

static bool all_keys_off(const mmrt_tensor *key_mask, int64_t n_kv) {
    if (!key_mask) return false;
    for (int64_t j = 0; j < n_kv; j++)
        if (mmrt_cpu_key_on(key_mask, j)) return false;
    return true;
}

/* dst row of head h of token t from its chunks' partials, merged in chunk order. */
static void merge(const attn_shape *sh, const float *parts, int64_t n_parts, size_t part_stride,
                  float *dst) {
    int64_t hd = sh->hd;
    float m = -INFINITY;
    for (int64_t c = 0; c < n_parts; c++) {
        const float *p = parts + (size_t)c * part_stride;
        if (p[hd + 1] > 0.0f && p[hd] > m) m = p[hd];
    }
    float l = 0.0f;
    for (int64_t i = 0; i < hd; i++) dst[i] = 0.0f;
    for (int64_t c = 0; c < n_parts; c++) {
        const float *p = parts + (size_t)c * part_stride;
        if (!(p[hd + 1] > 0.0f)) continue; /* an empty chunk */
        float w = expf(p[hd] - m);
        l += p[hd + 1] * w;
        sh->axpy(w, p, dst, hd);
    }
    float inv = l > 0.0f ? 1.0f / l : 0.0f; /* no visible key: zeros */
    for (int64_t i = 0; i < hd; i++) dst[i] *= inv;
}

/* The GEMM path's work item: query head h of tokens [t0, t0 + n). s: scratch, n · n_kv floats. */
static void attend_block_gemm(const mmrt_op *op, const attn_shape *sh, int64_t h, int64_t t0,
                              int64_t n, float *s) {
    const mmrt_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2], *dst = op->dst;
    int64_t hd = sh->hd, hk = h / sh->group;
    int64_t len = visible(op, t0 + n - 1); /* the block's widest row: causal rows only grow */
    int ldq = (int)(q->nb[2] / sizeof(float)), ldk = (int)(k->nb[2] / sizeof(float));
    int ldv = (int)(v->nb[2] / sizeof(float)), ldo = (int)(dst->nb[2] / sizeof(float));
    float *o = mmrt_cpu_row_f32(dst, h, t0); /* (n, hd) rows ldo apart */
    if (len == 0) { /* no keys at all: zeros, as the oracle gives */
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < hd; c++) o[i * ldo + c] = 0.0f;
        return;
    }
    /* s (n, len) = q (n, hd) · k (len, hd)ᵀ · scale */
    if (!sh->uniform)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)len, (int)hd, op->p.attn.scale,
                    mmrt_cpu_row_f32(q, h, t0), ldq, mmrt_cpu_row_f32(k, hk, 0), ldk, 0.0f, s, (int)len);
    float *inv = s + n * len; /* (n) 1 / row sums */
    for (int64_t i = 0; i < n; i++) {
        float *si = s + i * len;
        int64_t n_vis = visible(op, t0 + i);
        const float *br = bias_row(sh, h, t0 + i);
        /* every key masked: equal scores (see the top); causally hidden keys: -inf */
        for (int64_t j = 0; j < len; j++)
            if (sh->uniform) si[j] = 0.0f;
            else if (j >= n_vis) si[j] = -INFINITY;
            else if (!mmrt_cpu_key_on(sh->key_mask, j)) si[j] = -FLT_MAX;
            else if (br) si[j] += br[j];
        float m = -INFINITY;
        for (int64_t j = 0; j < n_vis; j++) m = si[j] > m ? si[j] : m;
        if (m == -INFINITY) { /* the bias removed every key: zeros */
            for (int64_t j = 0; j < len; j++) si[j] = 0.0f;
            inv[i] = 0.0f;
            continue;
        }
        float l = sh->exp_sum(si, len, m); /* -inf gives exactly 0; some key is visible */
        inv[i] = 1.0f / l;
    }
    /* o (n, hd) = p (n, len) · v (len, hd), then each row / its sum */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)hd, (int)len, 1.0f, s, (int)len,
                mmrt_cpu_row_f32(v, hk, 0), ldv, 0.0f, o, ldo);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < hd; c++) o[i * ldo + c] *= inv[i];
}

static mmrt_status attention_gemm(const mmrt_op *op, const attn_shape *sh, const mmrt_cpu_ctx *ctx,
                                  mmrt_error *err) {
    int64_t n_kv = op->p.attn.n_kv;
    int64_t n_blocks = (sh->n_tok + ATTN_GEMM_BLOCK - 1) / ATTN_GEMM_BLOCK;
    size_t per_thread = (size_t)ATTN_GEMM_BLOCK * (size_t)(n_kv + 1); /* scores + row sums */
    float *scratch = malloc(sizeof(float) * per_thread * (size_t)ctx->n_threads);
    if (!scratch) return mmrt_error_oom(err, sizeof(float) * per_thread * (size_t)ctx->n_threads, "attention scores");
    /* one thread pool (see ops_matmul.c): OpenBLAS's is process-wide, restored when done */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
#pragma omp parallel num_threads(ctx->n_threads)
    {
        float *s = scratch + per_thread * (size_t)omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < n_blocks * sh->n_head; it++) {
            /* head-major: consecutive items share one head's K and V in cache */
            int64_t h = it / n_blocks, b = it % n_blocks, t0 = b * ATTN_GEMM_BLOCK;
            int64_t n = sh->n_tok - t0 < ATTN_GEMM_BLOCK ? sh->n_tok - t0 : ATTN_GEMM_BLOCK;
            attend_block_gemm(op, sh, h, t0, n, s);
        }
    }
    openblas_set_num_threads(blas_threads);
    free(scratch);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_attention(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *q = op->src[0], *k = op->src[1];
    attn_shape sh = {.hd = q->ne[0], .n_head = q->ne[1], .n_tok = q->ne[2],
                     .group = q->ne[1] / k->ne[1], .dotn = mmrt_simd_dotn(), .axpy = mmrt_simd_axpy(),
                     .exp_sum = mmrt_simd_exp_sum(), .accum = mmrt_simd_attn_accum()};
    int64_t n_kv_head = k->ne[1], n_kv = op->p.attn.n_kv;
    sh.key_mask = op->src[3];
    sh.bias = op->src[4];
    sh.uniform = all_keys_off(sh.key_mask, n_kv);
    if (sh.n_tok >= ATTN_GEMM_MIN_TOK && n_kv >= ATTN_GEMM_MIN_KV) return attention_gemm(op, &sh, ctx, err);
    bool split = sh.n_tok == 1;
    int64_t chunk = split ? ATTN_DECODE_CHUNK : (n_kv > 0 ? n_kv : 1);
    sh.n_chunks = split ? (n_kv + chunk - 1) / chunk : 1;
    if (sh.n_chunks == 0) sh.n_chunks = 1;

    /* partials: (n_tok, n_kv_head, n_chunks, group, hd + 2); scratch scores per thread */
    size_t part_stride = (size_t)(sh.hd + 2);
    size_t n_part = (size_t)(sh.n_tok * n_kv_head * sh.n_chunks * sh.group) * part_stride;
    size_t per_thread = (size_t)(sh.group * chunk);
    float *parts = malloc(sizeof(float) * n_part);
    float *scores = malloc(sizeof(float) * per_thread * (size_t)ctx->n_threads);
    if (!parts || !scores) {
        free(parts);
        free(scores);
        return mmrt_error_oom(err, sizeof(float) * (n_part + per_thread * (size_t)ctx->n_threads),
                              "attention partials");
    }
    int64_t n_items = sh.n_tok * n_kv_head * sh.n_chunks;
#pragma omp parallel num_threads(ctx->n_threads)
    {
        float *s = scores + per_thread * (size_t)omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < n_items; it++) {
            int64_t c = it % sh.n_chunks, hk = (it / sh.n_chunks) % n_kv_head, t = it / (sh.n_chunks * n_kv_head);
            int64_t n_vis = visible(op, t), j0 = c * chunk, j1 = j0 + chunk < n_vis ? j0 + chunk : n_vis;
            float *part = parts + (size_t)it * (size_t)sh.group * part_stride;
            if (j1 <= j0) { /* nothing visible in this chunk */
                for (int64_t g = 0; g < sh.group; g++) part[g * (int64_t)part_stride + sh.hd + 1] = 0.0f;
                continue;
            }
            attend_chunk(op, &sh, t, hk, j0, j1, s, part);
        }
        /* the implicit barrier of the loop above: every partial is written */
#pragma omp for schedule(static)
        for (int64_t th = 0; th < sh.n_tok * sh.n_head; th++) {
            int64_t t = th / sh.n_head, h = th % sh.n_head, hk = h / sh.group, g = h % sh.group;
            const float *first = parts + ((size_t)((t * n_kv_head + hk) * sh.n_chunks) * (size_t)sh.group +
                                          (size_t)g) * part_stride;
            merge(&sh, first, sh.n_chunks, (size_t)sh.group * part_stride, mmrt_cpu_row_f32(op->dst, h, t));
        }
    }
    free(parts);
    free(scores);
    return MMRT_OK;
}
