/* The KVs of a Hugging Face Llama checkpoint as convert_hf_to_gguf.py writes them (see gguf_export.h):
 * facts read from llama.cpp's conversion/base.py and conversion/llama.py, not their code. */
#include "gguf_export.h"

#include "core/fsutil.h"
#include "core/json.h"
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARCH "llama"

/* gguf-py's TokenType. */
enum { TOKEN_NORMAL = 1, TOKEN_CONTROL = 3, TOKEN_USER_DEFINED = 4, TOKEN_UNUSED = 5 };

static mmrt_status set_u32(mmrt_gguf_writer *w, const char *key, int64_t v, mmrt_error *err) {
    return mmrt_gguf_writer_set_u32(w, key, (uint32_t)v, err);
}

static mmrt_status set_cstr(mmrt_gguf_writer *w, const char *key, const char *s, mmrt_error *err) {
    return mmrt_gguf_writer_set_str(w, key, s, strlen(s), err);
}

/* RoPE: the base, the rotated dims, and the scaling llama.cpp reads (linear: type and factor;
 * Llama 3: rope_freqs.weight, written with the tensors, and the original context). */
static mmrt_status rope_kvs(mmrt_gguf_writer *w, const mmrt_llm_hparams *hp, mmrt_error *err) {
    MMRT_TRY(mmrt_gguf_writer_set_f32(w, ARCH ".rope.freq_base", (float)hp->rope_theta, err));
    MMRT_TRY(set_u32(w, ARCH ".rope.dimension_count", hp->n_rot, err));
    if (hp->rope_type == MMRT_ROPE_LINEAR) {
        MMRT_TRY(set_cstr(w, ARCH ".rope.scaling.type", "linear", err));
        return mmrt_gguf_writer_set_f32(w, ARCH ".rope.scaling.factor", (float)hp->rope_factor, err);
    }
    if (hp->rope_type == MMRT_ROPE_LLAMA3)
        return set_u32(w, ARCH ".rope.scaling.original_context_length", hp->rope_orig_ctx, err);
    return MMRT_OK;
}

/* general.name: the directory's last component (the converter title-cases it; a label only). */
static mmrt_status general_name(mmrt_gguf_writer *w, const char *dir, mmrt_error *err) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    return mmrt_gguf_writer_set_str(w, "general.name", dir + b, n - b, err);
}

static mmrt_status hparam_kvs(mmrt_gguf_writer *w, const char *dir, const mmrt_llm_hparams *hp, bool head_dim_key,
                              mmrt_dtype qt, mmrt_error *err) {
    if (hp->n_rot != hp->head_dim)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: partial RoPE (%lld of %lld dims) cannot be written as a "
                              "Llama GGUF", dir, (long long)hp->n_rot, (long long)hp->head_dim);
    if (hp->logit_scale != 1.0f || hp->embd_scale != 1.0f || hp->residual_scale != 1.0f)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: multipliers (Granite) cannot be written as a Llama GGUF",
                              dir);
    MMRT_TRY(set_cstr(w, "general.architecture", ARCH, err));
    MMRT_TRY(set_cstr(w, "general.type", "model", err));
    MMRT_TRY(general_name(w, dir, err));
    MMRT_TRY(set_u32(w, ARCH ".block_count", hp->n_layer, err));
    MMRT_TRY(set_u32(w, ARCH ".context_length", hp->n_ctx_train, err));
    MMRT_TRY(set_u32(w, ARCH ".embedding_length", hp->n_embd, err));
    MMRT_TRY(set_u32(w, ARCH ".feed_forward_length", hp->n_ff, err));
    MMRT_TRY(set_u32(w, ARCH ".attention.head_count", hp->n_head, err));
    MMRT_TRY(set_u32(w, ARCH ".attention.head_count_kv", hp->n_head_kv, err));
    MMRT_TRY(mmrt_gguf_writer_set_f32(w, ARCH ".attention.layer_norm_rms_epsilon", hp->rms_eps, err));
    if (head_dim_key) { /* as the converter: when config.json has head_dim */
        MMRT_TRY(set_u32(w, ARCH ".attention.key_length", hp->head_dim, err));
        MMRT_TRY(set_u32(w, ARCH ".attention.value_length", hp->head_dim, err));
    }
    MMRT_TRY(set_u32(w, "general.file_type", mmrt_gguf_export_file_type(qt), err));
    MMRT_TRY(set_u32(w, ARCH ".vocab_size", hp->n_vocab, err));
    MMRT_TRY(rope_kvs(w, hp, err));
    return set_u32(w, "general.quantization_version", 2, err);
}

