/* Filters and tests of the Jinja2 interpreter (jinja2/filters.py, jinja2/tests.py, transformers'
 * tojson), with jinja2's argument names so keyword calls work. Supported filters: abs, attr,
 * batch, capitalize, center, count, d, default, dictsort, e, escape, first, float, forceescape,
 * format, int, indent, items, join, last, length, list, lower, map, max, min, reject, rejectattr,
 * replace, reverse, round, safe, select, selectattr, sort, string, sum, title, tojson, trim,
 * unique, upper, wordcount. */
#include "text/jinja_impl.h"
#include "text/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const FILTERS[] = {
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
    "first", "float", "forceescape", "format", "int", "indent", "items", "join", "last", "length", "list", "lower",
    "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
    "selectattr", "sort", "string", "sum", "title", "tojson", "trim", "unique", "upper", "wordcount", NULL};

static const char *const TESTS[] = {
    "defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable",
    "sequence", "boolean", "true", "false", "odd", "even", "divisibleby", "equalto", "eq", "==", "ne",
    "!=", "lt", "<", "gt", ">", "le", "<=", "ge", ">=", "in", "callable", "sameas", "lower", "upper",
    "escaped", NULL};

static bool known(const char *const *list, const char *name) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], name)) return true;
    return false;
}
bool jj_filter_known(const char *name) { return known(FILTERS, name); }
bool jj_test_known(const char *name) { return known(TESTS, name); }

/* ---- tests ---- */

/* Tests that take one argument besides the value; the others take none. */
static const char *const TESTS_WITH_ARG[] = {"divisibleby", "equalto", "eq", "==", "ne", "!=", "lt", "<", "gt", ">",
                                             "le", "<=", "ge", ">=", "in", "sameas", NULL};

static int test_apply(jj_render *r, const char *name, const jj_value *v, const jj_value *args, int n_args,
                      bool *ok) {
    const jj_value *a = n_args > 0 ? &args[0] : NULL;
    int want_args = known(TESTS_WITH_ARG, name) ? 1 : 0;
    if (n_args > want_args)
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "test_%s() takes %d positional argument%s but %d were given", name,
                       want_args + 1, want_args ? "s" : "", n_args + 1);
    int c;
    if (!strcmp(name, "defined")) *ok = v->t != JV_UNDEF;
    else if (!strcmp(name, "undefined")) *ok = v->t == JV_UNDEF;
    else if (!strcmp(name, "none")) *ok = v->t == JV_NONE;
    else if (!strcmp(name, "string")) *ok = v->t == JV_STR;
    else if (!strcmp(name, "number")) *ok = jj_is_num(v);
    else if (!strcmp(name, "integer")) *ok = v->t == JV_INT;
    else if (!strcmp(name, "float")) *ok = v->t == JV_FLOAT;
    else if (!strcmp(name, "mapping")) *ok = v->t == JV_DICT;
    else if (!strcmp(name, "iterable")) *ok = v->t == JV_STR || jj_is_seq(v) || v->t == JV_DICT || v->t == JV_UNDEF;
    else if (!strcmp(name, "sequence"))
        *ok = v->t == JV_STR || (jj_is_seq(v) && !v->iter) || v->t == JV_DICT || v->t == JV_UNDEF;
    else if (!strcmp(name, "boolean")) *ok = v->t == JV_BOOL;
    else if (!strcmp(name, "true")) *ok = v->t == JV_BOOL && v->u.b;
    else if (!strcmp(name, "false")) *ok = v->t == JV_BOOL && !v->u.b;
    else if (!strcmp(name, "callable")) /* Undefined has __call__ (which raises) */
        *ok = v->t == JV_MACRO || v->t == JV_FUNC || v->t == JV_METHOD || v->t == JV_UNDEF ||
              (v->t == JV_HELPER && !v->u.helper->cycler);
    else if (!strcmp(name, "escaped")) *ok = v->t == JV_STR && v->safe;
    else if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        jj_value s;
        if (jj_to_str(r, v, &s)) return -1;
        bool cased = false, bad = false, up = name[0] == 'u';
        for (size_t i = 0; i < s.u.s->len; i++) {
            char ch = s.u.s->s[i];
            if (ch >= 'a' && ch <= 'z') cased = true, bad |= up;
            if (ch >= 'A' && ch <= 'Z') cased = true, bad |= !up;
        }
        *ok = cased && !bad;
    } else if (!strcmp(name, "odd") || !strcmp(name, "even") || !strcmp(name, "divisibleby")) {
        /* value % 2 == 1, value % 2 == 0, value % num == 0 (2.5 is neither odd nor even) */
        jj_value two = jj_int(2), m, want = jj_int(name[0] == 'o');
        if (!strcmp(name, "divisibleby") && !a) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "divisibleby needs an argument");
        if (jj_binop(r, '%', v, name[0] == 'd' ? a : &two, &m)) return -1;
        *ok = jj_equal(&m, &want);
    } else if (!strcmp(name, "in")) {
        if (!a) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "the 'in' test needs an argument");
        return jj_contains(r, a, v, ok);
    } else {
        if (!a) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "the '%s' test needs an argument", name);
        if (!strcmp(name, "sameas")) {
            *ok = v->t == a->t && jj_equal(v, a) && (v->t != JV_STR || v->u.s == a->u.s) &&
                  (!jj_is_seq(v) || v->u.l == a->u.l) && (v->t != JV_DICT || v->u.d == a->u.d) &&
                  (v->t != JV_INT || (v->u.i >= -5 && v->u.i <= 256));
        } else if (!strcmp(name, "equalto") || !strcmp(name, "eq") || !strcmp(name, "==")) {
            if (jj_equal_r(r, v, a, ok)) return -1;
        } else if (!strcmp(name, "ne") || !strcmp(name, "!=")) {
            if (jj_equal_r(r, v, a, ok)) return -1;
            *ok = !*ok;
        } else {
            if (jj_compare(r, v, a, &c)) return -1;
            bool lt = name[0] == 'l' || name[0] == '<', eq = name[1] == 'e' || name[1] == '=';
            *ok = lt ? (eq ? c <= 0 : c < 0) : (eq ? c >= 0 : c > 0);
        }
    }
    return 0;
}

