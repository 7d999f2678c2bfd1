#include "llama.h"

#include "core/log.h"
#include "core/ops.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGIT_ROWS_PER_PASS 64 /* all_logits: rows of (n_vocab) computed per lm_head call */

/* ---- weights ---------------------------------------------------------------------------- */

/* The decoder's blocks, declared once (core/weight_table.h). */
enum { D_EMBD = 1, D_QD, D_KVD, D_FF, D_VOCAB, N_DIMS };

/* A matrix: a float type or one of the block formats (GGUF files, core/quant.h). */
#define MATRIX(type, field, name_, ...)                                                             \
    { .name = (name_), .offset = offsetof(type, field), .shape = {__VA_ARGS__},                     \
      .dtypes = MMRT_DTYPES_FLOAT | MMRT_DTYPES_QUANT }

static const mmrt_weight_decl layer_weights[] = {
    MMRT_WEIGHT(mmrt_llm_layer, attn_norm, "input_layernorm.weight", D_EMBD),
    MATRIX(mmrt_llm_layer, wq, "self_attn.q_proj.weight", D_QD, D_EMBD),
    MATRIX(mmrt_llm_layer, wk, "self_attn.k_proj.weight", D_KVD, D_EMBD),
    MATRIX(mmrt_llm_layer, wv, "self_attn.v_proj.weight", D_KVD, D_EMBD),
    MATRIX(mmrt_llm_layer, wo, "self_attn.o_proj.weight", D_EMBD, D_QD),
    MMRT_WEIGHT(mmrt_llm_layer, ffn_norm, "post_attention_layernorm.weight", D_EMBD),
    MATRIX(mmrt_llm_layer, w_gate, "mlp.gate_proj.weight", D_FF, D_EMBD),
    MATRIX(mmrt_llm_layer, w_up, "mlp.up_proj.weight", D_FF, D_EMBD),
    MATRIX(mmrt_llm_layer, w_down, "mlp.down_proj.weight", D_EMBD, D_FF),
};
static const mmrt_weight_decl embd_weights[] = {
    MATRIX(mmrt_llm, tok_embd, "embed_tokens.weight", D_VOCAB, D_EMBD),
};
static const mmrt_weight_decl norm_weights[] = {
    MMRT_WEIGHT(mmrt_llm, out_norm, "norm.weight", D_EMBD),
};
/* looked up without the prefix */
static const mmrt_weight_decl head_weights[] = {
    MATRIX(mmrt_llm, lm_head, "lm_head.weight", D_VOCAB, D_EMBD),
};

#define N_OF(a) (sizeof(a) / sizeof *(a))

static mmrt_status bind_all(mmrt_llm *m, const mmrt_weights *w, const char *prefix, mmrt_error *err) {
    const mmrt_llm_hparams *hp = &m->hp;
    const int64_t dims[N_DIMS] = {[D_EMBD] = hp->n_embd, [D_QD] = hp->n_head * hp->head_dim,
                                  [D_KVD] = hp->n_head_kv * hp->head_dim, [D_FF] = hp->n_ff,
                                  [D_VOCAB] = hp->n_vocab};
    mmrt_weight_list *list = &m->weights;
    MMRT_TRY(mmrt_weight_table_bind(w, prefix, embd_weights, N_OF(embd_weights), dims, m, list, err));
    size_t embd_bytes = list->bytes;
    char lp[256];
    for (int64_t i = 0; i < hp->n_layer; i++) {
        snprintf(lp, sizeof lp, "%slayers.%lld.", prefix, (long long)i);
        MMRT_TRY(mmrt_weight_table_bind(w, lp, layer_weights, N_OF(layer_weights), dims, &m->layers[i], list, err));
    }
    MMRT_TRY(mmrt_weight_table_bind(w, prefix, norm_weights, N_OF(norm_weights), dims, m, list, err));
    /* Tied checkpoints usually omit lm_head.weight; some store a copy anyway. A decoder stored as
     * "<outer>.model." may keep its head beside it, "<outer>.lm_head.weight" (Granite Speech's
     * language_model.lm_head.weight as save_pretrained writes it). */
    char head_prefix[256] = "";
    size_t np = strlen(prefix);
    if (!mmrt_weights_find(w, "lm_head.weight") && np > 7 && strcmp(prefix + np - 7, ".model.") == 0) {
        snprintf(head_prefix, sizeof head_prefix, "%.*s", (int)(np - 6), prefix);
        char name[300];
        snprintf(name, sizeof name, "%slm_head.weight", head_prefix);
        if (!mmrt_weights_find(w, name)) head_prefix[0] = '\0';
    }
    char head_name[300];
    snprintf(head_name, sizeof head_name, "%slm_head.weight", head_prefix);
    if (mmrt_weights_find(w, head_name) || !hp->tie_embeddings) {
        MMRT_TRY(mmrt_weight_table_bind(w, head_prefix, head_weights, N_OF(head_weights), dims, m, list, err));
        /* a decoded token reads one embedding row, so the table itself is not counted */
        m->weight_bytes = list->bytes - embd_bytes;
    } else {
        m->lm_head = m->tok_embd;
        MMRT_TRY(mmrt_weight_list_add(list, &m->lm_head, "lm_head (tied to embed_tokens)", err));
        m->weight_bytes = list->bytes;
    }
    return MMRT_OK;
}

