/* PEFT LoRA adapters (see lora.h). */
#include "lora.h"

#include "core/fsutil.h"
#include "core/json.h"
#include "core/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The decoder's projections by their module name, and their (out, in) sizes. */
static const char *const target_names[MMRT_LORA_N_TARGETS] = {
    [MMRT_LORA_Q] = "q_proj",       [MMRT_LORA_K] = "k_proj",   [MMRT_LORA_V] = "v_proj",
    [MMRT_LORA_O] = "o_proj",       [MMRT_LORA_GATE] = "gate_proj", [MMRT_LORA_UP] = "up_proj",
    [MMRT_LORA_DOWN] = "down_proj",
};
static const char *const target_block[MMRT_LORA_N_TARGETS] = {
    [MMRT_LORA_Q] = "self_attn", [MMRT_LORA_K] = "self_attn", [MMRT_LORA_V] = "self_attn", [MMRT_LORA_O] = "self_attn",
    [MMRT_LORA_GATE] = "mlp",    [MMRT_LORA_UP] = "mlp",      [MMRT_LORA_DOWN] = "mlp",
};

static void proj_dims(const mmrt_llm_hparams *hp, mmrt_lora_target t, int64_t *out, int64_t *in) {
    int64_t qd = hp->n_head * hp->head_dim, kvd = hp->n_head_kv * hp->head_dim;
    switch (t) {
    case MMRT_LORA_Q: *out = qd, *in = hp->n_embd; break;
    case MMRT_LORA_K:
    case MMRT_LORA_V: *out = kvd, *in = hp->n_embd; break;
    case MMRT_LORA_O: *out = hp->n_embd, *in = qd; break;
    case MMRT_LORA_GATE:
    case MMRT_LORA_UP: *out = hp->n_ff, *in = hp->n_embd; break;
    default: *out = hp->n_embd, *in = hp->n_ff; break;
    }
}

bool mmrt_lora_present(const char *dir) {
    char *p = mmrt_fs_path_join(dir, MMRT_LORA_CONFIG_FILE);
    bool yes = p && mmrt_fs_is_file(p);
    free(p);
    return yes;
}

mmrt_status mmrt_lora_require(const char *dir, const char *why, mmrt_error *err) {
    static const char *const files[] = {MMRT_LORA_CONFIG_FILE, MMRT_LORA_WEIGHTS_FILE};
    for (int i = 0; i < 2; i++) {
        char *p = mmrt_fs_path_join(dir, files[i]);
        if (!p) return mmrt_error_oom(err, 0, "path");
        bool found = mmrt_fs_is_file(p);
        mmrt_status st = found ? MMRT_OK
                               : mmrt_error_set(err, MMRT_ERR_MODEL,
                                                "%s: %s, but the LoRA adapter file %s is missing (without it the "
                                                "model computes something it was not trained for)",
                                                p, why, files[i]);
        free(p);
        MMRT_TRY(st);
    }
    return MMRT_OK;
}

/* ---- adapter_config.json ------------------------------------------------------------------ */

/* Keys whose non-default value changes what the adapter computes and that this runtime does not
 * implement. "default" means: absent, null, false, "none", {} or []. */
static const char *const refused_keys[] = {
    "use_dora", "rank_pattern", "alpha_pattern", "modules_to_save", "fan_in_fan_out", "layers_to_transform",
    "layers_pattern", "exclude_modules", "trainable_token_indices", "target_parameters", "lora_bias",
    "layer_replication", "alora_invocation_tokens", "use_qalora", "use_bdlora", "arrow_config", "velora_config",
    "kasa_config", "astra_config", "monteclora_config",
};

static bool is_default(const cJSON *v) {
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return true;
    if (cJSON_IsString(v)) return strcmp(v->valuestring, "none") == 0;
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) return cJSON_GetArraySize(v) == 0;
    return false;
}

static mmrt_status parse_targets(const cJSON *cfg, const char *path, unsigned *targets, mmrt_error *err) {
    const cJSON *list = mmrt_json_find(cfg, "target_modules");
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: target_modules must be a non-empty list of module names (a regex string or "
                              "\"all-linear\" is not supported)",
                              path);
    *targets = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        int found = -1;
        for (int t = 0; t < MMRT_LORA_N_TARGETS && cJSON_IsString(item); t++)
            if (strcmp(item->valuestring, target_names[t]) == 0) found = t;
        if (found < 0)
            return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                                  "%s: target_modules entry %s is not supported (supported: q_proj, k_proj, v_proj, "
                                  "o_proj, gate_proj, up_proj, down_proj)",
                                  path, cJSON_IsString(item) ? item->valuestring : "(not a string)");
        *targets |= 1u << found;
    }
    return MMRT_OK;
}