int jj_test(jj_render *r, const char *name, const jj_value *in, const jj_value *args, int n_args,
            jj_value *out) {
    bool ok = false;
    if (test_apply(r, name, in, args, n_args, &ok)) return -1;
    *out = jj_bool(ok);
    return 0;
}

/* ---- helpers ---- */

static int need_str(jj_render *r, const jj_value *v, jj_value *out) { return jj_to_str(r, v, out); }

/* The attribute path "a.b.0" of item (jinja2's make_attrgetter: item lookups, digits as ints). */
static int attr_path(jj_render *r, const jj_value *item, const jj_value *attr, jj_value *out) {
    if (attr->t != JV_STR) return jj_getitem(r, item, attr, out);
    jj_value cur = *item;
    const char *s = attr->u.s->s, *end = s + attr->u.s->len;
    while (s <= end) {
        const char *dot = memchr(s, '.', (size_t)(end - s));
        if (!dot) dot = end;
        jj_value key;
        bool digits = dot > s;
        int64_t iv = 0;
        for (const char *p = s; p < dot && digits; p++) {
            digits = *p >= '0' && *p <= '9';
            if (digits && iv < INT64_MAX / 10 - 10) iv = iv * 10 + (*p - '0');
        }
        if (digits) key = jj_int(iv);
        else if (jj_make_str(r, s, (size_t)(dot - s), &key)) return -1;
        if (cur.t == JV_UNDEF) return jj_undef_fail(r, &cur);
        if (jj_getitem(r, &cur, &key, &cur)) return -1;
        s = dot + 1;
    }
    *out = cur;
    return 0;
}

/* The sort key of v: lower-cased when a string and case-insensitive. */
static int sort_key(jj_render *r, const jj_value *v, bool case_sensitive, jj_value *out) {
    if (v->t == JV_STR && !case_sensitive) return jj_str_case(r, v->u.s, 0, out);
    *out = *v;
    return 0;
}

/* Stable merge sort of idx by keys (descending when reverse; ties keep their order). */
static int msort(jj_render *r, size_t *idx, size_t *tmp, size_t n, const jj_value *keys, bool reverse) {
    if (n < 2) return 0;
    size_t h = n / 2;
    if (msort(r, idx, tmp, h, keys, reverse) || msort(r, idx + h, tmp, n - h, keys, reverse)) return -1;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int c;
        if (jj_step(r, 1) || jj_compare(r, &keys[idx[j]], &keys[idx[i]], &c)) return -1;
        bool take_right = reverse ? c > 0 : c < 0;
        tmp[k++] = take_right ? idx[j++] : idx[i++];
    }
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
    return 0;
}

/* Sorted copy of items by keys. */
static int sorted(jj_render *r, const jj_list *items, const jj_value *keys, bool reverse, jj_value *out) {
    size_t n = items->n;
    size_t *idx = jj_alloc(&r->pool, (n + 1) * sizeof *idx), *tmp = jj_alloc(&r->pool, (n + 1) * sizeof *tmp);
    if (!idx || !tmp) return jj_oom(r);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    if (msort(r, idx, tmp, n, keys, reverse)) return -1;
    jj_list *l = jj_list_new(r, n, JV_LIST, out);
    if (!l) return -1;
    for (size_t i = 0; i < n; i++) l->v[i] = items->v[idx[i]];
    return 0;
}

static bool flag(const jj_value *v, bool dflt) { return v ? jj_truthy(v) : dflt; }

