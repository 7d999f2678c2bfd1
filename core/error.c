/* Status strings, per-thread last error, and the abort hook. */
#include "error.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local mmrt_error tls_last_error;

const char *mmrt_status_str(mmrt_status status) {
    switch (status) {
    case MMRT_OK: return "ok";
    case MMRT_ERR_INVALID_ARG: return "invalid argument";
    case MMRT_ERR_OOM: return "out of memory";
    case MMRT_ERR_IO: return "I/O error";
    case MMRT_ERR_BAD_FORMAT: return "malformed file";
    case MMRT_ERR_UNSUPPORTED: return "unsupported";
    case MMRT_ERR_MODEL: return "inconsistent model";
    case MMRT_ERR_CONTEXT_FULL: return "context full";
    case MMRT_ERR_NETWORK: return "network error";
    case MMRT_ERR_BACKEND: return "backend error";
    case MMRT_ERR_ABORTED: return "aborted";
    case MMRT_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *mmrt_version(void) { return MMRT_VERSION_STRING; }

const char *mmrt_last_error(void) { return tls_last_error.msg; }

void mmrt_error_publish(const mmrt_error *err) {
    if (err) tls_last_error = *err;
}

void mmrt_error_clear(mmrt_error *err) {
    if (!err) return;
    err->status = MMRT_OK;
    err->msg[0] = '\0';
}

mmrt_status mmrt_error_set(mmrt_error *err, mmrt_status status, const char *fmt, ...) {
    if (!err) return status;
    char buf[MMRT_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    err->status = status;
    snprintf(err->msg, sizeof err->msg, "%s", buf);
    return status;
}

mmrt_status mmrt_error_wrap(mmrt_error *err, const char *fmt, ...) {
    if (!err) return MMRT_ERR_INTERNAL;
    char old[MMRT_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* long messages are cut, never overflowed: the context comes first, then the cause */
    size_t used = n < 0 ? 0 : (size_t)n < sizeof err->msg ? (size_t)n : sizeof err->msg - 1;
    size_t room = sizeof err->msg - used;
    if (room > 3) {
        memcpy(err->msg + used, ": ", 2);
        size_t len = strnlen(old, room - 3);
        memcpy(err->msg + used + 2, old, len);
        err->msg[used + 2 + len] = '\0';
    }
    return err->status == MMRT_OK ? MMRT_ERR_INTERNAL : err->status;
}

mmrt_status mmrt_error_oom(mmrt_error *err, size_t n_bytes, const char *what) {
    return mmrt_error_set(err, MMRT_ERR_OOM, "out of memory allocating %zu bytes for %s", n_bytes,
                          what);
}

_Noreturn void mmrt_abort(const char *file, int line, const char *expr) {
    mmrt_log(MMRT_LOG_ERROR, "internal error at %s:%d: assertion failed: %s", file, line, expr);
    fflush(stderr);
    abort();
}
