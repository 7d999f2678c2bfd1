/* A Jinja2 interpreter for Hugging Face chat templates.
 *
 * It renders a template the way transformers does (transformers/utils/chat_template_utils.py,
 * _compile_jinja_template): jinja2's ImmutableSandboxedEnvironment with trim_blocks and
 * lstrip_blocks, the loopcontrols extension ({% break %}, {% continue %}), the {% generation %}
 * block (its body is rendered, in a scope of its own), a `tojson` filter that does not escape HTML
 * (json.dumps(x, ensure_ascii=False, indent=, separators=, sort_keys=)), and the globals
 * raise_exception(msg), strftime_now(fmt), namespace(...), dict(...), joiner(sep), cycler(...),
 * range(...) (at most 100000 items, as the sandbox allows).
 *
 *     mmrt_jinja_template *t = NULL;
 *     if (mmrt_jinja_parse(src, strlen(src), "chat_template.jinja", &t, &err) != MMRT_OK) ...
 *     char *text = NULL;
 *     if (mmrt_jinja_render(t, context, NULL, &text, &err) != MMRT_OK) ...
 *     free(text);
 *     mmrt_jinja_template_free(t);
 *
 * Values follow Python: {{ }} prints str() of the value (True, None, 1.0, ['a', 'b']), integer
 * division and modulo floor, strings index and measure by code point, dicts keep insertion order.
 * The context is a JSON object, as a cJSON tree (numbers that hold an exact integer below 2^53
 * become Python ints, others floats: a JSON 1.0 reads as 1) or as JSON text (read exactly as
 * json.loads does). Integers are 64-bit: a
 * result that overflows is an error, not a big integer. upper/lower/title/capitalize map ASCII,
 * Latin-1, Latin Extended-A, Greek and Cyrillic letters (ß -> SS, final sigma). Undefined names
 * behave as jinja2's default Undefined (print as nothing, falsy, iterate as empty; attribute
 * access, arithmetic and calls on them are errors). Scoping is jinja2's: loop bodies, macros and
 * block bodies have their own variables (namespaces carry values out), `if` has none, and a name
 * a body assigns is undefined in scopes nested in it until assigned there. Filters that are
 * generators in jinja2 (map, select, reject, selectattr, rejectattr, batch, unique, items,
 * reverse) give values that are always true and have no length, as there; printed, they read
 * "<generator object>" (jinja2 adds an address).
 *
 * Not supported (a parse error naming the tag or filter): template inheritance and inclusion
 * (extends, block, include, import, from), call blocks, `with` and autoescape tags, recursive loops,
 * star-arguments (*args, **kwargs) in calls, and filters outside the documented set (see
 * jinja_filters.c). Macros have no `caller`; the global lipsum does not exist.
 *
 * Errors name the source, line and column: "chat_template.jinja:3:14: unknown filter 'foo'".
 * Syntax errors are MMRT_ERR_BAD_FORMAT; unsupported constructs MMRT_ERR_UNSUPPORTED; errors
 * while rendering (undefined attribute access, type errors, raise_exception("msg"), whose message
 * includes msg) MMRT_ERR_BAD_FORMAT; a limit reached (steps, depth, output, memory)
 * MMRT_ERR_INVALID_ARG naming the limit; out of memory MMRT_ERR_OOM.
 */
#ifndef MMRT_TEXT_JINJA_H
#define MMRT_TEXT_JINJA_H

#include "core/error.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* A parsed template: immutable once parsed, so any number of threads may render it at once. */
typedef struct mmrt_jinja_template mmrt_jinja_template;

/* Parses src[0..len) (UTF-8; need not be NUL-terminated). source_name labels messages (NULL reads
 * as "template"). Nesting of expressions and blocks is bounded (MMRT_JINJA_MAX_PARSE_DEPTH): deeper
 * input is an error, not a stack overflow. *out is NULL on failure; free with
 * mmrt_jinja_template_free. */
mmrt_status mmrt_jinja_parse(const char *src, size_t len, const char *source_name,
                             mmrt_jinja_template **out, mmrt_error *err);
void mmrt_jinja_template_free(mmrt_jinja_template *t); /* NULL is a no-op */

#define MMRT_JINJA_MAX_PARSE_DEPTH 200

/* Bounds on one render; a zero field takes the default. */
typedef struct mmrt_jinja_options {
    int64_t max_steps;  /* nodes evaluated, loop iterations and items built (default 10 million) */
    int32_t max_depth;  /* nesting of statements, macro calls and expressions (default 200, at most
                         * 1000: deeper recursion could exhaust a thread's stack) */
    size_t max_output;  /* bytes of output, also of any intermediate string (default 64 MiB) */
    size_t max_memory;  /* bytes the render may allocate in all (default 512 MiB) */
    int64_t now;        /* unix seconds (UTC) for strftime_now; 0 = the current time */
} mmrt_jinja_options;

/* Renders t with the variables of `context` (a JSON object, or NULL for none) into *out
 * (malloc'ed, NUL-terminated; caller frees; NULL on failure). opt NULL means all defaults.
 * cJSON keeps numbers as doubles, so an integral JSON float (1.0) reads as the int 1 here. */
mmrt_status mmrt_jinja_render(const mmrt_jinja_template *t, const cJSON *context,
                              const mmrt_jinja_options *opt, char **out, mmrt_error *err);

/* The same with the context given as JSON text (json[0..len), one object; NULL for none), read
 * exactly as Python's json.loads reads it: 1.0 stays a float, 1 an int (integers beyond 64 bits
 * are refused), NaN/Infinity are accepted. Prefer it when the context arrives as JSON. A bad
 * context is MMRT_ERR_BAD_FORMAT naming the byte offset. */
mmrt_status mmrt_jinja_render_json(const mmrt_jinja_template *t, const char *json, size_t len,
                                   const mmrt_jinja_options *opt, char **out, mmrt_error *err);

#endif
