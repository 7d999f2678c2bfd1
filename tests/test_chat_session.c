/* Multi-turn sessions (issue 9): a conversation rendered whole each turn keeps the longest common
 * prefix of the KV cache and prefills only the rest. Every turn must give transformers' prompt ids
 * and greedy reply (tests/fixtures/chat_session, tools/fixtures_chat_session.py), keep exactly the
 * fixture's reusable prefix, and reply as a fresh session given the whole conversation does. */
#include "fusion/model.h"
#include "helpers/reply.h"
#include "helpers/test_device.h"
#include "helpers/tmpdir.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TURNS 8
#define MAX_PARTS 64

typedef struct chat_case {
    cJSON *json;
    char model_dir[512];
    char image[512]; /* the case's image, or "" */
    mmrt_model *model;
} chat_case;

static void case_open(chat_case *c, const char *name) {
    memset(c, 0, sizeof *c);
    char path[512];
    snprintf(path, sizeof path, "%s/chat_session/%s.json", MMRT_FIXTURES_DIR, name);
    c->json = tmpdir_read_json(path);
    cr_assert_not_null(c->json, "%s", path);
    const cJSON *dir = cJSON_GetObjectItem(cJSON_GetObjectItem(c->json, "checkpoint"), "dir");
    snprintf(c->model_dir, sizeof c->model_dir, "%s/%s", MMRT_SOURCE_DIR, cJSON_GetStringValue(dir));
    const cJSON *img = cJSON_GetArrayItem(cJSON_GetObjectItem(c->json, "images"), 0);
    if (img)
        snprintf(c->image, sizeof c->image, "%s/%s", MMRT_SOURCE_DIR,
                 cJSON_GetStringValue(cJSON_GetObjectItem(img, "file")));
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = test_device(); /* "cuda" as test_cuda_chat_session in the emulated CUDA build */
    mp.n_threads = 2;
    cr_assert_eq(mmrt_model_load(c->model_dir, &mp, &c->model), MMRT_OK, "%s", mmrt_last_error());
}

static void case_close(chat_case *c) {
    mmrt_model_free(c->model);
    cJSON_Delete(c->json);
}

static mmrt_session *new_session(const chat_case *c, int32_t n_ctx) {
    mmrt_session_params sp;
    mmrt_session_params_init(&sp, sizeof sp);
    sp.n_ctx = n_ctx;
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(c->model, &sp, &s), MMRT_OK, "%s", mmrt_last_error());
    return s;
}

static const cJSON *turn(const chat_case *c, int t) {
    return cJSON_GetArrayItem(cJSON_GetObjectItem(c->json, "turns"), t);
}
static int n_turns(const chat_case *c) { return cJSON_GetArraySize(cJSON_GetObjectItem(c->json, "turns")); }
static int turn_int(const cJSON *t, const char *k) { return (int)cJSON_GetNumberValue(cJSON_GetObjectItem(t, k)); }
static const char *turn_str(const cJSON *t, const char *k) { return cJSON_GetStringValue(cJSON_GetObjectItem(t, k)); }


static mmrt_generate_params greedy(test_reply *out) {
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 16;
    gp.temperature = 0;
    gp.seed = 1;
    gp.on_token = test_reply_collect;
    gp.user = out;
    memset(out, 0, sizeof *out);
    return gp;
}

/* want's first n ids (n < 0: all of them) against got. */
static void assert_ids(const char *what, const cJSON *want, int n, const int32_t *got, int n_got) {
    if (n < 0) n = cJSON_GetArraySize(want);
    for (int i = 0; i < n && i < n_got; i++) {
        int w = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(want, i));
        cr_assert_eq(got[i], w, "%s: first mismatch at %d: expected %d, got %d", what, i, w, got[i]);
    }
    cr_assert_eq(n_got, n, "%s: %d ids, expected %d", what, n_got, n);
}

