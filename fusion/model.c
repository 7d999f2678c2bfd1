/* mmrt_model: loading a checkpoint directory (or repo id) and describing it. */
#include "model.h"

#include "core/fsutil.h"
#include "core/hf_hub.h"
#include "core/json.h"
#include "core/log.h"
#include "fusion/api_struct.h"
#include "fusion/gguf_model.h"
#include "fusion/quantize.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mmrt_model_params model_defaults = {.size = sizeof(mmrt_model_params), .device = MMRT_DEVICE_AUTO,
                                                 .math = MMRT_MATH_AUTO, .progress = true};

void mmrt_model_params_init(mmrt_model_params *p, size_t size) {
    mmrt_api_struct_init(p, size, &model_defaults, sizeof model_defaults);
}

/* The public device to the backend registry's kind. */
static mmrt_status device_kind(mmrt_device d, mmrt_device_kind *out, mmrt_error *err) {
    switch (d) {
    case MMRT_DEVICE_AUTO: *out = MMRT_DEVICE_KIND_AUTO; return MMRT_OK;
    case MMRT_DEVICE_CPU: *out = MMRT_DEVICE_KIND_CPU; return MMRT_OK;
    case MMRT_DEVICE_CUDA: *out = MMRT_DEVICE_KIND_CUDA; return MMRT_OK;
    }
    return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_model_params.device: unknown device %d", (int)d);
}

mmrt_status mmrt_math_parse(const char *name, mmrt_math *out, mmrt_error *err) {
    if (!name || strcmp(name, "auto") == 0) *out = MMRT_MATH_AUTO;
    else if (strcmp(name, "f32") == 0) *out = MMRT_MATH_F32;
    else if (strcmp(name, "tf32") == 0) *out = MMRT_MATH_TF32;
    else if (strcmp(name, "bf16") == 0) *out = MMRT_MATH_BF16;
    else if (strcmp(name, "f16") == 0) *out = MMRT_MATH_F16;
    else if (strcmp(name, "int8") == 0) *out = MMRT_MATH_INT8;
    else return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "unknown math \"%s\" (use auto, f32, bf16, int8, tf32 or f16)", name);
    return MMRT_OK;
}

mmrt_status mmrt_device_parse(const char *name, mmrt_device_kind *out, mmrt_error *err) {
    if (!name || strcmp(name, "auto") == 0) *out = MMRT_DEVICE_KIND_AUTO;
    else if (strcmp(name, "cpu") == 0) *out = MMRT_DEVICE_KIND_CPU;
    else if (strcmp(name, "cuda") == 0) *out = MMRT_DEVICE_KIND_CUDA;
    else return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "unknown device \"%s\" (use cpu, cuda or auto)", name);
    return MMRT_OK;
}

#define MAX_ENCODERS 8

/* What the registry knows of a checkpoint: its config.json, the factories that match it. */
typedef struct checkpoint {
    char *config_path;
    cJSON *config;
    mmrt_encoder_config ecfg;
    const mmrt_encoder_factory *factories[MAX_ENCODERS];
    size_t n_factories;
    const char *text_config;    /* where the decoder's settings are (NULL: top level) */
    const char *decoder_prefix; /* of its weights */
} checkpoint;

static void checkpoint_free(checkpoint *c) {
    cJSON_Delete(c->config);
    free(c->config_path);
}

/* Reads config.json and asks the registry which encoders the checkpoint has; the first of them
 * that says where the decoder lives decides that. */
