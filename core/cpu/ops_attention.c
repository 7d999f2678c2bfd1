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
 * sees (one single-threaded oneDNN GEMM), masked (causal and key mask) and exponentiated row by
 * row, then O = P V (a second GEMM) and each row divided by its sum.
 *
 * The bf16 mode rounds q, k and v to bf16, and the softmax weights (exponentiated, not yet divided
 * by their sum, which is taken in f32) before they multiply v: the arithmetic of a flash-attention
 * kernel on bf16 tensor cores. Both paths do so, the GEMM path through oneDNN's bf16 GEMMs. A row's softmax covers all of
 * its keys at once, so no merging is needed. Blocks are fixed, so results do not depend on the
 * thread count either.
 *
 * K and V may also be a bf16 KV cache (the bf16 mode only): they hold the values that rounding an
 * f32 cache would give, so neither path rounds them again — the per-key path's dot products read
 * bf16 keys (widened exactly, in the same order), its weighted sum widens the chunk's value rows
 * into an f32 buffer, and the GEMM path hands the cache's rows to oneDNN as they are. Results
 * equal an f32 cache's holding the same values, bit for bit.
 */
#include "cpu.h"
#include "gemm.h"
#include "simd.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ATTN_DECODE_CHUNK 64 /* keys per work item when one token attends */
#define ATTN_GEMM_BLOCK 128  /* query tokens per work item on the GEMM path */
#define ATTN_GEMM_MIN_TOK 32 /* GEMM path from this many query tokens ... */
#define ATTN_GEMM_MIN_KV 32  /* ... and keys; below, sgemm's packing costs more than it saves */

typedef struct attn_shape {
    int64_t hd, n_head, n_tok, group;
    int64_t n_chunks; /* per (token, KV head): 1 in prefill */
    int64_t scores;   /* per-key path: floats of a thread's scores, its value buffer after them */
    const mmrt_tensor *key_mask; /* NULL: none */
    const mmrt_tensor *bias;     /* (≥ n_kv, n_tok, 1 or n_head) f32, NULL: none */
    bool uniform;     /* every key masked: equal scores */
    mmrt_dotn_fn dotn;
    mmrt_axpy_fn axpy;
    mmrt_exp_sum_fn exp_sum;
    mmrt_attn_accum_fn accum;
    mmrt_round_bf16_fn round; /* the bf16 mode: inputs rounded to bf16; NULL in the f32 mode */
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
/* dst[i] = src[i] (bf16) as f32 for i < n: a 16-bit shift, exact; a loop the compiler vectorizes
 * (mmrt_to_f32 calls a function per element, which costs more than the weighted sum itself). */
static void widen_bf16(const uint16_t *restrict src, float *restrict dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &u, sizeof u);
    }
}

/* part += the chunk's weights s (group, len) · the value rows [j0, j0 + len) of KV head hk. A bf16
 * cache's rows are widened (exactly) ATTN_DECODE_CHUNK at a time into vw (ATTN_DECODE_CHUNK · hd
 * floats): each output's sum still runs in j order, so results equal an f32 cache's. */
static void accum_values(const mmrt_op *op, const attn_shape *sh, int64_t hk, int64_t j0, int64_t len,
                         const float *s, float *vw, float *part) {
    const mmrt_tensor *v = op->src[2];
    int64_t hd = sh->hd;
    if (v->type == MMRT_F32) {
        sh->accum(s, len, sh->group, mmrt_cpu_row_f32(v, hk, j0), v->nb[2] / sizeof(float), len, part,
                  hd + 2, hd);
        return;
    }
    for (int64_t b = 0; b < len; b += ATTN_DECODE_CHUNK) {
        int64_t nb = len - b < ATTN_DECODE_CHUNK ? len - b : ATTN_DECODE_CHUNK;
        for (int64_t j = 0; j < nb; j++) widen_bf16(mmrt_tensor_row(v, hk, j0 + b + j, 0), vw + j * hd, hd);
        sh->accum(s + b, len, sh->group, vw, (size_t)hd, nb, part, hd + 2, hd);
    }
}

