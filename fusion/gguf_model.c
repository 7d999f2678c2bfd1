/* Llama-family GGUF files as mmrt checkpoints (see gguf_model.h). */
#include "gguf_model.h"

#include "core/gguf.h"
#include "core/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARCH "llama"
/* Head counts beyond any model are refused before rows are divided among heads (the config
 * parser's own bound comes later). */
#define MAX_HEADS (1 << 20)

/* GGUF tensor name (blk.N. removed) -> Hugging Face name (model.layers.N. removed). */
typedef struct name_map {
    const char *gguf, *hf;
    int permuted; /* 0, or the head count to undo the RoPE permutation with: 1 n_head, 2 n_head_kv */
} name_map;

static const name_map global_names[] = {
    {"token_embd.weight", "model.embed_tokens.weight", 0},
    {"output_norm.weight", "model.norm.weight", 0},
    {"output.weight", "lm_head.weight", 0},
};
static const name_map layer_names[] = {
    {"attn_norm.weight", "input_layernorm.weight", 0},
    {"attn_q.weight", "self_attn.q_proj.weight", 1},
    {"attn_k.weight", "self_attn.k_proj.weight", 2},
    {"attn_v.weight", "self_attn.v_proj.weight", 0},
    {"attn_output.weight", "self_attn.o_proj.weight", 0},
    {"ffn_norm.weight", "post_attention_layernorm.weight", 0},
    {"ffn_gate.weight", "mlp.gate_proj.weight", 0},
    {"ffn_up.weight", "mlp.up_proj.weight", 0},
    {"ffn_down.weight", "mlp.down_proj.weight", 0},
};

#define N_OF(a) (sizeof(a) / sizeof *(a))

bool mmrt_gguf_model_is_path(const char *path) {
    size_t n = path ? strlen(path) : 0;
    return n > 5 && strcmp(path + n - 5, ".gguf") == 0;
}

/* The Hugging Face name of GGUF tensor `name` into hf (cap bytes) and its permutation; false for
 * a name this loader does not know, or a block past the n_layer the file declares. */
static bool hf_name_of(const char *name, int64_t n_layer, char *hf, size_t cap, int *permuted) {
    for (size_t i = 0; i < N_OF(global_names); i++)
        if (strcmp(name, global_names[i].gguf) == 0) {
            *permuted = 0;
            return (size_t)snprintf(hf, cap, "%s", global_names[i].hf) < cap;
        }
    unsigned layer;
    int used = 0;
    if (sscanf(name, "blk.%u.%n", &layer, &used) != 1 || used == 0 || name[4] < '0' || name[4] > '9' ||
        (int64_t)layer >= n_layer)
        return false;
    for (size_t i = 0; i < N_OF(layer_names); i++)
        if (strcmp(name + used, layer_names[i].gguf) == 0) {
            *permuted = layer_names[i].permuted;
            return (size_t)snprintf(hf, cap, "model.layers.%u.%s", layer, layer_names[i].hf) < cap;
        }
    return false;
}

bool mmrt_gguf_model_hf_name(const char *name, int64_t n_layer, char *hf, size_t cap, int *permuted) {
    return hf_name_of(name, n_layer, hf, cap, permuted);
}

bool mmrt_gguf_model_gguf_name(const char *hf, char *name, size_t cap, int *permuted) {
    for (size_t i = 0; i < N_OF(global_names); i++)
        if (strcmp(hf, global_names[i].hf) == 0) {
            *permuted = 0;
            return (size_t)snprintf(name, cap, "%s", global_names[i].gguf) < cap;
        }
    unsigned layer;
    int used = 0;
    if (sscanf(hf, "model.layers.%u.%n", &layer, &used) != 1 || used == 0 || hf[13] < '0' || hf[13] > '9')
        return false;
    for (size_t i = 0; i < N_OF(layer_names); i++)
        if (strcmp(hf + used, layer_names[i].hf) == 0) {
            *permuted = layer_names[i].permuted;
            return (size_t)snprintf(name, cap, "blk.%u.%s", layer, layer_names[i].gguf) < cap;
        }
    return false;
}

