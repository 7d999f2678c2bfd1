/* Shared helpers of the tokenizer tests (see tokenizer_fixture.h). */
#include "helpers/tokenizer_fixture.h"

#include "core/fsutil.h"
#include "core/json.h"
#include "helpers/tmpdir.h"
#include "text/utf8.h"

#include <criterion/criterion.h>
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

size_t tokfx_count_ids(const int32_t *ids) {
    size_t n = 0;
    while (ids[n] >= 0) n++;
    return n;
}

uint64_t tokfx_fnv_ids(const int32_t *ids, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint32_t)ids[i]) * 1099511628211ull;
    return h;
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

mmrt_tokenizer *tokfx_load_with(const char *name, const char *key, cJSON *value, char **dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/tokenizer.json", TOKFX_DIR, name);
    cJSON *root = tokfx_read_json(path);
    cJSON_ReplaceItemInObject(root, key, value);
    return tokfx_load_json(root, dir);
}
