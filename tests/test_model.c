/* The public API on real fixture checkpoints and on broken copies of them: every bad file gives
 * a status and a message naming the file and the problem. */
#include "fusion/model.h"
#include "helpers/reply.h"
#include "helpers/tmpdir.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE MMRT_FIXTURES_DIR "/llama/gqa-tied-bf16"

/* A copy of the fixture checkpoint in a temp dir; `skip` is a file not to copy. */
static char *copy_fixture(const char *skip) {
    static const char *const files[] = {"config.json", "generation_config.json", "model.safetensors",
                                        "tokenizer.json", "tokenizer_config.json"};
    char *dir = tmpdir_make("model");
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        if (skip && strcmp(skip, files[i]) == 0) continue;
        char src[512];
        snprintf(src, sizeof src, "%s/%s", FIXTURE, files[i]);
        free(tmpdir_copy(dir, files[i], src));
    }
    return dir;
}

/* Replaces the first occurrence of `from` with `to` in dir/file. */
static void edit(const char *dir, const char *file, const char *from, const char *to) {
    char *path = tmpdir_path(dir, file);
    size_t n;
    char *text = tmpdir_read(path, &n);
    char *hit = strstr(text, from);
    cr_assert_not_null(hit, "%s does not contain %s", file, from);
    size_t out_n = n - strlen(from) + strlen(to);
    char *out = malloc(out_n + 1);
    size_t pre = (size_t)(hit - text);
    memcpy(out, text, pre);
    memcpy(out + pre, to, strlen(to));
    memcpy(out + pre + strlen(to), hit + strlen(from), n - pre - strlen(from));
    free(tmpdir_write(dir, file, out, out_n));
    free(out);
    free(text);
    free(path);
}

static void expect_load_error(const char *dir, mmrt_status want, const char *file_part,
                              const char *problem) {
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = MMRT_DEVICE_CPU;
    mmrt_model *m = (mmrt_model *)0x1;
    mmrt_status st = mmrt_model_load(dir, &mp, &m);
    const char *msg = mmrt_last_error();
    cr_assert_eq(st, want, "status %d (%s), want %d; message: %s", st, mmrt_status_str(st), want, msg);
    cr_assert_null(m, "the model handle must be NULL on failure");
    cr_assert(strstr(msg, file_part), "message does not name %s: %s", file_part, msg);
    cr_assert(strstr(msg, problem), "message does not say \"%s\": %s", problem, msg);
}

Test(model, loads_fixture_and_reports_info) {
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(FIXTURE, NULL, &m), MMRT_OK, "%s", mmrt_last_error());
    mmrt_model_info mi = {.size = sizeof mi};
    cr_assert_eq(mmrt_model_get_info(m, &mi), MMRT_OK);
    cr_assert_str_eq(mi.architecture, "llama");
    cr_assert_str_eq(mi.dtype, "BF16");
    cr_assert_str_eq(mi.chat_format, "jinja");
    cr_assert_eq(mi.n_layer, 3);
    cr_assert_eq(mi.n_head, 6);
    cr_assert_eq(mi.n_head_kv, 2);
    cr_assert(mi.tied_embeddings);
    cr_assert_eq(mi.n_tensors, 29); /* 9 per layer + embeddings + final norm */
    mmrt_model_free(m);
    mmrt_model_free(NULL);
    mmrt_session_free(NULL);
}

Test(model, missing_directory_and_files) {
    expect_load_error("/nonexistent/model", MMRT_ERR_IO, "/nonexistent/model", "not a model directory");
    char *dir = copy_fixture("config.json");
    expect_load_error(dir, MMRT_ERR_IO, "config.json", "No such file");
    tmpdir_remove(dir);
    dir = copy_fixture("tokenizer.json");
    expect_load_error(dir, MMRT_ERR_IO, "tokenizer.json", "");
    tmpdir_remove(dir);
    dir = copy_fixture("model.safetensors");
    expect_load_error(dir, MMRT_ERR_IO, dir, "model.safetensors");
    tmpdir_remove(dir);
}

