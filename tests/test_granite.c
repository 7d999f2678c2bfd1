/* The Granite decoder and its PEFT LoRA adapter against transformers (+ peft), on every
 * tests/fixtures/granite case (tools/fixtures_granite.py): per-layer hidden states, logits and
 * greedy generations with the muP multipliers, the Granite 3.x / 4.x tokenizer pipelines over the
 * hard-string corpus, the adapter on and off, refusals of what is not implemented, and the mmrt
 * command. On the CPU or, as test_cuda_granite in the emulated CUDA build, on the CUDA backend. */
#include "core/backend.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "fusion/kv_prefix.h"
#include "fusion/llama.h"
#include "helpers/cli_run.h"
#include "helpers/compare.h"
#include "helpers/llm_fixture.h"
#include "helpers/st_writer.h"
#include "helpers/test_device.h"
#include "helpers/tmpdir.h"
#include "text/tokenizer.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOL 1e-4 /* ARCHITECTURE.md: f32 paths, max |got - ref| <= TOL * max |ref| */

static const char *const cases[] = {"granite3-tied-bf16", "granite4-untied-f32"};
#define N_CASES 2
#define LORA_CASE "granite3-tied-bf16"

/* ---- the decoder: hidden states, logits, greedy tokens ------------------------------------- */

/* The prompt's logits (adapter NULL: base weights; else "default") against prefix + p.logits. */
static void check_logits(llm_fixture *f, const char *prompt, const char *adapter, int64_t n_batch, bool hidden) {
    const char *prefix = adapter ? "lora." : "";
    const mmrt_st_tensor *ids = llm_fixture_ref(f, "", prompt, "input_ids");
    const mmrt_st_tensor *want = llm_fixture_ref(f, prefix, prompt, "logits");
    int64_t n = ids->shape[0];
    mmrt_backend *be = llm_fixture_backend(f, 2, false);
    mmrt_llm_state st;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_state_init(&st, &f->llm, be, 128, n_batch, &err), MMRT_OK, "%s", err.msg);
    float *logits = malloc(sizeof(float) * (size_t)(n * f->hp.n_vocab));
    llm_hidden_check hc = {.f = f, .prompt = prompt, .tol = TOL, .ok = true};
    mmrt_llm_batch b = {.ids = ids->data, .n_tok = n, .all_logits = true, .logits = logits, .adapter = adapter,
                        .on_hidden = hidden ? llm_fixture_on_hidden : NULL, .hidden_user = &hc};
    cr_assert_eq(mmrt_llm_decode(&f->llm, &st, &b, &err), MMRT_OK, "%s", err.msg);
    if (hidden) {
        cr_assert_eq(hc.n_checked, f->hp.n_layer + 2, "hidden states reported: %d", hc.n_checked);
        cr_assert(hc.ok, "%s %s: hidden states differ from transformers", f->dir, prompt);
    }
    char label[700];
    snprintf(label, sizeof label, "%s %s logits, adapter %s, batch %lld", f->dir, prompt, adapter ? adapter : "off",
             (long long)n_batch);
    /* the fixture keeps the logits of the last positions (hidden.<L> covers every position) */
    int64_t rows = want->shape[0];
    cr_assert(rows >= 1 && rows <= n && want->shape[1] == f->hp.n_vocab, "%s: reference shape", label);
    cr_assert(mmrt_test_close(label, logits + (n - rows) * f->hp.n_vocab, want->data, rows * f->hp.n_vocab, TOL),
              "%s differ from the reference", label);
    test_assert_no_fallback(be, label);
    free(logits);
    mmrt_llm_state_free(&st);
    mmrt_backend_free(be);
}

typedef struct run {
    int c;
    int prompt; /* 0 raw, 1 chat */
} case_run;

ParameterizedTestParameters(granite, matches_transformers) {
    static case_run runs[N_CASES * 2];
    for (int i = 0; i < N_CASES * 2; i++) runs[i] = (case_run){i / 2, i % 2};
    return cr_make_param_array(case_run, runs, N_CASES * 2);
}

