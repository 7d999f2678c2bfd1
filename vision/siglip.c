#include "siglip.h"

#include "core/arena.h"
#include "core/json.h"
#include "core/ops.h"

#include <math.h>
#include <stddef.h>
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

/* The encoder's blocks, declared once (core/weight_table.h). */
enum { D_EMBD = 1, D_FF, D_PATCH, D_CHAN, D_P, N_DIMS };

static const mmrt_weight_decl top_weights[] = {
    /* the conv weight (n_embd, C, p, p) is, row-major, the (n_embd, C·p·p) im2col matrix */
    {.name = "embeddings.patch_embedding.weight", .offset = offsetof(mmrt_siglip, patch_w),
     .shape = {D_EMBD, D_CHAN, D_P, D_P}, .flags = MMRT_WEIGHT_FLATTEN},
    MMRT_WEIGHT(mmrt_siglip, patch_b, "embeddings.patch_embedding.bias", D_EMBD),
    MMRT_WEIGHT(mmrt_siglip, pos_embd, "embeddings.position_embedding.weight", D_PATCH, D_EMBD),
    MMRT_WEIGHT(mmrt_siglip, post_w, "post_layernorm.weight", D_EMBD),
    MMRT_WEIGHT(mmrt_siglip, post_b, "post_layernorm.bias", D_EMBD),
};
static const mmrt_weight_decl layer_weights[] = {
    MMRT_WEIGHT(mmrt_siglip_layer, ln1_w, "layer_norm1.weight", D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, ln1_b, "layer_norm1.bias", D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, wq, "self_attn.q_proj.weight", D_EMBD, D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, bq, "self_attn.q_proj.bias", D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, wk, "self_attn.k_proj.weight", D_EMBD, D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, bk, "self_attn.k_proj.bias", D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, wv, "self_attn.v_proj.weight", D_EMBD, D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, bv, "self_attn.v_proj.bias", D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, wo, "self_attn.out_proj.weight", D_EMBD, D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, bo, "self_attn.out_proj.bias", D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, ln2_w, "layer_norm2.weight", D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, ln2_b, "layer_norm2.bias", D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, fc1_w, "mlp.fc1.weight", D_FF, D_EMBD),
    MMRT_WEIGHT(mmrt_siglip_layer, fc1_b, "mlp.fc1.bias", D_FF),
    MMRT_WEIGHT(mmrt_siglip_layer, fc2_w, "mlp.fc2.weight", D_EMBD, D_FF),
    MMRT_WEIGHT(mmrt_siglip_layer, fc2_b, "mlp.fc2.bias", D_EMBD),
};

