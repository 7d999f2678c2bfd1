/* mmrt-bench: prefill and decode speed of a Llama-family checkpoint on the CPU backend, and how
 * close decoding comes to the bound that memory bandwidth puts on it.
 *
 *   mmrt-bench --model DIR [--threads N] [--prompt-tokens P] [--gen-tokens G] [--ctx N]
 *              [--reps R] [--profile] [--json]
 *
 * Decoding one token reads every weight once: mmrt_llm.weight_bytes, in the checkpoint's own
 * dtype (every layer matrix, the norms and lm_head; the embedding table only when it is lm_head).
 * So decoding can go no faster than read bandwidth / weight_bytes tokens per second. The
 * bandwidth is measured in the same run: a streaming read of a buffer of at least 1 GiB and 4×
 * the weights (far beyond any cache) on all cores, best of several passes. The figure of merit is
 * decode tok/s ÷ that bound.
 *
 * One rep = a prefill of P random token ids in one mmrt_llm_decode call, then G single-token
 * calls with greedy argmax on the returned logits, from an empty KV cache. A first rep warms up
 * (page faults on the mapped weights, thread pools) and is not counted; the best of R reps is
 * reported. The model runs before the bandwidth buffer exists, so peak RSS is the model's.
 *
 * --profile adds one more decode rep with every backend op timed (the CPU backend's compute entry
 * wrapped), per op kind and per weight shape, with the bandwidth each matmul achieved.
 */
#include "core/backend.h"
#include "core/cpu/simd.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "fusion/llama.h"
#include "fusion/llm_config.h"

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define GB 1e9
#define MIB (1024.0 * 1024.0)
#define BW_MIN_BYTES ((size_t)1 << 30)
#define BW_READ_PASSES 7
#define BW_COPY_PASSES 3

typedef struct options {
    const char *model;
    int n_threads;
    int64_t n_prompt, n_gen, n_ctx;
    int reps;
    bool profile, json;
} options;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static _Noreturn void die(const char *what, const mmrt_error *err) {
    fprintf(stderr, "mmrt-bench: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    exit(1);
}

/* ---- memory bandwidth ------------------------------------------------------------------- */

/* Sums n bytes as 64-bit integers (integers: no denormal or NaN slow paths whatever the bytes),
 * with enough independent accumulators that only the loads limit the speed. */
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
    return read_tail(p, i, n, (uint64_t)_mm512_reduce_add_epi64(a0));
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

static read_fn read_kernel(const char **name) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return *name = "avx512", read_avx512;
    if (__builtin_cpu_supports("avx2")) return *name = "avx2", read_avx2;
    return *name = "generic", read_generic;
}

static volatile uint64_t g_sink; /* keeps the sums alive */

/* A region to stream; each thread reads its 1/n_threads slice (page-aligned cuts). */
typedef struct region {
    const char *p;
    size_t n;
} region;

static void slice(size_t n, int t, int nt, size_t *b, size_t *e) {
    size_t chunk = (n / (size_t)nt) & ~(size_t)4095;
    *b = chunk * (size_t)t;
    *e = t == nt - 1 ? n : *b + chunk;
}

/* Best bytes/s of `passes` parallel streaming reads over all regions (no barrier between
 * regions: this is the memory side alone). */
static double bw_read(const region *r, int n_regions, int threads, int passes, read_fn fn) {
    size_t bytes = 0;
    for (int i = 0; i < n_regions; i++) bytes += r[i].n;
    double best = 1e30;
    for (int pass = 0; pass < passes; pass++) {
        uint64_t total = 0;
        double t0 = now_s();
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            for (int i = 0; i < n_regions; i++) {
                size_t b, e;
                slice(r[i].n, t, nt, &b, &e);
                total += fn(r[i].p + b, e - b);
            }
        }
        double dt = now_s() - t0;
        g_sink += total;
        if (dt < best) best = dt;
    }
    return (double)bytes / best;
}