ParameterizedTest(case_run *r, granite, matches_transformers) {
    const char *p = r->prompt ? "chat" : "raw";
    llm_fixture f;
    llm_fixture_open(&f, "granite", cases[r->c]);
    check_logits(&f, p, NULL, 512, true);
    check_logits(&f, p, NULL, 7, false); /* chunked prefill */
    llm_fixture_check_greedy(&f, p, NULL, 2, false);
    llm_fixture_close(&f);
}

/* The adapter on and off in one decoder: each call computes what it selects. */
ParameterizedTestParameters(granite, lora_matches_peft) {
    static int prompts[] = {0, 1};
    return cr_make_param_array(int, prompts, 2);
}

ParameterizedTest(int *prompt, granite, lora_matches_peft) {
    const char *p = *prompt ? "chat" : "raw";
    llm_fixture f;
    llm_fixture_open(&f, "granite", LORA_CASE);
    cr_assert_not_null(f.llm.lora, "%s: the adapter was not loaded", f.dir);
    cr_assert_eq(f.llm.lora->r, 8);
    cr_assert_float_eq(f.llm.lora->scale, 2.0f, 1e-7, "scale = lora_alpha / r = 16 / 8");
    check_logits(&f, p, "default", 512, false);
    check_logits(&f, p, NULL, 512, false);
    check_logits(&f, p, "default", 5, false);
    llm_fixture_check_greedy(&f, p, "default", 2, false);
    llm_fixture_close(&f);
}

Test(granite, lora_changes_the_logits) {
    /* the reference itself: the adapter moves the logits far beyond the tolerance, so that the
     * on/off checks above cannot pass by accident */
    llm_fixture f;
    llm_fixture_open(&f, "granite", LORA_CASE);
    const mmrt_st_tensor *on = llm_fixture_ref(&f, "lora.", "raw", "logits");
    const mmrt_st_tensor *off = llm_fixture_ref(&f, "", "raw", "logits");
    const float *a = on->data, *b = off->data;
    double diff = 0, mx = 0;
    for (size_t i = 0; i < on->n_bytes / sizeof(float); i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        mx = fmax(mx, fabs((double)b[i]));
    }
    cr_assert_gt(diff, 100 * TOL * mx, "adapter effect %g vs max |logit| %g", diff, mx);
    int32_t ids[3] = {5, 6, 7};
    float *logits = malloc(sizeof(float) * (size_t)f.hp.n_vocab);
    mmrt_backend *be = llm_fixture_backend(&f, 1, false);
    mmrt_llm_state st;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_state_init(&st, &f.llm, be, 16, 0, &err), MMRT_OK, "%s", err.msg);
    mmrt_llm_batch bad = {.ids = ids, .n_tok = 3, .logits = logits, .adapter = "other"};
    cr_assert_eq(mmrt_llm_decode(&f.llm, &st, &bad, &err), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(err.msg, "\"other\""), "message: %s", err.msg);
    free(logits);
    mmrt_llm_state_free(&st);
    mmrt_backend_free(be);
    llm_fixture_close(&f);
}

/* The KV cache's record keeps nothing across a change of adapter state (on -> off, off -> on, one
 * adapter -> another with the same ids), and everything but the last token when it is the same. */
Test(granite, kv_prefix_treats_the_adapter_as_part_of_the_prefix) {
    if (test_on_cuda()) cr_skip_test("host only");
    int32_t ids[6] = {3, 1, 4, 1, 5, 9};
    const char *states[] = {NULL, "default", "other"};
    mmrt_error err = {0};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            mmrt_kv_prefix c = {0};
            mmrt_kv_prompt was = {.ids = ids, .n = 6, .adapter = states[a]};
            cr_assert_eq(mmrt_kv_prefix_set(&c, &was, ids, 6, &err), MMRT_OK, "%s", err.msg);
            char other[16]; /* equal names in different storage still match */
            if (states[b]) snprintf(other, sizeof other, "%s", states[b]);
            mmrt_kv_prompt now = {.ids = ids, .n = 6, .adapter = states[b] ? other : NULL};
            cr_assert_eq(mmrt_kv_prefix_match(&c, &now), a == b ? 5 : 0, "adapter %s then %s",
                         states[a] ? states[a] : "none", states[b] ? states[b] : "none");
            mmrt_kv_prefix_free(&c);
        }
}