int jj_escape(jj_render *r, const jj_value *v, jj_value *out) {
    if (v->t == JV_STR && v->safe) {
        *out = *v;
        return 0;
    }
    jj_value s;
    if (need_str(r, v, &s)) return -1;
    jj_buf b = {0};
    size_t run = 0;
    const char *p = s.u.s->s;
    for (size_t i = 0; i < s.u.s->len; i++) {
        const char *rep = p[i] == '&' ? "&amp;" : p[i] == '<' ? "&lt;" : p[i] == '>' ? "&gt;" :
                          p[i] == '"' ? "&#34;" : p[i] == '\'' ? "&#39;" : NULL;
        if (!rep) continue;
        if (jj_buf_put(r, &b, p + run, i - run) || jj_buf_puts(r, &b, rep)) return -1;
        run = i + 1;
    }
    if (jj_buf_put(r, &b, p + run, s.u.s->len - run) || jj_buf_value(r, &b, out)) return -1;
    out->safe = 1;
    return 0;
}

/* transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) */
static int do_tojson(jj_render *r, const jj_value *v, const jj_args *a, jj_value *out) {
    jj_json_opts o = {.indent = -1, .item_sep = ", ", .key_sep = ": "};
    const jj_value *ind = jj_arg(a, 1, "indent"), *sep = jj_arg(a, 2, "separators"), *sk = jj_arg(a, 3, "sort_keys");
    if (ind && ind->t == JV_INT) {
        o.indent = ind->u.i < 0 ? 0 : ind->u.i > 64 ? 64 : (int)ind->u.i;
        o.item_sep = ",";
    } else if (ind && ind->t == JV_STR) {
        o.indent_s = ind->u.s;
        o.item_sep = ",";
    } else if (ind && ind->t != JV_NONE) {
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "tojson: indent must be an integer or a string");
    }
    if (sep && sep->t != JV_NONE) {
        if (!jj_is_seq(sep) || sep->u.l->n != 2 || sep->u.l->v[0].t != JV_STR || sep->u.l->v[1].t != JV_STR)
            return jj_fail(r, MMRT_ERR_BAD_FORMAT, "tojson: separators must be a pair of strings");
        o.item_sep = sep->u.l->v[0].u.s->s;
        o.key_sep = sep->u.l->v[1].u.s->s;
    }
    o.sort_keys = flag(sk, false);
    o.ensure_ascii = flag(jj_arg(a, 0, "ensure_ascii"), false);
    jj_buf b = {0};
    return jj_tojson(r, &b, v, &o, 0) || jj_buf_value(r, &b, out);
}

/* select/reject/selectattr/rejectattr and map */
static int filter_seq(jj_render *r, const char *name, const jj_value *in, const jj_args *a,
                      jj_value *out) {
    jj_list *items;
    jj_value none_list;
    if (!jj_truthy(in)) { /* jinja2 iterates only a truthy value: none|map(...) is empty */
        if (!(items = jj_list_new(r, 0, JV_LIST, &none_list))) return -1;
    } else {
        if (jj_gen_input(r, in, &items, out)) return -1;
        if (!items) return 0; /* not iterable: fails when iterated */
    }
    bool is_map = !strcmp(name, "map"), attr = strstr(name, "attr") != NULL, keep = name[0] == 's';
    jj_list *l = jj_list_new(r, items->n, JV_LIST, out);
    if (!l) return -1;
    l->n = 0;
    int first = attr ? 1 : 0;
    const jj_value *attr_name = attr ? jj_arg(a, 0, NULL) : NULL;
    if (attr && !attr_name) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%s needs an attribute name", name);
    const jj_value *map_attr = is_map ? jj_arg(a, -1, "attribute") : NULL;
    const jj_value *map_default = is_map ? jj_arg(a, -1, "default") : NULL;
    const jj_value *fn = jj_arg(a, first, NULL);
    if (fn && fn->t != JV_STR) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%s: the filter or test name must be a string", name);
    if (fn && (is_map ? !jj_filter_known(fn->u.s->s) : !jj_test_known(fn->u.s->s)))
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%s: no %s named '%s'", name, is_map ? "filter" : "test", fn->u.s->s);
    int n_extra = fn ? a->n - first - 1 : 0;
    const jj_value *extra = fn ? a->v + first + 1 : NULL;
    for (size_t i = 0; i < items->n; i++) {
        jj_value x = items->v[i], y;
        if (jj_step(r, 1)) return -1;
        if (is_map) {
            if (map_attr) {
                if (attr_path(r, &x, map_attr, &y)) return -1;
                if (y.t == JV_UNDEF && map_default) y = *map_default;
            } else if (fn) {
                if (jj_filter(r, fn->u.s->s, &x, extra, n_extra, NULL, NULL, 0, &y)) return -1;
            } else {
                return jj_fail(r, MMRT_ERR_BAD_FORMAT, "map needs a filter name or attribute=");
            }
            l->v[l->n++] = y;
            out->iter = JJ_ITER_GEN;
            continue;
        }
        jj_value probe = x;
        if (attr && attr_path(r, &x, attr_name, &probe)) return -1;
        bool ok;
        if (fn) {
            if (test_apply(r, fn->u.s->s, &probe, extra, n_extra, &ok)) return -1;
        } else {
            ok = jj_truthy(&probe);
        }
        if (ok == keep) l->v[l->n++] = x;
    }
    out->iter = JJ_ITER_GEN; /* jinja2's map/select/reject are generators */
    return 0;
}

