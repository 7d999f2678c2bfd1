#include "siglip.h"

#include "core/arena.h"
#include "core/json.h"
#include "core/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM (1 << 16)
#define MAX_LAYERS 1024

/* ---- hyper-parameters ------------------------------------------------------------------- */

static mmrt_status parse_hparams(const cJSON *c, const char *file, mmrt_siglip_hparams *hp,
                                 mmrt_error *err) {
    memset(hp, 0, sizeof *hp);
    MMRT_TRY(mmrt_json_get_int(c, "hidden_size", true, 0, 1, MAX_DIM, &hp->n_embd, file, err));
    MMRT_TRY(mmrt_json_get_int(c, "intermediate_size", true, 0, 1, MAX_DIM, &hp->n_ff, file, err));
    MMRT_TRY(mmrt_json_get_int(c, "num_hidden_layers", true, 0, 1, MAX_LAYERS, &hp->n_layer, file, err));
    MMRT_TRY(mmrt_json_get_int(c, "num_attention_heads", true, 0, 1, MAX_DIM, &hp->n_head, file, err));
    MMRT_TRY(mmrt_json_get_int(c, "num_channels", false, 3, 1, 16, &hp->n_chan, file, err));
    MMRT_TRY(mmrt_json_get_int(c, "patch_size", true, 0, 1, 1024, &hp->patch, file, err));
    MMRT_TRY(mmrt_json_get_int(c, "image_size", true, 0, 1, 1 << 14, &hp->image, file, err));
    if (hp->n_embd % hp->n_head != 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: vision_config.hidden_size (%lld) is not a multiple of num_attention_heads (%lld)",
                              file, (long long)hp->n_embd, (long long)hp->n_head);
    if (hp->image % hp->patch != 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: vision_config.image_size (%lld) is not a multiple of patch_size (%lld)",
                              file, (long long)hp->image, (long long)hp->patch);
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->n_patch = (hp->image / hp->patch) * (hp->image / hp->patch);
    double eps;
    MMRT_TRY(mmrt_json_get_double(c, "layer_norm_eps", false, 1e-6, &eps, file, err));
    hp->eps = (float)eps; /* checked as the f32 it is used as */
    if (!(hp->eps > 0.0f && hp->eps < 1.0f))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: vision_config.layer_norm_eps must be in (0, 1) as a float, got %g", file, eps);
    const char *act = NULL;
    MMRT_TRY(mmrt_json_get_string(c, "hidden_act", false, &act, file, err));
    if (!act || strcmp(act, "gelu_pytorch_tanh") == 0) hp->gelu_tanh = true;
    else if (strcmp(act, "gelu") == 0) hp->gelu_tanh = false;
    else
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: vision_config.hidden_act \"%s\" is not supported (gelu_pytorch_tanh, gelu)",
                              file, act);
    return MMRT_OK;
}

mmrt_status mmrt_siglip_hparams_load(const char *config_path, mmrt_siglip_hparams *hp,
                                     mmrt_error *err) {
    cJSON *cfg = NULL;
    MMRT_TRY(mmrt_json_load_file(config_path, &cfg, err));
    const cJSON *vc = NULL;
    mmrt_status st = mmrt_json_get_object(cfg, "vision_config", true, &vc, config_path, err);
    if (st == MMRT_OK) st = parse_hparams(vc, config_path, hp, err);
    cJSON_Delete(cfg);
    return st;
}

/* ---- weights ---------------------------------------------------------------------------- */

/* One weight to bind: `name` under the prefix (and "encoder.layers.<i>." for a layer's), shape
 * (rows, cols), or a (cols) vector when rows == 0. */
typedef struct weight_spec {
    mmrt_tensor *out;
    const char *name;
    int64_t rows, cols;
} weight_spec;