mmrt_status mmrt_llm_init(mmrt_llm *m, const mmrt_llm_hparams *hp, const mmrt_weights *w,
                          const char *prefix, mmrt_error *err) {
    memset(m, 0, sizeof *m);
    m->hp = *hp;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    m->rope_inv_freq = malloc(sizeof(float) * (size_t)(hp->n_rot / 2 + 1));
    mmrt_status st = !m->layers || !m->rope_inv_freq
                         ? mmrt_error_oom(err, (size_t)hp->n_layer * sizeof *m->layers, "decoder layers")
                         : bind_all(m, w, prefix, err);
    if (st != MMRT_OK) {
        mmrt_llm_free(m);
        return st;
    }
    mmrt_llm_rope_inv_freq(hp, m->rope_inv_freq, &m->rope_attn_factor);
    m->rope_freq = mmrt_tensor_1d(MMRT_F32, m->rope_inv_freq, hp->n_rot / 2);
    return MMRT_OK;
}

mmrt_status mmrt_llm_load_adapter(mmrt_llm *m, const char *dir, const char *prefix, mmrt_error *err) {
    mmrt_lora *lo = calloc(1, sizeof *lo);
    if (!lo) return mmrt_error_oom(err, sizeof *lo, "LoRA adapter");
    mmrt_status st = mmrt_lora_load(lo, dir, &m->hp, prefix, err);
    if (st != MMRT_OK) {
        free(lo);
        return st;
    }
    mmrt_lora_free(m->lora);
    free(m->lora);
    m->lora = lo;
    return MMRT_OK;
}

mmrt_status mmrt_llm_upload(mmrt_llm *m, mmrt_weight_upload *u, mmrt_error *err) {
    MMRT_TRY(mmrt_weight_list_upload(&m->weights, u, err));
    if (m->lora) MMRT_TRY(mmrt_lora_upload(m->lora, u, err));
    return mmrt_weight_upload_tensor(u, &m->rope_freq, "RoPE frequencies", err);
}

void mmrt_llm_free(mmrt_llm *m) {
    if (!m) return;
    free(m->layers);
    free(m->rope_inv_freq);
    mmrt_weight_list_free(&m->weights);
    mmrt_lora_free(m->lora);
    free(m->lora);
    m->lora = NULL;
    m->layers = NULL;
    m->rope_inv_freq = NULL;
}

/* ---- per-session state ------------------------------------------------------------------ */

#define MAX_CTX (1 << 24)
#define DEFAULT_BATCH 512

static int64_t clamp_batch(int64_t n_ctx, int64_t n_batch) {
    if (n_batch == 0) n_batch = DEFAULT_BATCH;
    return n_batch > n_ctx ? n_ctx : n_batch;
}

static size_t kv_layer_bytes(const mmrt_llm_hparams *hp, mmrt_dtype kv_type, int64_t n_ctx) {
    return (size_t)n_ctx * (size_t)(hp->n_head_kv * hp->head_dim) * mmrt_dtype_size(kv_type);
}