static mmrt_status checkpoint_read(mmrt_model *m, checkpoint *c, mmrt_error *err) {
    memset(c, 0, sizeof *c);
    if (!(c->config_path = mmrt_fs_path_join(m->dir, "config.json"))) return mmrt_error_oom(err, 0, "path");
    MMRT_TRY(mmrt_json_load_file(c->config_path, &c->config, err));
    if (!cJSON_IsObject(c->config))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: not a JSON object", c->config_path);
    const char *model_type = NULL;
    MMRT_TRY(mmrt_json_get_string(c->config, "model_type", true, &model_type, c->config_path, err));
    snprintf(m->arch, sizeof m->arch, "%s", model_type);
    c->ecfg = (mmrt_encoder_config){.dir = m->dir, .config_path = c->config_path, .config = c->config,
                                    .model_type = model_type};
    c->n_factories = mmrt_encoder_factories_match(&c->ecfg, c->factories, MAX_ENCODERS);
    c->decoder_prefix = "model.";
    for (size_t i = c->n_factories; i-- > 0;) {
        if (c->factories[i]->text_config) c->text_config = c->factories[i]->text_config;
        if (c->factories[i]->decoder_prefix) c->decoder_prefix = c->factories[i]->decoder_prefix;
    }
    return MMRT_OK;
}

/* The decoder's settings: config.json itself, or its text_config for a checkpoint with encoders
 * (whose top-level tie_word_embeddings is the one transformers applies); then, when present,
 * generation_config.json. */
static mmrt_status load_hparams(mmrt_model *m, const checkpoint *c, mmrt_llm_hparams *hp, mmrt_error *err) {
    if (c->text_config) {
        const cJSON *text = NULL;
        MMRT_TRY(mmrt_json_get_object(c->config, c->text_config, true, &text, c->config_path, err));
        MMRT_TRY(mmrt_llm_hparams_parse(text, c->config_path, hp, err));
        MMRT_TRY(mmrt_json_get_bool(c->config, "tie_word_embeddings", false, false, &hp->tie_embeddings,
                                    c->config_path, err));
        /* a composite model's own forward computes logits = lm_head(h) over its language model's
         * base class (transformers 5: AutoModel, e.g. GraniteModel), so a *ForCausalLM's logit
         * post-processing never runs: GraniteSpeechForConditionalGeneration does not divide by
         * logits_scaling (GraniteForCausalLM does) */
        hp->logit_scale = 1.0f;
    } else {
        MMRT_TRY(mmrt_llm_hparams_parse(c->config, c->config_path, hp, err));
    }
    char *gpath = mmrt_fs_path_join(m->dir, "generation_config.json");
    if (!gpath) return mmrt_error_oom(err, 0, "path");
    cJSON *gen = NULL;
    mmrt_status st = MMRT_OK;
    if (mmrt_fs_is_file(gpath)) {
        st = mmrt_json_load_file(gpath, &gen, err);
        if (st == MMRT_OK) st = mmrt_llm_hparams_apply_generation_config(hp, gen, gpath, err);
    }
    cJSON_Delete(gen);
    free(gpath);
    return st;
}

static void count_params(mmrt_model *m) {
    size_t n = mmrt_weights_count(m->weights);
    int dtypes = 0;
    for (size_t i = 0; i < n; i++) {
        const mmrt_st_tensor *t = mmrt_weights_at(m->weights, i);
        int64_t ne = 1;
        for (int d = 0; d < t->n_dims; d++) ne *= t->shape[d];
        m->n_params += ne;
        dtypes |= 1 << t->dtype;
    }
    m->dtype = dtypes == 1 << MMRT_BF16 ? "BF16" : dtypes == 1 << MMRT_F16 ? "F16"
             : dtypes == 1 << MMRT_F32  ? "F32"  : "mixed";
}

/* MMRT_MATH_AUTO as transformers' dtype="auto" reads it: config.json's "dtype" (transformers 5) or
 * "torch_dtype", at the top or in text_config, else the weights' own dtype; quantized weights
 * compute as llama.cpp does them (INT8). */