/* ---- tokenizer ---------------------------------------------------------------------------------- */

typedef struct vocab {
    const char **tokens; /* into the tokenizer.json tree, or pad[] */
    int32_t *types;
    char **owned;        /* "[PADn]" names and merges made here */
    size_t n, n_owned;
} vocab;

static void vocab_free(vocab *v) {
    for (size_t i = 0; i < v->n_owned; i++) free(v->owned[i]);
    free(v->owned);
    free(v->tokens);
    free(v->types);
}

static char *vocab_own(vocab *v, size_t len) {
    char *s = malloc(len);
    if (s) v->owned[v->n_owned++] = s;
    return s;
}

/* Token id of entry item (an "id" field or, in model.vocab, the value) checked against the vocab. */
static mmrt_status token_at(const vocab *v, const cJSON *id, const char *path, int64_t *out, mmrt_error *err) {
    if (!mmrt_json_exact_int(id, out) || *out < 0 || (size_t)*out >= v->n)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: a token id outside [0, %zu)", path, v->n);
    return MMRT_OK;
}

/* tokens[id] and types[id] from model.vocab and added_tokens; ids left free become "[PADid]". */
static mmrt_status fill_vocab(vocab *v, const cJSON *root, const char *path, mmrt_error *err) {
    const cJSON *mv = mmrt_json_find(mmrt_json_find(root, "model"), "vocab");
    const cJSON *added = mmrt_json_find(root, "added_tokens");
    for (const cJSON *t = mv ? mv->child : NULL; t; t = t->next) {
        int64_t id;
        MMRT_TRY(token_at(v, t, path, &id, err));
        v->tokens[id] = t->string;
        v->types[id] = TOKEN_NORMAL;
    }
    for (const cJSON *a = cJSON_IsArray(added) ? added->child : NULL; a; a = a->next) {
        int64_t id;
        const cJSON *content = mmrt_json_find(a, "content");
        MMRT_TRY(token_at(v, mmrt_json_find(a, "id"), path, &id, err));
        if (!cJSON_IsString(content))
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: added token %lld has no content", path, (long long)id);
        v->tokens[id] = content->valuestring;
        v->types[id] = cJSON_IsTrue(mmrt_json_find(a, "special")) ? TOKEN_CONTROL : TOKEN_USER_DEFINED;
    }
    for (size_t i = 0; i < v->n; i++) {
        if (v->tokens[i]) continue;
        char *pad = vocab_own(v, 32);
        if (!pad) return mmrt_error_oom(err, 32, "vocabulary");
        snprintf(pad, 32, "[PAD%zu]", i);
        v->tokens[i] = pad;
        v->types[i] = TOKEN_UNUSED;
    }
    return MMRT_OK;
}

/* model.merges as "a b" strings (tokenizers writes them as such or as ["a", "b"] pairs). */
static mmrt_status merges_kv(mmrt_gguf_writer *w, vocab *v, const cJSON *root, const char *path, mmrt_error *err) {
    const cJSON *merges = mmrt_json_find(mmrt_json_find(root, "model"), "merges");
    size_t n = cJSON_IsArray(merges) ? (size_t)cJSON_GetArraySize(merges) : 0, k = 0;
    const char **list = calloc(n ? n : 1, sizeof *list);
    if (!list) return mmrt_error_oom(err, n * sizeof *list, "merges");
    mmrt_status st = MMRT_OK;
    for (const cJSON *m = n ? merges->child : NULL; m && st == MMRT_OK; m = m->next) {
        const cJSON *a = cJSON_IsArray(m) ? m->child : NULL, *b = a ? a->next : NULL;
        if (cJSON_IsString(m)) {
            list[k++] = m->valuestring;
        } else if (cJSON_IsString(a) && cJSON_IsString(b) && !b->next) {
            size_t len = strlen(a->valuestring) + strlen(b->valuestring) + 2;
            char *s = vocab_own(v, len);
            if (!s) st = mmrt_error_oom(err, len, "merges");
            else snprintf(s, len, "%s %s", a->valuestring, b->valuestring);
            list[k++] = s;
        } else {
            st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: merge %zu is neither \"a b\" nor [a, b]", path, k);
        }
    }
    if (st == MMRT_OK) st = mmrt_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", list, k, err);
    free(list);
    return st;
}

