/* Internals of the Jinja2 interpreter (text/jinja.h), shared by text/jinja_*.c:
 *   jinja_pool.c    the bump pool every parse and render allocates from, and the output buffer
 *   jinja_lex.c     source -> tokens (jinja2's lexer with trim_blocks and lstrip_blocks)
 *   jinja_parse.c   tokens -> syntax tree: statements (jinja2's parser, a bounded recursive descent)
 *   jinja_parse_expr.c  expressions (shared parser state in jinja_parser.h)
 *   jinja_value.c   Python values: conversion from cJSON, truth, equality, order, str(), repr()
 *   jinja_dict.c    ordered dicts with a hash index
 *   jinja_json.c    tojson (Python's json.dumps)
 *   jinja_ctx_json.c  render contexts from JSON text (Python's json.loads)
 *   jinja_eval.c    statements and expressions
 *   jinja_ops.c     arithmetic, attribute and item access, slicing
 *   jinja_filters.c filters and tests
 *   jinja_methods.c str/dict/list methods and the globals (range, namespace, dict, ...)
 *   jinja_printf.c  the % string-formatting operator and the format filter
 * Everything a render creates lives in its pool and is released at once when it ends, which is
 * why values carry no reference counts: lists and dicts are immutable in the sandbox; only
 * namespaces (and a loop's loop.changed memory) change, in place.
 */
#ifndef MMRT_TEXT_JINJA_IMPL_H
#define MMRT_TEXT_JINJA_IMPL_H

#include "text/jinja.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- pool ---- */

typedef struct jj_block jj_block;
typedef struct jj_pool {
    jj_block *head;
    size_t total; /* bytes obtained from malloc */
    size_t limit; /* refuse to grow past this (0 = no limit) */
    bool hit_limit; /* an allocation was refused because of limit */
} jj_pool;

/* n zeroed bytes aligned to 16, or NULL when out of memory or past the limit. */
void *jj_alloc(jj_pool *p, size_t n);
void jj_pool_free(jj_pool *p);

/* ---- tokens ---- */

typedef enum jj_tok_type {
    JT_EOF,
    JT_DATA,
    JT_VAR_BEGIN,
    JT_VAR_END,
    JT_BLOCK_BEGIN,
    JT_BLOCK_END,
    JT_NAME,
    JT_STRING,
    JT_INT,
    JT_FLOAT,
    JT_OP,
} jj_tok_type;

/* Two-character operators; one-character operators are their own character. */
enum { JOP_FLOORDIV = 'F', JOP_POW = 'P', JOP_EQ = 'E', JOP_NE = 'N', JOP_GE = 'G', JOP_LE = 'L' };

typedef struct jj_tok {
    uint8_t type;
    uint8_t op;
    int32_t line, col;
    const char *s; /* NAME, STRING, DATA text (STRING decoded into the template pool) */
    size_t len;
    int64_t i;
    double f;
} jj_tok;

/* ---- values ---- */

typedef enum jj_type {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST,
    JV_TUPLE,
    JV_DICT,
    JV_NS,
    JV_MACRO,
    JV_FUNC,   /* a global function (range, namespace, ...) */
    JV_METHOD, /* a bound method: u.m */
    JV_LOOP,
    JV_HELPER, /* a joiner or cycler object: u.helper */
} jj_type;

/* Lists that stand for Python iterables other than lists. A generator (what jinja2's generator
 * filters map, select, items, ... return) is always true, has no len(), is not subscriptable and
 * prints as one; dict views (d.keys(), d.values(), d.items()) have a length but are not
 * subscriptable either, and print as dict_keys([...]). */
typedef enum jj_iter_kind {
    JJ_ITER_NONE,
    JJ_ITER_GEN,
    JJ_ITER_KEYS,
    JJ_ITER_VALUES,
    JJ_ITER_ITEMS,
} jj_iter_kind;

typedef struct jj_str {
    size_t len;
    char s[]; /* NUL-terminated, valid UTF-8 */
} jj_str;

struct jj_list;
struct jj_dict;
struct jj_node;
struct jj_method;
struct jj_loop;

