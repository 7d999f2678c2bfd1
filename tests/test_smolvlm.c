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
#include "fusion/smolvlm.h"
#include "text/chat_template.h"
#include "helpers/reply.h"
#include "helpers/compare.h"
#include "helpers/model_fixture.h"
#include "helpers/test_device.h"
#include "helpers/tmpdir.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pthread.h>
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
    test_model_open(f->dir, f->dir, &f->model, &f->ref, &f->json);
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

/* The model's image encoder (fusion/smolvlm.c is its first implementation). */
static const mmrt_smolvlm *vision_of(const mmrt_model *m) {
    cr_assert_eq(m->n_encoders, 1, "%zu encoders", m->n_encoders);
    return m->encoders[0]->impl;
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
    float *want = ref_copy(hc->f, what), *got = test_download(x);
    char label[700];
    snprintf(label, sizeof label, "%s %s", hc->f->dir, what);
    int64_t n = mmrt_tensor_nelements(x);
    cr_assert_eq((size_t)n * sizeof(float), ref->n_bytes, "%s: size", label);
    if (!mmrt_test_close(label, got, want, n, TOL)) hc->ok = false;
    free(want);
    free(got);
    hc->n_checked++;
}

static void check_forward(const char *name) {
    fixture f;
    fixture_open(&f, name);
    const mmrt_smolvlm *v = vision_of(f.model);
    const mmrt_llm *llm = &f.model->llm;
    const mmrt_st_tensor *pv = ref_tensor(&f, "pixel_values"), *ids_t = ref_tensor(&f, "input_ids");
    const mmrt_st_tensor *conn = ref_tensor(&f, "connector.out"), *greedy = ref_tensor(&f, "greedy_ids");
    int32_t n_tiles = (int32_t)pv->shape[0];
    int64_t n = ids_t->shape[0], n_new = greedy->shape[0];
    float *pixels = ref_copy(&f, "pixel_values"), *want_feat = ref_copy(&f, "connector.out");
    float *want_logits = ref_copy(&f, "logits");
    int32_t *ids = ref_copy(&f, "input_ids"), *want_greedy = ref_copy(&f, "greedy_ids");

    mmrt_session *s = test_model_session(f.model, (int32_t)(n + n_new));
    mmrt_error err = {0};
    int64_t n_feat = (int64_t)(conn->n_bytes / sizeof(float));
    mmrt_tensor rows; /* the image rows, left on the backend */
    cr_assert_eq(mmrt_media_rows_alloc(s->be, n_tiles * v->image_seq_len, llm->hp.n_embd, &rows, &err), MMRT_OK);
    cr_assert_eq(mmrt_smolvlm_encode(v, s->be, pixels, n_tiles, &rows, NULL, NULL, &err), MMRT_OK, "%s", err.msg);
    float *feat = test_download(&rows);
    cr_assert_eq(mmrt_tensor_nelements(&rows), n_feat);
    mmrt_llm_segment seg = {.begin = 0, .end = n, .token = v->image_token, .rows = &rows};
    char label[700];
    snprintf(label, sizeof label, "%s image features", f.dir);
    cr_assert(mmrt_test_close(label, feat, want_feat, n_feat, TOL), "%s differ from transformers", label);

    /* the prompt in one pass: hidden states and every logit */
    float *logits = malloc(sizeof(float) * (size_t)(n * llm->hp.n_vocab));
    hidden_check hc = {.f = &f, .n_layer = llm->hp.n_layer, .ok = true};
    mmrt_llm_batch b = {.ids = ids, .n_tok = n, .segments = &seg, .n_segments = 1, .all_logits = true,
                        .logits = logits, .on_hidden = on_hidden, .hidden_user = &hc};
    s->state.n_past = 0;
    cr_assert_eq(mmrt_llm_decode(llm, &s->state, &b, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(hc.n_checked, llm->hp.n_layer + 2, "hidden states reported: %d", hc.n_checked);
    cr_assert(hc.ok, "%s: hidden states differ from transformers", f.dir);
    snprintf(label, sizeof label, "%s logits", f.dir);
    cr_assert(mmrt_test_close(label, logits, want_logits, n * llm->hp.n_vocab, TOL), "%s differ", label);

    /* greedy decoding in chunks of 50 (the image runs cross chunk boundaries) */
    s->state.n_past = 0;
    s->state.n_batch = 50;
    mmrt_llm_batch p = {.ids = ids, .n_tok = n, .segments = &seg, .n_segments = 1, .logits = logits};
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
    test_assert_no_fallback(s->be, f.dir);
    free(pixels);
    free(want_feat);
    free(want_logits);
    free(ids);
    free(want_greedy);
    free(feat);
    free(logits);
    mmrt_media_rows_free(s->be, &rows);
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

/* The prompt's ids, the greedy ids and the text passed to on_token: without special tokens
 * (transformers' decode(skip_special_tokens=True)), or with them when `special` is set. */
static void check_pipeline(const char *name, image_source src, bool special) {
    fixture f;
    fixture_open(&f, name);
    const mmrt_st_tensor *ids_t = ref_tensor(&f, "input_ids"), *greedy = ref_tensor(&f, "greedy_ids");
    int32_t *want_ids = ref_copy(&f, "input_ids"), *want_greedy = ref_copy(&f, "greedy_ids");
    int64_t n = ids_t->shape[0], n_new = greedy->shape[0];
    prompt_parts pp;
    build_parts(&f, src, &pp);
    mmrt_session *s = test_model_session(f.model, (int32_t)(n + n_new));

    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    cr_assert_eq(mmrt_session_prompt_ids(s, pp.parts, pp.n, &gp, &ids, &n_ids), MMRT_OK, "%s",
                 mmrt_session_last_error(s));
    cr_assert_eq((int64_t)n_ids, n, "%s: %zu prompt tokens, transformers %lld", f.dir, n_ids, (long long)n);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(ids[i], want_ids[i], "%s: prompt token %lld is %d, transformers %d", f.dir, (long long)i,
                     ids[i], want_ids[i]);
    free(ids);

    test_reply got = {0};
    gp.max_tokens = (int32_t)n_new;
    gp.special = special;
    gp.on_token = test_reply_collect;
    gp.user = &got;
    mmrt_generate_result r = {.size = sizeof r};
    cr_assert_eq(mmrt_session_generate_parts(s, pp.parts, pp.n, &gp, &r), MMRT_OK, "%s",
                 mmrt_session_last_error(s));
    cr_assert_eq(r.n_prompt_tokens, n);
    cr_assert_eq(got.n, n_new, "%s: %d tokens generated", f.dir, got.n);
    for (int64_t i = 0; i < n_new; i++)
        cr_assert_eq(got.ids[i], want_greedy[i], "%s: greedy token %lld is %d, transformers %d", f.dir,
                     (long long)i, got.ids[i], want_greedy[i]);
    const char *want_text =
        cJSON_GetStringValue(mmrt_json_find(mmrt_json_find(f.json, "generation"), special ? "text_special" : "text"));
    cr_assert_not_null(want_text, "%s: reference.json generation.text%s", f.dir, special ? "_special" : "");
    cr_assert_str_eq(got.text, want_text, "%s: on_token's text (special %d)", f.dir, special);
    const mmrt_st_tensor *pv = ref_tensor(&f, "pixel_values");
    cr_assert_eq(r.n_image_tiles, pv->shape[0], "%s: %d tiles", f.dir, r.n_image_tiles);
    cr_assert_eq(r.n_image_tokens, pv->shape[0] * vision_of(f.model)->image_seq_len);
    test_assert_no_fallback(s->be, f.dir);
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

ParameterizedTest(int *c, smolvlm, files_to_tokens_match_transformers) {
    check_pipeline(cases[*c], FROM_FILE, false);
}

/* two-images generates <|im_start|> and <row_r_col_c> tokens: with special on, their text too */
Test(smolvlm, encoded_bytes_and_pixel_buffers) {
    check_pipeline("two-images", FROM_BYTES, true);
    check_pipeline("split", FROM_PIXELS, false); /* an RGB image: the pixel path is the file path */
    check_pipeline("exif", FROM_PIXELS, true);   /* the decoded pixels are already upright */
}

/* ---- bad input ------------------------------------------------------------------------------ */

static mmrt_status generate_one(mmrt_session *s, const mmrt_part *parts, size_t n, mmrt_generate_params *gp) {
    gp->max_tokens = 2;
    return mmrt_session_generate_parts(s, parts, n, gp, NULL);
}

Test(smolvlm, placeholders_and_images_must_match) {
    fixture f;
    fixture_open(&f, "nosplit");
    mmrt_session *s = test_model_session(f.model, 512);
    char img[600];
    snprintf(img, sizeof img, "%s/images/coffee.png", MMRT_FIXTURES_DIR);
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);

    /* a text part with its own "<image>" beside one image: two placeholders, one image */
    mmrt_part two_ph[2] = {mmrt_image_file_part(img), mmrt_text_part("what is <image>?")};
    cr_assert_eq(generate_one(s, two_ph, 2, &gp), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_session_last_error(s), "part 1: the text contains \"<image>\""), "%s",
              mmrt_session_last_error(s));
    /* a placeholder and no image */
    mmrt_part no_img = mmrt_text_part("describe <image>");
    cr_assert_eq(generate_one(s, &no_img, 1, &gp), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_session_last_error(s), "part 0"), "%s", mmrt_session_last_error(s));
    /* ... in the system message */
    gp.system = "You see <image>.";
    mmrt_part q[2] = {mmrt_image_file_part(img), mmrt_text_part("what is it?")};
    cr_assert_eq(generate_one(s, q, 2, &gp), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_session_last_error(s), "system message"), "%s", mmrt_session_last_error(s));
    gp.system = NULL;
    /* raw prompts keep the rule */
    gp.raw = true;
    mmrt_part raw[3] = {mmrt_text_part("<image>"), mmrt_image_file_part(img), mmrt_text_part("Caption:")};
    cr_assert_eq(generate_one(s, raw, 3, &gp), MMRT_ERR_INVALID_ARG);
    /* the expansion itself refuses counts that differ, giving both numbers */
    mmrt_media_input one = {.enc = f.model->encoders[0], .text = "x"};
    char *out = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_media_expand_prompt("<image> and <image>", &one, 1, &out, &err), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(err.msg, "2 <image> placeholders but 1 image was given"), "%s", err.msg);
    cr_assert_null(out);
    gp.raw = false;
    /* text only on a vision model works */
    mmrt_part text = mmrt_text_part("Hello");
    cr_assert_eq(generate_one(s, &text, 1, &gp), MMRT_OK, "%s", mmrt_session_last_error(s));
    /* no parts, NULL parts, a NULL text part, an unknown part type */
    cr_assert_eq(mmrt_session_generate_parts(s, NULL, 1, &gp, NULL), MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_session_generate_parts(s, &text, 0, &gp, NULL), MMRT_ERR_INVALID_ARG);
    mmrt_part null_text = mmrt_text_part(NULL);
    cr_assert_eq(generate_one(s, &null_text, 1, &gp), MMRT_ERR_INVALID_ARG);
    mmrt_part odd = {.type = (mmrt_part_type)42, .text = img};
    cr_assert_eq(generate_one(s, &odd, 1, &gp), MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_session_caption(s, &text, &gp, NULL), MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_session_ask(s, two_ph, NULL, &gp, NULL), MMRT_ERR_INVALID_ARG);
    mmrt_session_free(s);
    fixture_close(&f);
}

