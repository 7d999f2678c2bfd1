/* Helpers shared by the libFuzzer targets in tests/fuzz/ (built by tools/fuzz-smoke.sh).
 *
 * The loaders under test take paths, not buffers, so each target writes its input into a private
 * scratch directory created on first use and removed at a normal exit, under $FUZZ_TMPDIR when
 * set, else /dev/shm when writable, else $TMPDIR or /tmp. A broken contract (an invariant the
 * headers promise) is reported with FUZZ_CHECK, which prints the expression and aborts, so
 * libFuzzer saves the input like a crash.
 */
#ifndef MMRT_TESTS_FUZZ_COMMON_H
#define MMRT_TESTS_FUZZ_COMMON_H

#include "core/error.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_CHECK(x)                                                                              \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #x);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char fuzz_dir_path[4096];

static inline void fuzz_dir_remove(void) {
    if (!fuzz_dir_path[0]) return;
    DIR *d = opendir(fuzz_dir_path);
    if (d) {
        char p[8192];
        for (struct dirent *e; (e = readdir(d));) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(p, sizeof p, "%s/%s", fuzz_dir_path, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(fuzz_dir_path);
    fuzz_dir_path[0] = '\0';
}

/* The scratch directory of this process (created on the first call). */
static inline const char *fuzz_dir(void) {
    if (fuzz_dir_path[0]) return fuzz_dir_path;
    const char *base = getenv("FUZZ_TMPDIR");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/mmrt-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_dir_path)) {
        fprintf(stderr, "fuzz: cannot create a scratch directory under %s: %s\n", base,
                strerror(errno));
        abort();
    }
    atexit(fuzz_dir_remove);
    return fuzz_dir_path;
}

/* "<scratch dir>/name" into buf. */
static inline const char *fuzz_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", fuzz_dir(), name);
    return buf;
}

/* Replaces the file `name` in the scratch directory with data[0..n). Returns its path in buf. */
static inline const char *fuzz_write(char *buf, size_t cap, const char *name, const void *data,
                                      size_t n) {
    fuzz_path(buf, cap, name);
    int fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", buf, strerror(errno));
        abort();
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, (const char *)data + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            fprintf(stderr, "fuzz: cannot write %s: %s\n", buf, strerror(errno));
            abort();
        }
        off += (size_t)w;
    }
    close(fd);
    return buf;
}

/* Removes `name` from the scratch directory if present. */
static inline void fuzz_unlink(const char *name) {
    char p[8192];
    unlink(fuzz_path(p, sizeof p, name));
}

/* Library logging is dropped (but still formatted: every level is enabled). */
static inline void fuzz_log_drop(mmrt_log_level level, const char *msg, void *user) {
    (void)level;
    (void)msg;
    (void)user;
}

static inline void fuzz_quiet_logs(void) { mmrt_log_set(fuzz_log_drop, NULL, MMRT_LOG_DEBUG); }

/* Every target is its own program including this header once: libFuzzer's start-up hook. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

/* With FUZZ_VERBOSE set in the environment, targets say what each top-level call returned: handy
 * when checking that a seed reaches the code it was written for (run the target on the file). */
static inline void fuzz_note(const char *what, mmrt_status st, const mmrt_error *err) {
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "fuzz: %s: %s%s%s\n", what, mmrt_status_str(st),
                         st != MMRT_OK ? ": " : "", st != MMRT_OK ? err->msg : "");
}

/* A failed call must say why: a status that is not MMRT_OK and a NUL-terminated, non-empty
 * message. */
static inline void fuzz_check_error(mmrt_status st, const mmrt_error *err) {
    FUZZ_CHECK(st != MMRT_OK);
    FUZZ_CHECK(memchr(err->msg, '\0', sizeof err->msg) != NULL);
    FUZZ_CHECK(err->msg[0] != '\0');
}

/* Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF). */
static inline bool fuzz_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return false;
        }
        if (n - i <= k) return false; /* truncated character */
        if (p[i + 1] < lo || p[i + 1] > hi) return false;
        for (size_t j = 2; j <= k; j++)
            if (p[i + j] < 0x80 || p[i + j] > 0xBF) return false;
        i += k + 1;
    }
    return true;
}

#endif
