/* mmrt-quant-decode-bench: decode's matrix-vector products on SmolLM2-135M-shaped weights in bf16
 * and in the block formats, through the CPU backend, against the speed of reading the same bytes.
 *
 *     build/.../bench/mmrt-quant-decode-bench [--threads N] [--tokens T] [--types bf16,q8_0,q4_0,q4_k]
 *                                             [--embd E]
 *
 * One "token" is the 7 linear layers of each of the 30 layers (q, k, v, o: E → E / E/3; gate,
 * up: E → 1536; down: 1536 → E; E = 576 as in SmolLM2-135M), m = 1, then the (tied) lm_head
 * E → 49152, each an
 * mmrt_matmul on one backend: the bf16 mode for bf16 weights (the dot kernels), the int8 mode for
 * the block formats (8-bit activations, integer dots). Attention, norms and the rest of a decode
 * step are left out: this measures the matvec loop that bounds decode, OpenMP regions included
 * (211 per token). Weights are random (values do not change the speed), quantized by
 * mmrt_quantize_row as `--quant` does; like `--quant`, a matrix whose rows are not a multiple of
 * the format's block stays bf16 (SmolLM2-135M's 576 is not one of Q4_K's 256: only down_proj is
 * Q4_K there; --embd 768 makes every matrix Q4_K).
 *
 * Per format it prints the weight bytes per token, the best time per token over the passes, the
 * weight GB/s that makes, and the bound: a plain parallel read (bench/membw.h) of the same
 * buffers on the same threads, best of the passes, interleaved with the matvec passes so both
 * see the same machine load; plus the read bandwidth of a 1 GiB buffer (DRAM). Prints timings
 * only; no test depends on it.
 */
#include "core/backend.h"
#include "core/clock.h"
#include "core/ops.h"
#include "core/quant.h"
#include "membw.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_LAYER 30
#define N_FF 1536
#define N_VOCAB 49152
#define N_MATS (7 * N_LAYER + 1) /* the last one: lm_head */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* (rows, k) of matrix i in the order a token reads them, for a model width of e. */
static void mat_shape(int i, int64_t e, int64_t *rows, int64_t *k) {
    const int64_t shapes[7][2] = {{e, e}, {e / 3, e}, {e / 3, e}, {e, e}, {N_FF, e}, {N_FF, e}, {e, N_FF}};
    if (i == N_MATS - 1) {
        *rows = N_VOCAB, *k = e;
        return;
    }
    *rows = shapes[i % 7][0], *k = shapes[i % 7][1];
}

/* Random weights like bench/make_smollm2_135m.py's (|w| 0.002 .. 0.031, random sign) as type t:
 * bf16, or quantized row by row from those values. */
static void *make_matrix(mmrt_dtype t, int64_t rows, int64_t k, uint64_t seed, size_t *n_bytes) {
    size_t row_bytes = mmrt_dtype_row_bytes(t, k);
    *n_bytes = row_bytes * (size_t)rows;
    char *m = aligned_alloc(64, (*n_bytes + 63) & ~(size_t)63);
    if (!m) return NULL;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float *f = malloc(sizeof(float) * (size_t)k);
        uint64_t s = seed * 0x9e3779b97f4a7c15ull + (uint64_t)r * 7919u + 1;
        for (int64_t j = 0; j < k; j++) {
            uint64_t v = rng_next(&s);
            float mag = 0.002f + 0.029f * (float)(v >> 40) / (float)(1u << 24);
            f[j] = (v & 1) ? -mag : mag;
        }
        char *dst = m + (size_t)r * row_bytes;
        if (t == MMRT_BF16)
            for (int64_t j = 0; j < k; j++) ((uint16_t *)dst)[j] = mmrt_f32_to_bf16(f[j]);
        else
            mmrt_quantize_row((mmrt_qtype)mmrt_dtype_qtype(t), f, dst, k, NULL);
        free(f);
    }
    return m;
}

typedef struct bench_fmt {
    mmrt_tensor w[N_MATS];
    membw_region regions[N_MATS];
    size_t bytes_layers, bytes_head;
} bench_fmt;

/* Seconds for one token's products (layers and lm_head apart); x and y hold ≥ N_VOCAB floats. */
static int token_pass(mmrt_backend *be, const bench_fmt *f, float *x, float *y, double *s_layers,
                      double *s_head) {
    double t0 = mmrt_now_ms(), t1 = t0;
    for (int i = 0; i < N_MATS; i++) {
        if (i == N_MATS - 1) t1 = mmrt_now_ms();
        mmrt_tensor xt = mmrt_tensor_2d(MMRT_F32, x, f->w[i].ne[0], 1);
        mmrt_tensor yt = mmrt_tensor_2d(MMRT_F32, y, f->w[i].ne[1], 1);
        mmrt_error err = {0};
        if (mmrt_matmul(be, &yt, &xt, &f->w[i], &err) != MMRT_OK) {
            fprintf(stderr, "matmul %d: %s\n", i, err.msg);
            return -1;
        }
    }
    double t2 = mmrt_now_ms();
    *s_layers = (t1 - t0) / 1e3;
    *s_head = (t2 - t1) / 1e3;
    return 0;
}

