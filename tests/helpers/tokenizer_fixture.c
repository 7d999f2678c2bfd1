/* Shared helpers of the tokenizer tests (see tokenizer_fixture.h). */
#include "helpers/tokenizer_fixture.h"

#include "core/fsutil.h"
#include "core/json.h"
#include "helpers/tmpdir.h"
#include "text/utf8.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tokfx_read_all(const char *path, size_t *n) {
    char *buf = NULL;
    size_t len = 0;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_fs_read_file(path, (size_t)1 << 30, &buf, &len, &err), MMRT_OK, "%s",
                 err.msg);
    if (n) *n = len;
    return buf;
}

cJSON *tokfx_read_json(const char *path) {
    cJSON *j = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_json_load_file(path, &j, &err), MMRT_OK, "%s", err.msg);
    return j;
}

mmrt_tokenizer *tokfx_load_named(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/tokenizer.json", TOKFX_DIR, name);
    mmrt_tokenizer *tok = NULL;
    mmrt_error err = {0};
    mmrt_status st = mmrt_tokenizer_load(path, &tok, &err);
    cr_assert_eq(st, MMRT_OK, "loading %s: %s", path, err.msg);
    return tok;
}

cJSON *tokfx_load_expected(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/expected.json", TOKFX_DIR, name);
    return tokfx_read_json(path);
}

int32_t *tokfx_json_ids(const cJSON *arr, size_t *n) {
    cr_assert(cJSON_IsArray(arr), "ids is not an array");
    *n = (size_t)cJSON_GetArraySize(arr);
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) ids[i++] = (int32_t)it->valuedouble;
    return ids;
}

bool tokfx_ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* "[1, 2, 3 ...]" (first 24 ids) into buf. */
const char *tokfx_fmt_ids(char *buf, size_t cap, const int32_t *ids, size_t n) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < n && i < 24 && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%d", i ? ", " : "", ids[i]);
    if (o < cap) snprintf(buf + o, cap - o, "%s] (%zu ids)", n > 24 ? " ..." : "", n);
    return buf;
}

/* A printable rendering of bytes (C escapes), for mismatch reports. */
const char *tokfx_fmt_str(char *buf, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == '"')
            o += (size_t)snprintf(buf + o, cap - o, "\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

void tokfx_encode_ok(const mmrt_tokenizer *tok, const char *s, size_t n, bool parse_special,
                     int32_t **ids, size_t *n_ids) {
    mmrt_error err = {0};
    mmrt_status st = mmrt_tokenizer_encode(tok, s, n, parse_special, ids, n_ids, &err);
    cr_assert_eq(st, MMRT_OK, "encode failed: %s", err.msg);
    cr_assert_not_null(*ids);
}

char *tokfx_decode_ok(const mmrt_tokenizer *tok, const int32_t *ids, size_t n, bool skip,
                      size_t *len) {
    mmrt_error err = {0};
    char *text = NULL;
    mmrt_status st = mmrt_tokenizer_decode(tok, ids, n, skip, &text, len, &err);
    cr_assert_eq(st, MMRT_OK, "decode failed: %s", err.msg);
    cr_assert_not_null(text);
    cr_assert_eq(text[*len], '\0');
    return text;
}

char *tokfx_stream_all(const mmrt_tokenizer *tok, const int32_t *ids, size_t n, bool skip,
                       size_t *len, size_t *bad_chunks) {
    mmrt_detok *d = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_detok_init(tok, skip, &d, &err), MMRT_OK, "%s", err.msg);
    size_t cap = 64, o = 0;
    char *all = malloc(cap);
    for (size_t i = 0; i <= n; i++) {
        const char *chunk;
        size_t cl;
        mmrt_status st = i < n ? mmrt_detok_push(d, ids[i], &chunk, &cl, &err)
                               : mmrt_detok_flush(d, &chunk, &cl, &err);
        cr_assert_eq(st, MMRT_OK, "detok: %s", err.msg);
        cr_assert_eq(chunk[cl], '\0', "chunk is not NUL-terminated at its length");
        if (!mmrt_utf8_valid(chunk, cl)) (*bad_chunks)++;
        while (o + cl + 1 > cap) all = realloc(all, cap *= 2);
        memcpy(all + o, chunk, cl);
        o += cl;
    }
    all[o] = '\0';
    mmrt_detok_free(d);
    *len = o;
    return all;
}

uint64_t tokfx_fnv_ids(const int32_t *ids, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint32_t)ids[i]) * 1099511628211ull;
    return h;
}

