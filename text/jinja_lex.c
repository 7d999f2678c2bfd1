/* The Jinja2 lexer (jinja2/lexer.py) for the environment transformers uses: delimiters {{ }},
 * {% %}, {# #}; trim_blocks (one newline after a block or comment tag is dropped) and
 * lstrip_blocks (spaces and tabs before a block or comment tag that starts a line are dropped);
 * `-` on a tag strips all whitespace on that side, `+` turns lstrip_blocks / trim_blocks off.
 * The source arrives with newlines normalised to \n and one trailing newline removed. */
#include "text/jinja_impl.h"
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

#define JJ_MAX_BRACKETS 256

typedef struct lexer {
    jj_pool *pool;
    const char *src;
    size_t len;
    const char *name;
    mmrt_error *err;
    jj_tok *toks;
    size_t n, cap;
    size_t line_pos; /* byte offset where line `line` begins */
    int32_t line;
    size_t scan;    /* position up to which line/line_pos are known */
    size_t col_pos; /* byte offset whose column is col */
    int32_t col;
} lexer;

/* Line and column (in code points, from 1) of byte pos. Positions arrive in increasing order, so
 * both are advanced from the previous answer instead of recounted from the line start. */
static void where(lexer *L, size_t pos, int32_t *line, int32_t *col) {
    if (pos < L->scan) { /* out of order (an error message): recount from the start */
        L->scan = L->line_pos = L->col_pos = 0;
        L->line = L->col = 1;
    }
    for (; L->scan < pos && L->scan < L->len; L->scan++)
        if (L->src[L->scan] == '\n') {
            L->line++;
            L->line_pos = L->col_pos = L->scan + 1;
            L->col = 1;
        }
    if (pos > L->len) pos = L->len;
    L->col += (int32_t)jj_utf8_count(L->src + L->col_pos, pos - L->col_pos);
    L->col_pos = pos;
    *line = L->line;
    *col = L->col;
}

static mmrt_status fail_at(lexer *L, size_t pos, mmrt_status st, const char *msg) {
    int32_t line, col;
    where(L, pos, &line, &col);
    return mmrt_error_set(L->err, st, "%s:%d:%d: %s", L->name, (int)line, (int)col, msg);
}

static jj_tok *emit(lexer *L, size_t pos, jj_tok_type type) {
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        jj_tok *t = jj_alloc(L->pool, cap * sizeof *t);
        if (!t) return NULL;
        if (L->n) memcpy(t, L->toks, L->n * sizeof *t);
        L->toks = t;
        L->cap = cap;
    }
    jj_tok *t = &L->toks[L->n++];
    memset(t, 0, sizeof *t);
    t->type = (uint8_t)type;
    where(L, pos, &t->line, &t->col);
    return t;
}

/* Length of the Python-whitespace character at s[0..n), 0 when it is not whitespace. */
static size_t space_at(const char *s, size_t n) {
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80) return (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f));
    size_t adv;
    uint32_t cp;
    if (mmrt_utf8_next((const uint8_t *)s, n, &adv, &cp) != MMRT_UTF8_VALID) return 0;
    return jj_is_space(cp) ? adv : 0;
}

static size_t skip_space(const char *s, size_t pos, size_t len) {
    size_t k;
    while (pos < len && (k = space_at(s + pos, len - pos)) > 0) pos += k;
    return pos;
}

/* Length of text once trailing whitespace is removed (str.rstrip()). */
static size_t rstrip_len(const char *s, size_t n) {
    while (n > 0) {
        size_t start = n - 1;
        while (start > 0 && ((unsigned char)s[start] & 0xC0) == 0x80 && n - start < 4) start--;
        if (space_at(s + start, n - start) != n - start) break;
        n = start;
    }
    return n;
}

/* jinja2's OptionalLStrip: the text before a tag once the tag's strip sign is applied. */
static size_t strip_before(const char *text, size_t n, char sign, bool lstrip, bool line_starting) {
    if (sign == '-') return rstrip_len(text, n);
    if (sign == '+' || !lstrip) return n;
    size_t l_pos = n;
    while (l_pos > 0 && text[l_pos - 1] != '\n') l_pos--;
    if (l_pos == 0 && !line_starting) return n;
    if (l_pos == n) return n; /* `\s+` needs at least one character */
    for (size_t p = l_pos; p < n;) {
        size_t k = space_at(text + p, n - p);
        if (!k) return n;
        p += k;
    }
    return l_pos;
}

static bool starts(const char *s, size_t pos, size_t len, const char *w) {
    size_t n = strlen(w);
    return pos + n <= len && memcmp(s + pos, w, n) == 0;
}