static mmrt_status bind(const mmrt_weights *w, const char *prefix, int64_t layer,
                        const weight_spec *spec, mmrt_error *err) {
    char name[256];
    if (layer >= 0)
        snprintf(name, sizeof name, "%sencoder.layers.%lld.%s", prefix, (long long)layer, spec->name);
    else snprintf(name, sizeof name, "%s%s", prefix, spec->name);
    return mmrt_weights_bind(w, name, spec->rows, spec->cols, spec->out, NULL, err);
}

static mmrt_status bind_all(mmrt_siglip *enc, const mmrt_weights *w, const char *prefix,
                            mmrt_error *err) {
    const mmrt_siglip_hparams *hp = &enc->hp;
    int64_t d = hp->n_embd, p = hp->patch;
    char name[256];
    /* the conv weight (n_embd, C, p, p) is, row-major, the (n_embd, C·p·p) im2col matrix */
    snprintf(name, sizeof name, "%sembeddings.patch_embedding.weight", prefix);
    const mmrt_st_tensor *st;
    MMRT_TRY(mmrt_weights_get(w, name, 4, (int64_t[]){d, hp->n_chan, p, p}, &st, err));
    enc->patch_w = mmrt_tensor_2d(st->dtype, (void *)st->data, hp->n_chan * p * p, d);
    const weight_spec top[] = {
        {&enc->patch_b, "embeddings.patch_embedding.bias", 0, d},
        {&enc->pos_embd, "embeddings.position_embedding.weight", hp->n_patch, d},
        {&enc->post_w, "post_layernorm.weight", 0, d},
        {&enc->post_b, "post_layernorm.bias", 0, d},
    };
    for (size_t k = 0; k < sizeof top / sizeof *top; k++) MMRT_TRY(bind(w, prefix, -1, &top[k], err));
    for (int64_t i = 0; i < hp->n_layer; i++) {
        mmrt_siglip_layer *l = &enc->layers[i];
        const weight_spec specs[] = {
            {&l->ln1_w, "layer_norm1.weight", 0, d},       {&l->ln1_b, "layer_norm1.bias", 0, d},
            {&l->wq, "self_attn.q_proj.weight", d, d},     {&l->bq, "self_attn.q_proj.bias", 0, d},
            {&l->wk, "self_attn.k_proj.weight", d, d},     {&l->bk, "self_attn.k_proj.bias", 0, d},
            {&l->wv, "self_attn.v_proj.weight", d, d},     {&l->bv, "self_attn.v_proj.bias", 0, d},
            {&l->wo, "self_attn.out_proj.weight", d, d},   {&l->bo, "self_attn.out_proj.bias", 0, d},
            {&l->ln2_w, "layer_norm2.weight", 0, d},       {&l->ln2_b, "layer_norm2.bias", 0, d},
            {&l->fc1_w, "mlp.fc1.weight", hp->n_ff, d},    {&l->fc1_b, "mlp.fc1.bias", 0, hp->n_ff},
            {&l->fc2_w, "mlp.fc2.weight", d, hp->n_ff},    {&l->fc2_b, "mlp.fc2.bias", 0, d},
        };
        for (size_t k = 0; k < sizeof specs / sizeof *specs; k++)
            MMRT_TRY(bind(w, prefix, i, &specs[k], err));
    }
    return MMRT_OK;
}

mmrt_status mmrt_siglip_init(mmrt_siglip *enc, const char *config_path, const mmrt_weights *w,
                             const char *prefix, mmrt_error *err) {
    memset(enc, 0, sizeof *enc);
    MMRT_TRY(mmrt_siglip_hparams_load(config_path, &enc->hp, err));
    enc->layers = calloc((size_t)enc->hp.n_layer, sizeof *enc->layers);
    mmrt_status st = !enc->layers
                         ? mmrt_error_oom(err, (size_t)enc->hp.n_layer * sizeof *enc->layers, "vision layers")
                         : bind_all(enc, w, prefix, err);
    if (st != MMRT_OK) mmrt_siglip_free(enc);
    return st;
}

