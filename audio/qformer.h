/* Granite Speech's projector (transformers GraniteSpeechEncoderProjector): a windowed BLIP-2
 * Q-Former that turns the conformer's output (n, D_enc) into n_query rows per window of
 * window_size frames, then `linear` into the LLM's embedding space.
 *
 *   the frames are zero-padded to a multiple of window_size (the zero frames take part in the
 *   cross-attention: there is no mask); per window, the n_query = window_size / downsample_rate
 *   learned queries:
 *     x = LayerNorm(query)                        (Blip2QFormerModel.layernorm, before the layers)
 *     per layer (post-LN BERT):
 *       x = LN(x + dense(SelfAttn(x)))            over the window's queries
 *       x = LN(x + dense(CrossAttn(x, frames)))   every cross_attention_frequency-th layer (0, f, 2f…)
 *       x = LN(x + output_query(gelu(intermediate_query(x))))    erf GELU
 *   rows = linear(x): (n_windows · n_query, text_hidden)
 *
 * Every window's queries are stacked into one matrix, so each projection is one matmul over all
 * windows; the cross-attention's keys and values are one matmul each over all (padded) frames.
 * Attention runs per window. All arithmetic is f32, as transformers keeps the Q-Former in fp32.
 */
#ifndef MMRT_AUDIO_QFORMER_H
#define MMRT_AUDIO_QFORMER_H

#include "core/arena.h"
#include "core/backend.h"
#include "core/safetensors.h"
#include "core/weight_table.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct mmrt_qformer_hparams {
    int64_t n_embd;      /* projector_config.hidden_size */
    int64_t n_layer;
    int64_t n_head;
    int64_t n_ff;        /* intermediate_size */
    int64_t n_enc;       /* encoder_hidden_size: the conformer's width */
    int64_t cross_freq;  /* cross_attention_frequency */
    float eps;           /* layer_norm_eps */
    int64_t window;      /* window_size (top level) */
    int64_t n_query;     /* window_size / downsample_rate */
    int64_t text_hidden; /* the LLM's hidden size */
} mmrt_qformer_hparams;

typedef struct mmrt_qformer_attn {
    mmrt_tensor wq, bq, wk, bk, wv, bv, wo, bo, ln_w, ln_b;
} mmrt_qformer_attn;

typedef struct mmrt_qformer_layer {
    mmrt_qformer_attn self, cross; /* cross unbound (data NULL) where the layer has none */
    mmrt_tensor ff_up_w, ff_up_b, ff_down_w, ff_down_b, ff_ln_w, ff_ln_b;
} mmrt_qformer_layer;

typedef struct mmrt_qformer {
    mmrt_qformer_hparams hp;
    mmrt_tensor query;        /* (n_query, n_embd) */
    mmrt_tensor ln_w, ln_b;   /* qformer.layernorm */
    mmrt_tensor proj_w, proj_b; /* linear (text_hidden, n_embd) */
    mmrt_qformer_layer *layers;
    mmrt_weight_list weights;
} mmrt_qformer;

/* projector_config (pc) and the top-level window_size / downsample_rate of cfg, from file (for
 * messages): missing projector fields take Blip2QFormerConfig's defaults; n_enc must equal
 * enc_hidden (the conformer's hidden_dim), hidden_act must be "gelu", window_size a multiple of
 * downsample_rate (transformers' view of the output needs it). MMRT_ERR_BAD_FORMAT or
 * MMRT_ERR_UNSUPPORTED naming the file and the field. */
mmrt_status mmrt_qformer_hparams_parse(const cJSON *cfg, const cJSON *pc, const char *file, int64_t enc_hidden,
                                       int64_t text_hidden, mmrt_qformer_hparams *hp, mmrt_error *err);

/* Binds the weights under prefix ("projector."). On failure q is freed. */
mmrt_status mmrt_qformer_init(mmrt_qformer *q, const mmrt_qformer_hparams *hp, const mmrt_weights *w,
                              const char *prefix, mmrt_error *err);
void mmrt_qformer_free(mmrt_qformer *q);

/* Windows a clip of n frames fills: ceil(n / window). */
int64_t mmrt_qformer_n_windows(const mmrt_qformer_hparams *hp, int64_t n_frames);

/* frames (n_windows · window, n_enc) f32 on be, already zero-padded past the clip's frames →
 * out (n_windows · n_query, text_hidden) f32 on be. Scratch from arena. */
mmrt_status mmrt_qformer_forward(const mmrt_qformer *q, mmrt_backend *be, mmrt_arena *arena,
                                 const mmrt_tensor *frames, mmrt_tensor *out, mmrt_error *err);

#endif