/* The KV cache on s->be: per layer K then V, each (n_ctx, n_head_kv, head_dim) of kv_type. */
static mmrt_status kv_init(mmrt_llm_state *s, const mmrt_llm_hparams *hp, mmrt_dtype kv_type, mmrt_error *err) {
    mmrt_backend *be = s->be;
    size_t layer_bytes = kv_layer_bytes(hp, kv_type, s->n_ctx), kv_bytes = 2 * (size_t)hp->n_layer * layer_bytes;
    s->k_cache = calloc((size_t)hp->n_layer, sizeof *s->k_cache);
    s->v_cache = calloc((size_t)hp->n_layer, sizeof *s->v_cache);
    if (!s->k_cache || !s->v_cache)
        return mmrt_error_oom(err, 2 * (size_t)hp->n_layer * sizeof(mmrt_tensor), "KV cache headers");
    if (be->iface->buffer_alloc(be, kv_bytes, &s->kv_buf, err) != MMRT_OK)
        return mmrt_error_wrap(err, "KV cache for %lld tokens (%.1f MiB; lower --ctx)", (long long)s->n_ctx,
                               (double)kv_bytes / 1048576.0);
    for (int64_t i = 0; i < hp->n_layer; i++) {
        char *base = (char *)s->kv_buf + 2 * (size_t)i * layer_bytes;
        s->k_cache[i] = mmrt_tensor_3d(kv_type, base, hp->head_dim, hp->n_head_kv, s->n_ctx);
        s->v_cache[i] = mmrt_tensor_3d(kv_type, base + layer_bytes, hp->head_dim, hp->n_head_kv, s->n_ctx);
        s->k_cache[i].backend = s->v_cache[i].backend = be;
    }
    return MMRT_OK;
}

static mmrt_status decode_chunk(const mmrt_llm *m, mmrt_llm_state *s, const mmrt_llm_batch *b,
                                int64_t t0, int64_t n, bool last_chunk, mmrt_error *err);

/* The scratch of the largest pass a state runs — a chunk of n_batch tokens, every one a media row,
 * every logit computed — measured by running that pass on the plan backend (core/arena.h). */
static mmrt_status plan_scratch(const mmrt_llm *m, mmrt_dtype kv_type, int64_t n_ctx, int64_t n_batch,
                                size_t *bytes, mmrt_error *err) {
    mmrt_backend plan = mmrt_backend_plan();
    mmrt_llm_state ps = {.be = &plan, .n_ctx = n_ctx, .n_batch = n_batch};
    int32_t *ids = calloc((size_t)n_batch, sizeof *ids);
    /* the cache's dtype decides layer_forward's path, so the plan's cache has the real one's */
    mmrt_status st = ids ? kv_init(&ps, &m->hp, kv_type, err) : mmrt_error_oom(err, (size_t)n_batch * 4, "plan");
    void *nowhere = NULL; /* the rows' and logits' placeholder */
    if (st == MMRT_OK) st = plan.iface->buffer_alloc(&plan, 0, &nowhere, err);
    if (st == MMRT_OK) {
        mmrt_tensor rows = mmrt_tensor_2d(MMRT_F32, nowhere, m->hp.n_embd, n_batch);
        rows.backend = &plan;
        mmrt_llm_segment seg = {.begin = 0, .end = n_batch, .token = 0, .rows = &rows};
        mmrt_llm_batch b = {.ids = ids, .segments = &seg, .n_segments = 1, .n_tok = n_batch, .all_logits = true,
                            .logits = nowhere, .adapter = m->lora ? m->lora->name : NULL};
        mmrt_arena_measure(&ps.arena, "decoder scratch");
        st = decode_chunk(m, &ps, &b, 0, n_batch, true, err);
        *bytes = ps.arena.peak;
    }
    free(ids);
    free(ps.k_cache);
    free(ps.v_cache);
    return st;
}

