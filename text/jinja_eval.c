/* Statements and expressions of the Jinja2 interpreter, and the public entry points of
 * text/jinja.h. Scoping follows jinja2 where templates notice it: a for loop's body has its own
 * variables (a `set` inside it is gone after the loop; namespaces carry values out), `if` has none,
 * a macro call sees its arguments, its own sets and the frame it was defined in. */
#include "text/jinja_impl.h"
#include "text/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int set_var(jj_render *r, jj_frame *f, const char *name, jj_value v) {
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->vars[i].name, name)) {
            f->vars[i].v = v;
            return 0;
        }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        jj_var *nv = jj_alloc(&r->pool, cap * sizeof *nv);
        if (!nv) return jj_oom(r);
        if (f->n) memcpy(nv, f->vars, f->n * sizeof *nv);
        f->vars = nv;
        f->cap = cap;
    }
    f->vars[f->n].name = name;
    f->vars[f->n].v = v;
    f->n++;
    return 0;
}

static const char *const FUNC_NAMES[JF_COUNT] = {"range", "namespace", "dict", "raise_exception", "strftime_now",
                                                 "joiner", "cycler"};

int jj_lookup(jj_render *r, jj_frame *f, const char *name, jj_value *out) {
    for (jj_frame *g = f; g; g = g->parent) {
        for (size_t i = g->n; i-- > 0;)
            if (!strcmp(g->vars[i].name, name)) {
                *out = g->vars[i].v;
                return 0;
            }
        /* an enclosing body's local that it has not assigned yet (jj_stores) */
        for (int i = 0; g != f && g->stores && i < g->stores->n; i++)
            if (!strcmp(g->stores->names[i], name)) {
                jj_str *h = jj_str_fmt(&r->pool, "'%.200s' is undefined", name);
                if (!h) return jj_oom(r);
                *out = jj_undef(h);
                return 0;
            }
    }
    const jj_value *v = r->ctx ? jj_dict_get_s(r->ctx, name, strlen(name)) : NULL;
    if (v) {
        *out = *v;
        return 0;
    }
    for (int i = 0; i < JF_COUNT; i++)
        if (!strcmp(FUNC_NAMES[i], name)) {
            out->t = JV_FUNC;
            out->u.func = i;
            return 0;
        }
    jj_str *h = jj_str_fmt(&r->pool, "'%.200s' is undefined", name);
    if (!h) return jj_oom(r);
    *out = jj_undef(h);
    return 0;
}

static void at(jj_render *r, const jj_node *n) {
    r->line = n->line;
    r->col = n->col;
}

static int enter(jj_render *r, const jj_node *n) {
    at(r, n);
    if (++r->depth > r->max_depth)
        return jj_fail(r, MMRT_ERR_INVALID_ARG, "nesting deeper than max_depth = %d", (int)r->max_depth);
    return jj_step(r, 1);
}

/* Evaluates n->args and n->kwv into arrays from the pool. */
static int eval_args(jj_render *r, const jj_node *n, jj_value **args, jj_value **kwv) {
    *args = jj_alloc(&r->pool, (size_t)(n->n_args + 1) * sizeof(jj_value));
    *kwv = jj_alloc(&r->pool, (size_t)(n->n_kw + 1) * sizeof(jj_value));
    if (!*args || !*kwv) return jj_oom(r);
    for (int i = 0; i < n->n_args; i++)
        if (jj_eval(r, n->args[i], &(*args)[i])) return -1;
    for (int i = 0; i < n->n_kw; i++)
        if (jj_eval(r, n->kwv[i], &(*kwv)[i])) return -1;
    return 0;
}

static jj_frame *frame_new(jj_render *r, jj_frame *parent, const jj_stores *stores) {
    jj_frame *f = jj_alloc(&r->pool, sizeof *f);
    if (!f) {
        jj_oom(r);
        return NULL;
    }
    f->parent = parent;
    f->stores = stores;
    return f;
}

typedef struct macro_value {
    const jj_node *def;
    jj_frame *closure;
} macro_value;

