#include "chat_template.h"

#include "core/fsutil.h"
#include "core/json.h"
#include "core/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEMPLATE_BYTES (1u << 20)

static mmrt_status parse_into(const char *text, const char *source, mmrt_chat_template *out,
                              mmrt_error *err) {
    mmrt_error perr = {0};
    if (mmrt_jinja_parse(text, strlen(text), source, &out->jinja, &perr) == MMRT_OK) return MMRT_OK;
    if (perr.status == MMRT_ERR_OOM) return mmrt_error_set(err, MMRT_ERR_OOM, "%s", perr.msg);
    out->parse_error = strdup(perr.msg);
    return out->parse_error ? MMRT_OK : mmrt_error_oom(err, strlen(perr.msg), "chat template error");
}

static mmrt_status init_common(const char *source, bool processor, mmrt_chat_template *out, mmrt_error *err) {
    memset(out, 0, sizeof *out);
    out->content_parts = processor;
    if (!(out->vars = cJSON_CreateObject())) return mmrt_error_oom(err, 64, "chat template variables");
    if (source && !(out->source = strdup(source))) return mmrt_error_oom(err, strlen(source), "chat template source");
    return MMRT_OK;
}

mmrt_status mmrt_chat_template_parse(const char *text, const char *source, mmrt_chat_template *out,
                                     mmrt_error *err) {
    mmrt_status st = init_common(source, false, out, err);
    if (st == MMRT_OK) st = parse_into(text, source, out, err);
    if (st != MMRT_OK) mmrt_chat_template_free(out);
    return st;
}

const char *mmrt_chat_template_kind(const mmrt_chat_template *t) {
    if (t->jinja) return "jinja";
    return t->parse_error ? "unsupported" : "none";
}

static const char *template_from_config(const cJSON *cfg) {
    const cJSON *t = mmrt_json_find(cfg, "chat_template");
    const char *text = NULL;
    if (cJSON_IsString(t)) text = t->valuestring;
    if (cJSON_IsArray(t)) {
        const cJSON *item;
        cJSON_ArrayForEach(item, t) {
            const cJSON *name = mmrt_json_find(item, "name"), *tpl = mmrt_json_find(item, "template");
            if (cJSON_IsString(name) && cJSON_IsString(tpl) && (!text || strcmp(name->valuestring, "default") == 0))
                text = tpl->valuestring;
        }
    }
    return text;
}

/* The template text of a JSON file's "chat_template" (tokenizer_config.json, chat_template.json),
 * or of chat_template.jinja; *text stays NULL when the file or the key is absent. */
static mmrt_status read_template(const char *dir, const char *file, cJSON **json, char **raw,
                                 const char **text, char **source, mmrt_error *err) {
    char *path = mmrt_fs_path_join(dir, file);
    if (!path) return mmrt_error_oom(err, strlen(dir) + strlen(file) + 2, "path");
    mmrt_status st = MMRT_OK;
    if (mmrt_fs_is_file(path)) {
        size_t n;
        bool is_json = strcmp(file, "chat_template.jinja") != 0;
        st = is_json ? mmrt_json_load_file(path, json, err) : mmrt_fs_read_file(path, MAX_TEMPLATE_BYTES, raw, &n, err);
        if (st == MMRT_OK) *text = is_json ? template_from_config(*json) : *raw;
    }
    if (*text) *source = path;
    else free(path);
    return st;
}

/* A special token's text: a string, or an AddedToken object's "content". */
static const char *token_text(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    const cJSON *content = mmrt_json_find(v, "content");
    return cJSON_IsObject(v) && cJSON_IsString(content) ? content->valuestring : NULL;
}

static mmrt_status add_var(cJSON *vars, const char *key, const char *text, mmrt_error *err) {
    if (!text || cJSON_GetObjectItemCaseSensitive(vars, key)) return MMRT_OK; /* the first source wins */
    return cJSON_AddStringToObject(vars, key, text) ? MMRT_OK : mmrt_error_oom(err, strlen(text), "special token");
}

/* The special-token variables of one config file, as transformers' tokenizer __init__ sorts its
 * keyword arguments into special_tokens_map: every "*_token" key holding a string or an
 * AddedToken (the named bos/eos/unk/sep/pad/cls/mask tokens and model-specific ones such as
 * image_token), and the named tokens of an "extra_special_tokens" object. */
static mmrt_status special_tokens_of(const cJSON *json, cJSON *vars, mmrt_error *err) {
    const cJSON *v;
    cJSON_ArrayForEach(v, json) {
        const char *key = v->string;
        size_t n = strlen(key);
        if (strcmp(key, "extra_special_tokens") == 0 && cJSON_IsObject(v)) {
            const cJSON *e;
            cJSON_ArrayForEach(e, v) MMRT_TRY(add_var(vars, e->string, token_text(e), err));
        } else if (n > 6 && strcmp(key + n - 6, "_token") == 0) {
            MMRT_TRY(add_var(vars, key, token_text(v), err));
        }
    }
    return MMRT_OK;
}