Test(model, zero_length_and_malformed_config) {
    char *dir = copy_fixture(NULL);
    free(tmpdir_write(dir, "config.json", "", 0));
    expect_load_error(dir, MMRT_ERR_BAD_FORMAT, "config.json", "empty");
    free(tmpdir_write_str(dir, "config.json", "{\"model_type\": \"llama\", "));
    expect_load_error(dir, MMRT_ERR_BAD_FORMAT, "config.json", "JSON");
    tmpdir_remove(dir);
}

/* One edit of a file of the fixture, and the error it must give. */
typedef struct bad_edit {
    const char *file, *from, *to;
    mmrt_status status;
    const char *names, *problem; /* both must appear in the message */
    const char *from2, *to2;     /* an optional second edit of the same file */
} bad_edit;

static const bad_edit bad_edits[] = {
    {"config.json", "\"hidden_size\"", "\"hidden_sighs\"", MMRT_ERR_BAD_FORMAT, "config.json", "hidden_size", NULL, NULL},
    {"config.json", "\"hidden_size\": 96", "\"hidden_size\": 1000000000000", MMRT_ERR_BAD_FORMAT,
     "config.json", "hidden_size", NULL, NULL},
    {"config.json", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4", MMRT_ERR_BAD_FORMAT,
     "config.json", "num_key_value_heads", NULL, NULL},
    /* found by the config fuzzer: positive as doubles, 0 as floats */
    {"config.json", "\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 1e-85", MMRT_ERR_BAD_FORMAT,
     "config.json", "rms_norm_eps", NULL, NULL},
    {"config.json", "\"model_type\"", "\"logits_scaling\": 1e-50, \"model_type\"", MMRT_ERR_BAD_FORMAT,
     "config.json", "logits_scaling", NULL, NULL},
    {"config.json", "\"model_type\": \"llama\"", "\"model_type\": \"mamba\"", MMRT_ERR_UNSUPPORTED,
     "config.json", "mamba", NULL, NULL},
    /* the config promises a fourth layer the weights do not have */
    {"config.json", "\"num_hidden_layers\": 3", "\"num_hidden_layers\": 4", MMRT_ERR_MODEL,
     "model.layers.3.", "not found", NULL, NULL},
    {"config.json", "\"intermediate_size\": 192", "\"intermediate_size\": 190", MMRT_ERR_MODEL,
     "mlp.gate_proj.weight", "190", NULL, NULL},
    /* no head_dim and more heads than hidden units: hidden_size / num_attention_heads is 0 */
    {"config.json", "\"head_dim\": 16,", "", MMRT_ERR_BAD_FORMAT, "config.json", "head_dim",
     "\"hidden_size\": 96", "\"hidden_size\": 4"},
};

/* Criterion re-executes the test binary per test, so parameters are indices, not pointers. */
ParameterizedTestParameters(model, bad_checkpoint_files) {
    static int idx[sizeof bad_edits / sizeof *bad_edits];
    for (size_t i = 0; i < sizeof idx / sizeof *idx; i++) idx[i] = (int)i;
    return cr_make_param_array(int, idx, sizeof idx / sizeof *idx);
}

ParameterizedTest(int *i, model, bad_checkpoint_files) {
    const bad_edit *e = &bad_edits[*i];
    char *dir = copy_fixture(NULL);
    edit(dir, e->file, e->from, e->to);
    if (e->from2) edit(dir, e->file, e->from2, e->to2);
    expect_load_error(dir, e->status, e->names, e->problem);
    tmpdir_remove(dir);
}

Test(model, malformed_tokenizer) {
    char *dir = copy_fixture(NULL);
    free(tmpdir_write_str(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": "));
    expect_load_error(dir, MMRT_ERR_BAD_FORMAT, "tokenizer.json", "JSON");
    free(tmpdir_write_str(dir, "tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}"));
    expect_load_error(dir, MMRT_ERR_UNSUPPORTED, "tokenizer.json", "Unigram");
    tmpdir_remove(dir);
}

/* ---- sessions -------------------------------------------------------------------------------- */