static mmrt_status dtype_of(const mmrt_gguf *g, const mmrt_gguf_tensor *t, mmrt_dtype *out, mmrt_error *err) {
    static const mmrt_dtype all[] = {MMRT_F32, MMRT_F16, MMRT_BF16, MMRT_Q8_0, MMRT_Q4_0, MMRT_Q4_1,
                                     MMRT_Q5_0, MMRT_Q5_1, MMRT_Q4_K, MMRT_Q5_K, MMRT_Q6_K};
    for (size_t i = 0; i < N_OF(all); i++)
        if (mmrt_dtype_qtype(all[i]) == (int)t->type) {
            *out = all[i];
            return MMRT_OK;
        }
    const mmrt_qtype_info *info = mmrt_qtype_get((uint32_t)t->type);
    return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                          "%s: tensor %s has type %s, which mmrt cannot compute with (supported: f32, f16, bf16, "
                          "q8_0, q4_0, q4_1, q5_0, q5_1, q4_K, q5_K, q6_K)",
                          mmrt_gguf_path(g), t->name, info && info->name ? info->name : "?");
}

/* The rows of t in Hugging Face order (see gguf_model.h), into a buffer w keeps. */
static mmrt_status unpermute(mmrt_weights *w, const mmrt_gguf *g, const mmrt_gguf_tensor *t, int64_t n_head,
                             const void **data, mmrt_error *err) {
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    if (t->n_dims != 2 || rows % (2 * n_head) != 0)
        return mmrt_error_set(err, MMRT_ERR_MODEL,
                              "%s: tensor %s has %lld rows, not a whole number of heads of even size for %lld heads",
                              mmrt_gguf_path(g), t->name, (long long)rows, (long long)n_head);
    size_t row_bytes = t->n_bytes / (size_t)rows;
    int64_t d = rows / n_head, half = d / 2;
    uint8_t *dst = malloc(t->n_bytes);
    if (!dst) return mmrt_error_oom(err, t->n_bytes, t->name);
    MMRT_TRY(mmrt_weights_keep(w, dst, free, err));
    const uint8_t *src = t->data;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t j = 0; j < 2; j++)
            for (int64_t i = 0; i < half; i++)
                memcpy(dst + (size_t)(h * d + j * half + i) * row_bytes, src + (size_t)(h * d + 2 * i + j) * row_bytes,
                       row_bytes);
    *data = dst;
    return MMRT_OK;
}

static void gguf_free_fn(void *p) { mmrt_gguf_free(p); }

/* Every tensor of g into w under its Hugging Face name; *dtype the matrices' common type name. */
static mmrt_status add_tensors(mmrt_weights *w, const mmrt_gguf *g, const int64_t sizes[3], const char **dtype,
                               mmrt_error *err) {
    int matrix_type = -1;
    for (size_t i = 0; i < mmrt_gguf_tensor_count(g); i++) {
        const mmrt_gguf_tensor *t = mmrt_gguf_tensor_at(g, i);
        char hf[128];
        int permuted = 0;
        if (strcmp(t->name, "rope_freqs.weight") == 0) continue; /* read into the config's rope_scaling */
        if (!hf_name_of(t->name, sizes[0], hf, sizeof hf, &permuted))
            return mmrt_error_set(err, MMRT_ERR_MODEL,
                                  "%s: tensor %s is not part of a Llama model of %lld blocks that mmrt runs (an unknown "
                                  "name, a block past " ARCH ".block_count, or a feature such as biases it does not "
                                  "implement)",
                                  mmrt_gguf_path(g), t->name, (long long)sizes[0]);
        mmrt_dtype dt = MMRT_F32;
        MMRT_TRY(dtype_of(g, t, &dt, err));
        int64_t shape[MMRT_GGUF_MAX_DIMS];
        for (int d = 0; d < t->n_dims; d++) shape[d] = t->ne[t->n_dims - 1 - d];
        const void *data = t->data;
        if (permuted) MMRT_TRY(unpermute(w, g, t, sizes[permuted], &data, err));
        MMRT_TRY(mmrt_weights_add(w, hf, dt, t->n_dims, shape, data, t->n_bytes, err));
        if (t->n_dims == 2) matrix_type = matrix_type == -1 || matrix_type == (int)dt ? (int)dt : -2;
    }
    *dtype = matrix_type >= 0 ? mmrt_dtype_name((mmrt_dtype)matrix_type) : "mixed";
    return MMRT_OK;
}

