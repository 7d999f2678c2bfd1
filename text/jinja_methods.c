/* Methods of str, dict and list values that the sandbox lets templates call, and the globals
 * transformers provides (range with jinja2's sandbox cap, namespace, dict, raise_exception,
 * strftime_now) plus loop.cycle. Methods that would change a list or dict (append, update, ...)
 * exist but are refused, as ImmutableSandboxedEnvironment refuses them. Case mapping covers ASCII, Latin-1,
 * Latin Extended-A, Greek and Cyrillic. */
#include "text/jinja_impl.h"
#include "text/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JJ_MAX_RANGE 100000 /* jinja2.sandbox.MAX_RANGE */

static const char *const STR_METHODS[] = {
    "strip", "lstrip", "rstrip", "split", "startswith", "endswith", "upper", "lower", "title",
    "capitalize", "replace", "find", "rfind", "count", "join", "isdigit", "isalpha", "isspace",
    "isalnum", "isupper", "islower", "isnumeric", "isdecimal", "splitlines", "removeprefix",
    "removesuffix", "format", "swapcase", NULL};
static const char *const DICT_METHODS[] = {"items", "keys", "values", "get", "copy", NULL};
static const char *const DICT_UNSAFE[] = {"clear", "pop", "popitem", "setdefault", "update", NULL};
static const char *const LIST_METHODS[] = {"index", "count", "copy", NULL};
static const char *const LIST_UNSAFE[] = {"append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort", NULL};

static bool in_list(const char *const *l, const char *name, size_t len) {
    for (int i = 0; l[i]; i++)
        if (strlen(l[i]) == len && !memcmp(l[i], name, len)) return true;
    return false;
}

bool jj_has_method(const jj_value *v, const char *name, size_t len, bool *unsafe) {
    *unsafe = false;
    if (v->t == JV_STR) return in_list(STR_METHODS, name, len);
    if (v->t == JV_DICT) {
        if (in_list(DICT_UNSAFE, name, len)) return *unsafe = true;
        return in_list(DICT_METHODS, name, len);
    }
    if (jj_is_seq(v)) {
        if (v->t == JV_LIST && (in_list(LIST_UNSAFE, name, len))) return *unsafe = true;
        return in_list(LIST_METHODS, name, len) && (v->t == JV_LIST || len != 4);
    }
    return false;
}

/* Simple one-to-one case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic (the
 * scripts chat contents commonly use); other code points are left alone. */
/* Greek letters with tonos/dialytika: lower, upper */
static const uint16_t GREEK_ACCENTED[][2] = {{0x3AC, 0x386}, {0x3AD, 0x388}, {0x3AE, 0x389}, {0x3AF, 0x38A},
                                             {0x3CC, 0x38C}, {0x3CD, 0x38E}, {0x3CE, 0x38F}, {0x3CA, 0x3AA},
                                             {0x3CB, 0x3AB}};

uint32_t jj_case_map(uint32_t c, bool up) {
    if (c >= 0x386 && c <= 0x3CE)
        for (size_t i = 0; i < sizeof GREEK_ACCENTED / sizeof GREEK_ACCENTED[0]; i++)
            if (c == GREEK_ACCENTED[i][!up]) return GREEK_ACCENTED[i][up];
    if (c < 0x80) return up ? (c >= 'a' && c <= 'z' ? c - 32 : c) : (c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (up) {
        if ((c >= 0xE0 && c <= 0xFE && c != 0xF7) || (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) || (c >= 0x430 && c <= 0x44F))
            return c - 32;
        if (c == 0xFF) return 0x178;
        if (c == 0xB5) return 0x39C;
        if (c == 0x3C2) return 0x3A3;
        if (c >= 0x450 && c <= 0x45F) return c - 80;
        if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
            bool odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
            if (odd_lower ? (c & 1) == 0 : (c & 1) == 1) return c - 1;
        }
        return c;
    }
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
        return c + 32;
    if (c == 0x178) return 0xFF;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
        bool odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        if (odd_lower ? (c & 1) == 1 : (c & 1) == 0) return c + 1;
    }
    return c;
}

static bool cased(uint32_t c) { return jj_case_map(c, true) != c || jj_case_map(c, false) != c || c == 0xDF; }

/* Python's Final_Sigma condition for the Σ at s[i..i+adv): a cased letter before it and none
 * right after it (case-ignorable characters are not skipped here). */
