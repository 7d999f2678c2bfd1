/* The Llama decoder against transformers: per-layer hidden states, logits and 64-token greedy
 * generations of every tests/fixtures/llama case (made by tools/make_fixtures.py), on the CPU or,
 * as test_cuda_llama in the emulated CUDA build, on the CUDA backend (helpers/test_device.h). */
#include "core/backend.h"
#include "core/safetensors.h"
#include "fusion/llama.h"
#include "helpers/compare.h"
#include "helpers/llm_fixture.h"
#include "helpers/test_device.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-4 /* ARCHITECTURE.md: f32 paths */

/* ---- prompt forward: hidden states and logits ---------------------------------------------- */

static void check_prompt_forward(const char *name, const char *prompt, int n_threads, bool use_ref,
                                 int64_t n_batch) {
    llm_fixture f;
    llm_fixture_open(&f, "llama", name);
    const mmrt_st_tensor *ids = llm_fixture_ref(&f, "", prompt, "input_ids");
    const mmrt_st_tensor *logits_ref = llm_fixture_ref(&f, "", prompt, "logits");
    int64_t n = ids->shape[0];
    mmrt_backend *be = llm_fixture_backend(&f, n_threads, use_ref);
    mmrt_llm_state st;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_state_init(&st, &f.llm, be, 128, n_batch, &err), MMRT_OK, "%s", err.msg);
    float *logits = malloc(sizeof(float) * (size_t)(n * f.hp.n_vocab));
    llm_hidden_check hc = {.f = &f, .prompt = prompt, .tol = TOL, .ok = true};
    mmrt_llm_batch b = {.ids = ids->data, .n_tok = n, .all_logits = true, .logits = logits,
                        .on_hidden = n_batch >= n ? llm_fixture_on_hidden : NULL, .hidden_user = &hc};
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
    test_assert_no_fallback(be, label);
    free(logits);
    mmrt_llm_state_free(&st);
    mmrt_backend_free(be);
    llm_fixture_close(&f);
}

/* ---- greedy generation --------------------------------------------------------------------- */

static void check_greedy(const char *name, const char *prompt, int n_threads, bool use_ref) {
    llm_fixture f;
    llm_fixture_open(&f, "llama", name);
    llm_fixture_check_greedy(&f, prompt, NULL, n_threads, use_ref);
    llm_fixture_close(&f);
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
    if (!test_on_cuda()) check_prompt_forward(cases[r->c], p, 1, true, 512); /* the CPU oracle ops agree too */
    check_prompt_forward(cases[r->c], p, 2, false, 7); /* chunked prefill */
}

ParameterizedTestParameters(llama, greedy_matches_transformers) {
    static run runs[N_CASES * 2];
    for (int i = 0; i < N_CASES * 2; i++) runs[i] = (run){i / 2, i % 2};
    return cr_make_param_array(run, runs, N_CASES * 2);
}

ParameterizedTest(run *r, llama, greedy_matches_transformers) {
    const char *p = r->prompt ? "chat" : "raw";
    check_greedy(cases[r->c], p, 1, false);
    if (test_on_cuda()) return;
    check_greedy(cases[r->c], p, 2, false); /* identical for any CPU thread count */
    check_greedy(cases[r->c], p, 3, false);
}

Test(llama, context_overflow_names_both_numbers) {
    llm_fixture f;
    llm_fixture_open(&f, "llama", cases[0]);
    mmrt_backend *be = llm_fixture_backend(&f, 1, false);
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
    llm_fixture_close(&f);
}

/* On the device: weights that do not fit are MMRT_ERR_OOM naming the weight and the size asked for
 * (the emulated device is given 1 MiB; this checkpoint's weights widened to f32 need more). */
Test(llama, device_out_of_memory_names_the_weight) {
    if (!test_on_cuda()) cr_skip_test("CUDA only (test_cuda_llama)");
    setenv("MMRT_EMU_DEVICE_MEMORY_MB", "1", 1);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/llama/gqa-tied-bf16", MMRT_FIXTURES_DIR);
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = MMRT_DEVICE_CUDA;
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, &mp, &m), MMRT_ERR_OOM, "%s", mmrt_last_error());
    cr_assert_null(m);
    const char *msg = mmrt_last_error();
    cr_assert(strstr(msg, "weight model.layers.") && strstr(msg, "bytes") && strstr(msg, "out of memory"), "message: %s", msg);
}

/* A failed upload rolls the weights back to the mmap: the model then runs on the CPU (what device
 * auto does when the weights do not fit) and still matches transformers. */
Test(llama, failed_upload_rolls_back_to_the_host) {
    if (!test_on_cuda()) cr_skip_test("CUDA only (test_cuda_llama)");
    setenv("MMRT_EMU_DEVICE_MEMORY_MB", "1", 1);
    llm_fixture f;
    memset(&f, 0, sizeof f);
    llm_fixture_open_host(&f, "llama", "gqa-tied-bf16");
    mmrt_error err = {0};
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CUDA};
    mmrt_backend *cuda = NULL;
    cr_assert_eq(mmrt_backend_init(&p, &cuda, &err), MMRT_OK, "%s", err.msg);
    mmrt_weight_upload up;
    mmrt_weight_upload_init(&up, cuda, p.math);
    cr_assert_eq(mmrt_llm_upload(&f.llm, &up, &err), MMRT_ERR_OOM, "%s", err.msg);
    mmrt_weight_upload_rollback(&up);
    mmrt_backend_free(cuda);
    cr_assert_eq(f.llm.tok_embd.type, MMRT_BF16, "the embedding table was not put back");
    llm_fixture_check_greedy(&f, "raw", NULL, 1, false);
    llm_fixture_close(&f);
}
