/* Chat formats. mmrt does not run Jinja: each family's format is built in, and a checkpoint's
 * `chat_template` (tokenizer_config.json, or chat_template.jinja beside it) is matched against the
 * families' markers to choose one. An unrecognised template is an error that suggests --raw. */
#ifndef MMRT_TEXT_CHAT_TEMPLATE_H
#define MMRT_TEXT_CHAT_TEMPLATE_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum mmrt_chat_family {
    MMRT_CHAT_NONE = 0,  /* the checkpoint has no template: prompts go in raw */
    MMRT_CHAT_CHATML,    /* <|im_start|>role\ncontent<|im_end|>\n (SmolLM2) */
    MMRT_CHAT_IDEFICS3,  /* <prefix>User:<image>text<end_of_utterance>\nAssistant: (SmolVLM, Idefics3) */
    MMRT_CHAT_UNKNOWN,   /* a template no built-in format matches: only raw prompts work */
} mmrt_chat_family;

typedef struct mmrt_chat_template {
    mmrt_chat_family family;
    char *default_system; /* the template's built-in system message, or NULL */
    char *source;         /* where the template was read (for messages), or NULL */
    char *prefix;         /* IDEFICS3: the literal text before the first turn ("<|im_start|>") */
} mmrt_chat_template;

/* One piece of a user turn: text, or an image (rendered as the placeholder "<image>"). */
typedef struct mmrt_chat_part {
    bool image;
    const char *text; /* the text of a text part; ignored for images */
} mmrt_chat_part;

#define MMRT_CHAT_IMAGE_PLACEHOLDER "<image>"

/* Reads the template from model_dir as transformers finds it — chat_template.jinja first; then,
 * for a tokenizer, tokenizer_config.json's "chat_template" (a string, or a list of {name,
 * template} where "default" wins) before chat_template.json (the processors' 4.x layout), and for
 * a processor (vision models) the other way round — and recognises it. A missing
 * template is family NONE and one that matches no format is family UNKNOWN: neither is an error
 * at load time (raw prompts still work); mmrt_chat_render refuses UNKNOWN. */
mmrt_status mmrt_chat_template_load(const char *model_dir, bool processor, mmrt_chat_template *out,
                                    mmrt_error *err);
/* Recognises template text (exposed for tests). `source` names it in messages. */
mmrt_status mmrt_chat_template_parse(const char *text, const char *source, mmrt_chat_template *out,
                                     mmrt_error *err);
const char *mmrt_chat_family_name(mmrt_chat_family family);
void mmrt_chat_template_free(mmrt_chat_template *t);

/* The text of a one-turn conversation ready for generation (the assistant's turn opened), as the
 * template renders [{system?}, {user: prompt}] with add_generation_prompt=True, in *out
 * (malloc'ed; caller frees). system NULL means the template's default. Family NONE passes the
 * prompt through; UNKNOWN is MMRT_ERR_UNSUPPORTED with a message that suggests --raw. */
mmrt_status mmrt_chat_render(const mmrt_chat_template *t, const char *system, const char *prompt,
                             char **out, mmrt_error *err);

/* The same for a user turn made of n ordered parts (n >= 1), images rendered as
 * MMRT_CHAT_IMAGE_PLACEHOLDER where the template puts them. With raw set, no chat format: the parts
 * are concatenated. */
mmrt_status mmrt_chat_render_parts(const mmrt_chat_template *t, const char *system,
                                   const mmrt_chat_part *parts, size_t n, bool raw, char **out,
                                   mmrt_error *err);

#endif
