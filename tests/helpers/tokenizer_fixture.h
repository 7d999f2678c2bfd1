/* Helpers for the tokenizer tests (test_tokenizer*.c): fixture loading and mismatch printing.
 *
 * Fixtures live in MMRT_FIXTURES_DIR/tokenizer (written by tools/make_fixtures.py with HF
 * tokenizers 0.23.3): corpus.json; per tokenizer name (smollm2, gpt2, llama3) tokenizer.json and
 * expected.json; pipelines.json, variants of those tokenizers with what HF gives for them. Every
 * function fails the calling test with a Criterion assertion on error. Returned buffers are
 * malloc'ed; the caller frees them.
 */
#ifndef MMRT_TESTS_HELPERS_TOKENIZER_FIXTURE_H
#define MMRT_TESTS_HELPERS_TOKENIZER_FIXTURE_H

#include "text/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKFX_DIR MMRT_FIXTURES_DIR "/tokenizer"
/* How many mismatches a test prints before its final assertion. */
#define TOKFX_MAX_SHOWN 5

char *tokfx_read_all(const char *path, size_t *n); /* NUL-terminated; *n may be NULL */
cJSON *tokfx_read_json(const char *path);
mmrt_tokenizer *tokfx_load_named(const char *name);
cJSON *tokfx_load_expected(const char *name);
/* Writes root (consumed) as dir/tokenizer.json in a new temp dir and loads it; the caller
 * removes *dir with tmpdir_remove(). */
mmrt_tokenizer *tokfx_load_json(cJSON *root, char **dir);
/* The named fixture with root[key] replaced by value (consumed). */
mmrt_tokenizer *tokfx_load_with(const char *name, const char *key, cJSON *value, char **dir);
/* A pipelines.json entry: its base fixture with "replace" and "append_added_tokens" applied.
 * *dir is NULL when the base is used as is. */
mmrt_tokenizer *tokfx_load_pipeline(const cJSON *pipeline, char **dir);

/* Members that must be there with the right type. */
const char *tokfx_get_str(const cJSON *obj, const char *key);
double tokfx_get_num(const cJSON *obj, const char *key);
bool tokfx_get_bool(const cJSON *obj, const char *key);

int32_t *tokfx_json_ids(const cJSON *arr, size_t *n);
bool tokfx_ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb);
/* FNV-1a 64 over the ids as uint32, and over bytes (tools/fixtures_tokenizer.py: fnv64). */
uint64_t tokfx_fnv_ids(const int32_t *ids, size_t n);
uint64_t tokfx_fnv_bytes(const void *data, size_t n);

/* Printable renderings for mismatch reports; return buf. */
const char *tokfx_fmt_ids(char *buf, size_t cap, const int32_t *ids, size_t n);
const char *tokfx_fmt_str(char *buf, size_t cap, const char *s, size_t n);

/* Compare want with got. A mismatch adds one to *n_bad; the first TOKFX_MAX_SHOWN of them are
 * printed under the label (printf format), with both sides. Return whether they are equal. */
bool tokfx_expect_ids(size_t *n_bad, const int32_t *want, size_t n_want, const int32_t *got,
                      size_t n_got, const char *label_fmt, ...)
    __attribute__((format(printf, 6, 7)));
bool tokfx_expect_bytes(size_t *n_bad, const char *want, size_t n_want, const char *got,
                        size_t n_got, const char *label_fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* encode/decode that must succeed. */
void tokfx_encode_ok(const mmrt_tokenizer *tok, const char *s, size_t n, bool parse_special,
                     int32_t **ids, size_t *n_ids);
char *tokfx_decode_ok(const mmrt_tokenizer *tok, const int32_t *ids, size_t n, bool skip,
                      size_t *len);
/* Streams ids through a detokenizer (pushes, then flush) and returns the concatenation; every
 * chunk that is not whole UTF-8 characters adds one to *bad_chunks. */
char *tokfx_stream_all(const mmrt_tokenizer *tok, const int32_t *ids, size_t n, bool skip,
                       size_t *len, size_t *bad_chunks);

#endif
