/* text/chat_template.h: where a checkpoint's template is found, the variables transformers
 * passes it, message content as strings or typed parts, and the errors a user sees. (The
 * interpreter itself is checked against transformers in test_jinja.c and test_chat_templates.c.) */
#include "text/chat_template.h"

#include "helpers/tmpdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every variable the template sees, in one line. */
static const char *const dump_vars =
    "{{ bos_token }}|{{ eos_token }}|{{ pad_token }}|{{ unk_token }}|{{ image_token }}|{{ sep_token is defined }}|"
    "{{ tools }}|{{ documents }}|{{ add_generation_prompt }}";

static char *render1(const mmrt_chat_template *t, const char *system, const char *user) {
    char *out = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_chat_render(t, system, user, &out, &err), MMRT_OK, "%s", err.msg);
    return out;
}

Test(chat_template, special_tokens_as_transformers_passes_them) {
    char *dir = tmpdir_make("chat");
    /* named tokens as strings and as AddedToken objects, a model-specific "*_token", an
     * extra_special_tokens list (no variables), and the legacy special_tokens_map.json merged over
     * them; with "added_tokens_decoder" in the config, that file is ignored. Expected values:
     * transformers 5.23's apply_chat_template(tokenize=False) on the same files (with the fixture
     * tokenizer.json of llama/odd-sizes). */
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"bos_token\": \"<s>\", \"eos_token\": {\"__type\": \"AddedToken\", \"content\": \"</s>\"}, "
             "\"pad_token\": null, \"image_token\": \"<image>\", \"extra_special_tokens\": [\"<x>\"], "
             "\"chat_template\": \"%s\"}",
             dump_vars);
    free(tmpdir_write_str(dir, "tokenizer_config.json", cfg));
    free(tmpdir_write_str(dir, "special_tokens_map.json",
                          "{\"bos_token\": \"<ignored>\", \"unk_token\": {\"content\": \"<unk>\"}, \"pad_token\": \"<pad>\"}"));
    mmrt_chat_template t;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_chat_template_load(dir, false, &t, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(mmrt_chat_template_kind(&t), "jinja");
    cr_assert(strstr(t.source, "tokenizer_config.json"), "%s", t.source);
    char *out = render1(&t, NULL, "hi");
    cr_assert_str_eq(out, "<ignored>|</s>|<pad>|<unk>|<image>|False|None|None|True");
    free(out);
    mmrt_chat_template_free(&t);

    snprintf(cfg, sizeof cfg,
             "{\"added_tokens_decoder\": {}, \"bos_token\": \"<s>\", \"eos_token\": {\"__type\": \"AddedToken\", "
             "\"content\": \"</s>\"}, \"pad_token\": null, \"image_token\": \"<image>\", \"chat_template\": \"%s\"}",
             dump_vars);
    free(tmpdir_write_str(dir, "tokenizer_config.json", cfg));
    cr_assert_eq(mmrt_chat_template_load(dir, false, &t, &err), MMRT_OK, "%s", err.msg);
    out = render1(&t, NULL, "hi");
    cr_assert_str_eq(out, "<s>|</s>|||<image>|False|None|None|True");
    free(out);
    mmrt_chat_template_free(&t);
    tmpdir_remove(dir);
}

/* transformers' precedence: chat_template.jinja, then for a tokenizer tokenizer_config.json before
 * chat_template.json, for a processor the other way round. */
Test(chat_template, found_where_transformers_looks) {
    char *dir = tmpdir_make("chat");
    free(tmpdir_write_str(dir, "tokenizer_config.json", "{\"chat_template\": \"tokenizer\"}"));
    free(tmpdir_write_str(dir, "chat_template.json", "{\"chat_template\": \"processor\"}"));
    static const struct {
        bool processor;
        const char *want;
    } order[] = {{false, "tokenizer"}, {true, "processor"}};
    for (size_t i = 0; i < 2; i++) {
        mmrt_chat_template t;
        mmrt_error err = {0};
        cr_assert_eq(mmrt_chat_template_load(dir, order[i].processor, &t, &err), MMRT_OK, "%s", err.msg);
        char *out = render1(&t, NULL, "x");
        cr_assert_str_eq(out, order[i].want);
        free(out);
        mmrt_chat_template_free(&t);
    }
    free(tmpdir_write_str(dir, "chat_template.jinja", "jinja {{ messages | length }}\n"));
    mmrt_chat_template t;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_chat_template_load(dir, false, &t, &err), MMRT_OK, "%s", err.msg);
    char *out = render1(&t, "sys", "x");
    cr_assert_str_eq(out, "jinja 2"); /* system + user; jinja2 drops a template's final newline */
    free(out);
    mmrt_chat_template_free(&t);
    tmpdir_remove(dir);
}

/* A list of templates in tokenizer_config.json: "default" wins. */
Test(chat_template, named_templates_take_the_default) {
    char *dir = tmpdir_make("chat");
    free(tmpdir_write_str(dir, "tokenizer_config.json",
                          "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"tools\"}, "
                          "{\"name\": \"default\", \"template\": \"default\"}]}"));
    mmrt_chat_template t;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_chat_template_load(dir, false, &t, &err), MMRT_OK, "%s", err.msg);
    char *out = render1(&t, NULL, "x");
    cr_assert_str_eq(out, "default");
    free(out);
    mmrt_chat_template_free(&t);
    tmpdir_remove(dir);
}

