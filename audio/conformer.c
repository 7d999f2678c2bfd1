#include "conformer.h"

#include "core/json.h"
#include "core/ops.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM ((int64_t)1 << 16)
#define MAX_LAYERS 256

/* ---- hyper-parameters ------------------------------------------------------------------------ */

typedef struct int_field {
    const char *key;
    int64_t dflt, min, max;
    int64_t *out;
} int_field;

mmrt_status mmrt_conformer_hparams_parse(const cJSON *enc, const char *file, mmrt_conformer_hparams *hp,
                                         mmrt_error *err) {
    memset(hp, 0, sizeof *hp);
    int64_t ff_mult = 0, conv_mult = 0, head_dim = 0;
    /* GraniteSpeechEncoderConfig's defaults; dim_head -1: hidden_dim / num_heads */
    const int_field fields[] = {
        {"input_dim", 160, 1, MAX_DIM, &hp->input_dim},
        {"num_layers", 10, 1, MAX_LAYERS, &hp->n_layer},
        {"hidden_dim", 1024, 1, MAX_DIM, &hp->n_embd},
        {"feedforward_mult", 4, 1, 64, &ff_mult},
        {"num_heads", 8, 1, 1024, &hp->n_head},
        {"dim_head", -1, 1, MAX_DIM, &head_dim},
        {"output_dim", 42, 1, MAX_DIM, &hp->output_dim},
        {"context_size", 200, 1, 1 << 14, &hp->context},
        {"max_pos_emb", 512, 1, 1 << 14, &hp->max_pos},
        {"conv_kernel_size", 15, 1, 1024, &hp->kernel},
        {"conv_expansion_factor", 2, 1, 64, &conv_mult},
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const int_field *f = &fields[i];
        MMRT_TRY(mmrt_json_get_int(enc, f->key, false, f->dflt, f->min, f->max, f->out, file, err));
    }
    if (head_dim < 0) head_dim = hp->n_embd / hp->n_head;
    if (head_dim < 1)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: encoder_config.hidden_dim %lld / num_heads %lld leaves no head dimension", file,
                              (long long)hp->n_embd, (long long)hp->n_head);
    if (hp->context > hp->max_pos) /* GraniteSpeechConformerAttention raises the same */
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: encoder_config.context_size %lld exceeds max_pos_emb %lld", file,
                              (long long)hp->context, (long long)hp->max_pos);
    hp->head_dim = head_dim;
    hp->n_ff = hp->n_embd * ff_mult;
    hp->n_inner = hp->n_embd * conv_mult;
    hp->eps = 1e-5f;
    return MMRT_OK;
}

/* ---- weights --------------------------------------------------------------------------------- */

enum { D_IN = 1, D_EMBD, D_FF, D_QKV, D_KV2, D_HD, D_POS, D_UP, D_INNER, D_ONE, D_K, D_OUT };

#define L(field, name, ...) MMRT_WEIGHT(mmrt_conformer_layer, field, name, __VA_ARGS__)
#define FF(which, pfx)                                              \
    L(which.ln_w, pfx "pre_norm.weight", D_EMBD), L(which.ln_b, pfx "pre_norm.bias", D_EMBD), \
    L(which.up_w, pfx "up_proj.weight", D_FF, D_EMBD), L(which.up_b, pfx "up_proj.bias", D_FF), \
    L(which.down_w, pfx "down_proj.weight", D_EMBD, D_FF), L(which.down_b, pfx "down_proj.bias", D_EMBD)

