/* The Llama-family decoder: weights, KV cache and the forward pass.
 *
 *   x = embed(ids) · embd_scale                                    (n_tok, n_embd)
 *   per layer:  x += residual_scale · o_proj(attn(rope(q), rope(k), v))   on RMSNorm_in(x)
 *               x += residual_scale · down(silu(gate(h)) · up(h))         h = RMSNorm_post(x)
 *   logits = lm_head(RMSNorm(x)) / logit_scale                      (n_tok, n_vocab)
 *
 * With the checkpoint's LoRA adapter selected (mmrt_llm_batch.adapter), every projection it
 * targets adds scale · B (A h) to its output (fusion/lora.h).
 *
 * Variations of the family (Granite multipliers, Phi-3 fused projections and partial RoPE) are
 * data in mmrt_llm_hparams and weight views, not code copies.
 *
 * mmrt_llm (weights) is immutable after load and shared by sessions; mmrt_llm_state (KV cache,
 * scratch, backend) belongs to one session.
 */
#ifndef MMRT_FUSION_LLAMA_H
#define MMRT_FUSION_LLAMA_H

#include "core/arena.h"
#include "core/backend.h"
#include "core/safetensors.h"
#include "core/weight_table.h"
#include "core/weight_upload.h"
#include "llm_config.h"
#include "lora.h"

typedef struct mmrt_llm_layer {
    mmrt_tensor attn_norm; /* (n_embd) */
    mmrt_tensor wq;        /* (n_head · head_dim, n_embd) */
    mmrt_tensor wk;        /* (n_head_kv · head_dim, n_embd) */
    mmrt_tensor wv;        /* (n_head_kv · head_dim, n_embd) */
    mmrt_tensor wo;        /* (n_embd, n_head · head_dim) */
    mmrt_tensor ffn_norm;  /* (n_embd) */
    mmrt_tensor w_gate;    /* (n_ff, n_embd) */
    mmrt_tensor w_up;      /* (n_ff, n_embd) */
    mmrt_tensor w_down;    /* (n_embd, n_ff) */
} mmrt_llm_layer;

typedef struct mmrt_llm {
    mmrt_llm_hparams hp;
    mmrt_tensor tok_embd;  /* (n_vocab, n_embd) */
    mmrt_tensor out_norm;  /* (n_embd) */
    mmrt_tensor lm_head;   /* (n_vocab, n_embd); a view of tok_embd when tied */
    mmrt_llm_layer *layers;
    float *rope_inv_freq;  /* (n_rot / 2), host */
    mmrt_tensor rope_freq; /* (n_rot / 2) f32 over rope_inv_freq, or its device copy */
    float rope_attn_factor;
    size_t weight_bytes;   /* bytes one forward pass reads, in the checkpoint's dtypes */
    mmrt_weight_list weights; /* every checkpoint tensor bound above, for the upload */
    mmrt_lora *lora;       /* the checkpoint's LoRA adapter (named "default"), or NULL (fusion/lora.h) */
} mmrt_llm;

/* Binds the decoder's weights from `w` (names under `prefix`, e.g. "model." or
 * "model.text_model."; lm_head is looked up as "lm_head.weight", or for a prefix "<outer>.model."
 * as "<outer>.lm_head.weight" when only that exists). Weights stay in the mmap:
 * valid as long as `w` is. Missing tensors and wrong shapes are MMRT_ERR_MODEL naming the tensor
 * and file. */
mmrt_status mmrt_llm_init(mmrt_llm *m, const mmrt_llm_hparams *hp, const mmrt_weights *w,
                          const char *prefix, mmrt_error *err);

/* Reads the PEFT LoRA adapter in dir (adapter_config.json + adapter_model.safetensors, keys under
 * "base_model.model." + prefix) onto m as its adapter "default" (fusion/lora.h). Call after
 * mmrt_llm_init and before mmrt_llm_upload. */
mmrt_status mmrt_llm_load_adapter(mmrt_llm *m, const char *dir, const char *prefix, mmrt_error *err);

/* Moves every weight of m (its adapter's too, and the RoPE frequencies) to u's backend. */
mmrt_status mmrt_llm_upload(mmrt_llm *m, mmrt_weight_upload *u, mmrt_error *err);
void mmrt_llm_free(mmrt_llm *m);