/* ---- config ----------------------------------------------------------------------------------- */

static mmrt_status set_num(cJSON *c, const char *key, double v, mmrt_error *err) {
    return cJSON_AddNumberToObject(c, key, v) ? MMRT_OK : mmrt_error_oom(err, 0, "config");
}

/* GGUF integer key -> config key; absent optional keys are left out (the parser's default). */
static mmrt_status copy_int(const mmrt_gguf *g, cJSON *c, const char *gkey, const char *key, bool required,
                            int64_t *v, mmrt_error *err) {
    bool found = false;
    MMRT_TRY(mmrt_gguf_get_int(g, gkey, v, required ? NULL : &found, err));
    if (!required && !found) return MMRT_OK;
    return set_num(c, key, (double)*v, err);
}

/* head_dim from key_length (value_length must match), and a RoPE that covers the whole head. */
static mmrt_status head_config(const mmrt_gguf *g, cJSON *c, int64_t n_embd, int64_t n_head, int64_t *head_dim,
                               mmrt_error *err) {
    int64_t key_len = n_head > 0 ? n_embd / n_head : 0, v = 0, rot = 0;
    bool has_key = false, has_val = false, has_rot = false;
    MMRT_TRY(mmrt_gguf_get_int(g, ARCH ".attention.key_length", &key_len, &has_key, err));
    MMRT_TRY(mmrt_gguf_get_int(g, ARCH ".attention.value_length", &v, &has_val, err));
    MMRT_TRY(mmrt_gguf_get_int(g, ARCH ".rope.dimension_count", &rot, &has_rot, err));
    if (has_val && v != key_len)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: " ARCH ".attention.value_length %lld differs from the "
                              "key length %lld (not supported)", mmrt_gguf_path(g), (long long)v, (long long)key_len);
    if (has_rot && rot != key_len)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: " ARCH ".rope.dimension_count %lld is not the head "
                              "size %lld (partial RoPE is not supported for GGUF files)",
                              mmrt_gguf_path(g), (long long)rot, (long long)key_len);
    *head_dim = key_len;
    return has_key ? set_num(c, "head_dim", (double)key_len, err) : MMRT_OK;
}

/* The divisor convert_hf_to_gguf.py stores for frequency i of n_rot under Llama 3 scaling. */
double mmrt_gguf_llama3_divisor(double base, int64_t i, int64_t n_rot, double factor, double low, double high,
                             double orig) {
    double freq = 1.0 / pow(base, (double)(2 * i) / (double)n_rot);
    double wavelen = 2.0 * M_PI / freq;
    if (wavelen < orig / high) return 1.0;
    if (wavelen > orig / low) return factor;
    double smooth = (orig / wavelen - low) / (high - low);
    return 1.0 / ((1.0 - smooth) / factor + smooth);
}

/* Llama 3.1-style RoPE scaling: the converter stores no parameters, only rope_freqs.weight, the
 * n_rot/2 divisors of the frequencies. factor is the largest divisor; low_freq_factor 1,
 * high_freq_factor 4 and the original context (llama.rope.scaling.original_context_length, else
 * 8192) are Llama 3.1's and 3.2's, accepted when they reproduce every divisor (to 1e-4, the
 * converter computes in f32); other divisors are refused. */