static bool final_sigma(const jj_str *s, size_t i, size_t adv) {
    if (i == 0) return false;
    size_t st = i - 1, n;
    while (st > 0 && ((unsigned char)s->s[st] & 0xC0) == 0x80) st--;
    if (!cased(mmrt_utf8_decode(s->s + st, &n))) return false;
    return i + adv >= s->len || !cased(mmrt_utf8_decode(s->s + i + adv, &n));
}

/* mode 0 lower, 1 upper, 2 capitalize (first upper, rest lower), 3 swapcase, 4 str.title().
 * Every mapping here keeps the UTF-8 length (ß -> SS included), so the copy is rewritten in place. */
int jj_str_case(jj_render *r, const jj_str *s, int mode, jj_value *out) {
    if (jj_make_str(r, s->s, s->len, out)) return -1;
    char *p = (char *)out->u.s->s;
    bool prev_cased = false;
    for (size_t i = 0; i < s->len;) {
        unsigned char c0 = (unsigned char)p[i];
        if (c0 < 0x80 && mode <= 1) { /* ASCII fast path */
            if (mode == 1 && c0 >= 'a' && c0 <= 'z') p[i] = (char)(c0 - 32);
            if (mode == 0 && c0 >= 'A' && c0 <= 'Z') p[i] = (char)(c0 + 32);
            i++;
            continue;
        }
        size_t adv = mmrt_utf8_len(c0);
        if (i + adv > s->len) adv = s->len - i;
        uint32_t c = mmrt_utf8_decode(p + i, &adv);
        bool up = mode == 1 || (mode == 2 && i == 0);
        if (mode == 3) up = jj_case_map(c, true) != c || c == 0xDF;
        if (mode == 4) up = !prev_cased;
        if (mode == 4) prev_cased = cased(c);
        if (c == 0x3A3 && !up && final_sigma(s, i, adv)) { /* Σ ending a word lowers to ς */
            mmrt_utf8_encode(0x3C2, p + i);
            i += adv;
            continue;
        }
        if (c == 0xDF && up) { /* ß: upper case SS, title case Ss (two bytes either way) */
            p[i] = 'S';
            p[i + 1] = mode == 2 || mode == 4 ? 's' : 'S';
        } else {
            uint32_t m = jj_case_map(c, up);
            if (m != c) mmrt_utf8_encode(m, p + i);
        }
        i += adv;
    }
    return 0;
}

/* which: 1 left, 2 right, 3 both. chars NULL/None: Python whitespace. */
int jj_str_strip(jj_render *r, const jj_str *s, const jj_value *chars, int which, jj_value *out) {
    if (chars && chars->t != JV_NONE && chars->t != JV_STR)
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "strip arg must be None or str");
    const jj_str *set = chars && chars->t == JV_STR ? chars->u.s : NULL;
    size_t a = 0, b = s->len;
    #define JJ_STRIPPED(pos, adv)                                                                   \
        (set ? (memmem(set->s, set->len, s->s + (pos), adv) != NULL) : jj_is_space(mmrt_utf8_decode(s->s + (pos), &(adv))))
    while ((which & 1) && a < b) {
        size_t adv = mmrt_utf8_len((uint8_t)s->s[a]);
        if (set) mmrt_utf8_decode(s->s + a, &adv);
        if (!JJ_STRIPPED(a, adv)) break;
        a += adv;
    }
    while ((which & 2) && b > a) {
        size_t st = b - 1;
        while (st > a && ((unsigned char)s->s[st] & 0xC0) == 0x80) st--;
        size_t adv = b - st;
        if (!JJ_STRIPPED(st, adv)) break;
        b = st;
    }
    #undef JJ_STRIPPED
    return jj_make_str(r, s->s + a, b - a, out);
}