void mmrt_siglip_free(mmrt_siglip *enc) {
    if (!enc) return;
    free(enc->layers);
    enc->layers = NULL;
}

/* ---- forward ---------------------------------------------------------------------------- */

typedef struct pass {
    mmrt_backend *be;
    mmrt_arena arena;
} pass;

static mmrt_status linear(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                          const mmrt_tensor *w, const mmrt_tensor *b, mmrt_error *err) {
    MMRT_TRY(mmrt_matmul(be, dst, x, w, err));
    return mmrt_add_bias(be, dst, dst, b, err);
}

/* Scratch floats per row of x: the attention block's h, q, k, v, att (the MLP block's h and fc1
 * output fit in the same space once the attention block's are dead) or the embedding's im2col
 * patches and position rows. */
static int64_t floats_per_row(const mmrt_siglip_hparams *hp) {
    int64_t attn = 5 * hp->n_embd, mlp = hp->n_embd + hp->n_ff;
    int64_t embd = hp->n_chan * hp->patch * hp->patch + hp->n_embd + 1; /* + 1: position ids */
    int64_t m = attn > mlp ? attn : mlp;
    return hp->n_embd + (m > embd ? m : embd); /* + the residual stream x */
}

/* x (n_tiles · n_patch, n_embd) = conv(pixels) + pos_embd[patch index]. */
static mmrt_status embed(const mmrt_siglip *enc, pass *ps, const float *pixels, int64_t n_tiles,
                         mmrt_tensor *x, mmrt_error *err) {
    const mmrt_siglip_hparams *hp = &enc->hp;
    mmrt_backend *be = ps->be;
    int64_t p = hp->patch, S = hp->image, side = S / p, n_row = n_tiles * hp->n_patch;
    int64_t k = hp->n_chan * p * p;
    size_t mark = mmrt_arena_mark(&ps->arena);
    mmrt_tensor cols = mmrt_arena_matrix(&ps->arena, ps->be, k, n_row, err);     /* (n_row, C·p·p) */
    mmrt_tensor pos = mmrt_arena_matrix(&ps->arena, ps->be, hp->n_embd, n_row, err); /* (n_row, n_embd) */
    mmrt_tensor ids = mmrt_arena_tensor(&ps->arena, MMRT_I32, 1, (int64_t[]){n_row}, err);
    ids.backend = be;
    if (!cols.data || !pos.data || !ids.data) return err ? err->status : MMRT_ERR_OOM;

    /* im2col on the host: row (tile, py·side + px), column c·p·p + ky·p + kx, the order of the
     * flattened conv weight and of transformers' flatten(2) over the conv output */
    size_t host_bytes = (size_t)(n_row * k) * sizeof(float) + (size_t)n_row * sizeof(int32_t);
    float *host = malloc(host_bytes);
    if (!host) return mmrt_error_oom(err, host_bytes, "vision im2col");
    int32_t *host_ids = (int32_t *)(host + n_row * k);
    for (int64_t t = 0; t < n_tiles; t++)
        for (int64_t py = 0; py < side; py++)
            for (int64_t px = 0; px < side; px++) {
                int64_t r = t * hp->n_patch + py * side + px;
                float *dst = host + r * k;
                for (int64_t c = 0; c < hp->n_chan; c++)
                    for (int64_t ky = 0; ky < p; ky++)
                        memcpy(dst + (c * p + ky) * p,
                               pixels + ((t * hp->n_chan + c) * S + py * p + ky) * S + px * p,
                               (size_t)p * sizeof(float));
                /* every patch valid: position ids are 0 .. n_patch-1 in each tile */
                host_ids[r] = (int32_t)(py * side + px);
            }
    mmrt_status st = be->iface->upload(be, cols.data, host, (size_t)(n_row * k) * sizeof(float), err);
    if (st == MMRT_OK) st = be->iface->upload(be, ids.data, host_ids, (size_t)n_row * sizeof(int32_t), err);
    if (st == MMRT_OK) st = be->iface->synchronize(be, err); /* host is freed next */
    free(host);
    MMRT_TRY(st);

    MMRT_TRY(linear(be, x, &cols, &enc->patch_w, &enc->patch_b, err));
    MMRT_TRY(mmrt_get_rows(be, &pos, &enc->pos_embd, &ids, err));
    MMRT_TRY(mmrt_add(be, x, x, &pos, err));
    mmrt_arena_reset(&ps->arena, mark);
    return MMRT_OK;
}