typedef struct jj_value {
    uint8_t t;
    uint8_t safe; /* JV_STR: Markup (escape leaves it alone) */
    uint8_t iter; /* JV_LIST: a jj_iter_kind other than JJ_ITER_NONE */
    union {
        bool b;
        int64_t i;
        double f;
        const jj_str *s; /* JV_STR; JV_UNDEF: the hint printed on misuse (may be NULL) */
        struct jj_list *l;
        struct jj_dict *d; /* JV_DICT and JV_NS */
        const struct jj_node *macro;
        int func; /* JV_FUNC: jj_func_id */
        struct jj_method *m;
        struct jj_loop *loop;
        struct jj_helper *helper;
    } u;
} jj_value;

typedef struct jj_list {
    size_t n;
    jj_value *v;
    const jj_str *error; /* a generator over something not iterable: iterating it raises this */
} jj_list;

/* Insertion-ordered; past a few entries, keys that are strings or numbers are also found through
 * a hash index (jinja_dict.c), so big contexts and dicts built in loops stay linear. */
typedef struct jj_dict {
    size_t n, cap;
    jj_value *k, *v;
    uint32_t *index;  /* open addressing, entry position + 1 (0 = empty); NULL while small */
    size_t index_cap; /* power of two, at least 2 * cap */
} jj_dict;

typedef struct jj_method {
    jj_value self;
    const char *name;
} jj_method;

typedef struct jj_loop {
    const jj_list *items;
    size_t index0;
    jj_value last_changed; /* loop.changed(...)'s previous arguments (a tuple), JV_UNDEF before */
} jj_loop;

/* jinja2's joiner(sep) (a callable: "" the first time, sep after) and cycler(*items) (.next(),
 * .current, .reset()); they keep state across calls within one render. */
typedef struct jj_helper {
    bool cycler;
    bool used;         /* joiner: called before */
    jj_value sep;      /* joiner */
    const jj_list *items; /* cycler */
    size_t pos;        /* cycler: index of .current */
} jj_helper;

typedef enum jj_func_id {
    JF_RANGE,
    JF_NAMESPACE,
    JF_DICT,
    JF_RAISE,
    JF_STRFTIME,
    JF_JOINER,
    JF_CYCLER,
    JF_COUNT,
} jj_func_id;

/* ---- syntax tree ---- */

typedef enum jj_kind {
    /* statements */
    JN_DATA,     /* text: s */
    JN_OUTPUT,   /* {{ a }} */
    JN_IF,       /* if a: body else: orelse */
    JN_FOR,      /* for targets in a [if b]: body else: orelse */
    JN_SET,      /* set targets = a */
    JN_SETBLOCK, /* set targets[0] [| filters in b] : body */
    JN_MACRO,    /* macro s(args = defaults): body; op: JJ_MACRO_VARARGS | JJ_MACRO_KWARGS */
    JN_BREAK,
    JN_CONTINUE,
    JN_FILTERBLOCK, /* filter b (a chain whose innermost input is JN_BODYREF): body */
    JN_BODY,        /* generation: body */
    /* expressions */
    JE_CONST,   /* value */
    JE_NAME,    /* s */
    JE_NSREF,   /* a.s as an assignment target; a is the namespace name (JE_NAME) */
    JE_GETATTR, /* a.s */
    JE_GETITEM, /* a[b] */
    JE_SLICE,   /* args[0..2] (NULL = omitted) */
    JE_CALL,    /* a(args, kw) */
    JE_FILTER,  /* a | s(args, kw) */
    JE_TEST,    /* a is s(args, kw); op = 1 when negated */
    JE_NOT,
    JE_NEG,
    JE_POS,
    JE_BINOP,   /* a op b: + - * / F(//) % P(**) ~ */
    JE_AND,
    JE_OR,
    JE_COMPARE, /* a, then (ops[i], args[i]) chained */
    JE_COND,    /* a if b else c */
    JE_LIST,
    JE_TUPLE,
    JE_DICT,    /* args = k0, v0, k1, v1, ... */
    JE_BODYREF, /* the body text of a filter block or set block */
} jj_kind;

enum { JJ_MACRO_VARARGS = 1, JJ_MACRO_KWARGS = 2 };