/* Content as a processor passes it (typed parts, media by type) or as a string (media as the
 * encoder's placeholder text). */
Test(chat_template, content_as_parts_or_string) {
    static const char tpl[] =
        "{% for m in messages %}{{ m.role }}={% if m.content is string %}S:{{ m.content }}"
        "{% else %}{% for p in m.content %}[{{ p.type }}{% if p.type == 'text' %}:{{ p.text }}{% endif %}]"
        "{% endfor %}{% endif %};{% endfor %}";
    mmrt_chat_template t;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_chat_template_parse(tpl, "inline", &t, &err), MMRT_OK, "%s", err.msg);
    mmrt_chat_part parts[] = {{.text = "Listen: "}, {.image = true, .text = "<|audio|>", .kind = "audio"},
                              {.image = true}, {.text = "?"}};
    char *out = NULL;
    cr_assert_eq(mmrt_chat_render_parts(&t, "be brief", parts, 4, false, &out, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(out, "system=S:be brief;user=S:Listen: <|audio|><image>?;");
    free(out);
    t.content_parts = true;
    cr_assert_eq(mmrt_chat_render_parts(&t, "be brief", parts, 4, false, &out, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(out, "system=[text:be brief];user=[text:Listen: ][audio][image][text:?];");
    free(out);
    cr_assert_eq(mmrt_chat_render_parts(&t, "be brief", parts, 4, true, &out, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(out, "Listen: <|audio|><image>?", "raw: the parts alone");
    free(out);
    /* a whole conversation */
    mmrt_chat_part a = {.text = "hello"}, b = {.text = "hi!"};
    mmrt_chat_message msgs[] = {{"user", &a, 1}, {"assistant", &b, 1}, {"user", &a, 1}};
    cr_assert_eq(mmrt_chat_render_messages(&t, msgs, 3, false, &out, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(out, "user=[text:hello];assistant=[text:hi!];user=[text:hello];");
    free(out);
    mmrt_chat_template_free(&t);
}

Test(chat_template, strftime_now_takes_the_fixed_date) {
    mmrt_chat_template t;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_chat_template_parse("{{ strftime_now('%d %b %Y') }}", "inline", &t, &err), MMRT_OK, "%s",
                 err.msg);
    t.now = 1768478400; /* 2026-01-15 12:00:00 UTC */
    char *out = render1(&t, NULL, "x");
    cr_assert_str_eq(out, "15 Jan 2026");
    free(out);
    mmrt_chat_template_free(&t);
}

/* A template the interpreter cannot parse still loads (raw prompts work); rendering names the
 * file, the construct and --raw. raise_exception's message reaches the user with the file. */
Test(chat_template, errors_name_the_file_and_the_construct) {
    char *dir = tmpdir_make("chat");
    free(tmpdir_write_str(dir, "chat_template.jinja", "{% for m in messages %}\n{% include 'x.jinja' %}{% endfor %}"));
    mmrt_chat_template t;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_chat_template_load(dir, false, &t, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(mmrt_chat_template_kind(&t), "unsupported");
    char *out = NULL;
    cr_assert_eq(mmrt_chat_render(&t, NULL, "x", &out, &err), MMRT_ERR_UNSUPPORTED);
    cr_assert(strstr(err.msg, "chat_template.jinja:2") && strstr(err.msg, "include") && strstr(err.msg, "--raw"),
              "%s", err.msg);
    cr_assert_null(out);
    mmrt_chat_part part = {.text = "x"};
    cr_assert_eq(mmrt_chat_render_parts(&t, NULL, &part, 1, true, &out, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(out, "x");
    free(out);
    mmrt_chat_template_free(&t);

    free(tmpdir_write_str(dir, "chat_template.jinja",
                          "{% if messages[0].role != 'system' %}{{ raise_exception('Conversations must start with "
                          "a system message') }}{% endif %}"));
    cr_assert_eq(mmrt_chat_template_load(dir, false, &t, &err), MMRT_OK, "%s", err.msg);
    mmrt_error_clear(&err);
    cr_assert_neq(mmrt_chat_render(&t, NULL, "x", &out, &err), MMRT_OK);
    cr_assert(strstr(err.msg, "chat_template.jinja") && strstr(err.msg, "must start with a system message"), "%s",
              err.msg);
    mmrt_chat_template_free(&t);

    free(tmpdir_write_str(dir, "tokenizer_config.json", "{\"chat_template\": "));
    char *jinja = tmpdir_path(dir, "chat_template.jinja");
    remove(jinja);
    free(jinja);
    cr_assert_eq(mmrt_chat_template_load(dir, false, &t, &err), MMRT_ERR_BAD_FORMAT);
    cr_assert(strstr(err.msg, "tokenizer_config.json"), "%s", err.msg);
    tmpdir_remove(dir);
}

/* No template: prompts go in as they are (the session warns). */
Test(chat_template, no_template_passes_text_through) {
    char *dir = tmpdir_make("chat");
    mmrt_chat_template t;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_chat_template_load(dir, false, &t, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(mmrt_chat_template_kind(&t), "none");
    char *out = render1(&t, NULL, "as is");
    cr_assert_str_eq(out, "as is");
    free(out);
    mmrt_chat_template_free(&t);
    tmpdir_remove(dir);
}
