/* The model and session handles behind include/mmrt.h (internal layout). */
#ifndef MMRT_FUSION_MODEL_H
#define MMRT_FUSION_MODEL_H

#include "core/backend.h"
#include "core/safetensors.h"
#include "core/strbuf.h"
#include "fusion/llama.h"
#include "fusion/sampling.h"
#include "fusion/conversation.h"
#include "fusion/encoder.h"
#include "fusion/kv_prefix.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

struct mmrt_model {
    char *dir;
    mmrt_weights *weights;
    char arch[32];         /* config.json's model_type */
    mmrt_llm llm;
    mmrt_encoder **encoders; /* the media encoders (fusion/encoder.h); none for a text model */
    size_t n_encoders;
    mmrt_tokenizer *tok;
    mmrt_chat_template chat;
    mmrt_backend_params backend;
    mmrt_backend *be;        /* holds the weights; each session forks it */
    mmrt_weight_upload up;   /* the weights' device copies (none on the CPU) */
    int64_t n_params;
    const char *dtype;
    mmrt_dtype quant; /* mmrt_model_params.quant's block format, or MMRT_F32 for none */
};

struct mmrt_session {
    const mmrt_model *model;
    mmrt_backend *be;
    mmrt_llm_state state;
    mmrt_error err;
    float *logits;        /* (n_vocab) */
    mmrt_kv_prefix cache; /* what the KV cache holds (cache.n == state.n_past after a run) */
    mmrt_conversation conv; /* mmrt_session_chat's conversation */
    mmrt_strbuf reply;    /* the last reply's text as on_token received it */
};

/* The prompt of a generate call: one user turn of parts (with params->system, params->raw), or a
 * conversation of messages rendered whole (msgs non-NULL; params->system is not used). */
typedef struct mmrt_prompt_in {
    const mmrt_message *msgs;
    size_t n_msgs;
    const mmrt_part *parts;
    size_t n_parts;
} mmrt_prompt_in;

/* Every generate call: checks the caller's params and result structs (either may be NULL), keeps
 * the KV cache's common prefix with the prompt (fusion/kv_prefix.h), prefills the rest and
 * generates; the reply's text is left in s->reply. */
mmrt_status mmrt_session_run(mmrt_session *s, const mmrt_prompt_in *in, const mmrt_generate_params *params,
                             mmrt_generate_result *result);

/* For calls whose session handle is NULL: the message goes to mmrt_last_error(). */
mmrt_status mmrt_session_null(const char *fn);
/* Records the failure on the session and returns its status. */
mmrt_status mmrt_session_fail(mmrt_session *s, mmrt_status st);
/* A call refused before generating: the caller's result (within its size) says nothing ran. */
mmrt_status mmrt_session_refuse(mmrt_session *s, mmrt_generate_result *result, mmrt_status st);

/* The token ids mmrt_session_generate_parts would prefill for these parts (images decoded and
 * preprocessed, not encoded), for tests and --verbose. *ids is malloc'ed. */
mmrt_status mmrt_session_prompt_ids(mmrt_session *s, const mmrt_part *parts, size_t n_parts,
                                    const mmrt_generate_params *params, int32_t **ids, size_t *n_ids);

/* Maps "cpu"/"cuda"/"auto" (NULL = auto) to a device kind; MMRT_ERR_INVALID_ARG otherwise. */
mmrt_status mmrt_device_parse(const char *name, mmrt_device_kind *out, mmrt_error *err);

/* Maps "f32"/"tf32"/"bf16"/"f16" (NULL = f32) to an mmrt_math; MMRT_ERR_INVALID_ARG otherwise. */
mmrt_status mmrt_math_parse(const char *name, mmrt_math *out, mmrt_error *err);

#endif