/* The names a body assigns directly (set, block set, macro; not inside its if/for statements).
 * jinja2 makes them locals of that body's scope: scopes nested in it (loop bodies, macros, block
 * bodies) see such a name undefined until the body has assigned it, instead of an outer value. */
typedef struct jj_stores {
    const char **names;
    int n;
} jj_stores;

typedef struct jj_node {
    uint8_t kind;
    uint8_t op;
    int32_t line, col;
    const char *s;              /* NUL-terminated name/text (template pool) */
    size_t len;                 /* of s */
    struct jj_node *a, *b, *c;
    struct jj_node **args;      /* arguments, items, targets, macro parameters */
    int n_args;
    const char **kw;            /* keyword names of a call/filter/test; macro: NULL */
    struct jj_node **kwv;       /* their values; macro: parameter defaults (NULL = none) */
    int n_kw;
    uint8_t *ops;               /* JE_COMPARE */
    struct jj_node **body;
    int n_body;
    struct jj_node **orelse;
    int n_orelse;
    jj_value value;             /* JE_CONST */
    jj_stores stores;           /* JN_FOR, JN_MACRO, JN_SETBLOCK, JN_FILTERBLOCK, JN_BODY: of body */
} jj_node;

struct mmrt_jinja_template {
    jj_pool pool;
    char *name;
    jj_node **body;
    int n_body;
    jj_stores stores; /* what the top level assigns (see jj_stores) */
};

/* ---- lexer and parser ---- */

/* The names body[0..n) assigns directly, into *out (template pool). */
mmrt_status jj_collect_stores(mmrt_jinja_template *t, jj_node *const *body, int n, jj_stores *out,
                              mmrt_error *err);

typedef struct jj_lexed {
    jj_tok *toks;
    size_t n;
} jj_lexed;

/* Tokenizes src (already newline-normalised, in the template pool) into out (pool-allocated). */
mmrt_status jj_lex(jj_pool *pool, const char *src, size_t len, const char *name, jj_lexed *out,
                   mmrt_error *err);
mmrt_status jj_parse_tokens(mmrt_jinja_template *t, const jj_lexed *lx, mmrt_error *err);

/* ---- render state ---- */

typedef struct jj_buf {
    char *s;
    size_t len, cap;
} jj_buf;

typedef struct jj_var {
    const char *name;
    jj_value v;
} jj_var;

typedef struct jj_frame {
    struct jj_frame *parent;
    const jj_stores *stores; /* the body this frame runs (NULL: none) */
    jj_var *vars;
    size_t n, cap;
} jj_frame;

typedef struct jj_render {
    const mmrt_jinja_template *t;
    jj_pool pool;
    mmrt_error *err;
    const jj_dict *ctx;
    jj_buf *out;
    int64_t steps, max_steps;
    int32_t depth, max_depth;
    size_t max_output;
    int64_t now;
    int brk; /* 1 after break, 2 after continue, until the loop sees it */
    int32_t line, col; /* where the node being evaluated is, for messages */
    jj_frame *frame;   /* the frame the current statement's expressions see */
} jj_render;

