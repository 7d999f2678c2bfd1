/* Quantizing a checkpoint's decoder weights at load (`--quant`, mmrt_model_params.quant) — the
 * block formats llama.cpp writes, quantized by core/quant.h's reference quantizers byte for byte as
 * llama-quantize's pure (single-type) modes do.
 *
 * Which tensors: the decoder's linear layers (q/k/v/o projections, the gated MLP's gate/up/down,
 * an untied lm_head), 2-D float tensors whose rows are a multiple of the format's block. Everything
 * else (norms, embeddings, media encoders, tensors with ragged rows) keeps its dtype; ragged ones
 * are logged. The embedding table stays 16-bit: it is read one row per token, never streamed.
 */
#ifndef MMRT_FUSION_QUANTIZE_H
#define MMRT_FUSION_QUANTIZE_H

#include "core/safetensors.h"

/* *out holds every tensor of src, those above quantized to qtype (MMRT_Q8_0, MMRT_Q4_0 or
 * MMRT_Q4_K) in owned buffers, the rest pointing into src's mapping. *out takes src over: it
 * frees src when freed (also on failure, when *out is NULL). n_threads: OpenMP threads. */
mmrt_status mmrt_weights_quantize(mmrt_weights *src, mmrt_dtype qtype, int n_threads, mmrt_weights **out,
                                  mmrt_error *err);

/* "q8_0", "q4_0", "q4_k" (any case) → the dtype; MMRT_ERR_INVALID_ARG naming the accepted ones. */
mmrt_status mmrt_quant_type_parse(const char *name, mmrt_dtype *out, mmrt_error *err);

/* Whether the rule above quantizes a tensor named name (a Hugging Face name) of dtype and n_dims
 * dims whose rows hold k weights to qt; a decoder matrix whose rows do not fit qt's block is logged
 * and keeps its dtype. `mmrt quantize` (fusion/gguf_export.h) applies the same rule. */
bool mmrt_quantize_selects(const char *name, mmrt_dtype dtype, int n_dims, int64_t k, mmrt_dtype qt);

/* rows x k weights of src_dtype (F32, F16 or BF16) at src quantized row by row to qt into dst
 * (mmrt_dtype_row_bytes(qt, k) * rows bytes), rows split over n_threads OpenMP threads (<= 0: all
 * cores). Errors name file and the tensor name. */
mmrt_status mmrt_quantize_rows(const char *file, const char *name, mmrt_dtype src_dtype, const void *src, int64_t rows,
                               int64_t k, mmrt_dtype qt, void *dst, int n_threads, mmrt_error *err);

#endif
