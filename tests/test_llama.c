/* The Llama decoder against transformers: per-layer hidden states, logits and 64-token greedy
 * generations of every tests/fixtures/llama case (made by tools/make_fixtures.py). */
#include "core/backend.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "fusion/llama.h"
#include "helpers/compare.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-4 /* ARCHITECTURE.md: f32 paths */

typedef struct fixture {
    char dir[512];
    mmrt_weights *weights, *ref;
    mmrt_llm_hparams hp;
    mmrt_llm llm;
} fixture;

static void fixture_open(fixture *f, const char *name) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/llama/%s", MMRT_FIXTURES_DIR, name);
    char path[600];
    mmrt_error err = {0};
    cJSON *cfg = NULL, *gen = NULL;
    snprintf(path, sizeof path, "%s/config.json", f->dir);
    cr_assert_eq(mmrt_json_load_file(path, &cfg, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_llm_hparams_parse(cfg, path, &f->hp, &err), MMRT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/generation_config.json", f->dir);
    cr_assert_eq(mmrt_json_load_file(path, &gen, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_llm_hparams_apply_generation_config(&f->hp, gen, path, &err), MMRT_OK, "%s", err.msg);
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    cr_assert_eq(mmrt_weights_open(f->dir, &f->weights, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_llm_init(&f->llm, &f->hp, f->weights, "model.", &err), MMRT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/reference.safetensors", f->dir);
    cr_assert_eq(mmrt_weights_open(path, &f->ref, &err), MMRT_OK, "%s", err.msg);
}

static void fixture_close(fixture *f) {
    mmrt_llm_free(&f->llm);
    mmrt_weights_free(f->weights);
    mmrt_weights_free(f->ref);
}

static const mmrt_st_tensor *ref_tensor(const fixture *f, const char *prompt, const char *what) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", prompt, what);
    const mmrt_st_tensor *t = mmrt_weights_find(f->ref, name);
    cr_assert_not_null(t, "%s: reference tensor %s missing", f->dir, name);
    return t;
}

static mmrt_backend *backend(int n_threads, bool use_ref) {
    mmrt_backend *be = NULL;
    mmrt_backend_params p = {.device = MMRT_DEVICE_CPU, .n_threads = n_threads, .use_ref = use_ref};
    cr_assert_eq(mmrt_backend_init(&p, &be, NULL), MMRT_OK);
    return be;
}

/* ---- prompt forward: hidden states and logits ---------------------------------------------- */

typedef struct hidden_check {
    const fixture *f;
    const char *prompt;
    int n_checked;
    bool ok;
} hidden_check;

/* Our index i ↔ transformers: 0..L-1 = hidden.i, L = final_prenorm, L+1 = hidden.L (normed). */
static void on_hidden(int index, const mmrt_tensor *x, void *user) {
    hidden_check *hc = user;
    int L = (int)hc->f->hp.n_layer;
    char what[64];
    if (index < L) snprintf(what, sizeof what, "hidden.%d", index);
    else if (index == L) snprintf(what, sizeof what, "final_prenorm");
    else snprintf(what, sizeof what, "hidden.%d", L);
    const mmrt_st_tensor *ref = ref_tensor(hc->f, hc->prompt, what);
    char label[700];
    snprintf(label, sizeof label, "%s %s %s", hc->f->dir, hc->prompt, what);
    int64_t n = mmrt_tensor_nelements(x);
    cr_assert_eq((size_t)n * sizeof(float), ref->n_bytes, "%s: size", label);
    if (!mmrt_test_close(label, x->data, ref->data, n, TOL)) hc->ok = false;
    hc->n_checked++;
}

static void check_prompt_forward(const char *name, const char *prompt, int n_threads, bool use_ref,
                                 int64_t n_batch) {
    fixture f;
    fixture_open(&f, name);
    const mmrt_st_tensor *ids = ref_tensor(&f, prompt, "input_ids");
    const mmrt_st_tensor *logits_ref = ref_tensor(&f, prompt, "logits");
    int64_t n = ids->shape[0];
    mmrt_backend *be = backend(n_threads, use_ref);
    mmrt_llm_state st;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_state_init(&st, &f.llm, be, 128, n_batch, &err), MMRT_OK, "%s", err.msg);
    float *logits = malloc(sizeof(float) * (size_t)(n * f.hp.n_vocab));
    hidden_check hc = {.f = &f, .prompt = prompt, .ok = true};
    mmrt_llm_batch b = {.ids = ids->data, .n_tok = n, .all_logits = true, .logits = logits,
                        .on_hidden = n_batch >= n ? on_hidden : NULL, .hidden_user = &hc};
    cr_assert_eq(mmrt_llm_decode(&f.llm, &st, &b, &err), MMRT_OK, "%s", err.msg);
    if (n_batch >= n) {
        cr_assert_eq(hc.n_checked, f.hp.n_layer + 2, "hidden states reported: %d", hc.n_checked);
        cr_assert(hc.ok, "%s %s: hidden states differ from transformers", name, prompt);
    }
    char label[256];
    snprintf(label, sizeof label, "%s %s logits (threads %d, ref ops %d, batch %lld)", name, prompt,
             n_threads, use_ref, (long long)n_batch);
    cr_assert(mmrt_test_close(label, logits, logits_ref->data, n * f.hp.n_vocab, TOL),
              "%s differ from transformers", label);
    free(logits);
    mmrt_llm_state_free(&st);
    mmrt_backend_free(be);
    fixture_close(&f);
}

/* ---- greedy generation --------------------------------------------------------------------- */

static void check_greedy(const char *name, const char *prompt, int n_threads, bool use_ref) {
    fixture f;
    fixture_open(&f, name);
    const mmrt_st_tensor *ids = ref_tensor(&f, prompt, "input_ids");
    const mmrt_st_tensor *want = ref_tensor(&f, prompt, "greedy_ids");
    int64_t n = ids->shape[0], n_new = want->shape[0];
    mmrt_backend *be = backend(n_threads, use_ref);
    mmrt_llm_state st;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_state_init(&st, &f.llm, be, n + n_new, 0, &err), MMRT_OK, "%s", err.msg);
    float *logits = malloc(sizeof(float) * (size_t)f.hp.n_vocab);
    mmrt_llm_batch b = {.ids = ids->data, .n_tok = n, .logits = logits};
    cr_assert_eq(mmrt_llm_decode(&f.llm, &st, &b, &err), MMRT_OK, "%s", err.msg);
    const int32_t *expect = want->data;
    for (int64_t i = 0; i < n_new; i++) {
        int32_t best = 0;
        for (int32_t v = 1; v < f.hp.n_vocab; v++)
            if (logits[v] > logits[best]) best = v;
        cr_assert_eq(best, expect[i], "%s %s greedy token %lld (threads %d, ref ops %d): expected %d, got %d",
                     name, prompt, (long long)i, n_threads, use_ref, expect[i], best);
        mmrt_llm_batch next = {.ids = &best, .n_tok = 1, .logits = logits};
        cr_assert_eq(mmrt_llm_decode(&f.llm, &st, &next, &err), MMRT_OK, "%s", err.msg);
    }
    free(logits);
    mmrt_llm_state_free(&st);
    mmrt_backend_free(be);
    fixture_close(&f);
}

/* ---- parameterisation ------------------------------------------------------------------------ */

static const char *const cases[] = {"gqa-tied-bf16", "mha-untied-sharded", "odd-sizes", "llama3-rope-f16"};
#define N_CASES 4

typedef struct run {
    int c;
    int prompt; /* 0 raw, 1 chat */
} run;

ParameterizedTestParameters(llama, forward_matches_transformers) {
    static run runs[N_CASES * 2];
    for (int i = 0; i < N_CASES * 2; i++) runs[i] = (run){i / 2, i % 2};
    return cr_make_param_array(run, runs, N_CASES * 2);
}

ParameterizedTest(run *r, llama, forward_matches_transformers) {
    const char *p = r->prompt ? "chat" : "raw";
    check_prompt_forward(cases[r->c], p, 2, false, 512);
    check_prompt_forward(cases[r->c], p, 1, true, 512); /* the oracle ops agree too */
    check_prompt_forward(cases[r->c], p, 2, false, 7);  /* chunked prefill */
}

ParameterizedTestParameters(llama, greedy_matches_transformers) {
    static run runs[N_CASES * 2];
    for (int i = 0; i < N_CASES * 2; i++) runs[i] = (run){i / 2, i % 2};
    return cr_make_param_array(run, runs, N_CASES * 2);
}

ParameterizedTest(run *r, llama, greedy_matches_transformers) {
    const char *p = r->prompt ? "chat" : "raw";
    check_greedy(cases[r->c], p, 1, false);
    check_greedy(cases[r->c], p, 2, false); /* identical for any thread count */
    check_greedy(cases[r->c], p, 3, false);
}

Test(llama, context_overflow_names_both_numbers) {
    fixture f;
    fixture_open(&f, cases[0]);
    mmrt_backend *be = backend(1, false);
    mmrt_llm_state st;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_state_init(&st, &f.llm, be, 8, 0, &err), MMRT_OK, "%s", err.msg);
    int32_t ids[10] = {5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    float *logits = malloc(sizeof(float) * (size_t)f.hp.n_vocab);
    mmrt_llm_batch b = {.ids = ids, .n_tok = 10, .logits = logits};
    cr_assert_eq(mmrt_llm_decode(&f.llm, &st, &b, &err), MMRT_ERR_CONTEXT_FULL);
    cr_assert(strstr(err.msg, "10 tokens") && strstr(err.msg, "of 8"), "message: %s", err.msg);
    ids[0] = (int32_t)f.hp.n_vocab;
    b.n_tok = 2;
    cr_assert_eq(mmrt_llm_decode(&f.llm, &st, &b, &err), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(err.msg, "outside the vocabulary"), "message: %s", err.msg);
    free(logits);
    mmrt_llm_state_free(&st);
    mmrt_backend_free(be);
    fixture_close(&f);
}