size_t mmrt_llm_state_bytes(const mmrt_llm *m, mmrt_dtype kv_type, int64_t n_ctx, int64_t n_batch) {
    if (n_ctx <= 0 || n_ctx > MAX_CTX || n_batch < 0) return 0;
    size_t scratch = 0;
    mmrt_error ignored = {0};
    if (plan_scratch(m, kv_type, n_ctx, clamp_batch(n_ctx, n_batch), &scratch, &ignored) != MMRT_OK) return 0;
    return 2 * (size_t)m->hp.n_layer * kv_layer_bytes(&m->hp, kv_type, n_ctx) + scratch;
}

mmrt_status mmrt_llm_state_init(mmrt_llm_state *s, const mmrt_llm *m, mmrt_backend *be,
                                int64_t n_ctx, int64_t n_batch, mmrt_error *err) {
    return mmrt_llm_state_init_kv(s, m, be, mmrt_backend_kv_dtype(be), n_ctx, n_batch, err);
}

mmrt_status mmrt_llm_state_init_kv(mmrt_llm_state *s, const mmrt_llm *m, mmrt_backend *be,
                                   mmrt_dtype kv_type, int64_t n_ctx, int64_t n_batch, mmrt_error *err) {
    memset(s, 0, sizeof *s);
    if (kv_type != MMRT_F32 && kv_type != mmrt_backend_kv_dtype(be))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "a %s KV cache on backend %s, whose attention takes %s",
                              mmrt_dtype_name(kv_type), be->iface->name, mmrt_dtype_name(mmrt_backend_kv_dtype(be)));
    if (n_ctx <= 0 || n_ctx > MAX_CTX)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "context size %lld out of range [1, %d]",
                              (long long)n_ctx, MAX_CTX);
    if (n_batch < 0)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "batch size %lld is negative", (long long)n_batch);
    s->be = be;
    s->n_ctx = n_ctx;
    s->n_batch = clamp_batch(n_ctx, n_batch);
    size_t ab = 0;
    void *abase = NULL;
    mmrt_status st = kv_init(s, &m->hp, kv_type, err);
    if (st == MMRT_OK) st = plan_scratch(m, kv_type, n_ctx, s->n_batch, &ab, err);
    if (st == MMRT_OK && (st = be->iface->buffer_alloc(be, ab, &abase, err)) != MMRT_OK)
        mmrt_error_wrap(err, "decoder scratch for %lld tokens per pass (%.1f MiB; lower the batch size)",
                        (long long)s->n_batch, (double)ab / 1048576.0);
    if (st != MMRT_OK) {
        mmrt_llm_state_free(s);
        return st;
    }
    mmrt_arena_wrap(&s->arena, "decoder scratch", abase, ab);
    return MMRT_OK;
}

void mmrt_llm_state_free(mmrt_llm_state *s) {
    if (!s || !s->be) return;
    if (s->kv_buf) s->be->iface->buffer_free(s->be, s->kv_buf);
    if (s->arena.base) s->be->iface->buffer_free(s->be, s->arena.base);
    free(s->k_cache);
    free(s->v_cache);
    memset(s, 0, sizeof *s);
}

/* ---- forward ---------------------------------------------------------------------------- */

/* The cache rows [r0, r0 + n) as a (n, kvd) matrix of the cache's dtype. */
static mmrt_tensor cache_rows(const mmrt_tensor *cache, int64_t r0, int64_t n) {
    mmrt_tensor r = mmrt_tensor_2d(cache->type, (char *)cache->data + (size_t)r0 * cache->nb[2],
                                   cache->ne[0] * cache->ne[1], n);
    r.backend = cache->backend;
    return r;
}

/* y = W x, plus the adapter's low-rank delta on W when one is active (lo non-NULL). */
static mmrt_status project(const mmrt_lora *lo, mmrt_lora_target t, int64_t il, mmrt_llm_state *s, mmrt_tensor *y,
                           const mmrt_tensor *x, const mmrt_tensor *w, mmrt_error *err) {
    MMRT_TRY(mmrt_matmul(s->be, y, x, w, err));
    return lo ? mmrt_lora_apply(lo, &lo->layers[il].proj[t], s->be, &s->arena, y, x, err) : MMRT_OK;
}