static int do_round(jj_render *r, const jj_value *v, const jj_args *a, jj_value *out) {
    const jj_value *pv = jj_arg(a, 0, "precision"), *mv = jj_arg(a, 1, "method");
    int64_t prec = pv && pv->t == JV_INT ? pv->u.i : 0;
    const char *method = mv && mv->t == JV_STR ? mv->u.s->s : "common";
    if (!jj_is_num(v)) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "round: expected a number, got %s", jj_type_name(v));
    if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "method must be common, ceil or floor");
    if (prec < -20 || prec > 20) prec = prec < 0 ? -20 : 20;
    double x = jj_num(v), scale = pow(10.0, (double)prec);
    if (!strcmp(method, "ceil")) {
        *out = jj_float(ceil(x * scale) / scale);
    } else if (!strcmp(method, "floor")) {
        *out = jj_float(floor(x * scale) / scale);
    } else if (v->t != JV_FLOAT) { /* round(int, n) stays an int; n < 0 rounds half to even */
        int64_t iv = v->t == JV_BOOL ? v->u.b : v->u.i;
        double rounded = prec >= 0 ? 0 : nearbyint((double)iv * scale) / scale;
        if (prec < 0 && !(fabs(rounded) < 9.2e18)) return jj_fail(r, MMRT_ERR_UNSUPPORTED, "round: result beyond 64 bits");
        *out = jj_int(prec >= 0 ? iv : (int64_t)rounded);
    } else if (prec >= 0) {
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)prec, x); /* correctly rounded, ties to even */
        *out = jj_float(strtod(buf, NULL));
    } else {
        *out = jj_float(nearbyint(x * scale) / scale);
    }
    return 0;
}

/* s as Python's int()/float() read it: surrounding whitespace dropped, single underscores between
 * digits removed; false when that leaves nothing, or hex/other junk strtod would accept. */
static bool py_number_text(const jj_str *s, char *buf, size_t cap) {
    size_t a = 0, b = s->len, o = 0;
    while (a < b && strchr(" \t\n\r\v\f", s->s[a]) && s->s[a]) a++;
    while (b > a && strchr(" \t\n\r\v\f", s->s[b - 1]) && s->s[b - 1]) b--;
    if (a == b || b - a >= cap) return false;
    for (size_t i = a; i < b; i++) {
        char c = s->s[i];
        if (c == '_' && i > a && i + 1 < b && s->s[i - 1] >= '0' && s->s[i - 1] <= '9' && s->s[i + 1] >= '0' &&
            s->s[i + 1] <= '9')
            continue;
        if (!strchr("0123456789+-.eEinfatyINFATY", c) || !c) return false; /* digits, exponents, inf, nan */
        buf[o++] = c;
    }
    buf[o] = '\0';
    return true;
}

static int do_int(jj_render *r, const jj_value *v, const jj_args *a, jj_value *out) {
    const jj_value *d = jj_arg(a, 0, "default");
    jj_value dflt = d ? *d : jj_int(0);
    if (v->t == JV_UNDEF) return jj_undef_fail(r, v); /* Undefined.__int__ raises */
    if (v->t == JV_INT || v->t == JV_BOOL) *out = jj_int(v->t == JV_INT ? v->u.i : v->u.b);
    else if (v->t == JV_FLOAT) *out = isfinite(v->u.f) && fabs(v->u.f) < 9.2e18 ? jj_int((int64_t)v->u.f) : dflt;
    else if (v->t == JV_STR) {
        char buf[128], *end;
        *out = dflt;
        if (py_number_text(v->u.s, buf, sizeof buf)) {
            long long iv = strtoll(buf, &end, 10);
            if (!*end && end != buf) {
                *out = jj_int(iv);
            } else { /* int(float(s)), as jinja2 falls back */
                double fv = strtod(buf, &end);
                if (!*end && end != buf && isfinite(fv) && fabs(fv) < 9.2e18) *out = jj_int((int64_t)fv);
            }
        }
    } else {
        *out = dflt;
    }
    return 0;
}

static int do_float(jj_render *r, const jj_value *v, const jj_args *a, jj_value *out) {
    const jj_value *d = jj_arg(a, 0, "default");
    jj_value dflt = d ? *d : jj_float(0.0);
    if (v->t == JV_UNDEF) return jj_undef_fail(r, v);
    if (jj_is_num(v)) *out = jj_float(jj_num(v));
    else if (v->t == JV_STR) {
        char buf[128], *end;
        *out = dflt;
        if (py_number_text(v->u.s, buf, sizeof buf)) {
            double fv = strtod(buf, &end);
            if (!*end && end != buf) *out = jj_float(fv);
        }
    } else {
        *out = dflt;
    }
    return 0;
}

