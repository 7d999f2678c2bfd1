/* The bf16 arithmetic mode (MMRT_MATH_BF16) against transformers, the bf16 parity rule:
 * reference = transformers in float32 (reference.safetensors), plain = transformers in bfloat16 on
 * the same checkpoint and prompt (reference_bf16.safetensors, tools/fixtures_bf16.py); on every
 * hidden state and the logits, max |mmrt_bf16 - ref| <= 2 x max |plain - ref|, and mmrt's error is
 * above the f32 tolerance where transformers' is not 0 (the mode really rounds); the same for
 * Granite Speech's bf16 checkpoint (g4): stages of its audio encoder and the projector's output;
 * and SmolVLM's (smolvlm/nonsquare): the image features (vision tower and connector).
 * On tests/fixtures/bf16/llama-margin (greedy margins >= 4x transformers' bf16 logit error) the
 * greedy tokens through the KV cache are the reference's. On the CPU or, as test_cuda_bf16_parity
 * in the emulated CUDA build, on the CUDA backend (helpers/test_device.h).
 * Also: MMRT_MATH_AUTO resolves to the checkpoint's dtype through the public API. */
#include "core/backend.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "fusion/granite_speech.h"
#include "fusion/llama.h"
#include "fusion/model.h"
#include "fusion/smolvlm.h"
#include "helpers/llm_fixture.h"
#include "helpers/model_fixture.h"
#include "helpers/test_device.h"

#include <criterion/criterion.h>
#include <math.h>
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARITY 2.0 /* mmrt's error may be at most this times transformers' bf16 error */
#define F32_TOL 1e-4 /* ARCHITECTURE.md: f32 paths; a rounding mode's error must exceed it */

/* max |a - b| over n, NaN (and inf) as infinity. */
static double tensor_max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= m)) m = isfinite(e) ? e : INFINITY;
    }
    return m;
}

static double tensor_max_abs(const float *a, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i]));
    return m;
}

/* The parity rule on one tensor; prints both errors (absolute and relative to max |ref|) and the
 * first elements beyond the bound when it fails. must_round: mmrt's error must exceed what the f32
 * mode may have (F32_TOL x max |ref|), i.e. the mode really rounds (false where transformers' error
 * is 0: the embeddings, exact in bf16). MMRT_TEST_VERBOSE=1 prints the figures of every tensor. */
static bool check_parity(const char *what, const float *got, const float *ref, const float *plain, int64_t n,
                         bool must_round) {
    double e_got = tensor_max_abs_diff(got, ref, n), e_plain = tensor_max_abs_diff(plain, ref, n);
    double m = tensor_max_abs(ref, n);
    double bound = PARITY * e_plain;
    bool rounds = e_got > F32_TOL * m;
    bool ok = e_got <= bound && (!must_round || rounds);
    if (ok && !getenv("MMRT_TEST_VERBOSE")) return true;
    int shown = 0;
    for (int64_t i = 0; i < n && shown < 8; i++) {
        double e = fabs((double)got[i] - (double)ref[i]);
        if (e <= bound) continue;
        fprintf(stderr, "%s: [%lld] reference %.9g, transformers bf16 %.9g, mmrt bf16 %.9g (|err| %.4g)\n", what,
                (long long)i, ref[i], plain[i], got[i], e);
        shown++;
    }
    fprintf(stderr, "%s: %s: mmrt bf16 max|err| %.4g (%.3g of max|ref| %.4g), transformers bf16 %.4g (%.3g), "
                    "ratio %.3g (allowed %.1f)%s\n",
            what, ok ? "ok" : "FAILS", e_got, m > 0 ? e_got / m : 0.0, m, e_plain, m > 0 ? e_plain / m : 0.0,
            e_plain > 0 ? e_got / e_plain : 0.0, PARITY,
            must_round && !rounds ? " - within the f32 tolerance: the mode did not round" : "");
    return ok;
}

/* ---- prompt forward: every hidden state and the logits ------------------------------------- */

typedef struct parity_check {
    const llm_fixture *f;
    const mmrt_weights *plain; /* reference_bf16.safetensors */
    const char *prompt;
    const char *label;
    int n_checked;
    bool ok;
} parity_check;

