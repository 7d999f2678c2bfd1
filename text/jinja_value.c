/* Python values for the Jinja2 interpreter: construction, conversion from cJSON, truth, equality,
 * ordering, str() and repr() as CPython prints them (text/jinja_impl.h). */
#include "text/jinja_impl.h"
#include "text/utf8.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t jj_utf8_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

size_t jj_utf8_offset(const char *s, size_t n, size_t i) {
    size_t pos = 0;
    while (i > 0 && pos < n) {
        pos++;
        while (pos < n && ((unsigned char)s[pos] & 0xC0) == 0x80) pos++;
        i--;
    }
    return pos;
}

bool jj_is_space(uint32_t cp) { return mmrt_utf8_is_white_space(cp) || (cp >= 0x1c && cp <= 0x1f); }

jj_str *jj_str_new(jj_pool *p, const char *s, size_t n) {
    if (n > SIZE_MAX - sizeof(jj_str) - 1) return NULL;
    jj_str *r = jj_alloc(p, sizeof(jj_str) + n + 1);
    if (!r) return NULL;
    r->len = n;
    if (n) memcpy(r->s, s, n);
    r->s[n] = '\0';
    return r;
}

jj_str *jj_str_fmt(jj_pool *p, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    return jj_str_new(p, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

int jj_make_str(jj_render *r, const char *s, size_t n, jj_value *out) {
    if (n > r->max_output)
        return jj_fail(r, MMRT_ERR_INVALID_ARG, "a string grows past max_output = %zu bytes", r->max_output);
    if (n >= 256 && jj_step(r, (int64_t)(n >> 8))) return -1;
    jj_str *js = jj_str_new(&r->pool, s, n);
    if (!js) return jj_oom(r);
    *out = jj_strv(js);
    return 0;
}

jj_list *jj_list_new(jj_render *r, size_t n, jj_type t, jj_value *out) {
    if (jj_step(r, (int64_t)(n / 16))) return NULL;
    jj_list *l = jj_alloc(&r->pool, sizeof *l);
    if (!l || (n && n > SIZE_MAX / sizeof(jj_value))) {
        jj_oom(r);
        return NULL;
    }
    if (n && !(l->v = jj_alloc(&r->pool, n * sizeof(jj_value)))) {
        jj_oom(r);
        return NULL;
    }
    l->n = n;
    out->t = (uint8_t)t;
    out->safe = 0;
    out->iter = 0;
    out->u.l = l;
    return l;
}

static int json_str(jj_render *r, const char *s, jj_value *out) {
    size_t n = strlen(s);
    if (mmrt_utf8_valid(s, n)) return jj_make_str(r, s, n, out);
    size_t m = mmrt_utf8_lossy_len(s, n);
    char *tmp = jj_alloc(&r->pool, m + 1);
    if (!tmp) return jj_oom(r);
    mmrt_utf8_lossy(s, n, tmp);
    return jj_make_str(r, tmp, m, out);
}

int jj_from_json(jj_render *r, const cJSON *j, jj_value *out, int depth) {
    if (depth > 1000) return jj_fail(r, MMRT_ERR_INVALID_ARG, "the context is nested more than 1000 levels deep");
    if (jj_step(r, 1)) return -1;
    if (!j || cJSON_IsNull(j)) {
        *out = jj_none();
    } else if (cJSON_IsBool(j)) {
        *out = jj_bool(cJSON_IsTrue(j));
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0) *out = jj_int((int64_t)d);
        else *out = jj_float(d);
    } else if (cJSON_IsString(j)) {
        return json_str(r, j->valuestring ? j->valuestring : "", out);
    } else if (cJSON_IsArray(j)) {
        size_t n = (size_t)cJSON_GetArraySize(j), i = 0;
        jj_list *l = jj_list_new(r, n, JV_LIST, out);
        if (!l) return -1;
        for (const cJSON *c = j->child; c && i < n; c = c->next, i++)
            if (jj_from_json(r, c, &l->v[i], depth + 1)) return -1;
    } else if (cJSON_IsObject(j)) {
        jj_dict *d = jj_dict_new(r, (size_t)cJSON_GetArraySize(j), out);
        if (!d) return -1;
        for (const cJSON *c = j->child; c; c = c->next) {
            jj_value k, v;
            if (json_str(r, c->string ? c->string : "", &k) || jj_from_json(r, c, &v, depth + 1) ||
                jj_dict_set(r, d, k, v))
                return -1;
        }
    } else {
        *out = jj_none();
    }
    return 0;
}

double jj_num(const jj_value *v) {
    return v->t == JV_FLOAT ? v->u.f : v->t == JV_INT ? (double)v->u.i : v->t == JV_BOOL ? (double)v->u.b : 0.0;
}

bool jj_truthy(const jj_value *v) {
    switch (v->t) {
    case JV_UNDEF:
    case JV_NONE: return false;
    case JV_BOOL: return v->u.b;
    case JV_INT: return v->u.i != 0;
    case JV_FLOAT: return v->u.f != 0.0;
    case JV_STR: return v->u.s->len > 0;
    case JV_LIST:
    case JV_TUPLE: return v->iter == JJ_ITER_GEN || v->u.l->n > 0;
    case JV_DICT: return v->u.d->n > 0;
    default: return true;
    }
}

/* Nesting beyond this compares unequal (CPython would raise RecursionError). */
#define JJ_MAX_COMPARE_DEPTH 500

/* *work (when not NULL) counts the values and bytes visited, so that callers can charge steps. */
static bool equal_rec(const jj_value *a, const jj_value *b, int depth, int64_t *work);

bool jj_equal(const jj_value *a, const jj_value *b) { return equal_rec(a, b, 0, NULL); }

int jj_equal_r(jj_render *r, const jj_value *a, const jj_value *b, bool *out) {
    int64_t work = 0;
    *out = equal_rec(a, b, 0, &work);
    return jj_step(r, work >> 6);
}

static bool equal_rec(const jj_value *a, const jj_value *b, int depth, int64_t *work) {
    if (depth > JJ_MAX_COMPARE_DEPTH) return false;
    if (work) *work += 1;
    if (jj_is_num(a) && jj_is_num(b)) {
        if (a->t != JV_FLOAT && b->t != JV_FLOAT) {
            int64_t x = a->t == JV_INT ? a->u.i : a->u.b, y = b->t == JV_INT ? b->u.i : b->u.b;
            return x == y;
        }
        return jj_num(a) == jj_num(b);
    }
    if (a->t != b->t) return false;
    if (a->t == JV_LIST && (a->iter || b->iter) && a->iter != b->iter) return false;
    if (a->t == JV_LIST && a->iter == JJ_ITER_GEN) return a->u.l == b->u.l; /* generators: identity */
    switch (a->t) {
    case JV_UNDEF:
    case JV_NONE: return true;
    case JV_STR:
        if (work) *work += (int64_t)(a->u.s->len >> 4);
        return a->u.s->len == b->u.s->len && memcmp(a->u.s->s, b->u.s->s, a->u.s->len) == 0;
    case JV_LIST:
    case JV_TUPLE:
        if (a->u.l->n != b->u.l->n) return false;
        for (size_t i = 0; i < a->u.l->n; i++)
            if (!equal_rec(&a->u.l->v[i], &b->u.l->v[i], depth + 1, work)) return false;
        return true;
    case JV_DICT:
        if (a->u.d->n != b->u.d->n) return false;
        for (size_t i = 0; i < a->u.d->n; i++) {
            const jj_value *o = jj_dict_get(b->u.d, &a->u.d->k[i]);
            if (!o || !equal_rec(&a->u.d->v[i], o, depth + 1, work)) return false;
        }
        return true;
    case JV_NS: return a->u.d == b->u.d;
    case JV_MACRO: return a->u.macro == b->u.macro;
    case JV_FUNC: return a->u.func == b->u.func;
    case JV_METHOD: return a->u.m == b->u.m;
    case JV_LOOP: return a->u.loop == b->u.loop;
    case JV_HELPER: return a->u.helper == b->u.helper;
    default: return false;
    }
}

const char *jj_type_name(const jj_value *v) {
    static const char *const iters[] = {"list", "generator", "dict_keys", "dict_values", "dict_items"};
    if (v->t == JV_LIST && v->iter) return iters[v->iter < 5 ? v->iter : 1];
    static const char *const names[] = {"Undefined", "NoneType", "bool", "int", "float", "str", "list",
                                        "tuple", "dict", "Namespace", "Macro", "function", "method", "LoopContext",
                                        "Helper"};
    return v->t < sizeof names / sizeof names[0] ? names[v->t] : "object";
}

static int compare_rec(jj_render *r, const jj_value *a, const jj_value *b, int *cmp, int depth);

int jj_compare(jj_render *r, const jj_value *a, const jj_value *b, int *cmp) { return compare_rec(r, a, b, cmp, 0); }

static int compare_rec(jj_render *r, const jj_value *a, const jj_value *b, int *cmp, int depth) {
    if (depth > JJ_MAX_COMPARE_DEPTH) return jj_fail(r, MMRT_ERR_INVALID_ARG, "values nested too deeply to compare");
    if (jj_is_num(a) && jj_is_num(b)) {
        if (a->t != JV_FLOAT && b->t != JV_FLOAT) {
            int64_t x = a->t == JV_INT ? a->u.i : a->u.b, y = b->t == JV_INT ? b->u.i : b->u.b;
            *cmp = (x > y) - (x < y);
        } else {
            double x = jj_num(a), y = jj_num(b);
            *cmp = (x > y) - (x < y);
        }
        return 0;
    }
    if (a->t == JV_STR && b->t == JV_STR) {
        size_t n = a->u.s->len < b->u.s->len ? a->u.s->len : b->u.s->len;
        int c = memcmp(a->u.s->s, b->u.s->s, n);
        *cmp = c ? (c > 0) - (c < 0) : (a->u.s->len > b->u.s->len) - (a->u.s->len < b->u.s->len);
        return 0;
    }
    if (a->t == b->t && jj_is_seq(a) && !a->iter && !b->iter) {
        for (size_t i = 0; i < a->u.l->n && i < b->u.l->n; i++) {
            if (jj_equal(&a->u.l->v[i], &b->u.l->v[i])) continue;
            return compare_rec(r, &a->u.l->v[i], &b->u.l->v[i], cmp, depth + 1);
        }
        *cmp = (a->u.l->n > b->u.l->n) - (a->u.l->n < b->u.l->n);
        return 0;
    }
    if (a->t == JV_UNDEF) return jj_undef_fail(r, a);
    if (b->t == JV_UNDEF) return jj_undef_fail(r, b);
    return jj_fail(r, MMRT_ERR_BAD_FORMAT, "'<' not supported between instances of '%s' and '%s'",
                   jj_type_name(a), jj_type_name(b));
}

int jj_undef_fail(jj_render *r, const jj_value *v) {
    if (v->t == JV_UNDEF && v->u.s) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%s", v->u.s->s);
    return jj_fail(r, MMRT_ERR_BAD_FORMAT, "undefined value used");
}

void jj_float_repr(double f, char *buf, size_t cap) {
    if (isnan(f)) {
        snprintf(buf, cap, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, cap, f < 0 ? "-inf" : "inf");
        return;
    }
    /* The shortest digits that read back as f (CPython's repr), then CPython's layout:
     * positional when -4 <= exponent < 16, else scientific with a two-digit exponent. */
    char e[64];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, f);
        if (strtod(e, NULL) == f) break;
    }
    char digits[32];
    int nd = 0;
    const char *p = e;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    size_t o = 0;
    char out[64];
    if (neg) out[o++] = '-';
    if (exp >= -5 + 1 && exp < 16) {
        if (exp < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -exp - 1; i++) out[o++] = '0';
            for (int i = 0; i < nd; i++) out[o++] = digits[i];
        } else {
            for (int i = 0; i <= exp; i++) out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (nd > exp + 1)
                for (int i = exp + 1; i < nd; i++) out[o++] = digits[i];
            else
                out[o++] = '0';
        }
        out[o] = '\0';
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    snprintf(buf, cap, "%s", out);
}