Test(smolvlm, bad_images_are_named) {
    fixture f;
    fixture_open(&f, "split");
    mmrt_session *s = test_model_session(f.model, 512);
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    char path[600];

    snprintf(path, sizeof path, "%s/images/no-such-file.png", MMRT_FIXTURES_DIR);
    mmrt_part missing = mmrt_image_file_part(path);
    cr_assert_eq(mmrt_session_caption(s, &missing, &gp, NULL), MMRT_ERR_IO);
    cr_assert(strstr(mmrt_session_last_error(s), "no-such-file.png"), "%s", mmrt_session_last_error(s));

    static const unsigned char truncated[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H'};
    mmrt_part bytes = mmrt_image_bytes_part(truncated, sizeof truncated, "upload-7.png");
    cr_assert_eq(mmrt_session_caption(s, &bytes, &gp, NULL), MMRT_ERR_BAD_FORMAT);
    cr_assert(strstr(mmrt_session_last_error(s), "upload-7.png"), "%s", mmrt_session_last_error(s));

    /* pixel buffers: too big for the limit, a short stride, two channels, NULL */
    uint8_t px[4 * 4 * 4] = {0};
    gp.max_pixels = 15;
    mmrt_part big = mmrt_image_pixels_part(px, 4, 4, 3, 0);
    big.text = "camera frame";
    cr_assert_eq(mmrt_session_caption(s, &big, &gp, NULL), MMRT_ERR_UNSUPPORTED);
    cr_assert(strstr(mmrt_session_last_error(s), "camera frame"), "%s", mmrt_session_last_error(s));
    gp.max_pixels = 0;
    mmrt_part bad_stride = mmrt_image_pixels_part(px, 4, 4, 3, 5);
    cr_assert_eq(mmrt_session_caption(s, &bad_stride, &gp, NULL), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_session_last_error(s), "image part 0"), "%s", mmrt_session_last_error(s));
    mmrt_part two_chan = mmrt_image_pixels_part(px, 4, 4, 2, 0);
    cr_assert_eq(mmrt_session_caption(s, &two_chan, &gp, NULL), MMRT_ERR_INVALID_ARG);
    mmrt_part null_px = mmrt_image_pixels_part(NULL, 4, 4, 3, 0);
    cr_assert_eq(mmrt_session_caption(s, &null_px, &gp, NULL), MMRT_ERR_INVALID_ARG);
    gp.max_pixels = -1;
    mmrt_part ok = mmrt_image_pixels_part(px, 4, 4, 4, 0); /* RGBA */
    cr_assert_eq(mmrt_session_caption(s, &ok, &gp, NULL), MMRT_ERR_INVALID_ARG);
    gp.max_pixels = 0;
    gp.max_tokens = 1;
    cr_assert_eq(mmrt_session_caption(s, &ok, &gp, NULL), MMRT_OK, "%s", mmrt_session_last_error(s));

    /* the second of two images is bad: nothing is encoded, the message names it */
    snprintf(path, sizeof path, "%s/images/coffee.png", MMRT_FIXTURES_DIR);
    mmrt_part both[3] = {mmrt_image_file_part(path), bytes, mmrt_text_part("compare")};
    mmrt_generate_result r = {.size = sizeof r};
    cr_assert_eq(mmrt_session_generate_parts(s, both, 3, &gp, &r), MMRT_ERR_BAD_FORMAT);
    cr_assert(strstr(mmrt_session_last_error(s), "upload-7.png"), "%s", mmrt_session_last_error(s));
    cr_assert_eq(r.image_encode_ms, 0.0);
    mmrt_session_free(s);
    fixture_close(&f);
}

