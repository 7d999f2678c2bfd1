/* The parser's shared state and helpers (text/jinja_parse_expr.c: expressions,
 * text/jinja_parse.c: statements). Internal to the Jinja2 interpreter. */
#ifndef MMRT_TEXT_JINJA_PARSER_H
#define MMRT_TEXT_JINJA_PARSER_H

#include "text/jinja_impl.h"

#include <string.h>

typedef struct parser {
    mmrt_jinja_template *t;
    const jj_tok *tok;
    size_t n, pos;
    mmrt_error *err;
    int depth; /* recursion depth, bounded by MMRT_JINJA_MAX_PARSE_DEPTH */
} parser;

/* A growable list of nodes in the template pool. */
typedef struct vec {
    jj_node **v;
    int n, cap;
} vec;

static inline const jj_tok *cur(parser *p) { return &p->tok[p->pos < p->n ? p->pos : p->n - 1]; }
static inline const jj_tok *peek(parser *p, size_t k) {
    size_t i = p->pos + k;
    return &p->tok[i < p->n ? i : p->n - 1];
}
static inline bool is_op(parser *p, int op) { return cur(p)->type == JT_OP && cur(p)->op == op; }
static inline bool is_name(const jj_tok *t, const char *w) {
    return t->type == JT_NAME && t->len == strlen(w) && memcmp(t->s, w, t->len) == 0;
}
static inline bool skip_name(parser *p, const char *w) {
    if (!is_name(cur(p), w)) return false;
    p->pos++;
    return true;
}

/* Each failing helper sets p->err ("<source>:<line>:<col>: <message>") and returns -1 / NULL. */
int jjp_fail(parser *p, const jj_tok *at, mmrt_status st, const char *fmt, const char *arg);
const char *jjp_describe(const jj_tok *t, char *buf, size_t cap);
int jjp_unexpected(parser *p);
int jjp_expect_op(parser *p, int op);
int jjp_expect_type(parser *p, int type, const char *what);
int jjp_enter(parser *p); /* one level deeper; fails past the depth limit */
jj_node *jjp_node(parser *p, int kind, const jj_tok *at);
char *jjp_name_copy(parser *p, const char *s, size_t len);
int jjp_push(parser *p, vec *v, jj_node *x);

/* Expressions, as jinja2's parser names them. */
jj_node *jjp_parse_expression(parser *p, bool with_condexpr);
jj_node *jjp_parse_primary(parser *p, bool with_namespace);
jj_node *jjp_parse_tuple(parser *p, bool simplified, bool with_condexpr, const char *extra_end,
                         bool explicit_parens, bool with_namespace);
/* `| f(args) | g` applied to in; start_inline: the first filter has no leading `|`. */
jj_node *jjp_parse_filter(parser *p, jj_node *in, bool start_inline);

#endif