/* what the forward reads, uploaded */
static const mmrt_weight_decl layer_weights[] = {
    FF(ff1, "ff1."),
    L(attn_ln_w, "attn.pre_norm.weight", D_EMBD),
    L(attn_ln_b, "attn.pre_norm.bias", D_EMBD),
    L(wq, "attn.to_q.weight", D_QKV, D_EMBD),
    L(wkv, "attn.to_kv.weight", D_KV2, D_EMBD),
    L(wo, "attn.to_out.weight", D_EMBD, D_QKV),
    L(bo, "attn.to_out.bias", D_EMBD),
    L(rel_pos, "attn.rel_pos_emb.weight", D_POS, D_HD),
    L(conv_ln_w, "conv.norm.weight", D_EMBD),
    L(conv_ln_b, "conv.norm.bias", D_EMBD),
    {.name = "conv.up_conv.weight", .offset = offsetof(mmrt_conformer_layer, up_w), .shape = {D_UP, D_EMBD, D_ONE},
     .flags = MMRT_WEIGHT_FLATTEN},
    L(up_b, "conv.up_conv.bias", D_UP),
    {.name = "conv.down_conv.weight", .offset = offsetof(mmrt_conformer_layer, down_w),
     .shape = {D_EMBD, D_INNER, D_ONE}, .flags = MMRT_WEIGHT_FLATTEN},
    L(down_b, "conv.down_conv.bias", D_EMBD),
    FF(ff2, "ff2."),
    L(post_ln_w, "post_norm.weight", D_EMBD),
    L(post_ln_b, "post_norm.bias", D_EMBD),
};

/* read once at load to fold the BatchNorm, never uploaded */
static const mmrt_weight_decl fold_weights[] = {
    {.name = "conv.depth_conv.conv.weight", .offset = offsetof(mmrt_conformer_layer, dw_w),
     .shape = {D_INNER, D_ONE, D_K}, .flags = MMRT_WEIGHT_FLATTEN},
    L(bn_w, "conv.batch_norm.weight", D_INNER),
    L(bn_b, "conv.batch_norm.bias", D_INNER),
    L(bn_mean, "conv.batch_norm.running_mean", D_INNER),
    L(bn_var, "conv.batch_norm.running_var", D_INNER),
};

#define T(field, name, ...) MMRT_WEIGHT(mmrt_conformer, field, name, __VA_ARGS__)
static const mmrt_weight_decl top_weights[] = {
    T(in_w, "input_linear.weight", D_EMBD, D_IN),
    T(in_b, "input_linear.bias", D_EMBD),
    T(out_w, "out.weight", D_OUT, D_EMBD),
    T(out_b, "out.bias", D_OUT),
    T(out_mid_w, "out_mid.weight", D_EMBD, D_OUT),
    T(out_mid_b, "out_mid.bias", D_EMBD),
};

#define N_OF(a) (sizeof(a) / sizeof *(a))

/* A float tensor of the checkpoint (the mapping need not be aligned for its type) as float64. */
static void to_f64(const mmrt_tensor *t, float *tmp, double *out) {
    int64_t n = mmrt_tensor_nelements(t);
    mmrt_to_f32(t->type, t->data, tmp, n);
    for (int64_t i = 0; i < n; i++) out[i] = tmp[i];
}

/* w' = w·γ/√(var+ε), b' = β − mean·γ/√(var+ε), each in float64 and rounded once to f32. */
static mmrt_status fold_batch_norm(const mmrt_conformer_hparams *hp, mmrt_conformer_layer *l, float *w_out,
                                   float *b_out, const char *where, mmrt_error *err) {
    int64_t C = hp->n_inner, K = hp->kernel;
    size_t n_d = (size_t)(4 * C + C * K), bytes = n_d * sizeof(double) + (size_t)(C * K) * sizeof(float);
    double *gamma = malloc(bytes);
    if (!gamma) return mmrt_error_oom(err, bytes, "BatchNorm folding");
    double *beta = gamma + C, *mean = beta + C, *var = mean + C, *w = var + C;
    float *tmp = (float *)(w + C * K);
    to_f64(&l->bn_w, tmp, gamma);
    to_f64(&l->bn_b, tmp, beta);
    to_f64(&l->bn_mean, tmp, mean);
    to_f64(&l->bn_var, tmp, var);
    to_f64(&l->dw_w, tmp, w);
    mmrt_status st = MMRT_OK;
    for (int64_t c = 0; c < C; c++) {
        double v = var[c] + 1e-5; /* BatchNorm1d's eps, a Python float */
        if (!(v > 0.0)) {
            st = mmrt_error_set(err, MMRT_ERR_MODEL, "%sconv.batch_norm.running_var[%lld] + eps is %g, not positive",
                                where, (long long)c, v);
            break;
        }
        double s = gamma[c] / sqrt(v);
        for (int64_t k = 0; k < K; k++) w_out[c * K + k] = (float)(w[c * K + k] * s);
        b_out[c] = (float)(beta[c] - mean[c] * s);
    }
    free(gamma);
    return st;
}

