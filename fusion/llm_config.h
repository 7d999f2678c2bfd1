/* Decoder hyper-parameters read from a checkpoint's config.json (and generation_config.json).
 *
 * One struct serves the Llama family and its variations: Granite's multipliers and Phi-3's
 * partial RoPE are fields with neutral defaults here, not separate model types.
 */
#ifndef MMRT_FUSION_LLM_CONFIG_H
#define MMRT_FUSION_LLM_CONFIG_H

#include "core/error.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define MMRT_MAX_EOS 8

typedef enum mmrt_rope_type {
    MMRT_ROPE_DEFAULT = 0,
    MMRT_ROPE_LINEAR = 1,
    MMRT_ROPE_LLAMA3 = 2,
} mmrt_rope_type;

typedef struct mmrt_llm_hparams {
    char model_type[32];
    int64_t n_vocab;
    int64_t n_embd;
    int64_t n_ff;
    int64_t n_layer;
    int64_t n_head;
    int64_t n_head_kv;
    int64_t head_dim;
    int64_t n_ctx_train; /* max_position_embeddings */
    int64_t n_rot;       /* rotated dims per head (head_dim · partial_rotary_factor) */
    float rms_eps;
    bool tie_embeddings;

    /* RoPE */
    mmrt_rope_type rope_type;
    double rope_theta;
    double rope_factor;
    double rope_low_freq_factor;
    double rope_high_freq_factor;
    int64_t rope_orig_ctx;

    /* Multipliers (1 when absent; Granite sets them) */
    float embd_scale;     /* embedding_multiplier */
    float residual_scale; /* residual_multiplier */
    float attn_scale;     /* attention_multiplier, else 1/sqrt(head_dim) */
    float logit_scale;    /* logits are divided by logits_scaling */

    /* Special tokens (-1 when absent) */
    int64_t bos_id;
    int64_t eos_ids[MMRT_MAX_EOS];
    int n_eos;
} mmrt_llm_hparams;

/* Parses `config` (the object of `file`, for messages) into hp. Checks every size for sanity
 * (positive, head counts divide, dims within bounds that keep every byte count in int64) and
 * rejects features this decoder does not implement (biases, unknown RoPE types) with
 * MMRT_ERR_UNSUPPORTED. */
mmrt_status mmrt_llm_hparams_parse(const cJSON *config, const char *file, mmrt_llm_hparams *hp,
                                   mmrt_error *err);

/* Overrides bos/eos from a generation_config.json object when it has them. */
mmrt_status mmrt_llm_hparams_apply_generation_config(mmrt_llm_hparams *hp, const cJSON *gen,
                                                     const char *file, mmrt_error *err);

/* The n_rot/2 RoPE inverse frequencies, with the checkpoint's scaling applied (as transformers'
 * ROPE_INIT_FUNCTIONS), and the factor cos/sin are multiplied by. */
void mmrt_llm_rope_inv_freq(const mmrt_llm_hparams *hp, float *inv_freq, float *attn_factor);

#endif