int jj_str_replace(jj_render *r, const jj_str *s, const jj_str *old, const jj_str *new_, int64_t count,
                   jj_value *out) {
    jj_buf b = {0};
    size_t pos = 0;
    int64_t done = 0;
    if (old->len == 0) { /* Python inserts `new` between characters and at both ends */
        for (size_t i = 0; i <= s->len; done++) {
            if ((count < 0 || done < count) && jj_buf_put(r, &b, new_->s, new_->len)) return -1;
            if (i == s->len) break;
            size_t adv = mmrt_utf8_len((uint8_t)s->s[i]);
            if (i + adv > s->len) adv = s->len - i;
            if (jj_buf_put(r, &b, s->s + i, adv)) return -1;
            i += adv;
        }
        return jj_buf_value(r, &b, out);
    }
    for (;;) {
        const char *hit = count >= 0 && done >= count ? NULL : memmem(s->s + pos, s->len - pos, old->s, old->len);
        if (!hit) break;
        size_t at = (size_t)(hit - s->s);
        if (jj_buf_put(r, &b, s->s + pos, at - pos) || jj_buf_put(r, &b, new_->s, new_->len)) return -1;
        pos = at + old->len;
        done++;
    }
    if (jj_buf_put(r, &b, s->s + pos, s->len - pos)) return -1;
    return jj_buf_value(r, &b, out);
}

static int push_piece(jj_render *r, jj_value *lv, const char *s, size_t n) {
    jj_list *l = lv->u.l;
    jj_value v;
    if (jj_make_str(r, s, n, &v) || jj_step(r, 1)) return -1;
    jj_list *nl = l;
    if ((l->n & (l->n - 1)) == 0) { /* grow at powers of two */
        jj_value tmp;
        if (!(nl = jj_list_new(r, l->n ? l->n * 2 : 1, JV_LIST, &tmp))) return -1;
        if (l->n) memcpy(nl->v, l->v, l->n * sizeof(jj_value));
        nl->n = l->n;
        lv->u.l = nl;
    }
    nl->v[nl->n++] = v;
    return 0;
}

static size_t space_len(const char *s, size_t n) {
    if (!n) return 0;
    size_t adv = mmrt_utf8_len((uint8_t)s[0]);
    if (adv > n) return 0;
    return jj_is_space(mmrt_utf8_decode(s, &adv)) ? adv : 0;
}

static int str_split(jj_render *r, const jj_str *s, const jj_value *sep, const jj_value *maxv, jj_value *out) {
    int64_t maxsplit = maxv && maxv->t == JV_INT ? maxv->u.i : -1;
    if (!jj_list_new(r, 0, JV_LIST, out)) return -1;
    const char *p = s->s;
    size_t n = s->len, pos = 0;
    if (!sep || sep->t == JV_NONE) {
        for (int64_t done = 0;; done++) {
            size_t k;
            while (pos < n && (k = space_len(p + pos, n - pos))) pos += k;
            if (pos >= n) break;
            if (maxsplit >= 0 && done >= maxsplit) return push_piece(r, out, p + pos, n - pos);
            size_t e = pos;
            while (e < n && !space_len(p + e, n - e)) e += mmrt_utf8_len((uint8_t)p[e]);
            if (e > n) e = n;
            if (push_piece(r, out, p + pos, e - pos)) return -1;
            pos = e;
        }
        return 0;
    }
    if (sep->t != JV_STR) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "must be str or None, not %s", jj_type_name(sep));
    if (sep->u.s->len == 0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "empty separator");
    for (int64_t done = 0;; done++) {
        const char *hit = maxsplit >= 0 && done >= maxsplit ? NULL : memmem(p + pos, n - pos, sep->u.s->s, sep->u.s->len);
        if (!hit) return push_piece(r, out, p + pos, n - pos);
        if (push_piece(r, out, p + pos, (size_t)(hit - p) - pos)) return -1;
        pos = (size_t)(hit - p) + sep->u.s->len;
    }
}

static int affix(jj_render *r, const jj_str *s, const jj_value *a, bool end, bool *out) {
    *out = false;
    if (a && jj_is_seq(a)) {
        for (size_t i = 0; i < a->u.l->n && !*out; i++)
            if (affix(r, s, &a->u.l->v[i], end, out)) return -1;
        return 0;
    }
    if (!a || a->t != JV_STR)
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%s first arg must be str or a tuple of str", end ? "endswith" : "startswith");
    size_t k = a->u.s->len;
    *out = k <= s->len && !memcmp(s->s + (end ? s->len - k : 0), a->u.s->s, k);
    return 0;
}