static int call_macro(jj_render *r, const macro_value *mv, const jj_value *args, int n_args,
                      const char *const *kw, const jj_value *kwv, int n_kw, jj_value *out) {
    const jj_node *m = mv->def;
    if (n_args > m->n_args && !(m->op & JJ_MACRO_VARARGS))
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "macro '%s' takes not more than %d argument(s)", m->s, m->n_args);
    jj_frame *f = frame_new(r, mv->closure, &m->stores);
    if (!f) return -1;
    if (m->op & JJ_MACRO_VARARGS) {
        jj_value va;
        size_t extra = n_args > m->n_args ? (size_t)(n_args - m->n_args) : 0;
        jj_list *l = jj_list_new(r, extra, JV_TUPLE, &va);
        if (!l || set_var(r, f, "varargs", va)) return -1;
        for (size_t i = 0; i < extra; i++) l->v[i] = args[m->n_args + (int)i];
    }
    jj_dict *kwd = NULL;
    if (m->op & JJ_MACRO_KWARGS) {
        jj_value kv;
        if (!(kwd = jj_dict_new(r, 0, &kv)) || set_var(r, f, "kwargs", kv)) return -1;
    }
    for (int i = 0; i < m->n_args; i++) {
        const char *pname = m->args[i]->s;
        jj_value v;
        bool have = i < n_args;
        if (have) v = args[i];
        for (int k = 0; k < n_kw; k++)
            if (!strcmp(kw[k], pname)) {
                if (have) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "macro '%s' got multiple values for argument '%s'", m->s, pname);
                v = kwv[k];
                have = true;
            }
        if (!have && m->kwv[i]) {
            if (jj_eval(r, m->kwv[i], &v)) return -1;
            have = true;
        }
        if (!have) {
            jj_str *h = jj_str_fmt(&r->pool, "parameter '%s' was not provided", pname);
            if (!h) return jj_oom(r);
            v = jj_undef(h);
        }
        if (set_var(r, f, pname, v)) return -1;
    }
    for (int k = 0; k < n_kw; k++) {
        bool known = false;
        for (int i = 0; i < m->n_args && !known; i++) known = !strcmp(kw[k], m->args[i]->s);
        if (!known && kwd) {
            jj_value key;
            if (jj_make_str(r, kw[k], strlen(kw[k]), &key) || jj_dict_set(r, kwd, key, kwv[k])) return -1;
        } else if (!known) {
            return jj_fail(r, MMRT_ERR_BAD_FORMAT, "macro '%s' takes no keyword argument '%s'", m->s, kw[k]);
        }
    }
    jj_buf buf = {0}, *saved = r->out;
    r->out = &buf;
    int rc = jj_exec_body(r, m->body, m->n_body, f);
    r->out = saved;
    r->brk = 0;
    if (rc) return -1;
    return jj_buf_value(r, &buf, out); /* Markup only under autoescape, which is off */
}

int jj_call_value(jj_render *r, const jj_value *callee, const jj_value *args, int n_args,
                  const char *const *kw, const jj_value *kwv, int n_kw, jj_value *out) {
    switch (callee->t) {
    case JV_MACRO: return call_macro(r, (const macro_value *)callee->u.macro, args, n_args, kw, kwv, n_kw, out);
    case JV_FUNC: return jj_call_func(r, callee->u.func, args, n_args, kw, kwv, n_kw, out);
    case JV_METHOD: return jj_call_method(r, callee->u.m, args, n_args, kw, kwv, n_kw, out);
    case JV_HELPER:
        if (!callee->u.helper->cycler) { /* joiner() */
            jj_helper *h = callee->u.helper;
            if (!h->used) {
                h->used = true;
                return jj_make_str(r, "", 0, out);
            }
            *out = h->sep;
            return 0;
        }
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "'Cycler' object is not callable");
    case JV_UNDEF: return jj_undef_fail(r, callee);
    default: return jj_fail(r, MMRT_ERR_BAD_FORMAT, "'%s' object is not callable", jj_type_name(callee));
    }
}

