/* The CPU's measured GEMM peak, for mmrt-bench --vision: what "x % of peak" is a percentage of.
 *
 * C(m, n) = A(m, k) · B(n, k)ᵀ, the layout of mmrt's matmul, on large shapes (the ViT's own and
 * a 2048³ cube), each timed two ways on n_threads threads:
 *   "openblas"    one sgemm call with OpenBLAS's own pool of n_threads;
 *   "omp blocks"  an OpenMP loop over 256-column blocks of C, one single-threaded sgemm each
 *                 (how core/cpu/ops_matmul.c runs prefill).
 * The peak is the best rate over every shape, way and sample. mmrt-bench samples it between the
 * timed reps of what it compares with the peak, so that both see the same load from other
 * processes on a shared machine. bf16 uses cblas_sbgemm (bf16 A and B, f32
 * C), looked up at run time; distributions build OpenBLAS without it, and then, where the CPU has
 * AVX512-BF16, the bench's own vdpbf16ps GEMM (bench/gemm_bf16.h) stands in, on the same shapes and
 * threads (one way only, reported as "blocks").
 */
#ifndef MMRT_BENCH_GEMM_PEAK_H
#define MMRT_BENCH_GEMM_PEAK_H

#include <stdbool.h>

#define GEMM_PEAK_MAX_SHAPES 4

typedef struct gemm_rate {
    int m, n, k;
    double openblas_gflops, blocks_gflops; /* best call of each way */
} gemm_rate;

typedef struct gemm_peak {
    bool available;    /* false: bf16 without cblas_sbgemm and without AVX512-BF16 */
    bool own_kernel;   /* bf16 measured with bench/gemm_bf16.h, not OpenBLAS */
    double gflops;     /* best over shapes and ways */
    int n_shapes;
    gemm_rate shapes[GEMM_PEAK_MAX_SHAPES];
} gemm_peak;

/* One more sample into *pk (zeroed before the first): `calls` timed calls per shape and way
 * (after one untimed call, the first time only), keeping the best. bf16 = false: sgemm; true:
 * sbgemm, which leaves pk->available false when OpenBLAS lacks it. */
void gemm_peak_sample(gemm_peak *pk, bool bf16, int n_threads, int calls);

/* "OpenBLAS 0.3.21 ... Cooperlake" (openblas_get_config(), core name). */
const char *gemm_blas_config(void);

#endif
