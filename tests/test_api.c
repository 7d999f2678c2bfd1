/* The public API's growth rules (include/mmrt.h, "Compatibility"), its modality-neutral parts and
 * the model's tokenizer calls. */
#include "core/safetensors.h"
#include "helpers/tmpdir.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <mmrt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE MMRT_FIXTURES_DIR "/llama/llama3-rope-f16"

static mmrt_model *load(void) {
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(FIXTURE, NULL, &m), MMRT_OK, "%s", mmrt_last_error());
    return m;
}

/* init fills only the bytes the caller says it has, and records that size. */
Test(api, params_init_writes_only_the_callers_size) {
    unsigned char buf[sizeof(mmrt_generate_params) + 16];
    memset(buf, 0xab, sizeof buf);
    size_t old = offsetof(mmrt_generate_params, special); /* a caller from before `special` */
    mmrt_generate_params_init((mmrt_generate_params *)buf, old);
    mmrt_generate_params gp;
    memcpy(&gp, buf, sizeof gp);
    cr_assert_eq(gp.size, old);
    cr_assert_eq(gp.max_tokens, 256);
    cr_assert_eq(gp.seed, MMRT_SEED_RANDOM);
    for (size_t i = old; i < sizeof buf; i++) cr_assert_eq(buf[i], 0xab, "byte %zu past the caller's size written", i);

    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    cr_assert_eq(mp.size, sizeof mp);
    cr_assert_eq(mp.device, MMRT_DEVICE_AUTO);
    cr_assert_eq(mp.math, MMRT_MATH_AUTO);
    cr_assert(mp.progress);
    mmrt_session_params sp;
    mmrt_session_params_init(&sp, sizeof sp);
    cr_assert_eq(sp.size, sizeof sp);
    cr_assert_eq(sp.n_ctx, 0);
}

/* A result from an older caller is filled up to its size and not a byte further. */
Test(api, results_are_written_within_the_callers_size) {
    mmrt_model *m = load();
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, NULL, &s), MMRT_OK, "%s", mmrt_last_error());
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 3;
    unsigned char buf[sizeof(mmrt_generate_result) + 16];
    memset(buf, 0xcd, sizeof buf);
    size_t old = offsetof(mmrt_generate_result, n_images);
    memcpy(buf, &old, sizeof old);
    cr_assert_eq(mmrt_session_generate(s, "hello", &gp, (mmrt_generate_result *)buf), MMRT_OK, "%s",
                 mmrt_session_last_error(s));
    mmrt_generate_result r = {.size = sizeof r};
    memcpy(&r, buf, old);
    cr_assert_eq(r.size, old);
    cr_assert_eq(r.n_generated, 3);
    cr_assert_eq(r.stop_reason, MMRT_STOP_MAX_TOKENS);
    cr_assert_gt(r.n_prompt_tokens, 0);
    for (size_t i = old; i < sizeof buf; i++) cr_assert_eq(buf[i], 0xcd, "byte %zu past the caller's size written", i);

    /* sizes that cannot be a caller's struct */
    mmrt_generate_result bad = {.size = 0};
    cr_assert_eq(mmrt_session_generate(s, "hello", &gp, &bad), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_session_last_error(s), "mmrt_generate_result: size is 0"), "%s", mmrt_session_last_error(s));
    gp.size = 1u << 20;
    cr_assert_eq(mmrt_session_generate(s, "hello", &gp, NULL), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_session_last_error(s), "mmrt_generate_params"), "%s", mmrt_session_last_error(s));
    mmrt_model_info info = {.size = 3};
    cr_assert_eq(mmrt_model_get_info(m, &info), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_last_error(), "mmrt_model_info"), "%s", mmrt_last_error());
    mmrt_session_free(s);
    mmrt_model_free(m);
}

Test(api, unknown_device_or_math_is_refused) {
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = (mmrt_device)7;
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(FIXTURE, &mp, &m), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_last_error(), "unknown device 7"), "%s", mmrt_last_error());
    mmrt_model_params_init(&mp, sizeof mp);
    mp.math = (mmrt_math)9;
    cr_assert_eq(mmrt_model_load(FIXTURE, &mp, &m), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_last_error(), "unknown math 9"), "%s", mmrt_last_error());
    cr_assert_null(m);
}

/* Audio parts are part of the API now; a model without an audio encoder says so, naming the
 * part, before reading anything. */
Test(api, audio_parts_are_refused_by_a_model_without_audio) {
    mmrt_model *m = load();
    mmrt_model_info info = {.size = sizeof info};
    cr_assert_eq(mmrt_model_get_info(m, &info), MMRT_OK);
    cr_assert(!info.audio && !info.vision);
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, NULL, &s), MMRT_OK, "%s", mmrt_last_error());
    static const float samples[160] = {0};
    static const unsigned char wav[4] = {'R', 'I', 'F', 'F'};
    mmrt_part audio[3] = {mmrt_audio_file_part("/nonexistent/talk.wav"), mmrt_audio_bytes_part(wav, 4, "talk.wav"),
                          mmrt_audio_samples_part(samples, 160, 1, 16000)};
    cr_assert_eq(audio[2].type, MMRT_PART_AUDIO_SAMPLES);
    cr_assert_eq(audio[2].size, 160);
    cr_assert_eq(audio[2].sample_rate, 16000);
    for (int i = 0; i < 3; i++) {
        mmrt_part parts[2] = {mmrt_text_part("What did she say? "), audio[i]};
        mmrt_generate_result r = {.size = sizeof r};
        cr_assert_eq(mmrt_session_generate_parts(s, parts, 2, NULL, &r), MMRT_ERR_UNSUPPORTED, "part %d", i);
        cr_assert(strstr(mmrt_session_last_error(s), "takes no audio (part 1)"), "%s", mmrt_session_last_error(s));
        cr_assert_eq(r.n_generated, 0);
    }
    mmrt_session_free(s);
    mmrt_model_free(m);
}