/* Python str.splitlines() on s + "\n", joined back as jinja2's indent filter does. */
static int do_indent(jj_render *r, const jj_value *v, const jj_args *a, jj_value *out) {
    const jj_value *w = jj_arg(a, 0, "width"), *fst = jj_arg(a, 1, "first"), *blank = jj_arg(a, 2, "blank");
    jj_value s, ind;
    if (v->t != JV_STR) /* jinja2 appends "\n" to its input: only strings work */
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "indent: expected a string, got %s", jj_type_name(v));
    s = *v;
    if (w && w->t == JV_STR) ind = *w;
    else {
        int64_t n = w && w->t == JV_INT ? w->u.i : 4;
        if (n < 0) n = 0;
        if (n > 4096) return jj_fail(r, MMRT_ERR_INVALID_ARG, "indent: width over 4096");
        char sp[4097];
        memset(sp, ' ', (size_t)n);
        if (jj_make_str(r, sp, (size_t)n, &ind)) return -1;
    }
    /* lines of s + "\n" as str.splitlines() cuts them: the added newline ends the last line */
    jj_buf b = {0};
    const char *p = s.u.s->s;
    size_t n = s.u.s->len, line = 0;
    bool all = flag(blank, false);
    if (flag(fst, false) && jj_buf_put(r, &b, ind.u.s->s, ind.u.s->len)) return -1;
    for (size_t pos = 0; pos <= n; line++) {
        size_t e = pos;
        while (e < n && !strchr("\n\r\v\f\x1c\x1d\x1e", p[e])) e++;
        if (line > 0) {
            if (jj_buf_puts(r, &b, "\n")) return -1;
            if ((e > pos || all) && jj_buf_put(r, &b, ind.u.s->s, ind.u.s->len)) return -1;
        }
        if (jj_buf_put(r, &b, p + pos, e - pos) || jj_step(r, 1)) return -1;
        if (e >= n) break; /* this line ended with the added "\n" */
        pos = e + (p[e] == '\r' && e + 1 < n && p[e + 1] == '\n' ? 2 : 1);
    }
    return jj_buf_value(r, &b, out);
}

static int do_minmax(jj_render *r, const jj_value *in, const jj_args *a, bool max, jj_value *out) {
    jj_list *items;
    if (jj_iterate(r, in, &items)) return -1;
    bool cs = flag(jj_arg(a, 0, "case_sensitive"), false);
    const jj_value *attr = jj_arg(a, 1, "attribute");
    if (items->n == 0) {
        jj_str *h = jj_str_fmt(&r->pool, "No aggregated item, sequence was empty.");
        if (!h) return jj_oom(r);
        *out = jj_undef(h);
        return 0;
    }
    jj_value best_key;
    size_t best = 0;
    for (size_t i = 0; i < items->n; i++) {
        jj_value x = items->v[i], k;
        if (attr && attr_path(r, &x, attr, &x)) return -1;
        if (sort_key(r, &x, cs, &k)) return -1;
        int c = 0;
        if (i && jj_compare(r, &k, &best_key, &c)) return -1;
        if (i == 0 || (max ? c > 0 : c < 0)) best = i, best_key = k;
    }
    *out = items->v[best];
    return 0;
}

static int do_sort(jj_render *r, const jj_value *in, const jj_args *a, bool dict, jj_value *out) {
    jj_list *items;
    jj_value tmp;
    if (dict) {
        if (in->t != JV_DICT) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "dictsort: expected a dict, got %s", jj_type_name(in));
        if (!(items = jj_list_new(r, in->u.d->n, JV_LIST, &tmp))) return -1;
        for (size_t i = 0; i < items->n; i++) {
            jj_list *pair = jj_list_new(r, 2, JV_TUPLE, &items->v[i]);
            if (!pair) return -1;
            pair->v[0] = in->u.d->k[i];
            pair->v[1] = in->u.d->v[i];
        }
    } else if (jj_iterate(r, in, &items)) {
        return -1;
    }
    bool reverse = flag(jj_arg(a, dict ? 2 : 0, "reverse"), false), cs = flag(jj_arg(a, dict ? 0 : 1, "case_sensitive"), false);
    const jj_value *attr = dict ? NULL : jj_arg(a, 2, "attribute"), *by = dict ? jj_arg(a, 1, "by") : NULL;
    int pos = by && by->t == JV_STR && !strcmp(by->u.s->s, "value") ? 1 : 0;
    jj_value *keys = jj_alloc(&r->pool, (items->n + 1) * sizeof *keys);
    if (!keys) return jj_oom(r);
    for (size_t i = 0; i < items->n; i++) {
        jj_value x = items->v[i];
        if (dict) x = x.u.l->v[pos];
        else if (attr && attr_path(r, &x, attr, &x)) return -1;
        if (sort_key(r, &x, cs, &keys[i])) return -1;
    }
    return sorted(r, items, keys, reverse, out);
}

static int do_join(jj_render *r, const jj_value *in, const jj_args *a, jj_value *out) {
    jj_list *items;
    const jj_value *d = jj_arg(a, 0, "d"), *attr = jj_arg(a, 1, "attribute");
    jj_value sep;
    if (d) {
        if (need_str(r, d, &sep)) return -1;
    } else if (jj_make_str(r, "", 0, &sep)) {
        return -1;
    }
    if (jj_iterate(r, in, &items)) return -1;
    jj_buf b = {0};
    for (size_t i = 0; i < items->n; i++) {
        jj_value x = items->v[i];
        if (attr && attr_path(r, &x, attr, &x)) return -1;
        if ((i && jj_buf_put(r, &b, sep.u.s->s, sep.u.s->len)) || jj_append_str(r, &b, &x)) return -1;
    }
    return jj_buf_value(r, &b, out);
}

