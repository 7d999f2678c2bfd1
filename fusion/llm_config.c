#include "llm_config.h"

#include "core/json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Sizes far beyond any real checkpoint are refused up front, so that later products
 * (n_vocab · n_embd · 4 bytes, n_ctx · n_head_kv · head_dim ...) cannot overflow. */
#define MAX_DIM (1 << 20)
#define MAX_VOCAB (1 << 24)
#define MAX_LAYERS 4096

static mmrt_status get_dim(const cJSON *c, const char *key, int64_t max, int64_t *out,
                           const char *file, mmrt_error *err) {
    return mmrt_json_get_int(c, key, true, 0, 1, max, out, file, err);
}

/* transformers ≥ 5 writes RoPE settings as "rope_parameters" {rope_type, rope_theta, ...};
 * checkpoints saved before write "rope_theta" and "rope_scaling" {type|rope_type, ...}. */
static mmrt_status parse_rope(const cJSON *c, const char *file, mmrt_llm_hparams *hp,
                              double *partial, mmrt_error *err) {
    const cJSON *rp = NULL, *scaling = NULL;
    MMRT_TRY(mmrt_json_get_object(c, "rope_parameters", false, &rp, file, err));
    MMRT_TRY(mmrt_json_get_object(c, "rope_scaling", false, &scaling, file, err));
    const cJSON *params = rp ? rp : scaling;
    MMRT_TRY(mmrt_json_get_double(c, "rope_theta", false, 10000.0, &hp->rope_theta, file, err));
    if (rp) MMRT_TRY(mmrt_json_get_double(rp, "rope_theta", false, hp->rope_theta, &hp->rope_theta, file, err));
    if (!(hp->rope_theta > 1.0))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: rope_theta must be > 1, got %g", file,
                              hp->rope_theta);
    if (rp) MMRT_TRY(mmrt_json_get_double(rp, "partial_rotary_factor", false, *partial, partial, file, err));

    hp->rope_type = MMRT_ROPE_DEFAULT;
    if (!params) return MMRT_OK;
    const char *type = NULL;
    MMRT_TRY(mmrt_json_get_string(params, "rope_type", false, &type, file, err));
    if (!type) MMRT_TRY(mmrt_json_get_string(params, "type", false, &type, file, err));
    if (!type || strcmp(type, "default") == 0) return MMRT_OK;

    MMRT_TRY(mmrt_json_get_double(params, "factor", true, 1.0, &hp->rope_factor, file, err));
    if (!(hp->rope_factor > 0.0))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: RoPE factor must be > 0, got %g", file,
                              hp->rope_factor);
    if (strcmp(type, "linear") == 0) {
        hp->rope_type = MMRT_ROPE_LINEAR;
        return MMRT_OK;
    }
    if (strcmp(type, "llama3") == 0) {
        hp->rope_type = MMRT_ROPE_LLAMA3;
        MMRT_TRY(mmrt_json_get_double(params, "low_freq_factor", true, 0, &hp->rope_low_freq_factor, file, err));
        MMRT_TRY(mmrt_json_get_double(params, "high_freq_factor", true, 0, &hp->rope_high_freq_factor, file, err));
        MMRT_TRY(mmrt_json_get_int(params, "original_max_position_embeddings", true, 0, 1, MAX_DIM,
                                   &hp->rope_orig_ctx, file, err));
        if (!(hp->rope_high_freq_factor > hp->rope_low_freq_factor && hp->rope_low_freq_factor > 0))
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "%s: llama3 RoPE needs high_freq_factor > low_freq_factor > 0", file);
        return MMRT_OK;
    }
    return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                          "%s: RoPE type \"%s\" is not supported yet (supported: default, linear, llama3)",
                          file, type);
}

static mmrt_status get_multiplier(const cJSON *c, const char *key, float *out, const char *file,
                                  mmrt_error *err) {
    double v;
    MMRT_TRY(mmrt_json_get_double(c, key, false, *out, &v, file, err));
    float f = (float)v; /* checked as the f32 it is used as, so it cannot round to 0 */
    if (!(f >= 1e-6f && f < 1e6f))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s must be in [1e-6, 1e6), got %g", file, key, v);
    *out = f;
    return MMRT_OK;
}

