#include "qformer.h"

#include "core/json.h"
#include "core/ops.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM ((int64_t)1 << 16)

/* ---- hyper-parameters ------------------------------------------------------------------------ */

mmrt_status mmrt_qformer_hparams_parse(const cJSON *cfg, const cJSON *pc, const char *file, int64_t enc_hidden,
                                       int64_t text_hidden, mmrt_qformer_hparams *hp, mmrt_error *err) {
    memset(hp, 0, sizeof *hp);
    int64_t downsample = 0;
    MMRT_TRY(mmrt_json_get_int(pc, "hidden_size", false, 768, 1, MAX_DIM, &hp->n_embd, file, err));
    MMRT_TRY(mmrt_json_get_int(pc, "num_hidden_layers", false, 12, 1, 256, &hp->n_layer, file, err));
    MMRT_TRY(mmrt_json_get_int(pc, "num_attention_heads", false, 12, 1, 1024, &hp->n_head, file, err));
    MMRT_TRY(mmrt_json_get_int(pc, "intermediate_size", false, 3072, 1, MAX_DIM, &hp->n_ff, file, err));
    MMRT_TRY(mmrt_json_get_int(pc, "encoder_hidden_size", false, 1408, 1, MAX_DIM, &hp->n_enc, file, err));
    MMRT_TRY(mmrt_json_get_int(pc, "cross_attention_frequency", false, 2, 1, 256, &hp->cross_freq, file, err));
    MMRT_TRY(mmrt_json_get_int(cfg, "window_size", false, 15, 1, 1 << 16, &hp->window, file, err));
    MMRT_TRY(mmrt_json_get_int(cfg, "downsample_rate", false, 5, 1, 1 << 16, &downsample, file, err));
    double eps;
    MMRT_TRY(mmrt_json_get_double(pc, "layer_norm_eps", false, 1e-12, &eps, file, err));
    hp->eps = (float)eps;
    if (!(hp->eps > 0.0f && hp->eps < 1.0f))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: projector_config.layer_norm_eps must be in (0, 1), got %g",
                              file, eps);
    const char *act = NULL;
    MMRT_TRY(mmrt_json_get_string(pc, "hidden_act", false, &act, file, err));
    if (act && strcmp(act, "gelu") != 0)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: projector_config.hidden_act \"%s\" is not supported (gelu)",
                              file, act);
    if (hp->n_embd % hp->n_head != 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: projector_config.hidden_size %lld is not a multiple of num_attention_heads %lld",
                              file, (long long)hp->n_embd, (long long)hp->n_head);
    if (hp->n_enc != enc_hidden)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: projector_config.encoder_hidden_size %lld but the encoder's hidden_dim is %lld",
                              file, (long long)hp->n_enc, (long long)enc_hidden);
    if (downsample > hp->window || hp->window % downsample != 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: window_size %lld is not a multiple of downsample_rate %lld", file,
                              (long long)hp->window, (long long)downsample);
    hp->n_query = hp->window / downsample;
    hp->text_hidden = text_hidden;
    return MMRT_OK;
}

int64_t mmrt_qformer_n_windows(const mmrt_qformer_hparams *hp, int64_t n_frames) {
    return (n_frames + hp->window - 1) / hp->window;
}

/* ---- weights --------------------------------------------------------------------------------- */

enum { D_EMBD = 1, D_ENC, D_FF, D_QUERY, D_ONE, D_TEXT };

