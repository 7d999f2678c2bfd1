/* The Jinja2 parser (jinja2/parser.py) over jj_lex's tokens: a recursive descent whose nesting is
 * bounded by MMRT_JINJA_MAX_PARSE_DEPTH so that hostile input cannot exhaust the stack. Filter and
 * test names are checked here, so an unknown one fails at parse time with its position. */
#include "text/jinja_impl.h"

#include <stdio.h>
#include <string.h>

typedef struct parser {
    mmrt_jinja_template *t;
    const jj_tok *tok;
    size_t n, pos;
    mmrt_error *err;
    int depth;
} parser;

#define NODE_FAIL ((jj_node *)0)

static const jj_tok *cur(parser *p) { return &p->tok[p->pos < p->n ? p->pos : p->n - 1]; }
static const jj_tok *peek(parser *p, size_t k) {
    size_t i = p->pos + k;
    return &p->tok[i < p->n ? i : p->n - 1];
}

static int fail(parser *p, const jj_tok *at, mmrt_status st, const char *fmt, const char *arg) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    mmrt_error_set(p->err, st, "%s:%d:%d: %s", p->t->name, (int)at->line, (int)at->col, msg);
    return -1;
}

static const char *describe(const jj_tok *t, char *buf, size_t cap) {
    switch (t->type) {
    case JT_EOF: return "end of template";
    case JT_DATA: return "template data";
    case JT_VAR_BEGIN: return "begin of print statement";
    case JT_VAR_END: return "end of print statement";
    case JT_BLOCK_BEGIN: return "begin of statement block";
    case JT_BLOCK_END: return "end of statement block";
    case JT_STRING: return "string";
    case JT_INT: return "integer";
    case JT_FLOAT: return "float";
    case JT_NAME: snprintf(buf, cap, "%.*s", (int)(t->len < 64 ? t->len : 64), t->s); return buf;
    default:
        if (t->op == JOP_FLOORDIV) return "//";
        if (t->op == JOP_POW) return "**";
        if (t->op == JOP_EQ) return "==";
        if (t->op == JOP_NE) return "!=";
        if (t->op == JOP_GE) return ">=";
        if (t->op == JOP_LE) return "<=";
        snprintf(buf, cap, "%c", t->op);
        return buf;
    }
}

static int unexpected(parser *p) {
    char buf[80];
    return fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "unexpected '%s'", describe(cur(p), buf, sizeof buf));
}

static bool is_op(parser *p, int op) { return cur(p)->type == JT_OP && cur(p)->op == op; }
static bool is_name(const jj_tok *t, const char *w) {
    return t->type == JT_NAME && t->len == strlen(w) && memcmp(t->s, w, t->len) == 0;
}
static bool skip_name(parser *p, const char *w) {
    if (!is_name(cur(p), w)) return false;
    p->pos++;
    return true;
}
static int expect_op(parser *p, int op) {
    if (!is_op(p, op)) {
        char buf[80], want[4] = {(char)op, 0};
        (void)buf;
        return fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "expected '%s'", want);
    }
    p->pos++;
    return 0;
}
static int expect_type(parser *p, int type, const char *what) {
    if (cur(p)->type != type) {
        char buf[80], msg[200];
        snprintf(msg, sizeof msg, "expected %s, got '%s'", what, describe(cur(p), buf, sizeof buf));
        return fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "%s", msg);
    }
    p->pos++;
    return 0;
}

static int enter(parser *p) {
    if (++p->depth > MMRT_JINJA_MAX_PARSE_DEPTH)
        return fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "%s", "template nested too deeply (more than 200 levels)");
    return 0;
}

