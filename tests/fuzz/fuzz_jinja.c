/* libFuzzer target: the Jinja2 interpreter (text/jinja.h) on hostile templates and contexts.
 *
 * The input is a template, optionally followed by a NUL byte and a JSON context object (without
 * one a fixed chat-like context is used). The template is parsed; a parsed template is rendered
 * twice under small limits, which must give the same result both times: either text or a status
 * with a message. The context text is also rendered through mmrt_jinja_render_json (its own
 * JSON reader). Failures must be clean: no crash, leak or sanitizer report on any input,
 * including deep nesting and endless loops.
 */
#include "fuzz_common.h"

#include "core/json.h"
#include "text/jinja.h"

static const char DEFAULT_CONTEXT[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"image\"},{\"type\":\"text\",\"text\":\"Hi <b>\"}]},"
    "{\"role\":\"assistant\",\"content\":\"ok\",\"tool_calls\":[{\"function\":{\"name\":\"f\","
    "\"arguments\":{\"x\":1.5,\"y\":[null,true]}}}]}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}],"
    "\"add_generation_prompt\":true,\"bos_token\":\"<s>\",\"eos_token\":\"</s>\",\"n\":3,\"s\":\"h\xc3\xa9llo\"}";

static const mmrt_jinja_options OPT = {.max_steps = 200000, .max_depth = 64, .max_output = 1 << 20,
                                       .max_memory = 64 << 20, .now = 1700000000};

static void render_once(const mmrt_jinja_template *t, const cJSON *ctx, char **out, mmrt_status *st,
                        mmrt_error *err) {
    *out = (char *)1;
    *err = (mmrt_error){0};
    *st = mmrt_jinja_render(t, ctx, &OPT, out, err);
    fuzz_note("mmrt_jinja_render", *st, err);
    if (*st != MMRT_OK) {
        fuzz_check_error(*st, err);
        FUZZ_CHECK(*out == NULL);
    } else {
        FUZZ_CHECK(*out != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *nul = memchr(data, '\0', size);
    size_t tlen = nul ? (size_t)(nul - (const char *)data) : size;
    cJSON *ctx = NULL;
    mmrt_error err = {0};
    if (nul) {
        mmrt_status st = mmrt_json_parse(nul + 1, size - tlen - 1, "context", &ctx, &err);
        if (st != MMRT_OK) ctx = NULL;
    } else {
        ctx = cJSON_Parse(DEFAULT_CONTEXT);
        FUZZ_CHECK(ctx != NULL);
    }
    mmrt_jinja_template *t = (mmrt_jinja_template *)1;
    err = (mmrt_error){0};
    mmrt_status st = mmrt_jinja_parse((const char *)data, tlen, "fuzz.jinja", &t, &err);
    fuzz_note("mmrt_jinja_parse", st, &err);
    if (st != MMRT_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(t == NULL);
        cJSON_Delete(ctx);
        return 0;
    }
    FUZZ_CHECK(t != NULL);
    char *a, *b;
    mmrt_status sa, sb;
    mmrt_error ea, eb;
    render_once(t, ctx, &a, &sa, &ea);
    render_once(t, ctx, &b, &sb, &eb);
    FUZZ_CHECK(sa == sb);
    if (sa == MMRT_OK) FUZZ_CHECK(strcmp(a, b) == 0);
    else FUZZ_CHECK(strcmp(ea.msg, eb.msg) == 0);
    free(a);
    free(b);
    if (nul) { /* the context as text: clean success or failure, whatever the bytes */
        char *c = (char *)1;
        err = (mmrt_error){0};
        st = mmrt_jinja_render_json(t, nul + 1, size - tlen - 1, &OPT, &c, &err);
        fuzz_note("mmrt_jinja_render_json", st, &err);
        if (st != MMRT_OK) {
            fuzz_check_error(st, &err);
            FUZZ_CHECK(c == NULL);
        }
        free(st == MMRT_OK ? c : NULL);
    }
    mmrt_jinja_template_free(t);
    cJSON_Delete(ctx);
    return 0;
}
