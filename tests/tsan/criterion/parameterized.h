/* A stand-in for <criterion/parameterized.h> (see criterion.h here), with Criterion's usage:
 *
 *     ParameterizedTestParameters(suite, name) {
 *         static int sizes[] = {1, 7, 33};
 *         return cr_make_param_array(int, sizes, sizeof sizes / sizeof *sizes);
 *     }
 *     ParameterizedTest(int *size, suite, name) { ... }
 *
 * The runner runs the test once per parameter, each in its own process, as suite::name[i]. */
#ifndef MMRT_TESTS_TSAN_CRITERION_PARAMETERIZED_H
#define MMRT_TESTS_TSAN_CRITERION_PARAMETERIZED_H

#include "criterion.h"

#define ParameterizedTestParameters(suite, name)                                                 \
    static struct criterion_test_params cr_shim_params_##suite##_##name(void)

/* The parameter function may come first (as Criterion's examples write it) or later. */
#define ParameterizedTest(param, suite, name, ...)                                               \
    ParameterizedTestParameters(suite, name);                                                    \
    CR_SHIM_TEST_(suite, name, cr_shim_params_##suite##_##name, param, __VA_ARGS__)

/* cr_make_param_array(Type, array, length[, cleanup]) */
#define cr_make_param_array(type, array, ...)                                                    \
    ((struct criterion_test_params){.size = sizeof(type), (void *)(array), __VA_ARGS__})

#endif