static const float *plain_tensor(const parity_check *pc, const char *what, size_t n_bytes) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", pc->prompt, what);
    const mmrt_st_tensor *t = mmrt_weights_find(pc->plain, name);
    cr_assert_not_null(t, "%s: reference_bf16.safetensors has no %s", pc->f->dir, name);
    cr_assert(t->dtype == MMRT_F32 && t->n_bytes == n_bytes, "%s: %s: F32 of %zu bytes expected", pc->f->dir, name,
              n_bytes);
    return t->data;
}

/* mmrt_llm_batch.on_hidden: our index i <-> transformers as in llm_fixture_on_hidden. */
static void on_hidden(int index, const mmrt_tensor *x, void *user) {
    parity_check *pc = user;
    char what[64];
    llm_fixture_hidden_what(pc->f, index, what, sizeof what);
    const mmrt_st_tensor *ref = llm_fixture_ref(pc->f, "", pc->prompt, what);
    int64_t n = mmrt_tensor_nelements(x);
    cr_assert_eq((size_t)n * sizeof(float), ref->n_bytes, "%s %s: size", pc->label, what);
    const float *plain = plain_tensor(pc, what, ref->n_bytes);
    float *got = test_download(x);
    char label[600];
    snprintf(label, sizeof label, "%s %s", pc->label, what);
    if (!check_parity(label, got, ref->data, plain, n, index > 0)) pc->ok = false;
    free(got);
    pc->n_checked++;
}

static mmrt_weights *open_plain(const llm_fixture *f) {
    char path[600];
    snprintf(path, sizeof path, "%s/reference_bf16.safetensors", f->dir);
    mmrt_weights *w = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weights_open(path, &w, &err), MMRT_OK, "%s", err.msg);
    return w;
}