/* Best bytes copied per second (each byte is read once and written once) of a parallel memcpy. */
static double bw_copy(char *dst, const char *src, size_t n, int threads, int passes) {
    double best = 1e30;
    for (int pass = 0; pass < passes; pass++) {
        double t0 = now_s();
#pragma omp parallel num_threads(threads)
        {
            size_t b, e;
            slice(n, omp_get_thread_num(), omp_get_num_threads(), &b, &e);
            memcpy(dst + b, src + b, e - b);
        }
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    return (double)n / best;
}

typedef struct bandwidth {
    const char *kernel;
    size_t buf_bytes;
    int all_threads;
    double read_all;     /* bytes/s, all cores: the bound's denominator */
    double read_bench;   /* bytes/s, the benchmark's thread count */
    double copy_all;     /* bytes copied/s, all cores */
    double weights_read; /* bytes/s reading the mapped weights themselves, benchmark threads */
} bandwidth;

/* The matrices and norms one decoded token reads, as regions of the mapped checkpoint. */
static int weight_regions(const mmrt_llm *m, region *out) {
    int n = 0;
#define ADD(t) (out[n++] = (region){(const char *)(t).data, mmrt_tensor_nbytes(&(t))})
    for (int64_t i = 0; i < m->hp.n_layer; i++) {
        const mmrt_llm_layer *l = &m->layers[i];
        ADD(l->attn_norm), ADD(l->wq), ADD(l->wk), ADD(l->wv), ADD(l->wo);
        ADD(l->ffn_norm), ADD(l->w_gate), ADD(l->w_up), ADD(l->w_down);
    }
    ADD(m->out_norm), ADD(m->lm_head);
#undef ADD
    return n;
}

static void measure_bandwidth(const mmrt_llm *m, int bench_threads, bandwidth *bw) {
    read_fn fn = read_kernel(&bw->kernel);
    bw->all_threads = omp_get_num_procs();
    size_t n = 4 * m->weight_bytes > BW_MIN_BYTES ? 4 * m->weight_bytes : BW_MIN_BYTES;
    n = (n + 4095) & ~(size_t)4095;
    bw->buf_bytes = n;
    char *buf = aligned_alloc(4096, n);
    if (!buf) die("no memory for the bandwidth buffer", NULL);
    /* first touch on the threads that read it; every byte distinct from zero pages */
#pragma omp parallel num_threads(bw->all_threads)
    {
        size_t b, e;
        slice(n, omp_get_thread_num(), omp_get_num_threads(), &b, &e);
        for (size_t i = b; i < e; i++) buf[i] = (char)(i * 131u >> 3);
    }
    region whole = {buf, n};
    bw->read_all = bw_read(&whole, 1, bw->all_threads, BW_READ_PASSES, fn);
    bw->read_bench = bench_threads == bw->all_threads
                         ? bw->read_all
                         : bw_read(&whole, 1, bench_threads, BW_READ_PASSES, fn);
    bw->copy_all = bw_copy(buf + n / 2, buf, n / 2, bw->all_threads, BW_COPY_PASSES);
    free(buf);

    region *r = malloc(sizeof *r * (size_t)(9 * m->hp.n_layer + 2));
    if (!r) die("out of memory", NULL);
    int nr = weight_regions(m, r);
    bw->weights_read = bw_read(r, nr, bench_threads, BW_READ_PASSES, fn);
    free(r);
}

/* ---- other load on the machine ------------------------------------------------------- */

/* CPU seconds the whole machine spent busy (steal included: a hypervisor running other guests
 * takes the same cores), from /proc/stat; -1 when unreadable. */
static double machine_busy_s(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 8) return -1;
    /* user nice system idle iowait irq softirq steal */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / 100.0; /* USER_HZ */
}

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Cores' worth of CPU that other processes (and other guests) used between two snapshots: a
 * benchmark on a shared machine is only as good as this number is small. */
typedef struct load_snap {
    double wall, busy, self;
} load_snap;

static load_snap load_now(void) { return (load_snap){now_s(), machine_busy_s(), self_cpu_s()}; }