static mmrt_status bind_layers(mmrt_conformer *c, const mmrt_weights *w, const char *prefix, mmrt_error *err) {
    const mmrt_conformer_hparams *hp = &c->hp;
    int64_t qkv = hp->n_head * hp->head_dim;
    const int64_t dims[] = {[D_IN] = hp->input_dim, [D_EMBD] = hp->n_embd, [D_FF] = hp->n_ff, [D_QKV] = qkv,
                            [D_KV2] = 2 * qkv, [D_HD] = hp->head_dim, [D_POS] = 2 * hp->max_pos + 1,
                            [D_UP] = 2 * hp->n_inner, [D_INNER] = hp->n_inner, [D_ONE] = 1, [D_K] = hp->kernel,
                            [D_OUT] = hp->output_dim};
    MMRT_TRY(mmrt_weight_table_bind(w, prefix, top_weights, N_OF(top_weights), dims, c, &c->weights, err));
    size_t per_layer = (size_t)(hp->n_inner * (hp->kernel + 1));
    if (!(c->folded = malloc(per_layer * (size_t)hp->n_layer * sizeof(float))))
        return mmrt_error_oom(err, per_layer * (size_t)hp->n_layer * sizeof(float), "folded conv weights");
    mmrt_weight_list raw = {0}; /* bound for their checks, then folded: not uploaded */
    mmrt_status st = MMRT_OK;
    for (int64_t i = 0; i < hp->n_layer && st == MMRT_OK; i++) {
        mmrt_conformer_layer *l = &c->layers[i];
        char lp[512];
        snprintf(lp, sizeof lp, "%slayers.%lld.", prefix, (long long)i);
        st = mmrt_weight_table_bind(w, lp, layer_weights, N_OF(layer_weights), dims, l, &c->weights, err);
        if (st == MMRT_OK) st = mmrt_weight_table_bind(w, lp, fold_weights, N_OF(fold_weights), dims, l, &raw, err);
        float *fw = c->folded + (size_t)i * per_layer, *fb = fw + hp->n_inner * hp->kernel;
        if (st == MMRT_OK) st = fold_batch_norm(hp, l, fw, fb, lp, err);
        if (st != MMRT_OK) break;
        l->dw_fold_w = mmrt_tensor_2d(MMRT_F32, fw, hp->kernel, hp->n_inner);
        l->dw_fold_b = mmrt_tensor_1d(MMRT_F32, fb, hp->n_inner);
        st = mmrt_weight_list_add(&c->weights, &l->dw_fold_w, "conv.depth_conv (BatchNorm folded)", err);
        if (st == MMRT_OK) st = mmrt_weight_list_add(&c->weights, &l->dw_fold_b, "conv.batch_norm (folded bias)", err);
    }
    mmrt_weight_list_free(&raw);
    return st;
}

mmrt_status mmrt_conformer_init(mmrt_conformer *c, const mmrt_conformer_hparams *hp, const mmrt_weights *w,
                                const char *prefix, mmrt_error *err) {
    memset(c, 0, sizeof *c);
    c->hp = *hp;
    if (!(c->layers = calloc((size_t)hp->n_layer, sizeof *c->layers)))
        return mmrt_error_oom(err, (size_t)hp->n_layer * sizeof *c->layers, "conformer layers");
    mmrt_status st = bind_layers(c, w, prefix, err);
    if (st != MMRT_OK) mmrt_conformer_free(c);
    return st;
}