/* Overwrites the first element of a bf16 tensor of dir/model.safetensors with a NaN. */
static void poison_bf16(const char *dir, const char *tensor) {
    char *path = tmpdir_path(dir, "model.safetensors");
    size_t n;
    unsigned char *bytes = (unsigned char *)tmpdir_read(path, &n);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | bytes[i];
    char *header = strndup((char *)bytes + 8, (size_t)header_len);
    cJSON *h = cJSON_Parse(header);
    const cJSON *offsets = cJSON_GetObjectItem(cJSON_GetObjectItem(h, tensor), "data_offsets");
    cr_assert(cJSON_IsArray(offsets), "%s not in %s", tensor, path);
    size_t at = 8 + (size_t)header_len + (size_t)cJSON_GetArrayItem(offsets, 0)->valuedouble;
    bytes[at] = 0xc0; /* bf16 0x7fc0, little-endian: a quiet NaN */
    bytes[at + 1] = 0x7f;
    free(tmpdir_write(dir, "model.safetensors", bytes, n));
    cJSON_Delete(h);
    free(header);
    free(bytes);
    free(path);
}

Test(session, nan_weights_are_an_error_not_garbage) {
    char *dir = copy_fixture(NULL);
    poison_bf16(dir, "model.norm.weight");
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, NULL, &m), MMRT_OK, "%s", mmrt_last_error());
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, NULL, &s), MMRT_OK, "%s", mmrt_last_error());
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    cr_assert_eq(mmrt_session_generate(s, "Tell me a story.", &gp, NULL), MMRT_ERR_MODEL);
    cr_assert(strstr(mmrt_session_last_error(s), "NaN logits") && strstr(mmrt_session_last_error(s), dir),
              "message: %s", mmrt_session_last_error(s));
    mmrt_session_free(s);
    mmrt_model_free(m);
    tmpdir_remove(dir);
}

static void generate(mmrt_session *s, const char *prompt, mmrt_generate_params gp, test_reply *c,
                     mmrt_generate_result *r) {
    memset(c, 0, sizeof *c);
    gp.on_token = test_reply_collect;
    gp.user = c;
    cr_assert_eq(mmrt_session_generate(s, prompt, &gp, r), MMRT_OK, "%s", mmrt_session_last_error(s));
}

Test(session, seeded_sampling_is_reproducible_and_stop_strings_cut) {
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(FIXTURE, NULL, &m), MMRT_OK, "%s", mmrt_last_error());
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, NULL, &s), MMRT_OK, "%s", mmrt_last_error());
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 24;
    gp.temperature = 1.0f;
    gp.top_k = 50;
    gp.top_p = 0.95f;
    gp.min_p = 0.01f;
    gp.repeat_penalty = 1.1f;
    gp.seed = 42;
    test_reply a, b, c, greedy_a, greedy_b, cut;
    mmrt_generate_result r = {.size = sizeof r};
    generate(s, "Tell me a story.", gp, &a, &r);
    cr_assert_eq(r.n_generated, 24);
    cr_assert_eq(r.stop_reason, MMRT_STOP_MAX_TOKENS);
    generate(s, "Tell me a story.", gp, &b, &r);
    cr_assert_str_eq(a.text, b.text, "same seed, different text");
    gp.seed = 43;
    generate(s, "Tell me a story.", gp, &c, &r);
    cr_assert_str_neq(a.text, c.text, "different seeds gave the same 24 sampled tokens");

    /* top-k 1 is greedy whatever the temperature */
    gp.top_k = 1;
    generate(s, "Tell me a story.", gp, &greedy_a, &r);
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 24;
    generate(s, "Tell me a story.", gp, &greedy_b, &r);
    cr_assert_str_eq(greedy_a.text, greedy_b.text);

    /* a stop string from the middle of the greedy text: output is everything before it */
    cr_assert_gt(greedy_b.n_text, 12);
    char stop[5];
    memcpy(stop, greedy_b.text + 8, 4);
    stop[4] = '\0';
    const char *stops[] = {stop};
    gp.stop_strings = stops;
    gp.n_stop = 1;
    generate(s, "Tell me a story.", gp, &cut, &r);
    cr_assert_eq(r.stop_reason, MMRT_STOP_STRING);
    size_t first = (size_t)(strstr(greedy_b.text, stop) - greedy_b.text);
    cr_assert_eq(cut.n_text, first, "stop string \"%s\": got %zu bytes, want %zu", stop, cut.n_text, first);
    cr_assert_eq(memcmp(cut.text, greedy_b.text, first), 0);

    mmrt_session_free(s);
    mmrt_model_free(m);
}

