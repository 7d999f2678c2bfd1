#include "granite_speech.h"

#include "audio/audio.h"
#include "core/json.h"
#include "core/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUPPORTED "model_type granite_speech with GraniteSpeechForConditionalGeneration (granite-speech-3.3, " \
                  "granite-4.0-1b-speech, granite-speech-4.1-2b)"

/* ---- loading --------------------------------------------------------------------------------- */

/* Only the autoregressive class: the other members of the family have other encoders and heads. */
static mmrt_status check_class(const mmrt_encoder_config *cfg, mmrt_error *err) {
    if (strcmp(cfg->model_type, "granite_speech") != 0)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: model_type %s is not supported; mmrt runs " SUPPORTED,
                              cfg->config_path, cfg->model_type);
    const cJSON *arch = mmrt_json_find(cfg->config, "architectures"), *a;
    cJSON_ArrayForEach(a, arch) {
        const char *name = cJSON_GetStringValue(a);
        if (name && strcmp(name, "GraniteSpeechForConditionalGeneration") != 0)
            return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                                  "%s: architecture %s is not supported (a non-autoregressive or other Granite "
                                  "Speech class); mmrt runs " SUPPORTED,
                                  cfg->config_path, name);
    }
    return MMRT_OK;
}

static mmrt_status load_audio_token(const mmrt_encoder_config *cfg, int32_t *out, mmrt_error *err) {
    int32_t id = mmrt_tokenizer_find(cfg->tok, MMRT_GRANITE_SPEECH_PLACEHOLDER);
    if (id < 0)
        return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: the tokenizer has no %s token", cfg->dir,
                              MMRT_GRANITE_SPEECH_PLACEHOLDER);
    int64_t cfg_id; /* audio_token_id is the attribute_map alias of audio_token_index */
    const char *key = mmrt_json_find(cfg->config, "audio_token_index") ? "audio_token_index" : "audio_token_id";
    MMRT_TRY(mmrt_json_get_int(cfg->config, key, false, 49155, 0, INT32_MAX, &cfg_id, cfg->config_path, err));
    if (cfg_id != id)
        return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: %s is %lld but the tokenizer's %s is %d", cfg->config_path,
                              key, (long long)cfg_id, MMRT_GRANITE_SPEECH_PLACEHOLDER, id);
    *out = id;
    return MMRT_OK;
}

/* The feature extractor must give the encoder its input and the projector its windows. */
static mmrt_status check_features(const mmrt_granite_speech *g, const mmrt_log_mel_config *mc, const char *dir,
                                  mmrt_error *err) {
    if (mc->sampling_rate != MMRT_AUDIO_SAMPLE_RATE)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: the feature extractor's sampling_rate is %d; mmrt "
                              "decodes audio to %d Hz", dir, mc->sampling_rate, MMRT_AUDIO_SAMPLE_RATE);
    if (2 * (int64_t)mc->n_mels != g->enc.hp.input_dim)
        return mmrt_error_set(err, MMRT_ERR_MODEL,
                              "%s: the feature extractor stacks 2 × %d mel bins but encoder_config.input_dim is %lld",
                              dir, mc->n_mels, (long long)g->enc.hp.input_dim);
    const mmrt_qformer_hparams *ph = &g->proj.hp;
    if (mc->projector_window_size != ph->window ||
        mc->projector_window_size / mc->projector_downsample_rate != ph->n_query)
        return mmrt_error_set(err, MMRT_ERR_MODEL,
                              "%s: the feature extractor counts %d-frame windows of %d tokens but config.json has "
                              "window_size %lld with %lld queries",
                              dir, mc->projector_window_size,
                              mc->projector_window_size / mc->projector_downsample_rate, (long long)ph->window,
                              (long long)ph->n_query);
    return MMRT_OK;
}

