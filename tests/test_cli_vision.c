/* mmrt caption and mmrt ask as a user runs them, on the tests/fixtures/smolvlm checkpoints: the
 * printed text must be exactly transformers' greedy text for the same image and prompt. */
#include "helpers/cli_run.h"
#include "helpers/tmpdir.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *reference(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/smolvlm/%s/reference.json", MMRT_FIXTURES_DIR, name);
    return tmpdir_read_json(path);
}

static const cJSON *get(const cJSON *j, const char *a, const char *b) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, a);
    return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

/* The cases whose prompt is one image then one text: caption when the text is the caption
 * prompt, ask otherwise. */
static const char *const cases[] = {"split", "nosplit", "nonsquare", "rgba", "gray", "exif"};

ParameterizedTestParameters(cli_vision, prints_transformers_greedy_text) {
    static int idx[] = {0, 1, 2, 3, 4, 5};
    return cr_make_param_array(int, idx, 6);
}

ParameterizedTest(int *c, cli_vision, prints_transformers_greedy_text) {
    cJSON *ref = reference(cases[*c]);
    const cJSON *content =
        get(cJSON_GetArrayItem(get(ref, "prompt", "messages"), 0), "content", NULL);
    cr_assert_eq(cJSON_GetArraySize(content), 2);
    const char *question = cJSON_GetStringValue(get(cJSON_GetArrayItem(content, 1), "text", NULL));
    const char *file = cJSON_GetStringValue(get(cJSON_GetArrayItem(get(ref, "images", NULL), 0), "file", NULL));
    cr_assert(question && file);
    /* special tokens (<row_1_col_2>, <|im_start|>, ...) printed only with --special: the text of
     * decode(skip_special_tokens=True), and of skip_special_tokens=False */
    for (int special = 0; special < 2; special++) {
        const char *want = cJSON_GetStringValue(get(ref, "generation", special ? "text_special" : "text"));
        cr_assert(want, "reference.json: generation.text%s missing", special ? "_special" : "");
        char args[2048];
        if (strcmp(question, "Can you describe this image?") == 0)
            snprintf(args, sizeof args, "caption --model '%s/smolvlm/%s' '%s/%s' -n 32%s", MMRT_FIXTURES_DIR,
                     cases[*c], MMRT_SOURCE_DIR, file, special ? " --special" : "");
        else
            snprintf(args, sizeof args, "ask --model '%s/smolvlm/%s' '%s/%s' '%s' -n 32%s", MMRT_FIXTURES_DIR,
                     cases[*c], MMRT_SOURCE_DIR, file, question, special ? " --special" : "");
        result r = run(args);
        cr_assert_eq(r.rc, 0, "%s: exit %d, stderr: %s", args, r.rc, r.err);
        cr_assert(r.n_out == strlen(want) + 1 && memcmp(r.out, want, strlen(want)) == 0,
                  "%s\nexpected: %s\ngot:      %s", args, want, r.out);
        result_free(&r);
        if (special && strcmp(cases[*c], "split") != 0) continue; /* --json --special: once is enough */

        /* --json: the same text and the counts */
        strcat(args, " --json");
        r = run(args);
        cr_assert_eq(r.rc, 0, "%s: exit %d, stderr: %s", args, r.rc, r.err);
        cJSON *j = cJSON_Parse(r.out);
        cr_assert_not_null(j, "not JSON: %s", r.out);
        cr_assert_str_eq(cJSON_GetStringValue(get(j, "text", NULL)), want, "%s", args);
        cr_assert_eq(get(j, "prompt_tokens", NULL)->valueint, get(ref, "prompt", "n_tokens")->valueint);
        cr_assert_eq(get(j, "tiles", NULL)->valueint, get(ref, "n_tiles", NULL)->valueint);
        cr_assert_eq(get(j, "generated_tokens", NULL)->valueint, 32);
        cr_assert(cJSON_IsNumber(get(j, "timings_ms", "image_encode")));
        cJSON_Delete(j);
        result_free(&r);
    }
    /* split generates <row_3_col_3> (id 527): the two texts must differ, or --special went untested */
    if (strcmp(cases[*c], "split") == 0)
        cr_assert_str_neq(cJSON_GetStringValue(get(ref, "generation", "text")),
                          cJSON_GetStringValue(get(ref, "generation", "text_special")));
    cJSON_Delete(ref);
}

