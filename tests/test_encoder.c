/* The media-encoder seam (fusion/encoder.h) with an encoder defined only under tests/
 * (helpers/test_encoder.c, registered through mmrt_encoder_register) on the Llama text fixtures:
 * its rows are the decoder's own embeddings of known ids, so a prompt with media inputs must give
 * exactly the logits and greedy tokens of the same prompt with those ids as plain tokens — with
 * two inputs in one prompt, segments crossing prefill chunks, through mmrt_llm_decode and through
 * mmrt_session_generate_parts. */
#include "fusion/model.h"
#include "helpers/reply.h"
#include "helpers/test_device.h"
#include "helpers/test_encoder.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cases[] = {"odd-sizes", "gqa-tied-bf16"};

static mmrt_model *load(const char *name) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/llama/%s", MMRT_FIXTURES_DIR, name);
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = test_device();
    mp.n_threads = 2;
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, &mp, &m), MMRT_OK, "%s", mmrt_last_error());
    return m;
}

static mmrt_session *session(const mmrt_model *m, int32_t n_batch) {
    mmrt_session_params sp;
    mmrt_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 128;
    sp.n_batch = n_batch;
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, &sp, &s), MMRT_OK, "%s", mmrt_last_error());
    return s;
}

/* Two inputs of 3 and 5 ids, between text parts. */
static const uint8_t px_a[3 * 3] = {17, 0, 0, 200, 1, 0, 33, 2, 9};
static const uint8_t px_b[5 * 3] = {5, 3, 0, 99, 0, 0, 250, 0, 1, 7, 1, 7, 64, 2, 0};

static size_t prompt(mmrt_part *parts) {
    parts[0] = mmrt_text_part("Once upon");
    parts[1] = mmrt_image_pixels_part(px_a, 3, 1, 3, 0);
    parts[2] = mmrt_text_part(" a time,");
    parts[3] = mmrt_image_pixels_part(px_b, 5, 1, 3, 0);
    parts[4] = mmrt_text_part(" there was");
    return 5;
}

/* The prompt's ids with the placeholders' tokens replaced by the ids the pixels stand for. */
static int32_t *plain_ids(const mmrt_model *m, const int32_t *ids, size_t n) {
    const uint8_t *px[2] = {px_a, px_b};
    int widths[2] = {3, 5};
    int32_t token = m->encoders[0]->token;
    int32_t *out = malloc(sizeof(int32_t) * n);
    int k = 0, j = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = ids[i];
        if (ids[i] != token) continue;
        cr_assert_lt(k, 2, "more placeholder tokens than pixels");
        out[i] = test_encoder_pixel_id(px[k] + 3 * j, m->llm.hp.n_vocab);
        if (++j == widths[k]) {
            k++;
            j = 0;
        }
    }
    cr_assert_eq(k, 2, "%d of 2 inputs found in the prompt ids", k);
    return out;
}

