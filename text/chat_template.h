/* Chat templates: the checkpoint's own Jinja `chat_template`, rendered by text/jinja.h as
 * transformers' apply_chat_template renders it.
 *
 * The template is found where transformers looks (mmrt_chat_template_load) and parsed once at
 * load. The variables it sees are transformers': `messages`, `add_generation_prompt`, `tools` and
 * `documents` (none), and the tokenizer's named special tokens (bos_token, eos_token, unk_token,
 * sep_token, pad_token, cls_token, mask_token: those tokenizer_config.json — or the legacy
 * special_tokens_map.json — sets). A template that cannot be parsed does not stop the model from
 * loading: rendering it is then the parse error (naming the file, line and construct) with a hint
 * to send the prompt raw.
 *
 * Message content is passed as the checkpoint's processor passes it: a plain string (text models;
 * media as their placeholder text inside it) or a list of typed parts ({"type": "text", "text":
 * ...}, {"type": "image"}), as processors such as SmolVLM's expect.
 */
#ifndef MMRT_TEXT_CHAT_TEMPLATE_H
#define MMRT_TEXT_CHAT_TEMPLATE_H

#include "core/error.h"
#include "text/jinja.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mmrt_chat_template {
    mmrt_jinja_template *jinja; /* NULL: no template, or it did not parse (parse_error) */
    char *source;               /* the file the template came from, or NULL */
    char *parse_error;          /* why the template could not be parsed, or NULL */
    cJSON *vars;                /* the special-token variables (a JSON object) */
    bool content_parts;         /* content as a list of typed parts (processors), else a string */
    int64_t now;                /* strftime_now's time (unix seconds, UTC); 0 = the current time */
} mmrt_chat_template;

/* One piece of a message: text, or a media input of some kind. */
typedef struct mmrt_chat_part {
    bool image;       /* a media part (kind NULL reads as "image") */
    const char *text; /* a text part's text; for a media part in string content, its placeholder
                         text (NULL = MMRT_CHAT_IMAGE_PLACEHOLDER) */
    const char *kind; /* a media part's type in list content ("image", "audio"); NULL = "image" */
} mmrt_chat_part;

typedef struct mmrt_chat_message {
    const char *role; /* "system", "user", "assistant", ... */
    const mmrt_chat_part *parts;
    size_t n_parts;
} mmrt_chat_message;

#define MMRT_CHAT_IMAGE_PLACEHOLDER "<image>"

/* Finds and parses the template of model_dir as transformers does — chat_template.jinja first;
 * then, for a tokenizer, tokenizer_config.json's "chat_template" (a string, or a list of {name,
 * template} where "default" wins) before chat_template.json (the processors' 4.x layout), and for
 * a processor the other way round — and reads the special-token variables. A missing template
 * is not an error (t->jinja NULL, parse_error NULL: prompts go in raw); neither is one that does
 * not parse (parse_error set). Unreadable or malformed files are. content_parts starts as
 * processor; the model sets it from its encoders. */
mmrt_status mmrt_chat_template_load(const char *model_dir, bool processor, mmrt_chat_template *out,
                                    mmrt_error *err);
/* Parses template text (tests; source names it in messages). Special-token variables: none. */
mmrt_status mmrt_chat_template_parse(const char *text, const char *source, mmrt_chat_template *out,
                                     mmrt_error *err);
void mmrt_chat_template_free(mmrt_chat_template *t);

/* "jinja" (a template that parsed), "none" (no template) or "unsupported" (one that did not
 * parse: raw prompts only). */
const char *mmrt_chat_template_kind(const mmrt_chat_template *t);

/* Renders n messages (n >= 0) with add_generation_prompt into *out (malloc'ed; caller frees).
 * No template: the concatenated text of the messages (media as placeholders), with a warning
 * left to the caller. A template that did not parse is MMRT_ERR_UNSUPPORTED naming it and
 * suggesting --raw; errors while rendering (raise_exception, limits) name the template's file. */
mmrt_status mmrt_chat_render_messages(const mmrt_chat_template *t, const mmrt_chat_message *msgs,
                                      size_t n, bool add_generation_prompt, char **out, mmrt_error *err);

/* A one-turn conversation ready for generation: [{system}, {user: parts}] with
 * add_generation_prompt (system NULL: no system message; the template may add its own default).
 * n >= 1. With raw, no template: the parts concatenated, media as their placeholder text. */
mmrt_status mmrt_chat_render_parts(const mmrt_chat_template *t, const char *system,
                                   const mmrt_chat_part *parts, size_t n, bool raw, char **out,
                                   mmrt_error *err);

/* mmrt_chat_render_parts with one text part. */
mmrt_status mmrt_chat_render(const mmrt_chat_template *t, const char *system, const char *prompt,
                             char **out, mmrt_error *err);

#endif