static mmrt_math auto_math(const mmrt_model *m, const checkpoint *c) {
    for (size_t i = 0; i < mmrt_weights_count(m->weights); i++)
        if (mmrt_dtype_is_quant(mmrt_weights_at(m->weights, i)->dtype)) return MMRT_MATH_INT8;
    const cJSON *cfgs[2] = {c->config, cJSON_GetObjectItemCaseSensitive(c->config, "text_config")};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2 && cJSON_IsObject(cfgs[i]); j++) {
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(cfgs[i], j ? "torch_dtype" : "dtype");
            if (!cJSON_IsString(d)) continue;
            if (strcmp(d->valuestring, "bfloat16") == 0) return MMRT_MATH_BF16;
            if (strcmp(d->valuestring, "float16") == 0) return MMRT_MATH_F16;
            if (strcmp(d->valuestring, "float32") == 0) return MMRT_MATH_F32;
        }
    return strcmp(m->dtype, "BF16") == 0 ? MMRT_MATH_BF16 : strcmp(m->dtype, "F16") == 0 ? MMRT_MATH_F16 : MMRT_MATH_F32;
}

static mmrt_status init_encoders(mmrt_model *m, checkpoint *c, mmrt_error *err) {
    if (c->n_factories == 0) return MMRT_OK;
    if (!(m->encoders = calloc(c->n_factories, sizeof *m->encoders)))
        return mmrt_error_oom(err, c->n_factories * sizeof *m->encoders, "encoders");
    c->ecfg.weights = m->weights;
    c->ecfg.tok = m->tok;
    c->ecfg.text = &m->llm.hp;
    for (size_t i = 0; i < c->n_factories; i++) {
        MMRT_TRY(c->factories[i]->init(&c->ecfg, &m->encoders[i], err));
        m->n_encoders++;
    }
    return MMRT_OK;
}

/* mmrt_model_params.quant: m->weights replaced by their quantized set (which owns the old one). */
static mmrt_status quantize_weights(mmrt_model *m, mmrt_error *err) {
    if (m->quant == MMRT_F32) return MMRT_OK;
    mmrt_weights *src = m->weights;
    m->weights = NULL; /* taken over by mmrt_weights_quantize, also when it fails */
    return mmrt_weights_quantize(src, m->quant, m->backend.n_threads, &m->weights, err);
}

static mmrt_status load_dir(mmrt_model *m, checkpoint *c, mmrt_error *err) {
    mmrt_llm_hparams hp;
    MMRT_TRY(checkpoint_read(m, c, err));
    MMRT_TRY(load_hparams(m, c, &hp, err));
    MMRT_TRY(mmrt_weights_open(m->dir, &m->weights, err));
    MMRT_TRY(quantize_weights(m, err));
    count_params(m);
    if (m->quant != MMRT_F32) m->dtype = mmrt_dtype_name(m->quant); /* the decoder matrices' type */
    MMRT_TRY(mmrt_llm_init(&m->llm, &hp, m->weights, c->decoder_prefix, err));
    /* a PEFT LoRA adapter in the directory becomes the decoder's adapter "default"; a config that
     * says the checkpoint ships one (Granite Speech) without its files is an error */
    bool has_lora = false;
    MMRT_TRY(mmrt_json_get_bool(c->config, "has_lora_adapter", false, false, &has_lora, c->config_path, err));
    if (has_lora) MMRT_TRY(mmrt_lora_require(m->dir, "config.json says has_lora_adapter: true", err));
    if (mmrt_lora_present(m->dir)) MMRT_TRY(mmrt_llm_load_adapter(&m->llm, m->dir, c->decoder_prefix, err));

    char *tok_path = mmrt_fs_path_join(m->dir, "tokenizer.json");
    if (!tok_path) return mmrt_error_oom(err, 0, "path");
    mmrt_status st = mmrt_tokenizer_load(tok_path, &m->tok, err);
    free(tok_path);
    MMRT_TRY(st);
    if (mmrt_tokenizer_n_vocab(m->tok) > hp.n_vocab)
        return mmrt_error_set(err, MMRT_ERR_MODEL,
                              "%s: tokenizer.json has %d tokens but config.json vocab_size is %lld",
                              m->dir, mmrt_tokenizer_n_vocab(m->tok), (long long)hp.n_vocab);
    MMRT_TRY(init_encoders(m, c, err));
    /* a checkpoint with encoders has a processor, whose chat template is looked up first */
    MMRT_TRY(mmrt_chat_template_load(m->dir, m->n_encoders > 0, &m->chat, err));
    /* message content as the processor passes it: typed parts if an encoder's processor does so */
    m->chat.content_parts = false;
    for (size_t i = 0; i < m->n_encoders; i++) m->chat.content_parts |= m->encoders[i]->typed_content;
    return MMRT_OK;
}

