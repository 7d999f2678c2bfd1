/* Real Hugging Face chat templates through the Jinja2 interpreter (text/jinja.h): every
 * conversation in tests/fixtures/chat_templates/cases.json (written by
 * tools/fixtures_chat_templates.py with transformers' apply_chat_template machinery) must render
 * byte-identically, and the cases where the template calls raise_exception must fail with a
 * message holding the template's text. */
#include "core/fsutil.h"
#include "core/json.h"
#include "text/jinja.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR MMRT_FIXTURES_DIR "/chat_templates"

static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n, "short read of %s", path);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static void show_diff(const char *id, const char *name, const char *want, const char *got) {
    size_t i = 0;
    while (want[i] && want[i] == got[i]) i++;
    size_t from = i > 60 ? i - 60 : 0;
    fprintf(stderr, "%s/%s: first difference at byte %zu\n  expected: \"%.160s\"\n  got:      \"%.160s\"\n", id,
            name, i, want + from, got + from);
}

Test(chat_templates, every_case_matches_transformers) {
    cJSON *doc = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_json_load_file(DIR "/cases.json", &doc, &err), MMRT_OK, "%s", err.msg);
    const cJSON *templates = cJSON_GetObjectItemCaseSensitive(doc, "templates");
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(doc, "now");
    cr_assert(cJSON_IsArray(templates) && cJSON_IsNumber(now), "cases.json: no templates or now");
    mmrt_jinja_options opt = {.now = (int64_t)now->valuedouble};
    int n_templates = 0, n_cases = 0, failed = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, templates) {
        const char *id = cJSON_GetObjectItemCaseSensitive(t, "id")->valuestring;
        const char *file = cJSON_GetObjectItemCaseSensitive(t, "file")->valuestring;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", DIR, file);
        size_t len;
        char *src = read_text(path, &len);
        mmrt_jinja_template *tpl = NULL;
        err = (mmrt_error){0};
        mmrt_status st = mmrt_jinja_parse(src, len, file, &tpl, &err);
        free(src);
        n_templates++;
        const cJSON *cases = cJSON_GetObjectItemCaseSensitive(t, "cases"), *c;
        if (st != MMRT_OK) {
            fprintf(stderr, "%s: parse failed: %s\n", id, err.msg);
            failed += cJSON_GetArraySize(cases);
            n_cases += cJSON_GetArraySize(cases);
            continue;
        }
        cJSON_ArrayForEach(c, cases) {
            const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "expected");
            const cJSON *want_err = cJSON_GetObjectItemCaseSensitive(c, "error");
            char *out = NULL;
            err = (mmrt_error){0};
            st = mmrt_jinja_render(tpl, cJSON_GetObjectItemCaseSensitive(c, "context"), &opt, &out, &err);
            n_cases++;
            bool ok;
            if (cJSON_IsString(want)) {
                ok = st == MMRT_OK && strcmp(out, want->valuestring) == 0;
                if (!ok && st != MMRT_OK) fprintf(stderr, "%s/%s: render failed: %s\n", id, name, err.msg);
                else if (!ok) show_diff(id, name, want->valuestring, out);
            } else {
                ok = st != MMRT_OK && cJSON_IsString(want_err) && strstr(err.msg, want_err->valuestring) != NULL;
                if (!ok)
                    fprintf(stderr, "%s/%s: expected the error \"%s\", got status %d \"%s\"\n", id, name,
                            cJSON_IsString(want_err) ? want_err->valuestring : "?", st, st ? err.msg : out);
            }
            failed += !ok;
            free(out);
        }
        mmrt_jinja_template_free(tpl);
    }
    fprintf(stderr, "chat templates: %d templates, %d cases, %d differ\n", n_templates, n_cases, failed);
    cr_assert_geq(n_templates, 25, "only %d templates", n_templates);
    cr_assert_eq(failed, 0, "%d of %d chat-template cases differ from transformers", failed, n_cases);
    cJSON_Delete(doc);
}
