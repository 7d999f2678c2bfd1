#include "smolvlm.h"

#include "core/fsutil.h"
#include "core/json.h"
#include "core/strbuf.h"
#include "fusion/image_part.h"
#include "text/chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_arch(const char *model_type) {
    return strcmp(model_type, "idefics3") == 0 || strcmp(model_type, "smolvlm") == 0;
}

/* image_seq_len from processor_config.json (both layouts keep it there); the processor's own
 * default is 169, but a checkpoint without the file can only mean the model's geometry. */
static mmrt_status load_seq_len(const char *dir, int64_t computed, int64_t *out, mmrt_error *err) {
    char *path = mmrt_fs_path_join(dir, "processor_config.json");
    if (!path) return mmrt_error_oom(err, strlen(dir), "path");
    *out = computed;
    cJSON *root = NULL;
    mmrt_status st = MMRT_OK;
    if (mmrt_fs_is_file(path)) {
        st = mmrt_json_load_file(path, &root, err);
        if (st == MMRT_OK) st = mmrt_json_get_int(root, "image_seq_len", false, computed, 1, 1 << 20, out, path, err);
        if (st == MMRT_OK && *out != computed)
            st = mmrt_error_set(err, MMRT_ERR_MODEL,
                                "%s: image_seq_len is %lld but the vision model gives %lld features per tile "
                                "((image_size / patch_size)² / scale_factor²)",
                                path, (long long)*out, (long long)computed);
    }
    cJSON_Delete(root);
    free(path);
    return st;
}

static mmrt_status load_image_token(const char *config_path, const mmrt_tokenizer *tok, int32_t *out,
                                    mmrt_error *err) {
    int32_t id = mmrt_tokenizer_find(tok, MMRT_CHAT_IMAGE_PLACEHOLDER);
    if (id < 0)
        return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: the tokenizer has no %s token", config_path,
                              MMRT_CHAT_IMAGE_PLACEHOLDER);
    cJSON *cfg = NULL;
    MMRT_TRY(mmrt_json_load_file(config_path, &cfg, err));
    int64_t cfg_id;
    mmrt_status st = mmrt_json_get_int(cfg, "image_token_id", false, id, 0, INT32_MAX, &cfg_id, config_path, err);
    cJSON_Delete(cfg);
    MMRT_TRY(st);
    if (cfg_id != id)
        return mmrt_error_set(err, MMRT_ERR_MODEL,
                              "%s: image_token_id is %lld but the tokenizer's %s is %d", config_path,
                              (long long)cfg_id, MMRT_CHAT_IMAGE_PLACEHOLDER, id);
    *out = id;
    return MMRT_OK;
}

static mmrt_status init(mmrt_smolvlm *v, const char *dir, const char *config_path, const mmrt_weights *w,
                        int64_t text_hidden, const mmrt_tokenizer *tok, mmrt_error *err) {
    MMRT_TRY(mmrt_siglip_init(&v->vit, config_path, w, "model.vision_model.", err));
    const mmrt_siglip_hparams *vh = &v->vit.hp;
    int64_t scale;
    MMRT_TRY(mmrt_idefics3_scale_factor_load(config_path, &scale, err));
    int64_t side = vh->image / vh->patch;
    if (side % scale != 0)
        return mmrt_error_set(err, MMRT_ERR_MODEL,
                              "%s: %lld patches per tile side is not a multiple of scale_factor %lld",
                              config_path, (long long)side, (long long)scale);
    MMRT_TRY(mmrt_idefics3_connector_init(&v->conn, scale, w, "model.connector.", vh->n_embd, text_hidden,
                                          &v->conn_weights, err));
    MMRT_TRY(mmrt_smolvlm_pp_config_load(dir, &v->pp, err));
    if (v->pp.max_image_size != vh->image)
        return mmrt_error_set(err, MMRT_ERR_MODEL,
                              "%s: the image processor makes %d-pixel tiles but vision_config.image_size is %lld",
                              dir, v->pp.max_image_size, (long long)vh->image);
    MMRT_TRY(load_seq_len(dir, vh->n_patch / (scale * scale), &v->image_seq_len, err));
    return load_image_token(config_path, tok, &v->image_token, err);
}

mmrt_status mmrt_smolvlm_init(mmrt_smolvlm *v, const char *dir, const mmrt_weights *w,
                              int64_t text_hidden, const mmrt_tokenizer *tok, mmrt_error *err) {
    memset(v, 0, sizeof *v);
    char *config_path = mmrt_fs_path_join(dir, "config.json");
    if (!config_path) return mmrt_error_oom(err, strlen(dir), "path");
    mmrt_status st = init(v, dir, config_path, w, text_hidden, tok, err);
    free(config_path);
    if (st != MMRT_OK) mmrt_smolvlm_free(v);
    return st;
}