/* on_token's text leaves special tokens out unless gp.special is set: transformers'
 * decode(skip_special_tokens=True / False) of the 64 greedy tokens, the 57th of which is
 * <|im_start|> (special, not EOS). */
Test(session, special_tokens_reach_on_token_only_when_asked) {
    const char *dir = MMRT_FIXTURES_DIR "/llama/llama3-rope-f16";
    cJSON *ref = tmpdir_read_json(MMRT_FIXTURES_DIR "/llama/llama3-rope-f16/reference.json");
    const cJSON *chat = cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "generation"), "chat");
    const char *prompt = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "prompts"), "raw"), "text"));
    const char *want[2] = {cJSON_GetStringValue(cJSON_GetObjectItem(chat, "text_all_64")),
                           cJSON_GetStringValue(cJSON_GetObjectItem(chat, "text_all_64_special"))};
    cr_assert(prompt && want[0] && want[1], "reference.json: prompts.raw.text, generation.chat.text_all_64*");
    cr_assert_str_neq(want[0], want[1], "the fixture no longer generates a special token");
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, NULL, &m), MMRT_OK, "%s", mmrt_last_error());
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, NULL, &s), MMRT_OK, "%s", mmrt_last_error());
    for (int special = 0; special < 2; special++) {
        mmrt_generate_params gp;
        mmrt_generate_params_init(&gp, sizeof gp);
        cr_assert_eq(gp.special, false, "special tokens are hidden by default");
        gp.max_tokens = 64;
        gp.temperature = 0.0f;
        gp.special = special;
        test_reply got;
        mmrt_generate_result r = {.size = sizeof r};
        generate(s, prompt, gp, &got, &r);
        cr_assert_eq(r.n_generated, 64);
        cr_assert_geq(got.calls, 64, "on_token is called for every token, special or not");
        cr_assert_str_eq(got.text, want[special], "special %d", special);
    }
    mmrt_session_free(s);
    mmrt_model_free(m);
    cJSON_Delete(ref);
}

Test(session, unsupported_chat_template_loads_but_needs_raw) {
    char *dir = copy_fixture(NULL);
    edit(dir, "tokenizer_config.json", "\"chat_template\": \"",
         "\"chat_template\": \"{% include 'header.jinja' %}{{ messages[0].content }}\", \"unused\": \"");
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, NULL, &m), MMRT_OK, "%s", mmrt_last_error());
    mmrt_model_info mi = {.size = sizeof mi};
    mmrt_model_get_info(m, &mi);
    cr_assert_str_eq(mi.chat_format, "unsupported");
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, NULL, &s), MMRT_OK, "%s", mmrt_last_error());
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 4;
    cr_assert_eq(mmrt_session_generate(s, "hello", &gp, NULL), MMRT_ERR_UNSUPPORTED);
    const char *msg = mmrt_session_last_error(s);
    cr_assert(strstr(msg, "tokenizer_config.json") && strstr(msg, "include") && strstr(msg, "--raw"), "message: %s",
              msg);
    gp.raw = true;
    cr_assert_eq(mmrt_session_generate(s, "hello", &gp, NULL), MMRT_OK, "%s", mmrt_session_last_error(s));
    mmrt_session_free(s);
    mmrt_model_free(m);
    tmpdir_remove(dir);
}

