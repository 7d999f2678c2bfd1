/* A PEFT LoRA adapter on the decoder, applied at run time as a low-rank delta.
 *
 * A checkpoint directory with adapter_config.json + adapter_model.safetensors (as
 * PeftModel.save_pretrained writes them) carries one adapter, kept on the decoder under the
 * name "default" (the name PEFT gives the first adapter). On a targeted projection W of a layer,
 * while a call selects the adapter (mmrt_llm_batch.adapter):
 *
 *   y = W x + scale · B (A x)       A (r, in), B (out, r); scale = lora_alpha / r,
 *                                    or lora_alpha / sqrt(r) with use_rslora
 *
 * as PEFT's lora.Linear computes it (dropout is identity at inference). Two small matmuls and an
 * add per targeted projection, with the ops every backend has; the base weights are never
 * changed, so a call without the adapter runs the base model. Why not a merged second copy of
 * the targeted weights (W + scale·BA): at granite-speech-3.3-2b's LLM shape (40 layers, hidden
 * 2048, 32/8 heads, r 64 on q_proj + v_proj) that copy is 420 MB in bf16 against 34 MB for A and
 * B, and it rounds W + scale·BA to the weights' dtype, which is not what PEFT computes; the
 * delta costs about 0.7% more bytes and FLOPs per token. Measured on the CPU (8 such layers,
 * vocabulary 49156, bf16, 2 threads, 10 alternating reps): decode 42.1 -> 42.8 ms/token (+1.7%
 * mean, +0.7% best), prefill of 128 tokens 1.210 -> 1.219 s (+0.7% mean, +1.5% best).
 *
 * Supported: peft_type LORA, targets among q/k/v/o_proj and gate/up/down_proj of every decoder
 * layer, r, lora_alpha, use_rslora. Everything that changes the computation otherwise (use_dora,
 * rank_pattern, alpha_pattern, modules_to_save, bias other than "none", fan_in_fan_out,
 * layers_to_transform, exclude_modules, trainable tokens, target_parameters, lora_bias, a regex
 * target_modules) is refused naming the field, as is any tensor of the adapter file that no
 * target explains.
 *
 * An mmrt_lora is immutable after load and shared like the decoder's weights.
 */
#ifndef MMRT_FUSION_LORA_H
#define MMRT_FUSION_LORA_H

#include "core/arena.h"
#include "core/backend.h"
#include "core/safetensors.h"
#include "core/weight_table.h"
#include "core/weight_upload.h"
#include "llm_config.h"

#include <stdbool.h>

#define MMRT_LORA_DEFAULT_NAME "default"
#define MMRT_LORA_CONFIG_FILE "adapter_config.json"
#define MMRT_LORA_WEIGHTS_FILE "adapter_model.safetensors"

typedef enum mmrt_lora_target {
    MMRT_LORA_Q, MMRT_LORA_K, MMRT_LORA_V, MMRT_LORA_O, MMRT_LORA_GATE, MMRT_LORA_UP, MMRT_LORA_DOWN,
    MMRT_LORA_N_TARGETS
} mmrt_lora_target;

typedef struct mmrt_lora_proj {
    mmrt_tensor a; /* (r, in) lora_A; data NULL when the projection is not targeted */
    mmrt_tensor b; /* (out, r) lora_B */
} mmrt_lora_proj;

typedef struct mmrt_lora_layer {
    mmrt_lora_proj proj[MMRT_LORA_N_TARGETS];
} mmrt_lora_layer;

typedef struct mmrt_lora {
    char name[32];      /* MMRT_LORA_DEFAULT_NAME */
    int64_t r;
    float scale;
    unsigned targets;   /* bit (1u << mmrt_lora_target) per targeted projection */
    int64_t n_layer;
    mmrt_lora_layer *layers;
    mmrt_weights *weights; /* adapter_model.safetensors, mapped */
    mmrt_weight_list list; /* every A and B, for the upload */
    size_t bytes;
} mmrt_lora;

/* Whether dir holds an adapter (its adapter_config.json). */
bool mmrt_lora_present(const char *dir);

/* For a checkpoint whose config says it ships an adapter (GraniteSpeech's has_lora_adapter): the
 * adapter's two files must be in dir, else MMRT_ERR_MODEL naming the missing file (transformers
 * only warns, then runs without it). */
mmrt_status mmrt_lora_require(const char *dir, const char *why, mmrt_error *err);

/* Reads dir's adapter for a decoder of hyper-parameters hp whose weights are named
 * decoder_prefix + "layers.N." ...; the adapter's keys are "base_model.model." + P +
 * "layers.N.self_attn.q_proj.lora_A.weight" and so on, P being decoder_prefix or, for a two-part
 * prefix, its parts swapped (the module path transformers 5 gives "language_model.model." in
 * memory: "model.language_model."). Every shape is checked against the decoder (MMRT_ERR_MODEL
 * naming file and key). On failure lo is left empty. */
mmrt_status mmrt_lora_load(mmrt_lora *lo, const char *dir, const mmrt_llm_hparams *hp, const char *decoder_prefix,
                           mmrt_error *err);
mmrt_status mmrt_lora_upload(mmrt_lora *lo, mmrt_weight_upload *u, mmrt_error *err);
void mmrt_lora_free(mmrt_lora *lo);

/* y += scale · B (A x) for one projection (a no-op when p is not targeted). x (n, in), y (n, out);
 * the two temporaries (n, r) and (n, out) come from the arena and are released before return. */
mmrt_status mmrt_lora_apply(const mmrt_lora *lo, const mmrt_lora_proj *p, mmrt_backend *be, mmrt_arena *arena,
                            mmrt_tensor *y, const mmrt_tensor *x, mmrt_error *err);

#endif
