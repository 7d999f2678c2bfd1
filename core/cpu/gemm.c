#include "gemm.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <omp.h>
#include <pthread.h>

static dnnl_engine_t g_engine;
static dnnl_status_t g_engine_status = dnnl_runtime_error;

static void engine_init(void) { g_engine_status = dnnl_engine_create(&g_engine, dnnl_cpu, 0); }

static dnnl_engine_t engine(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, engine_init);
    return g_engine_status == dnnl_success ? g_engine : NULL;
}

const char *mmrt_cpu_gemm_isa(void) {
    return engine() ? dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()) : "unavailable";
}

/* The matmul primitive of one call: oneDNN caches the kernels of recent shapes, so building the
 * descriptor per call costs microseconds against the GEMM's milliseconds. */
typedef struct gemm_prim {
    dnnl_memory_desc_t a, b, c;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
} gemm_prim;

static dnnl_status_t prim_create(const mmrt_gemm *g, gemm_prim *p) {
    dnnl_data_type_t dt = g->type == MMRT_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t ad = {g->m, g->k}, bd = {g->k, g->n}, cd = {g->m, g->n};
    dnnl_dims_t as = {g->lda, 1}, cs = {g->ldc, 1};
    dnnl_dims_t bs = {1, g->ldb}; /* (n, k) rows: B(kk, j) at j·ldb + kk */
    if (!g->b_rows_n) bs[0] = g->ldb, bs[1] = 1;
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_strides(&p->a, 2, ad, dt, as)) ||
        (s = dnnl_memory_desc_init_by_strides(&p->b, 2, bd, dt, bs)) ||
        (s = dnnl_memory_desc_init_by_strides(&p->c, 2, cd, dnnl_f32, cs)))
        return s;
    dnnl_primitive_attr_t attr = NULL;
    if (g->alpha != 0.0f && g->alpha != 1.0f) {
        if ((s = dnnl_primitive_attr_create(&attr)) ||
            (s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &g->alpha))) {
            dnnl_primitive_attr_destroy(attr);
            return s;
        }
    }
    dnnl_matmul_desc_t md;
    s = dnnl_matmul_desc_init(&md, &p->a, &p->b, NULL, &p->c);
    if (!s) s = dnnl_primitive_desc_create(&p->pd, &md, attr, engine(), NULL);
    dnnl_primitive_attr_destroy(attr);
    if (s) return s;
    s = dnnl_primitive_create(&p->prim, p->pd);
    if (s) dnnl_primitive_desc_destroy(p->pd);
    return s;
}

static dnnl_status_t prim_run(const mmrt_gemm *g, gemm_prim *p) {
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL;
    dnnl_stream_t st = NULL;
    dnnl_status_t s;
    if (!(s = dnnl_memory_create(&ma, &p->a, engine(), (void *)g->a)) &&
        !(s = dnnl_memory_create(&mb, &p->b, engine(), (void *)g->b)) &&
        !(s = dnnl_memory_create(&mc, &p->c, engine(), g->c)) &&
        !(s = dnnl_stream_create(&st, engine(), dnnl_stream_default_flags))) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
        s = dnnl_primitive_execute(p->prim, st, 3, args);
        if (!s) s = dnnl_stream_wait(st);
    }
    dnnl_stream_destroy(st);
    dnnl_memory_destroy(ma);
    dnnl_memory_destroy(mb);
    dnnl_memory_destroy(mc);
    return s;
}

mmrt_status mmrt_cpu_gemm(const mmrt_gemm *g, int n_threads, mmrt_error *err) {
    if (g->m <= 0 || g->n <= 0) return MMRT_OK;
    if (g->k <= 0) { /* an empty sum */
        for (int64_t i = 0; i < g->m; i++)
            for (int64_t j = 0; j < g->n; j++) g->c[i * g->ldc + j] = 0.0f;
        return MMRT_OK;
    }
    if (!engine())
        return mmrt_error_set(err, MMRT_ERR_BACKEND, "oneDNN: cannot create a CPU engine (%s)",
                              dnnl_status2str(g_engine_status));
    /* oneDNN reads the calling thread's OpenMP thread count when it builds and runs the primitive */
    int saved = omp_get_max_threads();
    if (!omp_in_parallel()) omp_set_num_threads(n_threads > 0 ? n_threads : 1);
    gemm_prim p;
    dnnl_status_t s = prim_create(g, &p);
    if (!s) {
        s = prim_run(g, &p);
        dnnl_primitive_destroy(p.prim);
        dnnl_primitive_desc_destroy(p.pd);
    }
    if (!omp_in_parallel()) omp_set_num_threads(saved);
    if (s)
        return mmrt_error_set(err, MMRT_ERR_BACKEND, "oneDNN matmul (%lld x %lld x %lld, %s): %s",
                              (long long)g->m, (long long)g->n, (long long)g->k,
                              g->type == MMRT_BF16 ? "bf16" : "f32", dnnl_status2str(s));
    return MMRT_OK;
}
