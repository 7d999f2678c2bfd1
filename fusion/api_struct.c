#include "api_struct.h"

#include <string.h>

static size_t size_of(const void *s) {
    size_t n;
    memcpy(&n, s, sizeof n);
    return n;
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

void mmrt_api_struct_init(void *caller, size_t size, const void *defaults, size_t full) {
    if (!caller || size < sizeof(size_t)) return;
    memcpy(caller, defaults, min_size(size, full));
    if (size > full) memset((char *)caller + full, 0, size - full); /* fields this library predates */
    memcpy(caller, &size, sizeof size);
}

mmrt_status mmrt_api_struct_check(const void *caller, const char *what, mmrt_error *err) {
    size_t n = size_of(caller);
    if (n < sizeof(size_t) || n > MMRT_API_STRUCT_MAX_SIZE)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "%s: size is %zu; set it to sizeof the struct (or call its _init function)", what, n);
    return MMRT_OK;
}

mmrt_status mmrt_api_struct_in(void *local, const void *defaults, size_t full, const void *caller,
                               const char *what, mmrt_error *err) {
    memcpy(local, defaults, full);
    if (caller) {
        MMRT_TRY(mmrt_api_struct_check(caller, what, err));
        memcpy(local, caller, min_size(size_of(caller), full));
    }
    memcpy(local, &full, sizeof full);
    return MMRT_OK;
}

void mmrt_api_struct_out(void *caller, const void *local, size_t full) {
    size_t n = size_of(caller);
    memcpy((char *)caller + sizeof n, (const char *)local + sizeof n, min_size(n, full) - sizeof n);
}
