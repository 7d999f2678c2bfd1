/* PCRE2 wrapper that reproduces HF tokenizers' Oniguruma-based splitting (see regex.h). */
#include "text/regex.h"

#include "text/grow.h"
#include "text/utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdlib.h>
#include <string.h>

struct mmrt_regex {
    pcre2_code *code;
};

struct mmrt_regex_scratch {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    int last_rc; /* PCRE2's code for the last failed search, for the message */
};

/* Unicode White_Space and its complement, as class bodies. */
/* clang-format off */
#define CLASS_WS                                                                                   \
    "\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}"             \
    "\\x{202f}\\x{205f}\\x{3000}"
#define CLASS_NOT_WS                                                                               \
    "\\x{0}-\\x{8}\\x{e}-\\x{1f}\\x{21}-\\x{84}\\x{86}-\\x{9f}\\x{a1}-\\x{167f}"                   \
    "\\x{1681}-\\x{1fff}\\x{200b}-\\x{2027}\\x{202a}-\\x{202e}\\x{2030}-\\x{205e}"                 \
    "\\x{2060}-\\x{2fff}\\x{3001}-\\x{10ffff}"
/* Letters Oniguruma (Unicode 16) has and PCRE2 10.42 lacks. */
#define CLASS_ONIG_L                                                                               \
    "\\p{L}\\x{1c89}-\\x{1c8a}\\x{a7cb}-\\x{a7cd}\\x{a7da}-\\x{a7dc}"                              \
    "\\x{105c0}-\\x{105f3}\\x{10d4a}-\\x{10d65}\\x{10d6f}-\\x{10d85}\\x{10ec2}-\\x{10ec4}"         \
    "\\x{1123f}-\\x{11240}\\x{11380}-\\x{11389}\\x{1138b}\\x{1138e}\\x{11390}-\\x{113b5}"          \
    "\\x{113b7}\\x{113d1}\\x{113d3}\\x{11bc0}-\\x{11be0}\\x{11f02}\\x{11f04}-\\x{11f10}"           \
    "\\x{11f12}-\\x{11f33}\\x{1342f}\\x{13441}-\\x{13446}\\x{13460}-\\x{143fa}"                    \
    "\\x{16100}-\\x{1611d}\\x{16d40}-\\x{16d6c}\\x{18cff}\\x{1b132}\\x{1b155}"                     \
    "\\x{1df25}-\\x{1df2a}\\x{1e030}-\\x{1e06d}\\x{1e4d0}-\\x{1e4eb}\\x{1e5d0}-\\x{1e5ed}"         \
    "\\x{1e5f0}\\x{2b739}\\x{2ebf0}-\\x{2ee5d}\\x{31350}-\\x{323af}"
/* clang-format on */

int mmrt_span_push(mmrt_span_vec *sv, size_t start, size_t end, bool match) {
    mmrt_span *v = mmrt_tok_grow(sv->v, &sv->cap, sv->n + 1, sizeof *v);
    if (!v) return -1;
    sv->v = v;
    sv->v[sv->n++] = (mmrt_span){start, end, match};
    return 0;
}

void mmrt_span_vec_free(mmrt_span_vec *sv) {
    free(sv->v);
    memset(sv, 0, sizeof *sv);
}

