#include "chat_template.h"

#include "core/fsutil.h"
#include "core/json.h"
#include "core/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEMPLATE_BYTES (1u << 20)

/* A ChatML template that injects a system turn when the conversation has none carries it as a
 * string literal: '<|im_start|>system\n...<|im_end|>'. Returns that text, or NULL. */
static char *chatml_default_system(const char *text) {
    static const char open[] = "<|im_start|>system\n";
    const char *p = strstr(text, open);
    if (!p || !strstr(text, "!= 'system'")) return NULL;
    p += sizeof open - 1;
    const char *end = strstr(p, "<|im_end|>");
    if (!end || end == p) return NULL;
    for (const char *c = p; c < end; c++)
        if (*c == '{' || *c == '}' || *c == '\'' || *c == '"') return NULL; /* not a literal */
    return strndup(p, (size_t)(end - p));
}

mmrt_status mmrt_chat_template_parse(const char *text, const char *source, mmrt_chat_template *out,
                                     mmrt_error *err) {
    memset(out, 0, sizeof *out);
    out->source = strdup(source);
    if (!out->source) return mmrt_error_oom(err, strlen(source), "chat template source");
    if (strstr(text, "<|im_start|>") && strstr(text, "<|im_end|>")) {
        out->family = MMRT_CHAT_CHATML;
        out->default_system = chatml_default_system(text);
        return MMRT_OK;
    }
    /* Idefics3 / SmolVLM: capitalised roles, "User:" before an image and "User: " before text,
     * turns ended by <end_of_utterance>, the whole conversation after a literal prefix */
    if (strstr(text, "<end_of_utterance>") && strstr(text, "'Assistant:'") && strstr(text, "capitalize")) {
        out->family = MMRT_CHAT_IDEFICS3;
        const char *first = strstr(text, "{%");
        size_t n = first ? (size_t)(first - text) : 0;
        if (memchr(text, '{', n)) n = 0; /* not a literal */
        out->prefix = strndup(text, n);
        return out->prefix ? MMRT_OK : mmrt_error_oom(err, n, "chat template prefix");
    }
    out->family = MMRT_CHAT_UNKNOWN;
    return MMRT_OK;
}

const char *mmrt_chat_family_name(mmrt_chat_family family) {
    switch (family) {
    case MMRT_CHAT_NONE: return "none";
    case MMRT_CHAT_CHATML: return "chatml";
    case MMRT_CHAT_IDEFICS3: return "idefics3";
    case MMRT_CHAT_UNKNOWN: return "unrecognised";
    }
    return "?";
}

static mmrt_status template_from_config(const cJSON *cfg, const char **text) {
    const cJSON *t = mmrt_json_find(cfg, "chat_template");
    *text = NULL;
    if (cJSON_IsString(t)) *text = t->valuestring;
    if (cJSON_IsArray(t)) {
        const cJSON *item;
        cJSON_ArrayForEach(item, t) {
            const cJSON *name = mmrt_json_find(item, "name"), *tpl = mmrt_json_find(item, "template");
            if (cJSON_IsString(name) && cJSON_IsString(tpl) &&
                (!*text || strcmp(name->valuestring, "default") == 0))
                *text = tpl->valuestring;
        }
    }
    return MMRT_OK;
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
        if (st == MMRT_OK && is_json) template_from_config(*json, text);
        else if (st == MMRT_OK) *text = *raw;
    }
    if (*text) *source = path;
    else free(path);
    return st;
}

mmrt_status mmrt_chat_template_load(const char *model_dir, bool processor, mmrt_chat_template *out,
                                    mmrt_error *err) {
    memset(out, 0, sizeof *out);
    /* transformers: chat_template.jinja wins over the tokenizer's config; a processor (vision
     * models) reads chat_template.json and never the tokenizer's */
    const char *const tokenizer_order[] = {"chat_template.jinja", "tokenizer_config.json", "chat_template.json"};
    const char *const processor_order[] = {"chat_template.jinja", "chat_template.json", "tokenizer_config.json"};
    const char *const *order = processor ? processor_order : tokenizer_order;
    mmrt_status st = MMRT_OK;
    for (int i = 0; i < 3 && st == MMRT_OK; i++) {
        cJSON *json = NULL;
        char *raw = NULL, *source = NULL;
        const char *text = NULL;
        st = read_template(model_dir, order[i], &json, &raw, &text, &source, err);
        if (st == MMRT_OK && text) st = mmrt_chat_template_parse(text, source, out, err);
        cJSON_Delete(json);
        free(raw);
        free(source);
        if (text) break;
    }
    return st;
}

