/* JSON helpers for the model-file readers (config.json, generation_config.json, tokenizer files,
 * safetensors headers), on top of cJSON.
 *
 * Getters take the object, the key and a `file` label used only in messages
 * (`config.json: field "hidden_size" must be an integer, got "abc"`; NULL reads as "JSON").
 * Conventions shared by every getter:
 *   - A key that is absent or whose value is JSON null counts as absent (Hugging Face configs write
 *     `"head_dim": null` for "not set"). Absent and not required: MMRT_OK with *out = dflt.
 *     Absent and required: MMRT_ERR_BAD_FORMAT "missing field".
 *   - When a key occurs more than once, the last occurrence wins, as with Python's json module
 *     (which is what wrote and reads these files); cJSON's own lookup would return the first.
 *   - `obj` may be NULL (every key is then absent), so optional sub-objects need no special case;
 *     a non-NULL `obj` that is not an object is MMRT_ERR_BAD_FORMAT.
 *   - A value of the wrong type or out of range is MMRT_ERR_BAD_FORMAT naming file, field and
 *     the value found; *out is left unchanged on any failure.
 * Strings returned point into the cJSON tree and live as long as it. Functions may run on many
 * threads at once: none reads cJSON's global error pointer (a failed cJSON parse does write it,
 * which is harmless here).
 */
#ifndef MMRT_CORE_JSON_H
#define MMRT_CORE_JSON_H

#include "error.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest JSON file mmrt_json_load_file reads (tokenizer.json files reach tens of MB). */
#define MMRT_JSON_MAX_FILE_BYTES ((size_t)1 << 30)

/* Parses n bytes of text (need not be NUL-terminated) holding exactly one JSON value, optionally
 * surrounded by whitespace. `name` labels messages: "<name>: not valid JSON (error at byte 12)",
 * "<name>: empty, expected JSON", "<name>: not valid JSON (unexpected data after the JSON value at
 * byte 40)": MMRT_ERR_BAD_FORMAT (cJSON does not tell an allocation failure from a syntax error).
 * Caller frees *out with cJSON_Delete; *out is NULL on failure. */
mmrt_status mmrt_json_parse(const char *text, size_t n, const char *name, cJSON **out,
                            mmrt_error *err);

/* Reads and parses a JSON file. MMRT_ERR_IO if unreadable (naming the path and strerror),
 * MMRT_ERR_BAD_FORMAT if empty or not JSON (naming the path and the byte offset of the error).
 * Caller frees *out with cJSON_Delete; *out is NULL on failure. */
mmrt_status mmrt_json_load_file(const char *path, cJSON **out, mmrt_error *err);

/* The value of key in obj (last occurrence), or NULL when obj is NULL/not an object, the key is
 * absent, or its value is null. */
const cJSON *mmrt_json_find(const cJSON *obj, const char *key);

/* Integer in [min, max]. JSON numbers are doubles: accepts values that are exact integers of
 * magnitude below 2^53 (so 4096 and 4096.0, not 4096.5 or 1e300). */
mmrt_status mmrt_json_get_int(const cJSON *obj, const char *key, bool required, int64_t dflt,
                              int64_t min, int64_t max, int64_t *out, const char *file,
                              mmrt_error *err);
/* Any finite number. */
mmrt_status mmrt_json_get_double(const cJSON *obj, const char *key, bool required, double dflt,
                                 double *out, const char *file, mmrt_error *err);
/* true or false (not 0/1, not "true"). */
mmrt_status mmrt_json_get_bool(const cJSON *obj, const char *key, bool required, bool dflt,
                               bool *out, const char *file, mmrt_error *err);
/* A string; *out points into the cJSON tree (NULL when absent and not required). */
mmrt_status mmrt_json_get_string(const cJSON *obj, const char *key, bool required, const char **out,
                                 const char *file, mmrt_error *err);
/* A JSON object (e.g. "text_config", "rope_scaling"); *out points into the tree (NULL when absent
 * and not required). */
mmrt_status mmrt_json_get_object(const cJSON *obj, const char *key, bool required,
                                 const cJSON **out, const char *file, mmrt_error *err);
/* An integer or a list of integers (eos_token_id may be 2 or [2, 49279]); stores up to cap values
 * in vals and their count in *n. Absent: MMRT_OK with *n = 0. More than cap values, or an element
 * that is not an integer (same rule as mmrt_json_get_int, no range check): MMRT_ERR_BAD_FORMAT,
 * with vals and *n untouched. */
mmrt_status mmrt_json_get_int_list(const cJSON *obj, const char *key, int64_t *vals, int cap,
                                   int *n, const char *file, mmrt_error *err);

/* True when v is a number holding an exact integer of magnitude below 2^53, stored in *out. Shared
 * with the safetensors header parser. */
bool mmrt_json_exact_int(const cJSON *v, int64_t *out);

#endif