static mmrt_status bind_all(mmrt_siglip *enc, const mmrt_weights *w, const char *prefix,
                            mmrt_error *err) {
    const mmrt_siglip_hparams *hp = &enc->hp;
    const int64_t dims[N_DIMS] = {[D_EMBD] = hp->n_embd, [D_FF] = hp->n_ff, [D_PATCH] = hp->n_patch,
                                  [D_CHAN] = hp->n_chan, [D_P] = hp->patch};
    MMRT_TRY(mmrt_weight_table_bind(w, prefix, top_weights, sizeof top_weights / sizeof *top_weights, dims, enc,
                                    &enc->weights, err));
    char lp[256];
    for (int64_t i = 0; i < hp->n_layer; i++) {
        snprintf(lp, sizeof lp, "%sencoder.layers.%lld.", prefix, (long long)i);
        MMRT_TRY(mmrt_weight_table_bind(w, lp, layer_weights, sizeof layer_weights / sizeof *layer_weights, dims,
                                        &enc->layers[i], &enc->weights, err));
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
    mmrt_weight_list_free(&enc->weights);
    enc->layers = NULL;
}

/* ---- padded tiles: patch mask and position ids --------------------------------------------- */

void mmrt_siglip_patch_mask(const mmrt_siglip_hparams *hp, const uint8_t *pixel_mask,
                            uint8_t *patch_mask) {
    int64_t p = hp->patch, S = hp->image, side = S / p;
    for (int64_t py = 0; py < side; py++)
        for (int64_t px = 0; px < side; px++) {
            uint8_t any = 0;
            for (int64_t y = py * p; y < (py + 1) * p && !any; y++)
                for (int64_t x = px * p; x < (px + 1) * p; x++) any |= pixel_mask[y * S + x] != 0;
            patch_mask[py * side + px] = any;
        }
}

/* start + step · i in double, rounded to float. The product goes through a volatile so that no
 * compiler fuses it into an FMA, which would round differently from torch. */
static float arange_value(double start, double step, int64_t i) {
    volatile double off = step * (double)i;
    return (float)(start + off);
}

/* torch.arange(1/side, 1.0, 1/side) in float32, as torch's CPU kernel makes it (b holds side
 * floats; returns the count, side − 1 or side). Size ceil((end − start) / step) in double; values
 * in blocks of 16 as two 8-float vectors, each float(start + step · i0) + k · step in double then
 * rounded again (Vectorized<float>::arange), the tail as float(start + step · i). Non-power-of-two
 * sides differ from a plain float(k / side) in places; checked against torch for sides 2..299. */
static int64_t bucket_boundaries(int64_t side, float *b) {
    double s = 1.0 / (double)side;
    int64_t n = (int64_t)ceil((1.0 - s) / s);
    MMRT_ASSERT(n >= 0 && n <= side);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int64_t v = i; v < i + 16; v += 8) {
            double base = arange_value(s, s, v);
            for (int64_t k = 0; k < 8; k++) b[v + k] = arange_value(base, s, k);
        }
    for (; i < n; i++) b[i] = arange_value(s, s, i);
    return n;
}

/* bucketize(v, b, right=True): the first index whose boundary is > v, by torch's binary search,
 * whose `!(b > v)` sends NaN past the last boundary. */
static int64_t bucketize_right(float v, const float *b, int64_t n) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + ((hi - lo) >> 1);
        if (!(b[mid] > v)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Buckets of coordinates 0..side-1 for nb valid patches along that axis: min(i · (1/nb), 1 − 1e-6)
 * in float32, NaN (0 · inf) kept as torch.clamp keeps it. */
static void axis_buckets(int64_t side, int64_t nb, const float *b, int64_t n_b, int64_t *out) {
    float step = nb > 0 ? 1.0f / (float)nb : INFINITY;
    const float hi = (float)(1.0 - 1e-6);
    for (int64_t i = 0; i < side; i++) {
        float c = (float)i * step;
        out[i] = bucketize_right(c > hi ? hi : c, b, n_b);
    }
}

mmrt_status mmrt_siglip_position_ids(int64_t side, const uint8_t *patch_mask, int32_t *ids,
                                     mmrt_error *err) {
    if (side <= 0 || side > (1 << 14) || !patch_mask || !ids)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "vision position ids: bad side %lld or NULL mask/ids",
                              (long long)side);
    size_t bytes = (size_t)side * (sizeof(float) + 2 * sizeof(int64_t));
    int64_t *bh = malloc(bytes);
    if (!bh) return mmrt_error_oom(err, bytes, "vision position buckets");
    int64_t *bw = bh + side;
    float *b = (float *)(bw + side);
    int64_t nb_h = 0, nb_w = 0; /* valid patches in column 0 and in row 0 */
    for (int64_t i = 0; i < side; i++) {
        nb_h += patch_mask[i * side] != 0;
        nb_w += patch_mask[i] != 0;
    }
    int64_t n_b = bucket_boundaries(side, b);
    axis_buckets(side, nb_h, b, n_b, bh);
    axis_buckets(side, nb_w, b, n_b, bw);
    mmrt_status st = MMRT_OK;
    for (int64_t h = 0; h < side && st == MMRT_OK; h++)
        for (int64_t w = 0; w < side; w++) {
            int64_t id = bh[h] * side + bw[w];
            if (!patch_mask[h * side + w]) id = 0;
            if (id >= side * side) {
                st = mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                                    "vision position ids: valid patch (%lld, %lld) gets id %lld >= %lld: with no "
                                    "valid patch in column 0 (%lld) or row 0 (%lld), transformers' bucketized id "
                                    "is out of its table (IndexError) for %lld patches per side",
                                    (long long)h, (long long)w, (long long)id, (long long)(side * side),
                                    (long long)nb_h, (long long)nb_w, (long long)side);
                break;
            }
            ids[h * side + w] = (int32_t)id;
        }
    free(bh);
    return st;
}