static mmrt_status llama3_config(const mmrt_gguf *g, const mmrt_gguf_tensor *t, double base, int64_t n_rot, cJSON *c,
                                 mmrt_error *err) {
    if (t->type != MMRT_QTYPE_F32 || t->n_dims != 1 || t->ne[0] != n_rot / 2)
        return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: rope_freqs.weight must be %lld f32 values", mmrt_gguf_path(g),
                              (long long)(n_rot / 2));
    int64_t orig = 8192;
    bool found;
    MMRT_TRY(mmrt_gguf_get_int(g, ARCH ".rope.scaling.original_context_length", &orig, &found, err));
    const float *div = t->data; /* GGUF data is aligned to at least 32 bytes */
    double factor = 0.0;
    for (int64_t i = 0; i < n_rot / 2; i++) factor = fmax(factor, (double)div[i]);
    for (int64_t i = 0; i < n_rot / 2 && factor >= 1.0; i++) {
        double want = mmrt_gguf_llama3_divisor(base, i, n_rot, factor, 1.0, 4.0, (double)orig);
        if (!(fabs((double)div[i] - want) <= 1e-4 * want)) factor = 0.0;
    }
    if (!(factor >= 1.0))
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: rope_freqs.weight is not Llama 3 RoPE scaling with low_freq_factor 1, "
                              "high_freq_factor 4 and original context %lld (the only per-frequency scaling supported)",
                              mmrt_gguf_path(g), (long long)orig);
    cJSON *rs = cJSON_AddObjectToObject(c, "rope_scaling");
    if (!rs || !cJSON_AddStringToObject(rs, "rope_type", "llama3")) return mmrt_error_oom(err, 0, "config");
    MMRT_TRY(set_num(rs, "factor", factor, err));
    MMRT_TRY(set_num(rs, "low_freq_factor", 1.0, err));
    MMRT_TRY(set_num(rs, "high_freq_factor", 4.0, err));
    return set_num(rs, "original_max_position_embeddings", (double)orig, err);
}

/* rope_theta and rope_scaling ("linear"; llama.cpp's "none" is no scaling; Llama 3's from
 * rope_freqs.weight). n_rot: the rotated dims per head. */
static mmrt_status rope_config(const mmrt_gguf *g, cJSON *c, int64_t n_rot, mmrt_error *err) {
    double base = 10000.0, factor = 1.0;
    bool found = false, has_factor = false;
    MMRT_TRY(mmrt_gguf_get_float(g, ARCH ".rope.freq_base", &base, &found, err));
    MMRT_TRY(set_num(c, "rope_theta", base, err));
    const mmrt_gguf_tensor *freqs = mmrt_gguf_find_tensor(g, "rope_freqs.weight");
    if (freqs) return llama3_config(g, freqs, base, n_rot, c, err);
    const char *type = NULL;
    size_t len = 0;
    MMRT_TRY(mmrt_gguf_get_str(g, ARCH ".rope.scaling.type", &type, &len, &found, err));
    MMRT_TRY(mmrt_gguf_get_float(g, ARCH ".rope.scaling.factor", &factor, &has_factor, err));
    if (!found && !has_factor) MMRT_TRY(mmrt_gguf_get_float(g, ARCH ".rope.scale_linear", &factor, &has_factor, err));
    bool none = found ? len == 4 && memcmp(type, "none", 4) == 0 : !has_factor || factor == 1.0;
    if (none) return MMRT_OK;
    if (found && !(len == 6 && memcmp(type, "linear", 6) == 0))
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: " ARCH ".rope.scaling.type \"%.*s\" is not supported (supported: none, linear)",
                              mmrt_gguf_path(g), (int)(len > 64 ? 64 : len), type);
    cJSON *rs = cJSON_AddObjectToObject(c, "rope_scaling");
    if (!rs || !cJSON_AddStringToObject(rs, "rope_type", "linear")) return mmrt_error_oom(err, 0, "config");
    return set_num(rs, "factor", factor, err);
}