static mmrt_status init(mmrt_granite_speech *g, const mmrt_encoder_config *cfg, mmrt_error *err) {
    MMRT_TRY(check_class(cfg, err));
    const char *file = cfg->config_path;
    const cJSON *ec = NULL, *pc = NULL;
    MMRT_TRY(mmrt_json_get_object(cfg->config, "encoder_config", false, &ec, file, err));
    MMRT_TRY(mmrt_json_get_object(cfg->config, "projector_config", false, &pc, file, err));
    MMRT_TRY(mmrt_json_get_bool(cfg->config, "has_lora_adapter", false, true, &g->has_lora, file, err));
    mmrt_conformer_hparams eh;
    MMRT_TRY(mmrt_conformer_hparams_parse(ec, file, &eh, err));
    mmrt_qformer_hparams ph;
    MMRT_TRY(mmrt_qformer_hparams_parse(cfg->config, pc, file, eh.n_embd, cfg->text->n_embd, &ph, err));
    /* save_pretrained writes the published layout ("encoder.", "projector.", "language_model.");
     * transformers 5 loads it renamed to "model.encoder." and so on, which is accepted too */
    bool renamed = !mmrt_weights_find(cfg->weights, "encoder.input_linear.weight") &&
                   mmrt_weights_find(cfg->weights, "model.encoder.input_linear.weight");
    MMRT_TRY(mmrt_conformer_init(&g->enc, &eh, cfg->weights, renamed ? "model.encoder." : "encoder.", err));
    MMRT_TRY(mmrt_qformer_init(&g->proj, &ph, cfg->weights, renamed ? "model.projector." : "projector.", err));
    mmrt_log_mel_config mc;
    MMRT_TRY(mmrt_log_mel_config_load(cfg->dir, &mc, err));
    MMRT_TRY(check_features(g, &mc, cfg->dir, err));
    MMRT_TRY(mmrt_log_mel_init(&mc, &g->mel, err));
    return load_audio_token(cfg, &g->audio_token, err);
}

static void granite_speech_free(mmrt_granite_speech *g) {
    mmrt_conformer_free(&g->enc);
    mmrt_qformer_free(&g->proj);
    mmrt_log_mel_free(g->mel);
    memset(g, 0, sizeof *g);
}

/* ---- encoding -------------------------------------------------------------------------------- */

typedef struct pass {
    mmrt_backend *be;
    mmrt_arena arena;
    const float *features;
    int64_t n_rows;
    const float *zeros; /* host: the projector's padding frames */
    mmrt_encoder_progress_fn progress;
    void *user;
    mmrt_granite_speech_hooks hooks;
} pass;

static int conformer_step(int32_t layer_done, void *user) {
    pass *ps = user;
    return ps->progress ? ps->progress(layer_done, ps->user) : 0;
}

static void conformer_hidden(int index, const mmrt_tensor *x, void *user) {
    pass *ps = user;
    if (ps->hooks.on_hidden) ps->hooks.on_hidden(index, x, ps->hooks.user);
}

static mmrt_status run_pass(const mmrt_granite_speech *g, pass *ps, mmrt_tensor *out, mmrt_error *err) {
    mmrt_backend *be = ps->be;
    const mmrt_conformer_hparams *eh = &g->enc.hp;
    int64_t n = ps->n_rows, n_pad = mmrt_qformer_n_windows(&g->proj.hp, n) * g->proj.hp.window;
    mmrt_tensor x = mmrt_arena_tensor(&ps->arena, MMRT_F32, 2, (int64_t[]){eh->input_dim, n}, err); /* (n, in) */
    mmrt_tensor frames = mmrt_arena_matrix(&ps->arena, be, eh->n_embd, n_pad, err); /* (n_pad, D) */
    if (!x.data || !frames.data) return err ? err->status : MMRT_ERR_OOM;
    x.backend = be;
    MMRT_TRY(be->iface->upload(be, x.data, ps->features, (size_t)(n * eh->input_dim) * sizeof(float), err));
    mmrt_tensor pad = mmrt_tensor_slice(&frames, 1, n, n_pad - n);
    if (n_pad > n) MMRT_TRY(be->iface->upload(be, pad.data, ps->zeros, mmrt_tensor_nbytes(&pad), err));
    mmrt_tensor enc = mmrt_tensor_slice(&frames, 1, 0, n);
    const mmrt_conformer_hooks hooks = {.on_hidden = ps->hooks.on_hidden ? conformer_hidden : NULL,
                                        .on_step = conformer_step, .user = ps};
    MMRT_TRY(mmrt_conformer_forward(&g->enc, be, &ps->arena, &x, &enc, &hooks, err));
    MMRT_TRY(mmrt_qformer_forward(&g->proj, be, &ps->arena, &frames, out, err));
    MMRT_TRY(be->iface->synchronize(be, err));
    if (ps->progress && ps->progress((int32_t)eh->n_layer + 1, ps->user) != 0)
        return mmrt_error_set(err, MMRT_ERR_ABORTED, "audio encoding stopped by the progress callback (after the "
                                                     "projector)");
    return MMRT_OK;
}