#define A(field, name, ...) MMRT_WEIGHT(mmrt_qformer_attn, field, name, __VA_ARGS__)
static const mmrt_weight_decl self_weights[] = {
    A(wq, "attention.query.weight", D_EMBD, D_EMBD), A(bq, "attention.query.bias", D_EMBD),
    A(wk, "attention.key.weight", D_EMBD, D_EMBD),   A(bk, "attention.key.bias", D_EMBD),
    A(wv, "attention.value.weight", D_EMBD, D_EMBD), A(bv, "attention.value.bias", D_EMBD),
    A(wo, "output.dense.weight", D_EMBD, D_EMBD),    A(bo, "output.dense.bias", D_EMBD),
    A(ln_w, "output.LayerNorm.weight", D_EMBD),      A(ln_b, "output.LayerNorm.bias", D_EMBD),
};
/* keys and values from the conformer's frames */
static const mmrt_weight_decl cross_weights[] = {
    A(wq, "attention.query.weight", D_EMBD, D_EMBD), A(bq, "attention.query.bias", D_EMBD),
    A(wk, "attention.key.weight", D_EMBD, D_ENC),    A(bk, "attention.key.bias", D_EMBD),
    A(wv, "attention.value.weight", D_EMBD, D_ENC),  A(bv, "attention.value.bias", D_EMBD),
    A(wo, "output.dense.weight", D_EMBD, D_EMBD),    A(bo, "output.dense.bias", D_EMBD),
    A(ln_w, "output.LayerNorm.weight", D_EMBD),      A(ln_b, "output.LayerNorm.bias", D_EMBD),
};
#define F(field, name, ...) MMRT_WEIGHT(mmrt_qformer_layer, field, name, __VA_ARGS__)
static const mmrt_weight_decl ffn_weights[] = {
    F(ff_up_w, "intermediate_query.dense.weight", D_FF, D_EMBD),
    F(ff_up_b, "intermediate_query.dense.bias", D_FF),
    F(ff_down_w, "output_query.dense.weight", D_EMBD, D_FF),
    F(ff_down_b, "output_query.dense.bias", D_EMBD),
    F(ff_ln_w, "output_query.LayerNorm.weight", D_EMBD),
    F(ff_ln_b, "output_query.LayerNorm.bias", D_EMBD),
};
#define Q(field, name, ...) MMRT_WEIGHT(mmrt_qformer, field, name, __VA_ARGS__)
static const mmrt_weight_decl top_weights[] = {
    {.name = "query", .offset = offsetof(mmrt_qformer, query), .shape = {D_ONE, D_QUERY, D_EMBD},
     .flags = MMRT_WEIGHT_FLATTEN},
    Q(ln_w, "qformer.layernorm.weight", D_EMBD),
    Q(ln_b, "qformer.layernorm.bias", D_EMBD),
    Q(proj_w, "linear.weight", D_TEXT, D_EMBD),
    Q(proj_b, "linear.bias", D_TEXT),
};

#define N_OF(a) (sizeof(a) / sizeof *(a))

static mmrt_status bind_all(mmrt_qformer *q, const mmrt_weights *w, const char *prefix, mmrt_error *err) {
    const mmrt_qformer_hparams *hp = &q->hp;
    const int64_t dims[] = {[D_EMBD] = hp->n_embd, [D_ENC] = hp->n_enc, [D_FF] = hp->n_ff,
                            [D_QUERY] = hp->n_query, [D_ONE] = 1, [D_TEXT] = hp->text_hidden};
    MMRT_TRY(mmrt_weight_table_bind(w, prefix, top_weights, N_OF(top_weights), dims, q, &q->weights, err));
    /* (1, n_query, n_embd) flattened is (1, n_query·n_embd): the queries as rows */
    q->query = mmrt_tensor_2d(q->query.type, q->query.data, hp->n_embd, hp->n_query);
    for (int64_t i = 0; i < hp->n_layer; i++) {
        mmrt_qformer_layer *l = &q->layers[i];
        char lp[512];
        snprintf(lp, sizeof lp, "%sqformer.encoder.layer.%lld.attention.", prefix, (long long)i);
        MMRT_TRY(mmrt_weight_table_bind(w, lp, self_weights, N_OF(self_weights), dims, &l->self, &q->weights, err));
        if (i % hp->cross_freq == 0) {
            snprintf(lp, sizeof lp, "%sqformer.encoder.layer.%lld.crossattention.", prefix, (long long)i);
            MMRT_TRY(mmrt_weight_table_bind(w, lp, cross_weights, N_OF(cross_weights), dims, &l->cross, &q->weights,
                                            err));
        }
        snprintf(lp, sizeof lp, "%sqformer.encoder.layer.%lld.", prefix, (long long)i);
        MMRT_TRY(mmrt_weight_table_bind(w, lp, ffn_weights, N_OF(ffn_weights), dims, l, &q->weights, err));
    }
    return MMRT_OK;
}