/* bos_token_id, and eos_token_id as the list of ids that end a turn (eos, eot, eom). */
static mmrt_status token_ids(const mmrt_gguf *g, cJSON *c, mmrt_error *err) {
    int64_t id;
    bool found;
    MMRT_TRY(mmrt_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &id, &found, err));
    if (found) MMRT_TRY(set_num(c, "bos_token_id", (double)id, err));
    cJSON *eos = cJSON_AddArrayToObject(c, "eos_token_id");
    if (!eos) return mmrt_error_oom(err, 0, "config");
    static const char *const keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                                       "tokenizer.ggml.eom_token_id"};
    int64_t seen[3];
    int n = 0;
    for (int k = 0; k < 3; k++) {
        MMRT_TRY(mmrt_gguf_get_int(g, keys[k], &id, &found, err));
        bool dup = false;
        for (int i = 0; i < n; i++) dup |= seen[i] == id;
        if (!found || dup) continue;
        seen[n++] = id;
        cJSON *v = cJSON_CreateNumber((double)id);
        if (!v) return mmrt_error_oom(err, 0, "config");
        cJSON_AddItemToArray(eos, v);
    }
    return MMRT_OK;
}

/* The config.json object of g (see gguf_model.h); sizes = n_layer, n_head, n_head_kv. */
static mmrt_status build_config(const mmrt_gguf *g, cJSON *c, int64_t sizes[3], mmrt_error *err) {
    if (!cJSON_AddStringToObject(c, "model_type", "llama") || !cJSON_AddStringToObject(c, "hidden_act", "silu"))
        return mmrt_error_oom(err, 0, "config");
    int64_t n_embd = 0, v = 0;
    MMRT_TRY(copy_int(g, c, ARCH ".embedding_length", "hidden_size", true, &n_embd, err));
    MMRT_TRY(copy_int(g, c, ARCH ".feed_forward_length", "intermediate_size", true, &v, err));
    MMRT_TRY(copy_int(g, c, ARCH ".block_count", "num_hidden_layers", true, &sizes[0], err));
    MMRT_TRY(copy_int(g, c, ARCH ".attention.head_count", "num_attention_heads", true, &sizes[1], err));
    sizes[2] = sizes[1];
    MMRT_TRY(copy_int(g, c, ARCH ".attention.head_count_kv", "num_key_value_heads", false, &sizes[2], err));
    MMRT_TRY(copy_int(g, c, ARCH ".context_length", "max_position_embeddings", false, &v, err));
    if (sizes[1] < 1 || sizes[2] < 1 || sizes[1] > MAX_HEADS || sizes[2] > MAX_HEADS)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: head counts must be in [1, %d], got %lld and %lld",
                              mmrt_gguf_path(g), MAX_HEADS, (long long)sizes[1], (long long)sizes[2]);
    int64_t head_dim = 0;
    MMRT_TRY(head_config(g, c, n_embd, sizes[1], &head_dim, err));
    double eps;
    MMRT_TRY(mmrt_gguf_get_float(g, ARCH ".attention.layer_norm_rms_epsilon", &eps, NULL, err));
    MMRT_TRY(set_num(c, "rms_norm_eps", eps, err));
    MMRT_TRY(rope_config(g, c, head_dim, err));
    /* the vocabulary: llama.vocab_size, else the embedding table's rows */
    bool found = false;
    MMRT_TRY(mmrt_gguf_get_int(g, ARCH ".vocab_size", &v, &found, err));
    const mmrt_gguf_tensor *embd = mmrt_gguf_find_tensor(g, "token_embd.weight");
    if (!found && !embd)
        return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: tensor token_embd.weight is missing", mmrt_gguf_path(g));
    MMRT_TRY(set_num(c, "vocab_size", (double)(found ? v : embd->ne[1]), err));
    if (!cJSON_AddBoolToObject(c, "tie_word_embeddings", !mmrt_gguf_find_tensor(g, "output.weight")))
        return mmrt_error_oom(err, 0, "config");
    return token_ids(g, c, err);
}

/* ---- chat template ------------------------------------------------------------------------------ */