Test(smolvlm, progress_per_tile_and_abort) {
    fixture f;
    fixture_open(&f, "two-images");
    mmrt_session *s = test_model_session(f.model, 1024);
    prompt_parts pp;
    build_parts(&f, FROM_FILE, &pp);
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 1;
    test_progress a = {.stage = MMRT_STAGE_IMAGE_ENCODE, .after = 1000};
    gp.on_progress = test_progress_abort;
    gp.user = &a;
    cr_assert_eq(mmrt_session_generate_parts(s, pp.parts, pp.n, &gp, NULL), MMRT_OK, "%s",
                 mmrt_session_last_error(s));
    cr_assert_eq(a.calls, 17, "one call per tile of both images: %d", a.calls);
    cr_assert_eq(a.last_total, 17);
    a = (test_progress){.stage = MMRT_STAGE_IMAGE_ENCODE, .after = 9};
    mmrt_session_reset(s); /* else the images are in the KV cache already and are not encoded again */
    mmrt_generate_result r = {.size = sizeof r};
    cr_assert_eq(mmrt_session_generate_parts(s, pp.parts, pp.n, &gp, &r), MMRT_ERR_ABORTED);
    cr_assert_eq(a.calls, 9);
    cr_assert_eq(r.n_generated, 0);
    cr_assert(strstr(mmrt_session_last_error(s), "progress callback"), "%s", mmrt_session_last_error(s));
    /* the session is usable afterwards */
    gp.on_progress = NULL;
    cr_assert_eq(mmrt_session_generate_parts(s, pp.parts, pp.n, &gp, NULL), MMRT_OK, "%s",
                 mmrt_session_last_error(s));
    /* a context too small for the images fails before encoding */
    mmrt_session *small = test_model_session(f.model, 300);
    a = (test_progress){.stage = MMRT_STAGE_IMAGE_ENCODE, .after = 1000};
    gp.on_progress = test_progress_abort;
    cr_assert_eq(mmrt_session_generate_parts(small, pp.parts, pp.n, &gp, NULL), MMRT_ERR_CONTEXT_FULL);
    cr_assert_eq(a.calls, 0);
    cr_assert(strstr(mmrt_session_last_error(small), "346 tokens with its media"), "%s",
              mmrt_session_last_error(small));
    mmrt_session_free(small);
    /* images that alone overflow it stop the reading of further images */
    small = test_model_session(f.model, 100);
    cr_assert_eq(mmrt_session_generate_parts(small, pp.parts, pp.n, &gp, NULL), MMRT_ERR_CONTEXT_FULL);
    cr_assert(strstr(mmrt_session_last_error(small), "the first 1 media input of the prompt take 112 tokens"), "%s",
              mmrt_session_last_error(small));
    mmrt_session_free(small);
    free_parts(&pp);
    mmrt_session_free(s);
    fixture_close(&f);
}