static double load_others(load_snap a, load_snap b) {
    if (a.busy < 0 || b.busy < 0 || b.wall <= a.wall) return -1;
    double others = (b.busy - a.busy) - (b.self - a.self);
    return others > 0 ? others / (b.wall - a.wall) : 0;
}

/* ---- per-op profile --------------------------------------------------------------------- */

#define PROF_MAX_SHAPES 12

typedef struct prof_shape {
    int64_t rows, cols; /* weight (rows, cols) */
    char label[64];
    double s, bytes;
    int64_t calls;
} prof_shape;

static struct {
    const mmrt_backend_i *inner;
    mmrt_backend_i iface; /* inner with compute wrapped */
    double op_s[MMRT_OP_COUNT];
    int64_t op_calls[MMRT_OP_COUNT];
    prof_shape mm[PROF_MAX_SHAPES];
    int n_mm;
    bool on; /* recording: set for the decode steps only */
} g_prof;

static prof_shape *prof_find(int64_t rows, int64_t cols) {
    for (int i = 0; i < g_prof.n_mm; i++)
        if (g_prof.mm[i].rows == rows && g_prof.mm[i].cols == cols) return &g_prof.mm[i];
    return NULL;
}

static void prof_name(const mmrt_tensor *w, const char *name) {
    prof_shape *p = prof_find(w->ne[1], w->ne[0]);
    if (!p) {
        if (g_prof.n_mm == PROF_MAX_SHAPES) return;
        p = &g_prof.mm[g_prof.n_mm++];
        p->rows = w->ne[1];
        p->cols = w->ne[0];
    }
    size_t len = strlen(p->label);
    snprintf(p->label + len, sizeof p->label - len, "%s%s", len ? " " : "", name);
}

static mmrt_status prof_compute(mmrt_backend *be, const mmrt_op *op, mmrt_error *err) {
    double t0 = now_s();
    mmrt_status st = g_prof.inner->compute(be, op, err);
    double dt = now_s() - t0;
    if (!g_prof.on) return st;
    const mmrt_tensor *w = op->src[1];
    prof_shape *p = op->kind == MMRT_OP_MATMUL ? prof_find(w->ne[1], w->ne[0]) : NULL;
    if (p) {
        p->s += dt;
        p->bytes += (double)mmrt_tensor_nbytes(w);
        p->calls++;
    } else {
        g_prof.op_s[op->kind] += dt;
        g_prof.op_calls[op->kind]++;
    }
    return st;
}

static void prof_install(mmrt_backend *be, const mmrt_llm *m) {
    const mmrt_llm_layer *l = &m->layers[0];
    prof_name(&l->wq, "q_proj"), prof_name(&l->wk, "k_proj"), prof_name(&l->wv, "v_proj");
    prof_name(&l->wo, "o_proj"), prof_name(&l->w_gate, "gate_proj"), prof_name(&l->w_up, "up_proj");
    prof_name(&l->w_down, "down_proj"), prof_name(&m->lm_head, "lm_head");
    g_prof.inner = be->iface;
    g_prof.iface = *be->iface;
    g_prof.iface.compute = prof_compute;
    be->iface = &g_prof.iface;
}

static void prof_remove(mmrt_backend *be) { be->iface = g_prof.inner; }

/* ---- the model -------------------------------------------------------------------------- */

typedef struct bench_model {
    mmrt_llm_hparams hp;
    mmrt_weights *w;
    mmrt_llm llm;
    double load_s;
} bench_model;

static void load_json(const char *dir, const char *name, cJSON **out, char *path, size_t n_path) {
    mmrt_error err = {0};
    snprintf(path, n_path, "%s/%s", dir, name);
    if (mmrt_json_load_file(path, out, &err) != MMRT_OK) die("loading the model", &err);
}