void mmrt_conformer_free(mmrt_conformer *c) {
    if (!c) return;
    free(c->layers);
    free(c->folded);
    mmrt_weight_list_free(&c->weights);
    memset(c, 0, sizeof *c);
}

/* ---- forward --------------------------------------------------------------------------------- */

static mmrt_status linear(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x, const mmrt_tensor *w,
                          const mmrt_tensor *b, mmrt_error *err) {
    MMRT_TRY(mmrt_matmul(be, dst, x, w, err));
    return b ? mmrt_add_bias(be, dst, dst, b, err) : MMRT_OK;
}

static mmrt_status scratch(mmrt_arena *a, mmrt_backend *be, mmrt_tensor *t, int64_t cols, int64_t rows,
                           mmrt_error *err) {
    *t = mmrt_arena_matrix(a, be, cols, rows, err);
    return t->data ? MMRT_OK : err ? err->status : MMRT_ERR_OOM;
}

/* x += ½ FF(x) */
static mmrt_status feed_forward(const mmrt_conformer *c, const mmrt_conformer_ff *ff, mmrt_backend *be,
                                mmrt_arena *a, mmrt_tensor *x, mmrt_error *err) {
    int64_t n = x->ne[1];
    size_t mark = mmrt_arena_mark(a);
    mmrt_tensor h, f;
    MMRT_TRY(scratch(a, be, &h, c->hp.n_embd, n, err)); /* (n, D) */
    MMRT_TRY(scratch(a, be, &f, c->hp.n_ff, n, err));   /* (n, n_ff) */
    MMRT_TRY(mmrt_layer_norm(be, &h, x, &ff->ln_w, &ff->ln_b, c->hp.eps, err));
    MMRT_TRY(linear(be, &f, &h, &ff->up_w, &ff->up_b, err));
    MMRT_TRY(mmrt_silu(be, &f, &f, err));
    MMRT_TRY(linear(be, &h, &f, &ff->down_w, &ff->down_b, err));
    MMRT_TRY(mmrt_scale(be, &h, &h, 0.5f, err));
    MMRT_TRY(mmrt_add(be, x, x, &h, err));
    mmrt_arena_reset(a, mark);
    return MMRT_OK;
}

/* x += Attn(x): each block of `context` frames attends within itself, with the Shaw term q·E as
 * the attention's bias. */