typedef struct strbuf {
    char *p;
    size_t n, cap;
    bool oom;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    char *p = mmrt_tok_grow(b->p, &b->cap, b->n + n + 1, 1);
    if (!p) {
        b->oom = true;
        return;
    }
    b->p = p;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_adds(strbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Wraps a class body in brackets outside a class; inside one it is spliced in as is. */
static void sb_class(strbuf *b, bool in_class, bool negate, const char *body) {
    if (!in_class) sb_adds(b, negate ? "[^" : "[");
    sb_adds(b, body);
    if (!in_class) sb_adds(b, "]");
}

/* Rewrites an Oniguruma pattern for PCRE2 (see regex.h). Only escapes are touched; class
 * boundaries are tracked so a replacement knows whether it needs its own brackets. */
static void translate_onig(const char *p, size_t n, strbuf *out) {
    bool in_class = false;
    size_t i = 0;
    while (i < n) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char e = p[i + 1];
            if (e == 's' || e == 'S') {
                sb_class(out, in_class, false, e == 's' ? CLASS_WS : CLASS_NOT_WS);
                i += 2;
                continue;
            }
            /* Without braces, HF's regex engine reads \pL as the letters "pL", not a property
             * (checked against tokenizers 0.23), while PCRE2 would read a class: keep the letter. */
            if ((e == 'p' || e == 'P') && (i + 2 >= n || p[i + 2] != '{')) {
                sb_add(out, &e, 1);
                i += 2;
                continue;
            }
            /* \p{L} \p{N}; \P{..} stays as PCRE2 writes it (only newer code points differ and a
             * complement cannot be spliced into a class). */
            if (e == 'p' && i + 4 < n) {
                char cls = 0;
                size_t len = 0;
                if (p[i + 2] == '{' && (p[i + 3] == 'L' || p[i + 3] == 'N') && p[i + 4] == '}') {
                    cls = p[i + 3];
                    len = 5;
                }
                if (cls) {
                    sb_class(out, in_class, false,
                             cls == 'L' ? CLASS_ONIG_L : MMRT_REGEX_CLASS_ONIG_N);
                    i += len;
                    continue;
                }
            }
            sb_add(out, p + i, 2);
            i += 2;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            sb_add(out, p + i, 1);
            i++;
            /* A ']' right after '[' or '[^' is a literal in both dialects. */
            if (i < n && p[i] == '^') sb_add(out, p + i++, 1);
            if (i < n && p[i] == ']') sb_add(out, p + i++, 1);
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && p[i + 1] == ':') {
            const char *end = memchr(p + i + 2, ']', n - i - 2);
            size_t len = end ? (size_t)(end - (p + i)) + 1 : n - i;
            sb_add(out, p + i, len); /* POSIX [:name:] */
            i += len;
            continue;
        }
        if (in_class && c == ']') in_class = false;
        sb_add(out, p + i, 1);
        i++;
    }
}

mmrt_status mmrt_regex_compile(const char *pattern, size_t len, mmrt_regex_syntax syntax,
                               const char *what, mmrt_regex **out, mmrt_error *err) {
    *out = NULL;
    strbuf tr = {0};
    const char *src = pattern;
    size_t src_len = len;
    uint32_t opts = PCRE2_UTF;
    if (syntax == MMRT_REGEX_LITERAL) {
        opts |= PCRE2_LITERAL;
    } else {
        /* Oniguruma's default syntax has ^ and $ match at line boundaries. */
        opts |= PCRE2_UCP | PCRE2_MULTILINE;
        if (syntax == MMRT_REGEX_ONIG) {
            translate_onig(pattern, len, &tr);
            sb_add(&tr, "", 0);
            if (tr.oom) {
                free(tr.p);
                return mmrt_error_oom(err, tr.cap, "regex translation");
            }
            src = tr.p;
            src_len = tr.n;
        }
    }
    int code_err = 0;
    PCRE2_SIZE err_off = 0;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)src, src_len, opts, &code_err, &err_off, NULL);
    free(tr.p);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code_err, msg, sizeof msg);
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: regex \"%.*s\" cannot be compiled by PCRE2: %s", what,
                              (int)(len > 200 ? 200 : len), pattern, (const char *)msg);
    }
    /* JIT is an optimisation only: without it (or when it fails) the interpreter gives the same
     * matches. */
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    mmrt_regex *re = malloc(sizeof *re);
    if (!re) {
        pcre2_code_free(code);
        return mmrt_error_oom(err, sizeof *re, "regex");
    }
    re->code = code;
    *out = re;
    return MMRT_OK;
}

void mmrt_regex_free(mmrt_regex *re) {
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}