static void model_open(const char *dir, bench_model *m) {
    double t0 = now_s();
    mmrt_error err = {0};
    char path[4200];
    cJSON *cfg = NULL, *gen = NULL;
    load_json(dir, "config.json", &cfg, path, sizeof path);
    if (mmrt_llm_hparams_parse(cfg, path, &m->hp, &err) != MMRT_OK) die("config", &err);
    cJSON_Delete(cfg);
    load_json(dir, "generation_config.json", &gen, path, sizeof path);
    if (mmrt_llm_hparams_apply_generation_config(&m->hp, gen, path, &err) != MMRT_OK)
        die("generation config", &err);
    cJSON_Delete(gen);
    if (mmrt_weights_open(dir, &m->w, &err) != MMRT_OK) die("weights", &err);
    if (mmrt_llm_init(&m->llm, &m->hp, m->w, "model.", &err) != MMRT_OK) die("weights", &err);
    m->load_s = now_s() - t0;
}

static int32_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

typedef struct rep_time {
    double prefill_s, decode_s;
} rep_time;

/* One rep from an empty cache: prefill n_prompt ids, then n_gen greedy single-token steps. */
static rep_time run_rep(const bench_model *m, mmrt_llm_state *s, const int32_t *prompt,
                        int64_t n_prompt, int64_t n_gen, float *logits, bool profile) {
    mmrt_error err = {0};
    rep_time r;
    s->n_past = 0; /* the cache rows are overwritten; nothing else depends on old contents */
    mmrt_llm_batch b = {.ids = prompt, .n_tok = n_prompt, .logits = logits};
    double t0 = now_s();
    if (mmrt_llm_decode(&m->llm, s, &b, &err) != MMRT_OK) die("prefill", &err);
    double t1 = now_s();
    int32_t tok = argmax(logits, m->hp.n_vocab);
    g_prof.on = profile;
    for (int64_t i = 0; i < n_gen; i++) {
        mmrt_llm_batch next = {.ids = &tok, .n_tok = 1, .logits = logits};
        if (mmrt_llm_decode(&m->llm, s, &next, &err) != MMRT_OK) die("decode", &err);
        tok = argmax(logits, m->hp.n_vocab);
    }
    r.prefill_s = t1 - t0;
    r.decode_s = now_s() - t1;
    g_prof.on = false;
    return r;
}

/* ---- report ----------------------------------------------------------------------------- */

typedef struct results {
    char cpu[128];
    const char *simd;
    bool has_bf16;
    int64_t n_ctx;
    double prefill_best, prefill_mean; /* tok/s */
    double decode_best, decode_mean;   /* tok/s */
    double peak_rss_mib;
    double profile_decode_s; /* total wall time of the profiled decode steps */
    double others_cores;     /* CPU used by other processes during the timed reps, in cores */
    bandwidth bw;
} results;

static void cpu_name(char *out, size_t n) {
    snprintf(out, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 1 + (colon[1] == ' ');
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(out, n, "%s", colon);
            break;
        }
    }
    fclose(f);
}

static void print_profile_text(const options *o, const results *r) {
    double total = 0;
    for (int i = 0; i < g_prof.n_mm; i++) total += g_prof.mm[i].s;
    for (int k = 0; k < MMRT_OP_COUNT; k++) total += g_prof.op_s[k];
    double per = 1e3 / (double)o->n_gen; /* ms per token */
    printf("\n  profile (one more decode rep, %lld tokens; ms/token, share of op time)\n",
           (long long)o->n_gen);
    for (int i = 0; i < g_prof.n_mm; i++) {
        const prof_shape *p = &g_prof.mm[i];
        printf("    matmul %-26s %5lldx%-5lld %7.3f ms %5.1f %%  %6.1f GB/s\n", p->label,
               (long long)p->rows, (long long)p->cols, p->s * per, 100 * p->s / total,
               p->s > 0 ? p->bytes / p->s / GB : 0.0);
    }
    for (int k = 0; k < MMRT_OP_COUNT; k++)
        if (g_prof.op_calls[k])
            printf("    %-39s %7.3f ms %5.1f %%  (%lld calls/token)\n", mmrt_op_name((mmrt_op_kind)k),
                   g_prof.op_s[k] * per, 100 * g_prof.op_s[k] / total,
                   (long long)(g_prof.op_calls[k] / o->n_gen));
    printf("    %-39s %7.3f ms          (argmax on the host, dispatch, arena, timers)\n",
           "outside ops", (r->profile_decode_s - total) * per);
    printf("    %-39s %7.3f ms\n", "decode step (profiled)", r->profile_decode_s * per);
}