uint64_t tokfx_fnv_bytes(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Prints "label\n  expected <want>\n  got      <got>\n" for the first mismatches. */
static bool report(size_t *n_bad, bool equal, const char *want, const char *got, const char *fmt,
                   va_list ap) {
    if (equal || (*n_bad)++ >= TOKFX_MAX_SHOWN) return equal;
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n  expected %s\n  got      %s\n", want, got);
    return equal;
}

bool tokfx_expect_ids(size_t *n_bad, const int32_t *want, size_t n_want, const int32_t *got,
                      size_t n_got, const char *label_fmt, ...) {
    bool equal = tokfx_ids_equal(want, n_want, got, n_got);
    char a[512] = "", b[512] = "";
    if (!equal) {
        tokfx_fmt_ids(a, sizeof a, want, n_want);
        tokfx_fmt_ids(b, sizeof b, got, n_got);
    }
    va_list ap;
    va_start(ap, label_fmt);
    report(n_bad, equal, a, b, label_fmt, ap);
    va_end(ap);
    return equal;
}

bool tokfx_expect_bytes(size_t *n_bad, const char *want, size_t n_want, const char *got,
                        size_t n_got, const char *label_fmt, ...) {
    bool equal = n_want == n_got && (n_want == 0 || memcmp(want, got, n_want) == 0);
    char a[512] = "\"", b[512] = "\"";
    if (!equal) {
        tokfx_fmt_str(a + 1, sizeof a - 2, want, n_want);
        tokfx_fmt_str(b + 1, sizeof b - 2, got, n_got);
        strcat(a, "\"");
        strcat(b, "\"");
    }
    va_list ap;
    va_start(ap, label_fmt);
    report(n_bad, equal, a, b, label_fmt, ap);
    va_end(ap);
    return equal;
}

static const cJSON *get(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    cr_assert_not_null(v, "fixture object has no \"%s\"", key);
    return v;
}

const char *tokfx_get_str(const cJSON *obj, const char *key) {
    const cJSON *v = get(obj, key);
    cr_assert(cJSON_IsString(v), "fixture member \"%s\" is not a string", key);
    return v->valuestring;
}

double tokfx_get_num(const cJSON *obj, const char *key) {
    const cJSON *v = get(obj, key);
    cr_assert(cJSON_IsNumber(v), "fixture member \"%s\" is not a number", key);
    return v->valuedouble;
}

bool tokfx_get_bool(const cJSON *obj, const char *key) {
    const cJSON *v = get(obj, key);
    cr_assert(cJSON_IsBool(v), "fixture member \"%s\" is not a boolean", key);
    return cJSON_IsTrue(v);
}

mmrt_tokenizer *tokfx_load_json(cJSON *root, char **dir) {
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    cr_assert_not_null(text);
    *dir = tmpdir_make("tokenizer");
    char *path = tmpdir_write_str(*dir, "tokenizer.json", text);
    free(text);
    mmrt_tokenizer *tok = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_tokenizer_load(path, &tok, &err), MMRT_OK, "%s", err.msg);
    free(path);
    return tok;
}

static cJSON *read_named(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/tokenizer.json", TOKFX_DIR, name);
    return tokfx_read_json(path);
}

/* root[key] = value (consumed), whether or not root has key. */
static void set_member(cJSON *root, const char *key, cJSON *value) {
    cr_assert_not_null(value);
    if (cJSON_GetObjectItemCaseSensitive(root, key))
        cJSON_ReplaceItemInObjectCaseSensitive(root, key, value);
    else
        cJSON_AddItemToObject(root, key, value);
}

mmrt_tokenizer *tokfx_load_with(const char *name, const char *key, cJSON *value, char **dir) {
    cJSON *root = read_named(name);
    set_member(root, key, value);
    return tokfx_load_json(root, dir);
}

mmrt_tokenizer *tokfx_load_pipeline(const cJSON *pipeline, char **dir) {
    const char *base = tokfx_get_str(pipeline, "base");
    const cJSON *replace = get(pipeline, "replace"), *append = get(pipeline, "append_added_tokens");
    *dir = NULL;
    if (cJSON_GetArraySize(replace) == 0 && cJSON_GetArraySize(append) == 0)
        return tokfx_load_named(base);
    cJSON *root = read_named(base);
    const cJSON *it;
    cJSON_ArrayForEach(it, replace) set_member(root, it->string, cJSON_Duplicate(it, true));
    cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    cr_assert(cJSON_IsArray(added), "%s has no added_tokens array", base);
    cJSON_ArrayForEach(it, append) cJSON_AddItemToArray(added, cJSON_Duplicate(it, true));
    return tokfx_load_json(root, dir);
}