static mmrt_status layer_forward(const mmrt_siglip *enc, pass *ps, int64_t il, int64_t n_tiles,
                                 mmrt_tensor *x, mmrt_error *err) {
    const mmrt_siglip_hparams *hp = &enc->hp;
    const mmrt_siglip_layer *l = &enc->layers[il];
    mmrt_backend *be = ps->be;
    int64_t d = hp->n_embd, n = x->ne[1], np = hp->n_patch, hd = hp->head_dim;
    size_t mark = mmrt_arena_mark(&ps->arena);

    /* attention block */
    mmrt_tensor h = mmrt_arena_matrix(&ps->arena, ps->be, d, n, err);   /* (n, n_embd) */
    mmrt_tensor q = mmrt_arena_matrix(&ps->arena, ps->be, d, n, err);   /* (n, n_head · hd) */
    mmrt_tensor k = mmrt_arena_matrix(&ps->arena, ps->be, d, n, err);
    mmrt_tensor v = mmrt_arena_matrix(&ps->arena, ps->be, d, n, err);
    mmrt_tensor att = mmrt_arena_matrix(&ps->arena, ps->be, d, n, err);
    if (!h.data || !q.data || !k.data || !v.data || !att.data) return err ? err->status : MMRT_ERR_OOM;
    MMRT_TRY(mmrt_layer_norm(be, &h, x, &l->ln1_w, &l->ln1_b, hp->eps, err));
    MMRT_TRY(linear(be, &q, &h, &l->wq, &l->bq, err));
    MMRT_TRY(linear(be, &k, &h, &l->wk, &l->bk, err));
    MMRT_TRY(linear(be, &v, &h, &l->wv, &l->bv, err));
    mmrt_tensor q3 = mmrt_tensor_split_heads(&q, hd), k3 = mmrt_tensor_split_heads(&k, hd);
    mmrt_tensor v3 = mmrt_tensor_split_heads(&v, hd);
    mmrt_tensor att3 = mmrt_tensor_split_heads(&att, hd); /* (n, n_head, hd) */
    float scale = 1.0f / sqrtf((float)hd);
    /* each tile is its own sequence: attention over its n_patch rows only */
    for (int64_t t = 0; t < n_tiles; t++) {
        mmrt_tensor qt = mmrt_tensor_slice(&q3, 2, t * np, np);
        mmrt_tensor kt = mmrt_tensor_slice(&k3, 2, t * np, np);
        mmrt_tensor vt = mmrt_tensor_slice(&v3, 2, t * np, np);
        mmrt_tensor ot = mmrt_tensor_slice(&att3, 2, t * np, np);
        MMRT_TRY(mmrt_attention(be, &ot, &qt, &kt, &vt, np, 0, /*causal=*/false, scale, err));
    }
    MMRT_TRY(linear(be, &h, &att, &l->wo, &l->bo, err));
    MMRT_TRY(mmrt_add(be, x, x, &h, err));

    /* MLP block; the attention scratch is dead */
    mmrt_arena_reset(&ps->arena, mark);
    h = mmrt_arena_matrix(&ps->arena, ps->be, d, n, err);
    mmrt_tensor f = mmrt_arena_matrix(&ps->arena, ps->be, hp->n_ff, n, err); /* (n, n_ff) */
    if (!h.data || !f.data) return err ? err->status : MMRT_ERR_OOM;
    MMRT_TRY(mmrt_layer_norm(be, &h, x, &l->ln2_w, &l->ln2_b, hp->eps, err));
    MMRT_TRY(linear(be, &f, &h, &l->fc1_w, &l->fc1_b, err));
    MMRT_TRY(hp->gelu_tanh ? mmrt_gelu_tanh(be, &f, &f, err) : mmrt_gelu(be, &f, &f, err));
    MMRT_TRY(linear(be, &h, &f, &l->fc2_w, &l->fc2_b, err));
    MMRT_TRY(mmrt_add(be, x, x, &h, err));
    mmrt_arena_reset(&ps->arena, mark);
    return MMRT_OK;
}

