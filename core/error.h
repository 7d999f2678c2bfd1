/* Internal error reporting.
 *
 * Every fallible internal function returns an mmrt_status and, on failure, writes a message into
 * an optional `mmrt_error *` (NULL means "caller does not want the text"). Messages name what
 * failed and where: the file, the tensor, the field. Public handles keep the last mmrt_error and
 * expose it through the *_last_error() getters in include/mmrt.h.
 *
 * MMRT_ASSERT is for broken internal invariants only (never for bad input): it logs file:line and
 * the expression and then aborts through mmrt_abort(), which the host may hook.
 */
#ifndef MMRT_CORE_ERROR_H
#define MMRT_CORE_ERROR_H

#include "mmrt.h"

#include <stddef.h>

#define MMRT_ERROR_MSG_MAX 1024

typedef struct mmrt_error {
    mmrt_status status;
    char msg[MMRT_ERROR_MSG_MAX];
} mmrt_error;

/* Records status + formatted message in err (if non-NULL), replacing what it held, and returns
 * status. To add context to an existing message use mmrt_error_wrap. */
mmrt_status mmrt_error_set(mmrt_error *err, mmrt_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends context to an existing message ("loading x.safetensors: <old message>"); returns
 * err->status (or MMRT_ERR_INTERNAL when err is NULL). */
mmrt_status mmrt_error_wrap(mmrt_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void mmrt_error_clear(mmrt_error *err);

/* Copies err to this thread's mmrt_last_error() (for public calls that have no handle). */
void mmrt_error_publish(const mmrt_error *err);

/* Out-of-memory is common enough to have its own helper: "out of memory allocating N bytes for W". */
mmrt_status mmrt_error_oom(mmrt_error *err, size_t n_bytes, const char *what);

#ifdef __cplusplus
[[noreturn]] void mmrt_abort(const char *file, int line, const char *expr);
#else
_Noreturn void mmrt_abort(const char *file, int line, const char *expr);
#endif

#define MMRT_ASSERT(x)                                                                             \
    do {                                                                                           \
        if (!(x)) mmrt_abort(__FILE__, __LINE__, #x);                                              \
    } while (0)

/* Propagates a failed status to the caller. */
#define MMRT_TRY(expr)                                                                             \
    do {                                                                                           \
        mmrt_status mmrt_try_st_ = (expr);                                                         \
        if (mmrt_try_st_ != MMRT_OK) return mmrt_try_st_;                                          \
    } while (0)

#endif
