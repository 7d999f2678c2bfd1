/* The Jinja2 interpreter (text/jinja.h) against jinja2 itself: every case of
 * tests/fixtures/jinja/cases.json (written by tools/fixtures_jinja.py in transformers' chat-template
 * environment) must render byte-identically, or fail where jinja2 fails. Plus the limits (steps,
 * parser depth, output), syntax-error positions and raise_exception's message. */
#include "core/json.h"
#include "text/jinja.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASES MMRT_FIXTURES_DIR "/jinja/cases.json"

/* Renders src with ctx, or with the JSON text ctx_text when not NULL; returns the status, *out
 * (caller frees) on success. */
static mmrt_status render_ctx(const char *src, const cJSON *ctx, const char *ctx_text, const mmrt_jinja_options *opt,
                              char **out, mmrt_error *err) {
    mmrt_jinja_template *t = NULL;
    *out = NULL;
    mmrt_status st = mmrt_jinja_parse(src, strlen(src), "case.jinja", &t, err);
    if (st != MMRT_OK) {
        cr_assert_null(t);
        return st;
    }
    st = ctx_text ? mmrt_jinja_render_json(t, ctx_text, strlen(ctx_text), opt, out, err)
                  : mmrt_jinja_render(t, ctx, opt, out, err);
    mmrt_jinja_template_free(t);
    return st;
}

static mmrt_status render(const char *src, const cJSON *ctx, const mmrt_jinja_options *opt, char **out,
                          mmrt_error *err) {
    return render_ctx(src, ctx, NULL, opt, out, err);
}

/* Prints where a and b first differ. */
static void show_diff(const char *name, const char *want, const char *got) {
    size_t i = 0;
    while (want[i] && want[i] == got[i]) i++;
    fprintf(stderr, "case %s: first difference at byte %zu\n  expected: \"%s\"\n  got:      \"%s\"\n", name, i,
            want, got);
}

Test(jinja, fixture_cases) {
    cJSON *doc = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_json_load_file(CASES, &doc, &err), MMRT_OK, "%s", err.msg);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(doc, "cases");
    const cJSON *dflt = cJSON_GetObjectItemCaseSensitive(doc, "default_context");
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(doc, "now");
    cr_assert(cJSON_IsArray(cases) && cJSON_IsNumber(now), "%s: no cases or now", CASES);
    mmrt_jinja_options opt = {.now = (int64_t)now->valuedouble};
    int n = 0, failed = 0, n_text = 0;
    const char *first_fail = NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
        const char *src = cJSON_GetObjectItemCaseSensitive(c, "template")->valuestring;
        const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(c, "context");
        const cJSON *expected = cJSON_GetObjectItemCaseSensitive(c, "expected");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(c, "context_json");
        char *out = NULL;
        err = (mmrt_error){0};
        mmrt_status st = render_ctx(src, ctx ? ctx : dflt, cJSON_IsString(text) ? text->valuestring : NULL, &opt, &out, &err);
        n_text += cJSON_IsString(text);
        n++;
        bool ok;
        if (cJSON_IsString(expected)) {
            ok = st == MMRT_OK && strcmp(out, expected->valuestring) == 0;
            if (!ok && failed < 5) {
                if (st != MMRT_OK) fprintf(stderr, "case %s: failed (%s), expected \"%s\"\n", name, err.msg, expected->valuestring);
                else show_diff(name, expected->valuestring, out);
            }
        } else {
            ok = st != MMRT_OK && out == NULL && err.msg[0] != '\0';
            if (!ok && failed < 5)
                fprintf(stderr, "case %s: jinja2 fails (%s) but we rendered \"%s\"\n", name,
                        cJSON_GetObjectItemCaseSensitive(c, "message")->valuestring, out ? out : "");
        }
        if (!ok && !first_fail) first_fail = name;
        failed += !ok;
        free(out);
    }
    cr_assert_gt(n, 100, "only %d cases in %s", n, CASES);
    cr_assert_gt(n_text, 0, "no case renders from JSON text in %s", CASES);
    cr_expect_eq(failed, 0, "%d of %d jinja cases differ from jinja2 (first: %s)", failed, n, first_fail);
    cJSON_Delete(doc);
}