static void attend_chunk(const mmrt_op *op, const attn_shape *sh, int64_t t, int64_t hk, int64_t j0,
                         int64_t j1, float *s, float *part) {
    const mmrt_tensor *q = op->src[0], *k = op->src[1];
    int64_t hd = sh->hd, group = sh->group, len = j1 - j0, h0 = hk * group;
    size_t q_stride = q->nb[1] / sizeof(float);
    for (int64_t g = 0; g < group; g += MMRT_DOTN_MAX) {
        int nx = (int)(group - g < MMRT_DOTN_MAX ? group - g : MMRT_DOTN_MAX);
        const float *qg = mmrt_cpu_row_f32(q, h0 + g, t);
        for (int64_t j = j0; j < j1; j++) {
            float out[MMRT_DOTN_MAX];
            bool on = mmrt_cpu_key_on(sh->key_mask, j);
            if (on && !sh->uniform) {
                sh->dotn(k->type, qg, q_stride, nx, mmrt_tensor_row(k, hk, j, 0), hd, out);
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
        if (sh->round) /* the weights that multiply v, after their sum is taken */
            for (int64_t j = 0; j < len; j++) sg[j] = mmrt_bf16_to_f32(mmrt_f32_to_bf16(sg[j]));
        for (int64_t i = 0; i < hd; i++) pg[i] = 0.0f;
        pg[hd] = m;
        pg[hd + 1] = l;
    }
    accum_values(op, sh, hk, j0, len, s, s + sh->scores, part);
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

/* Per-thread buffers of the GEMM path: scores and row sums, and in the bf16 mode the block's q and
 * the softmax weights rounded to bf16, and the visible k and v too unless they are a bf16 cache
 * (round_kv false). */
typedef struct gemm_bufs {
    float *s, *inv;
    uint16_t *qb, *pb, *kb, *vb;
} gemm_bufs;

static size_t gemm_bufs_bytes(int64_t n_kv, int64_t hd, bool bf16, bool round_kv) {
    size_t f = sizeof(float) * (size_t)ATTN_GEMM_BLOCK * (size_t)(n_kv + 1);
    if (!bf16) return f;
    size_t h = sizeof(uint16_t) * ((size_t)ATTN_GEMM_BLOCK * (size_t)(hd + n_kv) +
                                   (round_kv ? 2 * (size_t)(n_kv * hd) : 0));
    return ((f + 63) & ~(size_t)63) + ((h + 63) & ~(size_t)63);
}

static gemm_bufs gemm_bufs_at(char *p, int64_t n_kv, int64_t hd, bool bf16, bool round_kv) {
    gemm_bufs b = {.s = (float *)p, .inv = (float *)p + ATTN_GEMM_BLOCK * n_kv};
    if (bf16) {
        b.qb = (uint16_t *)(p + ((sizeof(float) * (size_t)ATTN_GEMM_BLOCK * (size_t)(n_kv + 1) + 63) & ~(size_t)63));
        b.pb = b.qb + ATTN_GEMM_BLOCK * hd;
        if (round_kv) {
            b.kb = b.pb + ATTN_GEMM_BLOCK * n_kv;
            b.vb = b.kb + n_kv * hd;
        }
    }
    return b;
}

/* rows × hd values of a (rows, hd) view with rows ld floats apart, rounded to bf16 (dense). */
static void round_rows(const float *src, int64_t ld, int64_t rows, int64_t hd, uint16_t *dst,
                       mmrt_round_bf16_fn round) {
    for (int64_t i = 0; i < rows; i++) round(src + i * ld, dst + i * hd, hd);
}

/* Scores of one block (see the top): masked, exponentiated, row sums' inverses in b->inv. */
static void softmax_rows(const mmrt_op *op, const attn_shape *sh, int64_t h, int64_t t0, int64_t n,
                         int64_t len, const gemm_bufs *b) {
    for (int64_t i = 0; i < n; i++) {
        float *si = b->s + i * len;
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
            b->inv[i] = 0.0f;
            continue;
        }
        float l = sh->exp_sum(si, len, m); /* -inf gives exactly 0; some key is visible */
        b->inv[i] = 1.0f / l;
    }
}

/* The GEMM path's work item: query head h of tokens [t0, t0 + n). */
static mmrt_status attend_block_gemm(const mmrt_op *op, const attn_shape *sh, int64_t h, int64_t t0,
                                     int64_t n, const gemm_bufs *b, mmrt_error *err) {
    const mmrt_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2], *dst = op->dst;
    int64_t hd = sh->hd, hk = h / sh->group;
    int64_t len = visible(op, t0 + n - 1); /* the block's widest row: causal rows only grow */
    size_t kv_size = mmrt_dtype_size(k->type);
    int64_t ldq = (int64_t)(q->nb[2] / sizeof(float)), ldk = (int64_t)(k->nb[2] / kv_size);
    int64_t ldv = (int64_t)(v->nb[2] / kv_size), ldo = (int64_t)(dst->nb[2] / sizeof(float));
    float *o = mmrt_cpu_row_f32(dst, h, t0); /* (n, hd) rows ldo apart */
    if (len == 0) { /* no keys at all: zeros, as the oracle gives */
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < hd; c++) o[i * ldo + c] = 0.0f;
        return MMRT_OK;
    }
    bool bf16 = sh->round != NULL;
    const float *qh = mmrt_cpu_row_f32(q, h, t0);
    /* k and v (len, hd): the cache's rows, or in the bf16 mode over an f32 cache dense rounded copies */
    const void *kh = mmrt_tensor_row(k, hk, 0, 0), *vh = mmrt_tensor_row(v, hk, 0, 0);
    if (bf16) round_rows(qh, ldq, n, hd, b->qb, sh->round);
    if (bf16 && k->type == MMRT_F32) {
        round_rows(kh, ldk, len, hd, b->kb, sh->round);
        round_rows(vh, ldv, len, hd, b->vb, sh->round);
        kh = b->kb, vh = b->vb, ldk = ldv = hd;
    }
    mmrt_dtype t = bf16 ? MMRT_BF16 : MMRT_F32;
    /* s (n, len) = q (n, hd) · k (len, hd)ᵀ · scale */
    if (!sh->uniform) {
        mmrt_gemm g = {.m = n, .n = len, .k = hd, .type = t, .a = bf16 ? (const void *)b->qb : qh,
                       .lda = bf16 ? hd : ldq, .b = kh, .ldb = ldk,
                       .b_rows_n = true, .c = b->s, .ldc = len, .alpha = op->p.attn.scale};
        MMRT_TRY(mmrt_cpu_gemm(&g, 1, err));
    }
    softmax_rows(op, sh, h, t0, n, len, b);
    if (bf16) sh->round(b->s, b->pb, n * len);
    /* o (n, hd) = p (n, len) · v (len, hd), then each row / its sum */
    mmrt_gemm g = {.m = n, .n = hd, .k = len, .type = t, .a = bf16 ? (const void *)b->pb : b->s,
                   .lda = len, .b = vh, .ldb = ldv,
                   .b_rows_n = false, .c = o, .ldc = ldo};
    MMRT_TRY(mmrt_cpu_gemm(&g, 1, err));
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < hd; c++) o[i * ldo + c] *= b->inv[i];
    return MMRT_OK;
}