mmrt_status mmrt_llm_hparams_parse(const cJSON *c, const char *file, mmrt_llm_hparams *hp,
                                   mmrt_error *err) {
    memset(hp, 0, sizeof *hp);
    const char *model_type = NULL, *act = NULL;
    MMRT_TRY(mmrt_json_get_string(c, "model_type", true, &model_type, file, err));
    snprintf(hp->model_type, sizeof hp->model_type, "%s", model_type);
    bool granite = strcmp(model_type, "granite") == 0;
    if (strcmp(model_type, "llama") != 0 && !granite)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: model_type \"%s\" is not supported (supported: llama, granite)", file,
                              model_type);

    MMRT_TRY(get_dim(c, "vocab_size", MAX_VOCAB, &hp->n_vocab, file, err));
    MMRT_TRY(get_dim(c, "hidden_size", MAX_DIM, &hp->n_embd, file, err));
    MMRT_TRY(get_dim(c, "intermediate_size", MAX_DIM, &hp->n_ff, file, err));
    MMRT_TRY(get_dim(c, "num_hidden_layers", MAX_LAYERS, &hp->n_layer, file, err));
    MMRT_TRY(get_dim(c, "num_attention_heads", MAX_DIM, &hp->n_head, file, err));
    MMRT_TRY(mmrt_json_get_int(c, "num_key_value_heads", false, hp->n_head, 1, MAX_DIM, &hp->n_head_kv, file, err));
    if (hp->n_head % hp->n_head_kv != 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: num_attention_heads (%lld) is not a multiple of num_key_value_heads (%lld)",
                              file, (long long)hp->n_head, (long long)hp->n_head_kv);
    MMRT_TRY(mmrt_json_get_int(c, "head_dim", false, hp->n_embd / hp->n_head, 1, 4096, &hp->head_dim, file, err));
    if (hp->head_dim < 1 || hp->head_dim > 4096) /* the default n_embd / n_head can be 0 */
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: head_dim must be in [1, 4096], got %lld%s", file,
                              (long long)hp->head_dim,
                              mmrt_json_find(c, "head_dim") ? "" : " (hidden_size / num_attention_heads)");
    if (hp->head_dim % 2 != 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: head_dim must be even for RoPE, got %lld",
                              file, (long long)hp->head_dim);
    if (hp->n_head * hp->head_dim > MAX_DIM)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: num_attention_heads × head_dim is absurd (%lld)",
                              file, (long long)(hp->n_head * hp->head_dim));
    MMRT_TRY(mmrt_json_get_int(c, "max_position_embeddings", false, 2048, 1, 1 << 24, &hp->n_ctx_train, file, err));

    double eps;
    MMRT_TRY(mmrt_json_get_double(c, "rms_norm_eps", false, 1e-6, &eps, file, err));
    /* checked as the f32 it is used as: 1e-85 passes as a double but is 0 as a float */
    hp->rms_eps = (float)eps;
    if (!(hp->rms_eps > 0.0f && hp->rms_eps < 1.0f))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: rms_norm_eps must be in (0, 1) as a float, got %g",
                              file, eps);
    MMRT_TRY(mmrt_json_get_bool(c, "tie_word_embeddings", false, false, &hp->tie_embeddings, file, err));

    MMRT_TRY(mmrt_json_get_string(c, "hidden_act", false, &act, file, err));
    if (act && strcmp(act, "silu") != 0)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" is not supported (only silu)",
                              file, act);
    static const char *const bias_keys[] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++) {
        bool bias;
        MMRT_TRY(mmrt_json_get_bool(c, bias_keys[i], false, false, &bias, file, err));
        if (bias)
            return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: %s = true is not supported yet", file,
                                  bias_keys[i]);
    }

    double partial = 1.0;
    MMRT_TRY(mmrt_json_get_double(c, "partial_rotary_factor", false, 1.0, &partial, file, err));
    MMRT_TRY(parse_rope(c, file, hp, &partial, err));
    if (!(partial > 0.0 && partial <= 1.0))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: partial_rotary_factor must be in (0, 1], got %g",
                              file, partial);
    hp->n_rot = (int64_t)(hp->head_dim * partial) & ~(int64_t)1;

    /* GraniteConfig's defaults are all 1, attention_multiplier included: GraniteAttention's
     * scaling is attention_multiplier itself, never 1/sqrt(head_dim). LlamaModel reads none of
     * these keys: a llama config's are checked for sanity but not applied, as transformers
     * ignores them. */
    float mult[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    static const char *const mult_keys[4] = {"embedding_multiplier", "residual_multiplier", "attention_multiplier",
                                             "logits_scaling"};
    for (int i = 0; i < 4; i++) MMRT_TRY(get_multiplier(c, mult_keys[i], &mult[i], file, err));
    hp->embd_scale = hp->residual_scale = hp->logit_scale = 1.0f;
    hp->attn_scale = (float)(1.0 / sqrt((double)hp->head_dim));
    if (granite) {
        hp->embd_scale = mult[0];
        hp->residual_scale = mult[1];
        hp->attn_scale = mult[2];
        hp->logit_scale = mult[3];
    }

    hp->bos_id = -1;
    MMRT_TRY(mmrt_json_get_int(c, "bos_token_id", false, -1, -1, MAX_VOCAB, &hp->bos_id, file, err));
    return mmrt_json_get_int_list(c, "eos_token_id", hp->eos_ids, MMRT_MAX_EOS, &hp->n_eos, file, err);
}