static void check_forward(const char *family, const char *name, const char *prompt, int n_threads, bool use_ref) {
    llm_fixture f;
    llm_fixture_open_math(&f, family, name, MMRT_MATH_BF16);
    mmrt_weights *plain = open_plain(&f);
    const mmrt_st_tensor *ids = llm_fixture_ref(&f, "", prompt, "input_ids");
    const mmrt_st_tensor *logits_ref = llm_fixture_ref(&f, "", prompt, "logits");
    int64_t n = ids->shape[0];
    mmrt_backend *be = llm_fixture_backend(&f, n_threads, use_ref);
    mmrt_llm_state st;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_state_init(&st, &f.llm, be, n, n, &err), MMRT_OK, "%s", err.msg);
    char label[300];
    snprintf(label, sizeof label, "%s/%s %s (%s, threads %d, ref ops %d)", family, name, prompt,
             be->iface->name, n_threads, use_ref);
    parity_check pc = {.f = &f, .plain = plain, .prompt = prompt, .label = label, .ok = true};
    float *logits = malloc(sizeof(float) * (size_t)(n * f.hp.n_vocab));
    mmrt_llm_batch b = {.ids = ids->data, .n_tok = n, .all_logits = true, .logits = logits,
                        .on_hidden = on_hidden, .hidden_user = &pc};
    cr_assert_eq(mmrt_llm_decode(&f.llm, &st, &b, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(pc.n_checked, f.hp.n_layer + 2, "hidden states reported: %d", pc.n_checked);
    char what[400];
    snprintf(what, sizeof what, "%s logits", label);
    bool logits_ok = check_parity(what, logits, logits_ref->data, plain_tensor(&pc, "logits", logits_ref->n_bytes),
                                  n * f.hp.n_vocab, true);
    cr_assert(pc.ok && logits_ok, "%s: mmrt's bf16 mode is not within %.0fx transformers' bf16 error (above)", label,
              PARITY);
    test_assert_no_fallback(be, label);
    free(logits);
    mmrt_llm_state_free(&st);
    mmrt_backend_free(be);
    mmrt_weights_free(plain);
    llm_fixture_close(&f);
}

Test(bf16_parity, llama_gqa_tied_bf16_raw) {
    check_forward("llama", "gqa-tied-bf16", "raw", 2, false);
    if (!test_on_cuda()) check_forward("llama", "gqa-tied-bf16", "raw", 1, true); /* the oracle ops too */
}

Test(bf16_parity, llama_gqa_tied_bf16_chat) { check_forward("llama", "gqa-tied-bf16", "chat", 2, false); }

Test(bf16_parity, margin_fixture_forward) {
    check_forward("bf16", "llama-margin", "raw", 2, false);
    if (!test_on_cuda()) check_forward("bf16", "llama-margin", "raw", 1, true);
}

/* ---- greedy tokens on the fixture whose margins exceed the bf16 error -------------------- */

Test(bf16_parity, margin_fixture_greedy_matches_transformers) {
    llm_fixture f;
    llm_fixture_open_math(&f, "bf16", "llama-margin", MMRT_MATH_BF16);
    /* the fixture's premise: transformers' bf16 greedy tokens are its f32 ones */
    mmrt_weights *plain = open_plain(&f);
    const mmrt_st_tensor *want = llm_fixture_ref(&f, "", "raw", "greedy_ids");
    const mmrt_st_tensor *plain_ids = mmrt_weights_find(plain, "raw.greedy_ids");
    cr_assert(plain_ids && plain_ids->n_bytes == want->n_bytes &&
                  memcmp(plain_ids->data, want->data, want->n_bytes) == 0,
              "%s: transformers' bf16 and f32 greedy tokens differ (regenerate the fixture)", f.dir);
    llm_fixture_check_greedy(&f, "raw", NULL, 1, false);
    if (!test_on_cuda()) llm_fixture_check_greedy(&f, "raw", NULL, 3, false);
    mmrt_weights_free(plain);
    llm_fixture_close(&f);
}

/* ---- Granite Speech g4: the audio encoder's stages and the projector ------------------------ */

typedef struct speech_check {
    mmrt_weights *ref, *plain;
    const char *key; /* the case, e.g. "g4.hello_us" */
    int n_checked;
    bool ok;
} speech_check;

/* A copy of tensor `name` (the mapping need not be aligned for floats), NULL when w has none;
 * *n its element count. */
static float *f32_copy(const mmrt_weights *w, const char *name, int64_t *n) {
    const mmrt_st_tensor *t = mmrt_weights_find(w, name);
    if (!t) return NULL;
    cr_assert_eq(t->dtype, MMRT_F32, "%s: not F32", name);
    float *p = malloc(t->n_bytes);
    cr_assert_not_null(p);
    memcpy(p, t->data, t->n_bytes);
    *n = (int64_t)(t->n_bytes / sizeof(float));
    return p;
}

/* got (n values) against <name> where reference_bf16.safetensors has it; false when it has not. */
static bool check_speech_tensor(speech_check *sc, const char *name, const float *got, int64_t n) {
    int64_t n_plain = 0, n_ref = 0;
    float *plain = f32_copy(sc->plain, name, &n_plain);
    if (!plain) return false;
    float *ref = f32_copy(sc->ref, name, &n_ref);
    cr_assert(ref && n_ref == n && n_plain == n, "%s: %lld values, reference %lld, plain %lld", name, (long long)n,
              (long long)n_ref, (long long)n_plain);
    char label[400];
    snprintf(label, sizeof label, "granite_speech %s (%s)", name, test_on_cuda() ? "cuda" : "cpu");
    sc->ok &= check_parity(label, got, ref, plain, n, true);
    sc->n_checked++;
    free(plain);
    free(ref);
    return true;
}

/* mmrt_granite_speech_hooks.on_hidden: enc.<i>, i = 0 input_linear, 1..L the conformer blocks */
static void on_speech_hidden(int index, const mmrt_tensor *x, void *user) {
    speech_check *sc = user;
    char name[300];
    snprintf(name, sizeof name, "%s.enc.%d", sc->key, index);
    float *got = test_download(x);
    check_speech_tensor(sc, name, got, mmrt_tensor_nelements(x));
    free(got);
}

Test(bf16_parity, granite_speech_g4_encoder) {
    char root[512], dir[600], path[700];
    snprintf(root, sizeof root, "%s/granite_speech", MMRT_FIXTURES_DIR);
    snprintf(dir, sizeof dir, "%s/g4", root);
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = test_device();
    mp.math = MMRT_MATH_BF16;
    mp.n_threads = 2;
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, &mp, &m), MMRT_OK, "%s", mmrt_last_error());
    cr_assert_eq(m->n_encoders, 1, "%zu encoders", m->n_encoders);
    const mmrt_granite_speech *g = m->encoders[0]->impl;
    speech_check sc = {.ok = true};
    mmrt_error err = {0};
    cJSON *doc = NULL;
    snprintf(path, sizeof path, "%s/reference_bf16.json", root);
    cr_assert_eq(mmrt_json_load_file(path, &doc, &err), MMRT_OK, "%s", err.msg);
    sc.key = cJSON_GetStringValue(mmrt_json_find(doc, "case"));
    const char *feat_name = cJSON_GetStringValue(mmrt_json_find(doc, "features_tensor"));
    cr_assert(sc.key && feat_name, "%s: no case / features_tensor", path);
    snprintf(path, sizeof path, "%s/reference.safetensors", root);
    cr_assert_eq(mmrt_weights_open(path, &sc.ref, &err), MMRT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/reference_bf16.safetensors", root);
    cr_assert_eq(mmrt_weights_open(path, &sc.plain, &err), MMRT_OK, "%s", err.msg);
    int64_t n_feat = 0;
    float *feat = f32_copy(sc.ref, feat_name, &n_feat);
    cr_assert_not_null(feat, "reference.safetensors has no %s", feat_name);
    int64_t n_rows = n_feat / g->enc.hp.input_dim;

    mmrt_session *s = test_model_session(m, 1024);
    int64_t n_tok = mmrt_qformer_n_windows(&g->proj.hp, n_rows) * g->proj.hp.n_query;
    mmrt_tensor rows;
    cr_assert_eq(mmrt_media_rows_alloc(s->be, n_tok, g->proj.hp.text_hidden, &rows, &err), MMRT_OK, "%s", err.msg);
    const mmrt_granite_speech_hooks hooks = {.on_hidden = on_speech_hidden, .user = &sc};
    cr_assert_eq(mmrt_granite_speech_encode(g, s->be, feat, n_rows, &rows, NULL, NULL, &hooks, &err), MMRT_OK, "%s",
                 err.msg);
    cr_assert_eq(sc.n_checked, 3, "encoder stages checked: %d (reference_bf16 has enc.0, enc.<L/2>, enc.<L>)",
                 sc.n_checked);
    float *got = test_download(&rows);
    snprintf(path, sizeof path, "%s.proj", sc.key);
    cr_assert(check_speech_tensor(&sc, path, got, mmrt_tensor_nelements(&rows)), "no %s in reference_bf16", path);
    cr_assert(sc.ok, "%s: mmrt's bf16 mode is not within %.0fx transformers' bf16 error (above)", sc.key, PARITY);
    test_assert_no_fallback(s->be, dir);
    free(got);
    free(feat);
    mmrt_media_rows_free(s->be, &rows);
    mmrt_session_free(s);
    mmrt_weights_free(sc.ref);
    mmrt_weights_free(sc.plain);
    cJSON_Delete(doc);
    mmrt_model_free(m);
}

