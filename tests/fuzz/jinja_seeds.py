"""Seeds and dictionary of the fuzz_jinja target (called by make_corpus.py).

A seed is a template, then a NUL byte and a JSON context (tests/fuzz/fuzz_jinja.c): the small
cases of tests/fixtures/jinja/cases.json (one in three, to stay small) and a few real chat
templates with one conversation each, plus broken variants (cut in the middle, unbalanced tags).
"""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures")

CHAT = ["smollm2-instruct", "llama-3.1-8b-instruct", "qwen2.5-7b-instruct", "gemma-3-it",
        "mistral-7b-instruct-v0.1", "functionary-medium-v3.1", "granite-3.3-2b-instruct", "phi-4-mini-instruct"]


def seed(template, ctx):
    return template.encode("utf-8") + b"\0" + json.dumps(ctx, ensure_ascii=False, separators=(",", ":")).encode()


def main(write, write_dict):
    t = "jinja"
    with open(os.path.join(FIX, "jinja", "cases.json"), encoding="utf-8") as f:
        doc = json.load(f)
    small_ctx = {k: doc["default_context"][k] for k in ("messages", "xs", "d", "s", "n", "users", "tools")}
    for i, c in enumerate(doc["cases"]):
        if i % 3 == 0 or c.get("error"):
            write(t, "case_" + c["name"], seed(c["template"], c.get("context", small_ctx)))
    path = os.path.join(FIX, "chat_templates", "cases.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            chat = json.load(f)
        for tpl in chat["templates"]:
            if tpl["id"] not in CHAT:
                continue
            with open(os.path.join(FIX, "chat_templates", tpl["file"]), encoding="utf-8") as f:
                src = f.read()
            case = max(tpl["cases"][:6], key=lambda x: len(json.dumps(x["context"])))
            write(t, "chat_" + tpl["id"], seed(src, case["context"]))
            write(t, "chat_cut_" + tpl["id"], seed(src[: len(src) // 2], case["context"]))
    write(t, "deep_parens", "{{ " + "(" * 300 + "1" + ")" * 300 + " }}")
    write(t, "deep_ifs", "{% if x %}" * 300)
    write(t, "loops", "{% for i in range(99999) %}{% for j in range(99999) %}{{ i }}{% endfor %}{% endfor %}")
    write(t, "no_context", "{{ messages[0].content | tojson(indent=2) }}{{ missing.x }}")
    write_dict(t, "fuzz_jinja (template NUL context)",
               "",
               ["{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", "{%+", "+%}", "\\x00",
                "for", "in", "endfor", "if", "elif", "else", "endif", "set", "endset", "macro", "endmacro",
                "filter", "endfilter", "raw", "endraw", "generation", "endgeneration", "break", "continue",
                "namespace(", "loop.index", "loop.cycle(", "is defined", "is not none", "not in", " and ",
                " or ", " if ", "|tojson", "|tojson(indent=2)", "|length", "|join(", "|map(attribute=",
                "|selectattr(", "|default(", "|trim", "|items", "|dictsort", "|indent(", "|safe", "|e",
                "range(", "raise_exception(", "strftime_now(", "dict(", ".items()", ".split(", ".strip(",
                ".startswith(", "messages", "message['content']", "add_generation_prompt", "[::-1]", "[1:]",
                "**", "//", "~", "'\\u00e9'", "1e308", "-9223372036854775808"])
