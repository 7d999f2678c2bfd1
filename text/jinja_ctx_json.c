/* Render contexts from JSON text, read as Python's json.loads reads it (text/jinja.h,
 * mmrt_jinja_render_json): unlike a cJSON tree, this keeps 1.0 a float and 1 an int, which
 * {{ }} and tojson print differently. Strict JSON otherwise (no comments, no trailing commas, no
 * control characters inside strings), plus NaN, Infinity and -Infinity as Python accepts them.
 * Nesting is bounded; every value counts a step against max_steps. */
#include "text/jinja_impl.h"
#include "text/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JJ_JSON_MAX_DEPTH 1000

typedef struct json_reader {
    jj_render *r;
    const char *s;
    size_t n, pos;
} json_reader;

static int bad(json_reader *j, const char *what) {
    mmrt_error_set(j->r->err, MMRT_ERR_BAD_FORMAT, "%s: render context: %s at byte %zu", j->r->t->name, what, j->pos);
    return -1;
}

static void skip_ws(json_reader *j) {
    while (j->pos < j->n && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' || j->s[j->pos] == '\n' || j->s[j->pos] == '\r'))
        j->pos++;
}

static bool word(json_reader *j, const char *w) {
    size_t k = strlen(w);
    if (j->n - j->pos < k || memcmp(j->s + j->pos, w, k) != 0) return false;
    j->pos += k;
    return true;
}

static int hex4(json_reader *j, uint32_t *v) {
    if (j->n - j->pos < 4) return bad(j, "truncated \\u escape");
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = j->s[j->pos++];
        int h = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
        if (h < 0) return bad(j, "invalid \\u escape");
        *v = *v * 16 + (uint32_t)h;
    }
    return 0;
}

static int string(json_reader *j, jj_value *out) {
    j->pos++; /* the opening quote */
    jj_buf b = {0};
    size_t run = j->pos;
    for (;;) {
        if (j->pos >= j->n) return bad(j, "unterminated string");
        unsigned char c = (unsigned char)j->s[j->pos];
        if (c == '"' || c == '\\') {
            if (jj_buf_put(j->r, &b, j->s + run, j->pos - run)) return -1;
            j->pos++;
            if (c == '"') break;
            if (j->pos >= j->n) return bad(j, "unterminated string");
            char e = j->s[j->pos++], enc[4];
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                char ch = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
                if (jj_buf_put(j->r, &b, &ch, 1)) return -1;
            } else if (e == 'u') {
                uint32_t cp, lo;
                if (hex4(j, &cp)) return -1;
                if (cp >= 0xD800 && cp < 0xDC00 && j->n - j->pos >= 6 && j->s[j->pos] == '\\' && j->s[j->pos + 1] == 'u') {
                    size_t save = j->pos;
                    j->pos += 2;
                    if (hex4(j, &lo)) return -1;
                    if (lo >= 0xDC00 && lo < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    else j->pos = save;
                }
                if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD; /* a lone surrogate has no UTF-8 */
                if (jj_buf_put(j->r, &b, enc, mmrt_utf8_encode(cp, enc))) return -1;
            } else {
                return bad(j, "invalid escape in a string");
            }
            run = j->pos;
        } else if (c < 0x20) {
            return bad(j, "control character in a string");
        } else {
            j->pos++;
        }
    }
    return jj_buf_value(j->r, &b, out);
}

