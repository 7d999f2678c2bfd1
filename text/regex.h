/* Pre-tokenizer regular expressions: Hugging Face tokenizers compiles them with Oniguruma; we
 * compile them with PCRE2 (UTF + UCP + MULTILINE, JIT when available) after rewriting the few
 * constructs whose meaning differs:
 *
 *   \s, \S      PCRE2's \s adds U+180E; Oniguruma's is exactly Unicode White_Space.
 *   \p{L}, \p{N} PCRE2 10.42 knows Unicode 14; Oniguruma (hence HF) knows newer letters and
 *               digits, which we append explicitly (a superset never hurts a newer PCRE2).
 *
 * Matches are enumerated the way the onig crate's find_iter does (an empty match right where the
 * previous match ended is skipped by advancing one character), and reported like HF's
 * Pattern::find_matches: spans that alternate between matched and unmatched text and cover it.
 *
 * A compiled mmrt_regex is immutable and may be shared by threads; each thread needs its own
 * mmrt_regex_scratch.
 */
#ifndef MMRT_TEXT_REGEX_H
#define MMRT_TEXT_REGEX_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct mmrt_regex mmrt_regex;

typedef struct mmrt_span {
    size_t start, end;
    bool match;
} mmrt_span;

typedef struct mmrt_span_vec {
    mmrt_span *v;
    size_t n, cap;
} mmrt_span_vec;

/* Growable; returns -1 on out of memory. */
int mmrt_span_push(mmrt_span_vec *sv, size_t start, size_t end, bool match);
void mmrt_span_vec_free(mmrt_span_vec *sv);

typedef enum mmrt_regex_syntax {
    MMRT_REGEX_ONIG,    /* an HF "Regex" pattern (Oniguruma syntax, translated) */
    MMRT_REGEX_LITERAL, /* an HF "String" pattern: matched literally */
    MMRT_REGEX_PCRE2,   /* our own PCRE2 pattern, compiled as written */
} mmrt_regex_syntax;

/* Compiles pattern[0..len). `what` names the file and field for error messages. Fails with
 * MMRT_ERR_UNSUPPORTED when PCRE2 rejects the pattern. */
mmrt_status mmrt_regex_compile(const char *pattern, size_t len, mmrt_regex_syntax syntax,
                               const char *what, mmrt_regex **out, mmrt_error *err);
void mmrt_regex_free(mmrt_regex *re);

typedef struct mmrt_regex_scratch mmrt_regex_scratch;
mmrt_status mmrt_regex_scratch_init(mmrt_regex_scratch **out, mmrt_error *err);
void mmrt_regex_scratch_free(mmrt_regex_scratch *sc);

/* Replaces out's content with the matched/unmatched spans of s[0..n) (valid UTF-8, n > 0). */
mmrt_status mmrt_regex_find_matches(const mmrt_regex *re, mmrt_regex_scratch *sc, const char *s,
                                    size_t n, mmrt_span_vec *out, mmrt_error *err);

/* True when re matches at s[pos] exactly (anchored there); s[0..n) valid UTF-8. Errors count as
 * no match. */
bool mmrt_regex_matches_at(const mmrt_regex *re, mmrt_regex_scratch *sc, const char *s, size_t n,
                           size_t pos);

/* The class bodies (without brackets) used by the translation, for patterns built in code:
 * Oniguruma's \p{N} and Rust's char::is_numeric (which knows a few more, used by Digits). */
#define MMRT_REGEX_CLASS_ONIG_N                                                                    \
    "\\p{N}\\x{10d40}-\\x{10d49}\\x{116d0}-\\x{116e3}\\x{11bf0}-\\x{11bf9}"                        \
    "\\x{11f50}-\\x{11f59}\\x{16130}-\\x{16139}\\x{16d70}-\\x{16d79}\\x{1ccf0}-\\x{1ccf9}"         \
    "\\x{1d2c0}-\\x{1d2d3}\\x{1e4f0}-\\x{1e4f9}\\x{1e5f1}-\\x{1e5fa}"
#define MMRT_REGEX_CLASS_RUST_NUMERIC                                                              \
    MMRT_REGEX_CLASS_ONIG_N "\\x{11de0}-\\x{11de9}\\x{16ff4}-\\x{16ff6}"

#endif