static jj_node *node(parser *p, int kind, const jj_tok *at) {
    jj_node *n = jj_alloc(&p->t->pool, sizeof *n);
    if (!n) {
        mmrt_error_oom(p->err, sizeof *n, "the template's syntax tree");
        return NULL;
    }
    n->kind = (uint8_t)kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

static char *name_copy(parser *p, const char *s, size_t len) {
    char *c = jj_alloc(&p->t->pool, len + 1);
    if (!c) {
        mmrt_error_oom(p->err, len + 1, "the template");
        return NULL;
    }
    memcpy(c, s, len);
    return c;
}

typedef struct vec {
    jj_node **v;
    int n, cap;
} vec;

static int push(parser *p, vec *v, jj_node *x) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        jj_node **nv = jj_alloc(&p->t->pool, (size_t)cap * sizeof *nv);
        if (!nv) {
            mmrt_error_oom(p->err, 0, "the template's syntax tree");
            return -1;
        }
        if (v->n) memcpy(nv, v->v, (size_t)v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

static jj_node *parse_expression(parser *p, bool with_condexpr);
static jj_node *parse_unary(parser *p, bool with_filter);
static jj_node *parse_primary(parser *p, bool with_namespace);
static jj_node *parse_tuple(parser *p, bool simplified, bool with_condexpr, const char *extra_end,
                            bool explicit_parens, bool with_namespace);

/* Call arguments `(a, b, k=v)` into n (args, kw, kwv). */
static int parse_call_args(parser *p, jj_node *n) {
    if (expect_op(p, '(')) return -1;
    vec args = {0}, kwv = {0};
    const char **kw = NULL;
    int kw_cap = 0;
    bool need_comma = false;
    while (!is_op(p, ')')) {
        if (need_comma) {
            if (expect_op(p, ',')) return -1;
            if (is_op(p, ')')) break;
        }
        if (is_op(p, '*') || is_op(p, JOP_POW))
            return fail(p, cur(p), MMRT_ERR_UNSUPPORTED, "%s", "*args and **kwargs in calls are not supported");
        if (cur(p)->type == JT_NAME && peek(p, 1)->type == JT_OP && peek(p, 1)->op == '=') {
            const jj_tok *nt = cur(p);
            p->pos += 2;
            jj_node *v = parse_expression(p, true);
            if (!v) return -1;
            if (kwv.n == kw_cap) {
                int cap = kw_cap ? kw_cap * 2 : 4;
                const char **nk = jj_alloc(&p->t->pool, (size_t)cap * sizeof *nk);
                if (!nk) return mmrt_error_oom(p->err, 0, "the template"), -1;
                if (kwv.n) memcpy(nk, kw, (size_t)kwv.n * sizeof *nk);
                kw = nk;
                kw_cap = cap;
            }
            if (!(kw[kwv.n] = name_copy(p, nt->s, nt->len)) || push(p, &kwv, v)) return -1;
        } else {
            if (kwv.n) return fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "%s", "invalid syntax for function call expression");
            jj_node *v = parse_expression(p, true);
            if (!v || push(p, &args, v)) return -1;
        }
        need_comma = true;
    }
    p->pos++;
    n->args = args.v;
    n->n_args = args.n;
    n->kw = kw;
    n->kwv = kwv.v;
    n->n_kw = kwv.n;
    return 0;
}

/* A dotted name after `|` or `is`. */
static char *dotted_name(parser *p) {
    const jj_tok *t = cur(p);
    if (expect_type(p, JT_NAME, "a name")) return NULL;
    char buf[128];
    size_t len = t->len < sizeof buf - 1 ? t->len : sizeof buf - 1;
    memcpy(buf, t->s, len);
    while (is_op(p, '.')) {
        p->pos++;
        const jj_tok *u = cur(p);
        if (expect_type(p, JT_NAME, "a name")) return NULL;
        if (len + 1 + u->len < sizeof buf) {
            buf[len++] = '.';
            memcpy(buf + len, u->s, u->len);
            len += u->len;
        }
    }
    return name_copy(p, buf, len);
}

static jj_node *parse_filter(parser *p, jj_node *in, bool start_inline) {
    while (is_op(p, '|') || start_inline) {
        if (!start_inline) p->pos++;
        start_inline = false;
        const jj_tok *at = cur(p);
        jj_node *f = node(p, JE_FILTER, at);
        if (!f || !(f->s = dotted_name(p))) return NULL;
        if (!jj_filter_known(f->s)) {
            fail(p, at, MMRT_ERR_UNSUPPORTED, "unknown filter '%s'", f->s);
            return NULL;
        }
        if (is_op(p, '(') && parse_call_args(p, f)) return NULL;
        f->a = in;
        in = f;
    }
    return in;
}

static jj_node *parse_test(parser *p, jj_node *in) {
    const jj_tok *is_tok = cur(p);
    p->pos++;
    bool negated = skip_name(p, "not");
    const jj_tok *at = cur(p);
    jj_node *t = node(p, JE_TEST, is_tok);
    if (!t || !(t->s = dotted_name(p))) return NULL;
    if (!jj_test_known(t->s)) {
        fail(p, at, MMRT_ERR_UNSUPPORTED, "unknown test '%s'", t->s);
        return NULL;
    }
    const jj_tok *c = cur(p);
    if (is_op(p, '(')) {
        if (parse_call_args(p, t)) return NULL;
    } else if ((c->type == JT_NAME || c->type == JT_STRING || c->type == JT_INT || c->type == JT_FLOAT ||
                (c->type == JT_OP && (c->op == '[' || c->op == '{'))) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        if (is_name(c, "is")) {
            fail(p, c, MMRT_ERR_BAD_FORMAT, "%s", "You cannot chain multiple tests with is");
            return NULL;
        }
        jj_node *arg = parse_primary(p, false);
        if (!arg) return NULL;
        while (is_op(p, '.') || is_op(p, '[') || is_op(p, '(')) {
            /* parse_postfix without filters */
            jj_node *x = NULL;
            if (is_op(p, '(')) {
                x = node(p, JE_CALL, cur(p));
                if (!x || parse_call_args(p, x)) return NULL;
                x->a = arg;
                arg = x;
                continue;
            }
            break;
        }
        t->args = jj_alloc(&p->t->pool, sizeof *t->args);
        if (!t->args) return mmrt_error_oom(p->err, 0, "the template"), NULL;
        t->args[0] = arg;
        t->n_args = 1;
    }
    t->a = in;
    if (!negated) return t;
    jj_node *n = node(p, JE_NOT, is_tok);
    if (n) n->a = t;
    return n;
}

static jj_node *parse_subscribed(parser *p) {
    const jj_tok *at = cur(p);
    jj_node *parts[3] = {0};
    if (is_op(p, ':')) {
        p->pos++;
    } else {
        jj_node *e = parse_expression(p, true);
        if (!e) return NULL;
        if (!is_op(p, ':')) return e;
        p->pos++;
        parts[0] = e;
    }
    if (!is_op(p, ':') && !is_op(p, ']') && !is_op(p, ',') && !(parts[1] = parse_expression(p, true))) return NULL;
    if (is_op(p, ':')) {
        p->pos++;
        if (!is_op(p, ']') && !is_op(p, ',') && !(parts[2] = parse_expression(p, true))) return NULL;
    }
    jj_node *s = node(p, JE_SLICE, at);
    if (!s || !(s->args = jj_alloc(&p->t->pool, 3 * sizeof *s->args))) return NULL;
    memcpy(s->args, parts, sizeof parts);
    s->n_args = 3;
    return s;
}

static jj_node *parse_postfix(parser *p, jj_node *n) {
    for (;;) {
        const jj_tok *at = cur(p);
        if (is_op(p, '.')) {
            p->pos++;
            const jj_tok *a = cur(p);
            if (a->type == JT_NAME) {
                jj_node *g = node(p, JE_GETATTR, at);
                if (!g || !(g->s = name_copy(p, a->s, a->len))) return NULL;
                g->len = a->len;
                g->a = n;
                n = g;
                p->pos++;
            } else if (a->type == JT_INT) {
                jj_node *g = node(p, JE_GETITEM, at), *k = node(p, JE_CONST, a);
                if (!g || !k) return NULL;
                k->value = jj_int(a->i);
                g->a = n;
                g->b = k;
                n = g;
                p->pos++;
            } else {
                fail(p, a, MMRT_ERR_BAD_FORMAT, "%s", "expected name or number");
                return NULL;
            }
        } else if (is_op(p, '[')) {
            p->pos++;
            vec items = {0};
            while (!is_op(p, ']')) {
                if (items.n && expect_op(p, ',')) return NULL;
                jj_node *s = parse_subscribed(p);
                if (!s || push(p, &items, s)) return NULL;
            }
            p->pos++;
            if (items.n == 0) {
                fail(p, at, MMRT_ERR_BAD_FORMAT, "%s", "expected subscript expression");
                return NULL;
            }
            jj_node *g = node(p, JE_GETITEM, at);
            if (!g) return NULL;
            g->a = n;
            if (items.n == 1) {
                g->b = items.v[0];
            } else {
                jj_node *tu = node(p, JE_TUPLE, at);
                if (!tu) return NULL;
                tu->args = items.v;
                tu->n_args = items.n;
                g->b = tu;
            }
            n = g;
        } else if (is_op(p, '(')) {
            jj_node *c = node(p, JE_CALL, at);
            if (!c || parse_call_args(p, c)) return NULL;
            c->a = n;
            n = c;
        } else {
            return n;
        }
    }
}

static jj_node *parse_filter_expr(parser *p, jj_node *n) {
    for (;;) {
        if (is_op(p, '|')) {
            if (!(n = parse_filter(p, n, false))) return NULL;
        } else if (is_name(cur(p), "is")) {
            if (!(n = parse_test(p, n))) return NULL;
        } else if (is_op(p, '(')) {
            jj_node *c = node(p, JE_CALL, cur(p));
            if (!c || parse_call_args(p, c)) return NULL;
            c->a = n;
            n = c;
        } else {
            return n;
        }
    }
}

static jj_node *parse_primary(parser *p, bool with_namespace) {
    const jj_tok *t = cur(p);
    jj_node *n = NULL;
    if (t->type == JT_NAME) {
        p->pos++;
        if (is_name(t, "true") || is_name(t, "True") || is_name(t, "false") || is_name(t, "False")) {
            if ((n = node(p, JE_CONST, t))) n->value = jj_bool(t->s[0] == 't' || t->s[0] == 'T');
        } else if (is_name(t, "none") || is_name(t, "None")) {
            if ((n = node(p, JE_CONST, t))) n->value = jj_none();
        } else if (with_namespace && is_op(p, '.')) {
            p->pos++;
            const jj_tok *a = cur(p);
            if (expect_type(p, JT_NAME, "a name")) return NULL;
            jj_node *ns = node(p, JE_NAME, t);
            if (!ns || !(ns->s = name_copy(p, t->s, t->len)) || !(n = node(p, JE_NSREF, t))) return NULL;
            if (!(n->s = name_copy(p, a->s, a->len))) return NULL;
            n->len = a->len;
            n->a = ns;
        } else {
            if (!(n = node(p, JE_NAME, t)) || !(n->s = name_copy(p, t->s, t->len))) return NULL;
            n->len = t->len;
        }
    } else if (t->type == JT_STRING) {
        /* adjacent literals concatenate */
        size_t total = 0, k = p->pos;
        for (; k < p->n && p->tok[k].type == JT_STRING; k++) total += p->tok[k].len;
        char *s = jj_alloc(&p->t->pool, total + 1 + sizeof(jj_str));
        if (!s || !(n = node(p, JE_CONST, t))) return mmrt_error_oom(p->err, total, "a string literal"), NULL;
        jj_str *js = (jj_str *)s;
        js->len = 0;
        for (; p->pos < k; p->pos++) {
            memcpy(js->s + js->len, p->tok[p->pos].s, p->tok[p->pos].len);
            js->len += p->tok[p->pos].len;
        }
        js->s[js->len] = '\0';
        n->value = jj_strv(js);
    } else if (t->type == JT_INT || t->type == JT_FLOAT) {
        p->pos++;
        if ((n = node(p, JE_CONST, t))) n->value = t->type == JT_INT ? jj_int(t->i) : jj_float(t->f);
    } else if (is_op(p, '(')) {
        p->pos++;
        if (!(n = parse_tuple(p, false, true, NULL, true, false)) || expect_op(p, ')')) return NULL;
    } else if (is_op(p, '[') || is_op(p, '{')) {
        bool dict = is_op(p, '{');
        p->pos++;
        vec items = {0};
        int close = dict ? '}' : ']';
        while (!is_op(p, close)) {
            if (items.n && expect_op(p, ',')) return NULL;
            if (is_op(p, close)) break;
            jj_node *e = parse_expression(p, true);
            if (!e || push(p, &items, e)) return NULL;
            if (dict) {
                if (expect_op(p, ':') || !(e = parse_expression(p, true)) || push(p, &items, e)) return NULL;
            }
        }
        p->pos++;
        if (!(n = node(p, dict ? JE_DICT : JE_LIST, t))) return NULL;
        n->args = items.v;
        n->n_args = items.n;
    } else {
        unexpected(p);
        return NULL;
    }
    return n;
}

static jj_node *parse_unary(parser *p, bool with_filter) {
    if (enter(p)) return NULL;
    const jj_tok *t = cur(p);
    jj_node *n;
    if (is_op(p, '-') || is_op(p, '+')) {
        p->pos++;
        jj_node *x = parse_unary(p, false);
        if (!x || !(n = node(p, t->op == '-' ? JE_NEG : JE_POS, t))) return NULL;
        n->a = x;
    } else if (!(n = parse_primary(p, false))) {
        return NULL;
    }
    if (!(n = parse_postfix(p, n))) return NULL;
    if (with_filter && !(n = parse_filter_expr(p, n))) return NULL;
    p->depth--;
    return n;
}

static jj_node *binop(parser *p, const jj_tok *at, int kind, int op, jj_node *a, jj_node *b) {
    jj_node *n = node(p, kind, at);
    if (!n) return NULL;
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}

static jj_node *parse_pow(parser *p) {
    jj_node *l = parse_unary(p, true);
    while (l && is_op(p, JOP_POW)) {
        const jj_tok *at = cur(p);
        p->pos++;
        jj_node *r = parse_unary(p, true);
        l = r ? binop(p, at, JE_BINOP, JOP_POW, l, r) : NULL;
    }
    return l;
}

static jj_node *parse_math2(parser *p) {
    jj_node *l = parse_pow(p);
    while (l && (is_op(p, '*') || is_op(p, '/') || is_op(p, JOP_FLOORDIV) || is_op(p, '%'))) {
        const jj_tok *at = cur(p);
        p->pos++;
        jj_node *r = parse_pow(p);
        l = r ? binop(p, at, JE_BINOP, at->op, l, r) : NULL;
    }
    return l;
}

static jj_node *parse_concat(parser *p) {
    jj_node *l = parse_math2(p);
    while (l && is_op(p, '~')) {
        const jj_tok *at = cur(p);
        p->pos++;
        jj_node *r = parse_math2(p);
        l = r ? binop(p, at, JE_BINOP, '~', l, r) : NULL;
    }
    return l;
}

static jj_node *parse_math1(parser *p) {
    jj_node *l = parse_concat(p);
    while (l && (is_op(p, '+') || is_op(p, '-'))) {
        const jj_tok *at = cur(p);
        p->pos++;
        jj_node *r = parse_concat(p);
        l = r ? binop(p, at, JE_BINOP, at->op, l, r) : NULL;
    }
    return l;
}

/* Comparison codes in JE_COMPARE.ops: the operator characters, plus 'i' (in) and 'n' (not in). */
static jj_node *parse_compare(parser *p) {
    const jj_tok *at = cur(p);
    jj_node *first = parse_math1(p);
    if (!first) return NULL;
    vec ops = {0};
    uint8_t codes[64];
    for (;;) {
        const jj_tok *t = cur(p);
        int code = 0;
        if (t->type == JT_OP && (t->op == JOP_EQ || t->op == JOP_NE || t->op == '<' || t->op == '>' ||
                                 t->op == JOP_LE || t->op == JOP_GE)) {
            code = t->op;
            p->pos++;
        } else if (is_name(t, "in")) {
            code = 'i';
            p->pos++;
        } else if (is_name(t, "not") && is_name(peek(p, 1), "in")) {
            code = 'n';
            p->pos += 2;
        } else {
            break;
        }
        if (ops.n == (int)sizeof codes) {
            fail(p, t, MMRT_ERR_UNSUPPORTED, "%s", "more than 64 chained comparisons");
            return NULL;
        }
        jj_node *r = parse_math1(p);
        if (!r || push(p, &ops, r)) return NULL;
        codes[ops.n - 1] = (uint8_t)code;
    }
    if (!ops.n) return first;
    jj_node *n = node(p, JE_COMPARE, at);
    if (!n || !(n->ops = jj_alloc(&p->t->pool, (size_t)ops.n))) return NULL;
    memcpy(n->ops, codes, (size_t)ops.n);
    n->a = first;
    n->args = ops.v;
    n->n_args = ops.n;
    return n;
}

static jj_node *parse_not(parser *p) {
    if (!is_name(cur(p), "not")) return parse_compare(p);
    if (enter(p)) return NULL;
    const jj_tok *at = cur(p);
    p->pos++;
    jj_node *x = parse_not(p), *n;
    if (!x || !(n = node(p, JE_NOT, at))) return NULL;
    n->a = x;
    p->depth--;
    return n;
}

static jj_node *parse_and(parser *p) {
    jj_node *l = parse_not(p);
    while (l && is_name(cur(p), "and")) {
        const jj_tok *at = cur(p);
        p->pos++;
        jj_node *r = parse_not(p);
        l = r ? binop(p, at, JE_AND, 0, l, r) : NULL;
    }
    return l;
}

static jj_node *parse_or(parser *p) {
    jj_node *l = parse_and(p);
    while (l && is_name(cur(p), "or")) {
        const jj_tok *at = cur(p);
        p->pos++;
        jj_node *r = parse_and(p);
        l = r ? binop(p, at, JE_OR, 0, l, r) : NULL;
    }
    return l;
}

static jj_node *parse_expression(parser *p, bool with_condexpr) {
    if (enter(p)) return NULL;
    const jj_tok *at = cur(p);
    jj_node *e = parse_or(p);
    while (e && with_condexpr && skip_name(p, "if")) {
        jj_node *cond = parse_or(p), *other = NULL;
        if (!cond) return NULL;
        if (skip_name(p, "else") && !(other = parse_expression(p, true))) return NULL;
        jj_node *n = node(p, JE_COND, at);
        if (!n) return NULL;
        n->a = e;
        n->b = cond;
        n->c = other;
        e = n;
        at = cur(p);
    }
    p->depth--;
    return e;
}

static bool tuple_end(parser *p, const char *extra_end) {
    const jj_tok *t = cur(p);
    if (t->type == JT_VAR_END || t->type == JT_BLOCK_END || t->type == JT_EOF || is_op(p, ')')) return true;
    return extra_end && is_name(t, extra_end);
}

static jj_node *parse_tuple(parser *p, bool simplified, bool with_condexpr, const char *extra_end,
                            bool explicit_parens, bool with_namespace) {
    const jj_tok *at = cur(p);
    vec items = {0};
    bool is_tuple = false;
    for (;;) {
        if (items.n && expect_op(p, ',')) return NULL;
        if (tuple_end(p, extra_end)) break;
        jj_node *e = simplified ? parse_primary(p, with_namespace) : parse_expression(p, with_condexpr);
        if (!e || push(p, &items, e)) return NULL;
        if (is_op(p, ',')) is_tuple = true;
        else break;
    }
    if (!is_tuple) {
        if (items.n) return items.v[0];
        if (!explicit_parens) {
            char buf[80];
            fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "expected an expression, got '%s'", describe(cur(p), buf, sizeof buf));
            return NULL;
        }
    }
    jj_node *n = node(p, JE_TUPLE, at);
    if (!n) return NULL;
    n->args = items.v;
    n->n_args = items.n;
    return n;
}

