/* The CPU's bf16 KV cache (mmrt_backend_kv_dtype): in the bf16 and int8 modes a decoder state's
 * cache holds bf16, and the logits are the ones an f32 cache gives bit for bit (attention rounds k
 * and v to bf16 either way): a prefill through the GEMM path, prefills chunked through the per-key
 * path, then decode steps, on the fast ops and the oracle. And the state, and a session through
 * the public API, are smaller by half the f32 cache. CPU only: a device keeps f32 caches. */
#include "core/backend.h"
#include "fusion/llama.h"
#include "helpers/backend_test.h"
#include "helpers/llm_fixture.h"

#include <criterion/criterion.h>
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_PROMPT 40 /* ≥ 32 tokens and keys: the GEMM path of attention when unchunked */
#define N_STEPS 6
#define N_CTX 64

/* The prompt's logits (N_PROMPT rows, in chunks of n_batch), then N_STEPS single-token steps'
 * into logits ((N_PROMPT + N_STEPS), n_vocab); ids cycle through the fixture's prompt. */
static void run(llm_fixture *f, mmrt_backend *be, mmrt_dtype kv_type, int64_t n_batch, float *logits) {
    const mmrt_st_tensor *ref_ids = llm_fixture_ref(f, "", "raw", "input_ids");
    int64_t n_ref = ref_ids->shape[0];
    int32_t ids[N_PROMPT + N_STEPS];
    for (int i = 0; i < N_PROMPT + N_STEPS; i++) ids[i] = ((const int32_t *)ref_ids->data)[i % n_ref];
    mmrt_llm_state st;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_state_init_kv(&st, &f->llm, be, kv_type, N_CTX, n_batch, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(st.k_cache[0].type, kv_type);
    cr_assert_eq(st.v_cache[f->hp.n_layer - 1].type, kv_type);
    mmrt_llm_batch b = {.ids = ids, .n_tok = N_PROMPT, .all_logits = true, .logits = logits};
    cr_assert_eq(mmrt_llm_decode(&f->llm, &st, &b, &err), MMRT_OK, "%s", err.msg);
    for (int i = 0; i < N_STEPS; i++) {
        mmrt_llm_batch one = {.ids = ids + N_PROMPT + i, .n_tok = 1,
                              .logits = logits + (size_t)(N_PROMPT + i) * (size_t)f->hp.n_vocab};
        cr_assert_eq(mmrt_llm_decode(&f->llm, &st, &one, &err), MMRT_OK, "%s", err.msg);
    }
    mmrt_llm_state_free(&st);
}

static void check_same_logits(const char *family, const char *name, mmrt_math math, int n_threads, bool use_ref) {
    llm_fixture f;
    llm_fixture_open_host(&f, family, name);
    mmrt_backend *be = test_cpu_backend(n_threads, use_ref, math);
    cr_assert_eq(mmrt_backend_kv_dtype(be), MMRT_BF16);
    size_t n = (size_t)(N_PROMPT + N_STEPS) * (size_t)f.hp.n_vocab;
    float *want = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
    cr_assert(want && got);
    static const int64_t batches[] = {0, 16}; /* one GEMM-path prefill; chunks on the per-key path */
    for (size_t c = 0; c < 2; c++) {
        run(&f, be, MMRT_F32, batches[c], want);
        run(&f, be, MMRT_BF16, batches[c], got);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
            if (memcmp(&want[i], &got[i], sizeof(float)) != 0 && bad++ < 5)
                fprintf(stderr, "%s/%s batch %lld: logit [%zu, %zu] f32 cache %.9g, bf16 cache %.9g\n", family, name,
                        (long long)batches[c], i / (size_t)f.hp.n_vocab, i % (size_t)f.hp.n_vocab, want[i], got[i]);
        cr_assert_eq(bad, 0, "%s/%s (math %d, %d threads, ref ops %d, batch %lld): %zu logits differ between an f32 "
                     "and a bf16 cache", family, name, (int)math, n_threads, use_ref, (long long)batches[c], bad);
    }
    free(want);
    free(got);
    mmrt_backend_free(be);
    llm_fixture_close(&f);
}

Test(kv_cache_bf16, logits_equal_an_f32_cache) {
    check_same_logits("llama", "gqa-tied-bf16", MMRT_MATH_BF16, 2, false);
    check_same_logits("llama", "gqa-tied-bf16", MMRT_MATH_INT8, 3, false);
    check_same_logits("llama", "gqa-tied-bf16", MMRT_MATH_BF16, 1, true); /* the oracle ops */
    check_same_logits("bf16", "llama-margin", MMRT_MATH_BF16, 2, false);
}

Test(kv_cache_bf16, f32_mode_keeps_an_f32_cache) {
    llm_fixture f;
    llm_fixture_open_host(&f, "llama", "gqa-tied-bf16");
    mmrt_backend *be = test_cpu_backend(1, false, MMRT_MATH_F32);
    mmrt_llm_state st;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_state_init(&st, &f.llm, be, N_CTX, 0, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(st.k_cache[0].type, MMRT_F32);
    mmrt_llm_state_free(&st);
    /* a bf16 cache where attention does not take one is refused */
    cr_assert_eq(mmrt_llm_state_init_kv(&st, &f.llm, be, MMRT_BF16, N_CTX, 0, &err), MMRT_ERR_INVALID_ARG);
    mmrt_backend_free(be);
    llm_fixture_close(&f);
}

/* KV cache bytes of the fixture's decoder at N_CTX rows of dtype size es. */
static size_t kv_bytes(const mmrt_llm_hparams *hp, size_t es) {
    return 2 * (size_t)hp->n_layer * (size_t)N_CTX * (size_t)(hp->n_head_kv * hp->head_dim) * es;
}

Test(kv_cache_bf16, state_is_smaller_by_half_the_f32_cache) {
    llm_fixture f;
    llm_fixture_open_host(&f, "llama", "gqa-tied-bf16");
    mmrt_backend *be = test_cpu_backend(1, false, MMRT_MATH_BF16);
    mmrt_llm_state s16, s32;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_state_init(&s16, &f.llm, be, N_CTX, 0, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_llm_state_init_kv(&s32, &f.llm, be, MMRT_F32, N_CTX, 0, &err), MMRT_OK, "%s", err.msg);
    size_t b16 = mmrt_llm_state_bytes(&f.llm, MMRT_BF16, N_CTX, 0), b32 = mmrt_llm_state_bytes(&f.llm, MMRT_F32, N_CTX, 0);
    /* what the states allocate is what state_bytes says (the plan pass took the bf16 path) */
    cr_assert_eq(b16, kv_bytes(&f.hp, 2) + s16.arena.size);
    cr_assert_eq(b32, kv_bytes(&f.hp, 4) + s32.arena.size);
    /* the scratch grows only by the f32 k and v of one chunk (before they are rounded into the cache) */
    size_t kv_rows = 2 * (size_t)s16.n_batch * (size_t)(f.hp.n_head_kv * f.hp.head_dim) * sizeof(float);
    cr_assert_leq(s16.arena.size, s32.arena.size + kv_rows + 256, "scratch %zu vs %zu", s16.arena.size,
                  s32.arena.size);
    mmrt_llm_state_free(&s16);
    mmrt_llm_state_free(&s32);
    mmrt_backend_free(be);
    llm_fixture_close(&f);
}

static int64_t session_bytes(const char *dir, mmrt_math math, int32_t n_ctx) {
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = MMRT_DEVICE_CPU;
    mp.math = math;
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, &mp, &m), MMRT_OK, "%s", mmrt_last_error());
    int64_t b = mmrt_model_session_bytes(m, n_ctx);
    mmrt_model_free(m);
    return b;
}

