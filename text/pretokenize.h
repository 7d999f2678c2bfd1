/* Pre-tokenizers: split text into the pieces the BPE model encodes one at a time, as HF tokenizers'
 * ByteLevel, Split, Digits and Sequence do. A Sequence is flattened into a list of steps; each step
 * applies to every piece the previous step produced; empty pieces are dropped (as HF does).
 *
 *   ByteLevel  optional leading space (add_prefix_space, per piece), optional GPT-2 regex split,
 *              then every byte is replaced by its byte-level character (byte_level.h).
 *   Split      regex or literal pattern; behaviours Removed, Isolated, MergedWithPrevious,
 *              MergedWithNext, Contiguous; optional invert.
 *   Digits     every numeric character (Rust char::is_numeric) isolated, or runs of them kept
 *              together (individual_digits false).
 *
 * An mmrt_pretok is immutable after parsing; run it with a per-thread scratch.
 */
#ifndef MMRT_TEXT_PRETOKENIZE_H
#define MMRT_TEXT_PRETOKENIZE_H

#include "core/error.h"
#include "text/regex.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum mmrt_pretok_kind {
    MMRT_PRETOK_BYTE_LEVEL,
    MMRT_PRETOK_SPLIT,
    MMRT_PRETOK_DIGITS,
} mmrt_pretok_kind;

typedef enum mmrt_split_behavior {
    MMRT_SPLIT_REMOVED,
    MMRT_SPLIT_ISOLATED,
    MMRT_SPLIT_MERGED_WITH_PREVIOUS,
    MMRT_SPLIT_MERGED_WITH_NEXT,
    MMRT_SPLIT_CONTIGUOUS,
} mmrt_split_behavior;

typedef struct mmrt_pretok_step {
    mmrt_pretok_kind kind;
    mmrt_regex *re; /* NULL for ByteLevel with use_regex false */
    mmrt_split_behavior behavior;
    bool invert;
    bool add_prefix_space; /* ByteLevel */
} mmrt_pretok_step;

typedef struct mmrt_pretok {
    mmrt_pretok_step *steps;
    size_t n_steps;
} mmrt_pretok;

/* Parses the "pre_tokenizer" value (NULL or JSON null: no pre-tokenization). Unknown types fail
 * with MMRT_ERR_UNSUPPORTED naming path and the type. On failure *out is left empty. */
mmrt_status mmrt_pretok_parse(const cJSON *j, const char *path, mmrt_pretok *out, mmrt_error *err);
void mmrt_pretok_free(mmrt_pretok *p);

/* Receives each final piece, in order. */
typedef mmrt_status (*mmrt_pretok_sink)(void *user, const char *piece, size_t n, mmrt_error *err);

typedef struct mmrt_pretok_scratch mmrt_pretok_scratch;
mmrt_status mmrt_pretok_scratch_init(const mmrt_pretok *p, mmrt_regex_scratch *rsc,
                                     mmrt_pretok_scratch **out, mmrt_error *err);
void mmrt_pretok_scratch_free(mmrt_pretok_scratch *sc);

/* Splits s[0..n) (valid UTF-8) and feeds the pieces to sink. */
mmrt_status mmrt_pretok_run(const mmrt_pretok *p, mmrt_pretok_scratch *sc, const char *s, size_t n,
                            mmrt_pretok_sink sink, void *user, mmrt_error *err);

#endif