mmrt_status mmrt_llm_hparams_apply_generation_config(mmrt_llm_hparams *hp, const cJSON *gen,
                                                     const char *file, mmrt_error *err) {
    MMRT_TRY(mmrt_json_get_int(gen, "bos_token_id", false, hp->bos_id, -1, MAX_VOCAB, &hp->bos_id, file, err));
    int64_t eos[MMRT_MAX_EOS];
    int n_eos = 0;
    MMRT_TRY(mmrt_json_get_int_list(gen, "eos_token_id", eos, MMRT_MAX_EOS, &n_eos, file, err));
    if (n_eos > 0) {
        memcpy(hp->eos_ids, eos, sizeof eos);
        hp->n_eos = n_eos;
    }
    return MMRT_OK;
}

void mmrt_llm_rope_inv_freq(const mmrt_llm_hparams *hp, float *inv_freq, float *attn_factor) {
    int64_t half = hp->n_rot / 2;
    *attn_factor = 1.0f;
    for (int64_t i = 0; i < half; i++) {
        double f = 1.0 / pow(hp->rope_theta, (double)(2 * i) / (double)hp->n_rot);
        switch (hp->rope_type) {
        case MMRT_ROPE_DEFAULT: break;
        case MMRT_ROPE_LINEAR: f /= hp->rope_factor; break;
        case MMRT_ROPE_LLAMA3: {
            /* transformers' _compute_llama3_parameters: long wavelengths are slowed by `factor`,
             * short ones kept, and the band between blended smoothly */
            double low_wavelen = (double)hp->rope_orig_ctx / hp->rope_low_freq_factor;
            double high_wavelen = (double)hp->rope_orig_ctx / hp->rope_high_freq_factor;
            double wavelen = 2.0 * M_PI / f;
            double scaled = wavelen > low_wavelen ? f / hp->rope_factor : f;
            if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
                double smooth = ((double)hp->rope_orig_ctx / wavelen - hp->rope_low_freq_factor) /
                                (hp->rope_high_freq_factor - hp->rope_low_freq_factor);
                scaled = (1.0 - smooth) * scaled / hp->rope_factor + smooth * scaled;
            }
            f = scaled;
            break;
        }
        }
        inv_freq[i] = (float)f;
    }
}
