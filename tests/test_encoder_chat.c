/* A media encoder defined under tests/ (tests/helpers/test_encoder.c) through `mmrt chat`: the CLI
 * built from the unchanged sources of cli/ plus a start-up registration (tests/cli_encoder/,
 * the program mmrt-test-encoder) must print what the library gives in-process for the same
 * conversation, and its second turn must keep the image's tokens in the cache (the image's
 * identity through the content hash). */
#include "helpers/cli_run.h"
#include "helpers/reply.h"
#include "helpers/test_encoder.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL MMRT_FIXTURES_DIR "/llama/odd-sizes"
#define IMAGE MMRT_FIXTURES_DIR "/images/coffee.png"
#define PROGRAM MMRT_BINARY_DIR "/tests/mmrt-test-encoder"

static const char *const questions[] = {"What is it?", "And now?"};


Test(encoder_chat, mmrt_chat_runs_an_encoder_defined_under_tests) {
    /* in-process: the same two turns through mmrt_session_chat */
    test_encoder_enable(true);
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(MODEL, NULL, &m), MMRT_OK, "%s", mmrt_last_error());
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, NULL, &s), MMRT_OK, "%s", mmrt_last_error());
    test_reply want[2] = {{.n = 0}, {.n = 0}};
    mmrt_generate_result res[2] = {{.size = sizeof res[0]}, {.size = sizeof res[1]}};
    for (int t = 0; t < 2; t++) {
        mmrt_generate_params gp;
        mmrt_generate_params_init(&gp, sizeof gp);
        gp.max_tokens = 12;
        gp.temperature = 0.0f;
        gp.on_token = test_reply_collect;
        gp.user = &want[t];
        mmrt_part parts[2] = {mmrt_image_file_part(IMAGE), mmrt_text_part(questions[t])};
        mmrt_part *turn = t == 0 ? parts : parts + 1;
        cr_assert_eq(mmrt_session_chat(s, turn, t == 0 ? 2 : 1, &gp, &res[t]), MMRT_OK, "%s",
                     mmrt_session_last_error(s));
        cr_assert_eq(res[t].n_images, 1, "turn %d: %d images", t + 1, res[t].n_images); /* the conversation holds it */
    }
    /* turn 2 keeps turn 1's prompt, whose <image> rows are the encoder's */
    cr_assert_geq(res[1].n_cached_tokens, res[0].n_prompt_tokens, "cached %d, turn 1's prompt %d",
                  res[1].n_cached_tokens, res[0].n_prompt_tokens);
    mmrt_session_free(s);
    mmrt_model_free(m);

    /* the CLI: the same conversation piped in */
    char input[512], args[512];
    snprintf(input, sizeof input, "/image %s\n%s\n%s\n", IMAGE, questions[0], questions[1]);
    snprintf(args, sizeof args, "chat -m '%s' -n 12 --json", MODEL);
    result r = run_program_input(PROGRAM, args, input);
    cr_assert_eq(r.rc, 0, "exit %d, stderr: %s", r.rc, r.err);
    char *line = r.out;
    for (int t = 0; t < 2; t++) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl, "turn %d missing: %s", t + 1, r.out);
        *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "not JSON: %s", line);
        cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "text")), want[t].text, "turn %d", t + 1);
        cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "n_cached_tokens")), res[t].n_cached_tokens,
                     "turn %d: %s", t + 1, line);
        cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "n_prompt_tokens")), res[t].n_prompt_tokens);
        cJSON_Delete(j);
        line = nl + 1;
    }
    result_free(&r);

    /* the stock mmrt has no such encoder: the same /image is refused on this text model */
    result plain = run_input(args, input);
    cr_assert_eq(plain.rc, 0, "exit %d, stderr: %s", plain.rc, plain.err);
    cr_assert(strstr(plain.err, "text model"), "%s", plain.err);
    result_free(&plain);
}
