/* Running the mmrt command from tests: `mmrt <args>` through the shell, its output captured. */
#ifndef MMRT_TESTS_HELPERS_CLI_RUN_H
#define MMRT_TESTS_HELPERS_CLI_RUN_H

#include <stddef.h>

typedef struct result {
    char *out, *err; /* stdout and stderr, NUL-terminated */
    size_t n_out;
    int rc; /* exit status, -1 when killed */
} result;

/* Runs `mmrt <args>` with stdin from /dev/null (args must be shell-quoted by the caller). Fails the
 * calling test on a setup error. */
result run(const char *args);
/* Runs `mmrt <args>` with input (NUL-terminated) on its stdin, through a file (not a terminal). */
result run_input(const char *args, const char *input);
/* The same for another build of the CLI (a path). */
result run_program_input(const char *program, const char *args, const char *input);
void result_free(result *r);

#endif
