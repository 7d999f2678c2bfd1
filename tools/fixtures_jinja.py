"""Jinja2 interpreter fixtures: small templates rendered by jinja2 in exactly the environment transformers
uses for chat templates (transformers.utils.chat_template_utils._compile_jinja_template: sandboxed,
trim_blocks, lstrip_blocks, loopcontrols, {% generation %}, its tojson, raise_exception, strftime_now).

tests/fixtures/jinja/cases.json
  {"versions": {...}, "now": <unix seconds>, "default_context": {...},
   "cases": [{"name", "template", "context"?, "expected"} or {"name", "template", "context"?, "error": true,
              "message": <jinja2's message>}]}
  A case without "context" renders with default_context; one with "context_json" (text) renders with
  that context read by json.loads (the C side passes it to mmrt_jinja_render_json).

strftime_now reads datetime.now(); this script replaces chat_template_utils.datetime by a class whose now()
returns the fixed UTC time NOW (as a naive datetime), and the C side renders with options.now = NOW.
Run: /work/venv/bin/python tools/fixtures_jinja.py
"""

import datetime as _dt
import json
import os
import platform
import sys

import jinja2
import transformers
from transformers.utils import chat_template_utils as ctu

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FIXTURES_DIR, rel, write_json  # noqa: E402

NOW = 1733580000  # 2024-12-07 14:00:00 UTC
OUT = os.path.join(FIXTURES_DIR, "jinja", "cases.json")


class _FixedDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return _dt.datetime.fromtimestamp(NOW, _dt.timezone.utc).replace(tzinfo=None)


MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <there> & 'you'"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}]
CTX = {"messages": MSGS, "add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>",
       "xs": [3, 1, 2], "names": ["b", "A", "c", "a"], "d": {"b": 2, "a": 1, "C": 3},
       "s": "  Hello World  ", "n": 7, "f": 2.5, "neg": -3, "empty": [], "e": "", "t": True, "no": None,
       "users": [{"name": "x", "age": 30, "tags": ["a"]}, {"name": "y", "age": 20, "tags": []},
                 {"name": "z", "age": 25}],
       "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather \"now\"",
                                                   "parameters": {"type": "object", "properties": {
                                                       "city": {"type": "string"}}, "required": ["city"]}}}],
       "uni": "héllo wörld ✓ 日本", "nested": {"a": {"b": {"c": [1, {"d": "deep"}]}}}}

CASES = []


def c(name, template, ctx=None):
    CASES.append((name, template, CTX if ctx is None else ctx))


# --- text, output, comments, whitespace control -------------------------------------------------------
c("text_plain", "plain text\nwith lines\n")
c("text_trailing_two_newlines", "a\n\n")
c("text_crlf", "a\r\nb\rc")
c("text_braces", "{ not a tag } { {x} }")
c("out_var", "{{ bos_token }}x{{eos_token}}")
c("out_int_float_bool_none", "{{ 1 }} {{ 1.0 }} {{ 2.50 }} {{ true }} {{ False }} {{ none }} {{ None }}")
c("out_list_repr", "{{ ['a', \"b\", 1, 2.0, none, true, [\"x\"]] }}")
c("out_tuple_repr", "{{ (1,) }} {{ (1, 'a') }} {{ () }} {{ 1, 2 }}")
c("out_dict_repr", "{{ {'a': 1, 'b': [1, 'x'], 3: none} }}")
c("out_str_repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n tab\\t back\\\\'] }}")
c("out_ctx_dict", "{{ d }} {{ users[0] }}")
c("out_float_repr", "{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1.5e-7 }} {{ 123456789.125 }} {{ -0.0 }} {{ 3.0 * 2 }}")
c("comment", "a{# comment #}b{#- strip -#}  c {# multi\nline #}d")
c("ws_minus_left", "a   \n  {{- 'x' }}")
c("ws_minus_right", "{{ 'x' -}}  \n  b")
c("ws_block_minus", "a \n {%- if true -%} \n b \n {%- endif -%}\n c")
c("ws_trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter")
c("ws_lstrip_blocks", "  {% if true %}\n    x\n  {% endif %}\nend")
c("ws_lstrip_not_var", "  {{ 'v' }}\n  {% if true %}y{% endif %}")
c("ws_plus_left", "  {%+ if true %}x{% endif %}")
c("ws_plus_right", "{% if true +%}\nx{% endif +%}\ny")
c("ws_lstrip_mid_line", "a  {% if true %}x{% endif %}  b")
c("ws_comment_trim", "  {# c #}\nx\n{# d #}\ny")
c("ws_tabs_lstrip", "\t\t{% for i in xs %}{{ i }}{% endfor %}\n!")
c("ws_for_lines", "{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n")
c("ws_var_trailing_newline", "{{ 'a' }}\n{{ 'b' }}\n")
c("ws_minus_both_text", "x  {#- c -#}  y")
# every strip-sign combination on both sides of each kind of tag, inside varied whitespace
_SIGNS = ["", "-", "+"]
_AROUND = ["a \n \t", " \n\n  ", "x", "\n", "  "]
for _kind, _open, _close in [("if", "{%@L if true @R%}", "{%@L endif @R%}"), ("set", "{%@L set q = 1 @R%}", ""),
                             ("comment", "{#@L c @R#}", ""), ("var", "{{@L 'v' @R}}", "")]:
    _parts = []
    for _i, (_l, _r) in enumerate((l, r) for l in _SIGNS for r in _SIGNS):
        if _kind == "var" and "+" in (_l, _r):  # {{+ is not a strip sign
            continue
        _w = _AROUND[_i % len(_AROUND)]
        _parts.append(f"[{_i}]{_w}" + _open.replace("@L", _l).replace("@R", _r) + f"{_w}body{_w}"
                      + _close.replace("@L", _l).replace("@R", _r) + _w)
    c(f"ws_signs_{_kind}", "".join(_parts))