/* Copies a fixture checkpoint into a temporary directory with config.json edited by `edit`. */
static char *edited_checkpoint(const char *name, void (*edit)(cJSON *cfg)) {
    static const char *const files[] = {"config.json", "generation_config.json", "model.safetensors",
                                        "processor_config.json", "tokenizer.json", "tokenizer_config.json",
                                        "chat_template.jinja"};
    char *dir = tmpdir_make("smolvlm");
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char src[700];
        snprintf(src, sizeof src, "%s/smolvlm/%s/%s", MMRT_FIXTURES_DIR, name, files[i]);
        size_t n;
        char *data = tmpdir_read(src, &n);
        if (strcmp(files[i], "config.json") == 0) {
            cJSON *cfg = cJSON_Parse(data);
            edit(cfg);
            free(data);
            data = cJSON_Print(cfg);
            n = strlen(data);
            cJSON_Delete(cfg);
        }
        free(tmpdir_write(dir, files[i], data, n));
        free(data);
    }
    return dir;
}

static void wider_vision(cJSON *cfg) {
    cJSON_SetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "vision_config"), "hidden_size"), 48);
}
static void bigger_tiles(cJSON *cfg) {
    cJSON_SetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "vision_config"), "image_size"), 64);
}
static void other_image_token(cJSON *cfg) { cJSON_SetNumberValue(cJSON_GetObjectItem(cfg, "image_token_id"), 7); }
static void odd_scale(cJSON *cfg) { cJSON_SetNumberValue(cJSON_GetObjectItem(cfg, "scale_factor"), 3); }