Test(jinja, max_steps) {
    char *out = NULL;
    mmrt_error err = {0};
    mmrt_jinja_options opt = {.max_steps = 1000000};
    mmrt_status st = render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                            NULL, &opt, &out, &err);
    cr_assert_eq(st, MMRT_ERR_INVALID_ARG, "status %d: %s", st, err.msg);
    cr_assert_null(out);
    cr_assert(strstr(err.msg, "max_steps") && strstr(err.msg, "case.jinja:1:"), "%s", err.msg);
    /* the default limit stops it too, before memory or output run out (loops reuse their frame) */
    err = (mmrt_error){0};
    st = render("{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}", NULL,
                NULL, &out, &err);
    cr_assert_eq(st, MMRT_ERR_INVALID_ARG, "status %d: %s", st, err.msg);
    cr_assert(strstr(err.msg, "max_steps = 10000000"), "%s", err.msg);
}

Test(jinja, parser_depth) {
    size_t n = 5000;
    char *src = malloc(2 * n + 16);
    cr_assert_not_null(src);
    strcpy(src, "{{ ");
    memset(src + 3, '(', n);
    strcpy(src + 3 + n, "1");
    memset(src + 4 + n, ')', n);
    strcpy(src + 4 + 2 * n, " }}");
    mmrt_jinja_template *t = NULL;
    mmrt_error err = {0};
    mmrt_status st = mmrt_jinja_parse(src, strlen(src), "deep.jinja", &t, &err);
    cr_assert_neq(st, MMRT_OK);
    cr_assert_null(t);
    cr_assert(strstr(err.msg, "deep.jinja:1:") && strstr(err.msg, "nested too deeply"), "%s", err.msg);
    /* nested blocks and unary minus are bounded too */
    for (int kind = 0; kind < 2; kind++) {
        size_t len = 0;
        for (size_t i = 0; i < 2000 && len + 32 < 2 * n; i++) len += (size_t)sprintf(src + len, kind ? "-" : "{%% if x %%}");
        src[len] = '\0';
        if (kind) strcpy(src + len, "1");
        char *wrapped = malloc(strlen(src) + 16);
        sprintf(wrapped, kind ? "{{ %s }}" : "%s", src);
        err = (mmrt_error){0};
        st = mmrt_jinja_parse(wrapped, strlen(wrapped), "deep.jinja", &t, &err);
        cr_assert_neq(st, MMRT_OK, "kind %d parsed", kind);
        cr_assert(strstr(err.msg, "nested too deeply"), "kind %d: %s", kind, err.msg);
        free(wrapped);
    }
    free(src);
}

/* Operator and filter chains build trees deeper than the parser recursed: evaluating them is
 * bounded by max_depth, not by the stack. */
Test(jinja, long_chains) {
    static const char *const pieces[][3] = {
        {"{{ 1", " + 1", " }}"},
        {"{% set x %}a{% endset %}{% set y | upper", " | lower", " %}b{% endset %}"},
        {"{% macro m() %}{{ 1", " ~ varargs", " }}{% endmacro %}{{ m() }}"},
    };
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
        size_t n = 100000, unit = strlen(pieces[k][1]);
        char *src = malloc(strlen(pieces[k][0]) + n * unit + strlen(pieces[k][2]) + 1);
        cr_assert_not_null(src);
        char *p = stpcpy(src, pieces[k][0]);
        for (size_t i = 0; i < n; i++) p = stpcpy(p, pieces[k][1]);
        strcpy(p, pieces[k][2]);
        char *out = NULL;
        mmrt_error err = {0};
        mmrt_status st = render(src, NULL, NULL, &out, &err);
        cr_assert_eq(st, MMRT_ERR_INVALID_ARG, "chain %zu: status %d: %s", k, st, err.msg);
        cr_assert(strstr(err.msg, "max_depth"), "chain %zu: %s", k, err.msg);
        free(src);
    }
}