/* ---- forward ---------------------------------------------------------------------------- */

typedef struct pass {
    mmrt_backend *be;
    mmrt_arena arena;
    const int32_t *pos_ids;   /* (n_tiles · n_patch) host: position ids */
    const uint8_t *padded;    /* (n_tiles) host: 1 where some patch of the tile is masked */
    mmrt_tensor key_mask;     /* (n_tiles · n_patch) u8 on the backend, 1 = valid patch */
} pass;

static mmrt_status linear(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                          const mmrt_tensor *w, const mmrt_tensor *b, mmrt_error *err) {
    MMRT_TRY(mmrt_matmul(be, dst, x, w, err));
    return mmrt_add_bias(be, dst, dst, b, err);
}

/* x (n_tiles · n_patch, n_embd) = conv(pixels) + pos_embd[position id]: the pixels go up as they
 * are, the patches are cut on the backend (patchify = the conv's im2col), then one GEMM. */
static mmrt_status embed(const mmrt_siglip *enc, pass *ps, const float *pixels, int64_t n_tiles,
                         mmrt_tensor *x, mmrt_error *err) {
    const mmrt_siglip_hparams *hp = &enc->hp;
    mmrt_backend *be = ps->be;
    int64_t p = hp->patch, S = hp->image, n_row = n_tiles * hp->n_patch;
    int64_t k = hp->n_chan * p * p;
    size_t mark = mmrt_arena_mark(&ps->arena);
    mmrt_tensor px = mmrt_arena_tensor(&ps->arena, MMRT_F32, 4, (int64_t[]){S, S, hp->n_chan, n_tiles}, err);
    mmrt_tensor cols = mmrt_arena_matrix(&ps->arena, ps->be, k, n_row, err);     /* (n_row, C·p·p) */
    mmrt_tensor pos = mmrt_arena_matrix(&ps->arena, ps->be, hp->n_embd, n_row, err); /* (n_row, n_embd) */
    mmrt_tensor ids = mmrt_arena_tensor(&ps->arena, MMRT_I32, 1, (int64_t[]){n_row}, err);
    px.backend = ids.backend = be;
    if (!px.data || !cols.data || !pos.data || !ids.data) return err ? err->status : MMRT_ERR_OOM;
    MMRT_TRY(be->iface->upload(be, px.data, pixels, mmrt_tensor_nbytes(&px), err));
    MMRT_TRY(be->iface->upload(be, ids.data, ps->pos_ids, (size_t)n_row * sizeof(int32_t), err));
    MMRT_TRY(mmrt_patchify(be, &cols, &px, (int32_t)p, err));
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
    /* each tile is its own sequence: attention over its n_patch rows only, without the keys of
     * masked patches in a padded tile (every query, masked or not, attends) */
    for (int64_t t = 0; t < n_tiles; t++) {
        mmrt_tensor qt = mmrt_tensor_slice(&q3, 2, t * np, np);
        mmrt_tensor kt = mmrt_tensor_slice(&k3, 2, t * np, np);
        mmrt_tensor vt = mmrt_tensor_slice(&v3, 2, t * np, np);
        mmrt_tensor ot = mmrt_tensor_slice(&att3, 2, t * np, np);
        if (ps->padded && ps->padded[t]) {
            mmrt_tensor mt = mmrt_tensor_slice(&ps->key_mask, 0, t * np, np);
            MMRT_TRY(mmrt_attention_masked(be, &ot, &qt, &kt, &vt, &mt, np, scale, err));
        } else {
            MMRT_TRY(mmrt_attention(be, &ot, &qt, &kt, &vt, np, 0, /*causal=*/false, scale, err));
        }
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

/* Where the encoder's output goes: downloaded to host `out`, or handed on the backend to on_output. */
typedef struct sink {
    float *out;
    mmrt_siglip_output_fn on_output;
    void *output_user;
    mmrt_siglip_hidden_fn on_hidden;
    void *user;
} sink;

static mmrt_status run_pass(const mmrt_siglip *enc, pass *ps, const float *pixels,
                            const uint8_t *key_mask, int64_t n_tiles, const sink *to, mmrt_error *err) {
    mmrt_siglip_hidden_fn on_hidden = to->on_hidden;
    void *user = to->user;
    const mmrt_siglip_hparams *hp = &enc->hp;
    mmrt_backend *be = ps->be;
    int64_t n = n_tiles * hp->n_patch;
    mmrt_tensor x = mmrt_arena_matrix(&ps->arena, ps->be, hp->n_embd, n, err); /* (n_tiles · n_patch, n_embd) residual */
    if (!x.data) return err ? err->status : MMRT_ERR_OOM;
    if (ps->padded) {
        ps->key_mask = mmrt_arena_tensor(&ps->arena, MMRT_U8, 1, (int64_t[]){n}, err); /* (n_tiles · n_patch) */
        if (!ps->key_mask.data) return err ? err->status : MMRT_ERR_OOM;
        ps->key_mask.backend = be;
        MMRT_TRY(be->iface->upload(be, ps->key_mask.data, key_mask, (size_t)n, err));
    }
    MMRT_TRY(embed(enc, ps, pixels, n_tiles, &x, err));
    if (on_hidden) on_hidden(0, &x, user);
    for (int64_t il = 0; il < hp->n_layer; il++) {
        MMRT_TRY(layer_forward(enc, ps, il, n_tiles, &x, err));
        if (on_hidden) on_hidden((int)il + 1, &x, user);
    }
    MMRT_TRY(mmrt_layer_norm(be, &x, &x, &enc->post_w, &enc->post_b, hp->eps, err));
    if (on_hidden) on_hidden((int)hp->n_layer + 1, &x, user);
    if (to->on_output) MMRT_TRY(to->on_output(&x, to->output_user, err));
    else MMRT_TRY(be->iface->download(be, to->out, x.data, (size_t)(n * hp->n_embd) * sizeof(float), err));
    return be->iface->synchronize(be, err);
}

/* Host side of a call's masks: position ids (n_row) i32, then the patch mask / key mask (n_row)
 * u8 and the per-tile padded flags (n_tiles) u8. With no pixel mask, ids 0 .. n_patch-1 per tile and
 * no tile padded. */
typedef struct tile_masks {
    int32_t *pos_ids;
    uint8_t *key_mask, *padded;
    bool any_padded;
} tile_masks;

static mmrt_status tile_masks_make(const mmrt_siglip_hparams *hp, const uint8_t *pixel_mask,
                                   int64_t n_tiles, tile_masks *tm, mmrt_error *err) {
    int64_t np = hp->n_patch, n = n_tiles * np, side = hp->image / hp->patch;
    size_t bytes = (size_t)n * (sizeof(int32_t) + 1) + (size_t)n_tiles;
    memset(tm, 0, sizeof *tm);
    tm->pos_ids = malloc(bytes);
    if (!tm->pos_ids) return mmrt_error_oom(err, bytes, "vision position ids");
    tm->key_mask = (uint8_t *)(tm->pos_ids + n);
    tm->padded = tm->key_mask + n;
    for (int64_t t = 0; t < n_tiles; t++) {
        int32_t *ids = tm->pos_ids + t * np;
        uint8_t *pm = tm->key_mask + t * np;
        if (pixel_mask) mmrt_siglip_patch_mask(hp, pixel_mask + t * hp->image * hp->image, pm);
        else memset(pm, 1, (size_t)np);
        tm->padded[t] = memchr(pm, 0, (size_t)np) != NULL;
        tm->any_padded |= tm->padded[t];
        if (!tm->padded[t]) {
            for (int64_t i = 0; i < np; i++) ids[i] = (int32_t)i;
        } else if (mmrt_siglip_position_ids(side, pm, ids, err) != MMRT_OK) {
            free(tm->pos_ids);
            tm->pos_ids = NULL;
            return mmrt_error_wrap(err, "vision encode: tile %lld", (long long)t);
        }
    }
    return MMRT_OK;
}

static mmrt_status encode(const mmrt_siglip *enc, mmrt_backend *be, const float *pixel_values,
                          const uint8_t *pixel_mask, int32_t n_tiles, const sink *to, mmrt_error *err) {
    const mmrt_siglip_hparams *hp = &enc->hp;
    if (!pixel_values || (!to->out && !to->on_output))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "vision encode: pixel_values and out are required");
    if (n_tiles <= 0 || (int64_t)n_tiles * hp->n_patch > ((int64_t)1 << 24))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "vision encode: %d tiles of %lld patches out of range",
                              n_tiles, (long long)hp->n_patch);
    tile_masks tm;
    MMRT_TRY(tile_masks_make(hp, pixel_mask, n_tiles, &tm, err));
    pass ps = {.be = be, .pos_ids = tm.pos_ids, .padded = tm.any_padded ? tm.padded : NULL};
    /* the scratch is what this very pass allocates: run first on the plan backend (core/arena.h) */
    mmrt_backend plan = mmrt_backend_plan();
    pass planned = ps;
    planned.be = &plan;
    mmrt_arena_measure(&planned.arena, "vision encoder scratch");
    const sink nowhere = {0};
    if (run_pass(enc, &planned, pixel_values, tm.key_mask, n_tiles, &nowhere, err) != MMRT_OK) {
        free(tm.pos_ids);
        return err ? err->status : MMRT_ERR_INVALID_ARG;
    }
    size_t bytes = planned.arena.peak;
    void *base = NULL;
    if (be->iface->buffer_alloc(be, bytes, &base, err) != MMRT_OK) {
        free(tm.pos_ids);
        return mmrt_error_wrap(err, "vision encoder scratch for %d tiles (%.1f MiB)", n_tiles,
                               (double)bytes / 1048576.0);
    }
    mmrt_arena_wrap(&ps.arena, "vision encoder scratch", base, bytes);
    mmrt_status st = run_pass(enc, &ps, pixel_values, tm.key_mask, n_tiles, to, err);
    if (st != MMRT_OK) { /* run_pass synchronized on success; on failure no copy may still read tm */
        mmrt_error ignored = {0};
        be->iface->synchronize(be, &ignored);
    }
    be->iface->buffer_free(be, base);
    free(tm.pos_ids);
    return st;
}