static mmrt_status attention(const mmrt_conformer *c, const mmrt_conformer_layer *l, mmrt_backend *be,
                             mmrt_arena *a, mmrt_tensor *x, mmrt_error *err) {
    const mmrt_conformer_hparams *hp = &c->hp;
    int64_t n = x->ne[1], H = hp->n_head, hd = hp->head_dim, qkv = H * hd, ctx = hp->context;
    int64_t R = 2 * ctx + 1;
    size_t mark = mmrt_arena_mark(a);
    mmrt_tensor h, q, k, v, att, qe, bias;
    MMRT_TRY(scratch(a, be, &h, hp->n_embd, n, err)); /* (n, D) */
    MMRT_TRY(scratch(a, be, &q, qkv, n, err));        /* (n, H·hd) */
    MMRT_TRY(scratch(a, be, &k, qkv, n, err));
    MMRT_TRY(scratch(a, be, &v, qkv, n, err));
    MMRT_TRY(scratch(a, be, &att, qkv, n, err));
    int64_t nb = n < ctx ? n : ctx; /* the longest block */
    MMRT_TRY(scratch(a, be, &qe, R, nb * H, err));    /* (nb·H, R) */
    MMRT_TRY(scratch(a, be, &bias, nb, nb * H, err)); /* (H, nb, nb) */
    MMRT_TRY(mmrt_layer_norm(be, &h, x, &l->attn_ln_w, &l->attn_ln_b, hp->eps, err));
    mmrt_tensor wk = mmrt_tensor_slice(&l->wkv, 1, 0, qkv), wv = mmrt_tensor_slice(&l->wkv, 1, qkv, qkv);
    MMRT_TRY(mmrt_matmul(be, &q, &h, &l->wq, err));
    MMRT_TRY(mmrt_matmul(be, &k, &h, &wk, err));
    MMRT_TRY(mmrt_matmul(be, &v, &h, &wv, err));
    /* E: rel_pos_emb rows max_pos − ctx .. max_pos + ctx, so distance d reads row d + ctx */
    mmrt_tensor E = mmrt_tensor_slice(&l->rel_pos, 1, hp->max_pos - ctx, R); /* (R, hd) */
    mmrt_tensor q3 = mmrt_tensor_split_heads(&q, hd), k3 = mmrt_tensor_split_heads(&k, hd);
    mmrt_tensor v3 = mmrt_tensor_split_heads(&v, hd), o3 = mmrt_tensor_split_heads(&att, hd);
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t b0 = 0; b0 < n; b0 += ctx) {
        int64_t m = n - b0 < ctx ? n - b0 : ctx;
        mmrt_tensor qb = mmrt_tensor_slice(&q3, 2, b0, m), kb = mmrt_tensor_slice(&k3, 2, b0, m);
        mmrt_tensor vb = mmrt_tensor_slice(&v3, 2, b0, m), ob = mmrt_tensor_slice(&o3, 2, b0, m);
        /* the block's queries as (m·H, hd) rows: q·Eᵀ gives qe (m, H, R) */
        mmrt_tensor qrows = mmrt_tensor_2d(MMRT_F32, qb.data, hd, m * H);
        qrows.backend = q.backend;
        mmrt_tensor qeb = mmrt_tensor_2d(MMRT_F32, qe.data, R, m * H);
        qeb.backend = qe.backend;
        MMRT_TRY(mmrt_matmul(be, &qeb, &qrows, &E, err));
        mmrt_tensor qe3 = mmrt_tensor_3d(MMRT_F32, qe.data, R, H, m);
        qe3.backend = qe.backend;
        mmrt_tensor bb = mmrt_tensor_3d(MMRT_F32, bias.data, m, m, H); /* (H, m, m) */
        bb.backend = bias.backend;
        MMRT_TRY(mmrt_rel_pos_bias(be, &bb, &qe3, scale, (int32_t)ctx, (int32_t)ctx, err));
        MMRT_TRY(mmrt_attention_bias(be, &ob, &qb, &kb, &vb, NULL, &bb, m, 0, /*causal=*/false, scale, err));
    }
    MMRT_TRY(linear(be, &h, &att, &l->wo, &l->bo, err));
    MMRT_TRY(mmrt_add(be, x, x, &h, err));
    mmrt_arena_reset(a, mark);
    return MMRT_OK;
}

/* x += Conv(x) */
static mmrt_status convolution(const mmrt_conformer *c, const mmrt_conformer_layer *l, mmrt_backend *be,
                               mmrt_arena *a, mmrt_tensor *x, mmrt_error *err) {
    const mmrt_conformer_hparams *hp = &c->hp;
    int64_t n = x->ne[1], K = hp->kernel;
    int32_t pad_left = (int32_t)(K / 2), pad_right = (int32_t)(K / 2 - (K + 1) % 2);
    size_t mark = mmrt_arena_mark(a);
    mmrt_tensor h, up, g, dw;
    MMRT_TRY(scratch(a, be, &h, hp->n_embd, n, err));      /* (n, D) */
    MMRT_TRY(scratch(a, be, &up, 2 * hp->n_inner, n, err)); /* (n, 2·inner) */
    MMRT_TRY(scratch(a, be, &g, hp->n_inner, n, err));      /* (n, inner) */
    MMRT_TRY(scratch(a, be, &dw, hp->n_inner, n, err));     /* (n, inner) */
    MMRT_TRY(mmrt_layer_norm(be, &h, x, &l->conv_ln_w, &l->conv_ln_b, hp->eps, err));
    MMRT_TRY(linear(be, &up, &h, &l->up_w, &l->up_b, err));
    MMRT_TRY(mmrt_glu(be, &g, &up, err));
    MMRT_TRY(mmrt_conv1d_dw(be, &dw, &g, &l->dw_fold_w, &l->dw_fold_b, pad_left, pad_right, err));
    MMRT_TRY(mmrt_silu(be, &dw, &dw, err));
    MMRT_TRY(linear(be, &h, &dw, &l->down_w, &l->down_b, err));
    MMRT_TRY(mmrt_add(be, x, x, &h, err));
    mmrt_arena_reset(a, mark);
    return MMRT_OK;
}

