#include "membw.h"

#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- read kernels: four independent accumulators, so only the loads limit the speed ---- */

typedef uint64_t (*read_fn)(const char *p, size_t n);

static uint64_t read_tail(const char *p, size_t i, size_t n, uint64_t s) {
    for (; i < n; i++) s += (unsigned char)p[i];
    return s;
}

__attribute__((target("avx512f"))) static uint64_t read_avx512(const char *p, size_t n) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 256 <= n; i += 256) {
        a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(p + i));
        a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(p + i + 64));
        a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(p + i + 128));
        a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(p + i + 192));
    }
    a0 = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    /* not _mm512_reduce_add_epi64: GCC's adds signed lanes, and these sums wrap */
    uint64_t lane[8], s = 0;
    _mm512_storeu_si512(lane, a0);
    for (int j = 0; j < 8; j++) s += lane[j];
    return read_tail(p, i, n, s);
}

__attribute__((target("avx2"))) static uint64_t read_avx2(const char *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_loadu_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_loadu_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_loadu_si256((const __m256i *)(p + i + 96)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t lane[4];
    _mm256_storeu_si256((__m256i *)lane, a0);
    return read_tail(p, i, n, lane[0] + lane[1] + lane[2] + lane[3]);
}

static uint64_t read_generic(const char *p, size_t n) {
    uint64_t acc[8] = {0};
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 8; j++) {
            uint64_t v;
            memcpy(&v, p + i + 8 * (size_t)j, 8);
            acc[j] += v;
        }
    uint64_t s = 0;
    for (int j = 0; j < 8; j++) s += acc[j];
    return read_tail(p, i, n, s);
}

static read_fn kernel(const char **name) {
    __builtin_cpu_init();
    const char *unused;
    if (!name) name = &unused;
    if (__builtin_cpu_supports("avx512f")) return *name = "avx512", read_avx512;
    if (__builtin_cpu_supports("avx2")) return *name = "avx2", read_avx2;
    return *name = "generic", read_generic;
}

const char *membw_kernel_name(void) {
    const char *name;
    kernel(&name);
    return name;
}

/* ---- passes ----------------------------------------------------------------------------- */

static volatile uint64_t g_sink; /* keeps the sums alive */

/* Thread t's slice [*b, *e) of n bytes; cuts on 4 KiB boundaries. */
static void slice(size_t n, int t, int nt, size_t *b, size_t *e) {
    size_t chunk = (n / (size_t)nt) & ~(size_t)4095;
    *b = chunk * (size_t)t;
    *e = t == nt - 1 ? n : *b + chunk;
}

double membw_read_pass(const membw_region *r, int n_regions, int threads) {
    read_fn fn = kernel(NULL);
    uint64_t total = 0;
    double t0 = now_s();
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int i = 0; i < n_regions; i++) {
            size_t b, e;
            slice(r[i].n, t, nt, &b, &e);
            total += fn((const char *)r[i].p + b, e - b);
        }
    }
    double dt = now_s() - t0;
    g_sink += total;
    return dt;
}

double membw_copy_pass(void *dst, const void *src, size_t n, int threads) {
    double t0 = now_s();
#pragma omp parallel num_threads(threads)
    {
        size_t b, e;
        slice(n, omp_get_thread_num(), omp_get_num_threads(), &b, &e);
        memcpy((char *)dst + b, (const char *)src + b, e - b);
    }
    return now_s() - t0;
}

/* ---- the probe process ------------------------------------------------------------------ */

typedef struct probe_cmd {
    char kind;
    int threads;
} probe_cmd;

static _Noreturn void probe_main(int cmd_fd, int res_fd, size_t n, int threads) {
    char *buf = aligned_alloc(4096, n);
    double fail = -1;
    if (!buf) {
        (void)!write(res_fd, &fail, sizeof fail);
        _exit(1);
    }
    /* first touch on the threads that will read it; no byte left as a shared zero page */
#pragma omp parallel num_threads(threads)
    {
        size_t b, e;
        slice(n, omp_get_thread_num(), omp_get_num_threads(), &b, &e);
        for (size_t i = b; i < e; i++) buf[i] = (char)(i * 131u >> 3);
    }
    double ready = 0;
    if (write(res_fd, &ready, sizeof ready) != sizeof ready) _exit(1);
    probe_cmd c;
    while (read(cmd_fd, &c, sizeof c) == sizeof c) {
        membw_region whole = {buf, n};
        double s = c.kind == 'c' ? membw_copy_pass(buf + n / 2, buf, n / 2, c.threads)
                                 : membw_read_pass(&whole, 1, c.threads);
        if (write(res_fd, &s, sizeof s) != sizeof s) break;
    }
    /* _exit: no atexit handlers, which could wait on library threads that exist only in the
     * parent (a forked child has just the forking thread) */
    _exit(0);
}

int membw_probe_start(membw_probe *p, size_t n_bytes, int threads) {
    int cmd[2], res[2];
    memset(p, 0, sizeof *p);
    p->pid = -1;
    if (pipe(cmd) != 0) return -1;
    if (pipe(res) != 0) {
        close(cmd[0]), close(cmd[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(cmd[0]), close(cmd[1]), close(res[0]), close(res[1]);
        return -1;
    }
    if (pid == 0) {
        close(cmd[1]), close(res[0]);
        probe_main(cmd[0], res[1], n_bytes, threads);
    }
    close(cmd[0]), close(res[1]);
    p->pid = pid;
    p->cmd_fd = cmd[1];
    p->res_fd = res[0];
    p->n_bytes = n_bytes;
    double ready;
    if (read(p->res_fd, &ready, sizeof ready) != sizeof ready || ready < 0) {
        membw_probe_stop(p);
        return -1;
    }
    return 0;
}

double membw_probe_pass(membw_probe *p, char kind, int threads) {
    probe_cmd c = {kind, threads};
    double s;
    if (p->pid <= 0 || write(p->cmd_fd, &c, sizeof c) != sizeof c) return -1;
    if (read(p->res_fd, &s, sizeof s) != sizeof s) return -1;
    return s;
}

void membw_probe_stop(membw_probe *p) {
    if (p->pid <= 0) return;
    close(p->cmd_fd); /* the child's read() sees EOF and it exits */
    close(p->res_fd);
    waitpid(p->pid, NULL, 0);
    p->pid = -1;
}
