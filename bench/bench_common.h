/* Helpers shared by mmrt-bench's modes: clocks, the CPU's name, and how much CPU other processes
 * took while something was timed. Benchmark code, not library code. */
#ifndef MMRT_BENCH_COMMON_H
#define MMRT_BENCH_COMMON_H

#include "core/error.h"
#include "fusion/llama.h"
#include "membw.h"

#include <stddef.h>

/* CLOCK_MONOTONIC in seconds. */
double bench_now_s(void);

/* Prints "mmrt-bench: what[: err->msg]" and exits with status 1. */
_Noreturn void bench_die(const char *what, const mmrt_error *err);

/* "model name" of /proc/cpuinfo, or "unknown CPU". */
void bench_cpu_name(char *out, size_t n);

/* Prints `  "key": "s",` and a newline, s escaped as a JSON string (paths and CPU names may hold
 * quotes or backslashes). */
void bench_json_str(const char *key, const char *s);

/* A snapshot of the wall clock, the whole machine's busy CPU time and this process's own. */
typedef struct bench_load {
    double wall, busy, self;
} bench_load;

bench_load bench_load_now(void);
/* Cores' worth of CPU that other processes (and other guests) used between two snapshots; -1
 * when /proc/stat is unreadable. A benchmark on a shared machine is only as good as this is
 * small. */
double bench_load_others(bench_load a, bench_load b);

/* *best = s when s is smaller or *best is not set yet (≤ 0); a negative s (a bandwidth probe whose
 * process ended) is fatal. */
void bench_keep_min(double *best, double s);

/* The matrices and norms one decoded token of m reads, as regions of its mapped checkpoint
 * (malloc'ed, *n of them, *bytes in all). */
membw_region *bench_llm_weight_regions(const mmrt_llm *m, int *n, size_t *bytes);

#endif