/* A decoder stored under "language_model.model." with its untied head beside it, as
 * "language_model.lm_head.weight" (Granite Speech's layout): the same logits. */
Test(granite, head_beside_an_outer_decoder_prefix) {
    if (test_on_cuda()) cr_skip_test("host only");
    llm_fixture f;
    llm_fixture_open(&f, "granite", "granite4-untied-f32");
    size_t n = mmrt_weights_count(f.weights);
    st_item *items = calloc(n, sizeof *items);
    char(*names)[256] = calloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++) {
        const mmrt_st_tensor *t = mmrt_weights_at(f.weights, i);
        cr_assert_eq(t->dtype, MMRT_F32);
        snprintf(names[i], sizeof names[i], "language_model.%s", t->name);
        items[i] = (st_item){names[i], "F32", t->n_dims, {t->shape[0], t->shape[1], t->shape[2], t->shape[3]},
                             t->data, t->n_bytes};
    }
    char *dir = tmpdir_make("granite-head");
    char *path = st_write(dir, "model.safetensors", items, n);
    mmrt_weights *w = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weights_open(path, &w, &err), MMRT_OK, "%s", err.msg);
    mmrt_llm_free(&f.llm);
    cr_assert_eq(mmrt_llm_init(&f.llm, &f.hp, w, "language_model.model.", &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(f.llm.lm_head.data, mmrt_weights_find(w, "language_model.lm_head.weight")->data);
    check_logits(&f, "raw", NULL, 512, false);
    llm_fixture_close(&f);
    mmrt_weights_free(w);
    tmpdir_remove(dir);
    free(path);
    free(items);
    free(names);
}

/* ---- tokenizer pipelines ------------------------------------------------------------------- */

ParameterizedTestParameters(granite, tokenizer_matches_hf) {
    static int idx[] = {0, 1};
    return cr_make_param_array(int, idx, N_CASES);
}

ParameterizedTest(int *c, granite, tokenizer_matches_hf) {
    if (test_on_cuda()) cr_skip_test("host only");
    char path[600];
    mmrt_error err = {0};
    mmrt_tokenizer *tok = NULL;
    snprintf(path, sizeof path, "%s/granite/%s/tokenizer.json", MMRT_FIXTURES_DIR, cases[*c]);
    cr_assert_eq(mmrt_tokenizer_load(path, &tok, &err), MMRT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/granite/%s/tokenizer_expected.json", MMRT_FIXTURES_DIR, cases[*c]);
    cJSON *exp = tmpdir_read_json(path);
    const cJSON *item;
    int n_bad = 0, n_cases = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(exp, "cases")) {
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(item, "text"));
        const cJSON *want = cJSON_GetObjectItem(item, "ids");
        int32_t *ids = NULL;
        size_t n = 0;
        cr_assert_eq(mmrt_tokenizer_encode(tok, text, strlen(text), true, &ids, &n, &err), MMRT_OK, "%s", err.msg);
        size_t n_want = (size_t)cJSON_GetArraySize(want), at = 0; /* the first differing index */
        while (at < n && at < n_want && ids[at] == (int32_t)cJSON_GetArrayItem(want, (int)at)->valuedouble) at++;
        bool same = at == n && at == n_want;
        if (!same && n_bad < 5)
            fprintf(stderr, "%s: case %d: ids differ at %zu: expected %d, got %d (%zu vs %zu ids)\n", cases[*c],
                    n_cases, at, at < n_want ? (int)cJSON_GetArrayItem(want, (int)at)->valuedouble : -1,
                    at < n ? ids[at] : -1, n_want, n);
        for (int skip = 0; same && skip < 2; skip++) {
            char *back = NULL;
            cr_assert_eq(mmrt_tokenizer_decode(tok, ids, n, skip, &back, NULL, &err), MMRT_OK, "%s", err.msg);
            const char *want_text = cJSON_GetStringValue(cJSON_GetObjectItem(item, skip ? "decoded_skip" : "decoded"));
            same = strcmp(back, want_text) == 0;
            free(back);
        }
        if (!same && n_bad++ < 5)
            fprintf(stderr, "%s: case %d \"%s\" differs from tokenizers\n", cases[*c], n_cases, text);
        free(ids);
        n_cases++;
    }
    cr_assert_gt(n_cases, 300, "too few corpus cases: %d", n_cases);
    cr_assert_eq(n_bad, 0, "%s: %d of %d corpus strings differ (ids or decodes)", cases[*c], n_bad, n_cases);
    cJSON_Delete(exp);
    mmrt_tokenizer_free(tok);
}