/* ---- statements ---- */

static int parse_body(parser *p, const char *const *ends, vec *body, const jj_tok **found);

static int block_end(parser *p) { return expect_type(p, JT_BLOCK_END, "end of statement block"); }

/* Assignment targets of for/set: a name, a namespace attribute, or a tuple of names. */
static jj_node *parse_target(parser *p, const char *extra_end, bool with_namespace) {
    const jj_tok *at = cur(p);
    jj_node *t = parse_tuple(p, true, false, extra_end, false, with_namespace);
    if (!t) return NULL;
    bool ok = t->kind == JE_NAME || t->kind == JE_NSREF;
    if (t->kind == JE_TUPLE) {
        ok = t->n_args > 0;
        for (int i = 0; i < t->n_args; i++) ok = ok && t->args[i]->kind == JE_NAME;
    }
    if (!ok) {
        fail(p, at, MMRT_ERR_BAD_FORMAT, "%s", "can't assign to this expression");
        return NULL;
    }
    return t;
}

static const char *const END_FOR[] = {"endfor", "else", NULL};
static const char *const END_FOR2[] = {"endfor", NULL};
static const char *const END_IF[] = {"elif", "else", "endif", NULL};
static const char *const END_IF2[] = {"endif", NULL};

static jj_node *parse_for(parser *p, const jj_tok *at) {
    jj_node *n = node(p, JN_FOR, at);
    if (!n || !(n->b = parse_target(p, "in", false))) return NULL;
    if (!skip_name(p, "in")) {
        fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "%s", "expected 'in'");
        return NULL;
    }
    if (!(n->a = parse_tuple(p, false, false, "recursive", false, false))) return NULL;
    if (skip_name(p, "if") && !(n->c = parse_expression(p, true))) return NULL;
    if (is_name(cur(p), "recursive")) {
        fail(p, cur(p), MMRT_ERR_UNSUPPORTED, "%s", "recursive loops are not supported");
        return NULL;
    }
    if (block_end(p)) return NULL;
    vec body = {0}, orelse = {0};
    const jj_tok *found;
    if (parse_body(p, END_FOR, &body, &found)) return NULL;
    if (is_name(found, "else") && (block_end(p) || parse_body(p, END_FOR2, &orelse, &found))) return NULL;
    if (block_end(p)) return NULL;
    n->body = body.v;
    n->n_body = body.n;
    n->orelse = orelse.v;
    n->n_orelse = orelse.n;
    return n;
}