/* The end of a block tag at pos (`+%}`, `-%}` + whitespace, `%}` + one newline), 0 if none. */
static size_t block_end_at(const char *s, size_t pos, size_t len, const char *close) {
    if (pos >= len) return 0;
    if ((s[pos] == '+' || s[pos] == '-') && starts(s, pos + 1, len, close)) {
        size_t e = pos + 1 + strlen(close);
        return s[pos] == '-' ? skip_space(s, e, len) : e;
    }
    if (starts(s, pos, len, close)) {
        size_t e = pos + strlen(close);
        return e < len && s[e] == '\n' ? e + 1 : e;
    }
    return 0;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Digits with single underscores between them; returns the end, or pos when none. */
static size_t digits(const char *s, size_t pos, size_t len) {
    size_t p = pos;
    while (p < len && is_digit(s[p])) {
        p++;
        if (p + 1 < len && s[p] == '_' && is_digit(s[p + 1])) p++;
    }
    return p;
}

static int hexval(char c);

static mmrt_status lex_number(lexer *L, size_t *pos_io) {
    const char *s = L->src;
    size_t pos = *pos_io, len = L->len, end = digits(s, pos, len), fend = 0;
    bool after_dot = pos > 0 && s[pos - 1] == '.';
    if (!after_dot) { /* float_re */
        size_t p = end;
        if (p + 1 < len && s[p] == '.' && is_digit(s[p + 1])) p = digits(s, p + 1, len);
        if (p < len && (s[p] == 'e' || s[p] == 'E')) {
            size_t q = p + 1;
            if (q < len && (s[q] == '+' || s[q] == '-')) q++;
            if (q < len && is_digit(s[q])) p = digits(s, q, len);
        }
        if (p > end) fend = p;
    }
    char buf[128];
    if (fend) {
        size_t k = 0;
        for (size_t i = pos; i < fend && k + 1 < sizeof buf; i++)
            if (s[i] != '_') buf[k++] = s[i];
        buf[k] = '\0';
        jj_tok *t = emit(L, pos, JT_FLOAT);
        if (!t) return mmrt_error_oom(L->err, 0, "template tokens");
        t->f = strtod(buf, NULL);
        *pos_io = fend;
        return MMRT_OK;
    }
    int base = 10;
    size_t p = pos;
    if (s[pos] == '0' && pos + 1 < len && strchr("bBoOxX", s[pos + 1]) && s[pos + 1]) {
        char b = (char)(s[pos + 1] | 0x20);
        base = b == 'b' ? 2 : b == 'o' ? 8 : 16;
        p = pos + 2;
    }
    uint64_t v = 0;
    bool overflow = false, any = false;
    for (;; p++) {
        if (p + 1 < len && s[p] == '_' && any && hexval(s[p + 1]) >= 0 && hexval(s[p + 1]) < base) p++;
        if (p >= len) break;
        char c = s[p];
        int d = is_digit(c) ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : 99;
        if (d >= base) break;
        if (base == 10 && !any && d == 0 && pos == p) { /* "0", "0_0": zero only */
            any = true;
            while (p + 1 < len && (s[p + 1] == '0' || (s[p + 1] == '_' && p + 2 < len && s[p + 2] == '0'))) p++;
            p++;
            break;
        }
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) overflow = true;
        v = v * (uint64_t)base + (uint64_t)d;
        any = true;
    }
    if (!any) return fail_at(L, pos, MMRT_ERR_BAD_FORMAT, "invalid number literal");
    if (overflow || v > INT64_MAX)
        return fail_at(L, pos, MMRT_ERR_UNSUPPORTED, "integer literal beyond 64 bits");
    jj_tok *t = emit(L, pos, JT_INT);
    if (!t) return mmrt_error_oom(L->err, 0, "template tokens");
    t->i = (int64_t)v;
    *pos_io = p;
    return MMRT_OK;
}