mmrt_status mmrt_siglip_encode_masked(const mmrt_siglip *enc, mmrt_backend *be,
                                      const float *pixel_values, const uint8_t *pixel_mask,
                                      int32_t n_tiles, float *out, mmrt_siglip_hidden_fn on_hidden,
                                      void *user, mmrt_error *err) {
    sink to = {.out = out, .on_hidden = on_hidden, .user = user};
    return out ? encode(enc, be, pixel_values, pixel_mask, n_tiles, &to, err)
               : mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "vision encode: pixel_values and out are required");
}

mmrt_status mmrt_siglip_encode_to(const mmrt_siglip *enc, mmrt_backend *be, const float *pixel_values,
                                  int32_t n_tiles, mmrt_siglip_output_fn on_output, void *user,
                                  mmrt_error *err) {
    sink to = {.on_output = on_output, .output_user = user};
    return on_output ? encode(enc, be, pixel_values, NULL, n_tiles, &to, err)
                     : mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "vision encode: on_output is required");
}

mmrt_status mmrt_siglip_encode_hidden(const mmrt_siglip *enc, mmrt_backend *be,
                                      const float *pixel_values, int32_t n_tiles, float *out,
                                      mmrt_siglip_hidden_fn on_hidden, void *user, mmrt_error *err) {
    return mmrt_siglip_encode_masked(enc, be, pixel_values, NULL, n_tiles, out, on_hidden, user, err);
}

mmrt_status mmrt_siglip_encode(const mmrt_siglip *enc, mmrt_backend *be, const float *pixel_values,
                               int32_t n_tiles, float *out, mmrt_error *err) {
    return mmrt_siglip_encode_masked(enc, be, pixel_values, NULL, n_tiles, out, NULL, NULL, err);
}