static mmrt_status layer_forward(const mmrt_llm *m, mmrt_llm_state *s, const mmrt_lora *lo, int64_t il,
                                 mmrt_tensor *x, const mmrt_tensor *pos, int64_t pos0, mmrt_error *err) {
    const mmrt_llm_hparams *hp = &m->hp;
    const mmrt_llm_layer *l = &m->layers[il];
    mmrt_backend *be = s->be;
    int64_t n = x->ne[1], d = hp->n_embd, hd = hp->head_dim, qd = hp->n_head * hd;
    size_t mark = mmrt_arena_mark(&s->arena);

    mmrt_tensor h = mmrt_arena_matrix(&s->arena, s->be, d, n, err);       /* (n, n_embd) */
    mmrt_tensor q = mmrt_arena_matrix(&s->arena, s->be, qd, n, err);      /* (n, n_head · hd) */
    mmrt_tensor att = mmrt_arena_matrix(&s->arena, s->be, qd, n, err);    /* (n, n_head · hd) */
    if (!h.data || !q.data || !att.data) return err ? err->status : MMRT_ERR_OOM;
    /* k and v (n, n_head_kv · hd): written straight into an f32 cache's rows; for a bf16 cache
     * computed (and RoPE'd) in f32 first, then rounded into its rows */
    mmrt_tensor k_cr = cache_rows(&s->k_cache[il], pos0, n), v_cr = cache_rows(&s->v_cache[il], pos0, n);
    bool kv_f32 = k_cr.type == MMRT_F32;
    mmrt_tensor k_new = kv_f32 ? k_cr : mmrt_arena_matrix(&s->arena, s->be, k_cr.ne[0], n, err);
    mmrt_tensor v_new = kv_f32 ? v_cr : mmrt_arena_matrix(&s->arena, s->be, v_cr.ne[0], n, err);
    if (!k_new.data || !v_new.data) return err ? err->status : MMRT_ERR_OOM;

    /* attention block */
    MMRT_TRY(mmrt_rms_norm(be, &h, x, &l->attn_norm, hp->rms_eps, err));
    MMRT_TRY(project(lo, MMRT_LORA_Q, il, s, &q, &h, &l->wq, err));
    MMRT_TRY(project(lo, MMRT_LORA_K, il, s, &k_new, &h, &l->wk, err));
    MMRT_TRY(project(lo, MMRT_LORA_V, il, s, &v_new, &h, &l->wv, err));
    mmrt_tensor q3 = mmrt_tensor_split_heads(&q, hd);                            /* (n, n_head, hd) */
    mmrt_tensor k3 = mmrt_tensor_split_heads(&k_new, hd);                        /* (n, n_head_kv, hd) */
    MMRT_TRY(mmrt_rope(be, &q3, &q3, pos, &m->rope_freq, (int)hp->n_rot, m->rope_attn_factor, err));
    MMRT_TRY(mmrt_rope(be, &k3, &k3, pos, &m->rope_freq, (int)hp->n_rot, m->rope_attn_factor, err));
    if (!kv_f32) {
        MMRT_TRY(mmrt_convert(be, &k_cr, &k_new, err));
        MMRT_TRY(mmrt_convert(be, &v_cr, &v_new, err));
    }
    mmrt_tensor att3 = mmrt_tensor_split_heads(&att, hd);
    MMRT_TRY(mmrt_attention(be, &att3, &q3, &s->k_cache[il], &s->v_cache[il], pos0 + n, pos0,
                            /*causal=*/true, hp->attn_scale, err));
    MMRT_TRY(project(lo, MMRT_LORA_O, il, s, &h, &att, &l->wo, err));
    if (hp->residual_scale != 1.0f) MMRT_TRY(mmrt_scale(be, &h, &h, hp->residual_scale, err));
    MMRT_TRY(mmrt_add(be, x, x, &h, err));

    /* gated MLP block; q and att are dead, their space is reused after the reset */
    mmrt_arena_reset(&s->arena, mark);
    h = mmrt_arena_matrix(&s->arena, s->be, d, n, err);
    mmrt_tensor g = mmrt_arena_matrix(&s->arena, s->be, hp->n_ff, n, err); /* (n, n_ff) */
    mmrt_tensor u = mmrt_arena_matrix(&s->arena, s->be, hp->n_ff, n, err); /* (n, n_ff) */
    if (!h.data || !g.data || !u.data) return err ? err->status : MMRT_ERR_OOM;
    MMRT_TRY(mmrt_rms_norm(be, &h, x, &l->ffn_norm, hp->rms_eps, err));
    MMRT_TRY(project(lo, MMRT_LORA_GATE, il, s, &g, &h, &l->w_gate, err));
    MMRT_TRY(project(lo, MMRT_LORA_UP, il, s, &u, &h, &l->w_up, err));
    MMRT_TRY(mmrt_silu_mul(be, &g, &g, &u, err));
    MMRT_TRY(project(lo, MMRT_LORA_DOWN, il, s, &h, &g, &l->w_down, err));
    if (hp->residual_scale != 1.0f) MMRT_TRY(mmrt_scale(be, &h, &h, hp->residual_scale, err));
    MMRT_TRY(mmrt_add(be, x, x, &h, err));
    mmrt_arena_reset(&s->arena, mark);
    return MMRT_OK;
}