static int do_unique(jj_render *r, const jj_value *in, const jj_args *a, jj_value *out) {
    jj_list *items;
    if (jj_gen_input(r, in, &items, out)) return -1;
    if (!items) return 0; /* not iterable: fails when iterated */
    bool cs = flag(jj_arg(a, 0, "case_sensitive"), false);
    const jj_value *attr = jj_arg(a, 1, "attribute");
    jj_list *l = jj_list_new(r, items->n, JV_LIST, out);
    jj_value *seen = jj_alloc(&r->pool, (items->n + 1) * sizeof *seen);
    if (!l || !seen) return l ? jj_oom(r) : -1;
    l->n = 0;
    for (size_t i = 0; i < items->n; i++) {
        jj_value x = items->v[i], k;
        if (attr && attr_path(r, &x, attr, &x)) return -1;
        if (sort_key(r, &x, cs, &k) || jj_step(r, (int64_t)l->n)) return -1;
        bool dup = false;
        for (size_t j = 0; j < l->n && !dup; j++)
            if (jj_equal_r(r, &seen[j], &k, &dup)) return -1;
        if (!dup) seen[l->n] = k, l->v[l->n++] = items->v[i];
    }
    out->iter = JJ_ITER_GEN;
    return 0;
}

static int do_title(jj_render *r, const jj_value *in, jj_value *out) {
    jj_value s;
    if (need_str(r, in, &s)) return -1;
    /* jinja2: words begin after runs of whitespace, '-', '(', '{', '[', '<'; each word is
     * word[0].upper() + word[1:].lower() */
    jj_buf b = {0};
    bool start = true;
    for (size_t i = 0; i < s.u.s->len;) {
        size_t adv = mmrt_utf8_len((uint8_t)s.u.s->s[i]);
        if (i + adv > s.u.s->len) adv = s.u.s->len - i;
        uint32_t c = mmrt_utf8_decode(s.u.s->s + i, &adv);
        bool sep = jj_is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
        uint32_t m = sep ? c : jj_case_map(c, start);
        start = sep;
        char enc[4];
        if (jj_buf_put(r, &b, enc, mmrt_utf8_encode(m, enc))) return -1;
        i += adv;
    }
    return jj_buf_value(r, &b, out);
}

static int do_center(jj_render *r, const jj_value *in, const jj_args *a, jj_value *out) {
    jj_value s;
    const jj_value *w = jj_arg(a, 0, "width");
    int64_t width = w && w->t == JV_INT ? w->u.i : 80, n;
    if (need_str(r, in, &s)) return -1;
    n = jj_len(&s);
    if (width <= n) {
        *out = s;
        return 0;
    }
    if (width > 1 << 20) return jj_fail(r, MMRT_ERR_INVALID_ARG, "center: width over 1 MiB");
    int64_t marg = width - n, left = marg / 2 + (marg & width & 1);
    jj_buf b = {0};
    for (int64_t i = 0; i < left; i++)
        if (jj_buf_puts(r, &b, " ")) return -1;
    if (jj_buf_put(r, &b, s.u.s->s, s.u.s->len)) return -1;
    for (int64_t i = 0; i < marg - left; i++)
        if (jj_buf_puts(r, &b, " ")) return -1;
    return jj_buf_value(r, &b, out);
}

static int do_batch(jj_render *r, const jj_value *in, const jj_args *a, jj_value *out) {
    jj_list *items;
    const jj_value *cnt = jj_arg(a, 0, "linecount"), *fill = jj_arg(a, 1, "fill_with");
    if (!cnt || cnt->t != JV_INT || cnt->u.i <= 0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "batch needs a positive count");
    if (jj_gen_input(r, in, &items, out)) return -1;
    if (!items) return 0; /* not iterable: fails when iterated */
    size_t per = (size_t)cnt->u.i, nb = (items->n + per - 1) / per;
    jj_list *l = jj_list_new(r, nb, JV_LIST, out);
    if (!l) return -1;
    for (size_t b = 0; b < nb; b++) {
        size_t have = items->n - b * per < per ? items->n - b * per : per;
        jj_list *row = jj_list_new(r, fill ? per : have, JV_LIST, &l->v[b]);
        if (!row) return -1;
        for (size_t i = 0; i < row->n; i++) row->v[i] = i < have ? items->v[b * per + i] : *fill;
    }
    out->iter = JJ_ITER_GEN;
    return 0;
}

