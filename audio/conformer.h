/* Granite Speech's conformer encoder (transformers GraniteSpeechCTCEncoder) on the backend ops:
 * log-mel feature rows (n, input_dim) → (n, hidden_dim), 50 rows per second of audio.
 *
 *   x = input_linear(features)
 *   per block (GraniteSpeechConformerBlock), every sub-module with its own pre-LayerNorm (eps 1e-5):
 *     x += ½ FF1(x)                 FF: LN → Linear(D → mult·D) → SiLU → Linear(mult·D → D)
 *     x += Attn(x)                  block-local: frames [b·ctx, (b+1)·ctx) attend among themselves;
 *                                   score = (q·k + q·E[clamp(i − j, ±ctx) + max_pos]) · hd^-½
 *                                   (Shaw relative positions, E = rel_pos_emb), the q·E term
 *                                   through MMRT_OP_REL_POS_BIAS into the attention op's bias
 *     x += Conv(x)                  LN → Conv1d k=1 (D → 2·inner) → GLU → depthwise Conv1d k=K
 *                                   (zero pads K/2 | K/2 − (K+1)%2) → BatchNorm (eval) → SiLU →
 *                                   Conv1d k=1 (inner → D)
 *     x += ½ FF2(x); x = LN_post(x)
 *     after block num_layers/2 (1-based): x += out_mid(softmax(out(x)))  (CTC self-conditioning)
 *
 * BatchNorm in eval is an affine map per channel, folded at load into the depthwise conv's weight
 * and a bias computed in float64: w' = w·γ/√(var+ε), b' = β − mean·γ/√(var+ε). The folded f32
 * weights differ from the unfolded float64 computation by the rounding of w' and b' alone
 * (tests/test_granite_speech.c measures it on the fixtures' random running statistics).
 *
 * A partial last attention block has fewer queries and keys: that equals transformers' padding
 * with zero rows masked by −finfo.max, whose padded query rows are sliced off.
 */
#ifndef MMRT_AUDIO_CONFORMER_H
#define MMRT_AUDIO_CONFORMER_H

#include "core/arena.h"
#include "core/backend.h"
#include "core/safetensors.h"
#include "core/weight_table.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* encoder_config of a granite_speech config.json (GraniteSpeechEncoderConfig). */
typedef struct mmrt_conformer_hparams {
    int64_t input_dim;  /* feature columns: 2 · n_mels (stacked frames) */
    int64_t n_layer;
    int64_t n_embd;     /* hidden_dim */
    int64_t n_ff;       /* hidden_dim · feedforward_mult */
    int64_t n_head;
    int64_t head_dim;   /* dim_head (default hidden_dim / num_heads) */
    int64_t output_dim; /* the CTC head's classes */
    int64_t context;    /* context_size: frames per attention block */
    int64_t max_pos;    /* max_pos_emb: rel_pos_emb has 2·max_pos + 1 rows */
    int64_t kernel;     /* conv_kernel_size */
    int64_t n_inner;    /* hidden_dim · conv_expansion_factor */
    float eps;          /* nn.LayerNorm / BatchNorm1d default, 1e-5 */
} mmrt_conformer_hparams;

typedef struct mmrt_conformer_ff {
    mmrt_tensor ln_w, ln_b, up_w, up_b, down_w, down_b;
} mmrt_conformer_ff;

typedef struct mmrt_conformer_layer {
    mmrt_conformer_ff ff1, ff2;
    mmrt_tensor attn_ln_w, attn_ln_b;
    mmrt_tensor wq;      /* (H·hd, D) */
    mmrt_tensor wkv;     /* (2·H·hd, D): rows [0, H·hd) give k, the rest v */
    mmrt_tensor wo, bo;  /* (D, H·hd), (D) */
    mmrt_tensor rel_pos; /* (2·max_pos + 1, hd) */
    mmrt_tensor conv_ln_w, conv_ln_b;
    mmrt_tensor up_w, up_b;           /* pointwise conv (2·inner, D) as a matrix, (2·inner) */
    mmrt_tensor dw_w;                 /* depthwise conv (inner, K), as the checkpoint has it */
    mmrt_tensor bn_w, bn_b, bn_mean, bn_var; /* (inner) each */
    mmrt_tensor dw_fold_w, dw_fold_b; /* (inner, K), (inner) f32: BatchNorm folded in */
    mmrt_tensor down_w, down_b;       /* pointwise conv (D, inner), (D) */
    mmrt_tensor post_ln_w, post_ln_b;
} mmrt_conformer_layer;

typedef struct mmrt_conformer {
    mmrt_conformer_hparams hp;
    mmrt_tensor in_w, in_b;         /* input_linear (D, input_dim), (D) */
    mmrt_tensor out_w, out_b;       /* out (output_dim, D), (output_dim) */
    mmrt_tensor out_mid_w, out_mid_b; /* out_mid (D, output_dim), (D) */
    mmrt_conformer_layer *layers;
    float *folded;                  /* host memory of every layer's dw_fold_w and dw_fold_b */
    mmrt_weight_list weights;       /* what upload moves */
} mmrt_conformer;

/* Reads encoder_config (enc, from file, for messages): missing fields take
 * GraniteSpeechEncoderConfig's defaults; ranges and the attention's own check (0 < context_size ≤
 * max_pos_emb) are MMRT_ERR_BAD_FORMAT naming the file and the field. */
mmrt_status mmrt_conformer_hparams_parse(const cJSON *enc, const char *file, mmrt_conformer_hparams *hp,
                                         mmrt_error *err);

/* Binds the weights under prefix ("encoder.") and folds each BatchNorm. Missing or
 * misshapen tensors are MMRT_ERR_MODEL naming them; a running variance with var + eps ≤ 0 is
 * MMRT_ERR_MODEL naming the layer. On failure c is freed. */
mmrt_status mmrt_conformer_init(mmrt_conformer *c, const mmrt_conformer_hparams *hp, const mmrt_weights *w,
                                const char *prefix, mmrt_error *err);
void mmrt_conformer_free(mmrt_conformer *c);

/* Called after input_linear (index 0) and after each block (index i + 1, the CTC residual
 * included after block num_layers / 2) with x (n, n_embd) on the backend. */
typedef void (*mmrt_conformer_hidden_fn)(int index, const mmrt_tensor *x, void *user);
/* Called after each block (1 .. n_layer); non-zero stops the forward with MMRT_ERR_ABORTED. */
typedef int (*mmrt_conformer_step_fn)(int32_t layer_done, void *user);

typedef struct mmrt_conformer_hooks {
    mmrt_conformer_hidden_fn on_hidden;
    mmrt_conformer_step_fn on_step;
    void *user;
} mmrt_conformer_hooks;

/* x (n, input_dim) f32 on be → out (n, n_embd) f32 on be (contiguous, not aliasing x); scratch from
 * arena (a measuring arena with the plan backend sizes it: core/arena.h). hooks may be NULL. */
mmrt_status mmrt_conformer_forward(const mmrt_conformer *c, mmrt_backend *be, mmrt_arena *arena,
                                   const mmrt_tensor *x, mmrt_tensor *out, const mmrt_conformer_hooks *hooks,
                                   mmrt_error *err);

#endif
