/* The CPU backend's bf16 arithmetic mode (MMRT_MATH_BF16): MATMUL and ATTENTION round their inputs
 * to bf16 and sum in f32. Judged as every reduced-precision kernel is (compare.h): against the fp64
 * oracle on the unrounded inputs, the error may be at most twice that of the oracle computing
 * with the rounded inputs ("plain"). And the mode must really round: the fast result must sit
 * closer to plain than to the exact result, or an f32 computation would pass. Both the
 * decode (per-key, dot kernel) and prefill (oneDNN GEMM) paths, every SIMD level, 1-3 threads. */
#include "core/backend.h"
#include "core/cpu/simd.h"
#include "core/ops.h"
#include "helpers/backend_test.h"
#include "helpers/compare.h"
#include "helpers/op_runs.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* Runs fn on the f32 oracle (ref), the bf16 oracle (plain) and the fast bf16 backend at every
 * SIMD level and thread count (got), and checks got against both. */
static void check_bf16(const char *what, op_run_fn fn, void *args, int64_t n, double max_to_plain) {
    float *ref = calloc((size_t)n, sizeof(float)), *plain = calloc((size_t)n, sizeof(float));
    float *got = calloc((size_t)n, sizeof(float));
    cr_assert(ref && plain && got);
    mmrt_backend *be = test_cpu_backend(1, true, MMRT_MATH_F32);
    cr_assert_eq(fn(be, args, ref), MMRT_OK, "%s: f32 oracle failed", what);
    mmrt_backend_free(be);
    be = test_cpu_backend(1, true, MMRT_MATH_BF16);
    cr_assert_eq(fn(be, args, plain), MMRT_OK, "%s: bf16 oracle failed", what);
    mmrt_backend_free(be);
    double err_plain = max_abs_diff(plain, ref, n);
    cr_assert_gt(err_plain, 0.0, "%s: rounding the inputs to bf16 changed nothing: a useless case", what);
    static const int threads[] = {1, 2, 3};
    for (int level = MMRT_SIMD_GENERIC; level <= MMRT_SIMD_AVX512; level++) {
        mmrt_simd_force((mmrt_simd_level)level);
        if ((int)mmrt_simd_level_get() != level) continue; /* the CPU lacks it */
        for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
            be = test_cpu_backend(threads[t], false, MMRT_MATH_BF16);
            memset(got, 0xff, sizeof(float) * (size_t)n); /* NaN: catches unwritten outputs */
            cr_assert_eq(fn(be, args, got), MMRT_OK, "%s: op failed", what);
            mmrt_backend_free(be);
            char label[256];
            snprintf(label, sizeof label, "%s [bf16, %s, %d threads]", what,
                     mmrt_simd_level_name((mmrt_simd_level)level), threads[t]);
            cr_assert(mmrt_test_close_to_plain(label, got, ref, plain, n), "%s: error above 2x plain's", label);
            double to_plain = max_abs_diff(got, plain, n);
            cr_assert_leq(to_plain, max_to_plain * err_plain, "%s: %.3g from the bf16 oracle, which is %.3g from f32: "
                          "the inputs were not rounded as the mode says", label, to_plain, err_plain);
        }
    }
    mmrt_simd_force(MMRT_SIMD_AVX512);
    free(ref);
    free(plain);
    free(got);
}

/* A (rows, cols) tensor of dtype t holding deterministic random values (rounded to t). */
static mmrt_tensor random_matrix(mmrt_dtype t, int64_t cols, int64_t rows, uint64_t seed) {
    int64_t n = cols * rows;
    float *f = malloc(sizeof(float) * (size_t)n);
    cr_assert(f);
    mmrt_test_fill(f, n, seed, -1.0f, 1.0f);
    if (t == MMRT_F32) return mmrt_tensor_2d(t, f, cols, rows);
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)n);
    cr_assert(h);
    for (int64_t i = 0; i < n; i++) h[i] = t == MMRT_BF16 ? mmrt_f32_to_bf16(f[i]) : mmrt_f32_to_f16(f[i]);
    free(f);
    return mmrt_tensor_2d(t, h, cols, rows);
}