/* "{}", "{0}", "{name}", "{{", "}}" of str.format; format specs are not supported. */
static int str_format(jj_render *r, const jj_str *s, const jj_args *a, jj_value *out) {
    jj_buf b = {0};
    int next = 0;
    for (size_t i = 0; i < s->len; i++) {
        char c = s->s[i];
        if ((c == '{' || c == '}') && i + 1 < s->len && s->s[i + 1] == c) {
            if (jj_buf_put(r, &b, &c, 1)) return -1;
            i++;
            continue;
        }
        if (c == '}') return jj_fail(r, MMRT_ERR_BAD_FORMAT, "Single '}' encountered in format string");
        if (c != '{') {
            if (jj_buf_put(r, &b, &c, 1)) return -1;
            continue;
        }
        const char *close = memchr(s->s + i, '}', s->len - i);
        if (!close) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "Single '{' encountered in format string");
        size_t fl = (size_t)(close - s->s) - i - 1;
        const char *field = s->s + i + 1;
        if (memchr(field, ':', fl) || memchr(field, '!', fl) || memchr(field, '.', fl) || memchr(field, '[', fl))
            return jj_fail(r, MMRT_ERR_UNSUPPORTED, "str.format: only {}, {N} and {name} fields are supported");
        const jj_value *v = NULL;
        if (fl == 0) v = jj_arg(a, next++, NULL);
        else if (field[0] >= '0' && field[0] <= '9') v = jj_arg(a, (int)strtol(field, NULL, 10) & 0xffff, NULL);
        else {
            char nm[128];
            snprintf(nm, sizeof nm, "%.*s", (int)(fl < 120 ? fl : 120), field);
            v = jj_arg(a, -1, nm);
        }
        if (!v) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "str.format: missing argument for field %zu", i);
        if (jj_append_str(r, &b, v)) return -1;
        i = (size_t)(close - s->s);
    }
    return jj_buf_value(r, &b, out);
}

