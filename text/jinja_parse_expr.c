/* Expressions of the Jinja2 parser (jinja2/parser.py): a recursive descent whose nesting is
 * bounded by MMRT_JINJA_MAX_PARSE_DEPTH so that hostile input cannot exhaust the stack. Filter
 * and test names are checked here, so an unknown one fails at parse time with its position. */
#include "text/jinja_parser.h"

#include <stdio.h>
#include <string.h>

int jjp_fail(parser *p, const jj_tok *at, mmrt_status st, const char *fmt, const char *arg) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    mmrt_error_set(p->err, st, "%s:%d:%d: %s", p->t->name, (int)at->line, (int)at->col, msg);
    return -1;
}

const char *jjp_describe(const jj_tok *t, char *buf, size_t cap) {
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

int jjp_unexpected(parser *p) {
    char buf[80];
    return jjp_fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "unexpected '%s'", jjp_describe(cur(p), buf, sizeof buf));
}

int jjp_expect_op(parser *p, int op) {
    if (!is_op(p, op)) {
        char want[4] = {(char)op, 0};
        return jjp_fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "expected '%s'", want);
    }
    p->pos++;
    return 0;
}
int jjp_expect_type(parser *p, int type, const char *what) {
    if (cur(p)->type != type) {
        char buf[80], msg[200];
        snprintf(msg, sizeof msg, "expected %s, got '%s'", what, jjp_describe(cur(p), buf, sizeof buf));
        return jjp_fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "%s", msg);
    }
    p->pos++;
    return 0;
}

int jjp_enter(parser *p) {
    if (++p->depth > MMRT_JINJA_MAX_PARSE_DEPTH)
        return jjp_fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "%s", "template nested too deeply (more than 200 levels)");
    return 0;
}