static int do_sum(jj_render *r, const jj_value *in, const jj_args *a, jj_value *out) {
    jj_list *items;
    const jj_value *attr = jj_arg(a, 0, "attribute"), *start = jj_arg(a, 1, "start");
    jj_value acc = start ? *start : jj_int(0);
    if (jj_iterate(r, in, &items)) return -1;
    for (size_t i = 0; i < items->n; i++) {
        jj_value x = items->v[i];
        if (attr && attr_path(r, &x, attr, &x)) return -1;
        if (jj_binop(r, '+', &acc, &x, &acc)) return -1;
    }
    *out = acc;
    return 0;
}

static int do_wordcount(jj_render *r, const jj_value *in, jj_value *out) {
    jj_value s;
    if (need_str(r, in, &s)) return -1;
    int64_t n = 0;
    bool in_word = false;
    for (size_t i = 0; i < s.u.s->len; i++) {
        unsigned char c = (unsigned char)s.u.s->s[i];
        bool w = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
        if (w && !in_word) n++;
        in_word = w;
    }
    *out = jj_int(n);
    return 0;
}

static int do_reverse(jj_render *r, const jj_value *in, jj_value *out) {
    if (in->t == JV_STR) {
        jj_list *chars;
        jj_buf b = {0};
        if (jj_iterate(r, in, &chars)) return -1;
        for (size_t i = chars->n; i-- > 0;)
            if (jj_buf_put(r, &b, chars->v[i].u.s->s, chars->v[i].u.s->len)) return -1;
        return jj_buf_value(r, &b, out);
    }
    jj_list *items;
    if (jj_iterate(r, in, &items)) return -1;
    jj_list *l = jj_list_new(r, items->n, JV_LIST, out);
    if (!l) return -1;
    for (size_t i = 0; i < items->n; i++) l->v[i] = items->v[items->n - 1 - i];
    out->iter = in->iter == JJ_ITER_GEN ? JJ_ITER_NONE : JJ_ITER_GEN; /* reversed(x) is an iterator; a
                                                                      * reversed generator became a list */
    return 0;
}

static int do_first_last(jj_render *r, const jj_value *in, bool last, jj_value *out) {
    jj_list *items;
    if (last && in->iter == JJ_ITER_GEN) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "'generator' object is not reversible");
    if (jj_iterate(r, in, &items)) return -1;
    if (items->n == 0) {
        jj_str *h = jj_str_fmt(&r->pool, "No %s item, sequence was empty.", last ? "last" : "first");
        if (!h) return jj_oom(r);
        *out = jj_undef(h);
        return 0;
    }
    *out = items->v[last ? items->n - 1 : 0];
    return 0;
}