Test(ops_bf16, matmul) {
    /* (m, n, k): decode rows (dot kernels), then the GEMM path (oneDNN), ragged sizes */
    static const int64_t shapes[][3] = {{1, 33, 67}, {3, 17, 131}, {16, 40, 33}, {37, 300, 200}, {130, 129, 96}};
    static const mmrt_dtype types[] = {MMRT_BF16, MMRT_F32, MMRT_F16};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t t = 0; t < 3; t++) {
            int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            struct matmul_args a = {.x = random_matrix(MMRT_F32, k, m, 1 + s),
                                    .w = random_matrix(types[t], k, n, 100 + s)};
            char what[96];
            snprintf(what, sizeof what, "matmul m=%lld n=%lld k=%lld w=%s", (long long)m, (long long)n,
                     (long long)k, mmrt_dtype_name(types[t]));
            check_bf16(what, run_matmul, &a, m * n, 0.01); /* the same products, summed in another order */
            free(a.x.data);
            free(a.w.data);
        }
}

Test(ops_bf16, attention) {
    /* (hd, n_head, n_kv_head, n_tok, pos0, cache rows, causal): decode over chunks, a short
     * prefill (per key), the GEMM path causal with GQA and bidirectional */
    static const int shapes[][7] = {{64, 6, 2, 1, 150, 160, 1}, {18, 3, 1, 7, 2, 9, 1},
                                    {64, 6, 2, 260, 0, 260, 1}, {64, 4, 4, 140, 0, 140, 0},
                                    {48, 3, 1, 40, 60, 100, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int hd = shapes[s][0], nh = shapes[s][1], nkh = shapes[s][2], nt = shapes[s][3];
        int pos0 = shapes[s][4], rows = shapes[s][5];
        bool causal = shapes[s][6];
        mmrt_tensor q = random_matrix(MMRT_F32, (int64_t)hd * nh * nt, 1, 50 + s);
        mmrt_tensor k = random_matrix(MMRT_F32, (int64_t)hd * nkh * rows, 1, 60 + s);
        mmrt_tensor v = random_matrix(MMRT_F32, (int64_t)hd * nkh * rows, 1, 70 + s);
        for (int64_t i = 0; i < q.ne[0]; i++) ((float *)q.data)[i] *= 3.0f; /* peaked softmax rows too */
        struct attn_args a = {.q = mmrt_tensor_3d(MMRT_F32, q.data, hd, nh, nt),
                              .k = mmrt_tensor_3d(MMRT_F32, k.data, hd, nkh, rows),
                              .v = mmrt_tensor_3d(MMRT_F32, v.data, hd, nkh, rows),
                              .n_kv = causal ? pos0 + nt : rows, .pos0 = pos0, .causal = causal};
        char what[64];
        snprintf(what, sizeof what, "attention case %zu", s);
        /* softmax weights rounded from f32 scores (per key chunk in decode) against the oracle's
         * from fp64 ones: some land one bf16 step apart */
        check_bf16(what, run_attention, &a, (int64_t)hd * nh * nt, 0.6);
        free(q.data);
        free(k.data);
        free(v.data);
    }
}

/* A bf16 copy of an f32 (…, hd) tensor: what a bf16 KV cache holds where an f32 one holds t. */
static mmrt_tensor to_bf16(const mmrt_tensor *t) {
    int64_t n = mmrt_tensor_nelements(t);
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)n);
    cr_assert(h);
    for (int64_t i = 0; i < n; i++) h[i] = mmrt_f32_to_bf16(((const float *)t->data)[i]);
    return mmrt_tensor_3d(MMRT_BF16, h, t->ne[0], t->ne[1], t->ne[2]);
}

/* Runs attention on be over f32 K/V (a) and over their bf16 copies; the outputs must be equal bit
 * for bit (a bf16 KV cache holds exactly the values the mode rounds k and v to). */
static void check_same_as_f32_cache(const char *label, mmrt_backend *be, struct attn_args *a, float *f32_out,
                                    float *bf16_out, int64_t n) {
    struct attn_args b = *a;
    b.k = to_bf16(&a->k);
    b.v = to_bf16(&a->v);
    memset(f32_out, 0xff, sizeof(float) * (size_t)n);
    memset(bf16_out, 0xfe, sizeof(float) * (size_t)n);
    cr_assert_eq(run_attention(be, a, f32_out), MMRT_OK, "%s: f32 K/V failed", label);
    cr_assert_eq(run_attention(be, &b, bf16_out), MMRT_OK, "%s: bf16 K/V failed", label);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&f32_out[i], &bf16_out[i], sizeof(float)) != 0 && bad++ < 5)
            fprintf(stderr, "%s: [%lld] f32 cache %.9g, bf16 cache %.9g\n", label, (long long)i, f32_out[i],
                    bf16_out[i]);
    cr_assert_eq(bad, 0, "%s: %lld of %lld outputs differ between an f32 and a bf16 cache", label, (long long)bad,
                 (long long)n);
    free(b.k.data);
    free(b.v.data);
}