static int number(json_reader *j, jj_value *out) {
    size_t start = j->pos;
    bool is_float = false;
    if (j->s[j->pos] == '-') j->pos++;
    if (word(j, "Infinity")) {
        *out = jj_float(j->s[start] == '-' ? -INFINITY : INFINITY);
        return 0;
    }
    if (j->pos >= j->n || j->s[j->pos] < '0' || j->s[j->pos] > '9') return bad(j, "invalid number");
    if (j->s[j->pos] == '0') j->pos++;
    else
        while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') j->pos++;
    if (j->pos < j->n && j->s[j->pos] == '.') {
        j->pos++;
        if (j->pos >= j->n || j->s[j->pos] < '0' || j->s[j->pos] > '9') return bad(j, "invalid number");
        while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') j->pos++;
        is_float = true;
    }
    if (j->pos < j->n && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
        j->pos++;
        if (j->pos < j->n && (j->s[j->pos] == '+' || j->s[j->pos] == '-')) j->pos++;
        if (j->pos >= j->n || j->s[j->pos] < '0' || j->s[j->pos] > '9') return bad(j, "invalid number");
        while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') j->pos++;
        is_float = true;
    }
    char buf[512];
    size_t len = j->pos - start;
    if (len >= sizeof buf) return bad(j, "number longer than 511 characters");
    memcpy(buf, j->s + start, len);
    buf[len] = '\0';
    if (is_float) {
        *out = jj_float(strtod(buf, NULL));
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno == ERANGE) return bad(j, "integer beyond 64 bits (not supported)");
    *out = jj_int(v);
    return 0;
}

static int value(json_reader *j, jj_value *out, int depth) {
    if (depth > JJ_JSON_MAX_DEPTH) return bad(j, "nested more than 1000 levels deep");
    if (jj_step(j->r, 1)) return -1;
    skip_ws(j);
    if (j->pos >= j->n) return bad(j, "unexpected end");
    char c = j->s[j->pos];
    if (c == '{' || c == '[') {
        bool obj = c == '{';
        jj_dict *d = NULL;
        jj_value items = {0};
        size_t n = 0, cap = 0;
        jj_value *v = NULL;
        if (obj && !(d = jj_dict_new(j->r, 0, out))) return -1;
        j->pos++;
        skip_ws(j);
        if (j->pos < j->n && j->s[j->pos] == (obj ? '}' : ']')) {
            j->pos++;
        } else {
            for (;;) {
                jj_value k, x;
                skip_ws(j);
                if (obj) {
                    if (j->pos >= j->n || j->s[j->pos] != '"') return bad(j, "expected a string key");
                    if (string(j, &k)) return -1;
                    skip_ws(j);
                    if (j->pos >= j->n || j->s[j->pos] != ':') return bad(j, "expected ':'");
                    j->pos++;
                }
                if (value(j, &x, depth + 1)) return -1;
                if (obj) {
                    if (jj_dict_set(j->r, d, k, x)) return -1;
                } else {
                    if (n == cap) { /* grow by doubling in the pool */
                        size_t nc = cap ? cap * 2 : 8;
                        jj_value *nv = jj_alloc(&j->r->pool, nc * sizeof *nv);
                        if (!nv) return jj_oom(j->r);
                        if (n) memcpy(nv, v, n * sizeof *nv);
                        v = nv;
                        cap = nc;
                    }
                    v[n++] = x;
                }
                skip_ws(j);
                if (j->pos < j->n && j->s[j->pos] == ',') {
                    j->pos++;
                    continue;
                }
                if (j->pos < j->n && j->s[j->pos] == (obj ? '}' : ']')) {
                    j->pos++;
                    break;
                }
                return bad(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            }
        }
        if (!obj) {
            jj_list *l = jj_list_new(j->r, 0, JV_LIST, &items);
            if (!l) return -1;
            l->v = v;
            l->n = n;
            *out = items;
        }
        return 0;
    }
    if (c == '"') return string(j, out);
    if (word(j, "true")) *out = jj_bool(true);
    else if (word(j, "false")) *out = jj_bool(false);
    else if (word(j, "null")) *out = jj_none();
    else if (word(j, "NaN")) *out = jj_float(NAN);
    else if (c == '-' || (c >= '0' && c <= '9') || c == 'I') return number(j, out);
    else return bad(j, "unexpected character");
    return 0;
}

int jj_parse_json_text(jj_render *r, const char *s, size_t n, jj_value *out) {
    json_reader j = {r, s, n, 0};
    if (!mmrt_utf8_valid(s, n)) return bad(&j, "not valid UTF-8");
    skip_ws(&j);
    if (j.pos >= n || s[j.pos] != '{') return bad(&j, "expected a JSON object");
    if (value(&j, out, 0)) return -1;
    skip_ws(&j);
    if (j.pos != n) return bad(&j, "unexpected data after the object");
    return 0;
}