Test(session, edge_parameters_are_handled) {
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(FIXTURE, NULL, &m), MMRT_OK, "%s", mmrt_last_error());
    mmrt_session_params sp;
    mmrt_session_params_init(&sp, sizeof sp);
    sp.n_ctx = -7;
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, &sp, &s), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_last_error(), "-7"), "message: %s", mmrt_last_error());
    mmrt_session_params_init(&sp, sizeof sp);
    sp.n_batch = -3;
    cr_assert_eq(mmrt_session_init(m, &sp, &s), MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_session_init(m, NULL, &s), MMRT_OK, "%s", mmrt_last_error());

    /* an empty stop string matches nothing; a NULL one is refused */
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 6;
    const char *stops[] = {"", NULL};
    gp.stop_strings = stops;
    gp.n_stop = 1;
    mmrt_generate_result r = {.size = sizeof r};
    cr_assert_eq(mmrt_session_generate(s, "hello", &gp, &r), MMRT_OK, "%s", mmrt_session_last_error(s));
    cr_assert_eq(r.n_generated, 6);
    gp.n_stop = 2;
    cr_assert_eq(mmrt_session_generate(s, "hello", &gp, &r), MMRT_ERR_INVALID_ARG);

    /* a vanishing temperature is greedy, not the least likely token */
    test_reply greedy, tiny;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 12;
    generate(s, "hello", gp, &greedy, &r);
    gp.temperature = 1e-40f;
    gp.seed = 1;
    generate(s, "hello", gp, &tiny, &r);
    cr_assert_str_eq(tiny.text, greedy.text);

    /* calls without a handle say so through mmrt_last_error() */
    cr_assert_eq(mmrt_session_generate(NULL, "x", NULL, NULL), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_last_error(), "session is NULL"), "message: %s", mmrt_last_error());
    cr_assert_eq(mmrt_model_get_info(NULL, NULL), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_last_error(), "mmrt_model_get_info"), "message: %s", mmrt_last_error());
    cr_assert_gt(mmrt_model_session_bytes(m, 0), 0);
    cr_assert_eq(mmrt_model_session_bytes(m, -1), 0);
    mmrt_session_free(s);
    mmrt_model_free(m);
}

Test(session, prompt_longer_than_context_gives_both_numbers) {
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(FIXTURE, NULL, &m), MMRT_OK, "%s", mmrt_last_error());
    mmrt_session_params sp;
    mmrt_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 16;
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, &sp, &s), MMRT_OK, "%s", mmrt_last_error());
    int32_t *ids;
    size_t n_ids;
    mmrt_part prompt = mmrt_text_part("Tell me a story.");
    cr_assert_eq(mmrt_session_prompt_ids(s, &prompt, 1, NULL, &ids, &n_ids), MMRT_OK, "%s", mmrt_session_last_error(s));
    mmrt_free(ids);
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    cr_assert_eq(mmrt_session_generate(s, "Tell me a story.", &gp, NULL), MMRT_ERR_CONTEXT_FULL);
    char want[64];
    snprintf(want, sizeof want, "%zu tokens but the context holds 16", n_ids);
    cr_assert(strstr(mmrt_session_last_error(s), want), "message: %s", mmrt_session_last_error(s));
    mmrt_session_free(s);
    mmrt_model_free(m);
}

Test(session, invalid_utf8_prompt_is_replaced_not_rejected) {
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(FIXTURE, NULL, &m), MMRT_OK, "%s", mmrt_last_error());
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, NULL, &s), MMRT_OK, "%s", mmrt_last_error());
    int32_t *bad, *repl;
    size_t n_bad, n_repl;
    static const char bad_text[] = "caf\xc3 ok \xff", repl_text[] = "caf\xef\xbf\xbd ok \xef\xbf\xbd";
    cr_assert_eq(mmrt_model_tokenize(m, bad_text, strlen(bad_text), true, &bad, &n_bad), MMRT_OK);
    cr_assert_eq(mmrt_model_tokenize(m, repl_text, strlen(repl_text), true, &repl, &n_repl), MMRT_OK);
    cr_assert_eq(n_bad, n_repl);
    cr_assert_arr_eq(bad, repl, n_bad * sizeof(int32_t));
    mmrt_free(bad);
    mmrt_free(repl);
    mmrt_session_free(s);
    mmrt_model_free(m);
}