static mmrt_status parse_config(mmrt_lora *lo, const cJSON *cfg, const char *path, mmrt_error *err) {
    if (!cJSON_IsObject(cfg)) return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: not a JSON object", path);
    const char *type = NULL;
    MMRT_TRY(mmrt_json_get_string(cfg, "peft_type", true, &type, path, err));
    if (strcmp(type, "LORA") != 0)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: peft_type \"%s\" is not supported (only LORA)", path,
                              type);
    for (size_t i = 0; i < sizeof refused_keys / sizeof *refused_keys; i++)
        if (!is_default(mmrt_json_find(cfg, refused_keys[i])))
            return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: %s is set; this LoRA runtime does not implement it",
                                  path, refused_keys[i]);
    const char *bias = NULL;
    MMRT_TRY(mmrt_json_get_string(cfg, "bias", false, &bias, path, err));
    if (bias && strcmp(bias, "none") != 0)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: bias \"%s\" is not supported (only \"none\")", path,
                              bias);
    MMRT_TRY(mmrt_json_get_int(cfg, "r", true, 0, 1, 1 << 16, &lo->r, path, err));
    double alpha = 0;
    bool rslora = false;
    MMRT_TRY(mmrt_json_get_double(cfg, "lora_alpha", true, 0, &alpha, path, err));
    MMRT_TRY(mmrt_json_get_bool(cfg, "use_rslora", false, false, &rslora, path, err));
    if (!(fabs(alpha) < 1e6))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: lora_alpha %g is out of range", path, alpha);
    /* PEFT's LoraLayer.update_layer: scaling = alpha / sqrt(r) with rsLoRA, else alpha / r */
    lo->scale = (float)(rslora ? alpha / sqrt((double)lo->r) : alpha / (double)lo->r);
    return parse_targets(cfg, path, &lo->targets, err);
}

/* ---- adapter_model.safetensors ------------------------------------------------------------ */

#define PEFT_PREFIX "base_model.model."

/* The prefix of the adapter's layer keys, "base_model.model." + P + "layers.N...". PEFT names them
 * after the modules of the model in memory, which is not always how the checkpoint stores the
 * base weights: transformers 5 loads GraniteSpeech's "language_model.model.layers..." as the
 * module "model.language_model.layers...". So P may be the decoder's prefix or, for a two-part
 * prefix, its two parts swapped; anything else is an error naming both. */
static mmrt_status adapter_prefix(const mmrt_weights *w, const char *decoder_prefix, char *out, size_t cap,
                                  mmrt_error *err) {
    const mmrt_st_tensor *t0 = mmrt_weights_at(w, 0);
    if (!t0) return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: the adapter has no tensors", mmrt_weights_path(w));
    const char *rest = strncmp(t0->name, PEFT_PREFIX, strlen(PEFT_PREFIX)) == 0 ? t0->name + strlen(PEFT_PREFIX) : NULL;
    const char *layers = rest ? strstr(rest, "layers.") : NULL;
    char swapped[256] = "";
    const char *dot = strchr(decoder_prefix, '.');
    if (dot && dot[1] && strchr(dot + 1, '.') && !strchr(dot + 1, '.')[1]) /* "a.b." -> "b.a." */
        snprintf(swapped, sizeof swapped, "%.*s.%.*s.", (int)(strlen(dot + 1) - 1), dot + 1,
                 (int)(dot - decoder_prefix), decoder_prefix);
    if (layers && (size_t)(layers - rest) < cap) {
        snprintf(out, cap, "%.*s", (int)(layers - rest), rest);
        if (strcmp(out, decoder_prefix) == 0 || strcmp(out, swapped) == 0) return MMRT_OK;
    }
    return mmrt_error_set(err, MMRT_ERR_MODEL,
                          "%s: tensor %s is not under " PEFT_PREFIX "%slayers.N%s%s (where the decoder's layers are)",
                          t0->file, t0->name, decoder_prefix, swapped[0] ? " or " PEFT_PREFIX : "", swapped);
}

static mmrt_status bind_proj(mmrt_lora *lo, const mmrt_llm_hparams *hp, const char *decoder_prefix, int64_t il,
                             mmrt_lora_target t, mmrt_error *err) {
    int64_t out, in;
    proj_dims(hp, t, &out, &in);
    mmrt_lora_proj *p = &lo->layers[il].proj[t];
    for (int k = 0; k < 2; k++) {
        char name[512];
        snprintf(name, sizeof name, PEFT_PREFIX "%slayers.%lld.%s.%s.lora_%c.weight", decoder_prefix,
                 (long long)il, target_block[t], target_names[t], k ? 'B' : 'A');
        mmrt_tensor *dst = k ? &p->b : &p->a;
        MMRT_TRY(mmrt_weights_bind(lo->weights, name, k ? out : lo->r, k ? lo->r : in, dst, &lo->bytes, err));
        const mmrt_st_tensor *st = mmrt_weights_find(lo->weights, name);
        MMRT_TRY(mmrt_weight_list_add(&lo->list, dst, st->name, err));
    }
    return MMRT_OK;
}

