/* A stand-in for <criterion/logging.h> (see criterion.h here): cr_log_* print to stderr. */
#ifndef MMRT_TESTS_TSAN_CRITERION_LOGGING_H
#define MMRT_TESTS_TSAN_CRITERION_LOGGING_H

#include "criterion.h"

#define cr_log_info(...) cr_shim_log("info", __VA_ARGS__)
#define cr_log_warn(...) cr_shim_log("warn", __VA_ARGS__)
#define cr_log_error(...) cr_shim_log("error", __VA_ARGS__)

#endif
