/* Typed reads of optional tokenizer.json fields. A missing or null field yields the default; a
 * field of the wrong type is an MMRT_ERR_BAD_FORMAT naming the file (`path`) and the field
 * (`where`.`key`). */
#ifndef MMRT_TEXT_JSON_GET_H
#define MMRT_TEXT_JSON_GET_H

#include "core/error.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

static inline mmrt_status mmrt_json_bool(const cJSON *obj, const char *key, bool def, bool *out,
                                         const char *path, const char *where, mmrt_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = def;
    if (!v || cJSON_IsNull(v)) return MMRT_OK;
    if (!cJSON_IsBool(v))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s.%s must be true or false", path,
                              where, key);
    *out = cJSON_IsTrue(v);
    return MMRT_OK;
}

/* *out is NULL when the field is missing or null; the string is owned by the cJSON tree. */
static inline mmrt_status mmrt_json_string(const cJSON *obj, const char *key, const char **out,
                                           const char *path, const char *where, mmrt_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return MMRT_OK;
    if (!cJSON_IsString(v))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s.%s must be a string", path, where,
                              key);
    *out = v->valuestring;
    return MMRT_OK;
}

/* The "type" of a component object; a component that is not an object, or has no string "type",
 * is malformed. */
static inline mmrt_status mmrt_json_type(const cJSON *obj, const char **out, const char *path,
                                         const char *where, mmrt_error *err) {
    if (!cJSON_IsObject(obj))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s must be an object or null", path,
                              where);
    MMRT_TRY(mmrt_json_string(obj, "type", out, path, where, err));
    if (!*out)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s has no \"type\"", path, where);
    return MMRT_OK;
}

#endif