mmrt_status mmrt_smolvlm_upload(mmrt_smolvlm *v, mmrt_weight_upload *u, mmrt_error *err) {
    MMRT_TRY(mmrt_weight_list_upload(&v->vit.weights, u, err));
    return mmrt_weight_list_upload(&v->conn_weights, u, err);
}

void mmrt_smolvlm_free(mmrt_smolvlm *v) {
    if (!v) return;
    mmrt_siglip_free(&v->vit);
    mmrt_weight_list_free(&v->conn_weights);
    memset(v, 0, sizeof *v);
}

static mmrt_status put_image_tokens(mmrt_strbuf *b, int64_t n, mmrt_error *err) {
    for (int64_t i = 0; i < n; i++) MMRT_TRY(mmrt_strbuf_puts(b, MMRT_CHAT_IMAGE_PLACEHOLDER, err));
    return MMRT_OK;
}

/* transformers' get_image_prompt_string */
static mmrt_status put_image(const mmrt_smolvlm *v, const mmrt_smolvlm_pp_out *img, mmrt_strbuf *b,
                             mmrt_error *err) {
    char tag[64];
    for (int32_t r = 0; r < img->n_rows; r++) {
        for (int32_t c = 0; c < img->n_cols; c++) {
            snprintf(tag, sizeof tag, "<fake_token_around_image><row_%d_col_%d>", r + 1, c + 1);
            MMRT_TRY(mmrt_strbuf_puts(b, tag, err));
            MMRT_TRY(put_image_tokens(b, v->image_seq_len, err));
        }
        MMRT_TRY(mmrt_strbuf_puts(b, "\n", err));
    }
    if (img->n_rows > 0 || img->n_cols > 0) MMRT_TRY(mmrt_strbuf_puts(b, "\n", err));
    MMRT_TRY(mmrt_strbuf_puts(b, "<fake_token_around_image><global-img>", err));
    MMRT_TRY(put_image_tokens(b, v->image_seq_len, err));
    return mmrt_strbuf_puts(b, "<fake_token_around_image>", err);
}

typedef struct tile_out {
    const mmrt_smolvlm *v;
    mmrt_backend *be;
    mmrt_tensor out; /* the tile's image_seq_len rows */
} tile_out;

/* The ViT's output of one tile, still on the backend, through the connector. */
static mmrt_status connect_tile(const mmrt_tensor *x, void *user, mmrt_error *err) {
    tile_out *t = user;
    return mmrt_idefics3_connector_forward(&t->v->conn, t->be, x, 1, t->v->vit.hp.n_patch, &t->out, err);
}

mmrt_status mmrt_smolvlm_encode(const mmrt_smolvlm *v, mmrt_backend *be, const float *pixel_values,
                                int32_t n_tiles, mmrt_tensor *out, mmrt_encoder_progress_fn progress,
                                void *user, mmrt_error *err) {
    const mmrt_siglip_hparams *vh = &v->vit.hp;
    size_t tile_px = (size_t)(vh->n_chan * vh->image * vh->image);
    if (out->type != MMRT_F32 || out->ne[0] != v->conn.text_hidden || out->ne[1] != n_tiles * v->image_seq_len)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "image encode: out is not (%lld, %lld) f32",
                              (long long)(n_tiles * v->image_seq_len), (long long)v->conn.text_hidden);
    mmrt_status st = MMRT_OK;
    for (int32_t t = 0; t < n_tiles && st == MMRT_OK; t++) {
        tile_out to = {.v = v, .be = be, .out = mmrt_tensor_slice(out, 1, t * v->image_seq_len, v->image_seq_len)};
        st = mmrt_siglip_encode_to(&v->vit, be, pixel_values + (size_t)t * tile_px, 1, connect_tile, &to, err);
        if (st == MMRT_OK && progress && progress(t + 1, user) != 0)
            st = mmrt_error_set(err, MMRT_ERR_ABORTED, "image encoding stopped by the progress callback "
                                                       "(after tile %d of this image's %d)", t + 1, n_tiles);
    }
    return st;
}

/* ---- the encoder ----------------------------------------------------------------------------- */

typedef struct smolvlm_encoder {
    mmrt_encoder base;
    mmrt_smolvlm v;
} smolvlm_encoder;

/* The image's expansion and a hash of its pixel values with the tile grid (the pixel values are a
 * function of the decoded pixels and every preprocessing setting). */
static mmrt_status describe_input(const mmrt_smolvlm *v, const mmrt_smolvlm_pp_out *pp, mmrt_media_input *in,
                                  mmrt_error *err) {
    mmrt_strbuf b = {0};
    mmrt_status st = put_image(v, pp, &b, err);
    if (st == MMRT_OK && !(in->text = mmrt_strbuf_take(&b))) st = mmrt_error_oom(err, 1, "prompt");
    mmrt_strbuf_free(&b);
    MMRT_TRY(st);
    char px[MMRT_SHA256_HEX_LEN], all[MMRT_SHA256_HEX_LEN + 64];
    size_t n = (size_t)pp->n_tiles * 3 * (size_t)pp->tile * (size_t)pp->tile * sizeof(float);
    MMRT_TRY(mmrt_sha256_buf(pp->pixel_values, n, px, err));
    int len = snprintf(all, sizeof all, "smolvlm %s %d %d %d %d", px, pp->n_rows, pp->n_cols, pp->n_tiles, pp->tile);
    MMRT_TRY(mmrt_sha256_buf(all, (size_t)len, in->hash, err));
    in->n_tokens = (int64_t)pp->n_tiles * v->image_seq_len;
    in->n_steps = pp->n_tiles;
    return MMRT_OK;
}