static int32_t argmax(const float *x, int64_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* mmrt_llm_decode: the rows spliced by segments (n_batch 4: both segments cross chunks) give the
 * logits of the plain ids, bit for bit, at every position. */
static void check_decode(const char *name) {
    test_encoder_enable(true);
    mmrt_model *m = load(name);
    cr_assert_eq(m->n_encoders, 1);
    const mmrt_encoder *e = m->encoders[0];
    mmrt_part parts[5];
    size_t n_parts = prompt(parts);
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.raw = true;
    mmrt_session *s = session(m, 4);
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(mmrt_session_prompt_ids(s, parts, n_parts, &gp, &ids, &n), MMRT_OK, "%s", mmrt_session_last_error(s));
    int32_t *plain = plain_ids(m, ids, n);

    mmrt_error err = {0};
    mmrt_media_input in[2] = {{.enc = e, .part = 1}, {.enc = e, .part = 3}};
    mmrt_tensor rows[2];
    mmrt_llm_segment seg[2];
    int64_t from = 0;
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(e->iface->prepare(e, &parts[2 * k + 1], (size_t)(2 * k + 1), &gp, &in[k], &err), MMRT_OK, "%s",
                     err.msg);
        cr_assert_eq(e->iface->encode(e, s->be, &in[k], NULL, NULL, &rows[k], &err), MMRT_OK, "%s", err.msg);
        int64_t b = from;
        while (ids[b] != e->token) b++;
        seg[k] = (mmrt_llm_segment){.begin = b, .end = b + in[k].n_tokens, .token = e->token, .rows = &rows[k]};
        from = seg[k].end;
    }
    cr_assert_str_neq(in[0].hash, in[1].hash, "two inputs with the same placeholder ids tell apart by their hash");

    int64_t V = m->llm.hp.n_vocab;
    float *want = malloc(sizeof(float) * (size_t)n * (size_t)V), *got = malloc(sizeof(float) * (size_t)n * (size_t)V);
    mmrt_llm_batch pb = {.ids = plain, .n_tok = (int64_t)n, .all_logits = true, .logits = want};
    s->state.n_past = 0;
    cr_assert_eq(mmrt_llm_decode(&m->llm, &s->state, &pb, &err), MMRT_OK, "%s", err.msg);
    mmrt_llm_batch mb = {.ids = ids, .n_tok = (int64_t)n, .segments = seg, .n_segments = 2, .all_logits = true,
                         .logits = got};
    s->state.n_past = 0;
    cr_assert_eq(mmrt_llm_decode(&m->llm, &s->state, &mb, &err), MMRT_OK, "%s", err.msg);
    for (int64_t i = 0; i < (int64_t)n * V; i++)
        cr_assert_eq(got[i], want[i], "%s: logit %lld (token %lld) is %g with the media rows, %g as text", name,
                     (long long)i, (long long)(i / V), got[i], want[i]);

    /* segments that do not fit the batch are refused */
    mmrt_llm_segment bad[2] = {seg[1], seg[0]};
    mb.segments = bad;
    s->state.n_past = 0;
    cr_assert_eq(mmrt_llm_decode(&m->llm, &s->state, &mb, &err), MMRT_ERR_INVALID_ARG);
    bad[0] = seg[0];
    bad[0].rows = &rows[1]; /* 5 rows for 3 tokens */
    mb.n_segments = 1;
    cr_assert_eq(mmrt_llm_decode(&m->llm, &s->state, &mb, &err), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(err.msg, "media segment 0"), "%s", err.msg);

    for (int k = 0; k < 2; k++) {
        mmrt_media_rows_free(s->be, &rows[k]);
        mmrt_media_input_free(&in[k]);
    }
    free(want);
    free(got);
    free(ids);
    free(plain);
    mmrt_session_free(s);
    mmrt_model_free(m);
}

/* mmrt_session_generate_parts: the greedy tokens equal a greedy loop over the plain ids. */
static void check_generate(const char *name) {
    test_encoder_enable(true);
    mmrt_model *m = load(name);
    mmrt_part parts[5];
    size_t n_parts = prompt(parts);
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.raw = true;
    gp.max_tokens = 16;
    test_reply got = {0};
    gp.on_token = test_reply_collect;
    gp.user = &got;
    mmrt_session *s = session(m, 5);
    mmrt_generate_result r = {.size = sizeof r};
    cr_assert_eq(mmrt_session_generate_parts(s, parts, n_parts, &gp, &r), MMRT_OK, "%s", mmrt_session_last_error(s));
    cr_assert_eq(r.n_images, 2);
    cr_assert_eq(r.n_image_tokens, 8);

    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(mmrt_session_prompt_ids(s, parts, n_parts, &gp, &ids, &n), MMRT_OK);
    int32_t *plain = plain_ids(m, ids, n);
    mmrt_error err = {0};
    int64_t V = m->llm.hp.n_vocab;
    float *logits = malloc(sizeof(float) * (size_t)V);
    s->state.n_past = 0;
    mmrt_llm_batch b = {.ids = plain, .n_tok = (int64_t)n, .logits = logits};
    cr_assert_eq(mmrt_llm_decode(&m->llm, &s->state, &b, &err), MMRT_OK, "%s", err.msg);
    int n_want = 0;
    for (; n_want < gp.max_tokens; n_want++) {
        int32_t best = argmax(logits, V);
        if (n_want >= got.n) break;
        cr_assert_eq(got.ids[n_want], best, "%s: greedy token %d is %d with media, %d as text", name, n_want,
                     got.ids[n_want], best);
        mmrt_llm_batch next = {.ids = &best, .n_tok = 1, .logits = logits};
        cr_assert_eq(mmrt_llm_decode(&m->llm, &s->state, &next, &err), MMRT_OK, "%s", err.msg);
    }
    cr_assert_geq(got.n, 8, "%s: only %d tokens generated", name, got.n);
    free(logits);
    free(ids);
    free(plain);
    mmrt_session_free(s);
    mmrt_model_free(m);
}

