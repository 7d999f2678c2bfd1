/* Memory bandwidth probes for mmrt-bench: how fast this machine streams bytes out of DRAM.
 *
 * A read pass sums the bytes as 64-bit integers with the widest loads the CPU has (AVX-512, AVX2
 * or plain C, picked at run time; integer sums have no slow paths whatever the bytes hold), each
 * thread over its own contiguous slice, like a decode matmul reads its weight rows.
 *
 * The probe buffer lives in a child process so that it never counts towards the benchmark's own
 * peak RSS, while its passes can still run between the benchmark's reps (the two processes take
 * turns; neither runs while the other measures). On a shared machine, interleaving means the
 * bandwidth and the decode speed are measured under the same conditions.
 */
#ifndef MMRT_BENCH_MEMBW_H
#define MMRT_BENCH_MEMBW_H

#include <stddef.h>
#include <sys/types.h>

typedef struct membw_region {
    const void *p;
    size_t n;
} membw_region;

/* "avx512", "avx2" or "generic": the loads a read pass uses. */
const char *membw_kernel_name(void);

/* Seconds for one parallel streaming read of all regions on `threads` threads; each thread
 * reads its slice of every region, with no barrier between regions. */
double membw_read_pass(const membw_region *r, int n_regions, int threads);

/* Seconds for one parallel memcpy of n bytes (each thread copies its slice). */
double membw_copy_pass(void *dst, const void *src, size_t n, int threads);

typedef struct membw_probe {
    pid_t pid;
    int cmd_fd, res_fd;
    size_t n_bytes; /* buffer size; a copy pass moves n_bytes / 2 */
} membw_probe;

/* Forks the child holding an n_bytes buffer (touched on `threads` threads). Must be called
 * before the calling process has run any OpenMP parallel region: the child uses its own team.
 * Returns 0, or -1 with errno set. */
int membw_probe_start(membw_probe *p, size_t n_bytes, int threads);

/* Runs one pass in the child, 'r' (read the whole buffer) or 'c' (copy one half onto the
 * other), on `threads` threads; returns its seconds, or -1 when the child is gone. */
double membw_probe_pass(membw_probe *p, char kind, int threads);

/* Ends the child and reaps it. */
void membw_probe_stop(membw_probe *p);

#endif