Test(smolvlm, a_vision_config_that_does_not_match_the_checkpoint) {
    static const struct {
        void (*edit)(cJSON *);
        const char *expect;
    } cases_[] = {
        {wider_vision, "model.vision_model."},  /* weights of another width: names the tensor */
        {bigger_tiles, "position_embedding"},   /* 256 positions, the weights have 64 */
        {other_image_token, "image_token_id"},  /* the tokenizer's <image> is 550 */
        {odd_scale, "scale_factor"},            /* 8 patches per side */
    };
    for (size_t i = 0; i < sizeof cases_ / sizeof *cases_; i++) {
        char *dir = edited_checkpoint("split", cases_[i].edit);
        mmrt_model *m = NULL;
        mmrt_status st = mmrt_model_load(dir, NULL, &m);
        cr_assert(st == MMRT_ERR_MODEL || st == MMRT_ERR_BAD_FORMAT, "case %zu: status %d", i, st);
        cr_assert_null(m);
        cr_assert(strstr(mmrt_last_error(), cases_[i].expect), "case %zu: %s", i, mmrt_last_error());
        cr_assert(strstr(mmrt_last_error(), dir), "case %zu names the checkpoint: %s", i, mmrt_last_error());
        tmpdir_remove(dir);
    }
}

Test(smolvlm, images_for_a_text_model) {
    char dir[600], img[600];
    snprintf(dir, sizeof dir, "%s/llama/odd-sizes", MMRT_FIXTURES_DIR);
    snprintf(img, sizeof img, "%s/images/coffee.png", MMRT_FIXTURES_DIR);
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, NULL, &m), MMRT_OK, "%s", mmrt_last_error());
    mmrt_model_info info = {.size = sizeof info};
    cr_assert_eq(mmrt_model_get_info(m, &info), MMRT_OK);
    cr_assert(!info.vision);
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, NULL, &s), MMRT_OK);
    mmrt_part image = mmrt_image_file_part(img);
    cr_assert_eq(mmrt_session_caption(s, &image, NULL, NULL), MMRT_ERR_UNSUPPORTED);
    cr_assert(strstr(mmrt_session_last_error(s), "text model"), "%s", mmrt_session_last_error(s));
    mmrt_part three[3] = {image, image, mmrt_text_part("compare")};
    cr_assert_eq(mmrt_session_generate_parts(s, three, 3, NULL, NULL), MMRT_ERR_UNSUPPORTED);
    mmrt_session_free(s);
    mmrt_model_free(m);
}