c("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}!")
c("raw_ws", "  {%- raw -%}  a {{b}}  {%- endraw -%}  c")
c("raw_lstrip", "x\n  {% raw %}\n  r\n  {% endraw %}\ny")
c("ws_generation", "{% generation %}gen {{ 1 }}{% endgeneration %}|{%- generation -%}  x  {%- endgeneration %}")
# --- literals and expressions -------------------------------------------------------------------------
c("lit_strings", "{{ 'a\\nb' }}|{{ \"q\\\"q\" }}|{{ 'x' 'y' }}|{{ '\\u00e9\\x41\\t|' }}|{{ 'unk\\d' }}")
c("lit_numbers", "{{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1.5e3 }} {{ 2E-2 }} {{ 12.0 }}")
c("lit_list_dict", "{{ [1, [2, [3]]] }} {{ {'k': {'j': []}} }} {{ [] }} {{ {} }} {{ [1, 2,] }}")
c("lex_number_edges", "{{ 0 }} {{ 0_0 }} {{ 0X1f }} {{ 1.5e+3 }} {{ xs.0 }} {{ nested.a.b.c.0 }} {{ 9223372036854775807 }} {{ 1. ~ '' if false else 'ok' }}")
c("err_lex_trailing_underscore", "{{ 1_ }}")
c("err_lex_leading_zero", "{{ 01 }}")
c("lex_brackets_in_tags", "{{ {'a': 1}}}|{{ {'a': {'b': 1}}}}|{{ [1, [2]] }}")
c("lex_string_escapes", "{{ 'a\\\nb' }}|{{ '\\101\\0x' | length }}|{{ '\\u00e9\\U0001F600' }}")
c("float_extremes", "{{ 1e22 }} {{ 5e-324 }} {{ 1.7976931348623157e308 }} {{ 1e308 * 10 }} {{ -1e308 * 10 }} {{ 0.000123 }} {{ 100000000000000000000.0 }} {{ 2.5e-5|string }}")
c("float_floor_mod", "{{ 1.0 // 0.3 }} {{ -1.0 // 0.3 }} {{ 5 % -2.0 }} {{ 7.0 / 2 }} {{ 1/3 * 3 }} {{ -9223372036854775807 - 1 }}")
c("round_edges", "{{ 0.5|round }} {{ 1.5|round }} {{ -0.5|round }} {{ 1e-5|round(3) }} {{ 123.456|round(-1) }} {{ 5|round(-1) }} {{ 15|round(-1) }}")
c("arith_int", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 6 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}")
c("arith_float", "{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1.5 + 1 }} {{ 2 * 0.5 }} {{ 2.0 ** 0.5 }} {{ 10 / 4 }}")
c("arith_bool", "{{ true + 1 }} {{ false * 3 }} {{ true + true }}")
c("arith_unary", "{{ -n }} {{ +n }} {{ - -n }} {{ -f }} {{ not t }} {{ -(2 + 3) * 2 }}")
c("arith_precedence", "{{ 2 + 3 * 4 }} {{ (2 + 3) * 4 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 10 - 2 - 3 }} {{ (1 + 2) ~ 3 }} {{ 1 ~ 2 * 3 }}")
c("str_concat", "{{ 'a' + 'b' }} {{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ [1] * 2 }} {{ [1] + [2, 3] }} {{ (1,) + (2,) }}")
c("repeat_empty_huge", "[{{ [] * 9007199254740993 }}{{ '' * 9007199254740993 }}{{ 'ab' * -3 }}{{ [1] * 0 }}]")
c("str_concat_undef", "[{{ 'a' ~ missing ~ 'b' }}]")
c("compare", "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 4 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 != 2 }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ true == 1 }}")
c("compare_eq_types", "{{ 'a' == 'a' }} {{ [1] == [1] }} {{ (1,) == [1] }} {{ {'a': 1} == {'a': 1} }} {{ none == none }} {{ 'a' == 1 }}")
c("logic", "{{ true and false }} {{ true or false }} {{ 0 or 'x' }} {{ '' and 'y' }} {{ none or [] }} {{ 1 and 2 }} {{ not 0 }} {{ not not 'a' }}")
c("in_ops", "{{ 'a' in 'cat' }} {{ 'z' in 'cat' }} {{ 1 in [1, 2] }} {{ 'a' in d }} {{ 'x' not in d }} {{ '' in 'abc' }} {{ 3 not in xs }}")
c("condexpr", "{{ 'y' if t else 'n' }} {{ 'y' if no else 'n' }} [{{ 'y' if no }}] {{ 1 if false else 2 if false else 3 }}")
c("attr_item", "{{ users[0].name }} {{ users[1]['age'] }} {{ d.a }} {{ d['b'] }} {{ nested.a.b.c[1].d }} {{ xs[-1] }} {{ xs.0 }} {{ 'abc'[1] }} {{ uni[1] }}")
c("attr_method_priority", "{{ {'items': 5}['items'] }} {{ ({'keys': 1}.keys() | list) }}")
c("slice", "{{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[::2] }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ uni[1:4] }} {{ xs[5:] }} {{ xs[-10:2] }} {{ messages[1:][0].role }}")
c("call_method", "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a  b c '.split(none, 1) }}")
c("str_methods", "{{ 'abc'.upper() }} {{ 'ABC'.lower() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'aXa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'hello'.count('l') }}")
c("str_methods_pred", "{{ '123'.isdigit() }} {{ '12a'.isdigit() }} {{ 'abc'.isalpha() }} {{ '  '.isspace() }} {{ 'a1'.isalnum() }} {{ 'AB'.isupper() }} {{ 'ab'.islower() }} {{ ''.isdigit() }}")
c("str_startswith", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.endswith(('x',)) }}")
c("str_join_method", "{{ ', '.join(['a', 'b']) }} {{ '-'.join('abc') }}")
c("str_format_method", "{{ '{} and {}'.format('a', 1) }} {{ '{name}!'.format(name='x') }} {{ '{0}{0}'.format('r') }} {{ '{{}}'.format() }}")
c("str_misc_methods", "{{ 'a\\nb\\r\\nc'.splitlines() }} {{ 'prefix_x'.removeprefix('prefix_') }} {{ 'x.py'.removesuffix('.py') }} {{ 'aB'.swapcase() }}")
c("printf_operator", "{{ 'hi %s' % 'x' }} {{ '%s-%d' % ('a', 3) }} {{ '%5.2f|%-4d|%04d|%x|%o|%e|%r|%%' % (3.14159, 7, 42, 255, 8, 12345.678, 'q') }} {{ '%(a)s+%(b)s' % {'a': 1, 'b': 2} }} {{ '%.3s' % 'abcdef' }} {{ '%c' % 65 }}")
c("printf_format_filter", "{{ '%s-%d' | format('a', 3) }} {{ '%(x)s' | format(x='kw') }} {{ '%+d % d' | format(5, 5) }} {{ '%10s|' | format('r') }}")
c("err_printf_args", "{{ '%s %s' % ('a',) }}")
c("err_printf_extra", "{{ '%s' % ('a', 'b') }}")
c("scope_set_in_loop", "{% set x = 1 %}{% for i in [1,2] %}{{ x }}{% set x = i * 10 %}{{ x }}|{% endfor %}{{ x }}")
c("scope_macro_late_global", "{% macro m() %}{{ late }}{% endmacro %}{% set late = 5 %}{{ m() }}{% set v = 1 %}{% macro n() %}{{ v }}{% endmacro %}{% set v = 2 %}{{ n() }}")
c("scope_macro_args", "{% set x = 'outer' %}{% macro m(x='d') %}{% set x = x ~ '!' %}{{ x }}{% endmacro %}{{ m() }}{{ x }}")
c("scope_loop_var_shadow", "{% set items = [1,2] %}{% for items in items %}{{ items }}{% endfor %}{{ items }}{% set i = 'x' %}{% for i in [1] %}{% endfor %}{{ i }}")
c("scope_iteration_fresh", "{% for i in [1,2] %}{% if i == 2 %}[{{ y }}]{% endif %}{% set y = i %}{% endfor %}{% for m in [1,2] %}{% set c = m %}{% if m == 1 %}{% set c = 'one' %}{% endif %}{{ c }}{% endfor %}")
c("scope_if_sets", "{% if true %}{% set a = 1 %}{% else %}{% set a = 2 %}{% endif %}{{ a }}{% set b = 1 %}{% if true %}{% set b = b + 1 %}{% endif %}{{ b }}")
c("unicode_case", "{{ 'ñé✓ straße'|upper }} {{ 'ÀÉÎ ΑΒΓ ДЖЯ'|lower }} {{ 'élan vital'|title }} {{ 'élan'|capitalize }} {{ 'ÿ'.upper() }}")
c("unicode_final_sigma", "{{ 'ΣΑΣ ΟΔΟΣ Σ'|lower }} {{ 'ΟΔΟΣ.'.lower() }} {{ 'ΣΑΣ'|capitalize }} {{ 'σας'|upper }}")
c("printf_list_arg", "{{ 'x' % [1, 2] }} {{ 'x' % {'a': 1} }} {{ '%s' % [1, 2] }}")
c("tests_callable_undefined", "{{ missing is callable }} {{ d.zz is not callable }}")
c("empty_subscript_parses", "{% if false %}{{ x[] }}{% endif %}ok")
c("generator_filters", "{% if messages|selectattr('role', 'eq', 'nobody') %}truthy{% endif %} {{ [] | select is sequence }} {{ [] | map('upper') is iterable }} [{{ (xs|select)[0] }}] {{ xs|reverse|first }} {{ xs|select|reverse|list }} {{ d|items|list|length }} {{ 1 in xs|select }} {{ (xs|unique|list) + [9] }}")
c("err_generator_length", "{{ xs|select|length }}")
c("err_generator_tojson", "{{ xs|map('string')|tojson }}")
c("err_generator_last", "{{ xs|select|last }}")
c("err_generator_add", "{{ xs|select + [1] }}")
c("float_divmod_cpython", "{{ 1 // 0.1 }} {{ 1 % 0.1 }} {{ -4.0 % 1 }} {{ 4.0 % -1 }} {{ -0.0 // 1 }} {{ 0.0 // -1 }} {{ -7.5 // 2 }} {{ 7.5 % -2 }}")
c("tests_odd_even_float", "{{ 2.5 is odd }} {{ 2.5 is even }} {{ 3.0 is odd }} {{ 4.0 is even }} {{ 7.5 is divisibleby 2.5 }}")
c("err_test_extra_arg", "{{ 1 is true not in [1] }}")
c("generator_lazy_chain", "{{ not -1|items|batch(2) }} {{ 'x'|items|map('upper') is iterable }}")
c("unicode_greek_accents", "{{ 'Ωμέγα άέήίόύώ ϊϋ'|upper }} {{ 'ΆΈΉΊΌΎΏ ΪΫ'|lower }}")
c("int_float_strings", "{{ '1_000'|int }} {{ ' -7 '|int }} {{ '+3'|int }} {{ '1e3'|int }} {{ '0x1A'|int }} {{ '1__0'|int }} {{ '_1'|int }} {{ '12abc'|int(-1) }} {{ '1_000.5'|float }} {{ 'inf'|float }} {{ '-Infinity'|float }} {{ ' 2.5\n'|float }} {{ '1e400'|float }} {{ 'nan'|float }} {{ '.5'|float }} {{ '5.'|int }}")
c("dict_views", "{{ d.keys() }} {{ d.values() }} {{ d.items() }} {{ d.keys()|length }} {{ {}.items() is sequence }} {% if {}.keys() %}t{% else %}f{% endif %} [{{ d.keys()[0] }}] {{ d.values()|list }} {{ 'b' in d.keys() }} {{ d.items()|reverse|list }} {{ d.keys()|last }}")
c("err_dict_view_tojson", "{{ d.keys()|tojson }}")
c("markup_repr", "{{ ['<b>'|safe, 'x'|e] }}")
c("undef_int_err", "{{ missing|int }}")
c("dict_methods", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }}")
c("list_methods", "{{ xs.index(1) }} {{ [1, 1, 2].count(1) }}")
# --- statements ---------------------------------------------------------------------------------------
c("if_elif_else", "{% for i in [1, 2, 3, 4] %}{% if i == 1 %}one{% elif i == 2 %}two{% elif i == 3 %}three{% else %}other{% endif %} {% endfor %}")
c("if_tuple_cond", "{% if xs %}has{% endif %}{% if empty %}no{% else %}empty{% endif %}")
c("for_loop_vars", "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}")
c("for_prev_next", "{% for x in xs %}[{{ loop.previtem }},{{ loop.nextitem }}]{% endfor %}")
c("for_cycle", "{% for x in xs %}{{ loop.cycle('odd', 'even') }} {% endfor %}")
c("for_changed", "{% for u in [1, 1, 2, 2, 1] %}{% if loop.changed(u) %}[{{ u }}]{% endif %}{% endfor %}|{% for x in xs %}{{ loop.changed(1, 2) }}{% endfor %}")
c("for_else", "{% for x in empty %}{{ x }}{% else %}none{% endfor %}|{% for x in xs %}{{ x }}{% else %}none{% endfor %}")
c("for_unpack", "{% for a, b in [[1, 2], (3, 4)] %}{{ a }}-{{ b }} {% endfor %}")
c("for_dict", "{% for k in d %}{{ k }}{% endfor %}")
c("for_string", "{% for ch in 'héy' %}[{{ ch }}]{% endfor %}")
c("for_filtered", "{% for x in [1, 2, 3, 4, 5] if x is odd %}{{ x }}{{ loop.index }}{{ loop.length }} {% endfor %}")
c("for_nested_loop", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}")
c("for_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}")
c("for_undefined", "[{% for x in missing %}{{ x }}{% endfor %}]")
c("for_scope", "{% set v = 1 %}{% for x in xs %}{% set v = x %}{% endfor %}{{ v }}")
c("for_range", "{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(10, 0, -3) | list }} {{ range(0) | list }}")
c("int_extremes", "{{ range(9223372036854775800, 9223372036854775807, 5)|list }} {{ range(-9223372036854775807 - 1, 9223372036854775807, 9223372036854775807)|list }} {{ [1, 2, 3][::-9223372036854775807 - 1] }} {{ 'abc'[2::9223372036854775807] }} {{ [1, 2, 3][-9223372036854775807 - 1:9223372036854775807] }} {{ range(5, -5, -3)|list }}")
c("set_basic", "{% set a = 5 %}{% set b = a * 2 %}{{ a }} {{ b }}")
c("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}")
c("set_block", "{% set body %}Hi {{ bos_token }}{% endset %}[{{ body }}]")
c("set_block_filter", "{% set body | upper %}shout{% endset %}{{ body }}")
c("set_in_if", "{% if true %}{% set z = 3 %}{% endif %}{{ z }}")
# jinja2 makes names assigned directly at the top level template locals: inner scopes see them
# undefined until assigned, while assignments inside `if` keep the context's value visible
for _i, _src in enumerate([
        "{{ x }}{% set x = 5 %}{{ x }}",
        "{% for i in [1] %}[{{ x }}]{% endfor %}{% set x = 5 %}{{ x }}",
        "{% if true %}[{{ x }}]{% endif %}{% set x = 5 %}",
        "{% macro m() %}[{{ x }}]{% endmacro %}{{ m() }}{% set x = 5 %}{{ m() }}",
        "{% set y %}{% set x = 7 %}{{ x }}{% endset %}{{ y }}{{ x }}",
        "{% filter upper %}{% set x = 7 %}{% endfilter %}{{ x }}",
        "{% generation %}{% set x = 7 %}{% endgeneration %}{{ x }}",
        "{% if x is not defined %}{% set x = 1 %}{% endif %}{% for i in [1] %}[{{ x }}]{% endfor %}[{{ x }}]",
        "{% for i in [1] %}[{{ x }}]{% endfor %}{% if false %}{% set x = 1 %}{% endif %}",
        "{% set x %}[{{ x }}]{% endset %}{{ x }}",
        "{% macro m() %}{{ x }}{% endmacro %}{% set x = x + 1 %}{{ m() }}",
        "{% for i in [1] %}{% for j in [1] %}[{{ x }}]{% endfor %}{% endfor %}{% set x = 9 %}",
        "{% filter upper %}[{{ x }}]{% endfilter %}{% set x = 2 %}",
        "{% for i in [1] %}[{{ x }}]{% endfor %}{% macro x() %}{% endmacro %}",
        "{% for i in [1] %}[{{ x }}]{% endfor %}{% set x, y = 1, 2 %}",
        "{% for i in [1] %}[{{ x }}]{% set x = 4 %}[{{ x }}]{% endfor %}{% set x = 2 %}",
        "{% for i in [1] %}{{ x }}{% for j in [1] %}{% set x = 6 %}{% endfor %}{{ x }}{% endfor %}",
        "{% for i in [1,2] %}{% for j in [1] %}[{{ x }}]{% endfor %}{% set x = i %}{% endfor %}",
        "{% macro m() %}{% for j in [1] %}[{{ x }}]{% endfor %}{% set x = 1 %}[{{ x }}]{% endmacro %}{{ m() }}",
        "{% for i in [1,2] %}{% for j in [1] %}[{{ x }}]{% endfor %}{% if true %}{% set x = i %}{% endif %}{% endfor %}",
        "{% macro m() %}{% macro n() %}[{{ x }}]{% endmacro %}{{ n() }}{% set x = 1 %}{{ n() }}{% endmacro %}{{ m() }}",
        "{% set z %}{% for j in [1] %}[{{ x }}]{% endfor %}{% set x = 2 %}{% endset %}{{ z }}",
        "{% for i in [1,2] %}{% set x = x ~ i %}[{{ x }}]{% endfor %}"]):
    c(f"scope_template_locals_{_i}", _src, {"x": 5})