mmrt_status mmrt_granite_speech_encode(const mmrt_granite_speech *g, mmrt_backend *be, const float *features,
                                       int64_t n_rows, mmrt_tensor *out, mmrt_encoder_progress_fn progress,
                                       void *user, const mmrt_granite_speech_hooks *hooks, mmrt_error *err) {
    const mmrt_qformer_hparams *ph = &g->proj.hp;
    int64_t n_out = mmrt_qformer_n_windows(ph, n_rows) * ph->n_query;
    if (!features || n_rows < 1 || n_rows > ((int64_t)1 << 24))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "audio encode: %lld feature rows out of range",
                              (long long)n_rows);
    if (out->type != MMRT_F32 || out->ne[0] != ph->text_hidden || out->ne[1] != n_out)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "audio encode: out is not (%lld, %lld) f32",
                              (long long)n_out, (long long)ph->text_hidden);
    float *zeros = calloc((size_t)(ph->window * g->enc.hp.n_embd), sizeof *zeros);
    if (!zeros) return mmrt_error_oom(err, (size_t)(ph->window * g->enc.hp.n_embd) * sizeof *zeros, "audio padding");
    pass ps = {.be = be, .features = features, .n_rows = n_rows, .zeros = zeros, .progress = progress,
               .user = user};
    if (hooks) ps.hooks = *hooks;
    /* the scratch is what this very pass allocates: run first on the plan backend (core/arena.h) */
    mmrt_backend plan = mmrt_backend_plan();
    pass planned = {.be = &plan, .features = features, .n_rows = n_rows, .zeros = zeros};
    mmrt_arena_measure(&planned.arena, "audio encoder scratch");
    mmrt_tensor plan_out = *out;
    plan_out.backend = &plan;
    mmrt_status st = run_pass(g, &planned, &plan_out, err);
    void *base = NULL;
    if (st == MMRT_OK && be->iface->buffer_alloc(be, planned.arena.peak, &base, err) != MMRT_OK)
        st = mmrt_error_wrap(err, "audio encoder scratch for %lld frames (%.1f MiB)", (long long)n_rows,
                             (double)planned.arena.peak / 1048576.0);
    if (st == MMRT_OK) {
        mmrt_arena_wrap(&ps.arena, "audio encoder scratch", base, planned.arena.peak);
        st = run_pass(g, &ps, out, err);
        if (st != MMRT_OK) { /* no copy may still read the host buffers */
            mmrt_error ignored = {0};
            be->iface->synchronize(be, &ignored);
        }
        be->iface->buffer_free(be, base);
    }
    free(zeros);
    return st;
}

/* ---- the encoder ----------------------------------------------------------------------------- */

typedef struct prepared {
    float *features; /* (n_rows, input_dim) */
    int64_t n_rows;
} prepared;

#define AUDIO_PART_TYPES \
    ((1u << MMRT_PART_AUDIO_FILE) | (1u << MMRT_PART_AUDIO_BYTES) | (1u << MMRT_PART_AUDIO_SAMPLES))

static const char *part_name(const mmrt_part *p, size_t i, char *buf, size_t size) {
    if (p->text) return p->text;
    snprintf(buf, size, "audio part %zu", i);
    return buf;
}