/* ---- configs and adapters that are refused ------------------------------------------------- */

/* A copy of the LoRA case where `file` is replaced by `text` (NULL: removed); the other files are
 * links to the fixture's. */
static char *variant(const char *file, const char *text) {
    static const char *const files[] = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                                        "tokenizer_config.json", "chat_template.jinja", "adapter_config.json",
                                        "adapter_model.safetensors"};
    char *dir = tmpdir_make("granite");
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        if (strcmp(files[i], file) == 0) {
            if (text) free(tmpdir_write_str(dir, file, text));
            continue;
        }
        char src[600], *dst = tmpdir_path(dir, files[i]);
        snprintf(src, sizeof src, "%s/granite/%s/%s", MMRT_FIXTURES_DIR, LORA_CASE, files[i]);
        cr_assert_eq(symlink(src, dst), 0, "symlink %s", dst);
        free(dst);
    }
    return dir;
}

/* The fixture's file with `from` replaced by `to` (once). */
static char *edited(const char *file, const char *from, const char *to) {
    char path[600];
    snprintf(path, sizeof path, "%s/granite/%s/%s", MMRT_FIXTURES_DIR, LORA_CASE, file);
    char *s = tmpdir_read(path, NULL), *at = strstr(s, from);
    cr_assert_not_null(at, "%s has no %s", path, from);
    char *out = malloc(strlen(s) + strlen(to) + 1);
    sprintf(out, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    free(s);
    return out;
}

static void expect_load_error(const char *file, const char *text, mmrt_status want, const char *const *needles) {
    char *dir = variant(file, text);
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = MMRT_DEVICE_CPU;
    mmrt_model *m = NULL;
    mmrt_status st = mmrt_model_load(dir, &mp, &m);
    const char *msg = mmrt_last_error();
    cr_assert_eq(st, want, "%s: status %d, message: %s", file, st, msg);
    cr_assert_null(m);
    for (; *needles; needles++) cr_assert(strstr(msg, *needles), "message lacks \"%s\": %s", *needles, msg);
    tmpdir_remove(dir);
}

Test(granite, adapter_features_not_implemented_are_refused) {
    static const struct {
        const char *from, *to, *field;
    } edits[] = {
        {"\"use_dora\": false", "\"use_dora\": true", "use_dora"},
        {"\"rank_pattern\": {}", "\"rank_pattern\": {\"q_proj\": 4}", "rank_pattern"},
        {"\"alpha_pattern\": {}", "\"alpha_pattern\": {\"q_proj\": 4}", "alpha_pattern"},
        {"\"modules_to_save\": null", "\"modules_to_save\": [\"lm_head\"]", "modules_to_save"},
        {"\"bias\": \"none\"", "\"bias\": \"lora_only\"", "bias"},
        {"\"fan_in_fan_out\": false", "\"fan_in_fan_out\": true", "fan_in_fan_out"},
        {"\"peft_type\": \"LORA\"", "\"peft_type\": \"IA3\"", "peft_type"},
        {"\"target_modules\": [", "\"target_modules\": \"all-linear\", \"x\": [", "target_modules"},
        {"\"v_proj\"", "\"lm_head\"", "lm_head"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        char *text = edited("adapter_config.json", edits[i].from, edits[i].to);
        const char *needles[] = {"adapter_config.json", edits[i].field, NULL};
        expect_load_error("adapter_config.json", text, MMRT_ERR_UNSUPPORTED, needles);
        free(text);
    }
}

Test(granite, adapter_shapes_are_checked) {
    /* r 4 against tensors of rank 8: the first lora_A is named with its file */
    char *text = edited("adapter_config.json", "\"r\": 8", "\"r\": 4");
    const char *needles[] = {"adapter_model.safetensors", "layers.0.self_attn.q_proj.lora_A.weight", NULL};
    expect_load_error("adapter_config.json", text, MMRT_ERR_MODEL, needles);
    free(text);
    /* a target the file has no tensors for */
    text = edited("adapter_config.json", "\"v_proj\"", "\"v_proj\", \"k_proj\"");
    const char *k_needles[] = {"k_proj.lora_A.weight", NULL};
    expect_load_error("adapter_config.json", text, MMRT_ERR_MODEL, k_needles);
    free(text);
    /* a tensor no target explains (targets q_proj only; the file has v_proj's too) */
    text = edited("adapter_config.json", "\"v_proj\"", "\"q_proj\"");
    const char *v_needles[] = {"adapter_model.safetensors", "v_proj.lora_A.weight", "not supported", NULL};
    expect_load_error("adapter_config.json", text, MMRT_ERR_UNSUPPORTED, v_needles);
    free(text);
}

/* Adapter keys under another module path than the decoder's (here "language_model.model." for a
 * decoder under "model.") are named with both accepted forms; the swapped two-part form is what
 * a Granite Speech adapter uses (tests/test_granite_speech.c). */
Test(granite, adapter_under_another_prefix_is_named) {
    static float a[8 * 64], b[64 * 8];
    st_item items[2] = {
        {"base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight", "F32", 2, {8, 64}, a,
         sizeof a},
        {"base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_B.weight", "F32", 2, {64, 8}, b,
         sizeof b},
    };
    char *dir = variant("adapter_model.safetensors", NULL);
    free(st_write(dir, "adapter_model.safetensors", items, 2));
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = MMRT_DEVICE_CPU;
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, &mp, &m), MMRT_ERR_MODEL, "%s", mmrt_last_error());
    const char *msg = mmrt_last_error();
    cr_assert(strstr(msg, "adapter_model.safetensors") && strstr(msg, "language_model.model.layers.0") &&
                  strstr(msg, "not under base_model.model.model.layers.N"),
              "message: %s", msg);
    tmpdir_remove(dir);
}