static mmrt_status run_pass(const mmrt_siglip *enc, pass *ps, const float *pixels, int64_t n_tiles,
                            float *out, mmrt_siglip_hidden_fn on_hidden, void *user, mmrt_error *err) {
    const mmrt_siglip_hparams *hp = &enc->hp;
    mmrt_backend *be = ps->be;
    int64_t n = n_tiles * hp->n_patch;
    mmrt_tensor x = mmrt_arena_matrix(&ps->arena, ps->be, hp->n_embd, n, err); /* (n_tiles · n_patch, n_embd) residual */
    if (!x.data) return err ? err->status : MMRT_ERR_OOM;
    MMRT_TRY(embed(enc, ps, pixels, n_tiles, &x, err));
    if (on_hidden) on_hidden(0, &x, user);
    for (int64_t il = 0; il < hp->n_layer; il++) {
        MMRT_TRY(layer_forward(enc, ps, il, n_tiles, &x, err));
        if (on_hidden) on_hidden((int)il + 1, &x, user);
    }
    MMRT_TRY(mmrt_layer_norm(be, &x, &x, &enc->post_w, &enc->post_b, hp->eps, err));
    if (on_hidden) on_hidden((int)hp->n_layer + 1, &x, user);
    MMRT_TRY(be->iface->download(be, out, x.data, (size_t)(n * hp->n_embd) * sizeof(float), err));
    return be->iface->synchronize(be, err);
}

mmrt_status mmrt_siglip_encode_hidden(const mmrt_siglip *enc, mmrt_backend *be,
                                      const float *pixel_values, int32_t n_tiles, float *out,
                                      mmrt_siglip_hidden_fn on_hidden, void *user, mmrt_error *err) {
    const mmrt_siglip_hparams *hp = &enc->hp;
    if (!pixel_values || !out)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "vision encode: pixel_values and out are required");
    if (n_tiles <= 0 || (int64_t)n_tiles * hp->n_patch > ((int64_t)1 << 24))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "vision encode: %d tiles of %lld patches out of range",
                              n_tiles, (long long)hp->n_patch);
    int64_t n = (int64_t)n_tiles * hp->n_patch;
    size_t bytes = (size_t)(n * floats_per_row(hp)) * sizeof(float) + 16 * 64; /* + alignment */
    pass ps = {.be = be};
    void *base = NULL;
    if (be->iface->buffer_alloc(be, bytes, &base, err) != MMRT_OK)
        return mmrt_error_wrap(err, "vision encoder scratch for %d tiles (%.1f MiB)", n_tiles,
                               (double)bytes / 1048576.0);
    mmrt_arena_wrap(&ps.arena, "vision encoder scratch", base, bytes);
    mmrt_status st = run_pass(enc, &ps, pixel_values, n_tiles, out, on_hidden, user, err);
    be->iface->buffer_free(be, base);
    return st;
}

mmrt_status mmrt_siglip_encode(const mmrt_siglip *enc, mmrt_backend *be, const float *pixel_values,
                               int32_t n_tiles, float *out, mmrt_error *err) {
    return mmrt_siglip_encode_hidden(enc, be, pixel_values, n_tiles, out, NULL, NULL, err);
}