static void print_text(const options *o, const bench_model *m, const results *r) {
    double wb = (double)m->llm.weight_bytes;
    double bound = r->bw.read_all / wb;
    printf("mmrt-bench  %s\n", o->model);
    printf("  cpu                %s, %d cores; SIMD %s, avx512_bf16 %s\n", r->cpu,
           r->bw.all_threads, r->simd, r->has_bf16 ? "yes" : "no");
    printf("  model              %s, %lld layers, n_embd %lld, n_ff %lld, vocab %lld, %s; loaded in %.2f s\n",
           m->hp.model_type, (long long)m->hp.n_layer, (long long)m->hp.n_embd,
           (long long)m->hp.n_ff, (long long)m->hp.n_vocab, mmrt_dtype_name(m->llm.layers[0].wq.type),
           m->load_s);
    printf("  run                %d threads, prompt %lld, gen %lld, ctx %lld, best of %d reps\n\n",
           o->n_threads, (long long)o->n_prompt, (long long)o->n_gen, (long long)r->n_ctx, o->reps);
    printf("  prefill            %9.1f tok/s    (mean %.1f)\n", r->prefill_best, r->prefill_mean);
    printf("  decode             %9.1f tok/s    (mean %.1f)\n", r->decode_best, r->decode_mean);
    printf("  decode latency     %9.2f ms/token\n", 1e3 / r->decode_best);
    printf("  weight bytes/token %9.1f MB\n", wb / 1e6);
    printf("  read bandwidth     %9.1f GB/s     (%d threads, %s loads, %.0f MiB buffer", r->bw.read_all / GB,
           r->bw.all_threads, r->bw.kernel, (double)r->bw.buf_bytes / MIB);
    if (o->n_threads != r->bw.all_threads)
        printf("; %d threads: %.1f GB/s", o->n_threads, r->bw.read_bench / GB);
    printf(")\n");
    printf("  memcpy             %9.1f GB/s     (bytes copied, %d threads)\n", r->bw.copy_all / GB,
           r->bw.all_threads);
    printf("  weights read       %9.1f GB/s     (the mapped weights, %d threads)\n",
           r->bw.weights_read / GB, o->n_threads);
    printf("  decode bound       %9.1f tok/s    (read bandwidth / weight bytes)\n", bound);
    printf("  fraction of bound  %9.1f %%        (target >= 60 %%)\n", 100 * r->decode_best / bound);
    printf("  peak RSS           %9.1f MiB\n", r->peak_rss_mib);
    if (r->others_cores >= 0)
        printf("  other load         %9.2f cores    (other processes during the timed reps%s)\n",
               r->others_cores,
               r->others_cores > 0.1 * r->bw.all_threads ? "; figures are disturbed, rerun on an idle machine" : "");
    if (o->profile) print_profile_text(o, r);
}

