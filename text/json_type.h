/* The "type" of a tokenizer.json component (model, normalizer, pre_tokenizer, decoder). */
#ifndef MMRT_TEXT_JSON_TYPE_H
#define MMRT_TEXT_JSON_TYPE_H

#include "core/json.h"

/* obj must be an object with a string "type"; otherwise MMRT_ERR_BAD_FORMAT naming path and the
 * component (`what`). */
static inline mmrt_status mmrt_tok_json_type(const cJSON *obj, const char **type, const char *path,
                                             const char *what, mmrt_error *err) {
    *type = NULL;
    if (!cJSON_IsObject(obj))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s must be an object or null", path,
                              what);
    MMRT_TRY(mmrt_json_get_string(obj, "type", false, type, path, err));
    if (!*type)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s has no \"type\"", path, what);
    return MMRT_OK;
}

#endif
