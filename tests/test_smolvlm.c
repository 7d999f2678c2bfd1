/* SmolVLM / Idefics3 end to end against transformers, on every tests/fixtures/smolvlm case:
 *   - from the fixture's pixel_values and input_ids: image features (encoder + connector), every
 *     hidden state and the logits of the whole prompt, and the 32 greedy tokens;
 *   - from the image files, as a user calls the library: the prompt's token ids and the greedy
 *     tokens through mmrt_session_generate_parts (files, encoded bytes and pixel buffers);
 *   - bad input: placeholders and images that do not match, images for a text model, corrupt and
 *     huge images, a vision config that does not match the weights, aborting from the progress
 *     callback. */
#include "core/json.h"
#include "core/safetensors.h"
#include "fusion/model.h"
#include "helpers/compare.h"
#include "helpers/tmpdir.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-4 /* ARCHITECTURE.md: f32 paths */

static const char *const cases[] = {"split", "nosplit", "nonsquare", "rgba", "gray", "exif", "two-images"};
#define N_CASES (sizeof cases / sizeof cases[0])

typedef struct fixture {
    char dir[512];
    mmrt_model *model;
    mmrt_weights *ref;
    cJSON *json; /* reference.json */
} fixture;

static void fixture_open(fixture *f, const char *name) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/smolvlm/%s", MMRT_FIXTURES_DIR, name);
    mmrt_model_params mp = mmrt_model_default_params();
    mp.device = "cpu";
    mp.n_threads = 2;
    cr_assert_eq(mmrt_model_load(f->dir, &mp, &f->model), MMRT_OK, "%s", mmrt_last_error());
    char path[600];
    mmrt_error err = {0};
    snprintf(path, sizeof path, "%s/reference.safetensors", f->dir);
    cr_assert_eq(mmrt_weights_open(path, &f->ref, &err), MMRT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/reference.json", f->dir);
    cr_assert_eq(mmrt_json_load_file(path, &f->json, &err), MMRT_OK, "%s", err.msg);
}

static void fixture_close(fixture *f) {
    mmrt_model_free(f->model);
    mmrt_weights_free(f->ref);
    cJSON_Delete(f->json);
}

static const mmrt_st_tensor *ref_tensor(const fixture *f, const char *name) {
    const mmrt_st_tensor *t = mmrt_weights_find(f->ref, name);
    cr_assert_not_null(t, "%s: reference tensor %s missing", f->dir, name);
    return t;
}

/* A copy of a reference tensor (the mapping need not be aligned for its type). */
static void *ref_copy(const fixture *f, const char *name) {
    const mmrt_st_tensor *t = ref_tensor(f, name);
    void *p = malloc(t->n_bytes);
    cr_assert_not_null(p);
    memcpy(p, t->data, t->n_bytes);
    return p;
}

static mmrt_session *session(const fixture *f, int32_t n_ctx) {
    mmrt_session_params sp = mmrt_session_default_params();
    sp.n_ctx = n_ctx;
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(f->model, &sp, &s), MMRT_OK, "%s", mmrt_last_error());
    return s;
}

/* ---- from the fixture's pixel_values and input_ids ------------------------------------------ */

typedef struct hidden_check {
    const fixture *f;
    int64_t n_layer;
    int n_checked;
    bool ok;
} hidden_check;

/* Our index i ↔ transformers: 0..L-1 = hidden.i, L = final_prenorm, L+1 = hidden.L (normed). */
static void on_hidden(int index, const mmrt_tensor *x, void *user) {
    hidden_check *hc = user;
    int L = (int)hc->n_layer;
    char what[64];
    if (index < L) snprintf(what, sizeof what, "hidden.%d", index);
    else if (index == L) snprintf(what, sizeof what, "final_prenorm");
    else snprintf(what, sizeof what, "hidden.%d", L);
    const mmrt_st_tensor *ref = ref_tensor(hc->f, what);
    float *want = ref_copy(hc->f, what);
    char label[700];
    snprintf(label, sizeof label, "%s %s", hc->f->dir, what);
    int64_t n = mmrt_tensor_nelements(x);
    cr_assert_eq((size_t)n * sizeof(float), ref->n_bytes, "%s: size", label);
    if (!mmrt_test_close(label, x->data, want, n, TOL)) hc->ok = false;
    free(want);
    hc->n_checked++;
}