static jj_node *parse_if(parser *p, const jj_tok *at) {
    jj_node *n = node(p, JN_IF, at);
    if (!n || !(n->a = parse_tuple(p, false, false, NULL, false, false)) || block_end(p)) return NULL;
    vec body = {0};
    const jj_tok *found;
    if (parse_body(p, END_IF, &body, &found)) return NULL;
    n->body = body.v;
    n->n_body = body.n;
    if (is_name(found, "elif")) {
        jj_node *e = parse_if(p, found); /* consumes through endif */
        if (!e || !(n->orelse = jj_alloc(&p->t->pool, sizeof *n->orelse))) return NULL;
        n->orelse[0] = e;
        n->n_orelse = 1;
        return n;
    }
    if (is_name(found, "else")) {
        vec orelse = {0};
        if (block_end(p) || parse_body(p, END_IF2, &orelse, &found)) return NULL;
        n->orelse = orelse.v;
        n->n_orelse = orelse.n;
    }
    return block_end(p) ? NULL : n;
}

static jj_node *parse_set(parser *p, const jj_tok *at) {
    jj_node *target = parse_target(p, NULL, true);
    if (!target) return NULL;
    if (is_op(p, '=')) {
        p->pos++;
        jj_node *n = node(p, JN_SET, at);
        if (!n || !(n->a = parse_tuple(p, false, true, NULL, false, false)) || block_end(p)) return NULL;
        n->b = target;
        return n;
    }
    if (target->kind != JE_NAME && target->kind != JE_NSREF) {
        fail(p, at, MMRT_ERR_BAD_FORMAT, "%s", "a block set needs one name");
        return NULL;
    }
    static const char *const END_SET[] = {"endset", NULL};
    jj_node *n = node(p, JN_SETBLOCK, at), *ref = node(p, JE_BODYREF, at);
    if (!n || !ref || !(n->a = parse_filter(p, ref, false)) || block_end(p)) return NULL;
    n->b = target;
    vec body = {0};
    const jj_tok *found;
    if (parse_body(p, END_SET, &body, &found) || block_end(p)) return NULL;
    n->body = body.v;
    n->n_body = body.n;
    return n;
}