static int eval_compare(jj_render *r, const jj_node *n, jj_value *out) {
    jj_value left, right;
    if (jj_eval(r, n->a, &left)) return -1;
    for (int i = 0; i < n->n_args; i++) {
        if (jj_eval(r, n->args[i], &right)) return -1;
        at(r, n);
        bool ok;
        int op = n->ops[i], c;
        if (op == 'i' || op == 'n') {
            if (jj_contains(r, &right, &left, &ok)) return -1;
            if (op == 'n') ok = !ok;
        } else if (op == JOP_EQ || op == JOP_NE) {
            if (jj_equal_r(r, &left, &right, &ok)) return -1;
            ok = ok == (op == JOP_EQ);
        } else {
            if (jj_compare(r, &left, &right, &c)) return -1;
            ok = op == '<' ? c < 0 : op == '>' ? c > 0 : op == JOP_LE ? c <= 0 : c >= 0;
        }
        if (!ok) {
            *out = jj_bool(false);
            return 0;
        }
        left = right;
    }
    *out = jj_bool(true);
    return 0;
}

static int eval_inner(jj_render *r, const jj_node *n, jj_value *out) {
    jj_value a, b, c;
    jj_value *args, *kwv;
    switch (n->kind) {
    case JE_CONST: *out = n->value; return 0;
    case JE_NAME: return jj_lookup(r, r->frame, n->s, out);
    case JE_GETATTR:
        if (jj_eval(r, n->a, &a)) return -1;
        at(r, n);
        return jj_getattr(r, &a, n->s, n->len, out);
    case JE_GETITEM:
        if (jj_eval(r, n->a, &a)) return -1;
        if (n->b->kind == JE_SLICE) {
            jj_value parts[3];
            for (int i = 0; i < 3; i++) {
                parts[i] = jj_none();
                if (n->b->args[i] && jj_eval(r, n->b->args[i], &parts[i])) return -1;
            }
            at(r, n);
            return jj_slice(r, &a, &parts[0], &parts[1], &parts[2], out);
        }
        if (jj_eval(r, n->b, &b)) return -1;
        at(r, n);
        return jj_getitem(r, &a, &b, out);
    case JE_CALL:
        if (jj_eval(r, n->a, &a) || eval_args(r, n, &args, &kwv)) return -1;
        at(r, n);
        return jj_call_value(r, &a, args, n->n_args, n->kw, kwv, n->n_kw, out);
    case JE_FILTER:
        if (jj_eval(r, n->a, &a) || eval_args(r, n, &args, &kwv)) return -1;
        at(r, n);
        return jj_filter(r, n->s, &a, args, n->n_args, n->kw, kwv, n->n_kw, out);
    case JE_TEST:
        if (jj_eval(r, n->a, &a) || eval_args(r, n, &args, &kwv)) return -1;
        at(r, n);
        return jj_test(r, n->s, &a, args, n->n_args, out);
    case JE_NOT:
        if (jj_eval(r, n->a, &a)) return -1;
        *out = jj_bool(!jj_truthy(&a));
        return 0;
    case JE_NEG:
    case JE_POS:
        if (jj_eval(r, n->a, &a)) return -1;
        at(r, n);
        if (n->kind == JE_POS) {
            if (a.t == JV_UNDEF) return jj_undef_fail(r, &a);
            if (!jj_is_num(&a)) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "bad operand type for unary +: '%s'", jj_type_name(&a));
            *out = a.t == JV_BOOL ? jj_int(a.u.b) : a;
            return 0;
        }
        if (a.t == JV_FLOAT) {
            *out = jj_float(-a.u.f);
            return 0;
        }
        b = jj_int(0);
        return jj_binop(r, '-', &b, &a, out);
    case JE_BINOP:
        if (jj_eval(r, n->a, &a) || jj_eval(r, n->b, &b)) return -1;
        at(r, n);
        return jj_binop(r, n->op, &a, &b, out);
    case JE_AND:
    case JE_OR:
        if (jj_eval(r, n->a, &a)) return -1;
        if (jj_truthy(&a) == (n->kind == JE_OR)) {
            *out = a;
            return 0;
        }
        return jj_eval(r, n->b, out);
    case JE_COMPARE: return eval_compare(r, n, out);
    case JE_COND:
        if (jj_eval(r, n->b, &c)) return -1;
        if (jj_truthy(&c)) return jj_eval(r, n->a, out);
        if (n->c) return jj_eval(r, n->c, out);
        *out = jj_undef(NULL);
        return 0;
    case JE_LIST:
    case JE_TUPLE: {
        jj_list *l = jj_list_new(r, (size_t)n->n_args, n->kind == JE_LIST ? JV_LIST : JV_TUPLE, out);
        if (!l) return -1;
        for (int i = 0; i < n->n_args; i++)
            if (jj_eval(r, n->args[i], &l->v[i])) return -1;
        return 0;
    }
    case JE_DICT: {
        jj_value dv;
        jj_dict *d = jj_dict_new(r, (size_t)n->n_args / 2, &dv);
        if (!d) return -1;
        for (int i = 0; i + 1 < n->n_args; i += 2)
            if (jj_eval(r, n->args[i], &a) || jj_eval(r, n->args[i + 1], &b) || jj_dict_set(r, d, a, b)) return -1;
        *out = dv;
        return 0;
    }
    default: return jj_fail(r, MMRT_ERR_INTERNAL, "unexpected node %d in an expression", n->kind);
    }
}

