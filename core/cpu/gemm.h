/* GEMMs on the CPU through oneDNN: C(m, n) f32 = alpha · A(m, k) · B, accumulated in f32.
 *
 * oneDNN (Debian's libdnnl, built on OpenMP) picks its kernels at run time from the CPU: AMX-BF16,
 * AVX512-BF16, AVX-512, AVX2 (`mmrt_cpu_gemm_isa` names the one it runs). A and B are both f32
 * (exact f32 products) or both bf16 (bf16 inputs, f32 accumulation: the bf16 arithmetic mode).
 *
 * Threads: the call runs on n_threads OpenMP threads of the calling thread's pool. oneDNN sizes its
 * work from the calling thread's OpenMP thread count, a per-thread setting, which the call sets
 * for its own duration and restores: no process-wide state changes, so sessions with different
 * thread counts may run at once. Called inside an OpenMP parallel region it runs on the calling
 * thread alone. Results may depend on n_threads in the last bits (oneDNN may split k).
 */
#ifndef MMRT_CORE_CPU_GEMM_H
#define MMRT_CORE_CPU_GEMM_H

#include "core/error.h"
#include "core/tensor.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct mmrt_gemm {
    int64_t m, n, k;
    mmrt_dtype type; /* of A and B: MMRT_F32 or MMRT_BF16 */
    const void *a;   /* (m, k), rows lda elements apart */
    int64_t lda;
    const void *b;   /* b_rows_n: (n, k) rows ldb apart (a weight matrix, C = A Bᵀ); else (k, n) */
    int64_t ldb;
    bool b_rows_n;
    float *c; /* (m, n), rows ldc apart */
    int64_t ldc;
    float alpha; /* 0 means 1 */
} mmrt_gemm;

/* Runs one GEMM on n_threads threads (see the top). MMRT_ERR_BACKEND names oneDNN's failure. */
mmrt_status mmrt_cpu_gemm(const mmrt_gemm *g, int n_threads, mmrt_error *err);

/* The instruction set oneDNN dispatches to on this CPU ("avx512_core_bf16", "avx512_core_amx", ...). */
const char *mmrt_cpu_gemm_isa(void);

#endif