static jj_node *parse_macro(parser *p, const jj_tok *at) {
    jj_node *n = node(p, JN_MACRO, at);
    const jj_tok *nt = cur(p);
    if (!n || expect_type(p, JT_NAME, "a macro name") || !(n->s = name_copy(p, nt->s, nt->len))) return NULL;
    if (expect_op(p, '(')) return NULL;
    vec params = {0}, defaults = {0};
    while (!is_op(p, ')')) {
        if (params.n && expect_op(p, ',')) return NULL;
        const jj_tok *pt = cur(p);
        if (expect_type(p, JT_NAME, "a parameter name")) return NULL;
        jj_node *pn = node(p, JE_NAME, pt), *dv = NULL;
        if (!pn || !(pn->s = name_copy(p, pt->s, pt->len))) return NULL;
        if (is_op(p, '=')) {
            p->pos++;
            if (!(dv = parse_expression(p, true))) return NULL;
        } else if (defaults.n && defaults.v[defaults.n - 1]) {
            fail(p, pt, MMRT_ERR_BAD_FORMAT, "%s", "non-default argument follows default argument");
            return NULL;
        }
        if (push(p, &params, pn) || push(p, &defaults, dv)) return NULL;
    }
    p->pos++;
    if (block_end(p)) return NULL;
    static const char *const END_MACRO[] = {"endmacro", NULL};
    vec body = {0};
    const jj_tok *found;
    if (parse_body(p, END_MACRO, &body, &found)) return NULL;
    if (cur(p)->type == JT_NAME) p->pos++; /* {% endmacro name %} */
    if (block_end(p)) return NULL;
    n->args = params.v;
    n->kwv = defaults.v;
    n->n_args = params.n;
    n->body = body.v;
    n->n_body = body.n;
    return n;
}

