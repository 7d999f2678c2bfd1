/* The SigLIP / Idefics3 vision encoder (SmolVLM's vision tower): pixel tiles -> patch features.
 *
 *   x = patch_embed(tile) + pos_embd[position ids]                  (n_patch, n_embd) per tile
 *       patch_embed: a stride-p p×p Conv2d with bias, run as im2col (host) + matmul + bias
 *   per layer:  x += o_proj(attn(q, k, v)) + biases        on h = LayerNorm1(x), bidirectional
 *               x += fc2(act(fc1(h)))                      h = LayerNorm2(x), act gelu_pytorch_tanh
 *   out = post_layernorm(x)                                         (n_patch, n_embd) per tile
 *
 * Matches transformers 5.23 Idefics3VisionTransformer / SmolVLMVisionTransformer, padded tiles
 * included, as Idefics3Model.get_image_features drives it:
 *   patch mask   a patch is valid when any of its p×p pixels is (pixel mask unfold + sum > 0)
 *   position ids of a valid patch (h, w): bucket(h, nb_h) · side + bucket(w, nb_w), side = S / p,
 *                nb_h / nb_w = the valid patches in column 0 / row 0, bucket(i, nb) =
 *                bucketize(min(i · (1/nb), 1 − 1e-6), arange(1/side, 1, 1/side), right) in float32
 *                exactly as torch computes it (see mmrt_siglip_position_ids); masked patches get 0
 *   attention    keys of masked patches are dropped (transformers adds finfo.min); a tile with no
 *                valid patch attends uniformly to all its keys, as transformers' equal scores do
 * Masked patches still get outputs (computed like transformers', compared in tests), which
 * callers normally ignore. With no mask, or a tile whose patches are all valid (every tile the
 * SmolVLM preprocessor, vision/smolvlm_preprocess.h, makes), ids are 0 .. n_patch-1 and no key
 * is masked. Not done here: get_image_features' dropping of all-zero "padding image" tiles.
 *
 * Tiles are independent sequences: the matmuls run over all tiles of a call at once, attention
 * runs per tile. Scratch (allocated per call on the backend) grows with n_tiles: its size is what
 * the pass allocates, measured by running it first on the plan backend (core/arena.h).
 *
 * mmrt_siglip is immutable after init; its weights stay in the mmap of the mmrt_weights it was
 * bound from (valid as long as that is). Calls to mmrt_siglip_encode* on one encoder may run at
 * once on different backends.
 */
#ifndef MMRT_VISION_SIGLIP_H
#define MMRT_VISION_SIGLIP_H

#include "core/backend.h"
#include "core/safetensors.h"
#include "core/weight_table.h"

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
    mmrt_weight_list weights;   /* every tensor above, for the upload */
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
/* mmrt_siglip_encode_hidden with padded tiles: pixel_mask (n_tiles, S, S) u8, non-zero = real
 * pixel (the processor's pixel_attention_mask); NULL = every pixel real (the calls above). A tile
 * with no real pixel is encoded as transformers does (see above). MMRT_ERR_INVALID_ARG, naming
 * the tile and patch, where a mask gives a position id outside the table, which transformers
 * fails on too (see mmrt_siglip_position_ids). */
mmrt_status mmrt_siglip_encode_masked(const mmrt_siglip *enc, mmrt_backend *be,
                                      const float *pixel_values, const uint8_t *pixel_mask,
                                      int32_t n_tiles, float *out, mmrt_siglip_hidden_fn on_hidden,
                                      void *user, mmrt_error *err);

/* Called with the encoder's output x (n_tiles · n_patch, n_embd) f32 in `be`'s memory, valid
 * during the call: a consumer on the same backend (the Idefics3 connector) reads it there instead
 * of a round trip through host memory. */
typedef mmrt_status (*mmrt_siglip_output_fn)(const mmrt_tensor *x, void *user, mmrt_error *err);

/* mmrt_siglip_encode with the output handed to on_output on the backend instead of downloaded. */
mmrt_status mmrt_siglip_encode_to(const mmrt_siglip *enc, mmrt_backend *be, const float *pixel_values,
                                  int32_t n_tiles, mmrt_siglip_output_fn on_output, void *user,
                                  mmrt_error *err);

/* The patch mask (S/p, S/p) of one tile from its pixel mask (S, S): 1 where any of the patch's
 * pixels is non-zero, else 0. */
void mmrt_siglip_patch_mask(const mmrt_siglip_hparams *hp, const uint8_t *pixel_mask,
                            uint8_t *patch_mask);

/* Position ids (side²) of one tile from its patch mask (side, side), non-zero = valid, as
 * Idefics3VisionEmbeddings.forward computes them on the CPU in float32: steps 1/nb (inf when a
 * tile's column 0 or row 0 has no valid patch, making coordinate 0 NaN, which bucketize puts past
 * the last boundary), the boundaries of torch's CPU arange kernel bit for bit, bucketize's binary
 * search. When arange yields `side` boundaries (side 14, 19, 24, 27, ...), that NaN bucket is
 * `side` and gives some valid patch an id ≥ side² (transformers: IndexError in the position
 * embedding): MMRT_ERR_INVALID_ARG here, naming the first such patch; ids is then unspecified.
 * Masks the processor makes (a top-left valid rectangle) never get there. */
mmrt_status mmrt_siglip_position_ids(int64_t side, const uint8_t *patch_mask, int32_t *ids,
                                     mmrt_error *err);

#endif
