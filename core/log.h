/* Library logging. Lines go to the callback set with mmrt_log_set() (stderr by default). */
#ifndef MMRT_CORE_LOG_H
#define MMRT_CORE_LOG_H

#include "mmrt.h"

void mmrt_log(mmrt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when a line at `level` would be delivered (lets callers skip costly formatting). */
bool mmrt_log_enabled(mmrt_log_level level);

#define MMRT_LOG_E(...) mmrt_log(MMRT_LOG_ERROR, __VA_ARGS__)
#define MMRT_LOG_W(...) mmrt_log(MMRT_LOG_WARN, __VA_ARGS__)
#define MMRT_LOG_I(...) mmrt_log(MMRT_LOG_INFO, __VA_ARGS__)
#define MMRT_LOG_D(...) mmrt_log(MMRT_LOG_DEBUG, __VA_ARGS__)

#endif