Test(smolvlm, model_info_describes_the_vision_side) {
    fixture f;
    fixture_open(&f, "split");
    mmrt_model_info info = {.size = sizeof info};
    cr_assert_eq(mmrt_model_get_info(f.model, &info), MMRT_OK);
    cr_assert(info.vision);
    cr_assert_str_eq(info.architecture, "idefics3");
    cr_assert_str_eq(info.chat_format, "jinja");
    cr_assert_eq(info.image_tile, 32);
    cr_assert_eq(info.image_seq_len, 16);
    cr_assert_eq(info.image_longest_edge, 96);
    fixture_close(&f);
}

/* The checkpoint's own template (processing_smolvlm.DEFAULT_CHAT_TEMPLATE) through the Jinja
 * interpreter, content as the processor passes it (a list of typed parts): "User:" before an
 * image, "User: " before text, a system turn as "System: ", the literal prefix once; with raw,
 * the parts concatenated. tests/test_chat_templates.c checks it against transformers too. */
Test(smolvlm, idefics3_chat_format) {
    char path[600];
    snprintf(path, sizeof path, "%s/smolvlm/split", MMRT_FIXTURES_DIR);
    mmrt_chat_template t;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_chat_template_load(path, true, &t, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(mmrt_chat_template_kind(&t), "jinja");
    cr_assert(t.content_parts);
    static const struct {
        mmrt_chat_part parts[3];
        size_t n;
        const char *system;
        const char *want;
    } cases_[] = {
        {{{.text = "Hello"}}, 1, NULL, "<|im_start|>User: Hello<end_of_utterance>\nAssistant:"},
        {{{.image = true}, {.text = "What is it?"}}, 2, NULL,
         "<|im_start|>User:<image>What is it?<end_of_utterance>\nAssistant:"},
        {{{.text = "Compare "}, {.image = true}, {.text = " and this."}}, 3, "Be brief.",
         "<|im_start|>System: Be brief.<end_of_utterance>\nUser: Compare <image> and this.<end_of_utterance>\n"
         "Assistant:"},
    };
    for (size_t i = 0; i < sizeof cases_ / sizeof *cases_; i++) {
        char *out = NULL;
        cr_assert_eq(mmrt_chat_render_parts(&t, cases_[i].system, cases_[i].parts, cases_[i].n, false, &out, &err),
                     MMRT_OK, "%s", err.msg);
        cr_assert_str_eq(out, cases_[i].want);
        free(out);
    }
    char *raw = NULL;
    cr_assert_eq(mmrt_chat_render_parts(&t, NULL, cases_[2].parts, 3, true, &raw, &err), MMRT_OK);
    cr_assert_str_eq(raw, "Compare <image> and this.");
    free(raw);
    mmrt_chat_template_free(&t);
}

/* On the device: a KV cache that does not fit is MMRT_ERR_OOM naming its size (the emulated device
 * is given 1 MiB: the weights fit, 1024 positions of cache do not). */
Test(smolvlm, device_out_of_memory_names_the_cache) {
    if (!test_on_cuda()) cr_skip_test("CUDA only (test_cuda_smolvlm)");
    setenv("MMRT_EMU_DEVICE_MEMORY_MB", "1", 1);
    fixture f;
    fixture_open(&f, "split");
    mmrt_session_params sp;
    mmrt_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 1024;
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(f.model, &sp, &s), MMRT_ERR_OOM, "%s", mmrt_last_error());
    cr_assert_null(s);
    const char *msg = mmrt_last_error();
    cr_assert(strstr(msg, "KV cache for 1024 tokens") && strstr(msg, "524288 bytes"), "message: %s", msg);
    fixture_close(&f);
}

/* The model is shared and each thread has its own session (on CUDA: its own backend forked from
 * the model's, with its own stream over the same uploaded weights): two captions at once give
 * transformers' greedy tokens in both. */
typedef struct thread_run {
    fixture *f;
    prompt_parts pp;
    int32_t n_ctx, n_new;
    test_reply got;
    mmrt_status st;
    char msg[512];
} thread_run;