static void check_forward(const char *name) {
    fixture f;
    fixture_open(&f, name);
    const mmrt_smolvlm *v = f.model->vision;
    const mmrt_llm *llm = &f.model->llm;
    cr_assert_not_null(v, "%s: loaded without its vision side", f.dir);
    const mmrt_st_tensor *pv = ref_tensor(&f, "pixel_values"), *ids_t = ref_tensor(&f, "input_ids");
    const mmrt_st_tensor *conn = ref_tensor(&f, "connector.out"), *greedy = ref_tensor(&f, "greedy_ids");
    int32_t n_tiles = (int32_t)pv->shape[0];
    int64_t n = ids_t->shape[0], n_new = greedy->shape[0];
    float *pixels = ref_copy(&f, "pixel_values"), *want_feat = ref_copy(&f, "connector.out");
    float *want_logits = ref_copy(&f, "logits");
    int32_t *ids = ref_copy(&f, "input_ids"), *want_greedy = ref_copy(&f, "greedy_ids");

    mmrt_session *s = session(&f, (int32_t)(n + n_new));
    mmrt_error err = {0};
    int64_t n_feat = (int64_t)(conn->n_bytes / sizeof(float));
    float *feat = malloc(conn->n_bytes);
    cr_assert_eq(mmrt_smolvlm_encode(v, s->be, pixels, n_tiles, feat, NULL, NULL, &err), MMRT_OK, "%s", err.msg);
    char label[700];
    snprintf(label, sizeof label, "%s image features", f.dir);
    cr_assert(mmrt_test_close(label, feat, want_feat, n_feat, TOL), "%s differ from transformers", label);

    /* the prompt in one pass: hidden states and every logit */
    float *logits = malloc(sizeof(float) * (size_t)(n * llm->hp.n_vocab));
    hidden_check hc = {.f = &f, .n_layer = llm->hp.n_layer, .ok = true};
    mmrt_llm_batch b = {.ids = ids, .n_tok = n, .media = feat, .media_token = v->image_token,
                        .all_logits = true, .logits = logits, .on_hidden = on_hidden, .hidden_user = &hc};
    s->state.n_past = 0;
    cr_assert_eq(mmrt_llm_decode(llm, &s->state, &b, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(hc.n_checked, llm->hp.n_layer + 2, "hidden states reported: %d", hc.n_checked);
    cr_assert(hc.ok, "%s: hidden states differ from transformers", f.dir);
    snprintf(label, sizeof label, "%s logits", f.dir);
    cr_assert(mmrt_test_close(label, logits, want_logits, n * llm->hp.n_vocab, TOL), "%s differ", label);

    /* greedy decoding in chunks of 50 (the image runs cross chunk boundaries) */
    s->state.n_past = 0;
    s->state.n_batch = 50;
    mmrt_llm_batch p = {.ids = ids, .n_tok = n, .media = feat, .media_token = v->image_token, .logits = logits};
    cr_assert_eq(mmrt_llm_decode(llm, &s->state, &p, &err), MMRT_OK, "%s", err.msg);
    for (int64_t i = 0; i < n_new; i++) {
        int32_t best = 0;
        for (int32_t t = 1; t < llm->hp.n_vocab; t++)
            if (logits[t] > logits[best]) best = t;
        cr_assert_eq(best, want_greedy[i], "%s: greedy token %lld is %d, transformers %d", f.dir, (long long)i,
                     best, want_greedy[i]);
        mmrt_llm_batch next = {.ids = &best, .n_tok = 1, .logits = logits};
        if (i + 1 < n_new) cr_assert_eq(mmrt_llm_decode(llm, &s->state, &next, &err), MMRT_OK, "%s", err.msg);
    }
    free(pixels);
    free(want_feat);
    free(want_logits);
    free(ids);
    free(want_greedy);
    free(feat);
    free(logits);
    mmrt_session_free(s);
    fixture_close(&f);
}

ParameterizedTestParameters(smolvlm, forward_matches_transformers) {
    static int idx[N_CASES];
    for (size_t i = 0; i < N_CASES; i++) idx[i] = (int)i;
    return cr_make_param_array(int, idx, N_CASES);
}

ParameterizedTest(int *c, smolvlm, forward_matches_transformers) { check_forward(cases[*c]); }

/* ---- from the image files, through the public API ------------------------------------------ */

typedef enum image_source { FROM_FILE, FROM_BYTES, FROM_PIXELS } image_source;

typedef struct prompt_parts {
    mmrt_part parts[8];
    size_t n;
    char *bytes[4];    /* FROM_BYTES: the files' contents */
    uint8_t *px[4];    /* FROM_PIXELS: the decoded images */
    char paths[4][600];
} prompt_parts;

/* The fixture's user turn as parts: its messages[0].content, images from reference.json's files. */
static void build_parts(const fixture *f, image_source src, prompt_parts *pp) {
    memset(pp, 0, sizeof *pp);
    const cJSON *prompt = mmrt_json_find(f->json, "prompt");
    const cJSON *content = mmrt_json_find(cJSON_GetArrayItem(mmrt_json_find(prompt, "messages"), 0), "content");
    const cJSON *images = mmrt_json_find(f->json, "images");
    cr_assert(cJSON_IsArray(content) && cJSON_IsArray(images), "%s: reference.json prompt", f->dir);
    int k = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, content) {
        const char *type = cJSON_GetStringValue(mmrt_json_find(item, "type"));
        if (strcmp(type, "text") == 0) {
            pp->parts[pp->n++] = mmrt_text_part(cJSON_GetStringValue(mmrt_json_find(item, "text")));
            continue;
        }
        const char *file = cJSON_GetStringValue(mmrt_json_find(cJSON_GetArrayItem(images, k), "file"));
        snprintf(pp->paths[k], sizeof pp->paths[k], "%s/%s", MMRT_SOURCE_DIR, file);
        if (src == FROM_FILE) {
            pp->parts[pp->n++] = mmrt_image_file_part(pp->paths[k]);
        } else if (src == FROM_BYTES) {
            size_t len;
            pp->bytes[k] = tmpdir_read(pp->paths[k], &len);
            pp->parts[pp->n++] = mmrt_image_bytes_part(pp->bytes[k], len, file);
        } else {
            char name[64];
            snprintf(name, sizeof name, "image.%d.decoded", k);
            const mmrt_st_tensor *t = ref_tensor(f, name);
            pp->px[k] = ref_copy(f, name);
            pp->parts[pp->n++] = mmrt_image_pixels_part(pp->px[k], (int32_t)t->shape[1], (int32_t)t->shape[0],
                                                        (int32_t)t->shape[2], 0);
        }
        k++;
    }
}

static void free_parts(prompt_parts *pp) {
    for (int i = 0; i < 4; i++) {
        free(pp->bytes[i]);
        free(pp->px[i]);
    }
}

typedef struct collected {
    int32_t ids[64];
    int n;
} collected;

static int collect(const char *piece, size_t len, int32_t token, void *user) {
    (void)piece;
    (void)len;
    collected *c = user;
    if (token >= 0 && c->n < 64) c->ids[c->n++] = token;
    return 0;
}

static void check_pipeline(const char *name, image_source src) {
    fixture f;
    fixture_open(&f, name);
    const mmrt_st_tensor *ids_t = ref_tensor(&f, "input_ids"), *greedy = ref_tensor(&f, "greedy_ids");
    int32_t *want_ids = ref_copy(&f, "input_ids"), *want_greedy = ref_copy(&f, "greedy_ids");
    int64_t n = ids_t->shape[0], n_new = greedy->shape[0];
    prompt_parts pp;
    build_parts(&f, src, &pp);
    mmrt_session *s = session(&f, (int32_t)(n + n_new));

    mmrt_generate_params gp = mmrt_generate_default_params();
    int32_t *ids = NULL;
    size_t n_ids = 0;
    cr_assert_eq(mmrt_session_prompt_ids(s, pp.parts, pp.n, &gp, &ids, &n_ids), MMRT_OK, "%s",
                 mmrt_session_last_error(s));
    cr_assert_eq((int64_t)n_ids, n, "%s: %zu prompt tokens, transformers %lld", f.dir, n_ids, (long long)n);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(ids[i], want_ids[i], "%s: prompt token %lld is %d, transformers %d", f.dir, (long long)i,
                     ids[i], want_ids[i]);
    free(ids);

    collected got = {0};
    gp.max_tokens = (int32_t)n_new;
    gp.on_token = collect;
    gp.user = &got;
    mmrt_generate_result r;
    cr_assert_eq(mmrt_session_generate_parts(s, pp.parts, pp.n, &gp, &r), MMRT_OK, "%s",
                 mmrt_session_last_error(s));
    cr_assert_eq(r.n_prompt_tokens, n);
    cr_assert_eq(got.n, n_new, "%s: %d tokens generated", f.dir, got.n);
    for (int64_t i = 0; i < n_new; i++)
        cr_assert_eq(got.ids[i], want_greedy[i], "%s: greedy token %lld is %d, transformers %d", f.dir,
                     (long long)i, got.ids[i], want_greedy[i]);
    const mmrt_st_tensor *pv = ref_tensor(&f, "pixel_values");
    cr_assert_eq(r.n_image_tiles, pv->shape[0], "%s: %d tiles", f.dir, r.n_image_tiles);
    cr_assert_eq(r.n_image_tokens, pv->shape[0] * f.model->vision->image_seq_len);
    free(want_ids);
    free(want_greedy);
    free_parts(&pp);
    mmrt_session_free(s);
    fixture_close(&f);
}

ParameterizedTestParameters(smolvlm, files_to_tokens_match_transformers) {
    static int idx[N_CASES];
    for (size_t i = 0; i < N_CASES; i++) idx[i] = (int)i;
    return cr_make_param_array(int, idx, N_CASES);
}

ParameterizedTest(int *c, smolvlm, files_to_tokens_match_transformers) { check_pipeline(cases[*c], FROM_FILE); }

Test(smolvlm, encoded_bytes_and_pixel_buffers) {
    check_pipeline("two-images", FROM_BYTES);
    check_pipeline("split", FROM_PIXELS); /* an RGB image: the pixel path is the file path */
    check_pipeline("exif", FROM_PIXELS);  /* the decoded pixels are already upright */
}