/* The id of the special token s ({"content": ...} or a string), else -1. */
static int64_t token_id(const vocab *v, const cJSON *s) {
    if (cJSON_IsObject(s)) s = mmrt_json_find(s, "content");
    if (!cJSON_IsString(s)) return -1;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->tokens[i], s->valuestring) == 0) return (int64_t)i;
    return -1;
}

/* add[0] / add[1] (add_bos / add_eos: -1 unset, 0, 1) as gguf-py's SpecialVocab reads the
 * post-processor: ByteLevel adds neither (unless another step says so); TemplateProcessing's single
 * template adds bos when it opens with the bos token, eos when it closes with the eos token. */
static void post_processor_adds(const cJSON *root, const cJSON *tc, int add[2]) {
    const cJSON *pp = mmrt_json_find(root, "post_processor"), *list = mmrt_json_find(pp, "processors");
    const cJSON *first = cJSON_IsArray(list) ? list->child : pp;
    for (const cJSON *p = first; p; p = p == pp ? NULL : p->next) {
        const cJSON *type = mmrt_json_find(p, "type"), *single = mmrt_json_find(p, "single");
        if (!cJSON_IsString(type)) continue;
        if (strcmp(type->valuestring, "ByteLevel") == 0) {
            for (int i = 0; i < 2; i++) add[i] = add[i] < 0 ? 0 : add[i];
        } else if (strcmp(type->valuestring, "TemplateProcessing") == 0 && cJSON_GetArraySize(single) > 1) {
            const cJSON *ends[2] = {single->child, cJSON_GetArrayItem(single, cJSON_GetArraySize(single) - 1)};
            static const char *const keys[2] = {"bos_token", "eos_token"};
            for (int i = 0; i < 2; i++) {
                const cJSON *id = mmrt_json_find(mmrt_json_find(ends[i], "SpecialToken"), "id");
                const cJSON *want = mmrt_json_find(tc, keys[i]);
                if (cJSON_IsObject(want)) want = mmrt_json_find(want, "content");
                if (cJSON_IsString(id))
                    add[i] = cJSON_IsString(want) && strcmp(id->valuestring, want->valuestring) == 0;
            }
        }
    }
}

/* Special ids (tokenizer_config.json first, then config.json's, as gguf-py's SpecialVocab), the
 * add_*_token flags (the post-processor first, then tokenizer_config.json's) and add_space_prefix. */
static mmrt_status special_kvs(mmrt_gguf_writer *w, const vocab *v, const cJSON *root, const cJSON *tc,
                               const mmrt_llm_hparams *hp, mmrt_error *err) {
    static const char *const names[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    static const char *const keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                       "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"};
    int64_t fallback[] = {hp->bos_id, hp->n_eos > 0 ? hp->eos_ids[0] : -1, -1, -1};
    for (int i = 0; i < 4; i++) {
        int64_t id = token_id(v, mmrt_json_find(tc, names[i]));
        if (id < 0) id = fallback[i];
        if (id >= 0 && (size_t)id < v->n) MMRT_TRY(set_u32(w, keys[i], id, err));
    }
    int add[2] = {-1, -1};
    post_processor_adds(root, tc, add);
    static const char *const flags[][2] = {{"add_bos_token", "tokenizer.ggml.add_bos_token"},
                                           {"add_eos_token", "tokenizer.ggml.add_eos_token"},
                                           {"add_prefix_space", "tokenizer.ggml.add_space_prefix"}};
    for (int i = 0; i < 3; i++) {
        const cJSON *f = mmrt_json_find(tc, flags[i][0]);
        int on = i < 2 && add[i] >= 0 ? add[i] : cJSON_IsBool(f) ? cJSON_IsTrue(f) : -1;
        if (on >= 0) MMRT_TRY(mmrt_gguf_writer_set_bool(w, flags[i][1], on == 1, err));
    }
    return MMRT_OK;
}

/* The chat template where transformers looks first: chat_template.jinja, else tokenizer_config.json's
 * "chat_template" (a string, or a list of {name, template} where "default" wins). */