/* A .gguf file (fusion/gguf_model.h): its weights, tokenizer and chat template taken over, its
 * synthetic config.json read as a checkpoint's. */
static mmrt_status load_gguf(mmrt_model *m, mmrt_error *err) {
    mmrt_gguf_model g;
    MMRT_TRY(mmrt_gguf_model_open(m->dir, &g, err));
    m->weights = g.weights;
    m->tok = g.tok;
    m->chat = g.chat;
    g.weights = NULL;
    g.tok = NULL;
    memset(&g.chat, 0, sizeof g.chat);
    snprintf(m->arch, sizeof m->arch, "llama");
    const char *dtype = g.dtype;
    mmrt_llm_hparams hp;
    mmrt_status st = mmrt_llm_hparams_parse(g.config, m->dir, &hp, err);
    mmrt_gguf_model_free(&g);
    MMRT_TRY(st);
    MMRT_TRY(quantize_weights(m, err));
    count_params(m);
    m->dtype = m->quant == MMRT_F32 ? dtype : mmrt_dtype_name(m->quant); /* the matrices' type: the norms are F32 */
    MMRT_TRY(mmrt_llm_init(&m->llm, &hp, m->weights, "model.", err));
    if (mmrt_tokenizer_n_vocab(m->tok) > hp.n_vocab)
        return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: the tokenizer has %d tokens but the model's vocabulary is %lld",
                              m->dir, mmrt_tokenizer_n_vocab(m->tok), (long long)hp.n_vocab);
    return MMRT_OK;
}

/* A directory without config.json holding exactly one .gguf file: that file (malloc'ed), else
 * NULL. */
static char *single_gguf(const char *dir) {
    char *cfg = mmrt_fs_path_join(dir, "config.json");
    bool has_cfg = cfg && mmrt_fs_is_file(cfg);
    free(cfg);
    DIR *d = has_cfg ? NULL : opendir(dir);
    if (!d) return NULL;
    char *found = NULL;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (mmrt_gguf_model_is_path(e->d_name) && n++ == 0) found = mmrt_fs_path_join(dir, e->d_name);
    closedir(d);
    if (n == 1 && found && mmrt_fs_is_file(found)) return found;
    free(found);
    return NULL;
}

/* The model's backend, and the weights on it: read by every session (sessions fork the backend). */
static mmrt_status upload_to(mmrt_model *m, const mmrt_backend_params *bp, mmrt_error *err) {
    MMRT_TRY(mmrt_backend_init(bp, &m->be, err));
    mmrt_weight_upload_init(&m->up, m->be, bp->math);
    mmrt_status st = mmrt_llm_upload(&m->llm, &m->up, err);
    for (size_t i = 0; i < m->n_encoders && st == MMRT_OK; i++)
        if (m->encoders[i]->iface->upload) st = m->encoders[i]->iface->upload(m->encoders[i], &m->up, err);
    if (st == MMRT_OK) st = mmrt_weight_upload_finish(&m->up, err);
    if (st != MMRT_OK) { /* the weights point into the mmap again, ready for another backend */
        mmrt_weight_upload_rollback(&m->up);
        mmrt_backend_free(m->be);
        m->be = NULL;
    }
    return st;
}

/* device auto: the weights not fitting on the GPU is a reason to run on the CPU, said once. */
static mmrt_status upload_weights(mmrt_model *m, mmrt_error *err) {
    mmrt_status st = upload_to(m, &m->backend, err);
    if (st == MMRT_ERR_OOM && m->backend.device == MMRT_DEVICE_KIND_AUTO) {
        MMRT_LOG_W("device auto: running on the CPU: %s", err->msg);
        mmrt_error_clear(err);
        m->backend.device = MMRT_DEVICE_KIND_CPU;
        st = upload_to(m, &m->backend, err);
    }
    if (st != MMRT_OK) return st;
    if (m->up.bytes)
        MMRT_LOG_I("weights on %s: %.1f MiB in %zu buffers", m->be->iface->name,
                   (double)m->up.bytes / 1048576.0, m->up.n);
    return MMRT_OK;
}