typedef struct mmrt_llm_state {
    mmrt_backend *be;
    int64_t n_ctx;    /* KV cache rows */
    int64_t n_past;   /* rows filled */
    int64_t n_batch;  /* most tokens per forward call (prefill is chunked to this); 0 = 512 */
    mmrt_tensor *k_cache, *v_cache; /* per layer (n_ctx, n_head_kv · head_dim) f32 or bf16 */
    void *kv_buf;
    mmrt_arena arena; /* sized by a planning pass of the largest chunk (mmrt_llm_state_bytes) */
} mmrt_llm_state;

/* Bytes a state with these sizes and a KV cache of kv_type (F32/BF16: mmrt_backend_kv_dtype of
 * the state's backend) allocates (KV cache + scratch), after the same defaults and clamps as
 * mmrt_llm_state_init; 0 when the sizes are out of range. The scratch is what the forward pass
 * itself allocates, measured by running it on the plan backend (core/arena.h), as
 * mmrt_llm_state_init does before it allocates. */
size_t mmrt_llm_state_bytes(const mmrt_llm *m, mmrt_dtype kv_type, int64_t n_ctx, int64_t n_batch);

/* A state on be with a KV cache of mmrt_backend_kv_dtype(be): bf16 where be's attention rounds k
 * and v to bf16 anyway (the CPU's bf16/int8 modes), else f32. */
mmrt_status mmrt_llm_state_init(mmrt_llm_state *s, const mmrt_llm *m, mmrt_backend *be,
                                int64_t n_ctx, int64_t n_batch, mmrt_error *err);
/* The same with the cache's dtype chosen: F32 on any backend (the same logits as a bf16 cache
 * where be's kv dtype is BF16: tests compare the two), BF16 only where mmrt_backend_kv_dtype(be)
 * is BF16. */
mmrt_status mmrt_llm_state_init_kv(mmrt_llm_state *s, const mmrt_llm *m, mmrt_backend *be,
                                   mmrt_dtype kv_type, int64_t n_ctx, int64_t n_batch, mmrt_error *err);
void mmrt_llm_state_free(mmrt_llm_state *s);

/* Called after the embeddings (layer -1 → index 0) and after every layer i (index i + 1) with the
 * residual stream (n_tok, n_embd), and finally with the normed output (index n_layer + 1). */
typedef void (*mmrt_llm_hidden_fn)(int index, const mmrt_tensor *x, void *user);

/* Rows that replace some tokens' embeddings (a media input's, fusion/encoder.h): within the
 * batch's tokens [begin, end), the ones whose id is `token` take the rows of `rows`, in order. */
typedef struct mmrt_llm_segment {
    int64_t begin, end;
    int32_t token;
    const mmrt_tensor *rows; /* (count of token in [begin, end), n_embd) f32, contiguous, on the
                                state's backend */
} mmrt_llm_segment;

typedef struct mmrt_llm_batch {
    const int32_t *ids;     /* (n_tok) token ids, or NULL when embd is given */
    const float *embd;      /* (n_tok, n_embd) host embeddings, or NULL */
    /* With ids: n_segments segments in prompt order, not overlapping, spliced on the backend after
     * the embedding lookup. embd_scale applies after the splice, to their rows too, as
     * GraniteModel scales the inputs_embeds it is given (1 for SmolVLM's Llama). */
    const mmrt_llm_segment *segments;
    size_t n_segments;
    int64_t n_tok;
    bool all_logits;        /* logits for every token, else only for the last */
    /* The LoRA adapter active for this call (its name, "default"), or NULL for the base weights.
     * A name the decoder does not have is MMRT_ERR_INVALID_ARG. */
    const char *adapter;
    float *logits;          /* out, host: (n_tok or 1, n_vocab) */
    mmrt_llm_hidden_fn on_hidden;
    void *hidden_user;
} mmrt_llm_batch;

/* Runs the tokens at positions n_past .. n_past + n_tok - 1, appending to the KV cache, in chunks
 * of at most n_batch. MMRT_ERR_CONTEXT_FULL (giving both numbers) when they do not fit; segments
 * that do not fit the batch (out of order, overlapping, a row count or shape that differs) are
 * MMRT_ERR_INVALID_ARG. */
mmrt_status mmrt_llm_decode(const mmrt_llm *m, mmrt_llm_state *s, const mmrt_llm_batch *batch,
                            mmrt_error *err);

#endif