static mmrt_status load_json_if_present(const char *dir, const char *file, cJSON **out, mmrt_error *err) {
    char *path = mmrt_fs_path_join(dir, file);
    if (!path) return mmrt_error_oom(err, strlen(dir) + strlen(file) + 2, "path");
    *out = NULL;
    mmrt_status st = mmrt_fs_is_file(path) ? mmrt_json_load_file(path, out, err) : MMRT_OK;
    free(path);
    return st;
}

/* The tokenizer's special-token variables. transformers reads them from tokenizer_config.json;
 * a legacy special_tokens_map.json beside it is merged over those values, but only when the
 * config has no "added_tokens_decoder" (a config written by transformers ≥ 4.34 ignores it). */
static mmrt_status read_special_tokens(const char *dir, cJSON *vars, mmrt_error *err) {
    cJSON *cfg = NULL, *legacy = NULL;
    mmrt_status st = load_json_if_present(dir, "tokenizer_config.json", &cfg, err);
    if (st == MMRT_OK && !mmrt_json_find(cfg, "added_tokens_decoder"))
        st = load_json_if_present(dir, "special_tokens_map.json", &legacy, err);
    if (st == MMRT_OK && legacy) st = special_tokens_of(legacy, vars, err); /* first: it wins */
    if (st == MMRT_OK && cfg) st = special_tokens_of(cfg, vars, err);
    cJSON_Delete(cfg);
    cJSON_Delete(legacy);
    return st;
}

mmrt_status mmrt_chat_template_load(const char *model_dir, bool processor, mmrt_chat_template *out,
                                    mmrt_error *err) {
    /* transformers: chat_template.jinja wins over the tokenizer's config; a processor (vision
     * models) reads chat_template.json before the tokenizer's */
    const char *const tokenizer_order[] = {"chat_template.jinja", "tokenizer_config.json", "chat_template.json"};
    const char *const processor_order[] = {"chat_template.jinja", "chat_template.json", "tokenizer_config.json"};
    const char *const *order = processor ? processor_order : tokenizer_order;
    mmrt_status st = init_common(NULL, processor, out, err);
    for (int i = 0; i < 3 && st == MMRT_OK; i++) {
        cJSON *json = NULL;
        char *raw = NULL, *source = NULL;
        const char *text = NULL;
        st = read_template(model_dir, order[i], &json, &raw, &text, &source, err);
        if (st == MMRT_OK && text) {
            out->source = source;
            source = NULL;
            st = parse_into(text, out->source, out, err);
        }
        cJSON_Delete(json);
        free(raw);
        free(source);
        if (text) break;
    }
    if (st == MMRT_OK) st = read_special_tokens(model_dir, out->vars, err);
    if (st != MMRT_OK) mmrt_chat_template_free(out);
    return st;
}

void mmrt_chat_template_free(mmrt_chat_template *t) {
    if (!t) return;
    mmrt_jinja_template_free(t->jinja);
    cJSON_Delete(t->vars);
    free(t->source);
    free(t->parse_error);
    memset(t, 0, sizeof *t);
}

/* ---- rendering ----------------------------------------------------------------------------- */

static const char *placeholder(const mmrt_chat_part *p) {
    return p->text ? p->text : MMRT_CHAT_IMAGE_PLACEHOLDER;
}

/* The parts concatenated, media as their placeholder text. */
static mmrt_status put_parts(mmrt_strbuf *b, const mmrt_chat_part *parts, size_t n, mmrt_error *err) {
    for (size_t i = 0; i < n; i++) MMRT_TRY(mmrt_strbuf_puts(b, parts[i].image ? placeholder(&parts[i]) : parts[i].text, err));
    return MMRT_OK;
}

/* A message's "content": a string, or a list of {"type": "text", "text": ...} / {"type": kind}. */
static cJSON *content_json(const mmrt_chat_message *m, bool as_parts, mmrt_error *err) {
    if (!as_parts) {
        mmrt_strbuf b = {0};
        if (put_parts(&b, m->parts, m->n_parts, err) != MMRT_OK) {
            mmrt_strbuf_free(&b);
            return NULL;
        }
        char *text = mmrt_strbuf_take(&b);
        cJSON *s = cJSON_CreateString(text ? text : "");
        free(text);
        return s;
    }
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; list && i < m->n_parts; i++) {
        const mmrt_chat_part *p = &m->parts[i];
        cJSON *item = cJSON_CreateObject();
        if (!item || !cJSON_AddItemToArray(list, item)) {
            cJSON_Delete(item);
            cJSON_Delete(list);
            return NULL;
        }
        bool ok = p->image ? cJSON_AddStringToObject(item, "type", p->kind ? p->kind : "image") != NULL
                           : cJSON_AddStringToObject(item, "type", "text") && cJSON_AddStringToObject(item, "text", p->text);
        if (!ok) {
            cJSON_Delete(list);
            return NULL;
        }
    }
    return list;
}

