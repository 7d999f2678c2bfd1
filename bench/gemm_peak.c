#include "gemm_peak.h"

#include "bench_common.h"
#include "gemm_bf16.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include "core/cpu/gemm.h"
#include <dlfcn.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_COLS 256 /* columns of C per single-threaded call in the "omp blocks" way */

typedef void (*sbgemm_fn)(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
                          blasint m, blasint n, blasint k, float alpha, const uint16_t *a, blasint lda,
                          const uint16_t *b, blasint ldb, float beta, float *c, blasint ldc);

typedef struct gemm_job {
    int m, n, k;
    const void *a, *b; /* float or bf16 (uint16_t) */
    float *c;
    sbgemm_fn sbgemm;  /* NULL: f32 */
} gemm_job;

/* C columns [j0, j0 + cols) of the job. */
static void gemm_cols(const gemm_job *g, int j0, int cols) {
    if (g->sbgemm)
        g->sbgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->m, cols, g->k, 1.0f, g->a, g->k,
                  (const uint16_t *)g->b + (size_t)j0 * (size_t)g->k, g->k, 0.0f, g->c + j0, g->n);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->m, cols, g->k, 1.0f, g->a, g->k,
                    (const float *)g->b + (size_t)j0 * (size_t)g->k, g->k, 0.0f, g->c + j0, g->n);
}

static double time_openblas(const gemm_job *g, int n_threads) {
    openblas_set_num_threads(n_threads);
    double t0 = bench_now_s();
    gemm_cols(g, 0, g->n);
    return bench_now_s() - t0;
}

static double time_blocks(const gemm_job *g, int n_threads) {
    openblas_set_num_threads(1);
    int n_blocks = (g->n + BLOCK_COLS - 1) / BLOCK_COLS;
    double t0 = bench_now_s();
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
    for (int b = 0; b < n_blocks; b++) {
        int j0 = b * BLOCK_COLS;
        gemm_cols(g, j0, g->n - j0 < BLOCK_COLS ? g->n - j0 : BLOCK_COLS);
    }
    return bench_now_s() - t0;
}

/* Values in [-1, 1), the same every run; as bf16 when half is set. */
static void *fill(size_t n, bool half, uint64_t seed) {
    void *p = malloc(n * (half ? 2 : 4));
    if (!p) bench_die("out of memory for the GEMM peak", NULL);
    uint64_t x = seed * 0x9E3779B97F4A7C15u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        float v = (float)(x >> 40) / (float)(1 << 23) - 1.0f;
        if (half) {
            uint32_t u;
            memcpy(&u, &v, 4);
            ((uint16_t *)p)[i] = (uint16_t)(u >> 16);
        } else {
            ((float *)p)[i] = v;
        }
    }
    return p;
}

static void update(gemm_peak *pk, int s, int m, int n, int k, double ob_gflops, double bl_gflops) {
    gemm_rate *rt = &pk->shapes[s];
    rt->m = m, rt->n = n, rt->k = k;
    if (ob_gflops > rt->openblas_gflops) rt->openblas_gflops = ob_gflops;
    if (bl_gflops > rt->blocks_gflops) rt->blocks_gflops = bl_gflops;
    if (rt->openblas_gflops > pk->gflops) pk->gflops = rt->openblas_gflops;
    if (rt->blocks_gflops > pk->gflops) pk->gflops = rt->blocks_gflops;
}

/* bf16 through bench/gemm_bf16.h, for an OpenBLAS without sbgemm. */
static void sample_own_bf16(gemm_peak *pk, const int (*shapes)[3], int n_shapes, int n_threads, int calls) {
    bool first = !pk->available;
    pk->available = pk->own_kernel = true;
    for (int s = 0; s < n_shapes; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        uint16_t *a = fill((size_t)m * (size_t)k, true, 1), *b = fill((size_t)n * (size_t)k, true, 2);
        uint16_t *packed = gemm_bf16_pack_b(b, n, k);
        float *c = malloc(sizeof(float) * (size_t)m * (size_t)n);
        if (!packed || !c) bench_die("out of memory for the GEMM peak", NULL);
        if (first) gemm_bf16(a, packed, c, m, n, k, n_threads);
        double best = 1e30;
        for (int r = 0; r < calls; r++) {
            double t0 = bench_now_s();
            gemm_bf16(a, packed, c, m, n, k, n_threads);
            double t = bench_now_s() - t0;
            if (t < best) best = t;
        }
        update(pk, s, m, n, k, 0.0, 2.0 * m * n * k / best / 1e9);
        free(a), free(b), free(packed), free(c);
    }
    pk->n_shapes = n_shapes;
}

void gemm_peak_sample(gemm_peak *pk, bool bf16, int n_threads, int calls) {
    static const int shapes[][3] = {{1024, 768, 768}, {1024, 3072, 768}, {1024, 768, 3072}, {2048, 2048, 2048}};
    enum { N_SHAPES = sizeof shapes / sizeof *shapes };
    _Static_assert(N_SHAPES <= GEMM_PEAK_MAX_SHAPES, "too many shapes");
    sbgemm_fn sb = NULL;
    if (bf16) {
        *(void **)&sb = dlsym(RTLD_DEFAULT, "cblas_sbgemm");
        if (!sb && gemm_bf16_supported()) sample_own_bf16(pk, shapes, N_SHAPES, n_threads, calls);
        if (!sb) return;
    }
    bool first = !pk->available;
    pk->available = true;
    int blas_threads = openblas_get_num_threads();
    for (int s = 0; s < N_SHAPES; s++) {
        gemm_job g = {.m = shapes[s][0], .n = shapes[s][1], .k = shapes[s][2], .sbgemm = sb};
        void *a = fill((size_t)g.m * (size_t)g.k, bf16, 1), *b = fill((size_t)g.n * (size_t)g.k, bf16, 2);
        g.a = a, g.b = b;
        g.c = malloc(sizeof(float) * (size_t)g.m * (size_t)g.n);
        if (!g.c) bench_die("out of memory for the GEMM peak", NULL);
        double flops = 2.0 * g.m * g.n * g.k, best_ob = 1e30, best_bl = 1e30;
        if (first) time_openblas(&g, n_threads), time_blocks(&g, n_threads); /* pools, page faults */
        for (int r = 0; r < calls; r++) {
            double t = time_openblas(&g, n_threads);
            if (t < best_ob) best_ob = t;
            t = time_blocks(&g, n_threads);
            if (t < best_bl) best_bl = t;
        }
        update(pk, s, g.m, g.n, g.k, flops / best_ob / 1e9, flops / best_bl / 1e9);
        free(a), free(b), free(g.c);
    }
    pk->n_shapes = N_SHAPES;
    openblas_set_num_threads(blas_threads);
}

const char *gemm_blas_config(void) {
    static char buf[320];
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, sizeof buf, "mmrt's GEMMs: oneDNN %d.%d.%d, %s; peak comparison: %s, core %s", v->major, v->minor,
             v->patch, mmrt_cpu_gemm_isa(), openblas_get_config(), openblas_get_corename());
    return buf;
}