int jj_eval(jj_render *r, const jj_node *n, jj_value *out) {
    if (enter(r, n)) return -1;
    int rc = eval_inner(r, n, out);
    r->depth--;
    return rc;
}

static int assign(jj_render *r, jj_frame *f, const jj_node *target, const jj_value *v) {
    if (target->kind == JE_NAME) return set_var(r, f, target->s, *v);
    if (target->kind == JE_NSREF) {
        jj_value ns;
        if (jj_lookup(r, f, target->a->s, &ns)) return -1;
        if (ns.t != JV_NS) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "cannot assign attribute on non-namespace object");
        if (target->s[0] == '_')
            return jj_fail(r, MMRT_ERR_BAD_FORMAT, "chat templates cannot store underscore-prefixed attributes on a namespace");
        jj_value k;
        if (jj_make_str(r, target->s, target->len, &k)) return -1;
        return jj_dict_set(r, ns.u.d, k, *v);
    }
    /* a tuple of names: unpack */
    jj_list *items;
    if (jj_iterate(r, v, &items)) return -1;
    if ((int)items->n != target->n_args)
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%s values to unpack (expected %d, got %zu)",
                       (int)items->n > target->n_args ? "too many" : "not enough", target->n_args, items->n);
    for (int i = 0; i < target->n_args; i++)
        if (set_var(r, f, target->args[i]->s, items->v[i])) return -1;
    return 0;
}

static int exec_for(jj_render *r, const jj_node *n, jj_frame *f) {
    jj_value seqv;
    jj_list *items;
    if (jj_eval(r, n->a, &seqv) || jj_iterate(r, &seqv, &items)) return -1;
    if (n->c) { /* `for x in xs if cond`: the loop variables see only the kept items */
        jj_value kept;
        jj_list *l = jj_list_new(r, items->n, JV_LIST, &kept);
        if (!l) return -1;
        l->n = 0;
        jj_frame *tf = frame_new(r, f, NULL);
        if (!tf) return -1;
        for (size_t i = 0; i < items->n; i++) {
            jj_value ok;
            tf->n = 0;
            if (assign(r, tf, n->b, &items->v[i])) return -1;
            jj_frame *saved = r->frame;
            r->frame = tf;
            int rc = jj_eval(r, n->c, &ok);
            r->frame = saved;
            if (rc) return -1;
            if (jj_truthy(&ok)) l->v[l->n++] = items->v[i];
        }
        items = l;
    }
    if (items->n == 0) return jj_exec_body(r, n->orelse, n->n_orelse, f);
    jj_loop *lp = jj_alloc(&r->pool, sizeof *lp);
    if (!lp) return jj_oom(r);
    lp->items = items;
    jj_value loopv = {.t = JV_LOOP};
    loopv.u.loop = lp;
    /* One frame serves every iteration (emptied each time, as jinja2 starts each iteration afresh),
     * so that long loops do not allocate per iteration. */
    jj_frame *bf = frame_new(r, f, &n->stores);
    if (!bf) return -1;
    for (size_t i = 0; i < items->n; i++) {
        bf->n = 0;
        lp->index0 = i;
        if (set_var(r, bf, "loop", loopv) || assign(r, bf, n->b, &items->v[i])) return -1;
        if (jj_step(r, 1) || jj_exec_body(r, n->body, n->n_body, bf)) return -1;
        if (r->brk == 1) {
            r->brk = 0;
            break;
        }
        r->brk = 0;
    }
    return 0;
}

/* Runs body in a scope of its own (as jinja2 does for block sets and filter blocks) and returns
 * what it printed as a string value. */