mmrt_status mmrt_qformer_init(mmrt_qformer *q, const mmrt_qformer_hparams *hp, const mmrt_weights *w,
                              const char *prefix, mmrt_error *err) {
    memset(q, 0, sizeof *q);
    q->hp = *hp;
    if (!(q->layers = calloc((size_t)hp->n_layer, sizeof *q->layers)))
        return mmrt_error_oom(err, (size_t)hp->n_layer * sizeof *q->layers, "Q-Former layers");
    mmrt_status st = bind_all(q, w, prefix, err);
    if (st != MMRT_OK) mmrt_qformer_free(q);
    return st;
}

void mmrt_qformer_free(mmrt_qformer *q) {
    if (!q) return;
    free(q->layers);
    mmrt_weight_list_free(&q->weights);
    memset(q, 0, sizeof *q);
}

/* ---- forward --------------------------------------------------------------------------------- */

static mmrt_status linear(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x, const mmrt_tensor *w,
                          const mmrt_tensor *b, mmrt_error *err) {
    MMRT_TRY(mmrt_matmul(be, dst, x, w, err));
    return mmrt_add_bias(be, dst, dst, b, err);
}

static mmrt_status scratch(mmrt_arena *a, mmrt_backend *be, mmrt_tensor *t, int64_t cols, int64_t rows,
                           mmrt_error *err) {
    *t = mmrt_arena_matrix(a, be, cols, rows, err);
    return t->data ? MMRT_OK : err ? err->status : MMRT_ERR_OOM;
}

/* x = LN(x + dense(attn(x → q; kv_in → k, v))), per window: kv_rows of kv_in per window of n_query
 * queries (kv_in = x for self-attention, the frames for cross-attention). */
static mmrt_status attend(const mmrt_qformer *q, const mmrt_qformer_attn *at, mmrt_backend *be, mmrt_arena *a,
                          mmrt_tensor *x, const mmrt_tensor *kv_in, int64_t kv_rows, mmrt_error *err) {
    const mmrt_qformer_hparams *hp = &q->hp;
    int64_t N = x->ne[1], nq = hp->n_query, n_win = N / nq, d = hp->n_embd, hd = d / hp->n_head;
    size_t mark = mmrt_arena_mark(a);
    mmrt_tensor qm, k, v, o;
    MMRT_TRY(scratch(a, be, &qm, d, N, err));            /* (N, d) */
    MMRT_TRY(scratch(a, be, &k, d, kv_in->ne[1], err));  /* (n_win · kv_rows, d) */
    MMRT_TRY(scratch(a, be, &v, d, kv_in->ne[1], err));
    MMRT_TRY(scratch(a, be, &o, d, N, err));
    MMRT_TRY(linear(be, &qm, x, &at->wq, &at->bq, err));
    MMRT_TRY(linear(be, &k, kv_in, &at->wk, &at->bk, err));
    MMRT_TRY(linear(be, &v, kv_in, &at->wv, &at->bv, err));
    mmrt_tensor q3 = mmrt_tensor_split_heads(&qm, hd), k3 = mmrt_tensor_split_heads(&k, hd);
    mmrt_tensor v3 = mmrt_tensor_split_heads(&v, hd), o3 = mmrt_tensor_split_heads(&o, hd);
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t w = 0; w < n_win; w++) {
        mmrt_tensor qw = mmrt_tensor_slice(&q3, 2, w * nq, nq), ow = mmrt_tensor_slice(&o3, 2, w * nq, nq);
        mmrt_tensor kw = mmrt_tensor_slice(&k3, 2, w * kv_rows, kv_rows);
        mmrt_tensor vw = mmrt_tensor_slice(&v3, 2, w * kv_rows, kv_rows);
        MMRT_TRY(mmrt_attention(be, &ow, &qw, &kw, &vw, kv_rows, 0, /*causal=*/false, scale, err));
    }
    MMRT_TRY(linear(be, &qm, &o, &at->wo, &at->bo, err));
    MMRT_TRY(mmrt_add(be, &qm, &qm, x, err));
    MMRT_TRY(mmrt_layer_norm(be, x, &qm, &at->ln_w, &at->ln_b, hp->eps, err));
    mmrt_arena_reset(a, mark);
    return MMRT_OK;
}