/* repr() of a string: single quotes unless it holds ' and no ", escapes as CPython writes them. */
static int repr_str(jj_render *r, jj_buf *b, const jj_str *s) {
    bool sq = memchr(s->s, '\'', s->len) != NULL, dq = memchr(s->s, '"', s->len) != NULL;
    char q = sq && !dq ? '"' : '\'';
    if (jj_buf_put(r, b, &q, 1)) return -1;
    for (size_t i = 0; i < s->len;) {
        unsigned char c = (unsigned char)s->s[i];
        char esc[16];
        const char *put = NULL;
        size_t n = 1;
        if (c == '\\') put = "\\\\";
        else if (c == (unsigned char)q) put = q == '\'' ? "\\'" : "\\\"";
        else if (c == '\n') put = "\\n";
        else if (c == '\r') put = "\\r";
        else if (c == '\t') put = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            put = esc;
        } else if (c >= 0x80) {
            size_t adv;
            uint32_t cp = mmrt_utf8_decode(s->s + i, &adv);
            n = adv;
            /* non-printable: C1 controls, NBSP, soft hyphen, line/paragraph separators, BOM */
            if ((cp >= 0x80 && cp <= 0xa0) || cp == 0xad) {
                snprintf(esc, sizeof esc, "\\x%02x", cp);
                put = esc;
            } else if ((cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
                       (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 || cp == 0xfeff || cp == 0x1680) {
                snprintf(esc, sizeof esc, "\\u%04x", cp);
                put = esc;
            }
        }
        if (put ? jj_buf_puts(r, b, put) : jj_buf_put(r, b, s->s + i, n)) return -1;
        i += n;
    }
    return jj_buf_put(r, b, &q, 1);
}

int jj_append_repr(jj_render *r, jj_buf *b, const jj_value *v, int depth) {
    if (depth > 200) return jj_fail(r, MMRT_ERR_INVALID_ARG, "a value nested too deeply to print");
    if (v->t == JV_STR && v->safe)
        return jj_buf_puts(r, b, "Markup(") || repr_str(r, b, v->u.s) || jj_buf_puts(r, b, ")");
    if (v->t == JV_STR) return repr_str(r, b, v->u.s);
    if (v->t == JV_UNDEF) return jj_buf_puts(r, b, "Undefined");
    if (v->t == JV_LIST && v->iter == JJ_ITER_GEN) return jj_buf_puts(r, b, "<generator object>");
    if (v->t == JV_LIST && v->iter) { /* dict_keys([...]) */
        jj_value plain = *v;
        plain.iter = JJ_ITER_NONE;
        return jj_buf_puts(r, b, jj_type_name(v)) || jj_buf_puts(r, b, "(") || jj_append_repr(r, b, &plain, depth + 1) ||
               jj_buf_puts(r, b, ")");
    }
    if (jj_is_seq(v)) {
        if (jj_buf_puts(r, b, v->t == JV_LIST ? "[" : "(")) return -1;
        for (size_t i = 0; i < v->u.l->n; i++)
            if ((i && jj_buf_puts(r, b, ", ")) || jj_append_repr(r, b, &v->u.l->v[i], depth + 1)) return -1;
        if (v->t == JV_TUPLE && v->u.l->n == 1 && jj_buf_puts(r, b, ",")) return -1;
        return jj_buf_puts(r, b, v->t == JV_LIST ? "]" : ")");
    }
    if (v->t == JV_DICT || v->t == JV_NS) {
        if (jj_buf_puts(r, b, v->t == JV_NS ? "<Namespace {" : "{")) return -1;
        for (size_t i = 0; i < v->u.d->n; i++)
            if ((i && jj_buf_puts(r, b, ", ")) || jj_append_repr(r, b, &v->u.d->k[i], depth + 1) ||
                jj_buf_puts(r, b, ": ") || jj_append_repr(r, b, &v->u.d->v[i], depth + 1))
                return -1;
        return jj_buf_puts(r, b, v->t == JV_NS ? "}>" : "}");
    }
    return jj_append_str(r, b, v);
}

int jj_append_str(jj_render *r, jj_buf *b, const jj_value *v) {
    char buf[64];
    switch (v->t) {
    case JV_UNDEF: return 0;
    case JV_NONE: return jj_buf_puts(r, b, "None");
    case JV_BOOL: return jj_buf_puts(r, b, v->u.b ? "True" : "False");
    case JV_INT: snprintf(buf, sizeof buf, "%lld", (long long)v->u.i); return jj_buf_puts(r, b, buf);
    case JV_FLOAT: jj_float_repr(v->u.f, buf, sizeof buf); return jj_buf_puts(r, b, buf);
    case JV_STR: return jj_buf_put(r, b, v->u.s->s, v->u.s->len);
    case JV_MACRO: return jj_buf_puts(r, b, "<Macro>");
    case JV_FUNC:
    case JV_METHOD: return jj_buf_puts(r, b, "<function>");
    case JV_LOOP: return jj_buf_puts(r, b, "<LoopContext>");
    default: return jj_append_repr(r, b, v, 0);
    }
}

int jj_to_str(jj_render *r, const jj_value *v, jj_value *out) {
    if (v->t == JV_STR) {
        *out = *v;
        return 0;
    }
    jj_buf b = {0};
    if (jj_append_str(r, &b, v)) return -1;
    return jj_buf_value(r, &b, out);
}
