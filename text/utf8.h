/* UTF-8 helpers shared by the tokenizer: decoding with the Unicode "maximal subpart" rule (what
 * Python's bytes.decode('utf-8', errors='replace') and Rust's String::from_utf8_lossy do), lossy
 * repair, encoding, and the White_Space property as Rust's char::is_whitespace defines it.
 */
#ifndef MMRT_TEXT_UTF8_H
#define MMRT_TEXT_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The three bytes of U+FFFD REPLACEMENT CHARACTER. */
#define MMRT_UTF8_REPLACEMENT "\xEF\xBF\xBD"

typedef enum mmrt_utf8_kind {
    MMRT_UTF8_VALID,      /* a whole well-formed character */
    MMRT_UTF8_INVALID,    /* a maximal invalid subpart: replace it by one U+FFFD */
    MMRT_UTF8_INCOMPLETE, /* the buffer ends inside a character that could still be completed */
} mmrt_utf8_kind;

/* Classifies the sequence starting at s[0] (n >= 1 bytes available). *adv receives the number of
 * bytes it spans (1-4); *cp the code point when VALID. Never reads past s[n-1]. */
mmrt_utf8_kind mmrt_utf8_next(const uint8_t *s, size_t n, size_t *adv, uint32_t *cp);

/* Length of the well-formed UTF-8 character that starts with `lead` (1 for a stray byte). Only
 * meaningful on text already known to be valid. */
size_t mmrt_utf8_len(uint8_t lead);

/* Writes cp (< 0x110000, not a surrogate) as UTF-8 into out (4 bytes room); returns the length. */
size_t mmrt_utf8_encode(uint32_t cp, char *out);

/* Decodes the character at s (valid UTF-8, at least one byte). */
uint32_t mmrt_utf8_decode(const char *s, size_t *adv);

/* True when s[0..n) is well-formed UTF-8. */
bool mmrt_utf8_valid(const char *s, size_t n);

/* Byte length of s[0..n) once every maximal invalid subpart (including an incomplete character at
 * the end) is replaced by U+FFFD, and the repair itself into out (room for that many bytes). */
size_t mmrt_utf8_lossy_len(const char *s, size_t n);
void mmrt_utf8_lossy(const char *s, size_t n, char *out);

/* Unicode White_Space (Rust char::is_whitespace, Oniguruma \s): U+0009-000D, U+0020, U+0085,
 * U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000. */
bool mmrt_utf8_is_white_space(uint32_t cp);

#endif