static jj_node *parse_block_body(parser *p, const jj_tok *at, int kind, const char *end) {
    const char *const ends[] = {end, NULL};
    jj_node *n = node(p, kind, at);
    if (!n) return NULL;
    if (kind == JN_FILTERBLOCK) {
        jj_node *ref = node(p, JE_BODYREF, at);
        if (!ref || !(n->a = parse_filter(p, ref, true))) return NULL;
    }
    vec body = {0};
    const jj_tok *found;
    if (block_end(p) || parse_body(p, ends, &body, &found) || block_end(p)) return NULL;
    n->body = body.v;
    n->n_body = body.n;
    return n;
}

static jj_node *parse_statement(parser *p) {
    const jj_tok *t = cur(p);
    if (t->type != JT_NAME) {
        fail(p, t, MMRT_ERR_BAD_FORMAT, "%s", "tag name expected");
        return NULL;
    }
    p->pos++;
    if (is_name(t, "for")) return parse_for(p, t);
    if (is_name(t, "if")) return parse_if(p, t);
    if (is_name(t, "set")) return parse_set(p, t);
    if (is_name(t, "macro")) return parse_macro(p, t);
    if (is_name(t, "filter")) return parse_block_body(p, t, JN_FILTERBLOCK, "endfilter");
    if (is_name(t, "generation")) return parse_block_body(p, t, JN_BODY, "endgeneration");
    if (is_name(t, "break") || is_name(t, "continue")) {
        jj_node *n = node(p, t->s[0] == 'b' ? JN_BREAK : JN_CONTINUE, t);
        return n && !block_end(p) ? n : NULL;
    }
    static const char *const unsupported[] = {"extends", "block", "include", "import", "from", "call",
                                              "with", "autoescape", "do", NULL};
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(t->len < 60 ? t->len : 60), t->s);
    for (int i = 0; unsupported[i]; i++)
        if (is_name(t, unsupported[i])) {
            fail(p, t, MMRT_ERR_UNSUPPORTED, "unsupported tag '%s'", name);
            return NULL;
        }
    fail(p, t, MMRT_ERR_BAD_FORMAT, "unknown tag '%s'", name);
    return NULL;
}