/* ---- SmolVLM nonsquare: the image features ------------------------------------------------- */

Test(bf16_parity, smolvlm_nonsquare_image_features) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/smolvlm/nonsquare", MMRT_FIXTURES_DIR);
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = test_device();
    mp.math = MMRT_MATH_BF16;
    mp.n_threads = 2;
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, &mp, &m), MMRT_OK, "%s", mmrt_last_error());
    cr_assert_eq(m->n_encoders, 1, "%zu encoders", m->n_encoders);
    const mmrt_smolvlm *v = m->encoders[0]->impl;
    mmrt_weights *ref = NULL, *plain = NULL;
    mmrt_error err = {0};
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    cr_assert_eq(mmrt_weights_open(path, &ref, &err), MMRT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/reference_bf16.safetensors", dir);
    cr_assert_eq(mmrt_weights_open(path, &plain, &err), MMRT_OK, "%s", err.msg);
    int64_t n_px = 0, n_want = 0, n_plain = 0;
    float *pixels = f32_copy(ref, "pixel_values", &n_px), *want = f32_copy(ref, "connector.out", &n_want);
    float *plain_feat = f32_copy(plain, "connector.out", &n_plain);
    cr_assert(pixels && want && plain_feat && n_plain == n_want, "%s: pixel_values / connector.out missing", dir);
    int32_t n_tiles = (int32_t)mmrt_weights_find(ref, "pixel_values")->shape[0];

    mmrt_session *s = test_model_session(m, 1024);
    mmrt_tensor rows;
    cr_assert_eq(mmrt_media_rows_alloc(s->be, n_tiles * v->image_seq_len, m->llm.hp.n_embd, &rows, &err), MMRT_OK,
                 "%s", err.msg);
    cr_assert_eq(mmrt_smolvlm_encode(v, s->be, pixels, n_tiles, &rows, NULL, NULL, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_tensor_nelements(&rows), n_want);
    float *got = test_download(&rows);
    snprintf(path, sizeof path, "smolvlm/nonsquare image features (%s)", test_on_cuda() ? "cuda" : "cpu");
    cr_assert(check_parity(path, got, want, plain_feat, n_want, true),
              "%s: mmrt's bf16 mode is not within %.0fx transformers' bf16 error (above)", path, PARITY);
    test_assert_no_fallback(s->be, dir);
    free(got);
    free(pixels);
    free(want);
    free(plain_feat);
    mmrt_media_rows_free(s->be, &rows);
    mmrt_session_free(s);
    mmrt_weights_free(ref);
    mmrt_weights_free(plain);
    mmrt_model_free(m);
}

/* ---- the public API: MMRT_MATH_AUTO is the checkpoint's dtype ----------------------------- */

static mmrt_math loaded_math(const char *family, const char *name, mmrt_math math) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s/%s", MMRT_FIXTURES_DIR, family, name);
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = test_device();
    mp.math = math;
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, &mp, &m), MMRT_OK, "%s", mmrt_last_error());
    mmrt_model_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    cr_assert_eq(mmrt_model_get_info(m, &info), MMRT_OK, "%s", mmrt_last_error());
    mmrt_model_free(m);
    return info.math;
}

