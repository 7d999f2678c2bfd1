/* Python's printf-style string formatting (`"%s: %d" % (a, b)` and the `format` filter):
 * conversions s r a d i u f F e E g G x X o c %, the flags - + space 0 #, width and precision
 * (also `*`), and %(name)s with a dict argument. */
#include "text/jinja_impl.h"
#include "text/utf8.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int pad(jj_render *r, jj_buf *b, const char *s, size_t n, int64_t width, bool left) {
    int64_t chars = (int64_t)jj_utf8_count(s, n);
    if (width > 1 << 20) return jj_fail(r, MMRT_ERR_INVALID_ARG, "format width over 1 MiB");
    for (int64_t i = chars; !left && i < width; i++)
        if (jj_buf_puts(r, b, " ")) return -1;
    if (jj_buf_put(r, b, s, n)) return -1;
    for (int64_t i = chars; left && i < width; i++)
        if (jj_buf_puts(r, b, " ")) return -1;
    return 0;
}

static int num_arg(jj_render *r, const jj_value *v, char conv, bool want_int, jj_value *out) {
    if (v->t == JV_UNDEF) return jj_undef_fail(r, v);
    if (!jj_is_num(v))
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%%%c format: a %s is required, not %s", conv,
                       want_int ? "real number" : "real number", jj_type_name(v));
    if (want_int && v->t == JV_FLOAT) {
        if (!isfinite(v->u.f) || fabs(v->u.f) >= 9.2e18)
            return jj_fail(r, MMRT_ERR_UNSUPPORTED, "%%%c format: float out of the 64-bit range", conv);
        *out = jj_int((int64_t)v->u.f);
    } else {
        *out = v->t == JV_BOOL ? jj_int(v->u.b) : *v;
    }
    return 0;
}