/* Part i decoded to 16 kHz mono; errors name the part (audio/audio.h names it as given). */
static mmrt_status decode_part(const mmrt_part *p, size_t i, mmrt_audio *out, mmrt_error *err) {
    char name[48];
    const char *nm = part_name(p, i, name, sizeof name);
    switch (p->type) {
    case MMRT_PART_AUDIO_FILE:
        if (!p->text) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "audio part %zu: NULL path", i);
        return mmrt_audio_load_file(p->text, NULL, out, err);
    case MMRT_PART_AUDIO_BYTES:
        if (!p->data) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: NULL bytes", nm);
        return mmrt_audio_load_memory(p->data, p->size, nm, NULL, out, err);
    case MMRT_PART_AUDIO_SAMPLES:
        if (!p->data) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: NULL samples", nm);
        if (p->size > (size_t)INT64_MAX)
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: %zu frames", nm, p->size);
        return mmrt_audio_from_samples(p->data, (int64_t)p->size, p->channels, p->sample_rate, nm, NULL, out, err);
    default: break;
    }
    return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "part %zu: not an audio part (type %d)", i, (int)p->type);
}

/* The expansion, the token count and a hash of the 16 kHz samples with the feature settings. */
static mmrt_status describe_input(const mmrt_granite_speech *g, const mmrt_audio *a, mmrt_media_input *in,
                                  mmrt_error *err) {
    const mmrt_log_mel_config *mc = mmrt_log_mel_get_config(g->mel);
    in->n_tokens = mmrt_log_mel_n_audio_tokens(mc, a->n_samples);
    mmrt_strbuf b = {0};
    mmrt_status st = MMRT_OK;
    for (int64_t i = 0; i < in->n_tokens && st == MMRT_OK; i++)
        st = mmrt_strbuf_puts(&b, MMRT_GRANITE_SPEECH_PLACEHOLDER, err);
    if (st == MMRT_OK && !(in->text = mmrt_strbuf_take(&b))) st = mmrt_error_oom(err, 1, "prompt");
    mmrt_strbuf_free(&b);
    MMRT_TRY(st);
    char px[MMRT_SHA256_HEX_LEN], all[MMRT_SHA256_HEX_LEN + 128];
    MMRT_TRY(mmrt_sha256_buf(a->samples, (size_t)a->n_samples * sizeof(float), px, err));
    int len = snprintf(all, sizeof all, "granite_speech %s %lld %d %d %d %d", px, (long long)a->n_samples, mc->n_fft,
                       mc->win_length, mc->hop_length, mc->n_mels);
    MMRT_TRY(mmrt_sha256_buf(all, (size_t)len, in->hash, err));
    in->n_steps = (int32_t)g->enc.hp.n_layer + 1;
    return MMRT_OK;
}

static mmrt_status features_of(const mmrt_granite_speech *g, const mmrt_audio *a, prepared *pp, mmrt_error *err) {
    const mmrt_log_mel_config *mc = mmrt_log_mel_get_config(g->mel);
    int64_t min = mmrt_log_mel_min_samples(mc);
    if (a->n_samples < min)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%lld samples at 16 kHz are too short: Granite Speech's features need at least %lld",
                              (long long)a->n_samples, (long long)min);
    pp->n_rows = mmrt_log_mel_n_rows(mc, a->n_samples);
    if (pp->n_rows < 1)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%lld samples give no feature frame", (long long)a->n_samples);
    size_t n = (size_t)(pp->n_rows * 2 * mc->n_mels);
    if (!(pp->features = malloc(n * sizeof(float)))) return mmrt_error_oom(err, n * sizeof(float), "audio features");
    return mmrt_log_mel_compute(g->mel, a->samples, a->n_samples, pp->features, err);
}

