/* Statements of the Jinja2 parser (jinja2/parser.py): for, if/elif/else, set (and block set),
 * macro, filter blocks, generation, break/continue; template inheritance and inclusion tags are
 * refused by name. Expressions are in jinja_parse_expr.c. */
#include "text/jinja_parser.h"

#include <stdio.h>
#include <string.h>

/* ---- statements ---- */

static int parse_body(parser *p, const char *const *ends, vec *body, const jj_tok **found);

static int block_end(parser *p) { return jjp_expect_type(p, JT_BLOCK_END, "end of statement block"); }

/* Assignment targets of for/set: a name, a namespace attribute, or a tuple of names. */
static jj_node *parse_target(parser *p, const char *extra_end, bool with_namespace) {
    const jj_tok *at = cur(p);
    jj_node *t = jjp_parse_tuple(p, true, false, extra_end, false, with_namespace);
    if (!t) return NULL;
    bool ok = t->kind == JE_NAME || t->kind == JE_NSREF;
    if (t->kind == JE_TUPLE) {
        ok = t->n_args > 0;
        for (int i = 0; i < t->n_args; i++) ok = ok && t->args[i]->kind == JE_NAME;
    }
    if (!ok) {
        jjp_fail(p, at, MMRT_ERR_BAD_FORMAT, "%s", "can't assign to this expression");
        return NULL;
    }
    return t;
}

static const char *const END_FOR[] = {"endfor", "else", NULL};
static const char *const END_FOR2[] = {"endfor", NULL};
static const char *const END_IF[] = {"elif", "else", "endif", NULL};
static const char *const END_IF2[] = {"endif", NULL};

static jj_node *parse_for(parser *p, const jj_tok *at) {
    jj_node *n = jjp_node(p, JN_FOR, at);
    if (!n || !(n->b = parse_target(p, "in", false))) return NULL;
    if (!skip_name(p, "in")) {
        jjp_fail(p, cur(p), MMRT_ERR_BAD_FORMAT, "%s", "expected 'in'");
        return NULL;
    }
    if (!(n->a = jjp_parse_tuple(p, false, false, "recursive", false, false))) return NULL;
    if (skip_name(p, "if") && !(n->c = jjp_parse_expression(p, true))) return NULL;
    if (is_name(cur(p), "recursive")) {
        jjp_fail(p, cur(p), MMRT_ERR_UNSUPPORTED, "%s", "recursive loops are not supported");
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
    if (jj_collect_stores(p->t, n->body, n->n_body, &n->stores, p->err)) return NULL;
    n->orelse = orelse.v;
    n->n_orelse = orelse.n;
    return n;
}

static jj_node *parse_if(parser *p, const jj_tok *at) {
    jj_node *n = jjp_node(p, JN_IF, at);
    if (!n || !(n->a = jjp_parse_tuple(p, false, false, NULL, false, false)) || block_end(p)) return NULL;
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
        jj_node *n = jjp_node(p, JN_SET, at);
        if (!n || !(n->a = jjp_parse_tuple(p, false, true, NULL, false, false)) || block_end(p)) return NULL;
        n->b = target;
        return n;
    }
    if (target->kind != JE_NAME && target->kind != JE_NSREF) {
        jjp_fail(p, at, MMRT_ERR_BAD_FORMAT, "%s", "a block set needs one name");
        return NULL;
    }
    static const char *const END_SET[] = {"endset", NULL};
    jj_node *n = jjp_node(p, JN_SETBLOCK, at), *ref = jjp_node(p, JE_BODYREF, at);
    if (!n || !ref || !(n->a = jjp_parse_filter(p, ref, false)) || block_end(p)) return NULL;
    n->b = target;
    vec body = {0};
    const jj_tok *found;
    if (parse_body(p, END_SET, &body, &found) || block_end(p)) return NULL;
    n->body = body.v;
    n->n_body = body.n;
    if (jj_collect_stores(p->t, n->body, n->n_body, &n->stores, p->err)) return NULL;
    return n;
}