static void *caption_thread(void *arg) {
    thread_run *t = arg;
    mmrt_session_params sp;
    mmrt_session_params_init(&sp, sizeof sp);
    sp.n_ctx = t->n_ctx;
    mmrt_session *s = NULL;
    t->st = mmrt_session_init(t->f->model, &sp, &s);
    if (t->st != MMRT_OK) {
        snprintf(t->msg, sizeof t->msg, "%s", mmrt_last_error());
        return NULL;
    }
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = t->n_new;
    gp.on_token = test_reply_collect;
    gp.user = &t->got;
    t->st = mmrt_session_generate_parts(s, t->pp.parts, t->pp.n, &gp, NULL);
    if (t->st != MMRT_OK) snprintf(t->msg, sizeof t->msg, "%s", mmrt_session_last_error(s));
    else if (s->be->n_fallback != 0)
        snprintf(t->msg, sizeof t->msg, "%lld ops fell back", (long long)s->be->n_fallback);
    mmrt_session_free(s);
    return NULL;
}

Test(smolvlm, sessions_on_two_threads_share_the_model) {
    fixture f;
    fixture_open(&f, "two-images");
    const mmrt_st_tensor *ids_t = ref_tensor(&f, "input_ids"), *greedy = ref_tensor(&f, "greedy_ids");
    int32_t *want = ref_copy(&f, "greedy_ids");
    thread_run runs[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        memset(&runs[i], 0, sizeof runs[i]);
        runs[i].f = &f;
        runs[i].n_new = (int32_t)greedy->shape[0];
        runs[i].n_ctx = (int32_t)(ids_t->shape[0] + greedy->shape[0]);
        build_parts(&f, FROM_FILE, &runs[i].pp);
    }
    for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&th[i], NULL, caption_thread, &runs[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(runs[i].st, MMRT_OK, "thread %d: %s", i, runs[i].msg);
        cr_assert_eq(runs[i].msg[0], 0, "thread %d: %s", i, runs[i].msg);
        cr_assert_eq(runs[i].got.n, runs[i].n_new, "thread %d: %d tokens", i, runs[i].got.n);
        for (int32_t k = 0; k < runs[i].n_new; k++)
            cr_assert_eq(runs[i].got.ids[k], want[k], "thread %d: greedy token %d is %d, transformers %d", i, k,
                         runs[i].got.ids[k], want[k]);
        free_parts(&runs[i].pp);
    }
    free(want);
    fixture_close(&f);
}

/* The content hash of a prepared image: the same pixels and settings give the same hash (a file
 * and its bytes), another image or other settings (no_split) another, although all of them fill
 * the same <image> ids. */
Test(smolvlm, prepared_images_tell_apart_by_their_hash) {
    fixture f;
    fixture_open(&f, "split");
    const mmrt_encoder *e = f.model->encoders[0];
    char coffee[600], astronaut[600];
    snprintf(coffee, sizeof coffee, "%s/images/coffee.png", MMRT_FIXTURES_DIR);
    snprintf(astronaut, sizeof astronaut, "%s/images/astronaut.png", MMRT_FIXTURES_DIR);
    size_t len;
    char *bytes = tmpdir_read(coffee, &len);
    const mmrt_part parts[3] = {mmrt_image_file_part(coffee), mmrt_image_bytes_part(bytes, len, "coffee"),
                                mmrt_image_file_part(astronaut)};
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    mmrt_media_input in[4] = {{.enc = e}, {.enc = e}, {.enc = e}, {.enc = e}};
    mmrt_error err = {0};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(e->iface->prepare(e, &parts[i], (size_t)i, &gp, &in[i], &err), MMRT_OK, "%s", err.msg);
    gp.no_split = true;
    cr_assert_eq(e->iface->prepare(e, &parts[0], 0, &gp, &in[3], &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(strlen(in[0].hash), 64);
    cr_assert_str_eq(in[0].hash, in[1].hash, "a file and its bytes are the same image");
    cr_assert_str_neq(in[0].hash, in[2].hash, "two images");
    cr_assert_str_neq(in[0].hash, in[3].hash, "the same image preprocessed otherwise");
    cr_assert_eq(in[3].n_tokens, vision_of(f.model)->image_seq_len, "no_split: one tile");
    for (int i = 0; i < 4; i++) mmrt_media_input_free(&in[i]);
    free(bytes);
    fixture_close(&f);
}