static mmrt_status load_weights(mmrt_lora *lo, const char *dir, const mmrt_llm_hparams *hp,
                                const char *decoder_prefix, mmrt_error *err) {
    char *path = mmrt_fs_path_join(dir, MMRT_LORA_WEIGHTS_FILE);
    if (!path) return mmrt_error_oom(err, 0, "path");
    mmrt_status st = mmrt_fs_is_file(path) ? mmrt_weights_open(path, &lo->weights, err)
                                           : mmrt_error_set(err, MMRT_ERR_MODEL,
                                                            "%s: missing (the adapter's weights; %s is there)", path,
                                                            MMRT_LORA_CONFIG_FILE);
    free(path);
    MMRT_TRY(st);
    char prefix[256];
    MMRT_TRY(adapter_prefix(lo->weights, decoder_prefix, prefix, sizeof prefix, err));
    lo->n_layer = hp->n_layer;
    if (!(lo->layers = calloc((size_t)hp->n_layer, sizeof *lo->layers)))
        return mmrt_error_oom(err, (size_t)hp->n_layer * sizeof *lo->layers, "LoRA layers");
    for (int64_t il = 0; il < hp->n_layer; il++)
        for (int t = 0; t < MMRT_LORA_N_TARGETS; t++)
            if (lo->targets & 1u << t) MMRT_TRY(bind_proj(lo, hp, prefix, il, t, err));
    /* every tensor of the file must be one of those: anything else (biases, DoRA magnitudes,
     * embeddings, another prefix) would be silently ignored otherwise */
    if (lo->list.n != mmrt_weights_count(lo->weights)) {
        for (size_t i = 0; i < mmrt_weights_count(lo->weights); i++) {
            const mmrt_st_tensor *t = mmrt_weights_at(lo->weights, i);
            bool used = false;
            for (size_t j = 0; j < lo->list.n && !used; j++) used = strcmp(lo->list.items[j].name, t->name) == 0;
            if (!used)
                return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                                      "%s: tensor %s is not a lora_A/lora_B of a target_modules projection under "
                                      PEFT_PREFIX "%slayers.N; such tensors are not supported",
                                      t->file, t->name, prefix);
        }
    }
    return MMRT_OK;
}

mmrt_status mmrt_lora_load(mmrt_lora *lo, const char *dir, const mmrt_llm_hparams *hp, const char *decoder_prefix,
                           mmrt_error *err) {
    memset(lo, 0, sizeof *lo);
    snprintf(lo->name, sizeof lo->name, "%s", MMRT_LORA_DEFAULT_NAME);
    char *path = mmrt_fs_path_join(dir, MMRT_LORA_CONFIG_FILE);
    if (!path) return mmrt_error_oom(err, 0, "path");
    cJSON *cfg = NULL;
    mmrt_status st = mmrt_json_load_file(path, &cfg, err);
    if (st == MMRT_OK) st = parse_config(lo, cfg, path, err);
    cJSON_Delete(cfg);
    free(path);
    if (st == MMRT_OK) st = load_weights(lo, dir, hp, decoder_prefix, err);
    if (st != MMRT_OK) mmrt_lora_free(lo);
    return st;
}

mmrt_status mmrt_lora_upload(mmrt_lora *lo, mmrt_weight_upload *u, mmrt_error *err) {
    return mmrt_weight_list_upload(&lo->list, u, err);
}

void mmrt_lora_free(mmrt_lora *lo) {
    if (!lo) return;
    free(lo->layers);
    mmrt_weight_list_free(&lo->list);
    mmrt_weights_free(lo->weights);
    memset(lo, 0, sizeof *lo);
}

/* ---- forward ------------------------------------------------------------------------------ */

mmrt_status mmrt_lora_apply(const mmrt_lora *lo, const mmrt_lora_proj *p, mmrt_backend *be, mmrt_arena *arena,
                            mmrt_tensor *y, const mmrt_tensor *x, mmrt_error *err) {
    if (!p->a.data) return MMRT_OK;
    int64_t n = x->ne[1];
    size_t mark = mmrt_arena_mark(arena);
    mmrt_tensor ax = mmrt_arena_matrix(arena, be, lo->r, n, err);       /* (n, r) */
    mmrt_tensor bax = mmrt_arena_matrix(arena, be, y->ne[0], n, err);   /* (n, out) */
    if (!ax.data || !bax.data) return err ? err->status : MMRT_ERR_OOM;
    MMRT_TRY(mmrt_matmul(be, &ax, x, &p->a, err));
    MMRT_TRY(mmrt_matmul(be, &bax, &ax, &p->b, err));
    /* PEFT: result + lora_B(lora_A(x)) * scaling; the scale goes on the (n, out) product as there */
    if (lo->scale != 1.0f) MMRT_TRY(mmrt_scale(be, &bax, &bax, lo->scale, err));
    MMRT_TRY(mmrt_add(be, y, y, &bax, err));
    mmrt_arena_reset(arena, mark);
    return MMRT_OK;
}