static int str_method(jj_render *r, const jj_str *s, const char *m, const jj_args *a, jj_value *out) {
    if (jj_step(r, (int64_t)(s->len >> 8))) return -1; /* every method scans the string */
    const jj_value *a0 = jj_arg(a, 0, NULL), *a1 = jj_arg(a, 1, NULL);
    if (!strcmp(m, "strip")) return jj_str_strip(r, s, a0, 3, out);
    if (!strcmp(m, "lstrip")) return jj_str_strip(r, s, a0, 1, out);
    if (!strcmp(m, "rstrip")) return jj_str_strip(r, s, a0, 2, out);
    if (!strcmp(m, "upper")) return jj_str_case(r, s, 1, out);
    if (!strcmp(m, "lower")) return jj_str_case(r, s, 0, out);
    if (!strcmp(m, "capitalize")) return jj_str_case(r, s, 2, out);
    if (!strcmp(m, "swapcase")) return jj_str_case(r, s, 3, out);
    if (!strcmp(m, "split")) return str_split(r, s, jj_arg(a, 0, "sep"), jj_arg(a, 1, "maxsplit"), out);
    if (!strcmp(m, "format")) return str_format(r, s, a, out);
    if (!strcmp(m, "title")) return jj_str_case(r, s, 4, out);
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
        bool ok;
        if (affix(r, s, a0, m[0] == 'e', &ok)) return -1;
        *out = jj_bool(ok);
        return 0;
    }
    if (!strcmp(m, "removeprefix") || !strcmp(m, "removesuffix")) {
        bool ok, end = m[6] == 's';
        if (!a0 || a0->t != JV_STR) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%s needs a string", m);
        if (affix(r, s, a0, end, &ok)) return -1;
        size_t k = ok ? a0->u.s->len : 0;
        return jj_make_str(r, s->s + (end ? 0 : k), s->len - k, out);
    }
    if (!strcmp(m, "replace")) {
        const jj_value *c = jj_arg(a, 2, "count");
        if (!a0 || !a1 || a0->t != JV_STR || a1->t != JV_STR) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "replace needs two strings");
        return jj_str_replace(r, s, a0->u.s, a1->u.s, c && c->t == JV_INT ? c->u.i : -1, out);
    }
    if (!strcmp(m, "find") || !strcmp(m, "rfind") || !strcmp(m, "count")) {
        if (!a0 || a0->t != JV_STR) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%s needs a string", m);
        const jj_str *sub = a0->u.s;
        int64_t found = -1, count = 0;
        for (size_t pos = 0; pos + sub->len <= s->len;) {
            const char *hit = sub->len ? memmem(s->s + pos, s->len - pos, sub->s, sub->len) : s->s + pos;
            if (!hit) break;
            size_t at = (size_t)(hit - s->s);
            if (found < 0 || m[0] == 'r') found = (int64_t)jj_utf8_count(s->s, at);
            count++;
            if (m[0] == 'f') break;
            pos = at + (sub->len ? sub->len : 1);
            if (jj_step(r, 1)) return -1;
        }
        if (!strcmp(m, "count") && sub->len == 0) count = (int64_t)jj_utf8_count(s->s, s->len) + 1;
        *out = jj_int(m[0] == 'c' ? count : found);
        return 0;
    }
    if (!strcmp(m, "join")) {
        jj_list *items;
        jj_buf b = {0};
        if (!a0 || jj_iterate(r, a0, &items)) return a0 ? -1 : jj_fail(r, MMRT_ERR_BAD_FORMAT, "join needs an iterable");
        for (size_t i = 0; i < items->n; i++) {
            if (items->v[i].t != JV_STR)
                return jj_fail(r, MMRT_ERR_BAD_FORMAT, "sequence item %zu: expected str instance, %s found", i, jj_type_name(&items->v[i]));
            if ((i && jj_buf_put(r, &b, s->s, s->len)) || jj_append_str(r, &b, &items->v[i])) return -1;
        }
        return jj_buf_value(r, &b, out);
    }
    if (!strcmp(m, "splitlines")) {
        if (!jj_list_new(r, 0, JV_LIST, out)) return -1;
        for (size_t pos = 0; pos < s->len;) {
            size_t e = pos;
            while (e < s->len && !strchr("\n\r\v\f\x1c\x1d\x1e", s->s[e])) e++;
            if (push_piece(r, out, s->s + pos, e - pos)) return -1;
            pos = e < s->len && s->s[e] == '\r' && e + 1 < s->len && s->s[e + 1] == '\n' ? e + 2 : e + 1;
        }
        return 0;
    }
    /* is* predicates */
    bool ok = s->len > 0, cased = false;
    for (size_t i = 0; i < s->len;) {
        size_t adv = mmrt_utf8_len((uint8_t)s->s[i]);
        if (i + adv > s->len) adv = s->len - i;
        uint32_t cp = mmrt_utf8_decode(s->s + i, &adv);
        bool dig = cp >= '0' && cp <= '9', lo = cp >= 'a' && cp <= 'z', up = cp >= 'A' && cp <= 'Z';
        bool alpha = lo || up || cp >= 0x80;
        if (!strcmp(m, "isdigit") || !strcmp(m, "isnumeric") || !strcmp(m, "isdecimal")) ok = ok && dig;
        else if (!strcmp(m, "isalpha")) ok = ok && alpha;
        else if (!strcmp(m, "isalnum")) ok = ok && (alpha || dig);
        else if (!strcmp(m, "isspace")) ok = ok && jj_is_space(cp);
        else if (!strcmp(m, "isupper")) ok = ok && !lo, cased |= up;
        else if (!strcmp(m, "islower")) ok = ok && !up, cased |= lo;
        i += adv;
    }
    if (!strcmp(m, "isupper") || !strcmp(m, "islower")) ok = ok && cased;
    *out = jj_bool(ok);
    return 0;
}

