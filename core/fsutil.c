#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

mmrt_status mmrt_fs_read_file(const char *path, size_t max_bytes, char **out, size_t *n_out,
                              mmrt_error *err) {
    *out = NULL;
    if (n_out) *n_out = 0;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; the fstat
     * below then rejects it. It has no effect on regular files. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mmrt_error_set(err, MMRT_ERR_IO, "%s: %s", path,
                              S_ISDIR(st.st_mode) ? "is a directory, expected a file"
                                                  : "is not a regular file");
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return mmrt_error_set(err, MMRT_ERR_IO,
                              "%s: file is %lld bytes, larger than the %zu-byte limit", path,
                              (long long)st.st_size, max_bytes);
    }
    /* st_size is only a hint (files in /proc report 0, a file may grow while we read): read until
     * EOF, growing the buffer, and enforce the cap on what was actually read. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return mmrt_error_oom(err, cap, path);
    }
    /* The buffer may grow to max_bytes + 1 bytes of content so that an over-long file is
     * detected by reading one byte past the cap. */
    size_t cap_limit = max_bytes > SIZE_MAX - 2 ? SIZE_MAX : max_bytes + 2;
    for (;;) {
        if (n + 1 == cap) {
            if (cap >= cap_limit) break; /* n > max_bytes: reported below */
            size_t ncap = cap < 4096 ? 4096 : (cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2);
            if (ncap > cap_limit) ncap = cap_limit;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                close(fd);
                return mmrt_error_oom(err, ncap, path);
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            close(fd);
            return mmrt_error_set(err, MMRT_ERR_IO, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max_bytes) {
        free(buf);
        return mmrt_error_set(err, MMRT_ERR_IO, "%s: file is larger than the %zu-byte limit", path,
                              max_bytes);
    }
    buf[n] = '\0';
    *out = buf;
    if (n_out) *n_out = n;
    return MMRT_OK;
}

char *mmrt_fs_path_join(const char *dir, const char *name) {
    size_t nd = strlen(dir), nn = strlen(name);
    bool sep = nd > 0 && dir[nd - 1] != '/';
    char *p = malloc(nd + sep + nn + 1);
    if (!p) return NULL;
    memcpy(p, dir, nd);
    if (sep) p[nd] = '/';
    memcpy(p + nd + sep, name, nn + 1);
    return p;
}

bool mmrt_fs_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool mmrt_fs_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

mmrt_status mmrt_fs_map_file(const char *path, const char *what, void **map, size_t *size, mmrt_error *err) {
    *map = NULL;
    *size = 0;
    /* O_NONBLOCK so that a FIFO does not block the open; it is rejected just below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    mmrt_status status = MMRT_OK;
    if (fstat(fd, &st) != 0)
        status = mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        status = mmrt_error_set(err, MMRT_ERR_IO, "%s: is a directory, expected a %s file", path, what);
    else if (!S_ISREG(st.st_mode))
        status = mmrt_error_set(err, MMRT_ERR_IO, "%s: is not a regular file", path);
    else if (st.st_size == 0)
        status = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: file is empty", path);
    else if ((uint64_t)st.st_size > SIZE_MAX / 2)
        status = mmrt_error_set(err, MMRT_ERR_IO, "%s: file too large to map", path);
    if (status != MMRT_OK) {
        close(fd);
        return status;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (m == MAP_FAILED) return mmrt_error_set(err, MMRT_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
    *map = m;
    *size = (size_t)st.st_size;
    return MMRT_OK;
}
