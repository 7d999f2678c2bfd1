#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static void log_to_stderr(mmrt_log_level level, const char *msg, void *user) {
    (void)user;
    static const char *const prefix[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "mmrt: %s: %s\n", prefix[level], msg);
}

static mmrt_log_fn g_log_fn = log_to_stderr;
static void *g_log_user;
static mmrt_log_level g_log_max = MMRT_LOG_WARN;

void mmrt_log_set(mmrt_log_fn fn, void *user, mmrt_log_level max_level) {
    g_log_fn = fn ? fn : log_to_stderr;
    g_log_user = fn ? user : NULL;
    g_log_max = max_level;
}

bool mmrt_log_enabled(mmrt_log_level level) { return level <= g_log_max; }

void mmrt_log(mmrt_log_level level, const char *fmt, ...) {
    if (!mmrt_log_enabled(level)) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_log_fn(level, buf, g_log_user);
}