/* Final norm and lm_head for rows [r0, r0 + n) of x, downloaded to logits (n, n_vocab). */
static mmrt_status output_logits(const mmrt_llm *m, mmrt_llm_state *s, const mmrt_tensor *x,
                                 int64_t r0, int64_t n, float *logits, const mmrt_llm_batch *b,
                                 mmrt_error *err) {
    const mmrt_llm_hparams *hp = &m->hp;
    mmrt_backend *be = s->be;
    size_t mark = mmrt_arena_mark(&s->arena);
    mmrt_tensor xr = mmrt_tensor_slice(x, 1, r0, n);
    mmrt_tensor h = mmrt_arena_matrix(&s->arena, s->be, hp->n_embd, n, err); /* (n, n_embd) */
    if (!h.data) return err ? err->status : MMRT_ERR_OOM;
    MMRT_TRY(mmrt_rms_norm(be, &h, &xr, &m->out_norm, hp->rms_eps, err));
    if (b->on_hidden && n == b->n_tok) b->on_hidden((int)hp->n_layer + 1, &h, b->hidden_user);
    size_t mark_h = mmrt_arena_mark(&s->arena);
    for (int64_t i = 0; i < n; i += LOGIT_ROWS_PER_PASS) {
        int64_t rows = n - i < LOGIT_ROWS_PER_PASS ? n - i : LOGIT_ROWS_PER_PASS;
        mmrt_tensor hr = mmrt_tensor_slice(&h, 1, i, rows);
        mmrt_tensor out = mmrt_arena_matrix(&s->arena, s->be, hp->n_vocab, rows, err); /* (rows, n_vocab) */
        if (!out.data) return err ? err->status : MMRT_ERR_OOM;
        MMRT_TRY(mmrt_matmul(be, &out, &hr, &m->lm_head, err));
        if (hp->logit_scale != 1.0f) MMRT_TRY(mmrt_scale(be, &out, &out, 1.0f / hp->logit_scale, err));
        MMRT_TRY(be->iface->download(be, logits + i * hp->n_vocab, out.data,
                                     (size_t)(rows * hp->n_vocab) * sizeof(float), err));
        MMRT_TRY(be->iface->synchronize(be, err));
        mmrt_arena_reset(&s->arena, mark_h);
    }
    mmrt_arena_reset(&s->arena, mark);
    return MMRT_OK;
}

/* Overwrites the rows of x (the chunk's tokens t0 .. t0 + n) that segments cover with their rows:
 * per segment, the chunk's positions go up in one block and a scatter on the backend puts the
 * segment's next rows in place. */