static void print_json(const options *o, const bench_model *m, const results *r) {
    double wb = (double)m->llm.weight_bytes, bound = r->bw.read_all / wb;
    printf("{\n  \"model\": \"%s\",\n  \"cpu\": \"%s\",\n  \"cores\": %d,\n", o->model, r->cpu,
           r->bw.all_threads);
    printf("  \"simd\": \"%s\",\n  \"avx512_bf16\": %s,\n  \"threads\": %d,\n", r->simd,
           r->has_bf16 ? "true" : "false", o->n_threads);
    printf("  \"prompt_tokens\": %lld,\n  \"gen_tokens\": %lld,\n  \"ctx\": %lld,\n  \"reps\": %d,\n",
           (long long)o->n_prompt, (long long)o->n_gen, (long long)r->n_ctx, o->reps);
    printf("  \"prefill_tok_s\": %.2f,\n  \"prefill_tok_s_mean\": %.2f,\n", r->prefill_best,
           r->prefill_mean);
    printf("  \"decode_tok_s\": %.2f,\n  \"decode_tok_s_mean\": %.2f,\n  \"decode_ms_per_token\": %.3f,\n",
           r->decode_best, r->decode_mean, 1e3 / r->decode_best);
    printf("  \"weight_bytes_per_token\": %zu,\n", m->llm.weight_bytes);
    printf("  \"read_bw_gb_s\": %.2f,\n  \"read_bw_gb_s_bench_threads\": %.2f,\n", r->bw.read_all / GB,
           r->bw.read_bench / GB);
    printf("  \"memcpy_gb_s\": %.2f,\n  \"weights_read_gb_s\": %.2f,\n", r->bw.copy_all / GB,
           r->bw.weights_read / GB);
    printf("  \"bound_tok_s\": %.2f,\n  \"fraction_of_bound\": %.4f,\n", bound, r->decode_best / bound);
    printf("  \"peak_rss_mib\": %.1f,\n  \"other_load_cores\": %.2f", r->peak_rss_mib, r->others_cores);
    if (o->profile) {
        double per = 1e3 / (double)o->n_gen;
        printf(",\n  \"profile_ms_per_token\": {");
        const char *sep = "\n";
        for (int i = 0; i < g_prof.n_mm; i++) {
            printf("%s    \"matmul %s\": {\"ms\": %.4f, \"gb_s\": %.2f}", sep, g_prof.mm[i].label,
                   g_prof.mm[i].s * per, g_prof.mm[i].s > 0 ? g_prof.mm[i].bytes / g_prof.mm[i].s / GB : 0.0);
            sep = ",\n";
        }
        for (int k = 0; k < MMRT_OP_COUNT; k++)
            if (g_prof.op_calls[k]) {
                printf("%s    \"%s\": {\"ms\": %.4f}", sep, mmrt_op_name((mmrt_op_kind)k), g_prof.op_s[k] * per);
                sep = ",\n";
            }
        printf("\n  }");
    }
    printf("\n}\n");
}

