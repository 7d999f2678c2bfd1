#include "smolvlm.h"

#include "core/fsutil.h"
#include "core/json.h"
#include "core/strbuf.h"
#include "text/chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mmrt_smolvlm_is_arch(const char *model_type) {
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

static size_t count_placeholders(const char *text) {
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, MMRT_CHAT_IMAGE_PLACEHOLDER)); p += strlen(MMRT_CHAT_IMAGE_PLACEHOLDER))
        n++;
    return n;
}

mmrt_status mmrt_smolvlm_expand_prompt(const mmrt_smolvlm *v, const char *text,
                                       const mmrt_smolvlm_pp_out *images, size_t n_images,
                                       char **out, mmrt_error *err) {
    *out = NULL;
    size_t n_ph = count_placeholders(text);
    if (n_ph != n_images)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "the prompt has %zu %s placeholder%s but %zu image%s %s given: each image "
                              "needs exactly one",
                              n_ph, MMRT_CHAT_IMAGE_PLACEHOLDER, n_ph == 1 ? "" : "s", n_images,
                              n_images == 1 ? "" : "s", n_images == 1 ? "was" : "were");
    mmrt_strbuf b = {0};
    mmrt_status st = MMRT_OK;
    const char *p = text;
    for (size_t i = 0; i < n_images && st == MMRT_OK; i++) {
        const char *hit = strstr(p, MMRT_CHAT_IMAGE_PLACEHOLDER);
        st = mmrt_strbuf_append(&b, p, (size_t)(hit - p), err);
        if (st == MMRT_OK) st = put_image(v, &images[i], &b, err);
        p = hit + strlen(MMRT_CHAT_IMAGE_PLACEHOLDER);
    }
    if (st == MMRT_OK) st = mmrt_strbuf_puts(&b, p, err);
    if (st == MMRT_OK && !(*out = mmrt_strbuf_take(&b))) st = mmrt_error_oom(err, 1, "prompt");
    mmrt_strbuf_free(&b);
    return st;
}

typedef struct tile_out {
    const mmrt_smolvlm *v;
    mmrt_backend *be;
    float *out; /* the tile's image_seq_len rows */
} tile_out;

/* The ViT's output of one tile, still on the backend, through the connector. */
static mmrt_status connect_tile(const mmrt_tensor *x, void *user, mmrt_error *err) {
    const tile_out *t = user;
    mmrt_backend *be = t->be;
    size_t n = (size_t)(t->v->image_seq_len * t->v->conn.text_hidden) * sizeof(float);
    void *dout = NULL;
    MMRT_TRY(be->iface->buffer_alloc(be, n, &dout, err));
    mmrt_tensor y = mmrt_tensor_2d(MMRT_F32, dout, t->v->conn.text_hidden, t->v->image_seq_len);
    y.backend = be;
    mmrt_status st = mmrt_idefics3_connector_forward(&t->v->conn, be, x, 1, t->v->vit.hp.n_patch, &y, err);
    if (st == MMRT_OK) st = be->iface->download(be, t->out, dout, n, err);
    if (st == MMRT_OK) st = be->iface->synchronize(be, err);
    be->iface->buffer_free(be, dout);
    return st;
}

mmrt_status mmrt_smolvlm_encode(const mmrt_smolvlm *v, mmrt_backend *be, const float *pixel_values,
                                int32_t n_tiles, float *out, mmrt_smolvlm_progress_fn progress,
                                void *user, mmrt_error *err) {
    const mmrt_siglip_hparams *vh = &v->vit.hp;
    size_t tile_px = (size_t)(vh->n_chan * vh->image * vh->image);
    size_t out_rows = (size_t)(v->image_seq_len * v->conn.text_hidden);
    mmrt_status st = MMRT_OK;
    for (int32_t t = 0; t < n_tiles && st == MMRT_OK; t++) {
        tile_out to = {.v = v, .be = be, .out = out + (size_t)t * out_rows};
        st = mmrt_siglip_encode_to(&v->vit, be, pixel_values + (size_t)t * tile_px, 1, connect_tile, &to, err);
        if (st == MMRT_OK && progress && progress(t + 1, n_tiles, user) != 0)
            st = mmrt_error_set(err, MMRT_ERR_ABORTED, "image encoding stopped by the progress callback "
                                                       "(after tile %d of this image's %d)", t + 1, n_tiles);
    }
    return st;
}