/* transformers' render context: messages, tools, documents, add_generation_prompt, then the
 * special tokens (their keyword arguments come last and win). */
static mmrt_status build_context(const mmrt_chat_template *t, const mmrt_chat_message *msgs, size_t n,
                                 bool add_generation_prompt, cJSON **out, mmrt_error *err) {
    cJSON *ctx = cJSON_CreateObject(), *list = cJSON_CreateArray();
    bool ok = ctx && list && cJSON_AddItemToObject(ctx, "messages", list);
    if (!ok) cJSON_Delete(list);
    for (size_t i = 0; ok && i < n; i++) {
        if (!msgs[i].role) {
            cJSON_Delete(ctx);
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "message %zu: NULL role", i);
        }
        for (size_t k = 0; k < msgs[i].n_parts; k++)
            if (!msgs[i].parts[k].image && !msgs[i].parts[k].text) {
                cJSON_Delete(ctx);
                return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "message %zu, part %zu: NULL text", i, k);
            }
        cJSON *msg = cJSON_CreateObject();
        ok = msg && cJSON_AddItemToArray(list, msg) && cJSON_AddStringToObject(msg, "role", msgs[i].role);
        cJSON *content = ok ? content_json(&msgs[i], t->content_parts, err) : NULL;
        ok = content && cJSON_AddItemToObject(msg, "content", content);
        if (!ok && content) cJSON_Delete(content);
    }
    ok = ok && cJSON_AddNullToObject(ctx, "tools") && cJSON_AddNullToObject(ctx, "documents") &&
         cJSON_AddBoolToObject(ctx, "add_generation_prompt", add_generation_prompt);
    const cJSON *v;
    cJSON_ArrayForEach(v, t->vars) {
        if (!ok) break;
        cJSON *copy = cJSON_Duplicate(v, true);
        ok = copy && cJSON_AddItemToObject(ctx, v->string, copy);
        if (!ok) cJSON_Delete(copy);
    }
    if (!ok) {
        cJSON_Delete(ctx);
        return mmrt_error_oom(err, 4096, "chat messages");
    }
    *out = ctx;
    return MMRT_OK;
}

mmrt_status mmrt_chat_render_messages(const mmrt_chat_template *t, const mmrt_chat_message *msgs,
                                      size_t n, bool add_generation_prompt, char **out, mmrt_error *err) {
    *out = NULL;
    if (t->parse_error)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s; the prompt cannot be put in the chat format (pass --raw to send it as is)",
                              t->parse_error);
    if (!t->jinja) {
        mmrt_strbuf b = {0};
        mmrt_status st = MMRT_OK;
        for (size_t i = 0; i < n && st == MMRT_OK; i++) st = put_parts(&b, msgs[i].parts, msgs[i].n_parts, err);
        if (st == MMRT_OK && !(*out = mmrt_strbuf_take(&b))) st = mmrt_error_oom(err, 1, "prompt");
        mmrt_strbuf_free(&b);
        return st;
    }
    cJSON *ctx = NULL;
    MMRT_TRY(build_context(t, msgs, n, add_generation_prompt, &ctx, err));
    mmrt_jinja_options opt = {.now = t->now};
    mmrt_status st = mmrt_jinja_render(t->jinja, ctx, &opt, out, err);
    cJSON_Delete(ctx);
    return st;
}

mmrt_status mmrt_chat_render_parts(const mmrt_chat_template *t, const char *system,
                                   const mmrt_chat_part *parts, size_t n, bool raw, char **out,
                                   mmrt_error *err) {
    *out = NULL;
    if (n == 0) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "the prompt has no parts");
    for (size_t i = 0; i < n; i++)
        if (!parts[i].image && !parts[i].text)
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "prompt part %zu: NULL text", i);
    mmrt_chat_part sys_part = {.text = system};
    mmrt_chat_message msgs[2] = {{"system", &sys_part, 1}, {"user", parts, n}};
    if (raw) {
        mmrt_chat_template none = {0};
        return mmrt_chat_render_messages(&none, &msgs[1], 1, true, out, err);
    }
    return system ? mmrt_chat_render_messages(t, msgs, 2, true, out, err)
                  : mmrt_chat_render_messages(t, &msgs[1], 1, true, out, err);
}

mmrt_status mmrt_chat_render(const mmrt_chat_template *t, const char *system, const char *prompt,
                             char **out, mmrt_error *err) {
    mmrt_chat_part part = {.image = false, .text = prompt};
    return mmrt_chat_render_parts(t, system, &part, 1, false, out, err);
}