static mmrt_status template_var(mmrt_chat_template *t, const mmrt_tokenizer *tok, const mmrt_gguf *g,
                                const char *key, const char *var, mmrt_error *err) {
    int64_t id;
    bool found;
    MMRT_TRY(mmrt_gguf_get_int(g, key, &id, &found, err));
    const char *text = found && id >= 0 && id < INT32_MAX ? mmrt_tokenizer_token_text(tok, (int32_t)id) : NULL;
    if (!text) return MMRT_OK;
    return cJSON_AddStringToObject(t->vars, var, text) ? MMRT_OK : mmrt_error_oom(err, strlen(text), var);
}

static mmrt_status load_chat(const mmrt_gguf *g, const mmrt_tokenizer *tok, mmrt_chat_template *t, mmrt_error *err) {
    const char *s;
    size_t len;
    bool found;
    MMRT_TRY(mmrt_gguf_get_str(g, "tokenizer.chat_template", &s, &len, &found, err));
    if (!found) return MMRT_OK;
    char *text = malloc(len + 1);
    if (!text) return mmrt_error_oom(err, len + 1, "chat template");
    memcpy(text, s, len);
    text[len] = '\0';
    char source[1024];
    snprintf(source, sizeof source, "%s (tokenizer.chat_template)", mmrt_gguf_path(g));
    mmrt_status st = mmrt_chat_template_parse(text, source, t, err);
    free(text);
    MMRT_TRY(st);
    MMRT_TRY(template_var(t, tok, g, "tokenizer.ggml.bos_token_id", "bos_token", err));
    return template_var(t, tok, g, "tokenizer.ggml.eos_token_id", "eos_token", err);
}

/* ---- open --------------------------------------------------------------------------------------- */

static mmrt_status check_arch(const mmrt_gguf *g, mmrt_error *err) {
    const char *arch;
    size_t len;
    MMRT_TRY(mmrt_gguf_get_str(g, "general.architecture", &arch, &len, NULL, err));
    if (len == strlen(ARCH) && memcmp(arch, ARCH, len) == 0) return MMRT_OK;
    return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                          "%s: general.architecture \"%.*s\" is not supported for GGUF files (supported: " ARCH ")",
                          mmrt_gguf_path(g), (int)(len > 64 ? 64 : len), arch);
}

static mmrt_status open_parts(mmrt_gguf *g, mmrt_gguf_model *m, mmrt_error *err) {
    MMRT_TRY(check_arch(g, err));
    if (!(m->config = cJSON_CreateObject())) return mmrt_error_oom(err, 0, "config");
    int64_t sizes[3] = {0};
    MMRT_TRY(build_config(g, m->config, sizes, err));
    MMRT_TRY(add_tensors(m->weights, g, sizes, &m->dtype, err));
    MMRT_TRY(mmrt_weights_finish(m->weights, err));
    MMRT_TRY(mmrt_tokenizer_load_gguf(g, &m->tok, err));
    return load_chat(g, m->tok, &m->chat, err);
}

mmrt_status mmrt_gguf_model_open(const char *path, mmrt_gguf_model *out, mmrt_error *err) {
    memset(out, 0, sizeof *out);
    mmrt_gguf *g = NULL;
    MMRT_TRY(mmrt_gguf_open(path, &g, err));
    mmrt_gguf *held = g;
    mmrt_status st = mmrt_weights_new(path, &out->weights, err);
    if (st == MMRT_OK) {
        /* the mapping outlives the tensors over it (freed by w, also when keeping fails) */
        st = mmrt_weights_keep(out->weights, g, gguf_free_fn, err);
        g = NULL;
    }
    mmrt_gguf_free(g);
    if (st == MMRT_OK) st = open_parts(held, out, err);
    if (st != MMRT_OK) mmrt_gguf_model_free(out);
    return st;
}

void mmrt_gguf_model_free(mmrt_gguf_model *m) {
    if (!m) return;
    mmrt_weights_free(m->weights);
    cJSON_Delete(m->config);
    mmrt_tokenizer_free(m->tok);
    mmrt_chat_template_free(&m->chat);
    memset(m, 0, sizeof *m);
}