/* One turn's outcome against the fixture. cached: the n_cached_tokens expected (-1: the fixture's). */
static void check_turn(const chat_case *c, mmrt_session *s, int t, const char *how, const test_reply *rep,
                       const mmrt_generate_result *r, int cached) {
    const cJSON *tj = turn(c, t);
    char what[128];
    snprintf(what, sizeof what, "%s turn %d (%s)", cJSON_GetStringValue(cJSON_GetObjectItem(c->json, "case")), t + 1,
             how);
    cr_assert_eq(r->n_prompt_tokens, turn_int(tj, "n_prompt"), "%s: prompt tokens", what);
    /* after the run the cache holds the prompt first */
    cr_assert_geq(s->cache.n, r->n_prompt_tokens, "%s", what);
    assert_ids(what, cJSON_GetObjectItem(tj, "prompt_ids"), -1, s->cache.ids, r->n_prompt_tokens);
    /* the fixture's reply ends with the EOS token where it stopped there; on_token never sees it */
    bool eos = cJSON_IsTrue(cJSON_GetObjectItem(tj, "stopped_at_eos"));
    const cJSON *reply_ids = cJSON_GetObjectItem(tj, "reply_ids");
    assert_ids(what, reply_ids, cJSON_GetArraySize(reply_ids) - (eos ? 1 : 0), rep->ids, rep->n);
    cr_assert_str_eq(mmrt_session_last_reply(s), turn_str(tj, "reply_text"), "%s: reply text", what);
    cr_assert_eq(r->stop_reason, eos ? MMRT_STOP_EOS : MMRT_STOP_MAX_TOKENS, "%s: stop reason", what);
    int want_cached = cached >= 0 ? cached : turn_int(tj, "reusable_kv");
    cr_assert_eq(r->n_cached_tokens, want_cached, "%s: %d tokens from the cache, expected %d", what,
                 r->n_cached_tokens, want_cached);
    /* the last sampled token is never fed */
    cr_assert_eq(s->cache.n, r->n_prompt_tokens + r->n_generated - (eos ? 0 : 1), "%s: cache rows", what);
    test_assert_no_fallback(s->be, what);
}

/* The fixture's messages of turn t as mmrt_messages (content strings or typed parts). */
typedef struct msgs {
    mmrt_message m[2 * MAX_TURNS + 1];
    mmrt_part parts[MAX_PARTS];
    size_t n;
} msgs;

static void fixture_messages(const chat_case *c, int t, msgs *out) {
    memset(out, 0, sizeof *out);
    size_t np = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(turn(c, t), "messages")) {
        const cJSON *content = cJSON_GetObjectItem(m, "content");
        mmrt_part *first = &out->parts[np];
        if (cJSON_IsString(content)) {
            out->parts[np++] = mmrt_text_part(content->valuestring);
        } else {
            const cJSON *p;
            cJSON_ArrayForEach(p, content) {
                bool image = strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(p, "type")), "image") == 0;
                out->parts[np++] = image ? mmrt_image_file_part(c->image)
                                         : mmrt_text_part(cJSON_GetStringValue(cJSON_GetObjectItem(p, "text")));
            }
        }
        out->m[out->n++] = (mmrt_message){cJSON_GetStringValue(cJSON_GetObjectItem(m, "role")), first,
                                          (size_t)(&out->parts[np] - first)};
    }
}

/* The user turn t as mmrt_session_chat takes it (the image before the text in turn 1). */
static size_t user_parts(const chat_case *c, int t, mmrt_part *parts) {
    size_t n = 0;
    if (t == 0 && c->image[0]) parts[n++] = mmrt_image_file_part(c->image);
    parts[n++] = mmrt_text_part(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(c->json, "user_texts"), t)));
    return n;
}

static const char *const case_names[] = {"text", "text-system", "vision"};

ParameterizedTestParameters(chat_session, turns_match_transformers) {
    static int idx[] = {0, 1, 2};
    return cr_make_param_array(int, idx, 3);
}

/* The same conversation three ways: the session's own chat, generate_messages on one session (both
 * keep the cache's prefix), and generate_messages on a fresh session per turn (nothing cached). */