static mmrt_status template_kv(mmrt_gguf_writer *w, const char *dir, const cJSON *tc, mmrt_error *err) {
    char *path = mmrt_fs_path_join(dir, "chat_template.jinja");
    if (!path) return mmrt_error_oom(err, 0, "path");
    if (mmrt_fs_is_file(path)) {
        char *text = NULL;
        size_t n = 0;
        mmrt_status st = mmrt_fs_read_file(path, (size_t)1 << 26, &text, &n, err);
        free(path);
        if (st == MMRT_OK) st = mmrt_gguf_writer_set_str(w, "tokenizer.chat_template", text, n, err);
        free(text);
        return st;
    }
    free(path);
    const cJSON *t = mmrt_json_find(tc, "chat_template");
    for (const cJSON *e = cJSON_IsArray(t) ? t->child : NULL; e; e = e->next) {
        const cJSON *name = mmrt_json_find(e, "name");
        if (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0) t = mmrt_json_find(e, "template");
    }
    if (!cJSON_IsString(t)) return MMRT_OK;
    return set_cstr(w, "tokenizer.chat_template", t->valuestring, err);
}

static mmrt_status tokenizer_kvs(mmrt_gguf_writer *w, const char *dir, const cJSON *root, const char *path,
                                 const cJSON *tc, const mmrt_llm_hparams *hp, mmrt_error *err) {
    const char *pre = mmrt_tokenizer_gguf_pre_name(root);
    if (!pre)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: not a byte-level BPE tokenizer whose pre-tokenizer GGUF "
                              "can name (tokenizer.ggml.pre: gpt-2, smollm, llama-bpe or default's pipelines)", path);
    vocab v = {0};
    const cJSON *merges = mmrt_json_find(mmrt_json_find(root, "model"), "merges");
    v.n = (size_t)hp->n_vocab; /* config.json's vocab_size: ids past it are refused by token_at */
    v.tokens = calloc(v.n, sizeof *v.tokens);
    v.types = calloc(v.n, sizeof *v.types);
    v.owned = calloc(v.n + (size_t)cJSON_GetArraySize(merges) + 1, sizeof *v.owned);
    mmrt_status st = v.tokens && v.types && v.owned ? MMRT_OK : mmrt_error_oom(err, v.n, "vocabulary");
    if (st == MMRT_OK) st = fill_vocab(&v, root, path, err);
    if (st == MMRT_OK) st = set_cstr(w, "tokenizer.ggml.model", "gpt2", err);
    if (st == MMRT_OK) st = set_cstr(w, "tokenizer.ggml.pre", pre, err);
    if (st == MMRT_OK) st = mmrt_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", v.tokens, v.n, err);
    if (st == MMRT_OK) st = mmrt_gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", v.types, v.n, err);
    if (st == MMRT_OK) st = merges_kv(w, &v, root, path, err);
    if (st == MMRT_OK) st = special_kvs(w, &v, root, tc, hp, err);
    if (st == MMRT_OK) st = template_kv(w, dir, tc, err);
    vocab_free(&v);
    return st;
}

/* dir/name parsed into *out; an absent optional file leaves *out NULL. */
static mmrt_status load_json(const char *dir, const char *name, bool required, cJSON **out, char **path,
                             mmrt_error *err) {
    *out = NULL;
    if (!(*path = mmrt_fs_path_join(dir, name))) return mmrt_error_oom(err, 0, "path");
    if (!required && !mmrt_fs_is_file(*path)) return MMRT_OK;
    return mmrt_json_load_file(*path, out, err);
}

mmrt_status mmrt_gguf_export_hf_kvs(mmrt_gguf_writer *w, const char *dir, const mmrt_llm_hparams *hp,
                                    bool head_dim_key, mmrt_dtype qt, mmrt_error *err) {
    MMRT_TRY(hparam_kvs(w, dir, hp, head_dim_key, qt, err));
    cJSON *root = NULL, *tc = NULL;
    char *path = NULL, *tc_path = NULL;
    mmrt_status st = load_json(dir, "tokenizer.json", true, &root, &path, err);
    if (st == MMRT_OK) st = load_json(dir, "tokenizer_config.json", false, &tc, &tc_path, err);
    if (st == MMRT_OK) st = tokenizer_kvs(w, dir, root, path, tc, hp, err);
    cJSON_Delete(root);
    cJSON_Delete(tc);
    free(path);
    free(tc_path);
    return st;
}