/* Statements until a block whose first name is in `ends` (NULL-terminated; none at top level).
 * On return the parser stands after that name, and *found is its token. */
static int parse_body(parser *p, const char *const *ends, vec *body, const jj_tok **found) {
    if (enter(p)) return -1;
    for (;;) {
        const jj_tok *t = cur(p);
        jj_node *n = NULL;
        if (t->type == JT_EOF) {
            if (ends && ends[0]) {
                char msg[200];
                snprintf(msg, sizeof msg, "unexpected end of template, expected '%s'", ends[0]);
                return fail(p, t, MMRT_ERR_BAD_FORMAT, "%s", msg);
            }
            break;
        }
        if (t->type == JT_DATA) {
            if (!(n = node(p, JN_DATA, t))) return -1;
            n->s = t->s;
            n->len = t->len;
            p->pos++;
        } else if (t->type == JT_VAR_BEGIN) {
            p->pos++;
            jj_node *e = parse_tuple(p, false, true, NULL, false, false);
            if (!e || expect_type(p, JT_VAR_END, "end of print statement") || !(n = node(p, JN_OUTPUT, t))) return -1;
            n->a = e;
        } else if (t->type == JT_BLOCK_BEGIN) {
            const jj_tok *nt = peek(p, 1);
            for (int i = 0; ends && ends[i]; i++)
                if (is_name(nt, ends[i])) {
                    p->pos += 2;
                    *found = nt;
                    p->depth--;
                    return 0;
                }
            p->pos++;
            static const char *const stray[] = {"endfor", "endif", "else", "elif", "endset", "endmacro",
                                                "endfilter", "endgeneration", NULL};
            for (int i = 0; stray[i]; i++)
                if (is_name(nt, stray[i])) return fail(p, nt, MMRT_ERR_BAD_FORMAT, "unexpected tag '%s'", stray[i]);
            if (!(n = parse_statement(p))) return -1;
        } else {
            return unexpected(p);
        }
        if (push(p, body, n)) return -1;
    }
    p->depth--;
    return 0;
}

mmrt_status jj_parse_tokens(mmrt_jinja_template *t, const jj_lexed *lx, mmrt_error *err) {
    parser p = {.t = t, .tok = lx->toks, .n = lx->n, .err = err};
    vec body = {0};
    const jj_tok *found = NULL;
    if (parse_body(&p, NULL, &body, &found)) return err ? err->status : MMRT_ERR_BAD_FORMAT;
    t->body = body.v;
    t->n_body = body.n;
    return MMRT_OK;
}