Test(bf16_parity, auto_math_follows_the_checkpoint) {
    unsetenv("MMRT_MATH"); /* ctest pins f32 for the other suites */
    cr_assert_eq(loaded_math("llama", "gqa-tied-bf16", MMRT_MATH_AUTO), MMRT_MATH_BF16, "bf16 checkpoint");
    cr_assert_eq(loaded_math("bf16", "llama-margin", MMRT_MATH_AUTO), MMRT_MATH_BF16, "bf16 checkpoint");
    cr_assert_eq(loaded_math("llama", "odd-sizes", MMRT_MATH_AUTO), MMRT_MATH_F32, "f32 checkpoint");
    cr_assert_eq(loaded_math("llama", "mha-untied-sharded", MMRT_MATH_AUTO), MMRT_MATH_F32, "sharded f32 checkpoint");
    cr_assert_eq(loaded_math("llama", "odd-sizes", MMRT_MATH_BF16), MMRT_MATH_BF16, "explicit bf16");
    /* MMRT_MATH replaces auto; an explicit math wins over it */
    setenv("MMRT_MATH", "f32", 1);
    cr_assert_eq(loaded_math("llama", "gqa-tied-bf16", MMRT_MATH_AUTO), MMRT_MATH_F32, "MMRT_MATH=f32");
    cr_assert_eq(loaded_math("llama", "gqa-tied-bf16", MMRT_MATH_BF16), MMRT_MATH_BF16, "explicit over MMRT_MATH");
    setenv("MMRT_MATH", "bf16", 1);
    cr_assert_eq(loaded_math("llama", "odd-sizes", MMRT_MATH_AUTO), MMRT_MATH_BF16, "MMRT_MATH=bf16");
}