/* mmrt_jinja_render_json reads the context as json.loads does and refuses what it refuses. */
Test(jinja, context_from_json_text) {
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"[1, 2]", "expected a JSON object at byte 0"},
        {"{\"a\": 1,}", "expected a string key at byte 8"},
        {"{\"a\": 01}", "expected ',' or '}' at byte 7"},
        {"{\"a\": 123456789012345678901}", "integer beyond 64 bits"},
        {"{\"a\": \"x\ty\"}", "control character in a string"},
        {"{\"a\": \"\\q\"}", "invalid escape"},
        {"{\"a\": 1} x", "unexpected data after the object at byte 9"},
        {"{\"a\": \"\xff\"}", "not valid UTF-8"},
        {"{\"a\": tru}", "unexpected character at byte 6"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        mmrt_error err = {0};
        mmrt_status st = render_ctx("{{ a }}", NULL, bad[i].json, NULL, &out, &err);
        cr_expect_eq(st, MMRT_ERR_BAD_FORMAT, "context %zu: status %d (%s)", i, st, err.msg);
        cr_expect(strstr(err.msg, bad[i].needle) && strstr(err.msg, "case.jinja: render context"),
                  "context %zu: \"%s\" lacks \"%s\"", i, err.msg, bad[i].needle);
        cr_expect_null(out);
    }
    /* deep nesting is refused, not a stack overflow */
    size_t depth = 5000;
    char *deep = malloc(2 * depth + 16);
    cr_assert_not_null(deep);
    char *p = stpcpy(deep, "{\"a\": ");
    for (size_t i = 0; i < depth; i++) *p++ = '[';
    for (size_t i = 0; i < depth; i++) *p++ = ']';
    strcpy(p, "}");
    char *out = NULL;
    mmrt_error err = {0};
    cr_expect_eq(render_ctx("{{ a }}", NULL, deep, NULL, &out, &err), MMRT_ERR_BAD_FORMAT, "%s", err.msg);
    cr_expect(strstr(err.msg, "nested more than 1000 levels"), "%s", err.msg);
    free(deep);
    /* the same context through cJSON loses the float: documented */
    cJSON *c = cJSON_Parse("{\"a\": 1.0}");
    cr_assert_eq(render_ctx("{{ a }}", c, NULL, NULL, &out, &err), MMRT_OK, "%s", err.msg);
    cr_expect_str_eq(out, "1");
    free(out);
    cr_assert_eq(render_ctx("{{ a }}", NULL, "{\"a\": 1.0}", NULL, &out, &err), MMRT_OK, "%s", err.msg);
    cr_expect_str_eq(out, "1.0");
    free(out);
    cJSON_Delete(c);
}

Test(jinja, max_depth_macro_recursion) {
    char *out = NULL;
    mmrt_error err = {0};
    mmrt_status st = render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, NULL, &out, &err);
    cr_assert_eq(st, MMRT_ERR_INVALID_ARG, "status %d: %s", st, err.msg);
    cr_assert(strstr(err.msg, "max_depth"), "%s", err.msg);
}

Test(jinja, max_output) {
    char *out = NULL;
    mmrt_error err = {0};
    mmrt_jinja_options opt = {.max_output = 1 << 20};
    mmrt_status st = render("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", NULL, &opt, &out, &err);
    cr_assert_eq(st, MMRT_ERR_INVALID_ARG, "status %d: %s", st, err.msg);
    cr_assert(strstr(err.msg, "max_output"), "%s", err.msg);
    err = (mmrt_error){0};
    st = render("{{ 'x' * 100000000 }}", NULL, &opt, &out, &err);
    cr_assert_eq(st, MMRT_ERR_INVALID_ARG, "status %d: %s", st, err.msg);
    cr_assert(strstr(err.msg, "max_output"), "%s", err.msg);
    /* under the limit it renders */
    st = render("{{ 'x' * 1000 }}", NULL, &opt, &out, &err);
    cr_assert_eq(st, MMRT_OK, "%s", err.msg);
    cr_assert_eq(strlen(out), 1000);
    free(out);
}

