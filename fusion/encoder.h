/* Media encoders: one interface for every modality (ARCHITECTURE.md, "Media encoders").
 *
 * A model is a decoder plus zero or more encoders, each found from the checkpoint's config by the
 * registry (fusion/encoder_registry.c). For a prompt the session, which names no family:
 *   1. prepare   each media part with the encoder that takes its kind: decode + preprocess, cheap,
 *                so bad input fails before any encoding; gives the input's placeholder token
 *                count, the text its placeholder expands to, and a content hash;
 *   2. expands   the k-th placeholder of the rendered prompt to the k-th input's text, tokenizes;
 *   3. encode    each input into rows (n_tokens, n_embd) f32 in the decoder's embedding space,
 *                left on the session's backend;
 *   4. splices   them into the decoder's input through mmrt_llm_batch segments (fusion/llama.h),
 *                one per input, in prompt order.
 * While an input is in the prompt, the encoder's LoRA adapter (if any) must be active.
 *
 * An encoder is immutable after init and shared by the model's sessions: prepare and encode may
 * run at once on different threads (different inputs, different backends).
 */
#ifndef MMRT_FUSION_ENCODER_H
#define MMRT_FUSION_ENCODER_H

#include "core/backend.h"
#include "core/safetensors.h"
#include "core/sha256.h"
#include "core/weight_upload.h"
#include "fusion/llm_config.h"
#include "text/tokenizer.h"

#include <cjson/cJSON.h>
#include <mmrt.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct mmrt_encoder mmrt_encoder;

/* One media part, prepared (decoded and preprocessed, not encoded). */
typedef struct mmrt_media_input {
    const mmrt_encoder *enc;
    size_t part;                     /* its index among the prompt's parts */
    int64_t n_tokens;                /* placeholder tokens it fills = rows encode gives */
    char *text;                      /* what its placeholder expands to (malloc'ed) */
    int32_t n_steps;                 /* units of progress encode reports (tiles, chunks) */
    char hash[MMRT_SHA256_HEX_LEN];  /* of the decoded input and the preprocessing settings: two
                                        inputs with the same placeholder ids tell apart by it */
    void *data;                      /* the encoder's prepared input */
    double prepare_ms, encode_ms;    /* time in prepare and encode (set by fusion/prompt_media.c) */
} mmrt_media_input;

/* Called by encode after each of the input's steps (1 .. n_steps); non-zero stops encoding. */
typedef int (*mmrt_encoder_progress_fn)(int32_t steps_done, void *user);

typedef struct mmrt_encoder_i {
    /* Fills *in (all but enc and part, which the caller sets) from a part whose type the encoder
     * takes. params: no_split, max_pixels and the like. Errors name the part. */
    mmrt_status (*prepare)(const mmrt_encoder *e, const mmrt_part *part, size_t index,
                           const mmrt_generate_params *params, mmrt_media_input *in, mmrt_error *err);
    /* Encodes in into *rows: a new (n_tokens, n_embd) f32 tensor on be (free it with
     * mmrt_media_rows_free), ready when encode returns. */
    mmrt_status (*encode)(const mmrt_encoder *e, mmrt_backend *be, const mmrt_media_input *in,
                          mmrt_encoder_progress_fn progress, void *user, mmrt_tensor *rows, mmrt_error *err);
    /* Frees in->data (not in->text). */
    void (*release)(const mmrt_encoder *e, mmrt_media_input *in);
    /* Moves the encoder's weights to u's backend (NULL: it has none). */
    mmrt_status (*upload)(mmrt_encoder *e, mmrt_weight_upload *u, mmrt_error *err);
    /* Fills its fields of the model's info (NULL: none). */
    void (*describe)(const mmrt_encoder *e, mmrt_model_info *info);
    void (*free)(mmrt_encoder *e); /* frees e itself */
} mmrt_encoder_i;

struct mmrt_encoder {
    const mmrt_encoder_i *iface;
    const char *name;        /* for messages: "SmolVLM vision" */
    const char *noun;        /* one input, for messages: "image" */
    uint32_t part_types;     /* the part types it takes: bit (1u << mmrt_part_type) each */
    mmrt_stage stage;        /* what its progress reports count */
    const char *placeholder; /* what the chat template writes for one of its parts: "<image>" */
    bool typed_content;      /* its processor passes message content to the chat template as a list
                                of typed parts ([{"type": "image"}, {"type": "text", "text": ...}],
                                SmolVLM); false: a string with the placeholder inside (Granite
                                Speech's "<|audio|>") */
    int32_t token;           /* the id of the expanded tokens its rows replace */
    const char *lora;        /* the adapter active while its media is in the prompt, or NULL */
    void *impl;
};

/* What a factory sees of the checkpoint. */
typedef struct mmrt_encoder_config {
    const char *dir;                 /* the checkpoint directory */
    const char *config_path;         /* its config.json */
    const cJSON *config;             /* config.json, parsed */
    const char *model_type;          /* config.json's model_type */
    const mmrt_weights *weights;
    const mmrt_tokenizer *tok;       /* NULL while matching */
    const mmrt_llm_hparams *text;    /* the decoder's settings; NULL while matching */
} mmrt_encoder_config;

typedef struct mmrt_encoder_factory {
    const char *name;
    /* true when the checkpoint has this encoder (from config, model_type, dir) */
    bool (*matches)(const mmrt_encoder_config *cfg);
    mmrt_status (*init)(const mmrt_encoder_config *cfg, mmrt_encoder **out, mmrt_error *err);
    /* Where the decoder lives in such a checkpoint (NULL: the defaults, config.json itself and
     * "model."): the key of its settings in config.json ("text_config", whose model's
     * tie_word_embeddings is the top-level one) and the prefix of its weights. */
    const char *text_config;
    const char *decoder_prefix;
} mmrt_encoder_factory;

/* Adds a factory after the built-in ones (the process's list, read by every later model load);
 * f must outlive the process's model loads. Thread-safe. MMRT_ERR_OOM past 32 factories. */
mmrt_status mmrt_encoder_register(const mmrt_encoder_factory *f, mmrt_error *err);

/* The factories matching cfg, built-in first, then registered ones in order, into out (at most
 * cap); returns how many matched. */
size_t mmrt_encoder_factories_match(const mmrt_encoder_config *cfg, const mmrt_encoder_factory **out,
                                    size_t cap);

/* The encoder that takes parts of type t among encs[0 .. n), or NULL. */
const mmrt_encoder *mmrt_encoder_for_part(mmrt_encoder *const *encs, size_t n, mmrt_part_type t);

/* A new (n_rows, n_embd) f32 tensor on be for encode's output; mmrt_media_rows_free gives it back. */
mmrt_status mmrt_media_rows_alloc(mmrt_backend *be, int64_t n_rows, int64_t n_embd, mmrt_tensor *rows,
                                  mmrt_error *err);
void mmrt_media_rows_free(mmrt_backend *be, mmrt_tensor *rows);

/* Releases the input's data and text and zeroes it. */
void mmrt_media_input_free(mmrt_media_input *in);

/* text with its placeholders expanded: the k-th placeholder of an encoder's (in text order) takes
 * the text of the k-th of inputs[0 .. n) belonging to that encoder. A count that differs is
 * MMRT_ERR_INVALID_ARG giving both numbers. *out is malloc'ed. */
mmrt_status mmrt_media_expand_prompt(const char *text, const mmrt_media_input *inputs, size_t n, char **out,
                                     mmrt_error *err);

#endif
