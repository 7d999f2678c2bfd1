#include "json.h"

#include "fsutil.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *label(const char *file) { return file ? file : "JSON"; }

static bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

mmrt_status mmrt_json_parse(const char *text, size_t n, const char *name, cJSON **out,
                            mmrt_error *err) {
    *out = NULL;
    size_t first = 0;
    while (first < n && is_json_space(text[first])) first++;
    if (first == n)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: empty, expected JSON", name);
    /* The length-bounded parser never reads past n, so `text` may be a window into an mmap. The
     * parse-end pointer gives the error position without reading cJSON's global error state. */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, false);
    if (!root) {
        size_t at = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: not valid JSON (error at byte %zu)",
                              name, at);
    }
    size_t pos = (size_t)(end - text);
    while (pos < n && is_json_space(text[pos])) pos++;
    if (pos < n) {
        cJSON_Delete(root);
        return mmrt_error_set(
            err, MMRT_ERR_BAD_FORMAT,
            "%s: not valid JSON (unexpected data after the JSON value at byte %zu)", name, pos);
    }
    *out = root;
    return MMRT_OK;
}

mmrt_status mmrt_json_load_file(const char *path, cJSON **out, mmrt_error *err) {
    *out = NULL;
    char *text = NULL;
    size_t n = 0;
    MMRT_TRY(mmrt_fs_read_file(path, MMRT_JSON_MAX_FILE_BYTES, &text, &n, err));
    mmrt_status st = mmrt_json_parse(text, n, path, out, err);
    free(text);
    return st;
}

const cJSON *mmrt_json_find(const cJSON *obj, const char *key) {
    if (!cJSON_IsObject(obj)) return NULL;
    const cJSON *found = NULL;
    for (const cJSON *c = obj->child; c; c = c->next)
        if (c->string && strcmp(c->string, key) == 0) found = c;
    return cJSON_IsNull(found) ? NULL : found;
}

bool mmrt_json_exact_int(const cJSON *v, int64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    /* Beyond 2^53 a double no longer holds every integer, so "9007199254740993" would silently
     * read as ...992: refuse rather than guess. */
    if (!isfinite(d) || d != trunc(d) || fabs(d) >= 9007199254740992.0) return false;
    *out = (int64_t)d;
    return true;
}

/* Finds key; *v is NULL (and MMRT_OK returned) when it is absent and not required. */
static mmrt_status lookup(const cJSON *obj, const char *key, bool required, const cJSON **v,
                          const char *file, mmrt_error *err) {
    *v = NULL;
    if (obj && !cJSON_IsObject(obj))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: expected a JSON object holding field \"%s\"", label(file), key);
    *v = mmrt_json_find(obj, key);
    if (!*v && required)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: missing field \"%s\"", label(file),
                              key);
    return MMRT_OK;
}

/* "field "k" must be <want>, got <the value as JSON, shortened>". */
static mmrt_status type_error(const cJSON *v, const char *key, const char *want, const char *file,
                              mmrt_error *err) {
    char shown[64];
    char *printed = cJSON_PrintUnformatted(v);
    if (printed) {
        size_t len = strlen(printed);
        if (len < sizeof shown) {
            memcpy(shown, printed, len + 1);
        } else {
            memcpy(shown, printed, sizeof shown - 4);
            memcpy(shown + sizeof shown - 4, "...", 4);
        }
        free(printed);
    } else {
        snprintf(shown, sizeof shown, "an unprintable value");
    }
    return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: field \"%s\" must be %s, got %s",
                          label(file), key, want, shown);
}

mmrt_status mmrt_json_get_int(const cJSON *obj, const char *key, bool required, int64_t dflt,
                              int64_t min, int64_t max, int64_t *out, const char *file,
                              mmrt_error *err) {
    const cJSON *v;
    MMRT_TRY(lookup(obj, key, required, &v, file, err));
    if (!v) {
        *out = dflt;
        return MMRT_OK;
    }
    int64_t x;
    if (!mmrt_json_exact_int(v, &x)) return type_error(v, key, "an integer", file, err);
    if (x < min || x > max)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: field \"%s\" is %" PRId64 ", out of range [%" PRId64 ", %" PRId64
                              "]",
                              label(file), key, x, min, max);
    *out = x;
    return MMRT_OK;
}

mmrt_status mmrt_json_get_double(const cJSON *obj, const char *key, bool required, double dflt,
                                 double *out, const char *file, mmrt_error *err) {
    const cJSON *v;
    MMRT_TRY(lookup(obj, key, required, &v, file, err));
    if (!v) {
        *out = dflt;
        return MMRT_OK;
    }
    /* 1e999 parses to infinity; no config value means that. */
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return type_error(v, key, "a finite number", file, err);
    *out = v->valuedouble;
    return MMRT_OK;
}

mmrt_status mmrt_json_get_bool(const cJSON *obj, const char *key, bool required, bool dflt,
                               bool *out, const char *file, mmrt_error *err) {
    const cJSON *v;
    MMRT_TRY(lookup(obj, key, required, &v, file, err));
    if (!v) {
        *out = dflt;
        return MMRT_OK;
    }
    if (!cJSON_IsBool(v)) return type_error(v, key, "true or false", file, err);
    *out = cJSON_IsTrue(v);
    return MMRT_OK;
}

mmrt_status mmrt_json_get_string(const cJSON *obj, const char *key, bool required, const char **out,
                                 const char *file, mmrt_error *err) {
    const cJSON *v;
    MMRT_TRY(lookup(obj, key, required, &v, file, err));
    if (!v) {
        *out = NULL;
        return MMRT_OK;
    }
    if (!cJSON_IsString(v) || !v->valuestring) return type_error(v, key, "a string", file, err);
    *out = v->valuestring;
    return MMRT_OK;
}

mmrt_status mmrt_json_get_object(const cJSON *obj, const char *key, bool required,
                                 const cJSON **out, const char *file, mmrt_error *err) {
    const cJSON *v;
    MMRT_TRY(lookup(obj, key, required, &v, file, err));
    if (v && !cJSON_IsObject(v)) return type_error(v, key, "an object", file, err);
    *out = v;
    return MMRT_OK;
}

mmrt_status mmrt_json_get_int_list(const cJSON *obj, const char *key, int64_t *vals, int cap,
                                   int *n, const char *file, mmrt_error *err) {
    const cJSON *v;
    MMRT_TRY(lookup(obj, key, false, &v, file, err));
    if (!v) {
        *n = 0;
        return MMRT_OK;
    }
    if (cJSON_IsNumber(v)) {
        int64_t x;
        if (!mmrt_json_exact_int(v, &x))
            return type_error(v, key, "an integer or a list of integers", file, err);
        if (cap < 1)
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "%s: field \"%s\" has 1 value, more than the %d supported",
                                  label(file), key, cap);
        vals[0] = x;
        *n = 1;
        return MMRT_OK;
    }
    if (!cJSON_IsArray(v)) return type_error(v, key, "an integer or a list of integers", file, err);
    int count = cJSON_GetArraySize(v);
    if (count > cap)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: field \"%s\" has %d values, more than the %d supported",
                              label(file), key, count, cap);
    /* Validate every element before writing any, so vals is untouched on failure. */
    int64_t x;
    for (const cJSON *e = v->child; e; e = e->next)
        if (!mmrt_json_exact_int(e, &x))
            return type_error(v, key, "an integer or a list of integers", file, err);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next) mmrt_json_exact_int(e, &vals[i++]);
    *n = i;
    return MMRT_OK;
}