static int hexval(char c) {
    if (is_digit(c)) return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A quoted string at pos, decoded as Python's unicode-escape codec does. */
static mmrt_status lex_string(lexer *L, size_t *pos_io) {
    const char *s = L->src;
    size_t pos = *pos_io, len = L->len;
    char q = s[pos];
    size_t end = pos + 1;
    while (end < len && s[end] != q) end += s[end] == '\\' ? 2 : 1;
    if (end >= len) return fail_at(L, pos, MMRT_ERR_BAD_FORMAT, "unterminated string literal");
    char *out = jj_alloc(L->pool, end - pos + 8);
    if (!out) return mmrt_error_oom(L->err, end - pos, "a string literal");
    size_t o = 0;
    for (size_t i = pos + 1; i < end;) {
        if (s[i] != '\\') {
            out[o++] = s[i++];
            continue;
        }
        char c = s[i + 1];
        i += 2;
        const char *simple = strchr("\\'\"abfnrtv", c);
        if (c && simple) {
            static const char map[] = "\\'\"\a\b\f\n\r\t\v";
            out[o++] = map[simple - "\\'\"abfnrtv"];
        } else if (c == '\n') {
        } else if (c >= '0' && c <= '7') {
            unsigned v = (unsigned)(c - '0');
            for (int k = 0; k < 2 && i < end && s[i] >= '0' && s[i] <= '7'; k++) v = v * 8 + (unsigned)(s[i++] - '0');
            o += mmrt_utf8_encode(v, out + o);
        } else if (c == 'x' || c == 'u' || c == 'U') {
            int nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            uint32_t v = 0;
            for (int k = 0; k < nd; k++) {
                int h = i + (size_t)k < end ? hexval(s[i + (size_t)k]) : -1;
                if (h < 0) return fail_at(L, i - 2, MMRT_ERR_BAD_FORMAT, "truncated \\x, \\u or \\U escape in a string");
                v = v * 16 + (uint32_t)h;
            }
            i += (size_t)nd;
            if (v >= 0x110000) return fail_at(L, i - 2, MMRT_ERR_BAD_FORMAT, "illegal Unicode character in a string escape");
            if (v >= 0xD800 && v <= 0xDFFF) v = 0xFFFD; /* a lone surrogate cannot be UTF-8 */
            o += mmrt_utf8_encode(v, out + o);
        } else if (c == 'N') {
            return fail_at(L, i - 2, MMRT_ERR_UNSUPPORTED, "\\N{...} escapes are not supported");
        } else { /* unknown escapes stay as written */
            out[o++] = '\\';
            i--;
        }
    }
    out[o] = '\0';
    jj_tok *t = emit(L, pos, JT_STRING);
    if (!t) return mmrt_error_oom(L->err, 0, "template tokens");
    t->s = out;
    t->len = o;
    *pos_io = end + 1;
    return MMRT_OK;
}

static const char *const OPS2[] = {"//", "**", "==", "!=", ">=", "<="};
static const char OPS2_CODE[] = {JOP_FLOORDIV, JOP_POW, JOP_EQ, JOP_NE, JOP_GE, JOP_LE};

/* The tokens inside {{ }} or {% %} from pos; *pos_io ends after the closing delimiter. */
static mmrt_status lex_tag(lexer *L, size_t *pos_io, bool block, bool *line_starting) {
    const char *s = L->src;
    size_t pos = *pos_io, len = L->len;
    char stack[JJ_MAX_BRACKETS];
    int depth = 0;
    for (;;) {
        size_t p = skip_space(s, pos, len);
        if (p > pos) *line_starting = s[p - 1] == '\n';
        pos = p;
        if (pos >= len) return fail_at(L, pos, MMRT_ERR_BAD_FORMAT, block ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'");
        if (depth == 0) {
            size_t e = 0;
            if (block) e = block_end_at(s, pos, len, "%}");
            else if (starts(s, pos, len, "-}}")) e = skip_space(s, pos + 3, len);
            else if (starts(s, pos, len, "}}")) e = pos + 2;
            if (e) {
                if (!emit(L, pos, block ? JT_BLOCK_END : JT_VAR_END)) return mmrt_error_oom(L->err, 0, "template tokens");
                *line_starting = s[e - 1] == '\n';
                *pos_io = e;
                return MMRT_OK;
            }
        }
        char c = s[pos];
        if (is_digit(c)) {
            MMRT_TRY(lex_number(L, &pos));
        } else if (is_name_start(c)) {
            size_t e = pos;
            while (e < len && (is_name_start(s[e]) || is_digit(s[e]))) e++;
            jj_tok *t = emit(L, pos, JT_NAME);
            if (!t) return mmrt_error_oom(L->err, 0, "template tokens");
            t->s = s + pos;
            t->len = e - pos;
            pos = e;
        } else if (c == '\'' || c == '"') {
            MMRT_TRY(lex_string(L, &pos));
        } else {
            int op = 0;
            for (size_t k = 0; k < sizeof OPS2 / sizeof OPS2[0] && !op; k++)
                if (starts(s, pos, len, OPS2[k])) op = OPS2_CODE[k];
            size_t n = op ? 2 : 1;
            if (!op && strchr("+-/*%~[](){}><=.:|,;", c) && c) op = c;
            if (!op) return fail_at(L, pos, MMRT_ERR_BAD_FORMAT, "unexpected character in a tag");
            if (op == '(' || op == '[' || op == '{') {
                if (depth == JJ_MAX_BRACKETS) return fail_at(L, pos, MMRT_ERR_BAD_FORMAT, "brackets nested too deeply");
                stack[depth++] = op == '(' ? ')' : op == '[' ? ']' : '}';
            } else if (op == ')' || op == ']' || op == '}') {
                if (depth == 0 || stack[depth - 1] != op) return fail_at(L, pos, MMRT_ERR_BAD_FORMAT, "unbalanced bracket");
                depth--;
            }
            jj_tok *t = emit(L, pos, JT_OP);
            if (!t) return mmrt_error_oom(L->err, 0, "template tokens");
            t->op = (uint8_t)op;
            pos += n;
        }
        *line_starting = false;
    }
}

static mmrt_status emit_data(lexer *L, size_t pos, size_t n) {
    if (n == 0) return MMRT_OK;
    jj_tok *t = emit(L, pos, JT_DATA);
    if (!t) return mmrt_error_oom(L->err, 0, "template tokens");
    t->s = L->src + pos;
    t->len = n;
    return MMRT_OK;
}

/* `{%[-+]? raw [-]%}` at pos: the end of the opening tag, else 0. */
static size_t raw_begin_at(const char *s, size_t pos, size_t len, const char *word, size_t *sign_pos) {
    size_t p = pos + 2;
    *sign_pos = p;
    if (p < len && (s[p] == '-' || s[p] == '+')) p++;
    p = skip_space(s, p, len);
    if (!starts(s, p, len, word)) return 0;
    p = skip_space(s, p + strlen(word), len);
    return p;
}

mmrt_status jj_lex(jj_pool *pool, const char *src, size_t len, const char *name, jj_lexed *out,
                   mmrt_error *err) {
    lexer L = {.pool = pool, .src = src, .len = len, .name = name, .err = err, .line = 1, .col = 1};
    size_t pos = 0;
    bool line_starting = true;
    while (pos < len) {
        size_t i = pos;
        while (i + 1 < len && !(src[i] == '{' && (src[i + 1] == '{' || src[i + 1] == '%' || src[i + 1] == '#'))) i++;
        if (i + 1 >= len) {
            MMRT_TRY(emit_data(&L, pos, len - pos));
            break;
        }
        char kind = src[i + 1];
        char sign = i + 2 < len && (src[i + 2] == '-' || src[i + 2] == '+') ? src[i + 2] : 0;
        size_t sp, raw_end = 0;
        if (kind == '%') {
            size_t p = raw_begin_at(src, i, len, "raw", &sp);
            if (p) {
                if (starts(src, p, len, "-%}")) raw_end = skip_space(src, p + 3, len);
                else if (starts(src, p, len, "%}")) raw_end = p + 2;
            }
        }
        size_t keep = strip_before(src + pos, i - pos, sign, kind != '{', line_starting);
        MMRT_TRY(emit_data(&L, pos, keep));
        size_t after = i + 2 + (sign ? 1 : 0);
        if (raw_end) {
            line_starting = src[raw_end - 1] == '\n';
            size_t k = raw_end, body_end = 0;
            for (; k + 1 < len; k++) {
                if (src[k] != '{' || src[k + 1] != '%') continue;
                size_t sp2, p = raw_begin_at(src, k, len, "endraw", &sp2);
                if (p && (body_end = block_end_at(src, p, len, "%}"))) break;
            }
            if (!body_end) return fail_at(&L, i, MMRT_ERR_BAD_FORMAT, "missing end of raw directive");
            char esign = src[k + 2] == '-' || src[k + 2] == '+' ? src[k + 2] : 0;
            MMRT_TRY(emit_data(&L, raw_end, strip_before(src + raw_end, k - raw_end, esign, true, line_starting)));
            line_starting = src[body_end - 1] == '\n';
            pos = body_end;
        } else if (kind == '#') {
            size_t k = after, e = 0;
            for (; k < len && !e; k++) {
                if ((src[k] == '-' || src[k] == '+') && starts(src, k + 1, len, "#}")) e = src[k] == '-' ? skip_space(src, k + 3, len) : k + 3;
                else if (starts(src, k, len, "#}")) e = k + 2 < len && src[k + 2] == '\n' ? k + 3 : k + 2;
            }
            if (!e) return fail_at(&L, i, MMRT_ERR_BAD_FORMAT, "missing end of comment tag");
            line_starting = src[e - 1] == '\n';
            pos = e;
        } else {
            if (!emit(&L, i, kind == '%' ? JT_BLOCK_BEGIN : JT_VAR_BEGIN)) return mmrt_error_oom(err, 0, "template tokens");
            line_starting = false;
            pos = after;
            MMRT_TRY(lex_tag(&L, &pos, kind == '%', &line_starting));
        }
    }
    if (!emit(&L, len, JT_EOF)) return mmrt_error_oom(err, 0, "template tokens");
    out->toks = L.toks;
    out->n = L.n;
    return MMRT_OK;
}