static int capture(jj_render *r, const jj_node *n, jj_frame *f, jj_value *out) {
    jj_buf buf = {0}, *saved = r->out;
    jj_frame *inner = frame_new(r, f, &n->stores);
    if (!inner) return -1;
    r->out = &buf;
    int rc = jj_exec_body(r, n->body, n->n_body, inner);
    r->out = saved;
    if (rc) return -1;
    return jj_buf_value(r, &buf, out);
}

/* Applies a filter chain whose innermost input is JE_BODYREF to `in`. */
static int apply_chain(jj_render *r, const jj_node *chain, const jj_value *in, jj_value *out) {
    if (chain->kind == JE_BODYREF) {
        *out = *in;
        return 0;
    }
    jj_value x, *args, *kwv;
    if (enter(r, chain)) return -1; /* a long chain nests as deep as it is long */
    int rc = apply_chain(r, chain->a, in, &x) || eval_args(r, chain, &args, &kwv);
    at(r, chain);
    if (!rc) rc = jj_filter(r, chain->s, &x, args, chain->n_args, chain->kw, kwv, chain->n_kw, out);
    r->depth--;
    return rc ? -1 : 0;
}

static int exec_stmt(jj_render *r, const jj_node *n, jj_frame *f) {
    jj_value v, w;
    switch (n->kind) {
    case JN_DATA: return jj_buf_put(r, r->out, n->s, n->len);
    case JN_OUTPUT:
        if (jj_eval(r, n->a, &v)) return -1;
        return jj_append_str(r, r->out, &v);
    case JN_IF:
        if (jj_eval(r, n->a, &v)) return -1;
        return jj_truthy(&v) ? jj_exec_body(r, n->body, n->n_body, f) : jj_exec_body(r, n->orelse, n->n_orelse, f);
    case JN_FOR: return exec_for(r, n, f);
    case JN_SET:
        if (jj_eval(r, n->a, &v)) return -1;
        return assign(r, f, n->b, &v);
    case JN_SETBLOCK:
        if (capture(r, n, f, &v) || apply_chain(r, n->a, &v, &w)) return -1;
        return assign(r, f, n->b, &w);
    case JN_FILTERBLOCK:
        if (capture(r, n, f, &v) || apply_chain(r, n->a, &v, &w)) return -1;
        return jj_append_str(r, r->out, &w);
    case JN_BODY: { /* {% generation %}: jinja2 runs the body as a caller() macro, in its own scope */
        jj_frame *inner = frame_new(r, f, &n->stores);
        return inner ? jj_exec_body(r, n->body, n->n_body, inner) : -1;
    }
    case JN_MACRO: {
        macro_value *mv = jj_alloc(&r->pool, sizeof *mv);
        if (!mv) return jj_oom(r);
        mv->def = n;
        mv->closure = f;
        v.t = JV_MACRO;
        v.safe = 0;
        v.u.macro = (const jj_node *)mv;
        return set_var(r, f, n->s, v);
    }
    case JN_BREAK: r->brk = 1; return 0;
    case JN_CONTINUE: r->brk = 2; return 0;
    default: return jj_fail(r, MMRT_ERR_INTERNAL, "unexpected node %d in a body", n->kind);
    }
}

int jj_exec_body(jj_render *r, jj_node *const *body, int n, jj_frame *f) {
    jj_frame *saved = r->frame;
    for (int i = 0; i < n && !r->brk; i++) {
        r->frame = f;
        if (enter(r, body[i])) return -1;
        int rc = exec_stmt(r, body[i], f);
        r->depth--;
        if (rc) {
            r->frame = saved;
            return -1;
        }
    }
    r->frame = saved;
    return 0;
}

void mmrt_jinja_template_free(mmrt_jinja_template *t) {
    if (!t) return;
    jj_pool_free(&t->pool);
    free(t);
}