jj_node *jjp_node(parser *p, int kind, const jj_tok *at) {
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

char *jjp_name_copy(parser *p, const char *s, size_t len) {
    char *c = jj_alloc(&p->t->pool, len + 1);
    if (!c) {
        mmrt_error_oom(p->err, len + 1, "the template");
        return NULL;
    }
    memcpy(c, s, len);
    return c;
}


int jjp_push(parser *p, vec *v, jj_node *x) {
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

static jj_node *parse_unary(parser *p, bool with_filter);
static jj_node *parse_postfix(parser *p, jj_node *n);

/* Call arguments `(a, b, k=v)` into n (args, kw, kwv). */
static int parse_call_args(parser *p, jj_node *n) {
    if (jjp_expect_op(p, '(')) return -1;
    vec args = {0}, kwv = {0};
    const char **kw = NULL;
    int kw_cap = 0;
    bool need_comma = false;
    while (!is_op(p, ')')) {
        if (need_comma) {
            if (jjp_expect_op(p, ',')) return -1;
            if (is_op(p, ')')) break;
        }
        if (is_op(p, '*') || is_op(p, JOP_POW))
            return jjp_fail(p, cur(p), MMRT_ERR_UNSUPPORTED, "%s", "*args and **kwargs in calls are not supported");
        if (cur(p)->type == JT_NAME && peek(p, 1)->type == JT_OP && peek(p, 1)->op == '=') {
            const jj_tok *nt = cur(p);
            p->pos += 2;
            jj_node *v = jjp_parse_expression(p, true);
            if (!v) return -1;
            if (kwv.n == kw_cap) {
                int cap = kw_cap ? kw_cap * 2 : 4;
                const char **nk = jj_alloc(&p->t->pool, (size_t)cap * sizeof *nk);
                if (!nk) return mmrt_error_oom(p->err, 0, "the template"), -1;
                if (kwv.n) memcpy(nk, kw, (size_t)kwv.n * sizeof *nk);
                kw = nk;
                kw_cap = cap;
            }
            if (!(kw[kwv.n] = jjp_name_copy(p, nt->s, nt->len)) || jjp_push(p, &kwv, v)) return -1;
        } else {
            if (kwv.n) return jjp_fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "%s", "invalid syntax for function call expression");
            jj_node *v = jjp_parse_expression(p, true);
            if (!v || jjp_push(p, &args, v)) return -1;
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
    if (jjp_expect_type(p, JT_NAME, "a name")) return NULL;
    char buf[128];
    size_t len = t->len < sizeof buf - 1 ? t->len : sizeof buf - 1;
    memcpy(buf, t->s, len);
    while (is_op(p, '.')) {
        p->pos++;
        const jj_tok *u = cur(p);
        if (jjp_expect_type(p, JT_NAME, "a name")) return NULL;
        if (len + 1 + u->len < sizeof buf) {
            buf[len++] = '.';
            memcpy(buf + len, u->s, u->len);
            len += u->len;
        }
    }
    return jjp_name_copy(p, buf, len);
}

jj_node *jjp_parse_filter(parser *p, jj_node *in, bool start_inline) {
    while (is_op(p, '|') || start_inline) {
        if (!start_inline) p->pos++;
        start_inline = false;
        const jj_tok *at = cur(p);
        jj_node *f = jjp_node(p, JE_FILTER, at);
        if (!f || !(f->s = dotted_name(p))) return NULL;
        if (!jj_filter_known(f->s)) {
            jjp_fail(p, at, MMRT_ERR_UNSUPPORTED, "unknown filter '%s'", f->s);
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
    jj_node *t = jjp_node(p, JE_TEST, is_tok);
    if (!t || !(t->s = dotted_name(p))) return NULL;
    if (!jj_test_known(t->s)) {
        jjp_fail(p, at, MMRT_ERR_UNSUPPORTED, "unknown test '%s'", t->s);
        return NULL;
    }
    const jj_tok *c = cur(p);
    if (is_op(p, '(')) {
        if (parse_call_args(p, t)) return NULL;
    } else if ((c->type == JT_NAME || c->type == JT_STRING || c->type == JT_INT || c->type == JT_FLOAT ||
                (c->type == JT_OP && (c->op == '[' || c->op == '{'))) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        if (is_name(c, "is")) {
            jjp_fail(p, c, MMRT_ERR_BAD_FORMAT, "%s", "You cannot chain multiple tests with is");
            return NULL;
        }
        jj_node *arg = jjp_parse_primary(p, false);
        if (!arg || !(arg = parse_postfix(p, arg))) return NULL;
        t->args = jj_alloc(&p->t->pool, sizeof *t->args);
        if (!t->args) return mmrt_error_oom(p->err, 0, "the template"), NULL;
        t->args[0] = arg;
        t->n_args = 1;
    }
    t->a = in;
    if (!negated) return t;
    jj_node *n = jjp_node(p, JE_NOT, is_tok);
    if (n) n->a = t;
    return n;
}

static jj_node *parse_subscribed(parser *p) {
    const jj_tok *at = cur(p);
    jj_node *parts[3] = {0};
    if (is_op(p, ':')) {
        p->pos++;
    } else {
        jj_node *e = jjp_parse_expression(p, true);
        if (!e) return NULL;
        if (!is_op(p, ':')) return e;
        p->pos++;
        parts[0] = e;
    }
    if (!is_op(p, ':') && !is_op(p, ']') && !is_op(p, ',') && !(parts[1] = jjp_parse_expression(p, true))) return NULL;
    if (is_op(p, ':')) {
        p->pos++;
        if (!is_op(p, ']') && !is_op(p, ',') && !(parts[2] = jjp_parse_expression(p, true))) return NULL;
    }
    jj_node *s = jjp_node(p, JE_SLICE, at);
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
                jj_node *g = jjp_node(p, JE_GETATTR, at);
                if (!g || !(g->s = jjp_name_copy(p, a->s, a->len))) return NULL;
                g->len = a->len;
                g->a = n;
                n = g;
                p->pos++;
            } else if (a->type == JT_INT) {
                jj_node *g = jjp_node(p, JE_GETITEM, at), *k = jjp_node(p, JE_CONST, a);
                if (!g || !k) return NULL;
                k->value = jj_int(a->i);
                g->a = n;
                g->b = k;
                n = g;
                p->pos++;
            } else {
                jjp_fail(p, a, MMRT_ERR_BAD_FORMAT, "%s", "expected name or number");
                return NULL;
            }
        } else if (is_op(p, '[')) {
            p->pos++;
            vec items = {0};
            while (!is_op(p, ']')) {
                if (items.n && jjp_expect_op(p, ',')) return NULL;
                jj_node *s = parse_subscribed(p);
                if (!s || jjp_push(p, &items, s)) return NULL;
            }
            p->pos++;
            jj_node *g = jjp_node(p, JE_GETITEM, at);
            if (!g) return NULL;
            g->a = n;
            if (items.n == 1) {
                g->b = items.v[0];
            } else { /* x[a, b] indexes with a tuple; x[] with (), as in jinja2 */
                jj_node *tu = jjp_node(p, JE_TUPLE, at);
                if (!tu) return NULL;
                tu->args = items.v;
                tu->n_args = items.n;
                g->b = tu;
            }
            n = g;
        } else if (is_op(p, '(')) {
            jj_node *c = jjp_node(p, JE_CALL, at);
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
            if (!(n = jjp_parse_filter(p, n, false))) return NULL;
        } else if (is_name(cur(p), "is")) {
            if (!(n = parse_test(p, n))) return NULL;
        } else if (is_op(p, '(')) {
            jj_node *c = jjp_node(p, JE_CALL, cur(p));
            if (!c || parse_call_args(p, c)) return NULL;
            c->a = n;
            n = c;
        } else {
            return n;
        }
    }
}

jj_node *jjp_parse_primary(parser *p, bool with_namespace) {
    const jj_tok *t = cur(p);
    jj_node *n = NULL;
    if (t->type == JT_NAME) {
        p->pos++;
        if (is_name(t, "true") || is_name(t, "True") || is_name(t, "false") || is_name(t, "False")) {
            if ((n = jjp_node(p, JE_CONST, t))) n->value = jj_bool(t->s[0] == 't' || t->s[0] == 'T');
        } else if (is_name(t, "none") || is_name(t, "None")) {
            if ((n = jjp_node(p, JE_CONST, t))) n->value = jj_none();
        } else if (with_namespace && is_op(p, '.')) {
            p->pos++;
            const jj_tok *a = cur(p);
            if (jjp_expect_type(p, JT_NAME, "a name")) return NULL;
            jj_node *ns = jjp_node(p, JE_NAME, t);
            if (!ns || !(ns->s = jjp_name_copy(p, t->s, t->len)) || !(n = jjp_node(p, JE_NSREF, t))) return NULL;
            if (!(n->s = jjp_name_copy(p, a->s, a->len))) return NULL;
            n->len = a->len;
            n->a = ns;
        } else {
            if (!(n = jjp_node(p, JE_NAME, t)) || !(n->s = jjp_name_copy(p, t->s, t->len))) return NULL;
            n->len = t->len;
        }
    } else if (t->type == JT_STRING) {
        /* adjacent literals concatenate */
        size_t total = 0, k = p->pos;
        for (; k < p->n && p->tok[k].type == JT_STRING; k++) total += p->tok[k].len;
        char *s = jj_alloc(&p->t->pool, total + 1 + sizeof(jj_str));
        if (!s || !(n = jjp_node(p, JE_CONST, t))) return mmrt_error_oom(p->err, total, "a string literal"), NULL;
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
        if ((n = jjp_node(p, JE_CONST, t))) n->value = t->type == JT_INT ? jj_int(t->i) : jj_float(t->f);
    } else if (is_op(p, '(')) {
        p->pos++;
        if (!(n = jjp_parse_tuple(p, false, true, NULL, true, false)) || jjp_expect_op(p, ')')) return NULL;
    } else if (is_op(p, '[') || is_op(p, '{')) {
        bool dict = is_op(p, '{');
        p->pos++;
        vec items = {0};
        int close = dict ? '}' : ']';
        while (!is_op(p, close)) {
            if (items.n && jjp_expect_op(p, ',')) return NULL;
            if (is_op(p, close)) break;
            jj_node *e = jjp_parse_expression(p, true);
            if (!e || jjp_push(p, &items, e)) return NULL;
            if (dict) {
                if (jjp_expect_op(p, ':') || !(e = jjp_parse_expression(p, true)) || jjp_push(p, &items, e)) return NULL;
            }
        }
        p->pos++;
        if (!(n = jjp_node(p, dict ? JE_DICT : JE_LIST, t))) return NULL;
        n->args = items.v;
        n->n_args = items.n;
    } else {
        jjp_unexpected(p);
        return NULL;
    }
    return n;
}

static jj_node *parse_unary(parser *p, bool with_filter) {
    if (jjp_enter(p)) return NULL;
    const jj_tok *t = cur(p);
    jj_node *n;
    if (is_op(p, '-') || is_op(p, '+')) {
        p->pos++;
        jj_node *x = parse_unary(p, false);
        if (!x || !(n = jjp_node(p, t->op == '-' ? JE_NEG : JE_POS, t))) return NULL;
        n->a = x;
    } else if (!(n = jjp_parse_primary(p, false))) {
        return NULL;
    }
    if (!(n = parse_postfix(p, n))) return NULL;
    if (with_filter && !(n = parse_filter_expr(p, n))) return NULL;
    p->depth--;
    return n;
}

static jj_node *binop(parser *p, const jj_tok *at, int kind, int op, jj_node *a, jj_node *b) {
    jj_node *n = jjp_node(p, kind, at);
    if (!n) return NULL;
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}

/* The binary levels between unary and comparison, tightest first; each is left-associative,
 * operand (op operand)*, as in jinja2 (so 2 ** 3 ** 2 is 64): ** | * / // % | ~ | + - */
static const char *const BINARY_LEVELS[] = {"P", "*/F%", "~", "+-"};

static jj_node *parse_binary(parser *p, int level) {
    jj_node *l = level == 0 ? parse_unary(p, true) : parse_binary(p, level - 1);
    while (l && cur(p)->type == JT_OP && cur(p)->op && strchr(BINARY_LEVELS[level], cur(p)->op)) {
        const jj_tok *at = cur(p);
        p->pos++;
        jj_node *r = level == 0 ? parse_unary(p, true) : parse_binary(p, level - 1);
        l = r ? binop(p, at, JE_BINOP, at->op, l, r) : NULL;
    }
    return l;
}

static jj_node *parse_math1(parser *p) { return parse_binary(p, 3); } /* + - and tighter */

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
            jjp_fail(p, t, MMRT_ERR_UNSUPPORTED, "%s", "more than 64 chained comparisons");
            return NULL;
        }
        jj_node *r = parse_math1(p);
        if (!r || jjp_push(p, &ops, r)) return NULL;
        codes[ops.n - 1] = (uint8_t)code;
    }
    if (!ops.n) return first;
    jj_node *n = jjp_node(p, JE_COMPARE, at);
    if (!n || !(n->ops = jj_alloc(&p->t->pool, (size_t)ops.n))) return NULL;
    memcpy(n->ops, codes, (size_t)ops.n);
    n->a = first;
    n->args = ops.v;
    n->n_args = ops.n;
    return n;
}