Test(cli_vision, a_directory_and_a_list_caption_every_image_with_progress) {
    char args[2048];
    /* the README's main job, on every sample photo */
    snprintf(args, sizeof args, "caption --model '%s/smolvlm/split' '%s/samples/images' -n 8 --json", MMRT_FIXTURES_DIR,
             MMRT_SOURCE_DIR);
    result s = run(args);
    cr_assert_eq(s.rc, 0, "%s: exit %d, stderr: %s", args, s.rc, s.err);
    int objects = 0;
    for (char *line = strtok(s.out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "not JSON: %s", line);
        cr_assert_eq(get(j, "generated_tokens", NULL)->valueint, 8, "%s", line);
        cr_assert_gt(get(j, "tiles", NULL)->valueint, 1, "%s", line);
        cJSON_Delete(j);
        objects++;
    }
    cr_assert_eq(objects, 4, "one object per sample photo");
    result_free(&s);

    /* ask: all images in one prompt, named in order */
    snprintf(args, sizeof args, "ask --model '%s/smolvlm/two-images' '%s/samples/images/coffee.png' "
             "'%s/samples/images/rocket.jpg' 'Which one is bigger?' -n 4 --json", MMRT_FIXTURES_DIR,
             MMRT_SOURCE_DIR, MMRT_SOURCE_DIR);
    s = run(args);
    cr_assert_eq(s.rc, 0, "%s: exit %d, stderr: %s", args, s.rc, s.err);
    cJSON *answer = cJSON_Parse(s.out);
    cr_assert_not_null(answer, "not JSON: %s", s.out);
    cr_assert_eq(get(answer, "images", NULL)->valueint, 2);
    const cJSON *files = get(answer, "files", NULL);
    cr_assert_eq(cJSON_GetArraySize(files), 2);
    cr_assert(strstr(cJSON_GetStringValue(cJSON_GetArrayItem(files, 1)), "rocket.jpg"));
    cJSON_Delete(answer);
    result_free(&s);

    snprintf(args, sizeof args, "caption --model '%s/smolvlm/nosplit' '%s/images' -n 4 --no-split",
             MMRT_FIXTURES_DIR, MMRT_FIXTURES_DIR);
    result r = run(args);
    cr_assert_eq(r.rc, 0, "%s: exit %d, stderr: %s", args, r.rc, r.err);
    int headers = 0;
    for (const char *p = r.out; (p = strstr(p, "# ")); p++) headers++;
    cr_assert_eq(headers, 6, "one '# FILE' per image: %s", r.out);
    cr_assert(strstr(r.err, "[6/6] "), "progress lines: %s", r.err);
    result_free(&r);

    char *dir = tmpdir_make("cli-vision");
    char list[1024];
    snprintf(list, sizeof list, "# a comment\n%s/images/coffee.png\n\n%s/images/camera_gray.jpg\n",
             MMRT_FIXTURES_DIR, MMRT_FIXTURES_DIR);
    char *list_path = tmpdir_write_str(dir, "list.txt", list);
    snprintf(args, sizeof args, "caption --model '%s/smolvlm/nosplit' --list '%s' -n 4 --json", MMRT_FIXTURES_DIR,
             list_path);
    r = run(args);
    cr_assert_eq(r.rc, 0, "%s: exit %d, stderr: %s", args, r.rc, r.err);
    int lines = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "not JSON: %s", line);
        cr_assert(strstr(cJSON_GetStringValue(get(j, "file", NULL)), lines ? "camera_gray.jpg" : "coffee.png"));
        cJSON_Delete(j);
        lines++;
    }
    cr_assert_eq(lines, 2);
    result_free(&r);
    free(list_path);
    tmpdir_remove(dir);
}