mmrt_status mmrt_jinja_parse(const char *src, size_t len, const char *source_name, mmrt_jinja_template **out,
                             mmrt_error *err) {
    if (!out) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_jinja_parse: out is NULL");
    *out = NULL;
    if (!src && len) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_jinja_parse: src is NULL");
    const char *name = source_name ? source_name : "template";
    if (!mmrt_utf8_valid(src ? src : "", len))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: the template is not valid UTF-8", name);
    mmrt_jinja_template *t = calloc(1, sizeof *t);
    if (!t) return mmrt_error_oom(err, sizeof *t, "a template");
    size_t nl = strlen(name);
    char *norm = jj_alloc(&t->pool, len + 1);
    t->name = jj_alloc(&t->pool, nl + 1);
    if (!norm || !t->name) {
        mmrt_jinja_template_free(t);
        return mmrt_error_oom(err, len, "a template");
    }
    memcpy(t->name, name, nl);
    /* \r\n and \r become \n; one trailing newline goes (keep_trailing_newline=False) */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            norm[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            norm[n++] = src[i];
        }
    }
    if (n && norm[n - 1] == '\n') n--;
    norm[n] = '\0';
    jj_lexed lx;
    mmrt_status st = jj_lex(&t->pool, norm, n, t->name, &lx, err);
    if (st == MMRT_OK) st = jj_parse_tokens(t, &lx, err);
    if (st != MMRT_OK) {
        mmrt_jinja_template_free(t);
        return st;
    }
    *out = t;
    return MMRT_OK;
}

/* Builds the context dict from src (NULL: none) into *out; -1 with r->err set on failure. */
typedef int (*context_fn)(jj_render *r, const void *src, size_t len, jj_value *out);

static int context_from_cjson(jj_render *r, const void *src, size_t len, jj_value *out) {
    (void)len;
    const cJSON *c = src;
    if (!cJSON_IsObject(c))
        return mmrt_error_set(r->err, MMRT_ERR_INVALID_ARG, "%s: the render context must be a JSON object", r->t->name), -1;
    return jj_from_json(r, c, out, 0);
}

static int context_from_text(jj_render *r, const void *src, size_t len, jj_value *out) {
    return jj_parse_json_text(r, src, len, out);
}

static mmrt_status render_with(const mmrt_jinja_template *t, context_fn build, const void *src, size_t len,
                               const mmrt_jinja_options *opt, char **out, mmrt_error *err) {
    if (!out || !t) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_jinja_render: template or out is NULL");
    *out = NULL;
    mmrt_jinja_options o = opt ? *opt : (mmrt_jinja_options){0};
    mmrt_error local = {0};
    jj_render r = {.t = t, .err = err ? err : &local};
    r.max_steps = o.max_steps > 0 ? o.max_steps : 10 * 1000 * 1000;
    r.max_depth = o.max_depth > 0 ? (o.max_depth < 1000 ? o.max_depth : 1000) : 200;
    r.max_output = o.max_output > 0 ? o.max_output : (size_t)64 << 20;
    r.pool.limit = o.max_memory > 0 ? o.max_memory : (size_t)512 << 20;
    r.now = o.now != 0 ? o.now : (int64_t)time(NULL);
    r.line = r.col = 1;
    jj_value ctx;
    jj_buf buf = {0};
    r.out = &buf;
    int rc = 0;
    if (src) {
        rc = build(&r, src, len, &ctx);
        if (!rc) r.ctx = ctx.u.d;
    }
    jj_frame *root = rc ? NULL : frame_new(&r, NULL, &t->stores);
    if (!rc && root) rc = jj_exec_body(&r, t->body, t->n_body, root);
    else rc = -1;
    mmrt_status st = MMRT_OK;
    if (!rc) {
        *out = malloc(buf.len + 1);
        if (!*out) st = mmrt_error_oom(r.err, buf.len + 1, "the rendered template");
        else {
            if (buf.len) memcpy(*out, buf.s, buf.len);
            (*out)[buf.len] = '\0';
        }
    } else {
        st = r.err->status != MMRT_OK ? r.err->status : MMRT_ERR_INTERNAL;
    }
    jj_pool_free(&r.pool);
    return st;
}

mmrt_status mmrt_jinja_render(const mmrt_jinja_template *t, const cJSON *context, const mmrt_jinja_options *opt,
                              char **out, mmrt_error *err) {
    return render_with(t, context_from_cjson, context, 0, opt, out, err);
}

mmrt_status mmrt_jinja_render_json(const mmrt_jinja_template *t, const char *json, size_t len,
                                   const mmrt_jinja_options *opt, char **out, mmrt_error *err) {
    return render_with(t, context_from_text, json, len, opt, out, err);
}
