#include "tmpdir.h"

#include <cjson/cJSON.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tmpdir_make(const char *tag) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t n = strlen(base) + strlen(tag) + 32;
    char *p = malloc(n);
    cr_assert(p != NULL, "tmpdir_make: out of memory");
    snprintf(p, n, "%s/mmrt-%s-XXXXXX", base, tag);
    cr_assert(mkdtemp(p) != NULL, "tmpdir_make: mkdtemp(%s) failed: %s", p, strerror(errno));
    return p;
}

char *tmpdir_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    cr_assert(p != NULL, "tmpdir_path: out of memory");
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* mkdir -p for every parent of path below dir (path = dir + "/" + relative name). */
static void make_parents(const char *dir, char *path, int include_last) {
    for (char *s = path + strlen(dir) + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "tmpdir: mkdir(%s) failed: %s", path,
                  strerror(errno));
        *s = '/';
    }
    if (include_last)
        cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "tmpdir: mkdir(%s) failed: %s", path,
                  strerror(errno));
}

char *tmpdir_write(const char *dir, const char *name, const void *data, size_t n) {
    char *path = tmpdir_path(dir, name);
    make_parents(dir, path, 0);
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL, "tmpdir_write: cannot create %s: %s", path, strerror(errno));
    cr_assert(n == 0 || fwrite(data, 1, n, f) == n, "tmpdir_write: short write to %s", path);
    cr_assert(fclose(f) == 0, "tmpdir_write: closing %s failed: %s", path, strerror(errno));
    return path;
}

char *tmpdir_read(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    cr_assert_geq(len, 0);
    cr_assert_eq(fseek(f, 0, SEEK_SET), 0);
    char *buf = malloc((size_t)len + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len, "short read of %s", path);
    buf[len] = '\0';
    fclose(f);
    if (n) *n = (size_t)len;
    return buf;
}

char *tmpdir_write_str(const char *dir, const char *name, const char *text) {
    return tmpdir_write(dir, name, text, strlen(text));
}

char *tmpdir_copy(const char *dir, const char *name, const char *src) {
    size_t n;
    char *data = tmpdir_read(src, &n);
    char *path = tmpdir_write(dir, name, data, n);
    free(data);
    return path;
}

char *tmpdir_mkdir(const char *dir, const char *name) {
    char *path = tmpdir_path(dir, name);
    make_parents(dir, path, 1);
    return path;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

void tmpdir_remove(char *dir) {
    if (!dir) return;
    const char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : dir;
    cr_assert(strncmp(base, "mmrt-", 5) == 0, "tmpdir_remove: refusing to remove %s", dir);
    /* FTW_DEPTH: children before their directory; FTW_PHYS: never follow a symlink out. */
    cr_assert(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0,
              "tmpdir_remove: removing %s failed: %s", dir, strerror(errno));
    free(dir);
}

cJSON *tmpdir_read_json(const char *path) {
    char *text = tmpdir_read(path, NULL);
    cJSON *j = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(j, "%s: not JSON", path);
    return j;
}