static mmrt_status splice_segments(const mmrt_llm_batch *b, mmrt_llm_state *s, mmrt_tensor *x, int64_t t0,
                                   int64_t n, mmrt_error *err) {
    mmrt_backend *be = s->be;
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n); /* every segment's positions, disjoint */
    if (!pos) return mmrt_error_oom(err, sizeof(int32_t) * (size_t)n, "media positions");
    size_t mark = mmrt_arena_mark(&s->arena);
    mmrt_tensor idx = mmrt_arena_tensor(&s->arena, MMRT_I32, 1, (int64_t[]){n}, err); /* (n) */
    idx.backend = be;
    mmrt_status st = idx.data ? MMRT_OK : (err ? err->status : MMRT_ERR_OOM);
    int64_t used = 0;
    for (size_t k = 0; k < b->n_segments && st == MMRT_OK; k++) {
        const mmrt_llm_segment *g = &b->segments[k];
        int64_t lo = g->begin > t0 ? g->begin : t0, hi = g->end < t0 + n ? g->end : t0 + n;
        if (lo >= hi) continue;
        int64_t row0 = 0, m = 0; /* the segment's rows used before this chunk, and in it */
        for (int64_t i = g->begin; i < lo; i++) row0 += b->ids[i] == g->token;
        for (int64_t i = lo; i < hi; i++)
            if (b->ids[i] == g->token) pos[used + m++] = (int32_t)(i - t0);
        if (m == 0) continue;
        mmrt_tensor rows = mmrt_tensor_slice(g->rows, 1, row0, m);
        mmrt_tensor ix = mmrt_tensor_slice(&idx, 0, used, m);
        st = be->iface->upload(be, ix.data, pos + used, sizeof(int32_t) * (size_t)m, err);
        if (st == MMRT_OK) st = mmrt_scatter_rows(be, x, &rows, &ix, err);
        used += m;
    }
    mmrt_error ignored = {0}; /* pos is freed next: no upload may still read it */
    if (st == MMRT_OK) st = be->iface->synchronize(be, err);
    else be->iface->synchronize(be, &ignored);
    free(pos);
    mmrt_arena_reset(&s->arena, mark);
    return st;
}

/* The segments must lie in the batch, in order, and hold as many rows of the decoder's width as
 * they cover tokens. */
static mmrt_status check_segments(const mmrt_llm *m, const mmrt_llm_batch *b, mmrt_error *err) {
    int64_t prev_end = 0;
    for (size_t k = 0; k < b->n_segments; k++) {
        const mmrt_llm_segment *g = &b->segments[k];
        if (!b->ids || g->begin < prev_end || g->begin >= g->end || g->end > b->n_tok || !g->rows)
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                                  "decode: media segment %zu [%lld, %lld) is not inside the %lld token ids after "
                                  "the previous one",
                                  k, (long long)g->begin, (long long)g->end, (long long)b->n_tok);
        int64_t count = 0;
        for (int64_t i = g->begin; i < g->end; i++) count += b->ids[i] == g->token;
        if (g->rows->type != MMRT_F32 || !mmrt_tensor_is_contiguous(g->rows) || g->rows->ne[0] != m->hp.n_embd ||
            g->rows->ne[1] != count || mmrt_tensor_nelements(g->rows) != count * m->hp.n_embd)
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                                  "decode: media segment %zu covers %lld tokens %d but its rows are not (%lld, "
                                  "%lld) f32",
                                  k, (long long)count, g->token, (long long)count, (long long)m->hp.n_embd);
        prev_end = g->end;
    }
    return MMRT_OK;
}