int jj_filter(jj_render *r, const char *name, const jj_value *in, const jj_value *args, int n_args,
              const char *const *kw, const jj_value *kwv, int n_kw, jj_value *out) {
    jj_args a = {args, n_args, kw, kwv, n_kw};
    jj_value s;
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        const jj_value *d = jj_arg(&a, 0, "default_value");
        bool boolean = flag(jj_arg(&a, 1, "boolean"), false);
        if (in->t == JV_UNDEF || (boolean && !jj_truthy(in))) {
            if (d) *out = *d;
            else return jj_make_str(r, "", 0, out);
        } else {
            *out = *in;
        }
        return 0;
    }
    if (!strcmp(name, "length") || !strcmp(name, "count")) {
        int64_t n = jj_len(in);
        if (in->t == JV_STR && jj_step(r, (int64_t)(in->u.s->len >> 8))) return -1;
        if (n < 0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "object of type '%s' has no len()", jj_type_name(in));
        *out = jj_int(n);
        return 0;
    }
    if (!strcmp(name, "safe")) {
        if (need_str(r, in, out)) return -1;
        out->safe = 1;
        return 0;
    }
    if (!strcmp(name, "tojson")) return do_tojson(r, in, &a, out);
    if (!strcmp(name, "escape") || !strcmp(name, "e") || !strcmp(name, "forceescape")) {
        if (name[0] == 'f' && in->t == JV_STR) {
            jj_value plain = *in;
            plain.safe = 0;
            return jj_escape(r, &plain, out);
        }
        return jj_escape(r, in, out);
    }
    if (!strcmp(name, "string")) return need_str(r, in, out);
    if (!strcmp(name, "items")) {
        if (in->t == JV_UNDEF) {
            if (!jj_list_new(r, 0, JV_LIST, out)) return -1;
            out->iter = JJ_ITER_GEN;
            return 0;
        }
        if (in->t != JV_DICT) { /* a generator: the error comes when it is iterated */
            jj_list *l = jj_list_new(r, 0, JV_LIST, out);
            if (!l || !(l->error = jj_str_fmt(&r->pool, "Can only get item pairs from a mapping."))) return l ? jj_oom(r) : -1;
            out->iter = JJ_ITER_GEN;
            return 0;
        }
        jj_list *l = jj_list_new(r, in->u.d->n, JV_LIST, out);
        if (!l) return -1;
        for (size_t i = 0; i < l->n; i++) {
            jj_list *pair = jj_list_new(r, 2, JV_TUPLE, &l->v[i]);
            if (!pair) return -1;
            pair->v[0] = in->u.d->k[i];
            pair->v[1] = in->u.d->v[i];
        }
        out->iter = JJ_ITER_GEN;
        return 0;
    }
    if (!strcmp(name, "list")) {
        jj_list *items;
        if (jj_iterate(r, in, &items)) return -1;
        jj_list *l = jj_list_new(r, items->n, JV_LIST, out);
        if (!l) return -1;
        if (items->n) memcpy(l->v, items->v, items->n * sizeof(jj_value));
        return 0;
    }
    if (!strcmp(name, "abs")) {
        if (!jj_is_num(in)) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "bad operand type for abs(): '%s'", jj_type_name(in));
        if (in->t == JV_FLOAT) *out = jj_float(fabs(in->u.f));
        else {
            int64_t v = in->t == JV_INT ? in->u.i : in->u.b;
            if (v == INT64_MIN) return jj_fail(r, MMRT_ERR_UNSUPPORTED, "integer overflow in abs");
            *out = jj_int(v < 0 ? -v : v);
        }
        return 0;
    }
    if (!strcmp(name, "attr")) {
        const jj_value *n = jj_arg(&a, 0, "name");
        if (!n || n->t != JV_STR) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "attr needs a name");
        bool unsafe; /* attributes only: a dict's keys are not its attributes */
        if (in->t == JV_LOOP || jj_has_method(in, n->u.s->s, n->u.s->len, &unsafe))
            return jj_getattr(r, in, n->u.s->s, n->u.s->len, out);
        *out = jj_undef(NULL);
        return 0;
    }
    if (!strcmp(name, "first") || !strcmp(name, "last")) return do_first_last(r, in, name[0] == 'l', out);
    if (!strcmp(name, "int")) return do_int(r, in, &a, out);
    if (!strcmp(name, "format")) { /* value % args, or % kwargs */
        jj_value fmt, tup;
        if (need_str(r, in, &fmt)) return -1;
        if (n_kw && n_args) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "format: positional and keyword arguments can't be mixed");
        if (n_kw) {
            jj_dict *d = jj_dict_new(r, (size_t)n_kw, &tup);
            if (!d) return -1;
            for (int i = 0; i < n_kw; i++) {
                jj_value k;
                if (jj_make_str(r, kw[i], strlen(kw[i]), &k) || jj_dict_set(r, d, k, kwv[i])) return -1;
            }
        } else {
            jj_list *l = jj_list_new(r, (size_t)n_args, JV_TUPLE, &tup);
            if (!l) return -1;
            for (int i = 0; i < n_args; i++) l->v[i] = args[i];
        }
        return jj_printf(r, fmt.u.s, &tup, out);
    }
    if (!strcmp(name, "float")) return do_float(r, in, &a, out);
    if (!strcmp(name, "round")) return do_round(r, in, &a, out);
    if (!strcmp(name, "indent")) return do_indent(r, in, &a, out);
    if (!strcmp(name, "join")) return do_join(r, in, &a, out);
    if (!strcmp(name, "min") || !strcmp(name, "max")) return do_minmax(r, in, &a, name[1] == 'a', out);
    if (!strcmp(name, "sort") || !strcmp(name, "dictsort")) return do_sort(r, in, &a, name[0] == 'd', out);
    if (!strcmp(name, "unique")) return do_unique(r, in, &a, out);
    if (!strcmp(name, "batch")) return do_batch(r, in, &a, out);
    if (!strcmp(name, "sum")) return do_sum(r, in, &a, out);
    if (!strcmp(name, "reverse")) return do_reverse(r, in, out);
    if (!strcmp(name, "wordcount")) return do_wordcount(r, in, out);
    if (!strcmp(name, "center")) return do_center(r, in, &a, out);
    if (!strcmp(name, "title")) return do_title(r, in, out);
    if (!strcmp(name, "map") || !strcmp(name, "select") || !strcmp(name, "reject") || !strcmp(name, "selectattr") ||
        !strcmp(name, "rejectattr"))
        return filter_seq(r, name, in, &a, out);
    /* string filters */
    if (need_str(r, in, &s)) return -1;
    if (!strcmp(name, "upper")) return jj_str_case(r, s.u.s, 1, out);
    if (!strcmp(name, "lower")) return jj_str_case(r, s.u.s, 0, out);
    if (!strcmp(name, "capitalize")) return jj_str_case(r, s.u.s, 2, out);
    if (!strcmp(name, "trim")) return jj_str_strip(r, s.u.s, jj_arg(&a, 0, "chars"), 3, out);
    if (!strcmp(name, "replace")) {
        const jj_value *o = jj_arg(&a, 0, "old"), *nw = jj_arg(&a, 1, "new"), *c = jj_arg(&a, 2, "count");
        jj_value os, ns;
        if (!o || !nw) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "replace needs old and new");
        if (need_str(r, o, &os) || need_str(r, nw, &ns)) return -1;
        return jj_str_replace(r, s.u.s, os.u.s, ns.u.s, c && c->t == JV_INT ? c->u.i : -1, out);
    }
    return jj_fail(r, MMRT_ERR_UNSUPPORTED, "unknown filter '%s'", name);
}
