/* The mmrt command as a user runs it: its output must be exactly transformers' greedy text. */
#include "helpers/cli_run.h"
#include "helpers/tmpdir.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define MMRT MMRT_BINARY_DIR "/mmrt"

static cJSON *reference(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/llama/%s/reference.json", MMRT_FIXTURES_DIR, name);
    return tmpdir_read_json(path);
}

static const char *ref_string(const cJSON *j, const char *a, const char *b, const char *c) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, a);
    v = cJSON_GetObjectItemCaseSensitive(v, b);
    if (c) v = cJSON_GetObjectItemCaseSensitive(v, c);
    cr_assert(cJSON_IsString(v), "reference.json: %s.%s%s%s missing", a, b, c ? "." : "", c ? c : "");
    return v->valuestring;
}

static const char *const cases[] = {"gqa-tied-bf16", "mha-untied-sharded", "odd-sizes", "llama3-rope-f16"};

ParameterizedTestParameters(cli, generate_prints_transformers_greedy_text) {
    static int idx[] = {0, 1, 2, 3};
    return cr_make_param_array(int, idx, 4);
}

/* All 64 greedy tokens: llama3-rope-f16's chat generation has <|im_start|> (special, not EOS) as
 * its 57th token, printed only with --special; --json's text follows the same rule. */
ParameterizedTest(int *c, cli, generate_prints_transformers_greedy_text) {
    cJSON *ref = reference(cases[*c]);
    const char *prompt = ref_string(ref, "prompts", "raw", "text");
    char args[2048];
    bool has_special = strcmp(cases[*c], "llama3-rope-f16") == 0;
    for (int k = 0; k < (has_special ? 8 : 4); k++) { /* --json where it matters */
        int raw = k & 1, special = (k >> 1) & 1, json = k >> 2;
        const char *want =
            ref_string(ref, "generation", raw ? "raw" : "chat", special ? "text_all_64_special" : "text_all_64");
        snprintf(args, sizeof args, "generate --model '%s/llama/%s' -p '%s' -n 64 --temp 0%s%s%s", MMRT_FIXTURES_DIR,
                 cases[*c], prompt, raw ? " --raw" : "", special ? " --special" : "", json ? " --json" : "");
        result r = run(args);
        cr_assert_eq(r.rc, 0, "%s: exit %d, stderr: %s", args, r.rc, r.err);
        if (json) {
            cJSON *j = cJSON_Parse(r.out);
            cr_assert_not_null(j, "not JSON: %s", r.out);
            cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "text")), want, "%s", args);
            cJSON_Delete(j);
        } else { /* the text, then one newline */
            cr_assert(r.n_out == strlen(want) + 1 && memcmp(r.out, want, strlen(want)) == 0,
                      "%s\nexpected: %s\ngot:      %s", args, want, r.out);
        }
        result_free(&r);
    }
    if (has_special)
        cr_assert_str_neq(ref_string(ref, "generation", "chat", "text_all_64"),
                          ref_string(ref, "generation", "chat", "text_all_64_special"),
                          "the fixture no longer generates a special token: --special goes untested here");
    cJSON_Delete(ref);
}

Test(cli, zero_tokens_prints_nothing_and_succeeds) {
    result r = run("generate --model " MMRT_FIXTURES_DIR "/llama/odd-sizes -p hello -n 0");
    cr_assert_eq(r.rc, 0, "stderr: %s", r.err);
    cr_assert_eq(r.n_out, 0, "stdout: %s", r.out);
    result_free(&r);
}

Test(cli, json_output_and_info) {
    result r = run("generate --model " MMRT_FIXTURES_DIR "/llama/odd-sizes -p hello -n 5 --json");
    cr_assert_eq(r.rc, 0, "stderr: %s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "not JSON: %s", r.out);
    cr_assert_eq(cJSON_GetObjectItem(j, "generated_tokens")->valueint, 5);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(j, "text")));
    cr_assert_str_eq(cJSON_GetObjectItem(j, "stop_reason")->valuestring, "max_tokens");
    cJSON_Delete(j);
    result_free(&r);

    r = run("info --model " MMRT_FIXTURES_DIR "/llama/mha-untied-sharded");
    cr_assert_eq(r.rc, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "architecture:   llama"), "%s", r.out);
    cr_assert(strstr(r.out, "4 heads, 4 KV heads"), "%s", r.out);
    cr_assert(strstr(r.out, "(F32)"), "%s", r.out);
    cr_assert(strstr(r.out, "arithmetic:     f32"), "%s", r.out); /* the suites' MMRT_MATH=f32 */
    result_free(&r);

    /* --quant: the decoder's matrices in a block format (auto picking int8 is test_quantize's) */
    r = run("info --model " MMRT_FIXTURES_DIR "/llama/gqa-tied-bf16 --quant q8_0 --math int8");
    cr_assert_eq(r.rc, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "(Q8_0)") && strstr(r.out, "arithmetic:     int8"), "%s", r.out);
    result_free(&r);
}