mmrt_status mmrt_model_load(const char *path_or_repo, const mmrt_model_params *params,
                            mmrt_model **out) {
    mmrt_error err = {0};
    mmrt_model_params p;
    mmrt_status st = mmrt_api_struct_in(&p, &model_defaults, sizeof p, params, "mmrt_model_params", &err);
    params = &p;
    mmrt_model *m = NULL;
    if (st == MMRT_OK && (!out || !path_or_repo))
        st = mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "mmrt_model_load: NULL argument");
    if (st == MMRT_OK && p.math > MMRT_MATH_INT8)
        st = mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "mmrt_model_params.math: unknown math %d", (int)p.math);
    const char *env = getenv("MMRT_MATH"); /* the default's default, e.g. MMRT_MATH=f32 for tests */
    mmrt_error env_err = {0};
    if (st == MMRT_OK && p.math == MMRT_MATH_AUTO && env && *env && mmrt_math_parse(env, &p.math, &env_err) != MMRT_OK)
        st = mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "environment variable MMRT_MATH: %s", env_err.msg);
    if (st != MMRT_OK) goto done;
    *out = NULL;
    m = calloc(1, sizeof *m);
    if (!m) {
        st = mmrt_error_oom(&err, sizeof *m, "model");
        goto done;
    }
    m->backend.n_threads = params->n_threads;
    static const mmrt_dtype quant_types[] = {MMRT_F32, MMRT_Q8_0, MMRT_Q4_0, MMRT_Q4_K}; /* mmrt_quant's order */
    if ((unsigned)params->quant >= sizeof quant_types / sizeof *quant_types) {
        st = mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "mmrt_model_params.quant: unknown quantization %d",
                            (int)params->quant);
        goto done;
    }
    m->quant = quant_types[params->quant];
    if ((st = device_kind(params->device, &m->backend.device, &err)) != MMRT_OK) goto done;
    m->backend.math = params->math;
    bool gguf = false;
    if (mmrt_fs_is_dir(path_or_repo) && (m->dir = single_gguf(path_or_repo))) {
        gguf = true;
    } else if (mmrt_fs_is_dir(path_or_repo) || mmrt_gguf_model_is_path(path_or_repo)) {
        /* a name ending in .gguf is a file (never a repo id): opening it names what is wrong */
        gguf = !mmrt_fs_is_dir(path_or_repo);
        m->dir = strdup(path_or_repo);
        if (!m->dir) st = mmrt_error_oom(&err, strlen(path_or_repo), "path");
    } else if (mmrt_hub_is_repo_id(path_or_repo)) {
        /* a repo id: the Hugging Face cache, else a download into it */
        mmrt_hub_params hp = mmrt_hub_default_params();
        if (params->revision) hp.revision = params->revision;
        hp.offline = hp.offline || params->offline;
        hp.progress = params->progress;
        st = mmrt_hub_fetch_model(path_or_repo, &hp, &m->dir, &err);
    } else {
        st = mmrt_error_set(&err, MMRT_ERR_IO, "%s: not a model directory, a .gguf file or a Hugging Face repo id",
                            path_or_repo);
    }
    checkpoint c = {0};
    if (st == MMRT_OK) st = gguf ? load_gguf(m, &err) : load_dir(m, &c, &err);
    if (st == MMRT_OK && m->backend.math == MMRT_MATH_AUTO) m->backend.math = auto_math(m, &c);
    checkpoint_free(&c);
    if (st == MMRT_OK) st = upload_weights(m, &err);