/* True when the tree n loads the variable `name`. Left-deep operator chains (a ~ b ~ c ...) make
 * trees deeper than the parser's recursion, so the walk stops at a depth the stack can afford. */
static bool refers(const jj_node *n, const char *name, int depth) {
    if (!n || depth > 2000) return false;
    if (n->kind == JE_NAME && !strcmp(n->s, name)) return true;
    depth++;
    if (refers(n->a, name, depth) || refers(n->b, name, depth) || refers(n->c, name, depth)) return true;
    for (int i = 0; i < n->n_args; i++)
        if (refers(n->args[i], name, depth)) return true;
    for (int i = 0; i < n->n_kw; i++)
        if (refers(n->kwv[i], name, depth)) return true;
    for (int i = 0; i < n->n_body; i++)
        if (refers(n->body[i], name, depth)) return true;
    for (int i = 0; i < n->n_orelse; i++)
        if (refers(n->orelse[i], name, depth)) return true;
    return false;
}

static jj_node *parse_macro(parser *p, const jj_tok *at) {
    jj_node *n = jjp_node(p, JN_MACRO, at);
    const jj_tok *nt = cur(p);
    if (!n || jjp_expect_type(p, JT_NAME, "a macro name") || !(n->s = jjp_name_copy(p, nt->s, nt->len))) return NULL;
    if (jjp_expect_op(p, '(')) return NULL;
    vec params = {0}, defaults = {0};
    while (!is_op(p, ')')) {
        if (params.n && jjp_expect_op(p, ',')) return NULL;
        const jj_tok *pt = cur(p);
        if (jjp_expect_type(p, JT_NAME, "a parameter name")) return NULL;
        jj_node *pn = jjp_node(p, JE_NAME, pt), *dv = NULL;
        if (!pn || !(pn->s = jjp_name_copy(p, pt->s, pt->len))) return NULL;
        if (is_op(p, '=')) {
            p->pos++;
            if (!(dv = jjp_parse_expression(p, true))) return NULL;
        } else if (defaults.n && defaults.v[defaults.n - 1]) {
            jjp_fail(p, pt, MMRT_ERR_BAD_FORMAT, "%s", "non-default argument follows default argument");
            return NULL;
        }
        if (jjp_push(p, &params, pn) || jjp_push(p, &defaults, dv)) return NULL;
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
    if (jj_collect_stores(p->t, n->body, n->n_body, &n->stores, p->err)) return NULL;
    /* as jinja2 does, a macro whose body mentions varargs / kwargs takes extra arguments there */
    for (int i = 0; i < n->n_body; i++) {
        if (refers(n->body[i], "varargs", 0)) n->op |= JJ_MACRO_VARARGS;
        if (refers(n->body[i], "kwargs", 0)) n->op |= JJ_MACRO_KWARGS;
    }
    return n;
}

static jj_node *parse_block_body(parser *p, const jj_tok *at, int kind, const char *end) {
    const char *const ends[] = {end, NULL};
    jj_node *n = jjp_node(p, kind, at);
    if (!n) return NULL;
    if (kind == JN_FILTERBLOCK) {
        jj_node *ref = jjp_node(p, JE_BODYREF, at);
        if (!ref || !(n->a = jjp_parse_filter(p, ref, true))) return NULL;
    }
    vec body = {0};
    const jj_tok *found;
    if (block_end(p) || parse_body(p, ends, &body, &found) || block_end(p)) return NULL;
    n->body = body.v;
    n->n_body = body.n;
    if (jj_collect_stores(p->t, n->body, n->n_body, &n->stores, p->err)) return NULL;
    return n;
}

static jj_node *parse_statement(parser *p) {
    const jj_tok *t = cur(p);
    if (t->type != JT_NAME) {
        jjp_fail(p, t, MMRT_ERR_BAD_FORMAT, "%s", "tag name expected");
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
        jj_node *n = jjp_node(p, t->s[0] == 'b' ? JN_BREAK : JN_CONTINUE, t);
        return n && !block_end(p) ? n : NULL;
    }
    static const char *const unsupported[] = {"extends", "block", "include", "import", "from", "call",
                                              "with", "autoescape", "do", NULL};
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(t->len < 60 ? t->len : 60), t->s);
    for (int i = 0; unsupported[i]; i++)
        if (is_name(t, unsupported[i])) {
            jjp_fail(p, t, MMRT_ERR_UNSUPPORTED, "unsupported tag '%s'", name);
            return NULL;
        }
    jjp_fail(p, t, MMRT_ERR_BAD_FORMAT, "unknown tag '%s'", name);
    return NULL;
}

