/* The model and session handles behind include/mmrt.h (internal layout). */
#ifndef MMRT_FUSION_MODEL_H
#define MMRT_FUSION_MODEL_H

#include "core/backend.h"
#include "core/safetensors.h"
#include "fusion/llama.h"
#include "fusion/sampling.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

struct mmrt_model {
    char *dir;
    mmrt_weights *weights;
    mmrt_llm llm;
    mmrt_tokenizer *tok;
    mmrt_chat_template chat;
    mmrt_backend_params backend;
    int64_t n_params;
    const char *dtype;
};

struct mmrt_session {
    const mmrt_model *model;
    mmrt_backend *be;
    mmrt_llm_state state;
    mmrt_error err;
    float *logits; /* (n_vocab) */
};

/* Maps "cpu"/"cuda"/"auto" (NULL = auto) to a device kind; MMRT_ERR_INVALID_ARG otherwise. */
mmrt_status mmrt_device_parse(const char *name, mmrt_device_kind *out, mmrt_error *err);

#endif
