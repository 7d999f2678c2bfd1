#include "helpers/llm_fixture.h"

#include "core/json.h"
#include "helpers/compare.h"
#include "helpers/test_device.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void llm_fixture_open_host(llm_fixture *f, const char *family, const char *name) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/%s/%s", MMRT_FIXTURES_DIR, family, name);
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
    if (mmrt_lora_present(f->dir))
        cr_assert_eq(mmrt_llm_load_adapter(&f->llm, f->dir, "model.", &err), MMRT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/reference.safetensors", f->dir);
    cr_assert_eq(mmrt_weights_open(path, &f->ref, &err), MMRT_OK, "%s", err.msg);
}

void llm_fixture_open(llm_fixture *f, const char *family, const char *name) {
    llm_fixture_open_math(f, family, name, MMRT_MATH_F32);
}

void llm_fixture_open_math(llm_fixture *f, const char *family, const char *name, mmrt_math math) {
    llm_fixture_open_host(f, family, name);
    f->math = math;
    if (!test_on_cuda()) return;
    /* weights (and the adapter's) uploaded once, as mmrt_model_load does */
    mmrt_error err = {0};
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CUDA, .math = math};
    cr_assert_eq(mmrt_backend_init(&p, &f->be, &err), MMRT_OK, "%s", err.msg);
    mmrt_weight_upload_init(&f->up, f->be, p.math);
    cr_assert_eq(mmrt_llm_upload(&f->llm, &f->up, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_weight_upload_finish(&f->up, &err), MMRT_OK, "%s", err.msg);
}

void llm_fixture_close(llm_fixture *f) {
    mmrt_weight_upload_free(&f->up);
    mmrt_backend_free(f->be);
    mmrt_llm_free(&f->llm);
    mmrt_weights_free(f->weights);
    mmrt_weights_free(f->ref);
}

const mmrt_st_tensor *llm_fixture_ref(const llm_fixture *f, const char *prefix, const char *prompt, const char *what) {
    char name[128];
    snprintf(name, sizeof name, "%s%s.%s", prefix, prompt, what);
    const mmrt_st_tensor *t = mmrt_weights_find(f->ref, name);
    cr_assert_not_null(t, "%s: reference tensor %s missing", f->dir, name);
    return t;
}

mmrt_backend *llm_fixture_backend(const llm_fixture *f, int n_threads, bool use_ref) {
    mmrt_backend *be = NULL;
    if (f->be) {
        cr_assert_eq(mmrt_backend_fork(f->be, &be, NULL), MMRT_OK);
        return be;
    }
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = n_threads, .use_ref = use_ref,
                             .math = f->math};
    cr_assert_eq(mmrt_backend_init(&p, &be, NULL), MMRT_OK);
    return be;
}

void llm_fixture_check_greedy(llm_fixture *f, const char *prompt, const char *adapter, int n_threads, bool use_ref) {
    const mmrt_st_tensor *ids = llm_fixture_ref(f, "", prompt, "input_ids");
    const mmrt_st_tensor *want = llm_fixture_ref(f, adapter ? "lora." : "", prompt, "greedy_ids");
    int64_t n = ids->shape[0], n_new = want->shape[0];
    mmrt_backend *be = llm_fixture_backend(f, n_threads, use_ref);
    mmrt_llm_state st;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_state_init(&st, &f->llm, be, n + n_new, 0, &err), MMRT_OK, "%s", err.msg);
    float *logits = malloc(sizeof(float) * (size_t)f->hp.n_vocab);
    mmrt_llm_batch b = {.ids = ids->data, .n_tok = n, .logits = logits, .adapter = adapter};
    cr_assert_eq(mmrt_llm_decode(&f->llm, &st, &b, &err), MMRT_OK, "%s", err.msg);
    const int32_t *expect = want->data;
    for (int64_t i = 0; i < n_new; i++) {
        int32_t best = 0;
        for (int32_t v = 1; v < f->hp.n_vocab; v++)
            if (logits[v] > logits[best]) best = v;
        cr_assert_eq(best, expect[i],
                     "%s %s greedy token %lld (threads %d, ref ops %d, adapter %s): expected %d, got %d", f->dir,
                     prompt, (long long)i, n_threads, use_ref, adapter ? adapter : "off", expect[i], best);
        mmrt_llm_batch next = {.ids = &best, .n_tok = 1, .logits = logits, .adapter = adapter};
        cr_assert_eq(mmrt_llm_decode(&f->llm, &st, &next, &err), MMRT_OK, "%s", err.msg);
    }
    test_assert_no_fallback(be, f->dir);
    free(logits);
    mmrt_llm_state_free(&st);
    mmrt_backend_free(be);
}

void llm_fixture_hidden_what(const llm_fixture *f, int index, char *what, size_t size) {
    int L = (int)f->hp.n_layer;
    if (index < L) snprintf(what, size, "hidden.%d", index);
    else if (index == L) snprintf(what, size, "final_prenorm");
    else snprintf(what, size, "hidden.%d", L);
}

void llm_fixture_on_hidden(int index, const mmrt_tensor *x, void *user) {
    llm_hidden_check *hc = user;
    char what[64];
    llm_fixture_hidden_what(hc->f, index, what, sizeof what);
    const mmrt_st_tensor *ref = llm_fixture_ref(hc->f, "", hc->prompt, what);
    char label[700];
    snprintf(label, sizeof label, "%s %s %s", hc->f->dir, hc->prompt, what);
    int64_t n = mmrt_tensor_nelements(x);
    cr_assert_eq((size_t)n * sizeof(float), ref->n_bytes, "%s: size", label);
    float *got = test_download(x);
    if (!mmrt_test_close(label, got, ref->data, n, hc->tol)) hc->ok = false;
    free(got);
    hc->n_checked++;
}