ParameterizedTest(int *k, chat_session, turns_match_transformers) {
    chat_case c;
    case_open(&c, case_names[*k]);
    const char *system = cJSON_GetStringValue(cJSON_GetObjectItem(c.json, "system"));
    mmrt_session *chat = new_session(&c, 0), *msg = new_session(&c, 0);
    for (int t = 0; t < n_turns(&c); t++) {
        test_reply rep;
        mmrt_generate_params gp = greedy(&rep);
        gp.system = system;
        mmrt_part parts[4];
        size_t np = user_parts(&c, t, parts);
        mmrt_generate_result r = {.size = sizeof r};
        cr_assert_eq(mmrt_session_chat(chat, parts, np, &gp, &r), MMRT_OK, "%s", mmrt_session_last_error(chat));
        check_turn(&c, chat, t, "chat", &rep, &r, -1);

        msgs m;
        fixture_messages(&c, t, &m);
        gp = greedy(&rep);
        r = (mmrt_generate_result){.size = sizeof r};
        cr_assert_eq(mmrt_session_generate_messages(msg, m.m, m.n, &gp, &r), MMRT_OK, "%s",
                     mmrt_session_last_error(msg));
        check_turn(&c, msg, t, "messages", &rep, &r, -1);

        mmrt_session *fresh = new_session(&c, 0);
        gp = greedy(&rep);
        r = (mmrt_generate_result){.size = sizeof r};
        cr_assert_eq(mmrt_session_generate_messages(fresh, m.m, m.n, &gp, &r), MMRT_OK, "%s",
                     mmrt_session_last_error(fresh));
        check_turn(&c, fresh, t, "fresh session", &rep, &r, 0);
        mmrt_session_free(fresh);
    }
    /* the session's conversation: system (if given), then user and assistant turns */
    cr_assert_eq(chat->conv.n, (size_t)(2 * n_turns(&c) + (system ? 1 : 0)));
    mmrt_session_reset(chat);
    cr_assert_eq(chat->conv.n, 0);
    cr_assert_str_eq(mmrt_session_last_reply(chat), "");
    /* after a reset the first turn is computed whole again */
    test_reply rep;
    mmrt_generate_params gp = greedy(&rep);
    gp.system = system;
    mmrt_part parts[4];
    size_t np = user_parts(&c, 0, parts);
    mmrt_generate_result r = {.size = sizeof r};
    cr_assert_eq(mmrt_session_chat(chat, parts, np, &gp, &r), MMRT_OK, "%s", mmrt_session_last_error(chat));
    check_turn(&c, chat, 0, "after reset", &rep, &r, 0);
    mmrt_session_free(chat);
    mmrt_session_free(msg);
    case_close(&c);
}

Test(chat_session, system_param_is_refused_with_messages) {
    chat_case c;
    case_open(&c, "text");
    mmrt_session *s = new_session(&c, 0);
    msgs m;
    fixture_messages(&c, 0, &m);
    test_reply rep;
    mmrt_generate_params gp = greedy(&rep);
    gp.system = "be brief";
    mmrt_generate_result r = {.size = sizeof r};
    cr_assert_eq(mmrt_session_generate_messages(s, m.m, m.n, &gp, &r), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_session_last_error(s), "system"), "%s", mmrt_session_last_error(s));
    mmrt_session_free(s);
    case_close(&c);
}

/* Same image again: everything but the last token comes from the cache, the image is not encoded
 * again and the reply is the same. A different image at the same place: the cache stops before
 * its tokens and the reply is a fresh session's. */
Test(chat_session, media_identity_decides_what_is_kept) {
    chat_case c;
    case_open(&c, "vision");
    const char *images[] = {c.image, MMRT_FIXTURES_DIR "/images/coffee.png", c.image};
    mmrt_session *s = new_session(&c, 0);
    test_reply first;
    for (int i = 0; i < 4; i++) {
        mmrt_part img = mmrt_image_file_part(images[i < 3 ? i : 0]);
        test_reply rep, want;
        mmrt_generate_params gp = greedy(&rep);
        mmrt_generate_result r = {.size = sizeof r};
        cr_assert_eq(mmrt_session_caption(s, &img, &gp, &r), MMRT_OK, "%s", mmrt_session_last_error(s));
        test_assert_no_fallback(s->be, "caption");
        mmrt_session *fresh = new_session(&c, 0);
        gp = greedy(&want);
        mmrt_generate_result fr = {.size = sizeof fr};
        cr_assert_eq(mmrt_session_caption(fresh, &img, &gp, &fr), MMRT_OK, "%s", mmrt_session_last_error(fresh));
        cr_assert_eq(fr.n_cached_tokens, 0);
        cr_assert_eq(rep.n, want.n, "caption %d: %d tokens, a fresh session %d", i, rep.n, want.n);
        cr_assert_arr_eq(rep.ids, want.ids, sizeof(int32_t) * (size_t)rep.n, "caption %d differs from a fresh session's", i);
        /* the first image token's position: nothing from there on may come from another image */
        int64_t image_at = 0;
        while (s->cache.ids[image_at] != s->model->encoders[0]->token) image_at++;
        if (i == 0) {
            cr_assert_eq(r.n_cached_tokens, 0);
            first = rep;
        } else if (i == 3) { /* same image as the one before: all but the last prompt token kept */
            cr_assert_eq(r.n_cached_tokens, r.n_prompt_tokens - 1, "%d of %d", r.n_cached_tokens, r.n_prompt_tokens);
            cr_assert_eq(r.image_encode_ms, 0.0, "the cached image was encoded again");
            cr_assert_arr_eq(rep.ids, first.ids, sizeof(int32_t) * (size_t)first.n);
        } else { /* another image than the one before */
            cr_assert_leq(r.n_cached_tokens, image_at, "caption %d: %d cached tokens reach into the image at %lld", i,
                          r.n_cached_tokens, (long long)image_at);
            cr_assert_gt(r.n_cached_tokens, 0, "caption %d: the text before the image was not kept", i);
        }
        mmrt_session_free(fresh);
    }
    mmrt_session_free(s);
    case_close(&c);
}