/* x += out_mid(softmax(out(x))) */
static mmrt_status self_condition(const mmrt_conformer *c, mmrt_backend *be, mmrt_arena *a, mmrt_tensor *x,
                                  mmrt_error *err) {
    int64_t n = x->ne[1];
    size_t mark = mmrt_arena_mark(a);
    mmrt_tensor p, h;
    MMRT_TRY(scratch(a, be, &p, c->hp.output_dim, n, err)); /* (n, output_dim) */
    MMRT_TRY(scratch(a, be, &h, c->hp.n_embd, n, err));     /* (n, D) */
    MMRT_TRY(linear(be, &p, x, &c->out_w, &c->out_b, err));
    MMRT_TRY(mmrt_softmax(be, &p, &p, 1.0f, err));
    MMRT_TRY(linear(be, &h, &p, &c->out_mid_w, &c->out_mid_b, err));
    MMRT_TRY(mmrt_add(be, x, x, &h, err));
    mmrt_arena_reset(a, mark);
    return MMRT_OK;
}

static mmrt_status block(const mmrt_conformer *c, const mmrt_conformer_layer *l, mmrt_backend *be, mmrt_arena *a,
                         mmrt_tensor *x, mmrt_error *err) {
    MMRT_TRY(feed_forward(c, &l->ff1, be, a, x, err));
    MMRT_TRY(attention(c, l, be, a, x, err));
    MMRT_TRY(convolution(c, l, be, a, x, err));
    MMRT_TRY(feed_forward(c, &l->ff2, be, a, x, err));
    return mmrt_layer_norm(be, x, x, &l->post_ln_w, &l->post_ln_b, c->hp.eps, err);
}

mmrt_status mmrt_conformer_forward(const mmrt_conformer *c, mmrt_backend *be, mmrt_arena *arena,
                                   const mmrt_tensor *x, mmrt_tensor *out, const mmrt_conformer_hooks *hooks,
                                   mmrt_error *err) {
    const mmrt_conformer_hparams *hp = &c->hp;
    int64_t n = x->ne[1];
    if (x->type != MMRT_F32 || x->ne[0] != hp->input_dim || n < 1 || out->type != MMRT_F32 ||
        out->ne[0] != hp->n_embd || out->ne[1] != n || !mmrt_tensor_is_contiguous(out))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "conformer: features must be (n, %lld) f32 and out (n, %lld) f32, got (%lld, %lld) "
                              "and (%lld, %lld)",
                              (long long)hp->input_dim, (long long)hp->n_embd, (long long)n, (long long)x->ne[0],
                              (long long)out->ne[1], (long long)out->ne[0]);
    const mmrt_conformer_hooks none = {0};
    if (!hooks) hooks = &none;
    MMRT_TRY(linear(be, out, x, &c->in_w, &c->in_b, err));
    if (hooks->on_hidden) hooks->on_hidden(0, out, hooks->user);
    for (int64_t i = 0; i < hp->n_layer; i++) {
        MMRT_TRY(block(c, &c->layers[i], be, arena, out, err));
        if (i + 1 == hp->n_layer / 2) MMRT_TRY(self_condition(c, be, arena, out, err));
        if (hooks->on_hidden) hooks->on_hidden((int)i + 1, out, hooks->user);
        if (hooks->on_step && hooks->on_step((int32_t)i + 1, hooks->user) != 0)
            return mmrt_error_set(err, MMRT_ERR_ABORTED, "audio encoding stopped by the progress callback (after "
                                                         "conformer layer %lld of %lld)",
                                  (long long)i + 1, (long long)hp->n_layer);
    }
    return MMRT_OK;
}