static mmrt_status enc_prepare(const mmrt_encoder *e, const mmrt_part *part, size_t index,
                               const mmrt_generate_params *params, mmrt_media_input *in, mmrt_error *err) {
    const mmrt_smolvlm *v = e->impl;
    mmrt_image img = {0};
    MMRT_TRY(mmrt_image_part_decode(part, index, params->max_pixels, &img, err));
    mmrt_smolvlm_pp_config cfg = v->pp;
    if (params->no_split) cfg.do_image_splitting = false;
    mmrt_smolvlm_pp_out *pp = calloc(1, sizeof *pp);
    mmrt_status st = pp ? mmrt_smolvlm_preprocess(&img, &cfg, pp, err) : mmrt_error_oom(err, sizeof *pp, "image");
    mmrt_image_free(&img);
    if (st != MMRT_OK) {
        char name[48];
        free(pp);
        return mmrt_error_wrap(err, "%s", mmrt_image_part_name(part, index, name, sizeof name));
    }
    in->data = pp;
    return describe_input(v, pp, in, err);
}

static mmrt_status enc_encode(const mmrt_encoder *e, mmrt_backend *be, const mmrt_media_input *in,
                              mmrt_encoder_progress_fn progress, void *user, mmrt_tensor *rows, mmrt_error *err) {
    const mmrt_smolvlm *v = e->impl;
    const mmrt_smolvlm_pp_out *pp = in->data;
    MMRT_TRY(mmrt_media_rows_alloc(be, in->n_tokens, v->conn.text_hidden, rows, err));
    mmrt_status st = mmrt_smolvlm_encode(v, be, pp->pixel_values, pp->n_tiles, rows, progress, user, err);
    if (st != MMRT_OK) mmrt_media_rows_free(be, rows);
    return st;
}

static void enc_release(const mmrt_encoder *e, mmrt_media_input *in) {
    (void)e;
    mmrt_smolvlm_pp_out_free(in->data);
    free(in->data);
    in->data = NULL;
}

static mmrt_status enc_upload(mmrt_encoder *e, mmrt_weight_upload *u, mmrt_error *err) {
    return mmrt_smolvlm_upload(e->impl, u, err);
}

static void enc_describe(const mmrt_encoder *e, mmrt_model_info *info) {
    const mmrt_smolvlm *v = e->impl;
    info->vision = true;
    info->image_tile = (int32_t)v->vit.hp.image;
    info->image_seq_len = (int32_t)v->image_seq_len;
    info->image_longest_edge = v->pp.longest_edge;
}

static void enc_free(mmrt_encoder *e) {
    smolvlm_encoder *se = (smolvlm_encoder *)e;
    mmrt_smolvlm_free(&se->v);
    free(se);
}

static const mmrt_encoder_i smolvlm_iface = {
    .prepare = enc_prepare,
    .encode = enc_encode,
    .release = enc_release,
    .upload = enc_upload,
    .describe = enc_describe,
    .free = enc_free,
};

static bool factory_matches(const mmrt_encoder_config *cfg) { return is_arch(cfg->model_type); }

static mmrt_status factory_init(const mmrt_encoder_config *cfg, mmrt_encoder **out, mmrt_error *err) {
    smolvlm_encoder *se = calloc(1, sizeof *se);
    if (!se) return mmrt_error_oom(err, sizeof *se, "vision encoder");
    mmrt_status st = mmrt_smolvlm_init(&se->v, cfg->dir, cfg->weights, cfg->text->n_embd, cfg->tok, err);
    if (st != MMRT_OK) {
        free(se);
        return st;
    }
    se->base = (mmrt_encoder){.iface = &smolvlm_iface, .name = "SmolVLM vision", .noun = "image",
                              .part_types = MMRT_IMAGE_PART_TYPES, .stage = MMRT_STAGE_IMAGE_ENCODE,
                              .placeholder = MMRT_CHAT_IMAGE_PLACEHOLDER, .typed_content = true, .token = se->v.image_token,
                              .lora = NULL, .impl = &se->v};
    *out = &se->base;
    return MMRT_OK;
}

const mmrt_encoder_factory mmrt_smolvlm_encoder_factory = {
    .name = "smolvlm",
    .matches = factory_matches,
    .init = factory_init,
    .text_config = "text_config",
    .decoder_prefix = "model.text_model.",
};