/* Statements until a block whose first name is in `ends` (NULL-terminated; none at top level).
 * On return the parser stands after that name, and *found is its token. */
static int parse_body(parser *p, const char *const *ends, vec *body, const jj_tok **found) {
    if (jjp_enter(p)) return -1;
    for (;;) {
        const jj_tok *t = cur(p);
        jj_node *n = NULL;
        if (t->type == JT_EOF) {
            if (ends && ends[0]) {
                char msg[200];
                snprintf(msg, sizeof msg, "unexpected end of template, expected '%s'", ends[0]);
                return jjp_fail(p, t, MMRT_ERR_BAD_FORMAT, "%s", msg);
            }
            break;
        }
        if (t->type == JT_DATA) {
            if (!(n = jjp_node(p, JN_DATA, t))) return -1;
            n->s = t->s;
            n->len = t->len;
            p->pos++;
        } else if (t->type == JT_VAR_BEGIN) {
            p->pos++;
            jj_node *e = jjp_parse_tuple(p, false, true, NULL, false, false);
            if (!e || jjp_expect_type(p, JT_VAR_END, "end of print statement") || !(n = jjp_node(p, JN_OUTPUT, t))) return -1;
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
                if (is_name(nt, stray[i])) return jjp_fail(p, nt, MMRT_ERR_BAD_FORMAT, "unexpected tag '%s'", stray[i]);
            if (!(n = parse_statement(p))) return -1;
        } else {
            return jjp_unexpected(p);
        }
        if (jjp_push(p, body, n)) return -1;
    }
    p->depth--;
    return 0;
}

mmrt_status jj_collect_stores(mmrt_jinja_template *t, jj_node *const *body, int n_body, jj_stores *out,
                              mmrt_error *err) {
    int n = 0;
    for (int i = 0; i < n_body; i++) {
        const jj_node *s = body[i];
        if (s->kind == JN_SET || s->kind == JN_SETBLOCK) n += s->b->kind == JE_TUPLE ? s->b->n_args : 1;
        if (s->kind == JN_MACRO) n++;
    }
    out->n = 0;
    if (!n) return MMRT_OK;
    if (!(out->names = jj_alloc(&t->pool, (size_t)n * sizeof *out->names))) return mmrt_error_oom(err, 0, "the template");
    for (int i = 0; i < n_body; i++) {
        const jj_node *s = body[i];
        if (s->kind == JN_MACRO) out->names[out->n++] = s->s;
        if (s->kind != JN_SET && s->kind != JN_SETBLOCK) continue;
        if (s->b->kind == JE_NAME) out->names[out->n++] = s->b->s;
        for (int k = 0; s->b->kind == JE_TUPLE && k < s->b->n_args; k++) out->names[out->n++] = s->b->args[k]->s;
    }
    return MMRT_OK;
}

mmrt_status jj_parse_tokens(mmrt_jinja_template *t, const jj_lexed *lx, mmrt_error *err) {
    parser p = {.t = t, .tok = lx->toks, .n = lx->n, .err = err};
    vec body = {0};
    const jj_tok *found = NULL;
    if (parse_body(&p, NULL, &body, &found)) return err ? err->status : MMRT_ERR_BAD_FORMAT;
    t->body = body.v;
    t->n_body = body.n;
    return jj_collect_stores(t, t->body, t->n_body, &t->stores, err);
}