static mmrt_status enc_prepare(const mmrt_encoder *e, const mmrt_part *part, size_t index,
                               const mmrt_generate_params *params, mmrt_media_input *in, mmrt_error *err) {
    (void)params;
    const mmrt_granite_speech *g = e->impl;
    mmrt_audio a = {0};
    MMRT_TRY(decode_part(part, index, &a, err));
    prepared *pp = calloc(1, sizeof *pp);
    mmrt_status st = pp ? features_of(g, &a, pp, err) : mmrt_error_oom(err, sizeof *pp, "audio");
    if (st == MMRT_OK) {
        in->data = pp;
        st = describe_input(g, &a, in, err);
    } else if (pp) {
        char name[48];
        free(pp->features);
        free(pp);
        mmrt_error_wrap(err, "%s", part_name(part, index, name, sizeof name));
    }
    mmrt_audio_free(&a);
    return st;
}

static mmrt_status enc_encode(const mmrt_encoder *e, mmrt_backend *be, const mmrt_media_input *in,
                              mmrt_encoder_progress_fn progress, void *user, mmrt_tensor *rows, mmrt_error *err) {
    const mmrt_granite_speech *g = e->impl;
    const prepared *pp = in->data;
    MMRT_TRY(mmrt_media_rows_alloc(be, in->n_tokens, g->proj.hp.text_hidden, rows, err));
    mmrt_status st = mmrt_granite_speech_encode(g, be, pp->features, pp->n_rows, rows, progress, user, NULL, err);
    if (st != MMRT_OK) mmrt_media_rows_free(be, rows);
    return st;
}

static void enc_release(const mmrt_encoder *e, mmrt_media_input *in) {
    (void)e;
    prepared *pp = in->data;
    if (pp) free(pp->features);
    free(pp);
    in->data = NULL;
}

static mmrt_status enc_upload(mmrt_encoder *e, mmrt_weight_upload *u, mmrt_error *err) {
    mmrt_granite_speech *g = e->impl;
    MMRT_TRY(mmrt_weight_list_upload(&g->enc.weights, u, err));
    return mmrt_weight_list_upload(&g->proj.weights, u, err);
}

static void enc_describe(const mmrt_encoder *e, mmrt_model_info *info) {
    (void)e;
    info->audio = true;
}

typedef struct speech_encoder {
    mmrt_encoder base;
    mmrt_granite_speech g;
} speech_encoder;

static void enc_free(mmrt_encoder *e) {
    speech_encoder *se = (speech_encoder *)e;
    granite_speech_free(&se->g);
    free(se);
}

static const mmrt_encoder_i speech_iface = {
    .prepare = enc_prepare,
    .encode = enc_encode,
    .release = enc_release,
    .upload = enc_upload,
    .describe = enc_describe,
    .free = enc_free,
};

/* The whole family matches, so that its other classes are refused by name rather than loaded as
 * something else. */
static bool factory_matches(const mmrt_encoder_config *cfg) {
    return strncmp(cfg->model_type, "granite_speech", strlen("granite_speech")) == 0;
}

static mmrt_status factory_init(const mmrt_encoder_config *cfg, mmrt_encoder **out, mmrt_error *err) {
    speech_encoder *se = calloc(1, sizeof *se);
    if (!se) return mmrt_error_oom(err, sizeof *se, "audio encoder");
    mmrt_status st = init(&se->g, cfg, err);
    if (st != MMRT_OK) {
        granite_speech_free(&se->g);
        free(se);
        return st;
    }
    se->base = (mmrt_encoder){.iface = &speech_iface, .name = "Granite Speech audio", .noun = "audio clip",
                              .part_types = AUDIO_PART_TYPES, .stage = MMRT_STAGE_AUDIO_ENCODE,
                              .placeholder = MMRT_GRANITE_SPEECH_PLACEHOLDER, .typed_content = false,
                              .token = se->g.audio_token, .lora = se->g.has_lora ? "default" : NULL, .impl = &se->g};
    *out = &se->base;
    return MMRT_OK;
}

const mmrt_encoder_factory mmrt_granite_speech_encoder_factory = {
    .name = "granite_speech",
    .matches = factory_matches,
    .init = factory_init,
    .text_config = "text_config",
    .decoder_prefix = "language_model.model.", /* lm_head: language_model.lm_head.weight when untied */
};