int jj_call_method(jj_render *r, const jj_method *m, const jj_value *args, int n_args, const char *const *kw,
                   const jj_value *kwv, int n_kw, jj_value *out) {
    jj_args a = {args, n_args, kw, kwv, n_kw};
    const jj_value *self = &m->self, *a0 = jj_arg(&a, 0, NULL);
    if (self->t == JV_STR) return str_method(r, self->u.s, m->name, &a, out);
    if (self->t == JV_HELPER) { /* cycler.next() / cycler.reset() */
        jj_helper *h = self->u.helper;
        if (!strcmp(m->name, "reset")) {
            h->pos = 0;
            *out = jj_none();
            return 0;
        }
        *out = h->items->v[h->pos];
        h->pos = (h->pos + 1) % h->items->n;
        return 0;
    }
    if (self->t == JV_LOOP && !strcmp(m->name, "changed")) { /* true when the arguments differ from last time */
        jj_value now;
        jj_list *l = jj_list_new(r, (size_t)n_args, JV_TUPLE, &now);
        if (!l) return -1;
        for (int i = 0; i < n_args; i++) l->v[i] = args[i];
        bool same;
        if (jj_equal_r(r, &self->u.loop->last_changed, &now, &same)) return -1;
        self->u.loop->last_changed = now;
        *out = jj_bool(!same);
        return 0;
    }
    if (self->t == JV_LOOP) { /* loop.cycle(a, b, ...) */
        if (n_args == 0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "no items for cycling given");
        *out = args[self->u.loop->index0 % (size_t)n_args];
        return 0;
    }
    if (self->t == JV_DICT) {
        const jj_dict *d = self->u.d;
        if (!strcmp(m->name, "get")) {
            const jj_value *v = a0 ? jj_dict_get(d, a0) : NULL, *dflt = jj_arg(&a, 1, NULL);
            if (!a0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "get expected at least 1 argument, got 0");
            *out = v ? *v : dflt ? *dflt : jj_none();
            return 0;
        }
        if (!strcmp(m->name, "copy")) {
            jj_dict *c = jj_dict_new(r, d->n, out);
            if (!c) return -1;
            for (size_t i = 0; i < d->n; i++)
                if (jj_dict_set(r, c, d->k[i], d->v[i])) return -1;
            return 0;
        }
        if (!strcmp(m->name, "items")) { /* a dict_items view: sized, unlike the items filter */
            if (jj_filter(r, "items", self, NULL, 0, NULL, NULL, 0, out)) return -1;
            out->iter = JJ_ITER_ITEMS;
            return 0;
        }
        bool keys = !strcmp(m->name, "keys");
        jj_list *l = jj_list_new(r, d->n, JV_LIST, out);
        if (!l) return -1;
        for (size_t i = 0; i < d->n; i++) l->v[i] = keys ? d->k[i] : d->v[i];
        out->iter = keys ? JJ_ITER_KEYS : JJ_ITER_VALUES;
        return 0;
    }
    if (jj_is_seq(self)) {
        const jj_list *l = self->u.l;
        if (!strcmp(m->name, "copy")) return jj_filter(r, "list", self, NULL, 0, NULL, NULL, 0, out);
        if (!a0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%s() takes exactly one argument", m->name);
        int64_t count = 0;
        for (size_t i = 0; i < l->n; i++) {
            bool eq;
            if (jj_equal_r(r, &l->v[i], a0, &eq)) return -1;
            if (eq) {
                if (m->name[0] == 'i') {
                    *out = jj_int((int64_t)i);
                    return 0;
                }
                count++;
            }
        }
        if (m->name[0] == 'i') return jj_fail(r, MMRT_ERR_BAD_FORMAT, "list.index(x): x not in list");
        *out = jj_int(count);
        return 0;
    }
    return jj_fail(r, MMRT_ERR_INTERNAL, "no method '%s'", m->name);
}

/* dict(mapping or pairs, **kw) into d; namespace refuses underscore names. */
static int fill_dict(jj_render *r, jj_dict *d, const jj_args *a, bool ns) {
    if (a->n > 1) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%s expected at most 1 positional argument", ns ? "namespace" : "dict");
    if (a->n == 1) {
        const jj_value *src = &a->v[0];
        if (src->t == JV_DICT || src->t == JV_NS) {
            for (size_t i = 0; i < src->u.d->n; i++)
                if (jj_dict_set(r, d, src->u.d->k[i], src->u.d->v[i])) return -1;
        } else {
            jj_list *items;
            if (jj_iterate(r, src, &items)) return -1;
            for (size_t i = 0; i < items->n; i++) {
                const jj_value *p = &items->v[i];
                if (!jj_is_seq(p) || p->u.l->n != 2)
                    return jj_fail(r, MMRT_ERR_BAD_FORMAT, "dictionary update sequence element #%zu has the wrong length", i);
                if (jj_dict_set(r, d, p->u.l->v[0], p->u.l->v[1])) return -1;
            }
        }
    }
    for (int i = 0; i < a->n_kw; i++) {
        jj_value k;
        if (jj_make_str(r, a->kw[i], strlen(a->kw[i]), &k) || jj_dict_set(r, d, k, a->kwv[i])) return -1;
    }
    for (size_t i = 0; ns && i < d->n; i++)
        if (d->k[i].t == JV_STR && d->k[i].u.s->s[0] == '_')
            return jj_fail(r, MMRT_ERR_BAD_FORMAT, "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '%s'", d->k[i].u.s->s);
    return 0;
}

int jj_call_func(jj_render *r, int func, const jj_value *args, int n_args, const char *const *kw, const jj_value *kwv,
                 int n_kw, jj_value *out) {
    jj_args a = {args, n_args, kw, kwv, n_kw};
    switch (func) {
    case JF_RANGE: {
        int64_t v[3] = {0, 0, 1};
        if (n_args < 1 || n_args > 3 || n_kw) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "range expected 1 to 3 arguments");
        for (int i = 0; i < n_args; i++) {
            if (args[i].t != JV_INT && args[i].t != JV_BOOL)
                return jj_fail(r, MMRT_ERR_BAD_FORMAT, "'%s' object cannot be interpreted as an integer", jj_type_name(&args[i]));
            v[n_args == 1 ? 1 : i] = args[i].t == JV_INT ? args[i].u.i : args[i].u.b;
        }
        if (v[2] == 0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "range() arg 3 must not be zero");
        /* len(range) without overflow: the distance fits in 64 unsigned bits */
        uint64_t n64 = 0;
        if (v[2] > 0 && v[0] < v[1]) n64 = ((uint64_t)v[1] - (uint64_t)v[0] - 1) / (uint64_t)v[2] + 1;
        if (v[2] < 0 && v[0] > v[1]) n64 = ((uint64_t)v[0] - (uint64_t)v[1] - 1) / (0 - (uint64_t)v[2]) + 1;
        if (n64 > JJ_MAX_RANGE)
            return jj_fail(r, MMRT_ERR_BAD_FORMAT, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", JJ_MAX_RANGE);
        size_t n = (size_t)n64;
        jj_list *l = jj_list_new(r, n, JV_LIST, out);
        if (!l) return -1;
        for (size_t i = 0; i < n; i++) /* start + i * step lies in the range: wrap-around arithmetic is exact */
            l->v[i] = jj_int((int64_t)((uint64_t)v[0] + (uint64_t)i * (uint64_t)v[2]));
        return 0;
    }
    case JF_NAMESPACE:
    case JF_DICT: {
        jj_dict *d = jj_dict_new(r, 0, out);
        if (!d || fill_dict(r, d, &a, func == JF_NAMESPACE)) return -1;
        if (func == JF_NAMESPACE) out->t = JV_NS;
        return 0;
    }
    case JF_RAISE: {
        jj_value msg = jj_none();
        if (n_args > 0 && jj_to_str(r, &args[0], &msg)) return -1;
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "raise_exception: %s", n_args > 0 ? msg.u.s->s : "");
    }
    case JF_JOINER:
    case JF_CYCLER: {
        jj_helper *h = jj_alloc(&r->pool, sizeof *h);
        if (!h) return jj_oom(r);
        h->cycler = func == JF_CYCLER;
        if (h->cycler) {
            if (n_args == 0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "at least one item has to be provided");
            jj_value lv;
            jj_list *l = jj_list_new(r, (size_t)n_args, JV_LIST, &lv);
            if (!l) return -1;
            for (int i = 0; i < n_args; i++) l->v[i] = args[i];
            h->items = l;
        } else {
            const jj_value *sep = jj_arg(&a, 0, "sep");
            if (sep) h->sep = *sep;
            else if (jj_make_str(r, ", ", 2, &h->sep)) return -1;
        }
        *out = (jj_value){.t = JV_HELPER};
        out->u.helper = h;
        return 0;
    }
    case JF_STRFTIME: {
        if (n_args != 1 || args[0].t != JV_STR) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "strftime_now expects a format string");
        time_t t = (time_t)r->now;
        struct tm tm;
        if (!gmtime_r(&t, &tm)) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "strftime_now: time out of range");
        char buf[1024];
        if (args[0].u.s->len > 256) return jj_fail(r, MMRT_ERR_INVALID_ARG, "strftime_now: format longer than 256 bytes");
        size_t n = args[0].u.s->len ? strftime(buf, sizeof buf, args[0].u.s->s, &tm) : 0;
        return jj_make_str(r, buf, n, out);
    }
    default: return jj_fail(r, MMRT_ERR_INTERNAL, "unknown function %d", func);
    }
}