static mmrt_status attention_gemm(const mmrt_op *op, const attn_shape *sh, const mmrt_cpu_ctx *ctx,
                                  mmrt_error *err) {
    int64_t n_kv = op->p.attn.n_kv;
    int64_t n_blocks = (sh->n_tok + ATTN_GEMM_BLOCK - 1) / ATTN_GEMM_BLOCK;
    bool round_kv = op->src[1]->type == MMRT_F32;
    size_t per_thread = gemm_bufs_bytes(n_kv, sh->hd, sh->round != NULL, round_kv);
    char *scratch = mmrt_cpu_scratch_get(ctx, per_thread * (size_t)ctx->n_threads);
    if (!scratch) return mmrt_error_oom(err, per_thread * (size_t)ctx->n_threads, "attention scores");
    mmrt_status st = MMRT_OK;
#pragma omp parallel num_threads(ctx->n_threads)
    {
        gemm_bufs b = gemm_bufs_at(scratch + per_thread * (size_t)omp_get_thread_num(), n_kv, sh->hd,
                                   sh->round != NULL, round_kv);
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < n_blocks * sh->n_head; it++) {
            /* head-major: consecutive items share one head's K and V in cache */
            int64_t h = it / n_blocks, blk = it % n_blocks, t0 = blk * ATTN_GEMM_BLOCK;
            int64_t n = sh->n_tok - t0 < ATTN_GEMM_BLOCK ? sh->n_tok - t0 : ATTN_GEMM_BLOCK;
            mmrt_error e = {0};
            if (attend_block_gemm(op, sh, h, t0, n, &b, &e) != MMRT_OK) {
#pragma omp critical
                if (st == MMRT_OK) st = mmrt_error_set(err, e.status, "%s", e.msg);
            }
        }
    }
    return st;
}

/* Runs the per-key path's work items, then merges each head's chunks. */
static mmrt_status attention_chunks_run(const mmrt_op *op, const attn_shape *shp, const mmrt_cpu_ctx *ctx,
                                        float *parts, float *scores, size_t per_thread, size_t part_stride,
                                        int64_t chunk) {
    const attn_shape sh = *shp;
    int64_t n_kv_head = op->src[1]->ne[1];
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
    return MMRT_OK;
}

/* The bf16 mode's inputs of the per-key path: q and the first n_kv rows of k and v (n_src 3), or q
 * alone (n_src 1: k and v are a bf16 cache), rounded to bf16 (held as f32, exactly), as dense
 * tensors in buf. */