static jj_node *parse_not(parser *p) {
    if (!is_name(cur(p), "not")) return parse_compare(p);
    if (jjp_enter(p)) return NULL;
    const jj_tok *at = cur(p);
    p->pos++;
    jj_node *x = parse_not(p), *n;
    if (!x || !(n = jjp_node(p, JE_NOT, at))) return NULL;
    n->a = x;
    p->depth--;
    return n;
}

/* `a and b` (or_level false) and `a or b` (true): left-associative, `and` binding tighter. */
static jj_node *parse_logic(parser *p, bool or_level) {
    jj_node *l = or_level ? parse_logic(p, false) : parse_not(p);
    while (l && is_name(cur(p), or_level ? "or" : "and")) {
        const jj_tok *at = cur(p);
        p->pos++;
        jj_node *r = or_level ? parse_logic(p, false) : parse_not(p);
        l = r ? binop(p, at, or_level ? JE_OR : JE_AND, 0, l, r) : NULL;
    }
    return l;
}

static jj_node *parse_or(parser *p) { return parse_logic(p, true); }

jj_node *jjp_parse_expression(parser *p, bool with_condexpr) {
    if (jjp_enter(p)) return NULL;
    const jj_tok *at = cur(p);
    jj_node *e = parse_or(p);
    while (e && with_condexpr && skip_name(p, "if")) {
        jj_node *cond = parse_or(p), *other = NULL;
        if (!cond) return NULL;
        if (skip_name(p, "else") && !(other = jjp_parse_expression(p, true))) return NULL;
        jj_node *n = jjp_node(p, JE_COND, at);
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

jj_node *jjp_parse_tuple(parser *p, bool simplified, bool with_condexpr, const char *extra_end,
                            bool explicit_parens, bool with_namespace) {
    const jj_tok *at = cur(p);
    vec items = {0};
    bool is_tuple = false;
    for (;;) {
        if (items.n && jjp_expect_op(p, ',')) return NULL;
        if (tuple_end(p, extra_end)) break;
        jj_node *e = simplified ? jjp_parse_primary(p, with_namespace) : jjp_parse_expression(p, with_condexpr);
        if (!e || jjp_push(p, &items, e)) return NULL;
        if (is_op(p, ',')) is_tuple = true;
        else break;
    }
    if (!is_tuple) {
        if (items.n) return items.v[0];
        if (!explicit_parens) {
            char buf[80];
            jjp_fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "expected an expression, got '%s'", jjp_describe(cur(p), buf, sizeof buf));
            return NULL;
        }
    }
    jj_node *n = jjp_node(p, JE_TUPLE, at);
    if (!n) return NULL;
    n->args = items.v;
    n->n_args = items.n;
    return n;
}
