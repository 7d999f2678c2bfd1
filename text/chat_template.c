#include "chat_template.h"

#include "core/fsutil.h"
#include "core/json.h"

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
    out->family = MMRT_CHAT_UNKNOWN;
    return MMRT_OK;
}

const char *mmrt_chat_family_name(mmrt_chat_family family) {
    switch (family) {
    case MMRT_CHAT_NONE: return "none";
    case MMRT_CHAT_CHATML: return "chatml";
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

mmrt_status mmrt_chat_template_load(const char *model_dir, mmrt_chat_template *out, mmrt_error *err) {
    memset(out, 0, sizeof *out);
    mmrt_status st = MMRT_OK;
    char *cfg_path = mmrt_fs_path_join(model_dir, "tokenizer_config.json");
    char *jinja_path = mmrt_fs_path_join(model_dir, "chat_template.jinja");
    cJSON *cfg = NULL;
    char *jinja = NULL;
    if (!cfg_path || !jinja_path) {
        st = mmrt_error_oom(err, strlen(model_dir) + 32, "path");
        goto done;
    }
    const char *text = NULL, *source = cfg_path;
    if (mmrt_fs_is_file(cfg_path)) {
        if ((st = mmrt_json_load_file(cfg_path, &cfg, err)) != MMRT_OK) goto done;
        template_from_config(cfg, &text);
    }
    if (!text && mmrt_fs_is_file(jinja_path)) {
        size_t n;
        if ((st = mmrt_fs_read_file(jinja_path, MAX_TEMPLATE_BYTES, &jinja, &n, err)) != MMRT_OK) goto done;
        text = jinja;
        source = jinja_path;
    }
    if (text) st = mmrt_chat_template_parse(text, source, out, err);
done:
    cJSON_Delete(cfg);
    free(jinja);
    free(cfg_path);
    free(jinja_path);
    return st;
}

void mmrt_chat_template_free(mmrt_chat_template *t) {
    if (!t) return;
    free(t->default_system);
    free(t->source);
    t->default_system = t->source = NULL;
}

mmrt_status mmrt_chat_render(const mmrt_chat_template *t, const char *system, const char *prompt,
                             char **out, mmrt_error *err) {
    int n = -1;
    *out = NULL;
    switch (t->family) {
    case MMRT_CHAT_NONE: n = (*out = strdup(prompt)) ? 0 : -1; break;
    case MMRT_CHAT_UNKNOWN:
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: chat template not recognised (known formats: ChatML); pass --raw to "
                              "send the prompt without a chat format", t->source ? t->source : "model");
    case MMRT_CHAT_CHATML:
        if (!system) system = t->default_system;
        if (system)
            n = asprintf(out, "<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n"
                              "<|im_start|>assistant\n", system, prompt);
        else
            n = asprintf(out, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", prompt);
        break;
    }
    if (n < 0) {
        *out = NULL;
        return mmrt_error_oom(err, strlen(prompt), "chat-formatted prompt");
    }
    return MMRT_OK;
}