Test(ops_bf16, attention_bf16_kv_cache_equals_f32_cache) {
    /* (hd, n_head, n_kv_head, n_tok, pos0, cache rows, causal): decode over chunks (ragged last),
     * short prefills (per key; one chunk longer than the value buffer), the GEMM path causal with
     * GQA and bidirectional */
    static const int shapes[][7] = {{64, 6, 2, 1, 150, 160, 1}, {18, 3, 1, 7, 2, 9, 1},
                                    {64, 4, 2, 5, 200, 210, 1}, {64, 6, 2, 260, 0, 260, 1},
                                    {64, 4, 4, 140, 0, 140, 0}, {48, 3, 1, 40, 60, 100, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int hd = shapes[s][0], nh = shapes[s][1], nkh = shapes[s][2], nt = shapes[s][3];
        int pos0 = shapes[s][4], rows = shapes[s][5];
        bool causal = shapes[s][6];
        mmrt_tensor q = random_matrix(MMRT_F32, (int64_t)hd * nh * nt, 1, 150 + s);
        mmrt_tensor k = random_matrix(MMRT_F32, (int64_t)hd * nkh * rows, 1, 160 + s);
        mmrt_tensor v = random_matrix(MMRT_F32, (int64_t)hd * nkh * rows, 1, 170 + s);
        for (int64_t i = 0; i < q.ne[0]; i++) ((float *)q.data)[i] *= 3.0f;
        struct attn_args a = {.q = mmrt_tensor_3d(MMRT_F32, q.data, hd, nh, nt),
                              .k = mmrt_tensor_3d(MMRT_F32, k.data, hd, nkh, rows),
                              .v = mmrt_tensor_3d(MMRT_F32, v.data, hd, nkh, rows),
                              .n_kv = causal ? pos0 + nt : rows, .pos0 = pos0, .causal = causal};
        int64_t n = (int64_t)hd * nh * nt;
        float *f32_out = malloc(sizeof(float) * (size_t)n), *bf16_out = malloc(sizeof(float) * (size_t)n);
        cr_assert(f32_out && bf16_out);
        char label[128];
        mmrt_backend *be = test_cpu_backend(1, true, MMRT_MATH_BF16);
        snprintf(label, sizeof label, "attention case %zu [bf16 oracle]", s);
        check_same_as_f32_cache(label, be, &a, f32_out, bf16_out, n);
        mmrt_backend_free(be);
        for (int level = MMRT_SIMD_GENERIC; level <= MMRT_SIMD_AVX512; level++) {
            mmrt_simd_force((mmrt_simd_level)level);
            if ((int)mmrt_simd_level_get() != level) continue;
            for (int th = 1; th <= 3; th += 2) {
                be = test_cpu_backend(th, false, (s & 1) ? MMRT_MATH_INT8 : MMRT_MATH_BF16);
                snprintf(label, sizeof label, "attention case %zu [%s, %d threads]", s,
                         mmrt_simd_level_name((mmrt_simd_level)level), th);
                check_same_as_f32_cache(label, be, &a, f32_out, bf16_out, n);
                mmrt_backend_free(be);
            }
        }
        mmrt_simd_force(MMRT_SIMD_AVX512);
        free(f32_out);
        free(bf16_out);
        free(q.data);
        free(k.data);
        free(v.data);
    }
}

Test(ops_bf16, attention_bf16_kv_cache_needs_the_bf16_mode) {
    /* the f32 mode computes with exact k and v: a bf16 cache is not for it (mmrt_backend_kv_dtype) */
    mmrt_backend *be = test_cpu_backend(1, false, MMRT_MATH_F32);
    cr_assert_eq(mmrt_backend_kv_dtype(be), MMRT_F32);
    uint16_t kv[2 * 8] = {0};
    float q[8] = {0}, out[8];
    struct attn_args a = {.q = mmrt_tensor_3d(MMRT_F32, q, 8, 1, 1), .k = mmrt_tensor_3d(MMRT_BF16, kv, 8, 1, 1),
                          .v = mmrt_tensor_3d(MMRT_BF16, kv + 8, 8, 1, 1), .n_kv = 1, .causal = true};
    cr_assert_eq(run_attention(be, &a, out), MMRT_ERR_UNSUPPORTED);
    mmrt_backend_free(be);
    be = test_cpu_backend(1, false, MMRT_MATH_BF16);
    cr_assert_eq(mmrt_backend_kv_dtype(be), MMRT_BF16);
    cr_assert_eq(run_attention(be, &a, out), MMRT_OK);
    mmrt_backend_free(be);
}