/* ---- main ------------------------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmrt-bench --model DIR [--threads N] [--prompt-tokens P] [--gen-tokens G]\n"
            "                  [--ctx N] [--reps R] [--profile] [--json]\n"
            "  --threads N        CPU threads (default: all cores)\n"
            "  --prompt-tokens P  prefill length (default 128)\n"
            "  --gen-tokens G     decoded tokens per rep (default 64)\n"
            "  --ctx N            KV cache rows (default P + G)\n"
            "  --reps R           timed reps after one warm-up rep (default 3)\n"
            "  --profile          time every backend op of one more decode rep\n"
            "  --json             print the results as JSON\n");
}

static int64_t int_arg(int argc, char **argv, int *i, int64_t min) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "mmrt-bench: %s needs a value\n", argv[*i]);
        exit(2);
    }
    char *end;
    long long v = strtoll(argv[++*i], &end, 10);
    if (*end || v < min) {
        fprintf(stderr, "mmrt-bench: %s: expected an integer >= %lld, got \"%s\"\n", argv[*i - 1],
                (long long)min, argv[*i]);
        exit(2);
    }
    return v;
}

static options parse_args(int argc, char **argv) {
    options o = {.n_threads = omp_get_num_procs(), .n_prompt = 128, .n_gen = 64, .reps = 3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--model") == 0 && i + 1 < argc) o.model = argv[++i];
        else if (strcmp(a, "--threads") == 0) o.n_threads = (int)int_arg(argc, argv, &i, 1);
        else if (strcmp(a, "--prompt-tokens") == 0) o.n_prompt = int_arg(argc, argv, &i, 1);
        else if (strcmp(a, "--gen-tokens") == 0) o.n_gen = int_arg(argc, argv, &i, 1);
        else if (strcmp(a, "--ctx") == 0) o.n_ctx = int_arg(argc, argv, &i, 1);
        else if (strcmp(a, "--reps") == 0) o.reps = (int)int_arg(argc, argv, &i, 1);
        else if (strcmp(a, "--profile") == 0) o.profile = true;
        else if (strcmp(a, "--json") == 0) o.json = true;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) usage(stdout), exit(0);
        else {
            fprintf(stderr, "mmrt-bench: unknown or incomplete argument \"%s\"\n", a);
            usage(stderr);
            exit(2);
        }
    }
    if (!o.model) {
        usage(stderr);
        exit(2);
    }
    if (o.n_ctx == 0) o.n_ctx = o.n_prompt + o.n_gen;
    if (o.n_ctx < o.n_prompt + o.n_gen) {
        fprintf(stderr, "mmrt-bench: --ctx %lld is smaller than prompt + gen tokens (%lld)\n",
                (long long)o.n_ctx, (long long)(o.n_prompt + o.n_gen));
        exit(2);
    }
    return o;
}

int main(int argc, char **argv) {
    options o = parse_args(argc, argv);
    results r = {0};
    cpu_name(r.cpu, sizeof r.cpu);
    mmrt_simd_detect(&r.has_bf16);
    r.simd = mmrt_simd_level_name(mmrt_simd_level_get());
    r.n_ctx = o.n_ctx;

    bench_model m;
    model_open(o.model, &m);
    mmrt_error err = {0};
    mmrt_backend *be = NULL;
    mmrt_backend_params bp = {.device = MMRT_DEVICE_CPU, .n_threads = o.n_threads};
    if (mmrt_backend_init(&bp, &be, &err) != MMRT_OK) die("backend", &err);
    mmrt_llm_state st;
    if (mmrt_llm_state_init(&st, &m.llm, be, o.n_ctx, 0, &err) != MMRT_OK) die("state", &err);

    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)o.n_prompt);
    float *logits = malloc(sizeof(float) * (size_t)m.hp.n_vocab);
    if (!prompt || !logits) die("out of memory", NULL);
    uint64_t x = 0x9E3779B97F4A7C15u; /* xorshift64: the same prompt every run */
    for (int64_t i = 0; i < o.n_prompt; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        prompt[i] = (int32_t)(x % (uint64_t)m.hp.n_vocab);
    }

    run_rep(&m, &st, prompt, o.n_prompt, o.n_gen, logits, false); /* warm-up */
    double pf_sum = 0, dc_sum = 0;
    load_snap l0 = load_now();
    for (int i = 0; i < o.reps; i++) {
        rep_time t = run_rep(&m, &st, prompt, o.n_prompt, o.n_gen, logits, false);
        double pf = (double)o.n_prompt / t.prefill_s, dc = (double)o.n_gen / t.decode_s;
        pf_sum += pf, dc_sum += dc;
        if (pf > r.prefill_best) r.prefill_best = pf;
        if (dc > r.decode_best) r.decode_best = dc;
    }
    r.others_cores = load_others(l0, load_now());
    r.prefill_mean = pf_sum / o.reps;
    r.decode_mean = dc_sum / o.reps;
    if (o.profile) {
        prof_install(be, &m.llm);
        r.profile_decode_s = run_rep(&m, &st, prompt, o.n_prompt, o.n_gen, logits, true).decode_s;
        prof_remove(be);
    }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r.peak_rss_mib = (double)ru.ru_maxrss * 1024.0 / MIB; /* ru_maxrss is in KiB on Linux */

    measure_bandwidth(&m.llm, o.n_threads, &r.bw);

    if (o.json) print_json(&o, &m, &r);
    else print_text(&o, &m, &r);

    free(prompt);
    free(logits);
    mmrt_llm_state_free(&st);
    mmrt_backend_free(be);
    mmrt_llm_free(&m.llm);
    mmrt_weights_free(m.w);
    return 0;
}
