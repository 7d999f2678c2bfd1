/* Text tokenizer: reads a Hugging Face tokenizer.json and encodes/decodes exactly as HF tokenizers
 * 0.23 does for byte-level BPE models (GPT-2, SmolLM2, Llama-3 and alike). Internal API.
 *
 * Supported tokenizer.json content
 *   model          BPE (vocab; merges as "a b" strings or ["a", "b"] pairs; ignore_merges,
 *                  unk_token, fuse_unk, byte_fallback). Other model types (WordPiece, Unigram,
 *                  WordLevel), BPE dropout and subword prefixes/suffixes: MMRT_ERR_UNSUPPORTED.
 *   normalizer     null only (an empty Sequence too); NFC and the rest: MMRT_ERR_UNSUPPORTED.
 *   pre_tokenizer  ByteLevel, Split (String or Regex pattern, every behaviour, invert), Digits,
 *                  Sequence of these; null. Regexes are Oniguruma syntax run on PCRE2 (regex.h).
 *   added_tokens   matched in the raw text before pre-tokenization (added_tokens.h), with
 *                  special/lstrip/rstrip/single_word/normalized honoured.
 *   decoder        ByteLevel, or null (HF then joins the token strings with spaces); others:
 *                  MMRT_ERR_UNSUPPORTED.
 *   post_processor ignored. Encoding never adds special tokens (HF's add_special_tokens=False), so
 *                  TemplateProcessing/ByteLevel/Roberta processors would add nothing anyway.
 *   truncation, padding: ignored (a warning is logged when set).
 *
 * Encoding invalid UTF-8: every maximal invalid subsequence (the Unicode "maximal subpart", which
 * is also what Python's bytes.decode('utf-8', errors='replace') and Rust's from_utf8_lossy use)
 * is replaced by U+FFFD first; the repaired text is then encoded normally. An incomplete
 * character at the end of the input is one maximal subpart.
 *
 * Decoding: each id's string goes through the decoder (ByteLevel maps its characters back to
 * bytes; a string with a character outside the byte alphabet, e.g. an added token, is taken as
 * its UTF-8 bytes, as HF does); the concatenated bytes are made valid UTF-8 with the same
 * maximal-subpart U+FFFD replacement. Ids outside [0, n_vocab) or not assigned to any token
 * fail with MMRT_ERR_INVALID_ARG (HF silently drops them).
 *
 * Where mmrt is stricter than HF (malformed or hostile files and inputs only): duplicate vocab
 * tokens or ids, duplicate added-token contents, tokens that are not UTF-8, more than one
 * ByteLevel or more than 64 pre-tokenizers are load errors; a pre-tokenizer regex that exceeds
 * PCRE2's match limit on some input fails that encode with MMRT_ERR_UNSUPPORTED (Oniguruma
 * would silently skip the search). Token strings are read with cJSON, which cuts a string at
 * "\u0000".
 *
 * Threads: a loaded mmrt_tokenizer is immutable; any number of threads may encode and decode with
 * it at once. An mmrt_detok is used by one thread at a time. Loading may run on several threads
 * (cJSON only records its last parse error in a global, which mmrt never reads).
 *
 * Errors: every function returning mmrt_status fills err (may be NULL) with a message naming the
 * file (for load) or the argument and the problem.
 */
#ifndef MMRT_TEXT_TOKENIZER_H
#define MMRT_TEXT_TOKENIZER_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mmrt_tokenizer mmrt_tokenizer;

/* Loads tokenizer.json at path. Failures: MMRT_ERR_IO (missing/unreadable), MMRT_ERR_BAD_FORMAT
 * (empty, malformed JSON, missing "model", bad vocab/merges/added_tokens, duplicate tokens or ids,
 * ids out of range), MMRT_ERR_UNSUPPORTED (model/normalizer/pre_tokenizer/decoder types),
 * MMRT_ERR_OOM. *out is NULL on failure. */
mmrt_status mmrt_tokenizer_load(const char *path, mmrt_tokenizer **out, mmrt_error *err);
void mmrt_tokenizer_free(mmrt_tokenizer *tok); /* NULL ok */

/* mmrt_tokenizer_load on an already parsed tokenizer.json object (borrowed; not modified); path
 * names its source in messages and in mmrt_tokenizer's later errors. */
struct cJSON;
mmrt_status mmrt_tokenizer_load_json(const struct cJSON *root, const char *path, mmrt_tokenizer **out,
                                     mmrt_error *err);

