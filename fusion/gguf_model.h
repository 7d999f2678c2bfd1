/* Llama-family GGUF files (llama.cpp's container) as mmrt checkpoints.
 *
 * mmrt_gguf_model_open reads what fusion/model.c gets from a Hugging Face directory out of one
 * .gguf file (general.architecture "llama"; others are refused by name):
 *   weights   an mmrt_weights under Hugging Face names (token_embd -> model.embed_tokens.weight,
 *             blk.N.attn_q -> model.layers.N.self_attn.q_proj.weight, ...), shapes outermost first,
 *             F32/F16/BF16 and the block formats mmrt reads (core/quant.h) as they are; attn_q and
 *             attn_k rows are copied back out of the order convert_hf_to_gguf.py permutes them into
 *             for ggml's adjacent-pair RoPE (GGUF row h·d + 2i + j = HF row h·d + j·d/2 + i, with
 *             H = n_head for q and n_head_kv for k), so mmrt's rotate-half RoPE runs unchanged;
 *             everything else points into the file's mapping, which the weights keep open.
 *   config    a config.json-like object (model_type "llama", sizes, rope_theta, rope_scaling,
 *             head_dim, tie_word_embeddings: no output.weight) for mmrt_llm_hparams_parse, with
 *             bos_token_id / eos_token_id from tokenizer.ggml.* (eot and eom ids are further eos).
 *   tok       the tokenizer (mmrt_tokenizer_load_gguf).
 *   chat      tokenizer.chat_template, its bos_token / eos_token the texts of those ids.
 *
 * Errors name the file: MMRT_ERR_UNSUPPORTED (another architecture, a tensor type mmrt cannot
 * compute with, a tokenizer it does not run, RoPE scaling it does not implement), MMRT_ERR_MODEL
 * (a required key or tensor missing, a tensor of the wrong shape or an unknown one),
 * MMRT_ERR_BAD_FORMAT (mistyped keys, the reader's checks), MMRT_ERR_IO, MMRT_ERR_OOM.
 */
#ifndef MMRT_FUSION_GGUF_MODEL_H
#define MMRT_FUSION_GGUF_MODEL_H

#include "core/safetensors.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef struct mmrt_gguf_model {
    mmrt_weights *weights; /* keeps the file mapped */
    cJSON *config;
    mmrt_tokenizer *tok;
    mmrt_chat_template chat; /* zeroed (kind "none") when the file has no template */
    const char *dtype;       /* "Q4_K", "F16", ... when all matrices share it, else "mixed" */
} mmrt_gguf_model;

/* True when path names a .gguf file (by its name; the content is checked when opened). */
bool mmrt_gguf_model_is_path(const char *path);

/* Opens path (see above). On failure *out is zeroed. Every part is the caller's from then on:
 * free with mmrt_gguf_model_free, or take parts over and set them to NULL first. */
mmrt_status mmrt_gguf_model_open(const char *path, mmrt_gguf_model *out, mmrt_error *err);
void mmrt_gguf_model_free(mmrt_gguf_model *m);

/* Tensor names both ways (the loader's table; fusion/gguf_export.h writes by it): the Hugging
 * Face name of GGUF tensor name of a model of n_layer blocks, and the GGUF name of Hugging Face
 * tensor hf, into cap bytes; *permuted is 0, or 1 (attn_q: rows permuted over n_head) or 2
 * (attn_k: over n_head_kv). False for a name the table does not hold. */
bool mmrt_gguf_model_hf_name(const char *name, int64_t n_layer, char *hf, size_t cap, int *permuted);
bool mmrt_gguf_model_gguf_name(const char *hf, char *name, size_t cap, int *permuted);

/* The divisor convert_hf_to_gguf.py stores in rope_freqs.weight for frequency i of n_rot under
 * Llama 3 RoPE scaling (factor, low/high_freq_factor, original context orig). */
double mmrt_gguf_llama3_divisor(double base, int64_t i, int64_t n_rot, double factor, double low, double high,
                                double orig);

#endif