Test(cli, usage_errors_exit_2) {
    static const char *const bad[] = {"", "frobnicate", "generate", "generate -p x --temp hot",
                                      "generate -p x --bogus", "generate -p x -n -1", "info --ctx",
                                      "generate -p x --device tpu", "generate -p x --math f8",
                                      "generate -p x --quant q5_k"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        result r = run(bad[i]);
        cr_assert_eq(r.rc, 2, "mmrt %s: exit %d", bad[i], r.rc);
        cr_assert_gt(strlen(r.err), 0, "mmrt %s: no message", bad[i]);
        result_free(&r);
    }
    result r = run("--help");
    cr_assert_eq(r.rc, 0);
    cr_assert(strstr(r.out, "HuggingFaceTB/SmolLM2-135M-Instruct"), "%s", r.out);
    result_free(&r);
    r = run("generate --help");
    cr_assert_eq(r.rc, 0);
    cr_assert(strstr(r.out, "--top-p") && strstr(r.out, "--math"), "%s", r.out);
    result_free(&r);
    r = run("--version");
    cr_assert_eq(r.rc, 0);
    cr_assert(strstr(r.out, "mmrt 0."), "%s", r.out);
    result_free(&r);
}

Test(cli, runtime_errors_exit_1_and_name_the_problem) {
    result r = run("generate --model /nonexistent/dir -p hi");
    cr_assert_eq(r.rc, 1);
    cr_assert(strstr(r.err, "/nonexistent/dir"), "%s", r.err);
    result_free(&r);
    r = run("generate --model " MMRT_FIXTURES_DIR "/llama/gqa-tied-bf16 -p 'a long enough prompt' --ctx 8");
    cr_assert_eq(r.rc, 1);
    cr_assert(strstr(r.err, "context holds 8"), "%s", r.err);
    result_free(&r);
}

Test(cli, prompt_from_a_file_equals_the_same_prompt_inline) {
    char *dir = tmpdir_make("cli");
    char *path = tmpdir_write_str(dir, "prompt.txt", "Tell me a story.\nTwo lines.");
    char args[1024];
    snprintf(args, sizeof args, "generate -m %s/llama/odd-sizes -n 12 -f %s", MMRT_FIXTURES_DIR, path);
    result from_file = run(args);
    snprintf(args, sizeof args, "generate -m %s/llama/odd-sizes -n 12 -p \"$(cat %s)\"", MMRT_FIXTURES_DIR, path);
    result inline_ = run(args);
    cr_assert_eq(from_file.rc, 0, "%s", from_file.err);
    cr_assert_eq(inline_.rc, 0, "%s", inline_.err);
    cr_assert(from_file.n_out > 1 && from_file.n_out == inline_.n_out &&
                  memcmp(from_file.out, inline_.out, from_file.n_out) == 0,
              "-f: %s\n-p: %s", from_file.out, inline_.out);
    result_free(&from_file);
    result_free(&inline_);
    free(path);
    tmpdir_remove(dir);
}

Test(cli, output_errors_and_misspelt_options_are_reported) {
    /* a full disk is a failure, not a success */
    char *dir = tmpdir_make("cli");
    char *err_path = tmpdir_path(dir, "stderr");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s info --model %s/llama/odd-sizes >/dev/full 2>%s", MMRT, MMRT_FIXTURES_DIR, err_path);
    int st = system(cmd);
    char *err = tmpdir_read(err_path, NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d", st);
    cr_assert(strstr(err, "writing the output failed"), "%s", err);
    free(err);
    free(err_path);
    tmpdir_remove(dir);
    result r;
    /* a misspelt flag at the end is an unknown option, not a missing value */
    r = run("generate --model " MMRT_FIXTURES_DIR "/llama/odd-sizes -p hi --verbos");
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "unknown option --verbos"), "%s", r.err);
    result_free(&r);
    /* an empty stop string is harmless */
    r = run("generate --model " MMRT_FIXTURES_DIR "/llama/odd-sizes -p hi -n 4 --stop ''");
    cr_assert_eq(r.rc, 0, "%s", r.err);
    result_free(&r);
}

Test(cli, json_text_is_valid_utf8_even_when_a_stop_string_splits_a_character) {
    /* a stop string that starts with a continuation byte must not leave half a character */
    result r = run("generate --model " MMRT_FIXTURES_DIR "/llama/gqa-tied-bf16 --raw -n 32 --json "
                   "-p 'In 2024, 3 quick foxes jumped over 12,345 lazy dogs.' --stop \"$(printf '\\260')\" "
                   "--stop \"$(printf '\\200')\"");
    cr_assert_eq(r.rc, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "not JSON: %s", r.out);
    const char *text = cJSON_GetObjectItem(j, "text")->valuestring;
    /* cJSON keeps bytes as they are: check the text is well-formed UTF-8 */
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        int len = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
        cr_assert_gt(len, 0, "bad lead byte 0x%02x in %s", *p, text);
        for (int i = 1; i < len; i++) cr_assert_eq(p[i] & 0xc0, 0x80, "truncated character in %s", text);
        p += len;
    }
    cJSON_Delete(j);
    result_free(&r);
}

Test(cli, info_lists_the_devices) {
    result r = run("info --devices");
    cr_assert_eq(r.rc, 0, "exit %d, stderr: %s", r.rc, r.err);
    cr_assert(strncmp(r.out, "cpu: ", 5) == 0, "%s", r.out);
    cr_assert(strstr(r.out, "\ncuda"), "a line about CUDA (available, unavailable or not built): %s", r.out);
    result_free(&r);
    r = run("info --devices --json");
    cr_assert_eq(r.rc, 0);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "not JSON: %s", r.out);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "devices")), 2, "%s", r.out);
    cJSON_Delete(j);
    result_free(&r);
}