static int run_format(mmrt_dtype t, int64_t embd, int threads, int tokens, double dram_gbs) {
    bench_fmt f = {0};
    for (int i = 0; i < N_MATS; i++) {
        int64_t rows, k;
        size_t n;
        mat_shape(i, embd, &rows, &k);
        mmrt_dtype ti = k % mmrt_dtype_block(t) ? MMRT_BF16 : t; /* ragged rows stay bf16 */
        void *p = make_matrix(ti, rows, k, 1000 + (uint64_t)i, &n);
        if (!p) return -1;
        f.w[i] = mmrt_tensor_2d(ti, p, k, rows);
        f.regions[i] = (membw_region){p, n};
        if (i == N_MATS - 1) f.bytes_head = n;
        else f.bytes_layers += n;
    }
    mmrt_backend_params bp = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = threads,
                              .math = t == MMRT_BF16 ? MMRT_MATH_BF16 : MMRT_MATH_INT8};
    mmrt_backend *be = NULL;
    float *x = malloc(sizeof(float) * N_VOCAB), *y = malloc(sizeof(float) * N_VOCAB);
    if (mmrt_backend_init(&bp, &be, NULL) != MMRT_OK || !x || !y) return -1;
    uint64_t s = 42;
    for (int j = 0; j < N_VOCAB; j++) x[j] = (float)(rng_next(&s) % 2001) / 1000.0f - 1.0f;
    double best_l = 1e30, best_h = 1e30, best_read_l = 1e30, best_read_h = 1e30;
    for (int p = -2; p < tokens; p++) { /* two warm-up tokens */
        double sl, sh;
        if (token_pass(be, &f, x, y, &sl, &sh) != 0) return -1;
        double rl = membw_read_pass(f.regions, N_MATS - 1, threads);
        double rh = membw_read_pass(f.regions + N_MATS - 1, 1, threads);
        if (p < 0) continue;
        if (sl < best_l) best_l = sl;
        if (sh < best_h) best_h = sh;
        if (rl < best_read_l) best_read_l = rl;
        if (rh < best_read_h) best_read_h = rh;
    }
    double gl = (double)f.bytes_layers / best_l / 1e9, gh = (double)f.bytes_head / best_h / 1e9;
    double rl = (double)f.bytes_layers / best_read_l / 1e9, rh = (double)f.bytes_head / best_read_h / 1e9;
    printf("%-5s %8.1f %8.2f %7.1f %7.1f %5.0f%% %5.0f%% | %7.1f %7.2f %7.1f %7.1f %5.0f%% | %7.1f\n",
           mmrt_dtype_name(t), (double)f.bytes_layers / 1e6, best_l * 1e3, gl, rl, 100 * gl / rl,
           100 * gl / dram_gbs, (double)f.bytes_head / 1e6, best_h * 1e3, gh, rh, 100 * gh / rh,
           1.0 / (best_l + best_h));
    mmrt_backend_free(be);
    for (int i = 0; i < N_MATS; i++) free(f.w[i].data);
    free(x);
    free(y);
    return 0;
}

/* Read GB/s of a 1 GiB buffer (far beyond any cache) on `threads` threads, best of 5. */
static double dram_read_gbs(int threads) {
    size_t n = (size_t)1 << 30;
    char *p = aligned_alloc(64, n);
    if (!p) return 0.0;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i += 4096) memset(p + i, (int)(i >> 12), 4096);
    membw_region r = {p, n};
    double best = 1e30;
    for (int i = 0; i < 5; i++) {
        double s = membw_read_pass(&r, 1, threads);
        if (s < best) best = s;
    }
    free(p);
    return (double)n / best / 1e9;
}

int main(int argc, char **argv) {
    int threads = omp_get_num_procs(), tokens = 20;
    int64_t embd = 576;
    const char *types = "bf16,q8_0,q4_0,q4_k";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--tokens") == 0) tokens = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--types") == 0) types = argv[i + 1];
        else if (strcmp(argv[i], "--embd") == 0) embd = atoll(argv[i + 1]);
    }
    if (threads < 1 || tokens < 1 || embd < 96 || embd % 96) {
        fprintf(stderr, "usage: %s [--threads N] [--tokens T] [--types bf16,q8_0,q4_0,q4_k] [--embd E (a multiple of 96)]\n",
                argv[0]);
        return 2;
    }
    double dram = dram_read_gbs(threads);
    printf("SmolLM2-135M-shaped decode matvecs (width %lld; 210 layer matmuls + lm_head, m = 1), %d threads, "
           "best of %d tokens;\nread = a plain read of the same buffers (%s loads); DRAM read bandwidth (1 GiB): "
           "%.1f GB/s\n", (long long)embd, threads, tokens, membw_kernel_name(), dram);
    printf("%-5s %8s %8s %7s %7s %6s %6s | %7s %7s %7s %7s %6s | %7s\n", "type", "layer MB", "ms", "GB/s",
           "read", "/read", "/DRAM", "head MB", "ms", "GB/s", "read", "/read", "tok/s");
    static const struct { const char *name; mmrt_dtype t; } all[] = {
        {"bf16", MMRT_BF16}, {"q8_0", MMRT_Q8_0}, {"q4_0", MMRT_Q4_0}, {"q4_k", MMRT_Q4_K}};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (strstr(types, all[i].name) && run_format(all[i].t, embd, threads, tokens, dram) != 0) return 1;
    return 0;
}