done:
    if (st != MMRT_OK) {
        mmrt_model_free(m);
        mmrt_error_publish(&err);
        return st;
    }
    static const char *const math_names[] = {"f32", "tf32", "bf16", "f16", "auto", "int8"};
    MMRT_LOG_I("loaded %s: %s, %lld layers, %.1f M parameters (%s), %s arithmetic", m->dir, m->arch,
               (long long)m->llm.hp.n_layer, (double)m->n_params / 1e6, m->dtype, math_names[m->backend.math]);
    *out = m;
    return MMRT_OK;
}

void mmrt_model_free(mmrt_model *m) {
    if (!m) return;
    mmrt_weight_upload_free(&m->up);
    mmrt_backend_free(m->be);
    mmrt_llm_free(&m->llm);
    for (size_t i = 0; i < m->n_encoders; i++) m->encoders[i]->iface->free(m->encoders[i]);
    free(m->encoders);
    mmrt_tokenizer_free(m->tok);
    mmrt_chat_template_free(&m->chat);
    mmrt_weights_free(m->weights);
    free(m->dir);
    free(m);
}

/* For calls on the model: the message goes to mmrt_last_error(). */
static mmrt_status publish(mmrt_error *err, mmrt_status st) {
    if (st != MMRT_OK) mmrt_error_publish(err);
    return st;
}

mmrt_status mmrt_model_get_info(const mmrt_model *m, mmrt_model_info *caller) {
    mmrt_error err = {0};
    if (!m || !caller) return publish(&err, mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "mmrt_model_get_info: NULL argument"));
    mmrt_status st = mmrt_api_struct_check(caller, "mmrt_model_info", &err);
    if (st != MMRT_OK) return publish(&err, st);
    mmrt_model_info full, *info = &full;
    const mmrt_llm_hparams *hp = &m->llm.hp;
    int64_t bytes = 0;
    for (size_t i = 0; i < mmrt_weights_count(m->weights); i++)
        bytes += (int64_t)mmrt_weights_at(m->weights, i)->n_bytes;
    *info = (mmrt_model_info){
        .path = m->dir,
        .architecture = m->arch,
        .dtype = m->dtype,
        .n_params = m->n_params,
        .n_tensors = (int64_t)mmrt_weights_count(m->weights),
        .weight_bytes = bytes,
        .n_vocab = hp->n_vocab,
        .n_embd = hp->n_embd,
        .n_layer = hp->n_layer,
        .n_head = hp->n_head,
        .n_head_kv = hp->n_head_kv,
        .head_dim = hp->head_dim,
        .n_ff = hp->n_ff,
        .n_ctx_train = hp->n_ctx_train,
        .tied_embeddings = hp->tie_embeddings,
        .chat_format = mmrt_chat_template_kind(&m->chat),
        .math = m->backend.math,
    };
    for (size_t i = 0; i < m->n_encoders; i++)
        if (m->encoders[i]->iface->describe) m->encoders[i]->iface->describe(m->encoders[i], info);
    mmrt_api_struct_out(caller, info, sizeof *info);
    return MMRT_OK;
}

mmrt_status mmrt_model_tokenize(const mmrt_model *m, const char *text, size_t len, bool parse_special,
                                int32_t **ids, size_t *n_ids) {
    mmrt_error err = {0};
    if (!m || !text || !ids || !n_ids)
        return publish(&err, mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "mmrt_model_tokenize: NULL argument"));
    return publish(&err, mmrt_tokenizer_encode(m->tok, text, len, parse_special, ids, n_ids, &err));
}

mmrt_status mmrt_model_detokenize(const mmrt_model *m, const int32_t *ids, size_t n, bool special, char **text) {
    mmrt_error err = {0};
    if (!m || (!ids && n > 0) || !text)
        return publish(&err, mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "mmrt_model_detokenize: NULL argument"));
    int32_t n_vocab = mmrt_tokenizer_n_vocab(m->tok);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            return publish(&err, mmrt_error_set(&err, MMRT_ERR_INVALID_ARG,
                                                "mmrt_model_detokenize: id %d at %zu is outside the vocabulary "
                                                "(0 .. %d)",
                                                ids[i], i, n_vocab - 1));
    return publish(&err, mmrt_tokenizer_decode(m->tok, ids, n, !special, text, NULL, &err));
}
