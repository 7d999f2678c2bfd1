#include "cli_run.h"

#include "tmpdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define MMRT MMRT_BINARY_DIR "/mmrt"

result run(const char *args) {
    char out_path[] = "/tmp/mmrt-cli-out-XXXXXX", err_path[] = "/tmp/mmrt-cli-err-XXXXXX";
    int fo = mkstemp(out_path), fe = mkstemp(err_path);
    cr_assert(fo >= 0 && fe >= 0);
    close(fo);
    close(fe);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s </dev/null", MMRT, args, out_path, err_path);
    int st = system(cmd);
    result r = {.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1};
    r.out = tmpdir_read(out_path, &r.n_out);
    r.err = tmpdir_read(err_path, NULL);
    remove(out_path);
    remove(err_path);
    return r;
}

void result_free(result *r) {
    free(r->out);
    free(r->err);
}

