/* The runner of the Criterion shim (tests/tsan/criterion/criterion.h) for the ThreadSanitizer
 * build: every registered test, sorted by suite then name as Criterion orders them, each in a
 * child process of its own (the isolation Criterion gives: fresh globals, backends and emulator
 * state), one at a time. TSan instruments the child like any process; a report makes it exit with
 * TSAN_OPTIONS' exitcode (66 by default), which fails the test.
 *
 *     test_cuda_ops [--filter=PATTERN] [--list] [--no-fork]
 *
 * --filter: an fnmatch(3) pattern (extglob, e.g. '!(cuda_ops/sample*)') on "suite/name", as
 * Criterion's. --no-fork runs the tests in this process (for a debugger; a failure may leave
 * state behind for the next test). Exit status 0 only if every test that ran passed. */
#include "criterion/criterion.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { STATUS_PASS = 0, STATUS_FAIL = 1, STATUS_SKIP = 2 };

static struct cr_shim_test *registered;
static size_t n_registered;

/* The test running in this process: where a fatal check or a skip jumps, and whether it failed. */
static jmp_buf test_jmp;
static bool test_failed;

void cr_shim_register(struct cr_shim_test *t) {
    t->next = registered;
    registered = t;
    n_registered++;
}

void cr_shim_fail_at(const char *file, int line, const char *expr) {
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
}

void cr_shim_msg(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("  ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cr_shim_fail_end(bool fatal) {
    test_failed = true;
    if (fatal) longjmp(test_jmp, STATUS_FAIL);
}

void cr_shim_skip(void) { longjmp(test_jmp, STATUS_SKIP); }

void cr_shim_log(const char *level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%s] ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Runs t (with param, for a parameterized test) in this process: init, the test, fini (also
 * after a failure, as Criterion does). Returns a STATUS_*. */
static int run_here(const struct cr_shim_test *t, void *param) {
    /* volatile: read after longjmp */
    volatile int status = STATUS_PASS;
    test_failed = false;
    int jumped = setjmp(test_jmp);
    if (jumped == 0) {
        if (t->opts.init) t->opts.init();
        if (t->params)
            ((void (*)(void *))t->fn)(param);
        else
            t->fn();
    } else {
        status = jumped;
    }
    if (status != STATUS_SKIP && t->opts.fini && setjmp(test_jmp) == 0) t->opts.fini();
    if (status == STATUS_PASS && test_failed) status = STATUS_FAIL;
    return status;
}

/* Runs t in a child process; returns what to print ("PASS", ...) and fills why on failure. */
static const char *run_forked(const struct cr_shim_test *t, void *param, char *why, size_t n_why) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, n_why, "fork failed");
        return "FAIL";
    }
    if (pid == 0) {
        if (t->opts.timeout > 0) alarm((unsigned)ceil(t->opts.timeout));
        int status = run_here(t, param);
        fflush(stderr);
        exit(status); /* exit, not _exit: TSan's end-of-process checks run */
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) {
            snprintf(why, n_why, "waitpid failed");
            return "FAIL";
        }
    if (WIFSIGNALED(ws)) {
        snprintf(why, n_why, "killed by signal %d (%s)%s", WTERMSIG(ws), strsignal(WTERMSIG(ws)),
                 WTERMSIG(ws) == SIGALRM ? ": timed out" : "");
        return "CRASH";
    }
    switch (WEXITSTATUS(ws)) {
    case STATUS_PASS:
        return "PASS";
    case STATUS_SKIP:
        return "SKIP";
    case STATUS_FAIL:
        return "FAIL";
    default:
        snprintf(why, n_why, "exit status %d%s", WEXITSTATUS(ws),
                 WEXITSTATUS(ws) == 66 ? " (ThreadSanitizer's: see the report above)" : "");
        return "FAIL";
    }
}

static int by_suite_then_name(const void *a, const void *b) {
    const struct cr_shim_test *x = *(const struct cr_shim_test *const *)a;
    const struct cr_shim_test *y = *(const struct cr_shim_test *const *)b;
    int c = strcmp(x->suite, y->suite);
    return c ? c : strcmp(x->name, y->name);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    const char *filter = NULL;
    bool list = false, fork_each = true;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--filter=", 9) == 0)
            filter = argv[i] + 9;
        else if (strcmp(argv[i], "--list") == 0)
            list = true;
        else if (strcmp(argv[i], "--no-fork") == 0)
            fork_each = false;
        else {
            fprintf(stderr, "usage: %s [--filter=PATTERN] [--list] [--no-fork]\n", argv[0]);
            return 2;
        }
    }

    struct cr_shim_test **tests = calloc(n_registered ? n_registered : 1, sizeof *tests);
    if (!tests) return 2;
    size_t n = 0;
    for (struct cr_shim_test *t = registered; t; t = t->next) tests[n++] = t;
    qsort(tests, n, sizeof *tests, by_suite_then_name);

    int n_run = 0, n_pass = 0, n_fail = 0, n_skip = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cr_shim_test *t = tests[i];
        char id[256];
        snprintf(id, sizeof id, "%s/%s", t->suite, t->name);
        if (filter && fnmatch(filter, id, FNM_EXTMATCH) != 0) continue;
        if (list) {
            printf("%s: %s\n", t->suite, t->name);
            continue;
        }
        if (t->opts.disabled) {
            fprintf(stderr, "[SKIP] %s::%s (disabled)\n", t->suite, t->name);
            n_skip++;
            continue;
        }
        struct criterion_test_params p = {.length = 1};
        if (t->params) p = t->params();
        for (size_t k = 0; k < p.length; k++) {
            void *param = t->params ? (char *)p.params + k * p.size : NULL;
            char why[160] = "";
            double t0 = now_ms();
            const char *result;
            if (fork_each) {
                result = run_forked(t, param, why, sizeof why);
            } else {
                static const char *names[] = {"PASS", "FAIL", "SKIP"};
                result = names[run_here(t, param)];
            }
            char index[32] = "";
            if (t->params) snprintf(index, sizeof index, "[%zu]", k);
            fprintf(stderr, "[%s] %s::%s%s (%.1f ms)%s%s\n", result, t->suite, t->name, index,
                    now_ms() - t0, *why ? ": " : "", why);
            n_run++;
            n_pass += strcmp(result, "PASS") == 0;
            n_skip += strcmp(result, "SKIP") == 0;
            n_fail += strcmp(result, "FAIL") == 0 || strcmp(result, "CRASH") == 0;
        }
        if (t->params && p.cleanup) p.cleanup(&p);
    }
    free(tests);
    if (list) return 0;
    fprintf(stderr, "Synthesis: Tested: %d | Passing: %d | Failing: %d | Skipped: %d\n", n_run,
            n_pass, n_fail, n_skip);
    return n_fail ? 1 : 0;
}