ParameterizedTestParameters(encoder, rows_reach_the_decoder_at_their_positions) {
    static int idx[] = {0, 1};
    return cr_make_param_array(int, idx, 2);
}
ParameterizedTest(int *c, encoder, rows_reach_the_decoder_at_their_positions) { check_decode(cases[*c]); }

ParameterizedTestParameters(encoder, generate_parts_equals_the_plain_text) {
    static int idx[] = {0, 1};
    return cr_make_param_array(int, idx, 2);
}
ParameterizedTest(int *c, encoder, generate_parts_equals_the_plain_text) { check_generate(cases[*c]); }

/* Without the encoder the same checkpoint is a text model again; with it, a part it does not take
 * is named. */
Test(encoder, registry_decides_which_parts_a_model_takes) {
    test_encoder_enable(false);
    mmrt_model *m = load("odd-sizes");
    cr_assert_eq(m->n_encoders, 0);
    mmrt_session *s = session(m, 0);
    mmrt_part parts[5];
    size_t n_parts = prompt(parts);
    cr_assert_eq(mmrt_session_generate_parts(s, parts, n_parts, NULL, NULL), MMRT_ERR_UNSUPPORTED);
    cr_assert(strstr(mmrt_session_last_error(s), "text model"), "%s", mmrt_session_last_error(s));
    mmrt_session_free(s);
    mmrt_model_free(m);

    test_encoder_enable(true);
    m = load("odd-sizes");
    s = session(m, 0);
    static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    mmrt_part bytes = mmrt_image_bytes_part(png_magic, sizeof png_magic, "encoded.png"); /* not a type it takes */
    cr_assert_eq(mmrt_session_caption(s, &bytes, NULL, NULL), MMRT_ERR_UNSUPPORTED);
    cr_assert(strstr(mmrt_session_last_error(s), "takes no images (part 0)"), "%s", mmrt_session_last_error(s));
    /* text parts may not carry the encoder's placeholder */
    mmrt_part ph = mmrt_text_part("look: <image>");
    cr_assert_eq(mmrt_session_generate_parts(s, &ph, 1, NULL, NULL), MMRT_ERR_INVALID_ARG);
    mmrt_session_free(s);
    mmrt_model_free(m);
}

/* An encoder that needs a LoRA adapter: a prompt with its media is refused (no decoder has
 * adapters yet) before anything is encoded; text alone still runs. */
Test(encoder, lora_adapter_is_required_while_its_media_is_in_the_prompt) {
    test_encoder_enable(true);
    test_encoder_set_lora("speech");
    mmrt_model *m = load("odd-sizes");
    cr_assert_str_eq(m->encoders[0]->lora, "speech");
    mmrt_session *s = session(m, 0);
    mmrt_part parts[5];
    size_t n_parts = prompt(parts);
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.raw = true;
    gp.max_tokens = 2;
    mmrt_generate_result r = {.size = sizeof r};
    cr_assert_eq(mmrt_session_generate_parts(s, parts, n_parts, &gp, &r), MMRT_ERR_UNSUPPORTED);
    cr_assert(strstr(mmrt_session_last_error(s), "LoRA adapter \"speech\""), "%s", mmrt_session_last_error(s));
    cr_assert_eq(r.image_encode_ms, 0.0);
    cr_assert_eq(mmrt_session_generate_parts(s, parts, 1, &gp, NULL), MMRT_OK, "%s", mmrt_session_last_error(s));
    mmrt_session_free(s);
    mmrt_model_free(m);
}