Test(kv_cache_bf16, session_bytes_drop_by_half_the_cache) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/llama/gqa-tied-bf16", MMRT_FIXTURES_DIR);
    llm_fixture f;
    llm_fixture_open_host(&f, "llama", "gqa-tied-bf16");
    /* a long context, so that the cache outweighs the scratch's extra f32 k and v rows */
    int32_t n_ctx = 4096;
    size_t half = kv_bytes(&f.hp, 4) / N_CTX * (size_t)n_ctx / 2;
    int64_t b32 = session_bytes(dir, MMRT_MATH_F32, n_ctx), b16 = session_bytes(dir, MMRT_MATH_BF16, n_ctx);
    int64_t b8 = session_bytes(dir, MMRT_MATH_INT8, n_ctx);
    size_t extra = 2 * 512 * (size_t)(f.hp.n_head_kv * f.hp.head_dim) * sizeof(float) + 256;
    cr_assert_gt(b16, 0);
    cr_assert_leq((size_t)b16, (size_t)b32 - half + extra, "f32 %lld, bf16 %lld bytes: not half the cache (%zu) less",
                  (long long)b32, (long long)b16, half);
    cr_assert_geq((size_t)b16, (size_t)b32 - half, "f32 %lld, bf16 %lld bytes", (long long)b32, (long long)b16);
    cr_assert_eq(b8, b16, "the int8 mode's cache is bf16 too");
    llm_fixture_close(&f);
}
