/* The SigLIP / Idefics3 vision encoder (SmolVLM's vision tower): pixel tiles -> patch features.
 *
 *   x = patch_embed(tile) + pos_embd[0 .. n_patch)                  (n_patch, n_embd) per tile
 *       patch_embed: a stride-p p×p Conv2d with bias, run as im2col (host) + matmul + bias
 *   per layer:  x += o_proj(attn(q, k, v)) + biases        on h = LayerNorm1(x), bidirectional
 *               x += fc2(act(fc1(h)))                      h = LayerNorm2(x), act gelu_pytorch_tanh
 *   out = post_layernorm(x)                                         (n_patch, n_embd) per tile
 *
 * Matches transformers 5.23 Idefics3VisionTransformer / SmolVLMVisionTransformer for tiles whose
 * patches are all valid (patch_attention_mask all ones), which is every tile the SmolVLM
 * preprocessor (vision/smolvlm_preprocess.h) makes: position ids are then 0 .. n_patch-1 and no
 * key is masked. Padded tiles (bucketized position ids, masked keys) are NOT implemented.
 *
 * Tiles are independent sequences: the matmuls run over all tiles of a call at once, attention
 * runs per tile. Scratch (allocated per call on the backend) grows with n_tiles.
 *
 * mmrt_siglip is immutable after init; its weights stay in the mmap of the mmrt_weights it was
 * bound from (valid as long as that is). Calls to mmrt_siglip_encode on one encoder may run at
 * once on different backends.
 */
#ifndef MMRT_VISION_SIGLIP_H
#define MMRT_VISION_SIGLIP_H

#include "core/backend.h"
#include "core/safetensors.h"

#include <stdint.h>

typedef struct mmrt_siglip_hparams {
    int64_t n_embd;    /* hidden_size */
    int64_t n_ff;      /* intermediate_size */
    int64_t n_layer;   /* num_hidden_layers */
    int64_t n_head;    /* num_attention_heads */
    int64_t head_dim;  /* n_embd / n_head */
    int64_t n_chan;    /* num_channels (3) */
    int64_t patch;     /* patch_size p */
    int64_t image;     /* image_size S (tile side) */
    int64_t n_patch;   /* (S / p)² */
    float eps;         /* layer_norm_eps */
    bool gelu_tanh;    /* hidden_act: gelu_pytorch_tanh (true) or gelu (false) */
} mmrt_siglip_hparams;

typedef struct mmrt_siglip_layer {
    mmrt_tensor ln1_w, ln1_b;  /* (n_embd) */
    mmrt_tensor wq, wk, wv, wo; /* (n_embd, n_embd) */
    mmrt_tensor bq, bk, bv, bo; /* (n_embd) */
    mmrt_tensor ln2_w, ln2_b;  /* (n_embd) */
    mmrt_tensor fc1_w;         /* (n_ff, n_embd) */
    mmrt_tensor fc1_b;         /* (n_ff) */
    mmrt_tensor fc2_w;         /* (n_embd, n_ff) */
    mmrt_tensor fc2_b;         /* (n_embd) */
} mmrt_siglip_layer;

typedef struct mmrt_siglip {
    mmrt_siglip_hparams hp;
    mmrt_tensor patch_w;  /* (n_embd, n_chan · p · p): the conv weight (n_embd, C, p, p) flattened */
    mmrt_tensor patch_b;  /* (n_embd) */
    mmrt_tensor pos_embd; /* (n_patch, n_embd) */
    mmrt_siglip_layer *layers;
    mmrt_tensor post_w, post_b; /* (n_embd) */
} mmrt_siglip;

/* Reads "vision_config" of the config.json at config_path into hp. Missing or absurd sizes are
 * MMRT_ERR_BAD_FORMAT, an activation other than gelu_pytorch_tanh / gelu MMRT_ERR_UNSUPPORTED,
 * each naming the file and the field. */
mmrt_status mmrt_siglip_hparams_load(const char *config_path, mmrt_siglip_hparams *hp,
                                     mmrt_error *err);

/* Loads the hyper-parameters from config_path and binds the weights from `w`, named under
 * `prefix` (e.g. "model.vision_model."). Missing tensors and wrong shapes are MMRT_ERR_MODEL
 * naming the tensor. On failure enc is left freed. */
mmrt_status mmrt_siglip_init(mmrt_siglip *enc, const char *config_path, const mmrt_weights *w,
                             const char *prefix, mmrt_error *err);
/* NULL and a freed encoder are no-ops. */
void mmrt_siglip_free(mmrt_siglip *enc);

/* Called after the embeddings (index 0), after each layer i (index i + 1, before
 * post_layernorm) and with the final output (index n_layer + 1); x is (n_tiles · n_patch, n_embd)
 * on the backend. */
typedef void (*mmrt_siglip_hidden_fn)(int index, const mmrt_tensor *x, void *user);

/* Encodes n_tiles tiles of host pixel_values (n_tiles, n_chan, S, S) f32 into host out
 * (n_tiles, n_patch, n_embd) f32. All patches are treated as valid (see above). */
mmrt_status mmrt_siglip_encode(const mmrt_siglip *enc, mmrt_backend *be, const float *pixel_values,
                               int32_t n_tiles, float *out, mmrt_error *err);
/* mmrt_siglip_encode reporting intermediate states to on_hidden (may be NULL). */
mmrt_status mmrt_siglip_encode_hidden(const mmrt_siglip *enc, mmrt_backend *be,
                                      const float *pixel_values, int32_t n_tiles, float *out,
                                      mmrt_siglip_hidden_fn on_hidden, void *user, mmrt_error *err);

#endif