void mmrt_chat_template_free(mmrt_chat_template *t) {
    if (!t) return;
    free(t->default_system);
    free(t->source);
    free(t->prefix);
    t->default_system = t->source = t->prefix = NULL;
}

/* The parts of the user turn, concatenated (images as their placeholder). */
static mmrt_status put_parts(mmrt_strbuf *b, const mmrt_chat_part *parts, size_t n, mmrt_error *err) {
    for (size_t i = 0; i < n; i++)
        MMRT_TRY(mmrt_strbuf_puts(b, parts[i].image ? MMRT_CHAT_IMAGE_PLACEHOLDER : parts[i].text, err));
    return MMRT_OK;
}

static mmrt_status render(const mmrt_chat_template *t, const char *system, const mmrt_chat_part *parts,
                          size_t n, bool raw, mmrt_strbuf *b, mmrt_error *err) {
    if (raw || t->family == MMRT_CHAT_NONE) return put_parts(b, parts, n, err);
    if (!system) system = t->default_system;
    switch (t->family) {
    case MMRT_CHAT_NONE: break;
    case MMRT_CHAT_UNKNOWN:
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: chat template not recognised (known formats: ChatML, Idefics3); pass "
                              "--raw to send the prompt without a chat format",
                              t->source ? t->source : "model");
    case MMRT_CHAT_CHATML:
        if (system) {
            MMRT_TRY(mmrt_strbuf_puts(b, "<|im_start|>system\n", err));
            MMRT_TRY(mmrt_strbuf_puts(b, system, err));
            MMRT_TRY(mmrt_strbuf_puts(b, "<|im_end|>\n", err));
        }
        MMRT_TRY(mmrt_strbuf_puts(b, "<|im_start|>user\n", err));
        MMRT_TRY(put_parts(b, parts, n, err));
        return mmrt_strbuf_puts(b, "<|im_end|>\n<|im_start|>assistant\n", err);
    case MMRT_CHAT_IDEFICS3:
        /* message['role'] | capitalize, then ':' when the content starts with an image, else ': ' */
        MMRT_TRY(mmrt_strbuf_puts(b, t->prefix ? t->prefix : "", err));
        if (system) {
            MMRT_TRY(mmrt_strbuf_puts(b, "System: ", err));
            MMRT_TRY(mmrt_strbuf_puts(b, system, err));
            MMRT_TRY(mmrt_strbuf_puts(b, "<end_of_utterance>\n", err));
        }
        MMRT_TRY(mmrt_strbuf_puts(b, parts[0].image ? "User:" : "User: ", err));
        MMRT_TRY(put_parts(b, parts, n, err));
        return mmrt_strbuf_puts(b, "<end_of_utterance>\nAssistant:", err);
    }
    return MMRT_OK;
}

mmrt_status mmrt_chat_render_parts(const mmrt_chat_template *t, const char *system,
                                   const mmrt_chat_part *parts, size_t n, bool raw, char **out,
                                   mmrt_error *err) {
    *out = NULL;
    if (n == 0) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "the prompt has no parts");
    for (size_t i = 0; i < n; i++)
        if (!parts[i].image && !parts[i].text)
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "prompt part %zu: NULL text", i);
    mmrt_strbuf b = {0};
    mmrt_status st = render(t, system, parts, n, raw, &b, err);
    if (st != MMRT_OK) {
        mmrt_strbuf_free(&b);
        return st;
    }
    if (!(*out = mmrt_strbuf_take(&b))) return mmrt_error_oom(err, 1, "prompt");
    return MMRT_OK;
}

mmrt_status mmrt_chat_render(const mmrt_chat_template *t, const char *system, const char *prompt,
                             char **out, mmrt_error *err) {
    mmrt_chat_part part = {.image = false, .text = prompt};
    return mmrt_chat_render_parts(t, system, &part, 1, false, out, err);
}