int jj_printf(jj_render *r, const jj_str *fmt, const jj_value *arg, jj_value *out) {
    const jj_value *args = arg;
    size_t n_args = 1, next = 0;
    if (arg->t == JV_TUPLE) {
        args = arg->u.l->v;
        n_args = arg->u.l->n;
    }
    const jj_dict *map = arg->t == JV_DICT ? arg->u.d : NULL;
    bool used_map = false;
    jj_buf b = {0};
    const char *s = fmt->s, *end = s + fmt->len;
    while (s < end) {
        const char *pct = memchr(s, '%', (size_t)(end - s));
        if (!pct) pct = end;
        if (jj_buf_put(r, &b, s, (size_t)(pct - s))) return -1;
        if (pct == end) break;
        s = pct + 1;
        const jj_value *v = NULL;
        if (s < end && *s == '(') {
            const char *close = memchr(s, ')', (size_t)(end - s));
            if (!close) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "incomplete format key");
            if (!map) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "format requires a mapping");
            v = jj_dict_get_s(map, s + 1, (size_t)(close - s - 1));
            if (!v) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "KeyError: '%.*s'", (int)(close - s - 1), s + 1);
            used_map = true;
            s = close + 1;
        }
        bool left = false, plus = false, space = false, zero = false, alt = false;
        for (; s < end && strchr("-+ 0#", *s) && *s; s++) {
            left |= *s == '-';
            plus |= *s == '+';
            space |= *s == ' ';
            zero |= *s == '0';
            alt |= *s == '#';
        }
        int64_t width = -1, prec = -1;
        for (int part = 0; part < 2; part++) {
            int64_t *dst = part ? &prec : &width;
            if (part && (s >= end || *s != '.')) break;
            if (part) s++, prec = 0;
            if (s < end && *s == '*') {
                if (next >= n_args || (args[next].t != JV_INT)) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "* wants int");
                int64_t w = args[next++].u.i;
                *dst = w > (1 << 20) ? 1 << 20 : w < -(1 << 20) ? -(1 << 20) : w;
                s++;
            } else {
                for (; s < end && *s >= '0' && *s <= '9'; s++)
                    if (*dst < 1 << 20) *dst = (*dst < 0 ? 0 : *dst) * 10 + (*s - '0');
            }
        }
        if (width < -1) { /* a negative `*` width left-justifies */
            left = true;
            width = width < -(1 << 20) ? 1 << 20 : -width;
        }
        if (prec < -1) prec = 0;
        while (s < end && strchr("hlL", *s) && *s) s++;
        if (s >= end) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "incomplete format");
        char conv = *s++;
        if (conv == '%') {
            if (jj_buf_puts(r, &b, "%")) return -1;
            continue;
        }
        if (!v) {
            if (next >= n_args || map) {
                if (!map || used_map) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "not enough arguments for format string");
                v = arg;
            } else {
                v = &args[next++];
            }
        }
        char spec[32], num[512];
        jj_value x;
        switch (conv) {
        case 's':
        case 'r':
        case 'a': {
            jj_buf t = {0};
            if (conv == 's' ? jj_append_str(r, &t, v) : jj_append_repr(r, &t, v, 0)) return -1;
            size_t len = t.len;
            if (prec >= 0) len = jj_utf8_offset(t.s ? t.s : "", t.len, (size_t)prec);
            if (pad(r, &b, t.s ? t.s : "", len, width, left)) return -1;
            continue;
        }
        case 'c': {
            char enc[4];
            size_t n = 0;
            if (v->t == JV_STR && jj_utf8_count(v->u.s->s, v->u.s->len) == 1) {
                memcpy(enc, v->u.s->s, v->u.s->len);
                n = v->u.s->len;
            } else if (v->t == JV_INT && v->u.i >= 0 && v->u.i < 0x110000 && !(v->u.i >= 0xD800 && v->u.i < 0xE000)) {
                n = mmrt_utf8_encode((uint32_t)v->u.i, enc);
            } else {
                return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%%c requires an int or a single character");
            }
            if (pad(r, &b, enc, n, width, left)) return -1;
            continue;
        }
        case 'd': case 'i': case 'u': case 'x': case 'X': case 'o':
            if (num_arg(r, v, conv, true, &x)) return -1;
            /* C ignores the 0 flag when a precision is given: pass one only when written */
            snprintf(spec, sizeof spec, "%%%s%s%s%s%s*%sll%c", left ? "-" : "", plus ? "+" : "", space ? " " : "",
                     zero && !left ? "0" : "", alt ? "#" : "", prec >= 0 ? ".*" : "", conv == 'i' || conv == 'u' ? 'd' : conv);
            if (prec > 400) prec = 400;
            if (prec >= 0)
                snprintf(num, sizeof num, spec, (int)(width < 0 ? 0 : width > 400 ? 400 : width), (int)prec, (long long)x.u.i);
            else
                snprintf(num, sizeof num, spec, (int)(width < 0 ? 0 : width > 400 ? 400 : width), (long long)x.u.i);
            if (alt && conv == 'o') { /* Python writes 0o17 */
                char *z = strchr(num, '0');
                if (z && z[1] != 'o') memmove(z + 1, z, strlen(z) + 1), z[1] = 'o';
            }
            break;
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G':
            if (num_arg(r, v, conv, false, &x)) return -1;
            snprintf(spec, sizeof spec, "%%%s%s%s%s%s*.*%c", left ? "-" : "", plus ? "+" : "", space ? " " : "",
                     zero && !left ? "0" : "", alt ? "#" : "", conv);
            snprintf(num, sizeof num, spec, (int)(width < 0 ? 0 : width > 400 ? 400 : width), (int)(prec < 0 ? 6 : prec > 100 ? 100 : prec),
                     jj_num(&x));
            break;
        default:
            return jj_fail(r, MMRT_ERR_BAD_FORMAT, "unsupported format character '%c'", conv);
        }
        if (jj_buf_puts(r, &b, num)) return -1;
    }
    if (!map && arg->t == JV_TUPLE && next < n_args)
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "not all arguments converted during string formatting");
    /* CPython skips this check when the argument looks like a mapping (a list does too) */
    if (!map && arg->t != JV_TUPLE && next == 0 && arg->t != JV_LIST)
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "not all arguments converted during string formatting");
    return jj_buf_value(r, &b, out);
}