Test(cli_vision, bad_images_are_named_and_the_others_still_captioned) {
    char *dir = tmpdir_make("cli-vision");
    char *bad = tmpdir_write_str(dir, "broken.png", "\x89PNG\r\n\x1a\n this is not a PNG");
    char *text = tmpdir_write_str(dir, "notes.jpg", "just some text");
    char args[2048];
    snprintf(args, sizeof args, "caption --model '%s/smolvlm/nosplit' '%s' '%s/images/coffee.png' '%s' "
                                "'%s/no-such.png' -n 4", MMRT_FIXTURES_DIR, bad, MMRT_FIXTURES_DIR, text, dir);
    result r = run(args);
    cr_assert_eq(r.rc, 1, "exit %d", r.rc);
    cr_assert(strstr(r.err, "broken.png"), "stderr: %s", r.err);
    cr_assert(strstr(r.err, "notes.jpg"), "stderr: %s", r.err);
    cr_assert(strstr(r.err, "no-such.png"), "stderr: %s", r.err);
    cr_assert(strstr(r.err, "3 of 4 images failed"), "stderr: %s", r.err);
    cr_assert(strstr(r.out, "coffee.png"), "the good image is still captioned: %s", r.out);
    result_free(&r);

    /* an empty directory is a warning; "--" ends the options, so a file may start with "-" */
    char *empty = tmpdir_mkdir(dir, "empty");
    char src[700];
    snprintf(src, sizeof src, "%s/images/coffee.png", MMRT_FIXTURES_DIR);
    size_t n_png;
    char *png = tmpdir_read(src, &n_png);
    free(tmpdir_write(dir, "-dashed.png", png, n_png));
    free(png);
    snprintf(args, sizeof args, "caption --model '%s/smolvlm/nosplit' -n 2 '%s' '%s/-dashed.png'", MMRT_FIXTURES_DIR,
             empty, dir);
    r = run(args);
    cr_assert_eq(r.rc, 0, "%s: exit %d, stderr: %s", args, r.rc, r.err);
    cr_assert(strstr(r.err, "warning") && strstr(r.err, "empty"), "stderr: %s", r.err);
    result_free(&r);
    snprintf(args, sizeof args, "ask --model '%s/smolvlm/nosplit' -n 2 --json -- '%s/-dashed.png' '-a question?'",
             MMRT_FIXTURES_DIR, dir);
    r = run(args);
    cr_assert_eq(r.rc, 0, "%s: exit %d, stderr: %s", args, r.rc, r.err);
    cr_assert(strstr(r.out, "\"generated_tokens\": 2"), "%s", r.out);
    result_free(&r);
    snprintf(args, sizeof args, "ask --model '%s/smolvlm/nosplit' '%s/-dashed.png' '-a question?'", MMRT_FIXTURES_DIR, dir);
    r = run(args);
    cr_assert_eq(r.rc, 2, "without --: an unknown option");
    cr_assert(strstr(r.err, "put -- before"), "stderr: %s", r.err);
    result_free(&r);
    free(empty);

    /* a huge header is refused before decoding, and --max-pixels lowers the limit */
    snprintf(args, sizeof args, "caption --model '%s/smolvlm/nosplit' '%s/images/coffee.png' --max-pixels 100",
             MMRT_FIXTURES_DIR, MMRT_FIXTURES_DIR);
    r = run(args);
    cr_assert_eq(r.rc, 1, "exit %d", r.rc);
    cr_assert(strstr(r.err, "coffee.png") && strstr(r.err, "100"), "stderr: %s", r.err);
    result_free(&r);

    /* images for a text-only model */
    snprintf(args, sizeof args, "caption --model '%s/llama/odd-sizes' '%s/images/coffee.png'", MMRT_FIXTURES_DIR,
             MMRT_FIXTURES_DIR);
    r = run(args);
    cr_assert_eq(r.rc, 1, "exit %d", r.rc);
    cr_assert(strstr(r.err, "text model") && strstr(r.err, "SmolVLM"), "stderr: %s", r.err);
    result_free(&r);

    /* usage errors */
    static const char *const usage[] = {"ask --model x only-one-argument", "caption", "caption --bogus a.png",
                                        "ask --no-split", "caption a.png --max-pixels 0"};
    for (size_t i = 0; i < sizeof usage / sizeof *usage; i++) {
        r = run(usage[i]);
        cr_assert_eq(r.rc, 2, "%s: exit %d", usage[i], r.rc);
        result_free(&r);
    }
    r = run("caption --help");
    cr_assert_eq(r.rc, 0);
    cr_assert(strstr(r.out, "HuggingFaceTB/SmolVLM-256M-Instruct") && strstr(r.out, "--no-split"), "%s", r.out);
    result_free(&r);
    free(bad);
    free(text);
    tmpdir_remove(dir);
}