/* x = LN(x + W2 gelu(W1 x)) */
static mmrt_status feed_forward(const mmrt_qformer *q, const mmrt_qformer_layer *l, mmrt_backend *be,
                                mmrt_arena *a, mmrt_tensor *x, mmrt_error *err) {
    int64_t N = x->ne[1];
    size_t mark = mmrt_arena_mark(a);
    mmrt_tensor f, h;
    MMRT_TRY(scratch(a, be, &f, q->hp.n_ff, N, err));  /* (N, n_ff) */
    MMRT_TRY(scratch(a, be, &h, q->hp.n_embd, N, err)); /* (N, d) */
    MMRT_TRY(linear(be, &f, x, &l->ff_up_w, &l->ff_up_b, err));
    MMRT_TRY(mmrt_gelu(be, &f, &f, err));
    MMRT_TRY(linear(be, &h, &f, &l->ff_down_w, &l->ff_down_b, err));
    MMRT_TRY(mmrt_add(be, &h, &h, x, err));
    MMRT_TRY(mmrt_layer_norm(be, x, &h, &l->ff_ln_w, &l->ff_ln_b, q->hp.eps, err));
    mmrt_arena_reset(a, mark);
    return MMRT_OK;
}

/* x (n_win · n_query, d) = the queries of every window: query rows gathered by id i mod n_query,
 * then the Q-Former's LayerNorm. */
static mmrt_status first_queries(const mmrt_qformer *q, mmrt_backend *be, mmrt_arena *a, mmrt_tensor *x,
                                 mmrt_error *err) {
    int64_t N = x->ne[1];
    mmrt_tensor ids = mmrt_arena_tensor(a, MMRT_I32, 1, (int64_t[]){N}, err);
    if (!ids.data) return err ? err->status : MMRT_ERR_OOM;
    ids.backend = be;
    int32_t *host = malloc((size_t)N * sizeof *host);
    if (!host) return mmrt_error_oom(err, (size_t)N * sizeof *host, "Q-Former query ids");
    for (int64_t i = 0; i < N; i++) host[i] = (int32_t)(i % q->hp.n_query);
    mmrt_status st = be->iface->upload(be, ids.data, host, (size_t)N * sizeof *host, err);
    if (st == MMRT_OK) st = mmrt_get_rows(be, x, &q->query, &ids, err);
    mmrt_error ignored = {0}; /* the copy may still read host until the stream gets here */
    mmrt_status sync = be->iface->synchronize(be, st == MMRT_OK ? err : &ignored);
    free(host);
    MMRT_TRY(st);
    MMRT_TRY(sync);
    return mmrt_layer_norm(be, x, x, &q->ln_w, &q->ln_b, q->hp.eps, err);
}

mmrt_status mmrt_qformer_forward(const mmrt_qformer *q, mmrt_backend *be, mmrt_arena *arena,
                                 const mmrt_tensor *frames, mmrt_tensor *out, mmrt_error *err) {
    const mmrt_qformer_hparams *hp = &q->hp;
    int64_t n_win = frames->ne[1] / hp->window, N = n_win * hp->n_query;
    if (frames->type != MMRT_F32 || frames->ne[0] != hp->n_enc || n_win < 1 || frames->ne[1] % hp->window != 0 ||
        out->type != MMRT_F32 || out->ne[0] != hp->text_hidden || out->ne[1] != N || !mmrt_tensor_is_contiguous(out))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "projector: frames must be (a multiple of %lld, %lld) f32 and out (%lld, %lld) f32",
                              (long long)hp->window, (long long)hp->n_enc, (long long)N, (long long)hp->text_hidden);
    size_t mark = mmrt_arena_mark(arena);
    mmrt_tensor x;
    MMRT_TRY(scratch(arena, be, &x, hp->n_embd, N, err)); /* (N, d) */
    MMRT_TRY(first_queries(q, be, arena, &x, err));
    for (int64_t i = 0; i < hp->n_layer; i++) {
        const mmrt_qformer_layer *l = &q->layers[i];
        MMRT_TRY(attend(q, &l->self, be, arena, &x, &x, hp->n_query, err));
        if (l->cross.wq.data) MMRT_TRY(attend(q, &l->cross, be, arena, &x, frames, hp->window, err));
        MMRT_TRY(feed_forward(q, l, be, arena, &x, err));
    }
    MMRT_TRY(linear(be, out, &x, &q->proj_w, &q->proj_b, err));
    mmrt_arena_reset(arena, mark);
    return MMRT_OK;
}