Test(jinja, max_memory) {
    char *out = NULL;
    mmrt_error err = {0};
    mmrt_jinja_options opt = {.max_memory = 16 << 20};
    mmrt_status st = render("{% set x = 'ab' * 400000 %}{% for i in range(1000) %}{% set y = x.upper() %}{% endfor %}",
                            NULL, &opt, &out, &err);
    cr_assert_eq(st, MMRT_ERR_INVALID_ARG, "status %d: %s", st, err.msg);
    cr_assert(strstr(err.msg, "max_memory = 16777216"), "%s", err.msg);
    cr_assert_null(out);
}

/* Work that is not a node visit (copying, scanning, comparing) is charged too, so a short template
 * cannot run for minutes within max_steps. */
Test(jinja, max_steps_charges_big_operations) {
    static const char *const srcs[] = {
        "{% set x = 'ab' * 400000 %}{% for i in range(100000) %}{% if 'z' in x %}{% endif %}{% endfor %}",
        "{% set x = range(50000)|list %}{% for i in range(100000) %}{% if x == x %}{% endif %}{% endfor %}",
        "{% set x = 'ab' * 400000 %}{% for i in range(100000) %}{% set y = x.find('z') %}{% endfor %}",
    };
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        char *out = NULL;
        mmrt_error err = {0};
        mmrt_jinja_options opt = {.max_steps = 1000000};
        mmrt_status st = render(srcs[i], NULL, &opt, &out, &err);
        cr_assert_eq(st, MMRT_ERR_INVALID_ARG, "case %zu: status %d: %s", i, st, err.msg);
        cr_assert(strstr(err.msg, "max_steps"), "case %zu: %s", i, err.msg);
    }
}