/* The text case's turn 3 (177 tokens) does not fit a context of 150: an error naming both numbers;
 * with drop_old_turns the first turn goes and the reply is a fresh session's on what is left. */
Test(chat_session, context_overflow) {
    chat_case c;
    case_open(&c, "text");
    int want_prompt = turn_int(turn(&c, 2), "n_prompt");
    for (int drop = 0; drop < 2; drop++) {
        mmrt_session *s = new_session(&c, 150);
        mmrt_status st = MMRT_OK;
        mmrt_generate_result r;
        test_reply rep;
        for (int t = 0; t < 3; t++) {
            mmrt_generate_params gp = greedy(&rep);
            gp.drop_old_turns = drop;
            mmrt_part parts[4];
            size_t np = user_parts(&c, t, parts);
            r = (mmrt_generate_result){.size = sizeof r};
            st = mmrt_session_chat(s, parts, np, &gp, &r);
            if (t < 2) cr_assert_eq(st, MMRT_OK, "turn %d: %s", t + 1, mmrt_session_last_error(s));
        }
        if (!drop) {
            cr_assert_eq(st, MMRT_ERR_CONTEXT_FULL);
            char n[32];
            snprintf(n, sizeof n, "%d", want_prompt);
            cr_assert(strstr(mmrt_session_last_error(s), n) && strstr(mmrt_session_last_error(s), "150"), "%s",
                      mmrt_session_last_error(s));
            cr_assert_eq(s->conv.n, 4, "the failed turn stays out of the conversation");
        } else {
            cr_assert_eq(st, MMRT_OK, "%s", mmrt_session_last_error(s));
            cr_assert_eq(r.n_dropped_turns, 1);
            cr_assert_eq(s->conv.n, 4, "turn 1 is gone: user 2, reply 2, user 3, reply 3");
            /* a fresh session on what is left of the conversation (without the last reply) */
            mmrt_message left[3];
            memcpy(left, s->conv.msgs, sizeof left);
            mmrt_session *fresh = new_session(&c, 150);
            test_reply want;
            mmrt_generate_params gp = greedy(&want);
            mmrt_generate_result fr = {.size = sizeof fr};
            cr_assert_eq(mmrt_session_generate_messages(fresh, left, 3, &gp, &fr), MMRT_OK, "%s",
                         mmrt_session_last_error(fresh));
            cr_assert_eq(fr.n_prompt_tokens, r.n_prompt_tokens);
            cr_assert_eq(rep.n, want.n);
            cr_assert_arr_eq(rep.ids, want.ids, sizeof(int32_t) * (size_t)rep.n);
            mmrt_session_free(fresh);
        }
        mmrt_session_free(s);
    }
    case_close(&c);
}

/* mmrt_session_chat keeps copies of the turn: the caller's text and image bytes may be overwritten
 * and freed after each call, and the later turns (which render the first one again, image
 * included) still give transformers' replies with the fixture's cache reuse. */
Test(chat_session, chat_copies_the_turn) {
    chat_case c;
    case_open(&c, "vision");
    size_t n_bytes = 0;
    char *png = tmpdir_read(c.image, &n_bytes);
    cr_assert_not_null(png);
    mmrt_session *s = new_session(&c, 0);
    for (int t = 0; t < n_turns(&c); t++) {
        char *text = strdup(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(c.json, "user_texts"), t)));
        char *bytes = NULL;
        mmrt_part parts[2];
        size_t np = 0;
        if (t == 0) {
            bytes = malloc(n_bytes);
            memcpy(bytes, png, n_bytes);
            parts[np++] = mmrt_image_bytes_part(bytes, n_bytes, "astronaut");
        }
        parts[np++] = mmrt_text_part(text);
        test_reply rep;
        mmrt_generate_params gp = greedy(&rep);
        mmrt_generate_result r = {.size = sizeof r};
        cr_assert_eq(mmrt_session_chat(s, parts, np, &gp, &r), MMRT_OK, "%s", mmrt_session_last_error(s));
        check_turn(&c, s, t, "copies", &rep, &r, -1);
        memset(text, 'x', strlen(text));
        free(text);
        if (bytes) memset(bytes, 0, n_bytes);
        free(bytes);
    }
    mmrt_session_free(s);
    free(png);
    case_close(&c);
}