static void round_inputs(const mmrt_op *op, int n_src, int64_t n_kv, mmrt_round_bf16_fn round, float *buf,
                         mmrt_tensor out[3]) {
    size_t used = 0;
    for (int i = 0; i < n_src; i++) {
        const mmrt_tensor *t = op->src[i];
        int64_t rows = i == 0 ? t->ne[2] : n_kv, hd = t->ne[0];
        out[i] = mmrt_tensor_3d(MMRT_F32, buf + used, hd, t->ne[1], rows);
        uint16_t tmp[512];
        for (int64_t r = 0; r < rows; r++)
            for (int64_t h = 0; h < t->ne[1]; h++) {
                float *dst = mmrt_cpu_row_f32(&out[i], h, r);
                for (int64_t c = 0; c < hd; c += 512) {
                    int64_t nc = hd - c < 512 ? hd - c : 512;
                    round(mmrt_cpu_row_f32(t, h, r) + c, tmp, nc);
                    mmrt_to_f32(MMRT_BF16, tmp, dst + c, nc);
                }
            }
        used += (size_t)(rows * t->ne[1] * hd);
    }
}

/* The per-key path (decode, short prefills); see the top. */
static mmrt_status attention_chunks(const mmrt_op *op, attn_shape *sh, const mmrt_cpu_ctx *ctx,
                                    mmrt_error *err) {
    const mmrt_tensor *q = op->src[0], *k = op->src[1];
    int64_t n_kv_head = k->ne[1], n_kv = op->p.attn.n_kv;
    bool split = sh->n_tok == 1;
    int64_t chunk = split ? ATTN_DECODE_CHUNK : (n_kv > 0 ? n_kv : 1);
    sh->n_chunks = split ? (n_kv + chunk - 1) / chunk : 1;
    if (sh->n_chunks == 0) sh->n_chunks = 1;

    /* partials: (n_tok, n_kv_head, n_chunks, group, hd + 2); per thread scratch scores and, for a
     * bf16 cache, a value buffer (accum_values); in the bf16 mode the rounded q, and k and v
     * unless they are a bf16 cache */
    bool kv16 = k->type == MMRT_BF16;
    size_t part_stride = (size_t)(sh->hd + 2);
    size_t n_part = (size_t)(sh->n_tok * n_kv_head * sh->n_chunks * sh->group) * part_stride;
    sh->scores = sh->group * chunk;
    size_t per_thread = (size_t)(sh->scores + (kv16 ? ATTN_DECODE_CHUNK * sh->hd : 0));
    size_t n_rounded = sh->round ? (size_t)(sh->hd * (q->ne[1] * q->ne[2] + (kv16 ? 0 : 2 * n_kv_head * n_kv))) : 0;
    size_t n_floats = n_part + per_thread * (size_t)ctx->n_threads + n_rounded;
    float *parts = mmrt_cpu_scratch_get(ctx, sizeof(float) * n_floats);
    if (!parts) return mmrt_error_oom(err, sizeof(float) * n_floats, "attention partials");
    float *scores = parts + n_part;
    mmrt_op rop = *op;
    mmrt_tensor rounded[3];
    if (sh->round) {
        int n_src = kv16 ? 1 : 3;
        round_inputs(op, n_src, n_kv, sh->round, scores + per_thread * (size_t)ctx->n_threads, rounded);
        for (int i = 0; i < n_src; i++) rop.src[i] = &rounded[i];
    }
    return attention_chunks_run(&rop, sh, ctx, parts, scores, per_thread, part_stride, chunk);
}

mmrt_status mmrt_cpu_attention(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *q = op->src[0], *k = op->src[1];
    attn_shape sh = {.hd = q->ne[0], .n_head = q->ne[1], .n_tok = q->ne[2],
                     .group = q->ne[1] / k->ne[1], .dotn = mmrt_simd_dotn(), .axpy = mmrt_simd_axpy(),
                     .exp_sum = mmrt_simd_exp_sum(), .accum = mmrt_simd_attn_accum(),
                     .round = ctx->bf16 ? mmrt_simd_round_bf16() : NULL};
    int64_t n_kv = op->p.attn.n_kv;
    sh.key_mask = op->src[3];
    sh.bias = op->src[4];
    sh.uniform = all_keys_off(sh.key_mask, n_kv);
    if (sh.n_tok >= ATTN_GEMM_MIN_TOK && n_kv >= ATTN_GEMM_MIN_KV) return attention_gemm(op, &sh, ctx, err);
    return attention_chunks(op, &sh, ctx, err);
}