/* use_rslora: PEFT's LoraLayer.update_layer scales by lora_alpha / sqrt(r) instead of / r. */
Test(granite, rslora_scale) {
    char *text = edited("adapter_config.json", "\"use_rslora\": false", "\"use_rslora\": true");
    char *dir = variant("adapter_config.json", text);
    llm_fixture f;
    llm_fixture_open(&f, "granite", LORA_CASE);
    mmrt_lora lo;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_lora_load(&lo, dir, &f.hp, "model.", &err), MMRT_OK, "%s", err.msg);
    cr_assert_float_eq(lo.scale, (float)(16.0 / sqrt(8.0)), 1e-6, "scale %g", lo.scale);
    cr_assert_eq(lo.targets, 1u << MMRT_LORA_Q | 1u << MMRT_LORA_V);
    mmrt_lora_free(&lo);
    llm_fixture_close(&f);
    tmpdir_remove(dir);
    free(text);
}

Test(granite, missing_adapter_files_are_errors) {
    const char *needles[] = {"adapter_model.safetensors", "missing", NULL};
    expect_load_error("adapter_model.safetensors", NULL, MMRT_ERR_MODEL, needles);
    /* has_lora_adapter: true (Granite Speech) without adapter files */
    char *cfg = edited("config.json", "\"model_type\": \"granite\"",
                       "\"model_type\": \"granite\", \"has_lora_adapter\": true");
    char *dir = variant("adapter_config.json", NULL);
    char *unused = tmpdir_write_str(dir, "config.json.new", cfg);
    char *cpath = tmpdir_path(dir, "config.json");
    cr_assert_eq(rename(unused, cpath), 0);
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = MMRT_DEVICE_CPU;
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, &mp, &m), MMRT_ERR_MODEL, "%s", mmrt_last_error());
    cr_assert(strstr(mmrt_last_error(), "adapter_config.json") && strstr(mmrt_last_error(), "has_lora_adapter"),
              "message: %s", mmrt_last_error());
    free(unused);
    free(cpath);
    free(cfg);
    tmpdir_remove(dir);
}