/* Failure helpers: set r->err (with "<source>:<line>:<col>: " prepended) and return -1. */
int jj_fail(jj_render *r, mmrt_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int jj_oom(jj_render *r);
/* Counts one step; -1 (with the message) past max_steps. */
int jj_step(jj_render *r, int64_t n);

/* ---- values (jinja_value.c) ---- */

static inline jj_value jj_undef(const jj_str *hint) {
    jj_value v = {.t = JV_UNDEF};
    v.u.s = hint;
    return v;
}
static inline jj_value jj_none(void) { return (jj_value){.t = JV_NONE}; }
static inline jj_value jj_bool(bool b) {
    jj_value v = {.t = JV_BOOL};
    v.u.b = b;
    return v;
}
static inline jj_value jj_int(int64_t i) {
    jj_value v = {.t = JV_INT};
    v.u.i = i;
    return v;
}
static inline jj_value jj_float(double f) {
    jj_value v = {.t = JV_FLOAT};
    v.u.f = f;
    return v;
}
static inline jj_value jj_strv(const jj_str *s) {
    jj_value v = {.t = JV_STR};
    v.u.s = s;
    return v;
}
static inline bool jj_is_num(const jj_value *v) {
    return v->t == JV_INT || v->t == JV_FLOAT || v->t == JV_BOOL;
}
static inline bool jj_is_seq(const jj_value *v) { return v->t == JV_LIST || v->t == JV_TUPLE; }

jj_str *jj_str_new(jj_pool *p, const char *s, size_t n); /* NULL on OOM */
jj_str *jj_str_fmt(jj_pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int jj_make_str(jj_render *r, const char *s, size_t n, jj_value *out);
jj_list *jj_list_new(jj_render *r, size_t n, jj_type t, jj_value *out); /* n zeroed items */
jj_dict *jj_dict_new(jj_render *r, size_t cap, jj_value *out);
/* Sets k = v (replacing an equal key, else appending). -1 on OOM. */
int jj_dict_set(jj_render *r, jj_dict *d, jj_value k, jj_value v);
/* The value for key k, or NULL. */
jj_value *jj_dict_get(const jj_dict *d, const jj_value *k);
jj_value *jj_dict_get_s(const jj_dict *d, const char *key, size_t n);

/* JSON text (a whole object) as Python's json.loads reads it, into a dict value: integers stay
 * ints (beyond 64 bits: an error), numbers with a fraction or exponent are floats, NaN and
 * Infinity are accepted, duplicate keys keep the last value (jinja_ctx_json.c). */
int jj_parse_json_text(jj_render *r, const char *s, size_t n, jj_value *out);
/* A JSON value as a Python value (strings repaired to valid UTF-8). -1 on OOM/limits. */
int jj_from_json(jj_render *r, const cJSON *j, jj_value *out, int depth);

bool jj_truthy(const jj_value *v);
bool jj_equal(const jj_value *a, const jj_value *b);
/* The same, charging steps for the work (for comparisons a template can repeat at will). */
int jj_equal_r(jj_render *r, const jj_value *a, const jj_value *b, bool *out);
/* Python ordering: *cmp < 0, 0, > 0; -1 with an error when the types do not compare. */
int jj_compare(jj_render *r, const jj_value *a, const jj_value *b, int *cmp);
double jj_num(const jj_value *v);
const char *jj_type_name(const jj_value *v);

/* Appends str(v) / repr(v) to b (undefined prints as nothing). */
int jj_append_str(jj_render *r, jj_buf *b, const jj_value *v);
int jj_append_repr(jj_render *r, jj_buf *b, const jj_value *v, int depth);
/* str(v) as a string value (a string stays itself). */
int jj_to_str(jj_render *r, const jj_value *v, jj_value *out);
void jj_float_repr(double f, char *buf, size_t cap); /* Python repr(float) */
/* A use of an undefined value that jinja2 refuses: the error names it. */
int jj_undef_fail(jj_render *r, const jj_value *v);

/* ---- output buffers (jinja_pool.c) ---- */

int jj_buf_put(jj_render *r, jj_buf *b, const char *s, size_t n);
static inline int jj_buf_puts(jj_render *r, jj_buf *b, const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return jj_buf_put(r, b, s, n);
}
/* The buffer's text as a string value. */
int jj_buf_value(jj_render *r, const jj_buf *b, jj_value *out);

/* ---- UTF-8 helpers (jinja_value.c) ---- */

size_t jj_utf8_count(const char *s, size_t n);
/* Byte offset of code point index i (clamped to n). */
size_t jj_utf8_offset(const char *s, size_t n, size_t i);
/* Python str.isspace for one code point. */
bool jj_is_space(uint32_t cp);

/* ---- json (jinja_json.c) ---- */

typedef struct jj_json_opts {
    int indent;           /* < 0: none */
    const jj_str *indent_s; /* a string indent, when given */
    const char *item_sep, *key_sep;
    bool sort_keys;
    bool ensure_ascii; /* non-ASCII as \uXXXX escapes */
} jj_json_opts;
int jj_tojson(jj_render *r, jj_buf *b, const jj_value *v, const jj_json_opts *o, int level);

/* ---- evaluation (jinja_eval.c) ---- */

int jj_eval(jj_render *r, const jj_node *n, jj_value *out);
int jj_exec_body(jj_render *r, jj_node *const *body, int n, jj_frame *f);
int jj_lookup(jj_render *r, jj_frame *f, const char *name, jj_value *out);
/* Calls a callable value with positional args and keyword args. */
int jj_call_value(jj_render *r, const jj_value *callee, const jj_value *args,
                  int n_args, const char *const *kw, const jj_value *kwv, int n_kw,
                  jj_value *out);

/* ---- operators (jinja_ops.c) ---- */

int jj_binop(jj_render *r, int op, const jj_value *a, const jj_value *b, jj_value *out);
int jj_getattr(jj_render *r, const jj_value *obj, const char *name, size_t len, jj_value *out);
int jj_getitem(jj_render *r, const jj_value *obj, const jj_value *key, jj_value *out);
int jj_slice(jj_render *r, const jj_value *obj, const jj_value *lo, const jj_value *hi,
             const jj_value *step, jj_value *out);
/* `a in b` */
int jj_contains(jj_render *r, const jj_value *b, const jj_value *a, bool *out);
/* The items of an iterable (dict: keys; string: characters; undefined: none) as a list. */
int jj_iterate(jj_render *r, const jj_value *v, jj_list **out);
int64_t jj_len(const jj_value *v); /* -1 when v has no length */

/* Call arguments: the one at position pos, else the keyword `name` (NULL = positional only), else
 * NULL. */
typedef struct jj_args {
    const jj_value *v;
    int n;
    const char *const *kw;
    const jj_value *kwv;
    int n_kw;
} jj_args;
static inline const jj_value *jj_arg(const jj_args *a, int pos, const char *name) {
    if (pos >= 0 && pos < a->n) return &a->v[pos];
    for (int i = 0; name && i < a->n_kw; i++) {
        const char *k = a->kw[i], *q = name;
        while (*k && *k == *q) k++, q++;
        if (*k == *q) return &a->kwv[i];
    }
    return NULL;
}

/* fmt % arg (a tuple spreads into the arguments, a dict feeds %(name)s), jinja_printf.c. */
int jj_printf(jj_render *r, const jj_str *fmt, const jj_value *arg, jj_value *out);

/* The input of a generator filter: its items, or, when it cannot be iterated, NULL with *out set
 * to an empty generator that raises jinja2's error once iterated (generators are lazy). */
int jj_gen_input(jj_render *r, const jj_value *in, jj_list **items, jj_value *out);

/* ---- filters, tests, methods (jinja_filters.c, jinja_methods.c) ---- */

/* HTML-escapes str(v) (& < > " ') into a Markup string; Markup input is returned as is. */
int jj_escape(jj_render *r, const jj_value *v, jj_value *out);
bool jj_filter_known(const char *name);
bool jj_test_known(const char *name);
int jj_filter(jj_render *r, const char *name, const jj_value *in, const jj_value *args,
              int n_args, const char *const *kw, const jj_value *kwv, int n_kw, jj_value *out);
int jj_test(jj_render *r, const char *name, const jj_value *in, const jj_value *args,
            int n_args, jj_value *out_bool);
int jj_call_method(jj_render *r, const jj_method *m, const jj_value *args, int n_args,
                   const char *const *kw, const jj_value *kwv, int n_kw, jj_value *out);
int jj_call_func(jj_render *r, int func, const jj_value *args, int n_args, const char *const *kw,
                 const jj_value *kwv, int n_kw, jj_value *out);
/* True when `name` is a method of v's type that the sandbox exposes; *unsafe when it exists but
 * the sandbox refuses it (list.append, dict.update, ...). */
bool jj_has_method(const jj_value *v, const char *name, size_t len, bool *unsafe);
/* Python string methods used by filters too. */
int jj_str_strip(jj_render *r, const jj_str *s, const jj_value *chars, int which, jj_value *out);
int jj_str_replace(jj_render *r, const jj_str *s, const jj_str *old, const jj_str *new_,
                   int64_t count, jj_value *out);
/* mode 0 lower, 1 upper, 2 capitalize, 3 swapcase, 4 str.title() */
int jj_str_case(jj_render *r, const jj_str *s, int mode, jj_value *out);
/* The code point's simple upper (up) or lower case mapping, or itself (jinja_methods.c). */
uint32_t jj_case_map(uint32_t c, bool up);

#endif