c("namespace", "{% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.count = ns.count + 1 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }}")
c("namespace_dict_arg", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{% set ns.c = 3 %}{{ ns.c }}")
c("macro_basic", "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }}")
c("macro_ws", "{%- macro m(x) -%}\n  [{{ x }}]\n{%- endmacro -%}\n{{ m(1) }}{{ m(2) }}")
c("macro_missing_arg", "{% macro m(a, b) %}{{ a }}[{{ b }}]{% endmacro %}{{ m(1) }}")
c("macro_nested_call", "{% macro inner(x) %}<{{ x }}>{% endmacro %}{% macro outer(y) %}{{ inner(y) }}{{ inner(y ~ y) }}{% endmacro %}{{ outer('z') }}")
c("macro_sees_globals", "{% macro m() %}{{ bos_token }}{% endmacro %}{{ m() }}")
c("macro_recursive", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n }}*{{ fact(n - 1) }}{% endif %}{% endmacro %}{{ fact(4) }}")
c("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1) }}|{{ m(1, 2, 3, k='v') }}{% macro n(a) %}{{ varargs|length }}{% endmacro %}|{{ n(1, 2) }}")
c("err_macro_extra_kw", "{% macro n(a) %}{{ varargs|length }}{% endmacro %}{{ n(1, k=2) }}")
c("err_macro_extra_arg", "{% macro n(a) %}{{ a }}{% endmacro %}{{ n(1, 2) }}")
c("filter_block", "{% filter upper %}abc {{ 'def' }}{% endfilter %}")
c("filter_block_chain", "{% filter replace('a', 'o') | upper %}banana{% endfilter %}")
c("dict_global", "{{ dict(a=1, b='x') }} {{ dict([['k', 'v']]) }}")
c("joiner_cycler", "{% set pipe = joiner(' | ') %}{% for x in xs %}{{ pipe() }}{{ x }}{% endfor %} {% set j = joiner() %}{{ j() }}{{ j() }}{{ j() }} {% set c = cycler('a', 'b', 'c') %}{{ c.next() }}{{ c.next() }}{{ c.current }}{{ c.next() }}{{ c.next() }}{% set _ = c.reset() %}{{ c.current }} {{ pipe is callable }}")
c("strftime", "{{ strftime_now('%Y-%m-%d %H:%M') }} {{ strftime_now('%d %B %Y') }} {{ strftime_now('%A %j') }}")
# --- tests ---------------------------------------------------------------------------------------------
c("tests_types", "{{ n is number }} {{ f is number }} {{ t is number }} {{ n is integer }} {{ f is integer }} {{ t is integer }} {{ f is float }} {{ s is string }} {{ n is string }} {{ d is mapping }} {{ xs is mapping }} {{ xs is iterable }} {{ n is iterable }} {{ s is sequence }} {{ d is sequence }} {{ n is sequence }}")
c("tests_defined", "{{ missing is defined }} {{ missing is undefined }} {{ n is defined }} {{ no is none }} {{ no is defined }} {{ d.zz is defined }} {{ messages[0].content is defined }} {{ missing is not defined }}")
c("tests_bool", "{{ t is boolean }} {{ n is boolean }} {{ t is true }} {{ 1 is true }} {{ false is false }} {{ none is false }}")
c("tests_num", "{{ 3 is odd }} {{ 3 is even }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}")
c("tests_cmp", "{{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 2 is gt 1 }} {{ 2 is le 2 }} {{ 2 is ge 3 }} {{ 'a' is in 'abc' }} {{ 1 is in xs }}")
c("tests_misc", "{{ range is callable }} {{ n is callable }} {{ none is sameas none }} {{ t is sameas true }} {{ 'a' is lower }} {{ 'A' is upper }} {{ 'x'|e is escaped }} {{ 'x' is escaped }}")
c("tests_arg_postfix", "{{ 2 is in xs[1:] }} {{ 9 is divisibleby xs[0] }} {{ 'user' is in messages[1].role }} {{ (3 is eq 3) and xs[0] is eq 3 }}")
c("tests_in_conditions", "{% if messages[0].role == 'system' and messages[0].content is string %}sys{% endif %}{% if tools is not none and tools | length > 0 %}tools{% endif %}")
# --- filters -------------------------------------------------------------------------------------------
c("f_trim", "[{{ s | trim }}] [{{ 'xxaxx' | trim('x') }}] [{{ '\\t a \\n' | trim }}]")
c("f_case", "{{ 'hello world' | upper }} {{ 'HeLLo' | lower }} {{ 'hello WORLD' | capitalize }} {{ 'hello wORLD-foo (bar' | title }}")
c("f_length", "{{ xs | length }} {{ 'héllo' | length }} {{ d | count }} {{ empty | length }} {{ missing | length }} {{ uni | length }}")
c("f_join", "{{ names | join }} {{ names | join(', ') }} {{ [1, 2] | join('-') }} {{ users | join(',', attribute='name') }} {{ users | map(attribute='name') | join('/') }}")
c("f_replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '-') }}")
c("f_default", "[{{ missing | default('dflt') }}] [{{ missing | d('x') }}] [{{ '' | default('e') }}] [{{ '' | default('e', true) }}] [{{ none | default('n') }}] [{{ none | default('n', boolean=true) }}] [{{ missing | default }}]")
c("f_first_last", "{{ xs | first }} {{ xs | last }} {{ 'abc' | first }} {{ 'abc' | last }} [{{ empty | first }}]")
c("f_list_string", "{{ 'ab' | list }} {{ d | list }} {{ 12 | string }} {{ [1] | string }} [{{ missing | string }}] {{ none | string }}")
c("f_int_float", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(5) }} {{ 3.9 | int }} {{ true | int }} {{ '3.5' | float }} {{ 'y' | float }} {{ 2 | float }} {{ ' 12 ' | int }}")
c("f_abs_round", "{{ -3 | abs }} {{ -2.5 | abs }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(method='floor') }} {{ 7 | round }} {{ 1234.5678 | round(-2) }}")
c("f_items", "{% for k, v in d | items %}{{ k }}{{ v }} {% endfor %}{{ d | items | list }}")
c("f_dictsort", "{{ d | dictsort }} {{ d | dictsort(true) }} {{ d | dictsort(by='value') }} {{ d | dictsort(reverse=true) }}")
c("f_sort", "{{ xs | sort }} {{ xs | sort(reverse=true) }} {{ names | sort }} {{ names | sort(case_sensitive=true) }} {{ users | sort(attribute='age') | map(attribute='name') | list }} {{ users | sort(attribute='name', reverse=true) | map(attribute='name') | join }}")
c("f_reverse", "{{ xs | reverse | list }} {{ 'abc' | reverse }}")
c("f_unique", "{{ [1, 2, 1, 3, 2] | unique | list }} {{ ['a', 'A', 'b'] | unique | list }} {{ ['a', 'A'] | unique(case_sensitive=true) | list }}")
c("f_minmax_sum", "{{ xs | min }} {{ xs | max }} {{ names | max }} {{ names | min(case_sensitive=true) }} {{ xs | sum }} {{ users | sum(attribute='age') }} {{ [0.5, 1] | sum(start=10) }} {{ users | max(attribute='age') }}")
c("f_map", "{{ names | map('upper') | list }} {{ users | map(attribute='age') | list }} {{ users | map(attribute='tags', default=['none']) | list }} {{ ['1', '2'] | map('int') | sum }} {{ names | map('replace', 'a', 'z') | list }}")
c("f_select", "{{ [0, 1, 2, 3, '', 'x'] | select | list }} {{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('even') | list }} {{ [1, 5, 9] | select('gt', 3) | list }} {{ ['a', 1, 'b'] | select('string') | list }}")
c("f_selectattr", "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | list }} {{ users | selectattr('tags') | map(attribute='name') | list }} {{ users | selectattr('age', 'gt', 22) | list | length }}")
c("f_selectattr_defined", "{{ users | selectattr('tags', 'defined') | map(attribute='name') | join }}")
c("f_indent", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb\\n' | indent(2, blank=true) }}|{{ 'x\\ny' | indent('> ') }}")
c("f_wordcount_center", "{{ 'hello big world' | wordcount }} [{{ 'ab' | center(7) }}] [{{ 'ab' | center(6) }}] [{{ 'abc' | center(2) }}]")
c("f_escape", "{{ '<a href=\"x\">&\\'</a>' | e }} {{ '<b>' | escape }} {{ '<b>' | safe }} {{ ('<b>' | safe) | e }} {{ 5 | e }}")
c("markup_concat", "{{ '<b>'|safe + '<i>' }} {{ '<i>' + '<b>'|safe }} {{ ('<b>'|safe + '\"') + 'x' }} {{ '<'|e + '>' }} {{ '<b>'|safe ~ '<i>' }}")
c("markup_macro_plain", "{% macro m() %}<b>{% endmacro %}{{ m() + '<' }} {{ '<'|safe + m() }}")
c("f_none_map_select", "[{{ none | selectattr('type', 'equalto', 'x') | list }}] [{{ none | map('upper') | list }}] [{{ '' | select | list }}]")
c("f_batch", "{{ [1, 2, 3, 4, 5] | batch(2) | list }} {{ [1, 2, 3] | batch(2, 'x') | list }}")
c("f_attr", "{{ users[0] | attr('name') }}")
c("f_tojson", "{{ 'x\"y\\n\\u00e9' | tojson }} {{ [1, 2.5, none, true, 'a'] | tojson }} {{ d | tojson }} {{ (1, 2) | tojson }} {{ {} | tojson }} {{ [] | tojson }}")
c("f_tojson_indent", "{{ tools | tojson(indent=2) }}\n{{ d | tojson(indent=4, sort_keys=true) }}\n{{ {'a': [], 'b': {}} | tojson(indent=1) }}")
c("f_tojson_separators", "{{ d | tojson(separators=(',', ':')) }} {{ tools[0] | tojson(sort_keys=true) }}")
c("f_tojson_unicode", "{{ uni | tojson }} {{ uni | tojson(ensure_ascii=true) }} {{ '\\x01\\x1f\\x7f' | tojson }} {{ '😀' | tojson(true) }}")
c("f_tojson_float", "{{ [1.0, 0.1, 1e20, -2.5e-9, 3] | tojson }}")
c("f_chain", "{{ messages | map(attribute='role') | unique | list | join(',') | upper }}")
c("f_in_expr", "{{ (xs | length) + 1 }} {{ -xs | length }} {{ xs | length > 2 }}")
# --- undefined -----------------------------------------------------------------------------------------
c("undef_print", "[{{ missing }}] [{{ d.zz }}] [{{ xs[10] }}] [{{ none.foo }}] [{{ 'abc'.zz }}]")
c("undef_bool", "{% if missing %}y{% else %}n{% endif %}{% if not missing %}!{% endif %}{{ missing is none }}")
c("undef_compare", "{{ missing == missing }} {{ missing == none }} {{ missing != 1 }}")
c("undef_in", "{{ 'a' in missing }}")
c("undef_default_chain", "{{ (d.zz or 'alt') }} {{ d.zz | default(d.a) }}")
c("undef_tojson_err", "{{ missing | tojson }}")
c("loop_outside", "{{ loop is defined }}")
# --- errors --------------------------------------------------------------------------------------------
c("err_raise", "{% if messages | length > 1 %}{{ raise_exception('Conversation roles must alternate!') }}{% endif %}")
c("err_undef_attr", "{{ missing.attr }}")
c("err_undef_attr2", "{{ d.zz.yy }}")
c("err_undef_add", "{{ missing + 1 }}")
c("err_type_add", "{{ 1 + 'a' }}")
c("err_div_zero", "{{ 1 / 0 }}")
c("err_floordiv_zero", "{{ 1 // 0 }}")
c("err_mod_zero", "{{ 5 % 0 }}")
c("err_call_undef", "{{ nothing() }}")
c("err_not_callable", "{{ n() }}")
c("err_list_append", "{% set l = [] %}{{ l.append(1) }}")
c("err_dict_update", "{{ d.update({'x': 1}) }}")
c("err_range_big", "{% for i in range(200000) %}{% endfor %}")
c("err_unpack", "{% for a, b in [[1, 2, 3]] %}{% endfor %}")
c("err_compare_types", "{{ 1 < 'a' }}")
c("err_sort_mixed", "{{ [1, 'a'] | sort }}")
c("err_ns_underscore", "{% set ns = namespace() %}{% set ns._x = 1 %}")
c("err_set_attr_non_ns", "{% set d.x = 1 %}")
c("err_syntax_unclosed", "{% if true %}x")
c("err_syntax_unknown_tag", "{% foo %}")
c("err_syntax_unknown_filter", "{{ x | nofilter }}")
c("err_syntax_unknown_test", "{{ x is notatest }}")
c("err_syntax_bad_expr", "{{ 1 + }}")
c("err_syntax_unclosed_var", "{{ x ")
c("err_syntax_stray_end", "{% endif %}")
c("err_syntax_comment", "{# never closed")
c("err_syntax_bracket", "{{ (1 }}")
c("err_syntax_include", "{% include 'x.jinja' %}")
c("err_len_int", "{{ 5 | length }}")
c("err_iter_int", "{% for x in 5 %}{% endfor %}")
c("err_macro_kw", "{% macro m(a) %}{% endmacro %}{{ m(b=1) }}")
c("err_str_in_list", "{{ 1 in 'abc' }}")
# --- chat-template style ---------------------------------------------------------------------------
c("chat_chatml", "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
c("chat_llama2", "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")
c("chat_tools_json", "{%- if tools %}\n<tools>\n{%- for tool in tools %}\n{{ tool | tojson }}\n{%- endfor %}\n</tools>\n{%- endif %}\n{%- for m in messages %}\n<{{ m.role }}>{{ m.content | trim }}\n{%- endfor %}")
c("chat_multiline_ws", "{%- for message in messages -%}\n    {%- if message.role == 'user' -%}\n        User: {{ message.content }}\n    {% elif message.role == 'assistant' -%}\n        Assistant: {{ message.content }}\n    {%- endif %}\n{% endfor -%}\n{%- if add_generation_prompt %}Assistant:{% endif -%}")
c("chat_content_list", "{% for m in msgs %}{% if m.content is string %}{{ m.content }}{% else %}{% for p in m.content %}{% if p.type == 'image' %}<image>{% elif p.type == 'text' %}{{ p.text }}{% endif %}{% endfor %}{% endif %}\n{% endfor %}",
  {"msgs": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What?"}]}, {"role": "assistant", "content": "A cat."}]})
c("ctx_empty", "{{ x | default('none given') }}", {})
c("ctx_nested_unicode", "{{ a.b }} {{ a.b | length }} {{ a.b[0] }} {{ a.b | tojson }}", {"a": {"b": "ñ中😀"}})


# Contexts given as JSON text (mmrt_jinja_render_json): read with json.loads, so floats stay floats.
CTX_TEXT = ('{"x": 1.0, "y": [2.0, 3, -0.0, 1e16, 1.5e-7, 10E2], "z": {"a": 1.0, "b": [1, 2.50]}, "n": NaN, '
            '"i": -Infinity, "big": 9007199254740993, "s": "\\ud83d\\ude00 \\u00e9 \\"q\\" \\\\ \\/ \\t", '
            '"dup": 1, "dup": 2, "e": {}, "l": [], "t": true, "no": null}')
TEXT_CASES = [
    ("text_ctx_floats", "{{ x }} {{ y }} {{ z }} {{ n }} {{ i }} {{ big }} {{ x|tojson }} {{ y|tojson }} {{ z|tojson(indent=1) }}"),
    ("text_ctx_strings", "{{ s }}|{{ s|tojson }}|{{ s|length }}|{{ dup }}|{{ e }}{{ l }}{{ t }}{{ no }}|{{ x is float }} {{ big is integer }}"),
    ("text_ctx_arith", "{{ x + 1 }} {{ x * 3 }} {{ (x|int) + 1 }} {{ y[0] // 2 }} {{ y[1] / 2 }} {{ big + 1 }}"),
]


def render(template, ctx):
    try:
        return {"expected": ctu._compile_jinja_template(template).render(**ctx)}
    except Exception as e:  # noqa: BLE001 - every jinja2 failure is an expected-error case
        return {"error": True, "message": f"{type(e).__name__}: {e}"}


def main():
    ctu.datetime = _FixedDatetime
    cases = []
    for name, template, ctx in CASES:
        case = {"name": name, "template": template}
        if ctx is not CTX:
            case["context"] = ctx
        case.update(render(template, ctx))
        cases.append(case)
    for name, template in TEXT_CASES:
        case = {"name": name, "template": template, "context_json": CTX_TEXT}
        case.update(render(template, json.loads(CTX_TEXT)))
        cases.append(case)
    names = [x["name"] for x in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    doc = {"versions": {"python": platform.python_version(), "jinja2": jinja2.__version__,
                        "transformers": transformers.__version__},
           "now": NOW, "now_note": "strftime_now renders this UTC time (chat_template_utils.datetime patched)",
           "default_context": CTX, "cases": cases}
    write_json(OUT, doc)
    n_err = sum(1 for x in cases if x.get("error"))
    print(f"wrote {rel(OUT)}: {len(cases)} cases ({n_err} errors), {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