/* Tokenizing and detokenizing on the model: transformers' ids for the fixture's chat prompt, and
 * its decode of the 64 greedy tokens with and without skip_special_tokens (the 57th is
 * <|im_start|>). */
Test(api, model_tokenizes_and_detokenizes_as_transformers) {
    mmrt_model *m = load();
    cJSON *ref = tmpdir_read_json(FIXTURE "/reference.json");
    const cJSON *chat = cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "prompts"), "chat");
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(chat, "text"));
    const cJSON *gen = cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "generation"), "chat");
    const char *want[2] = {cJSON_GetStringValue(cJSON_GetObjectItem(gen, "text_all_64")),
                           cJSON_GetStringValue(cJSON_GetObjectItem(gen, "text_all_64_special"))};
    cr_assert(text && want[0] && want[1]);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(chat, "add_special_tokens")));
    mmrt_weights *w = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weights_open(FIXTURE "/reference.safetensors", &w, &err), MMRT_OK, "%s", err.msg);
    const mmrt_st_tensor *input = mmrt_weights_find(w, "chat.input_ids"), *greedy = mmrt_weights_find(w, "chat.greedy_ids");
    cr_assert(input && greedy && input->dtype == MMRT_I32 && greedy->dtype == MMRT_I32);

    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(mmrt_model_tokenize(m, text, strlen(text), true, &ids, &n), MMRT_OK, "%s", mmrt_last_error());
    cr_assert_eq(n * sizeof(int32_t), input->n_bytes);
    cr_assert_arr_eq(ids, input->data, input->n_bytes);
    mmrt_free(ids);
    /* without parse_special, "<|im_start|>" is text */
    cr_assert_eq(mmrt_model_tokenize(m, "<|im_start|>", 12, false, &ids, &n), MMRT_OK);
    cr_assert_gt(n, 1);
    mmrt_free(ids);

    for (int special = 0; special < 2; special++) {
        char *got = NULL;
        cr_assert_eq(mmrt_model_detokenize(m, greedy->data, (size_t)greedy->shape[0], special, &got), MMRT_OK, "%s",
                     mmrt_last_error());
        cr_assert_str_eq(got, want[special], "special %d", special);
        mmrt_free(got);
    }
    int32_t out_of_range = 1 << 30;
    char *got = NULL;
    cr_assert_eq(mmrt_model_detokenize(m, &out_of_range, 1, false, &got), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_last_error(), "outside the vocabulary"), "%s", mmrt_last_error());
    cr_assert_null(got);
    mmrt_weights_free(w);
    cJSON_Delete(ref);
    mmrt_model_free(m);
}

/* Sessions of one model, each with its own CPU thread count, run at the same time: the count is the
 * session's (no process-wide setting), and the greedy text does not depend on it. */
struct threaded_run {
    mmrt_session *s;
    int32_t ids[16];
    int n;
};

static int collect_id(const char *piece, size_t len, int32_t token, void *user) {
    struct threaded_run *r = user;
    if (r->n < 16) r->ids[r->n++] = token;
    return 0;
}

static void *run_session(void *arg) {
    struct threaded_run *r = arg;
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 16;
    gp.on_token = collect_id;
    gp.user = r;
    return mmrt_session_generate(r->s, "The thread count of a session", &gp, NULL) == MMRT_OK ? r : NULL;
}

Test(api, sessions_have_their_own_thread_counts) {
    mmrt_model *m = load();
    mmrt_session_params sp;
    mmrt_session_params_init(&sp, sizeof sp);
    cr_assert_eq(sp.n_threads, 0);
    sp.n_threads = -1;
    mmrt_session *bad = NULL;
    cr_assert_eq(mmrt_session_init(m, &sp, &bad), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_last_error(), "n_threads"), "%s", mmrt_last_error());
    struct threaded_run runs[2] = {{0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        sp.n_threads = i == 0 ? 1 : 3;
        cr_assert_eq(mmrt_session_init(m, &sp, &runs[i].s), MMRT_OK, "%s", mmrt_last_error());
    }
    for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&th[i], NULL, run_session, &runs[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *ok = NULL;
        pthread_join(th[i], &ok);
        cr_assert_not_null(ok, "session %d failed: %s", i, mmrt_session_last_error(runs[i].s));
        mmrt_session_free(runs[i].s);
    }
    cr_assert_eq(runs[0].n, runs[1].n);
    for (int j = 0; j < runs[0].n; j++)
        cr_assert_eq(runs[0].ids[j], runs[1].ids[j], "token %d: %d on 1 thread, %d on 3", j, runs[0].ids[j], runs[1].ids[j]);
    mmrt_model_free(m);
}
