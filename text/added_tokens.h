/* HF tokenizers' AddedVocabulary: the "added_tokens" of tokenizer.json, matched in the raw text
 * before pre-tokenization.
 *
 * Ids are assigned as HF assigns them when it loads a file (the "id" field is only checked): a
 * content already in the model vocabulary takes its vocab id, otherwise the next id after the
 * vocabulary (or after the largest added id). A differing "id" is logged as a warning, as HF does.
 *
 * Matching follows AddedVocabulary::find_matches: tokens are split into two sets, those with
 * normalized=false (matched first, on the raw text) and normalized=true (matched next, in the
 * remaining pieces; with no normalizer the text is the same). Within a set the leftmost match
 * wins, then the longest (Aho-Corasick LeftmostLongest, non-overlapping). single_word, lstrip and
 * rstrip are honoured; a skipped match (special token while special parsing is off, or single_word
 * not standing alone) still consumes its text for the purposes of finding later matches, as in HF.
 *
 * Immutable after parsing.
 */
#ifndef MMRT_TEXT_ADDED_TOKENS_H
#define MMRT_TEXT_ADDED_TOKENS_H

#include "core/error.h"
#include "text/bpe.h"
#include "text/hashmap.h"
#include "text/regex.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct mmrt_added_token {
    char *content;
    size_t len;
    int32_t id;
    bool special, lstrip, rstrip, normalized, single_word;
} mmrt_added_token;

/* Byte trie over one set of contents: edge (node << 8 | byte) -> child in `edges` (value a). */
typedef struct mmrt_added_trie {
    mmrt_u64map edges;
    int32_t *term; /* node -> token index ending there, or -1 */
    size_t n_nodes, cap;
    bool first[256]; /* bytes that start some content: a quick skip while scanning */
} mmrt_added_trie;

typedef struct mmrt_added_vocab {
    mmrt_added_token *tokens;
    size_t n;
    mmrt_strmap by_content;  /* content -> index in tokens */
    mmrt_added_trie trie[2]; /* [0] normalized=false, [1] normalized=true */
    mmrt_regex *word_char;   /* one \w character, for single_word */
    int32_t max_id;          /* -1 when there are none */
} mmrt_added_vocab;

/* Parses the "added_tokens" array (NULL or null: none) against the model's vocabulary. */
mmrt_status mmrt_added_parse(const cJSON *arr, const char *path, const mmrt_bpe *model,
                             mmrt_added_vocab *out, mmrt_error *err);
void mmrt_added_free(mmrt_added_vocab *av);

/* Index of the added token whose content is s[0..n), or -1. */
int32_t mmrt_added_find(const mmrt_added_vocab *av, const char *s, size_t n);

typedef struct mmrt_added_seg {
    size_t start, end;
    int32_t tok; /* index in tokens, or -1 for ordinary text */
} mmrt_added_seg;

typedef struct mmrt_added_seg_vec {
    mmrt_added_seg *v;
    size_t n, cap;
} mmrt_added_seg_vec;

void mmrt_added_seg_vec_free(mmrt_added_seg_vec *sv);

/* Cuts s[0..n) (valid UTF-8) at the matches of token set `set` (0 or 1), replacing out's
 * content. parse_special false ignores special tokens (HF's encode_special_tokens). */
mmrt_status mmrt_added_split(const mmrt_added_vocab *av, int set, bool parse_special,
                             mmrt_regex_scratch *rsc, const char *s, size_t n,
                             mmrt_added_seg_vec *out, mmrt_error *err);

#endif
