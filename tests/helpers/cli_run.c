#include "cli_run.h"

#include "tmpdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MMRT MMRT_BINARY_DIR "/mmrt"

/* program with stdin from in_path */
static result run_from(const char *program, const char *args, const char *in_path) {
    char out_path[] = "/tmp/mmrt-cli-out-XXXXXX", err_path[] = "/tmp/mmrt-cli-err-XXXXXX";
    int fo = mkstemp(out_path), fe = mkstemp(err_path);
    cr_assert(fo >= 0 && fe >= 0);
    close(fo);
    close(fe);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s <%s", program, args, out_path, err_path, in_path);
    int st = system(cmd);
    result r = {.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1};
    r.out = tmpdir_read(out_path, &r.n_out);
    r.err = tmpdir_read(err_path, NULL);
    remove(out_path);
    remove(err_path);
    return r;
}

result run(const char *args) { return run_from(MMRT, args, "/dev/null"); }

result run_program_input(const char *program, const char *args, const char *input) {
    char in_path[] = "/tmp/mmrt-cli-in-XXXXXX";
    int fd = mkstemp(in_path);
    cr_assert(fd >= 0);
    size_t n = strlen(input);
    cr_assert_eq(write(fd, input, n), (ssize_t)n);
    close(fd);
    result r = run_from(program, args, in_path);
    remove(in_path);
    return r;
}

result run_input(const char *args, const char *input) { return run_program_input(MMRT, args, input); }

void result_free(result *r) {
    free(r->out);
    free(r->err);
}