static mmrt_status decode_chunk(const mmrt_llm *m, mmrt_llm_state *s, const mmrt_llm_batch *b,
                                int64_t t0, int64_t n, bool last_chunk, mmrt_error *err) {
    const mmrt_llm_hparams *hp = &m->hp;
    mmrt_backend *be = s->be;
    int64_t pos0 = s->n_past;
    mmrt_arena_reset(&s->arena, 0);

    /* positions and ids go up to the backend like any other input */
    int32_t *host = malloc(sizeof(int32_t) * 2 * (size_t)n);
    if (!host) return mmrt_error_oom(err, sizeof(int32_t) * 2 * (size_t)n, "positions");
    for (int64_t i = 0; i < n; i++) host[i] = (int32_t)(pos0 + i);
    if (b->ids) memcpy(host + n, b->ids + t0, sizeof(int32_t) * (size_t)n);
    mmrt_tensor pos = mmrt_arena_tensor(&s->arena, MMRT_I32, 1, (int64_t[]){n}, err);
    mmrt_tensor ids = mmrt_arena_tensor(&s->arena, MMRT_I32, 1, (int64_t[]){n}, err);
    mmrt_tensor x = mmrt_arena_matrix(&s->arena, s->be, hp->n_embd, n, err); /* (n, n_embd) residual stream */
    mmrt_status st = !pos.data || !ids.data || !x.data ? (err ? err->status : MMRT_ERR_OOM) : MMRT_OK;
    if (st == MMRT_OK) st = be->iface->upload(be, pos.data, host, sizeof(int32_t) * (size_t)n, err);
    if (st == MMRT_OK && b->ids) st = be->iface->upload(be, ids.data, host + n, sizeof(int32_t) * (size_t)n, err);
    if (st == MMRT_OK && !b->ids)
        st = be->iface->upload(be, x.data, b->embd + t0 * hp->n_embd,
                               sizeof(float) * (size_t)(n * hp->n_embd), err);
    if (st == MMRT_OK) st = be->iface->synchronize(be, err); /* host buffer is freed next */
    free(host);
    MMRT_TRY(st);

    if (b->ids) MMRT_TRY(mmrt_get_rows(be, &x, &m->tok_embd, &ids, err));
    if (b->n_segments) MMRT_TRY(splice_segments(b, s, &x, t0, n, err));
    if (hp->embd_scale != 1.0f) MMRT_TRY(mmrt_scale(be, &x, &x, hp->embd_scale, err));
    bool whole = b->on_hidden && n == b->n_tok; /* hidden states are reported for unchunked calls */
    if (whole) b->on_hidden(0, &x, b->hidden_user);
    for (int64_t il = 0; il < hp->n_layer; il++) {
        MMRT_TRY(layer_forward(m, s, b->adapter ? m->lora : NULL, il, &x, &pos, pos0, err));
        if (whole) b->on_hidden((int)il + 1, &x, b->hidden_user);
    }
    s->n_past += n;

    if (b->all_logits) return output_logits(m, s, &x, 0, n, b->logits + t0 * hp->n_vocab, b, err);
    if (last_chunk) return output_logits(m, s, &x, n - 1, 1, b->logits, b, err);
    return MMRT_OK;
}

mmrt_status mmrt_llm_decode(const mmrt_llm *m, mmrt_llm_state *s, const mmrt_llm_batch *b,
                            mmrt_error *err) {
    if (b->n_tok <= 0) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "decode: no tokens");
    if (!b->ids == !b->embd)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "decode: give either token ids or embeddings");
    if (b->n_tok > s->n_ctx - s->n_past)
        return mmrt_error_set(err, MMRT_ERR_CONTEXT_FULL,
                              "%lld tokens do not fit the context: %lld of %lld positions are used "
                              "(raise the context size, at most %lld for this model)",
                              (long long)b->n_tok, (long long)s->n_past, (long long)s->n_ctx,
                              (long long)m->hp.n_ctx_train);
    if (b->ids)
        for (int64_t i = 0; i < b->n_tok; i++)
            if (b->ids[i] < 0 || b->ids[i] >= m->hp.n_vocab)
                return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "token id %d at %lld is outside the vocabulary (%lld)",
                                      b->ids[i], (long long)i, (long long)m->hp.n_vocab);
    MMRT_TRY(check_segments(m, b, err));
    if (b->adapter && (!m->lora || strcmp(b->adapter, m->lora->name) != 0))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "decode: the decoder has no LoRA adapter \"%s\" (%s)",
                              b->adapter, m->lora ? "its adapter is \"default\"" : "it has none");
    for (int64_t t0 = 0; t0 < b->n_tok; t0 += s->n_batch) {
        int64_t n = b->n_tok - t0 < s->n_batch ? b->n_tok - t0 : s->n_batch;
        MMRT_TRY(decode_chunk(m, s, b, t0, n, t0 + n == b->n_tok, err));
    }
    return MMRT_OK;
}
