/* The tojson filter as transformers defines it: json.dumps(x, ensure_ascii=False, indent=indent,
 * separators=separators, sort_keys=sort_keys) — Python's encoder, so floats print as repr(),
 * tuples as arrays, non-ASCII stays raw, and only '"', '\\' and control characters are escaped. */
#include "text/jinja_impl.h"
#include "text/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int json_string(jj_render *r, jj_buf *b, const char *s, size_t n, bool ascii) {
    if (jj_buf_puts(r, b, "\"")) return -1;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 && ascii) {
            size_t adv;
            uint32_t cp = mmrt_utf8_decode(s + i, &adv);
            char esc[16];
            if (cp >= 0x10000) snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF));
            else snprintf(esc, sizeof esc, "\\u%04x", cp);
            if (jj_buf_put(r, b, s + run, i - run) || jj_buf_puts(r, b, esc)) return -1;
            i += adv - 1;
            run = i + 1;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (jj_buf_put(r, b, s + run, i - run)) return -1;
        char esc[8];
        switch (c) {
        case '"': strcpy(esc, "\\\""); break;
        case '\\': strcpy(esc, "\\\\"); break;
        case '\n': strcpy(esc, "\\n"); break;
        case '\r': strcpy(esc, "\\r"); break;
        case '\t': strcpy(esc, "\\t"); break;
        case '\b': strcpy(esc, "\\b"); break;
        case '\f': strcpy(esc, "\\f"); break;
        default: snprintf(esc, sizeof esc, "\\u%04x", c);
        }
        if (jj_buf_puts(r, b, esc)) return -1;
        run = i + 1;
    }
    return jj_buf_put(r, b, s + run, n - run) || jj_buf_puts(r, b, "\"");
}

static int newline_indent(jj_render *r, jj_buf *b, const jj_json_opts *o, int level) {
    if (jj_buf_puts(r, b, "\n")) return -1;
    for (int i = 0; i < level; i++) {
        if (o->indent_s ? jj_buf_put(r, b, o->indent_s->s, o->indent_s->len) : 0) return -1;
        for (int k = 0; !o->indent_s && k < o->indent; k++)
            if (jj_buf_puts(r, b, " ")) return -1;
    }
    return 0;
}

/* Indices of d's entries, sorted by key when asked (keys must then be strings, as in Python). */
static int key_order(jj_render *r, const jj_dict *d, bool sort, size_t **out) {
    size_t *idx = jj_alloc(&r->pool, (d->n + 1) * sizeof *idx);
    if (!idx) return jj_oom(r);
    for (size_t i = 0; i < d->n; i++) idx[i] = i;
    for (size_t i = 1; sort && i < d->n; i++) { /* insertion sort: stable, dicts are small */
        size_t k = idx[i], j = i;
        for (; j > 0; j--) {
            int c;
            if (jj_compare(r, &d->k[idx[j - 1]], &d->k[k], &c)) return -1;
            if (c <= 0) break;
            idx[j] = idx[j - 1];
            if (jj_step(r, 1)) return -1;
        }
        idx[j] = k;
    }
    *out = idx;
    return 0;
}

int jj_tojson(jj_render *r, jj_buf *b, const jj_value *v, const jj_json_opts *o, int level) {
    if (level > 200) return jj_fail(r, MMRT_ERR_INVALID_ARG, "tojson: value nested too deeply");
    if (jj_step(r, 1)) return -1;
    char num[64];
    bool pretty = o->indent >= 0 || o->indent_s;
    switch (v->t) {
    case JV_NONE: return jj_buf_puts(r, b, "null");
    case JV_BOOL: return jj_buf_puts(r, b, v->u.b ? "true" : "false");
    case JV_INT: snprintf(num, sizeof num, "%lld", (long long)v->u.i); return jj_buf_puts(r, b, num);
    case JV_FLOAT:
        if (isnan(v->u.f)) return jj_buf_puts(r, b, "NaN");
        if (isinf(v->u.f)) return jj_buf_puts(r, b, v->u.f > 0 ? "Infinity" : "-Infinity");
        jj_float_repr(v->u.f, num, sizeof num);
        return jj_buf_puts(r, b, num);
    case JV_STR: return json_string(r, b, v->u.s->s, v->u.s->len, o->ensure_ascii);
    case JV_LIST:
    case JV_TUPLE: {
        if (v->iter) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "Object of type %s is not JSON serializable", jj_type_name(v));
        const jj_list *l = v->u.l;
        if (l->n == 0) return jj_buf_puts(r, b, "[]");
        if (jj_buf_puts(r, b, "[")) return -1;
        for (size_t i = 0; i < l->n; i++) {
            if (i && jj_buf_puts(r, b, o->item_sep)) return -1;
            if (pretty && newline_indent(r, b, o, level + 1)) return -1;
            if (jj_tojson(r, b, &l->v[i], o, level + 1)) return -1;
        }
        if (pretty && newline_indent(r, b, o, level)) return -1;
        return jj_buf_puts(r, b, "]");
    }
    case JV_DICT: {
        const jj_dict *d = v->u.d;
        if (d->n == 0) return jj_buf_puts(r, b, "{}");
        size_t *idx = NULL;
        if (key_order(r, d, o->sort_keys, &idx) || jj_buf_puts(r, b, "{")) return -1;
        for (size_t i = 0; i < d->n; i++) {
            const jj_value *k = &d->k[idx[i]];
            if (i && jj_buf_puts(r, b, o->item_sep)) return -1;
            if (pretty && newline_indent(r, b, o, level + 1)) return -1;
            if (k->t == JV_STR) {
                if (json_string(r, b, k->u.s->s, k->u.s->len, o->ensure_ascii)) return -1;
            } else if (k->t == JV_INT || k->t == JV_FLOAT || k->t == JV_BOOL || k->t == JV_NONE) {
                jj_buf kb = {0};
                if (jj_tojson(r, &kb, k, o, level + 1) || json_string(r, b, kb.s, kb.len, false)) return -1;
            } else {
                return jj_fail(r, MMRT_ERR_BAD_FORMAT, "keys must be str, int, float, bool or None, not %s", jj_type_name(k));
            }
            if (jj_buf_puts(r, b, o->key_sep) || jj_tojson(r, b, &d->v[idx[i]], o, level + 1)) return -1;
        }
        if (pretty && newline_indent(r, b, o, level)) return -1;
        return jj_buf_puts(r, b, "}");
    }
    default:
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "Object of type %s is not JSON serializable", jj_type_name(v));
    }
}