/* The tokenizer of a GGUF file (text/tokenizer_gguf.c), from its tokenizer.ggml.* keys: model
 * "gpt2" (byte-level BPE: tokens, merges, token_type 3 = control and 4 = user-defined become added
 * tokens, special and not special) with the pre-tokenizer that tokenizer.ggml.pre names, built as
 * the equivalent tokenizer.json and loaded by mmrt_tokenizer_load_json. Pre-tokenizers: "gpt-2",
 * "smollm", "starcoder", "refact", "llama-bpe" ("llama3", "llama-v3"), "dbrx", "smaug-bpe",
 * "default" (llama.cpp's own default split). GGUF keeps no lstrip / rstrip / single_word flags:
 * added tokens match exactly as written, as in llama.cpp. Another model ("llama" = SentencePiece, ...) or pre
 * name is MMRT_ERR_UNSUPPORTED naming it and listing the supported ones; a missing or mistyped
 * key is MMRT_ERR_MODEL / MMRT_ERR_BAD_FORMAT naming the key and the file. */
struct mmrt_gguf;
mmrt_status mmrt_tokenizer_load_gguf(const struct mmrt_gguf *g, mmrt_tokenizer **out, mmrt_error *err);

/* The inverse, for writing GGUF files: the tokenizer.ggml.pre name whose pipeline (above) is the
 * pre-tokenizer of tokenizer.json object root — a byte-level BPE model without a normalizer whose
 * pre_tokenizer has the same steps, patterns and flags (extra HF-only fields such as trim_offsets
 * ignored) and whose ignore_merges matches — or NULL when no name stands for it. */
const char *mmrt_tokenizer_gguf_pre_name(const struct cJSON *root);

/* Encodes text[0..len) (any bytes; see invalid UTF-8 above). parse_special false treats the text
 * of special added tokens as ordinary text (HF's split_special_tokens); non-special added tokens
 * are still matched. *ids: malloc'ed (never NULL on success, even when *n_ids is 0), caller frees
 * with free(). */
mmrt_status mmrt_tokenizer_encode(const mmrt_tokenizer *tok, const char *text, size_t len,
                                  bool parse_special, int32_t **ids, size_t *n_ids,
                                  mmrt_error *err);

/* Decodes ids[0..n). skip_special drops special added tokens. *text: malloc'ed, NUL-terminated,
 * valid UTF-8, *len bytes (len may be NULL); caller frees. */
mmrt_status mmrt_tokenizer_decode(const mmrt_tokenizer *tok, const int32_t *ids, size_t n,
                                  bool skip_special, char **text, size_t *len, mmrt_error *err);

/* Largest id (vocabulary or added token) + 1. */
int32_t mmrt_tokenizer_n_vocab(const mmrt_tokenizer *tok);
/* Id of the exact token string (added tokens first, then the vocabulary), or -1. */
int32_t mmrt_tokenizer_find(const mmrt_tokenizer *tok, const char *token);
/* The raw token string of id (added token content, or the vocab string in its byte-level form),
 * or NULL for an unassigned or out-of-range id. Lives as long as tok. */
const char *mmrt_tokenizer_token_text(const mmrt_tokenizer *tok, int32_t id);
/* True when id is a special added token. */
bool mmrt_tokenizer_is_special(const mmrt_tokenizer *tok, int32_t id);

/* Streaming detokenizer: push ids one at a time, get back only whole UTF-8 characters; bytes of a
 * character still incomplete are held until it completes. flush() emits what is held (each
 * maximal invalid subpart as U+FFFD) and resets that state. The concatenation of every push and
 * the final flush equals mmrt_tokenizer_decode() of the same ids with the same skip_special. */
typedef struct mmrt_detok mmrt_detok;
mmrt_status mmrt_detok_init(const mmrt_tokenizer *tok, bool skip_special, mmrt_detok **out,
                            mmrt_error *err);
/* *out: NUL-terminated, *len bytes (possibly 0), owned by d and valid until the next call on d.
 * An invalid id fails with MMRT_ERR_INVALID_ARG and leaves the state unchanged. */
mmrt_status mmrt_detok_push(mmrt_detok *d, int32_t id, const char **out, size_t *len,
                            mmrt_error *err);
mmrt_status mmrt_detok_flush(mmrt_detok *d, const char **out, size_t *len, mmrt_error *err);
void mmrt_detok_free(mmrt_detok *d); /* NULL ok */

#endif