Test(jinja, big_dicts_stay_fast) {
    /* 25000 keys through dict(); lookups go through the hash index */
    char *out = NULL;
    mmrt_error err = {0};
    mmrt_status st = render("{% set d = dict(range(50000)|map('string')|batch(2)|list) %}{{ d|length }} {{ d['49998'] }}"
                            "{% for i in range(20000) %}{% if d[i|string] is defined %}{% endif %}{% endfor %}",
                            NULL, NULL, &out, &err);
    cr_assert_eq(st, MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(out, "25000 49999");
    free(out);
}

Test(jinja, syntax_error_positions) {
    static const struct {
        const char *src, *needle;
        mmrt_status st;
    } cases[] = {
        {"line one\n{{ x | foo }}", "t.jinja:2:8: unknown filter 'foo'", MMRT_ERR_UNSUPPORTED},
        {"a\nb\n  {% include 'x' %}", "t.jinja:3:6: unsupported tag 'include'", MMRT_ERR_UNSUPPORTED},
        {"{% if x %}\n{% for y in z %}", "t.jinja:2:17: unexpected end of template, expected 'endfor'", MMRT_ERR_BAD_FORMAT},
        {"{{ 1 + }}", "t.jinja:1:8: unexpected 'end of print statement'", MMRT_ERR_BAD_FORMAT},
        {"x {# open", "t.jinja:1:3: missing end of comment tag", MMRT_ERR_BAD_FORMAT},
        {"{{ x is nope }}", "t.jinja:1:9: unknown test 'nope'", MMRT_ERR_UNSUPPORTED},
        {"{% bogus %}", "t.jinja:1:4: unknown tag 'bogus'", MMRT_ERR_BAD_FORMAT},
        {"\xff", "t.jinja: the template is not valid UTF-8", MMRT_ERR_BAD_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mmrt_jinja_template *t = NULL;
        mmrt_error err = {0};
        mmrt_status st = mmrt_jinja_parse(cases[i].src, strlen(cases[i].src), "t.jinja", &t, &err);
        cr_expect_eq(st, cases[i].st, "case %zu: status %d, expected %d (%s)", i, st, cases[i].st, err.msg);
        cr_expect(strstr(err.msg, cases[i].needle) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].needle);
        cr_expect_null(t);
    }
}

Test(jinja, raise_exception_and_runtime_errors) {
    cJSON *ctx = cJSON_Parse("{\"messages\": [{\"role\": \"tool\"}]}");
    char *out = NULL;
    mmrt_error err = {0};
    mmrt_status st = render("{% for m in messages %}\n{% if m.role not in ['user', 'assistant'] %}"
                            "{{ raise_exception('Unknown role: ' + m.role) }}{% endif %}{% endfor %}",
                            ctx, NULL, &out, &err);
    cr_assert_eq(st, MMRT_ERR_BAD_FORMAT, "status %d: %s", st, err.msg);
    cr_assert_null(out);
    cr_assert(strstr(err.msg, "case.jinja:2:") && strstr(err.msg, "Unknown role: tool"), "%s", err.msg);
    err = (mmrt_error){0};
    st = render("{{ messages[0].content.strip() }}", ctx, NULL, &out, &err);
    cr_assert_eq(st, MMRT_ERR_BAD_FORMAT, "status %d: %s", st, err.msg);
    cr_assert(strstr(err.msg, "'dict object' has no attribute 'content'"), "%s", err.msg);
    cJSON_Delete(ctx);
}

Test(jinja, strftime_and_api) {
    char *out = NULL;
    mmrt_error err = {0};
    mmrt_jinja_options opt = {.now = 86400 * 365};
    cr_assert_eq(render("{{ strftime_now('%Y-%m-%d') }}", NULL, &opt, &out, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(out, "1971-01-01");
    free(out);
    cJSON *arr = cJSON_CreateArray();
    cr_assert_eq(render("x", arr, NULL, &out, &err), MMRT_ERR_INVALID_ARG);
    cJSON_Delete(arr);
    mmrt_jinja_template_free(NULL);
    cr_assert_eq(mmrt_jinja_parse("x", 1, NULL, NULL, &err), MMRT_ERR_INVALID_ARG);
    /* a template renders many times, the same each time */
    mmrt_jinja_template *t = NULL;
    cr_assert_eq(mmrt_jinja_parse("{{ 1 + 1 }}\n", 12, NULL, &t, &err), MMRT_OK, "%s", err.msg);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(mmrt_jinja_render(t, NULL, NULL, &out, &err), MMRT_OK, "%s", err.msg);
        cr_assert_str_eq(out, "2");
        free(out);
    }
    mmrt_jinja_template_free(t);
}

/* A parsed template is immutable: threads render it at once and all get the same text. */
typedef struct render_job {
    const mmrt_jinja_template *t;
    const cJSON *ctx;
    const char *want;
    int bad;
} render_job;

static void *render_many(void *arg) {
    render_job *j = arg;
    for (int i = 0; i < 200; i++) {
        char *out = NULL;
        mmrt_error err = {0};
        if (mmrt_jinja_render(j->t, j->ctx, NULL, &out, &err) != MMRT_OK || strcmp(out, j->want) != 0) j->bad++;
        free(out);
    }
    return NULL;
}

Test(jinja, concurrent_renders) {
    static const char src[] = "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
                              "<{{ m.role }}>{{ m.content | upper }}{% endfor %}{{ ns.n }}{{ messages | tojson }}";
    cJSON *ctx = cJSON_Parse("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"},"
                             " {\"role\": \"assistant\", \"content\": \"yo\"}]}");
    cr_assert_not_null(ctx);
    mmrt_jinja_template *t = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_jinja_parse(src, sizeof src - 1, NULL, &t, &err), MMRT_OK, "%s", err.msg);
    const char *want = "<user>HI<assistant>YO2[{\"role\": \"user\", \"content\": \"hi\"}, "
                       "{\"role\": \"assistant\", \"content\": \"yo\"}]";
    render_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (render_job){t, ctx, want, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, render_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(jobs[i].bad, 0, "thread %d: %d of 200 renders differ", i, jobs[i].bad);
    }
    mmrt_jinja_template_free(t);
    cJSON_Delete(ctx);
}