mmrt_status mmrt_regex_scratch_init(mmrt_regex_scratch **out, mmrt_error *err) {
    mmrt_regex_scratch *sc = calloc(1, sizeof *sc);
    if (!sc) return mmrt_error_oom(err, sizeof *sc, "regex scratch");
    /* One ovector pair: only the whole match is used (a pattern with groups then returns 0). */
    sc->md = pcre2_match_data_create(1, NULL);
    sc->mctx = pcre2_match_context_create(NULL);
    if (!sc->md || !sc->mctx) {
        mmrt_regex_scratch_free(sc);
        return mmrt_error_oom(err, 4096, "regex match data");
    }
    *out = sc;
    return MMRT_OK;
}

void mmrt_regex_scratch_free(mmrt_regex_scratch *sc) {
    if (!sc) return;
    pcre2_match_data_free(sc->md);
    pcre2_match_context_free(sc->mctx);
    pcre2_jit_stack_free(sc->jit_stack);
    free(sc);
}

/* One search from `from`; 1 = found (*ms, *me), 0 = none, -1 = matcher error. Text is valid UTF-8
 * (checked once on entry to encode), so PCRE2's per-call check is skipped: it would rescan the
 * subject on every call and make long inputs quadratic. */
static int search(const mmrt_regex *re, mmrt_regex_scratch *sc, const char *s, size_t n,
                  size_t from, uint32_t opts, size_t *ms, size_t *me) {
    int rc =
        pcre2_match(re->code, (PCRE2_SPTR)s, n, from, opts | PCRE2_NO_UTF_CHECK, sc->md, sc->mctx);
    /* The default JIT stack (32 KiB of machine stack) covers ordinary text. A pattern that
     * backtracks over a long piece gets a heap stack of up to 8 MiB, made on first need because
     * creating one costs more than encoding a short prompt; beyond that the interpreter, whose
     * backtracking frames live on the heap, finishes the job. */
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !sc->jit_stack &&
        (sc->jit_stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, NULL))) {
        pcre2_jit_stack_assign(sc->mctx, NULL, sc->jit_stack);
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, from, opts | PCRE2_NO_UTF_CHECK, sc->md,
                         sc->mctx);
    }
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, from, opts | PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                         sc->md, sc->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        sc->last_rc = rc;
        return -1;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sc->md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

mmrt_status mmrt_regex_find_matches(const mmrt_regex *re, mmrt_regex_scratch *sc, const char *s,
                                    size_t n, mmrt_span_vec *out, mmrt_error *err) {
    out->n = 0;
    size_t from = 0, prev = 0, last_match_end = 0;
    bool have_last = false;
    while (from <= n) {
        size_t ms, me;
        int rc = search(re, sc, s, n, from, 0, &ms, &me);
        if (rc < 0) {
            /* Only resource limits get here (the text is valid UTF-8): a pattern that backtracks
             * catastrophically on this input. */
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(sc->last_rc, msg, sizeof msg);
            return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                                  "pre-tokenizer regex gave up on a %zu-byte piece: %s", n,
                                  (const char *)msg);
        }
        if (rc == 0) break;
        if (ms == me && have_last && last_match_end == me) {
            from += from < n ? mmrt_utf8_len((uint8_t)s[from]) : 1;
            continue;
        }
        from = me;
        last_match_end = me;
        have_last = true;
        if (prev != ms && mmrt_span_push(out, prev, ms, false) != 0) goto oom;
        if (mmrt_span_push(out, ms, me, true) != 0) goto oom;
        prev = me;
    }
    if (prev != n && mmrt_span_push(out, prev, n, false) != 0) goto oom;
    return MMRT_OK;
oom:
    return mmrt_error_oom(err, out->cap * sizeof(mmrt_span), "regex spans");
}

bool mmrt_regex_matches_at(const mmrt_regex *re, mmrt_regex_scratch *sc, const char *s, size_t n,
                           size_t pos) {
    size_t ms, me;
    return search(re, sc, s, n, pos, PCRE2_ANCHORED, &ms, &me) == 1;
}
