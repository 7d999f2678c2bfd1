/* Writing a checkpoint as a quantized Llama GGUF file (`mmrt quantize IN OUT.gguf`): the inverse of
 * fusion/gguf_model.h, with the decoder quantized by the rule of fusion/quantize.h, so that loading
 * OUT gives the weights that loading IN with `--quant` gives, bit for bit.
 *
 * IN is either
 *   - a Hugging Face directory of a Llama checkpoint (config.json model_type "llama"; others are
 *     refused by name): written as llama.cpp's convert_hf_to_gguf.py writes a LlamaForCausalLM —
 *     general.* and llama.* keys from config.json, tokenizer.ggml.* from tokenizer.json and
 *     tokenizer_config.json (pre-tokenizer named by mmrt_tokenizer_gguf_pre_name; token_type 1
 *     normal, 3 special added token, 4 other added token, 5 padding up to vocab_size), the chat
 *     template, tensors under llama.cpp's names with attn_q / attn_k rows permuted for ggml's
 *     adjacent-pair RoPE, 1-D tensors (norms) as F32, Llama 3 RoPE scaling as rope_freqs.weight;
 *   - a GGUF file of general.architecture "llama": its KVs copied unchanged but general.file_type
 *     (and general.quantization_version 2 added when absent), its float decoder matrices quantized,
 *     every other tensor (already quantized ones included) copied as is.
 * The file is written atomically (mmrt_gguf_writer_write); the whole quantized model is held in
 * memory until then.
 *
 * Errors name the file and the problem: MMRT_ERR_UNSUPPORTED (another architecture, a tokenizer
 * or RoPE GGUF cannot express, a tensor llama.cpp's Llama has no name for), MMRT_ERR_MODEL,
 * MMRT_ERR_BAD_FORMAT, MMRT_ERR_IO (unreadable input, an output directory that does not exist),
 * MMRT_ERR_INVALID_ARG (OUT is IN, a type that is not q8_0 / q4_0 / q4_k), MMRT_ERR_OOM.
 */
#ifndef MMRT_FUSION_GGUF_EXPORT_H
#define MMRT_FUSION_GGUF_EXPORT_H

#include "core/gguf.h"
#include "core/tensor.h"
#include "fusion/llm_config.h"

#include <cjson/cJSON.h>
#include <mmrt.h>
#include <stddef.h>

/* The public mmrt_quantize_file (include/mmrt.h) is this with the library's dtype. */
typedef struct mmrt_gguf_export_params {
    mmrt_dtype qtype;                   /* MMRT_Q8_0, MMRT_Q4_0 or MMRT_Q4_K */
    int n_threads;                      /* quantization threads; <= 0: all cores */
    mmrt_quantize_progress_fn progress; /* NULL: none */
    void *user;
} mmrt_gguf_export_params;

/* Writes in (see above) to out, a path that must differ from in (same file: MMRT_ERR_INVALID_ARG). */
mmrt_status mmrt_gguf_export(const char *in, const char *out, const mmrt_gguf_export_params *p, mmrt_error *err);

/* general.file_type for a checkpoint whose decoder is qt (llama.cpp's llama_ftype: Q8_0 7, Q4_0 2,
 * Q4_K 14 = Q4_K_S, the single-type K mode). */
uint32_t mmrt_gguf_export_file_type(mmrt_dtype qt);

/* (fusion/gguf_export_hf.c) The KVs of Hugging Face directory dir into w: general.* and llama.*
 * from hp (config.json parsed; partial RoPE refused; key/value_length when head_dim_key: config.json
 * has head_dim), tokenizer.ggml.* and the chat template. */
mmrt_status mmrt_gguf_export_hf_kvs(mmrt_gguf_writer *w, const char *dir, const mmrt_llm_hparams *hp,
                                    bool head_dim_key, mmrt_dtype qt, mmrt_error *err);

#endif