Test(granite, config_features_not_implemented_are_refused) {
    static const char *const keys[] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++) {
        char to[128];
        snprintf(to, sizeof to, "\"model_type\": \"granite\", \"%s\": true", keys[i]);
        char *text = edited("config.json", "\"model_type\": \"granite\"", to);
        cJSON *cfg = cJSON_Parse(text);
        cr_assert_not_null(cfg);
        mmrt_llm_hparams hp;
        mmrt_error err = {0};
        cr_assert_eq(mmrt_llm_hparams_parse(cfg, "config.json", &hp, &err), MMRT_ERR_UNSUPPORTED);
        cr_assert(strstr(err.msg, keys[i]), "message: %s", err.msg);
        cJSON_Delete(cfg);
        free(text);
    }
    /* GraniteConfig's defaults: every multiplier 1, attention_multiplier included (not 1/sqrt(hd)) */
    cJSON *cfg = cJSON_Parse("{\"model_type\": \"granite\", \"vocab_size\": 10, \"hidden_size\": 16, "
                             "\"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4}");
    mmrt_llm_hparams hp;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_hparams_parse(cfg, "config.json", &hp, &err), MMRT_OK, "%s", err.msg);
    cr_assert(hp.attn_scale == 1.0f && hp.embd_scale == 1.0f && hp.residual_scale == 1.0f && hp.logit_scale == 1.0f);
    cJSON_Delete(cfg);
}

/* ---- the mmrt command ---------------------------------------------------------------------- */

/* s inside single quotes for the shell: each ' becomes '\'' */
static void shell_quote(char *out, size_t cap, const char *s) {
    size_t o = 0;
    out[o++] = '\'';
    for (; *s && o + 6 < cap; s++) {
        if (*s == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *s;
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
}

ParameterizedTestParameters(granite, cli_prints_transformers_greedy_text) {
    static int idx[] = {0, 1};
    return cr_make_param_array(int, idx, N_CASES);
}

ParameterizedTest(int *c, granite, cli_prints_transformers_greedy_text) {
    if (test_on_cuda()) cr_skip_test("host only (the CLI runs on the default device)");
    char path[600];
    snprintf(path, sizeof path, "%s/granite/%s/reference.json", MMRT_FIXTURES_DIR, cases[*c]);
    cJSON *ref = tmpdir_read_json(path);
    const cJSON *gen = cJSON_GetObjectItem(ref, "generation");
    const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ref,
                                                                                                          "prompts"),
                                                                                      "raw"),
                                                                  "text"));
    cr_assert_not_null(prompt);
    for (int raw = 0; raw < 2; raw++) {
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(gen, raw ? "raw" : "chat"),
                                                                    "text_all"));
        cr_assert_not_null(want);
        char args[2048], quoted[512];
        shell_quote(quoted, sizeof quoted, prompt);
        snprintf(args, sizeof args, "generate --model '%s/granite/%s' -p %s -n 64 --temp 0%s", MMRT_FIXTURES_DIR,
                 cases[*c], quoted, raw ? " --raw" : "");
        result r = run(args);
        cr_assert_eq(r.rc, 0, "%s: exit %d, stderr: %s", args, r.rc, r.err);
        cr_assert(r.n_out == strlen(want) + 1 && memcmp(r.out, want, strlen(want)) == 0,
                  "%s\nexpected: %s\ngot:      %s", args, want, r.out);
        result_free(&r);
    }
    cJSON_Delete(ref);
}
