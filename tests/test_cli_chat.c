/* mmrt chat as a user runs it (stdin a pipe): transformers' replies turn after turn
 * (tests/fixtures/chat_session), prefix reuse reported per turn with --json, and commands. */
#include "helpers/cli_run.h"
#include "helpers/tmpdir.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *fixture(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/chat_session/%s.json", MMRT_FIXTURES_DIR, name);
    cJSON *j = tmpdir_read_json(path);
    cr_assert_not_null(j, "%s", path);
    return j;
}

static const cJSON *turn(const cJSON *f, int t) { return cJSON_GetArrayItem(cJSON_GetObjectItem(f, "turns"), t); }
static const char *user_text(const cJSON *f, int t) {
    return cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(f, "user_texts"), t));
}
static int num(const cJSON *j, const char *k) { return (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, k)); }

/* The user turns of the fixture, one per line, with `before` in front of the first. */
static void input_of(const cJSON *f, const char *before, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "%s", before);
    for (int t = 0; t < cJSON_GetArraySize(cJSON_GetObjectItem(f, "user_texts")); t++)
        n += (size_t)snprintf(out + n, cap - n, "%s\n", user_text(f, t));
}

/* stdout must be the replies, each followed by a newline, and nothing else. */
static void assert_replies(const cJSON *f, const result *r, const char *what) {
    char want[8192];
    size_t n = 0;
    for (int t = 0; t < cJSON_GetArraySize(cJSON_GetObjectItem(f, "turns")); t++)
        n += (size_t)snprintf(want + n, sizeof want - n, "%s\n",
                              cJSON_GetStringValue(cJSON_GetObjectItem(turn(f, t), "reply_text")));
    cr_assert(r->n_out == n && memcmp(r->out, want, n) == 0, "%s\nexpected: %s\ngot:      %s\nstderr: %s", what, want,
              r->out, r->err);
}

/* `mmrt chat -m fixtures/MODEL OPTS` on the case's user turns (after `before`): exit 0 and
 * transformers' replies on stdout. */
static result chat_prints_replies(const cJSON *f, const char *model, const char *opts, const char *before) {
    char input[2048], args[1024];
    input_of(f, before, input, sizeof input);
    snprintf(args, sizeof args, "chat -m '%s/%s' -n 16 %s", MMRT_FIXTURES_DIR, model, opts);
    result r = run_input(args, input);
    cr_assert_eq(r.rc, 0, "%s: exit %d, stderr: %s", args, r.rc, r.err);
    assert_replies(f, &r, args);
    return r;
}

Test(cli_chat, text_conversation_prints_transformers_replies) {
    cJSON *f = fixture("text");
    result r = chat_prints_replies(f, "llama/gqa-tied-bf16", "--temp 0 -v", "");
    /* -v: the per-turn counts, the fixture's */
    for (int t = 1; t < 3; t++) {
        char line[160];
        snprintf(line, sizeof line, "turn %d: prompt %d tokens, %d from the cache, %d prefilled, 16 generated", t + 1,
                 num(turn(f, t), "n_prompt"), num(turn(f, t), "reusable_kv"), num(turn(f, t), "n_prefill"));
        cr_assert(strstr(r.err, line), "missing \"%s\" in stderr: %s", line, r.err);
    }
    result_free(&r);
    cJSON_Delete(f);
}

Test(cli_chat, system_message) {
    cJSON *f = fixture("text-system");
    result r = chat_prints_replies(f, "llama/gqa-tied-bf16", "--system 'You are terse.'", "");
    result_free(&r);
    cJSON_Delete(f);
}

Test(cli_chat, vision_conversation_with_an_image) {
    cJSON *f = fixture("vision");
    char before[600];
    snprintf(before, sizeof before, "/image %s/images/astronaut.png\n", MMRT_FIXTURES_DIR);
    result r = chat_prints_replies(f, "smolvlm/split", "", before);
    result_free(&r);
    cJSON_Delete(f);
}

/* --json: one object per turn, with the fixture's cache counts; /reset: the next turn caches
 * nothing and is turn 1 again; bad commands are reported and the chat goes on. */
