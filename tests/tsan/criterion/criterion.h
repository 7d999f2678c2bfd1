/* A stand-in for <criterion/criterion.h>, used only by the ThreadSanitizer build of the CUDA
 * backend's op tests (tests/CMakeLists.txt, MMRT_SANITIZE=thread): Criterion cannot start under
 * TSan (its fork-inheritable arena is a fixed mapping that collides with TSan's shadow memory:
 * "Could not initialize inheritable arena"; cuda/emu/tests/emu_test.h).
 *
 * It provides the subset of Criterion's API those tests and their helpers use, with Criterion's
 * meaning: Test() with the options below, ParameterizedTest() (parameterized.h), cr_assert*
 * (aborts the test), cr_expect* (fails it and goes on), cr_assert_fail, cr_skip_test and cr_log_*
 * (logging.h). Tests register through constructors; tests/tsan/runner.c runs each in a child
 * process of its own, one after another. Anything else fails to compile: extend the shim then. */
#ifndef MMRT_TESTS_TSAN_CRITERION_H
#define MMRT_TESTS_TSAN_CRITERION_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* What a ParameterizedTestParameters function returns (cr_make_param_array). */
struct criterion_test_params {
    size_t size;   /* of one parameter */
    void *params;  /* `length` parameters, `size` bytes apart */
    size_t length;
    void (*cleanup)(struct criterion_test_params *);
};

/* The options of Test(suite, name, .init = f, ...) the shim honours; others fail to compile. */
struct cr_shim_test_opts {
    int sentinel_;
    void (*init)(void);  /* before the test, in its process */
    void (*fini)(void);  /* after it, also when it failed */
    bool disabled;       /* reported as skipped */
    double timeout;      /* seconds; 0: none */
    const char *description;
};

struct cr_shim_test {
    const char *suite, *name;
    /* A plain test is fn(); a parameterized one is called as fn(param) through a cast. */
    void (*fn)(void);
    struct criterion_test_params (*params)(void); /* NULL for a plain test */
    struct cr_shim_test_opts opts;
    struct cr_shim_test *next;
};

/* Called by the constructors the macros below define. */
void cr_shim_register(struct cr_shim_test *t);
/* A failed check: prints where and what, then cr_shim_msg (optional) prints the message. */
void cr_shim_fail_at(const char *file, int line, const char *expr);
void cr_shim_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends a failed check: fatal aborts the test (back to the runner), else marks it failed. */
void cr_shim_fail_end(bool fatal);
_Noreturn void cr_shim_skip(void);
void cr_shim_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CR_SHIM_TEST_(suite, name, param_fn, proto, ...)                                          \
    static void cr_shim_fn_##suite##_##name(proto);                                              \
    static struct cr_shim_test cr_shim_test_##suite##_##name = {                                 \
        #suite, #name, (void (*)(void))cr_shim_fn_##suite##_##name, param_fn,                    \
        {.sentinel_ = 0, __VA_ARGS__}, NULL};                                                    \
    __attribute__((constructor)) static void cr_shim_register_##suite##_##name(void) {           \
        cr_shim_register(&cr_shim_test_##suite##_##name);                                        \
    }                                                                                            \
    static void cr_shim_fn_##suite##_##name(proto)

#define Test(suite, name, ...) CR_SHIM_TEST_(suite, name, NULL, void, __VA_ARGS__)

/* ---- checks: cr_assert_* abort the test, cr_expect_* let it go on ------------------------- */

#define CR_SHIM_CHECK_(fatal, cond, expr, ...)                                                    \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            cr_shim_fail_at(__FILE__, __LINE__, expr);                                           \
            __VA_OPT__(cr_shim_msg(__VA_ARGS__);)                                                \
            cr_shim_fail_end(fatal);                                                             \
        }                                                                                        \
    } while (0)

#define cr_assert(cond, ...) CR_SHIM_CHECK_(true, cond, #cond, __VA_ARGS__)
#define cr_assert_not(cond, ...) CR_SHIM_CHECK_(true, !(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) CR_SHIM_CHECK_(true, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) CR_SHIM_CHECK_(true, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) CR_SHIM_CHECK_(true, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) CR_SHIM_CHECK_(true, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) CR_SHIM_CHECK_(true, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) CR_SHIM_CHECK_(true, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...) CR_SHIM_CHECK_(true, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) CR_SHIM_CHECK_(true, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...)                                                               \
    CR_SHIM_CHECK_(true, strcmp((a), (b)) == 0, "strcmp(" #a ", " #b ") == 0", __VA_ARGS__)
#define cr_assert_fail(...) CR_SHIM_CHECK_(true, false, "cr_assert_fail", __VA_ARGS__)

#define cr_expect(cond, ...) CR_SHIM_CHECK_(false, cond, #cond, __VA_ARGS__)
#define cr_expect_not(cond, ...) CR_SHIM_CHECK_(false, !(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_expect_eq(a, b, ...) CR_SHIM_CHECK_(false, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) CR_SHIM_CHECK_(false, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_expect_fail(...) CR_SHIM_CHECK_(false, false, "cr_expect_fail", __VA_ARGS__)

#define cr_skip_test(...)                                                                         \
    do {                                                                                         \
        __VA_OPT__(cr_shim_log("skip", __VA_ARGS__);)                                            \
        cr_shim_skip();                                                                          \
    } while (0)

#include "logging.h"

#endif