Test(cli_chat, json_reset_and_bad_commands) {
    cJSON *f = fixture("text");
    char input[4096], args[1024];
    input_of(f, "", input, sizeof input);
    size_t n = strlen(input);
    snprintf(input + n, sizeof input - n, "/image /no/such/file.png\n/frobnicate\n/reset\n%s\n/exit\nnot read\n",
             user_text(f, 0));
    snprintf(args, sizeof args, "chat -m '%s/llama/gqa-tied-bf16' -n 16 --json", MMRT_FIXTURES_DIR);
    result r = run_input(args, input);
    cr_assert_eq(r.rc, 0, "exit %d, stderr: %s", r.rc, r.err);
    cr_assert(strstr(r.err, "text model"), "/image on a text model: %s", r.err);
    cr_assert(strstr(r.err, "unknown command /frobnicate"), "%s", r.err);
    char *line = r.out;
    for (int k = 0; k < 4; k++) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl, "object %d missing: %s", k + 1, r.out);
        *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "not JSON: %s", line);
        int t = k < 3 ? k : 0; /* after /reset: the first turn again */
        const cJSON *want = turn(f, t);
        cr_assert_eq(num(j, "turn"), t + 1);
        cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "text")),
                         cJSON_GetStringValue(cJSON_GetObjectItem(want, "reply_text")));
        cr_assert_eq(num(j, "n_prompt_tokens"), num(want, "n_prompt"));
        cr_assert_eq(num(j, "n_cached_tokens"), num(want, "reusable_kv"), "object %d: %s", k + 1, line);
        cr_assert_eq(num(j, "n_prefilled"), num(want, "n_prefill"), "object %d: %s", k + 1, line);
        cr_assert_eq(num(j, "n_generated"), 16);
        cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "stop_reason")), "max_tokens");
        cJSON_Delete(j);
        line = nl + 1;
    }
    cr_assert_str_eq(line, "", "nothing after /exit: %s", line);
    result_free(&r);
    cJSON_Delete(f);
}

Test(cli_chat, missing_image_is_reported_and_the_chat_goes_on) {
    cJSON *f = fixture("vision");
    char input[2048], args[1024];
    snprintf(input, sizeof input, "/image /no/such/file.png\n/image\nHi\n");
    snprintf(args, sizeof args, "chat -m '%s/smolvlm/split' -n 2", MMRT_FIXTURES_DIR);
    result r = run_input(args, input);
    cr_assert_eq(r.rc, 0, "exit %d, stderr: %s", r.rc, r.err);
    cr_assert(strstr(r.err, "/no/such/file.png: No such file or directory"), "%s", r.err);
    cr_assert(strstr(r.err, "/image needs a path"), "%s", r.err);
    cr_assert_gt(r.n_out, 0, "no reply to the turn after the errors");
    result_free(&r);
    cJSON_Delete(f);
}

Test(cli_chat, usage_errors_and_context_overflow) {
    result r = run("chat --raw");
    cr_assert_eq(r.rc, 2, "--raw: exit %d", r.rc);
    cr_assert(strstr(r.err, "--raw"), "%s", r.err);
    result_free(&r);
    r = run("chat --frobnicate");
    cr_assert_eq(r.rc, 2);
    result_free(&r);
    r = run("chat --help");
    cr_assert_eq(r.rc, 0);
    cr_assert(strstr(r.out, "/image PATH") && strstr(r.out, "/reset"), "%s", r.out);
    result_free(&r);
    /* turn 3 of the text case (177 tokens) does not fit 150: the error names both numbers and the
     * ways out; --drop-old-turns lets the oldest turn go */
    cJSON *f = fixture("text");
    char input[2048], args[1024];
    input_of(f, "", input, sizeof input);
    for (int drop = 0; drop < 2; drop++) {
        snprintf(args, sizeof args, "chat -m '%s/llama/gqa-tied-bf16' -n 16 --ctx 150%s", MMRT_FIXTURES_DIR,
                 drop ? " --drop-old-turns" : "");
        r = run_input(args, input);
        if (!drop) {
            cr_assert_eq(r.rc, 1, "exit %d", r.rc);
            cr_assert(strstr(r.err, "177 tokens") && strstr(r.err, "150") && strstr(r.err, "/reset") &&
                          strstr(r.err, "--ctx"),
                      "%s", r.err);
        } else {
            cr_assert_eq(r.rc, 0, "exit %d: %s", r.rc, r.err);
            cr_assert(strstr(r.err, "oldest turn"), "%s", r.err);
        }
        char two[2048]; /* the first two replies fit either way */
        size_t n2 = (size_t)snprintf(two, sizeof two, "%s\n%s\n",
                                     cJSON_GetStringValue(cJSON_GetObjectItem(turn(f, 0), "reply_text")),
                                     cJSON_GetStringValue(cJSON_GetObjectItem(turn(f, 1), "reply_text")));
        cr_assert(r.n_out >= n2 && memcmp(r.out, two, n2) == 0, "%s", r.out);
        cr_assert(drop ? r.n_out > n2 + 1 && r.out[r.n_out - 1] == '\n' : r.n_out == n2, "a third reply %s: %s",
                  drop ? "missing" : "printed", r.out);
        result_free(&r);
    }
    cJSON_Delete(f);
}
