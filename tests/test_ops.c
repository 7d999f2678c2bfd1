/* Every CPU op against its _ref oracle: odd shapes, every SIMD level this CPU has, several
 * thread counts, every weight dtype. Plus a few hand-checked values of the oracles themselves. */
#include "core/backend.h"
#include "core/cpu/simd.h"
#include "core/ops.h"
#include "fusion/sampling.h"
#include "helpers/compare.h"
#include "helpers/op_runs.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mmrt_dtype weight_types[] = {MMRT_F32, MMRT_BF16, MMRT_F16};
static const int thread_counts[] = {1, 2, 3};

static mmrt_backend *backend(int n_threads, bool use_ref) {
    mmrt_backend *be = NULL;
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = n_threads, .use_ref = use_ref};
    cr_assert_eq(mmrt_backend_init(&p, &be, NULL), MMRT_OK);
    return be;
}

/* A (rows, cols) float tensor of dtype t from deterministic random values; the f32 values it
 * holds (after rounding to t) are returned in *vals for the caller's own checks. */
static mmrt_tensor weights(mmrt_dtype t, int64_t cols, int64_t rows, uint64_t seed, float **vals) {
    int64_t n = cols * rows;
    float *f = malloc(sizeof(float) * (size_t)(n ? n : 1));
    mmrt_test_fill(f, n, seed, -1.0f, 1.0f);
    void *data = f;
    if (t != MMRT_F32) {
        uint16_t *h = malloc(2 * (size_t)(n ? n : 1));
        for (int64_t i = 0; i < n; i++) {
            h[i] = t == MMRT_BF16 ? mmrt_f32_to_bf16(f[i]) : mmrt_f32_to_f16(f[i]);
            f[i] = t == MMRT_BF16 ? mmrt_bf16_to_f32(h[i]) : mmrt_f16_to_f32(h[i]);
        }
        data = h;
    }
    if (vals) *vals = f;
    else if (data != f) free(f);
    return mmrt_tensor_2d(t, data, cols, rows);
}

static float *floats(int64_t n, uint64_t seed, float lo, float hi) {
    float *f = malloc(sizeof(float) * (size_t)(n ? n : 1));
    mmrt_test_fill(f, n, seed, lo, hi);
    return f;
}

static float *zeros(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(float)); }

/* Runs fn on the reference backend and on the fast one at every SIMD level and thread count. */
static void check_all(const char *what, op_run_fn fn, void *args, int64_t n_out, double tol) {
    float *ref = zeros(n_out), *got = zeros(n_out);
    mmrt_backend *rb = backend(1, true);
    cr_assert_eq(fn(rb, args, ref), MMRT_OK, "%s: reference op failed", what);
    mmrt_backend_free(rb);
    for (int level = MMRT_SIMD_GENERIC; level <= MMRT_SIMD_AVX512; level++) {
        mmrt_simd_force((mmrt_simd_level)level);
        if ((int)mmrt_simd_level_get() != level) continue; /* CPU lacks it */
        for (size_t t = 0; t < sizeof thread_counts / sizeof *thread_counts; t++) {
            mmrt_backend *be = backend(thread_counts[t], false);
            memset(got, 0xff, sizeof(float) * (size_t)n_out); /* NaN: catches unwritten outputs */
            cr_assert_eq(fn(be, args, got), MMRT_OK, "%s: op failed", what);
            mmrt_backend_free(be);
            char label[256];
            snprintf(label, sizeof label, "%s [%s, %d threads]", what,
                     mmrt_simd_level_name((mmrt_simd_level)level), thread_counts[t]);
            cr_assert(mmrt_test_close(label, got, ref, n_out, tol), "%s differs from the oracle", label);
        }
    }
    mmrt_simd_force(MMRT_SIMD_AVX512);
    free(ref);
    free(got);
}

/* ---- matmul ----------------------------------------------------------------------------- */

Test(ops, matmul_matches_oracle) {
    /* (m, n, k): decode rows, the 4-row groups' tails, the sgemm path, odd k for SIMD tails */
    static const int64_t shapes[][3] = {{1, 7, 5},  {1, 33, 67},  {3, 17, 31},  {5, 9, 129},
                                        {15, 3, 16}, {16, 40, 33}, {37, 300, 47}, {2, 1, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        for (size_t t = 0; t < 3; t++) {
            int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            float *xv = floats(m * k, 1 + s, -1.0f, 1.0f);
            struct matmul_args a = {.x = mmrt_tensor_2d(MMRT_F32, xv, k, m),
                                    .w = weights(weight_types[t], k, n, 100 + s, NULL)};
            char what[96];
            snprintf(what, sizeof what, "matmul m=%lld n=%lld k=%lld w=%s", (long long)m,
                     (long long)n, (long long)k, mmrt_dtype_name(weight_types[t]));
            check_all(what, run_matmul, &a, m * n, 1e-5);
            free(xv);
            free(a.w.data);
        }
    }
}

Test(ops, matmul_strided_rows) {
    /* x rows with a pitch wider than k (a view into a larger activation buffer) */
    int64_t m = 3, n = 5, k = 7, pitch = 11;
    float *xv = floats(m * pitch, 7, -1.0f, 1.0f);
    struct matmul_args a = {.x = mmrt_tensor_2d(MMRT_F32, xv, k, m), .w = weights(MMRT_F32, k, n, 8, NULL)};
    a.x.nb[1] = (size_t)pitch * sizeof(float);
    a.x.nb[2] = a.x.nb[3] = a.x.nb[1] * (size_t)m;
    check_all("matmul strided", run_matmul, &a, m * n, 1e-5);
    free(xv);
    free(a.w.data);
}

/* ---- rms_norm --------------------------------------------------------------------------- */

struct norm_args {
    mmrt_tensor x, w;
    float eps;
};

static mmrt_status run_rms_norm(mmrt_backend *be, void *args, float *out) {
    struct norm_args *a = args;
    mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, out, a->x.ne[0], a->x.ne[1]);
    return mmrt_rms_norm(be, &d, &a->x, &a->w, a->eps, NULL);
}

Test(ops, rms_norm_matches_oracle) {
    static const int64_t shapes[][2] = {{1, 1}, {1, 576}, {7, 54}, {13, 3}};
    for (size_t s = 0; s < 4; s++)
        for (size_t t = 0; t < 3; t++) {
            int64_t rows = shapes[s][0], d = shapes[s][1];
            float *xv = floats(rows * d, 20 + s, -3.0f, 3.0f);
            struct norm_args a = {.x = mmrt_tensor_2d(MMRT_F32, xv, d, rows),
                                  .w = weights(weight_types[t], d, 1, 30 + s, NULL), .eps = 1e-5f};
            check_all("rms_norm", run_rms_norm, &a, rows * d, 1e-5);
            free(xv);
            free(a.w.data);
        }
}

Test(ops, rms_norm_oracle_by_hand) {
    float x[2] = {3.0f, 4.0f}, w[2] = {1.0f, 2.0f}, out[2];
    struct norm_args a = {.x = mmrt_tensor_2d(MMRT_F32, x, 2, 1), .w = mmrt_tensor_1d(MMRT_F32, w, 2)};
    mmrt_backend *rb = backend(1, true);
    cr_assert_eq(run_rms_norm(rb, &a, out), MMRT_OK);
    mmrt_backend_free(rb);
    float r = sqrtf(12.5f); /* mean(9, 16) */
    cr_assert_float_eq(out[0], 3.0f / r, 1e-6f);
    cr_assert_float_eq(out[1], 8.0f / r, 1e-6f);
}

struct layer_norm_args {
    mmrt_tensor x, w, b;
    float eps;
};

static mmrt_status run_layer_norm(mmrt_backend *be, void *args, float *out) {
    struct layer_norm_args *a = args;
    mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, out, a->x.ne[0], a->x.ne[1]);
    return mmrt_layer_norm(be, &d, &a->x, &a->w, &a->b, a->eps, NULL);
}

Test(ops, layer_norm_matches_oracle) {
    /* (rows, d): d = 1 (zero variance: dst = b), SigLIP's 1152, odd lengths */
    static const int64_t shapes[][2] = {{1, 1}, {3, 1152}, {7, 54}, {13, 3}};
    for (size_t s = 0; s < 4; s++)
        for (size_t t = 0; t < 3; t++) {
            int64_t rows = shapes[s][0], d = shapes[s][1];
            float *xv = floats(rows * d, 120 + s, -3.0f, 5.0f); /* a non-zero mean */
            struct layer_norm_args a = {.x = mmrt_tensor_2d(MMRT_F32, xv, d, rows),
                                        .w = weights(weight_types[t], d, 1, 130 + s, NULL),
                                        /* a bias of another dtype than w */
                                        .b = weights(weight_types[(t + 1) % 3], d, 1, 140 + s,
                                                     NULL),
                                        .eps = 1e-6f};
            char what[96];
            snprintf(what, sizeof what, "layer_norm rows=%lld d=%lld w=%s", (long long)rows,
                     (long long)d, mmrt_dtype_name(weight_types[t]));
            check_all(what, run_layer_norm, &a, rows * d, 1e-5);
            free(xv);
            free(a.w.data);
            free(a.b.data);
        }
}

Test(ops, layer_norm_oracle_by_hand) {
    /* mean 2.5, biased variance 1.25 */
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 2, 2}, b[4] = {0, 1, 0, -1}, out[4];
    struct layer_norm_args a = {.x = mmrt_tensor_2d(MMRT_F32, x, 4, 1),
                                .w = mmrt_tensor_1d(MMRT_F32, w, 4),
                                .b = mmrt_tensor_1d(MMRT_F32, b, 4)};
    mmrt_backend *rb = backend(1, true);
    cr_assert_eq(run_layer_norm(rb, &a, out), MMRT_OK);
    mmrt_backend_free(rb);
    float r = sqrtf(1.25f);
    float want[4] = {-1.5f / r, -0.5f / r + 1.0f, 2.0f * 0.5f / r, 2.0f * 1.5f / r - 1.0f};
    for (int i = 0; i < 4; i++) cr_assert_float_eq(out[i], want[i], 1e-6f, "out[%d]", i);
}

/* ---- add_bias --------------------------------------------------------------------------- */

struct bias_args {
    mmrt_tensor x, b;
};

static mmrt_status run_add_bias(mmrt_backend *be, void *args, float *out) {
    struct bias_args *a = args;
    mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, out, a->x.ne[0], a->x.ne[1]);
    return mmrt_add_bias(be, &d, &a->x, &a->b, NULL);
}

Test(ops, add_bias_matches_oracle) {
    static const int64_t shapes[][2] = {{1, 1}, {9, 37}, {17, 4305}, {5, 1152}};
    for (size_t s = 0; s < 4; s++)
        for (size_t t = 0; t < 3; t++) {
            int64_t rows = shapes[s][0], n = shapes[s][1];
            float *xv = floats(rows * n, 150 + s, -4.0f, 4.0f);
            struct bias_args a = {.x = mmrt_tensor_2d(MMRT_F32, xv, n, rows),
                                  .b = weights(weight_types[t], n, 1, 160 + s, NULL)};
            check_all("add_bias", run_add_bias, &a, rows * n, 1e-6);
            free(xv);
            free(a.b.data);
        }
}

Test(ops, add_bias_oracle_by_hand) {
    /* bf16 bias: 0.5 and -2 are exact */
    float x[2 * 2] = {1, 2, 3, 4}, out[4];
    uint16_t b[2] = {mmrt_f32_to_bf16(0.5f), mmrt_f32_to_bf16(-2.0f)};
    struct bias_args a = {.x = mmrt_tensor_2d(MMRT_F32, x, 2, 2),
                          .b = mmrt_tensor_1d(MMRT_BF16, b, 2)};
    mmrt_backend *rb = backend(1, true);
    cr_assert_eq(run_add_bias(rb, &a, out), MMRT_OK);
    mmrt_backend_free(rb);
    float want[4] = {1.5f, 0.0f, 3.5f, 2.0f};
    for (int i = 0; i < 4; i++) cr_assert_float_eq(out[i], want[i], 0.0f, "out[%d]", i);
}

/* ---- rope ------------------------------------------------------------------------------- */

struct rope_args {
    mmrt_tensor x, pos, inv_freq;
    int n_rot;
    float attn_factor;
};

static mmrt_status run_rope(mmrt_backend *be, void *args, float *out) {
    struct rope_args *a = args;
    mmrt_tensor d = a->x;
    d.data = out;
    return mmrt_rope(be, &d, &a->x, &a->pos, &a->inv_freq, a->n_rot, a->attn_factor, NULL);
}

Test(ops, rope_matches_oracle) {
    /* (hd, n_head, n_tok, n_rot): full and partial rotation, odd head counts */
    static const int rshapes[][4] = {{64, 3, 5, 64}, {18, 1, 9, 18}, {96, 2, 3, 32}, {8, 5, 1, 8}};
    for (size_t s = 0; s < 4; s++) {
        int hd = rshapes[s][0], nh = rshapes[s][1], nt = rshapes[s][2], n_rot = rshapes[s][3];
        float *xv = floats((int64_t)hd * nh * nt, 40 + s, -2.0f, 2.0f);
        int32_t *pos = malloc(sizeof(int32_t) * (size_t)nt);
        for (int t = 0; t < nt; t++) pos[t] = 1000 * t + 3; /* large angles test the f32 product */
        float *inv = malloc(sizeof(float) * (size_t)(n_rot / 2));
        for (int i = 0; i < n_rot / 2; i++) inv[i] = (float)pow(10000.0, -2.0 * i / n_rot);
        struct rope_args a = {.x = mmrt_tensor_3d(MMRT_F32, xv, hd, nh, nt),
                              .pos = mmrt_tensor_1d(MMRT_I32, pos, nt),
                              .inv_freq = mmrt_tensor_1d(MMRT_F32, inv, n_rot / 2),
                              .n_rot = n_rot,
                              .attn_factor = s == 2 ? 1.25f : 1.0f};
        /* cos/sin of angles near 10^4 rad in f32 differ from fp64 by ~1e-4 relative: that is
         * the same rounding transformers has, so the oracle is checked at 1e-3 here. */
        check_all("rope", run_rope, &a, (int64_t)hd * nh * nt, 1e-3);
        free(xv);
        free(pos);
        free(inv);
    }
}

/* ---- attention -------------------------------------------------------------------------- */

Test(ops, attention_matches_oracle) {
    /* (hd, n_head, n_kv_head, n_tok, pos0, cache rows, causal) */
    static const int ashapes[][7] = {
        {64, 6, 2, 5, 0, 16, 1},  /* prefill, GQA 3:1 */
        {64, 6, 2, 1, 11, 16, 1}, /* decode over a cache */
        {18, 3, 1, 7, 2, 9, 1},   /* odd head dim, MQA */
        {16, 4, 4, 3, 0, 3, 0},   /* bidirectional, MHA */
        {72, 2, 1, 33, 0, 40, 1}, /* more tokens than a SIMD width */
        {64, 9, 3, 1, 150, 160, 1}, /* decode over three key chunks, merged */
        {64, 9, 3, 1, 191, 192, 1}, /* ... and a ragged last chunk */
        {16, 10, 2, 3, 5, 10, 1},   /* groups of 5 query heads: wider than one dot call */
        /* the GEMM path (>= 32 queries and keys), in blocks of 128 queries */
        {64, 4, 4, 300, 0, 300, 0},  /* bidirectional, a ragged last block */
        {64, 6, 2, 260, 0, 260, 1},  /* causal prefill, GQA: rows of one block see different keys */
        {48, 3, 1, 140, 60, 210, 1}, /* causal prefill after a cached prefix */
        {64, 2, 2, 32, 0, 32, 0},    /* the smallest: one block */
    };
    for (size_t s = 0; s < sizeof ashapes / sizeof *ashapes; s++) {
        int hd = ashapes[s][0], nh = ashapes[s][1], nkh = ashapes[s][2], nt = ashapes[s][3];
        int pos0 = ashapes[s][4], rows = ashapes[s][5];
        bool causal = ashapes[s][6];
        float *qv = floats((int64_t)hd * nh * nt, 50 + s, -2.0f, 2.0f);
        float *kv = floats((int64_t)hd * nkh * rows, 60 + s, -2.0f, 2.0f);
        float *vv = floats((int64_t)hd * nkh * rows, 70 + s, -2.0f, 2.0f);
        struct attn_args a = {.q = mmrt_tensor_3d(MMRT_F32, qv, hd, nh, nt),
                              .k = mmrt_tensor_3d(MMRT_F32, kv, hd, nkh, rows),
                              .v = mmrt_tensor_3d(MMRT_F32, vv, hd, nkh, rows),
                              .n_kv = causal ? pos0 + nt : rows,
                              .pos0 = pos0,
                              .causal = causal};
        char what[64];
        snprintf(what, sizeof what, "attention case %zu", s);
        check_all(what, run_attention, &a, (int64_t)hd * nh * nt, 1e-5);
        free(qv);
        free(kv);
        free(vv);
    }
}

Test(ops, attention_oracle_single_key_returns_value) {
    float q[4] = {1, 2, 3, 4}, k[4] = {0.5f, 0, 0, 1}, v[4] = {7, -1, 2, 5}, out[4];
    struct attn_args a = {.q = mmrt_tensor_3d(MMRT_F32, q, 4, 1, 1),
                          .k = mmrt_tensor_3d(MMRT_F32, k, 4, 1, 1),
                          .v = mmrt_tensor_3d(MMRT_F32, v, 4, 1, 1),
                          .n_kv = 1, .causal = true};
    mmrt_backend *rb = backend(1, true);
    cr_assert_eq(run_attention(rb, &a, out), MMRT_OK);
    mmrt_backend_free(rb);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(out[i], v[i], 1e-6f, "out[%d]", i);
}

/* Masks by pattern: 0 every third key off, 1 all off, 2 the first 70 off (a whole decode chunk),
 * 3 only the last key on. */
static bool mask_on(int pattern, int64_t j, int64_t n) {
    switch (pattern) {
    case 0: return j % 3 != 1;
    case 1: return false;
    case 2: return j >= 70;
    default: return j == n - 1;
    }
}

Test(ops, attention_key_mask_matches_oracle) {
    /* (hd, n_head, n_kv_head, n_tok, cache rows, n_kv, pattern): SigLIP-like prefill, decode
     * over chunks, GQA, a cache longer than n_kv */
    static const int mshapes[][7] = {
        {72, 4, 4, 13, 13, 13, 0}, {16, 6, 2, 5, 9, 7, 1},    {64, 3, 1, 1, 160, 150, 2},
        {64, 3, 1, 1, 160, 150, 1}, {18, 2, 2, 9, 11, 11, 3}, {64, 9, 3, 1, 192, 192, 0},
        {16, 10, 2, 3, 10, 10, 2},
        /* the GEMM path: every pattern, a cache longer than n_kv, a ragged last query block */
        {64, 4, 4, 150, 160, 150, 0}, {64, 4, 4, 150, 160, 150, 1}, {64, 4, 4, 150, 160, 150, 2},
        {64, 4, 4, 150, 160, 150, 3}, {32, 6, 3, 40, 40, 40, 0},
    };
    for (size_t s = 0; s < sizeof mshapes / sizeof *mshapes; s++)
        for (int i32 = 0; i32 < 2; i32++) {
            int hd = mshapes[s][0], nh = mshapes[s][1], nkh = mshapes[s][2], nt = mshapes[s][3];
            int rows = mshapes[s][4], n_kv = mshapes[s][5], pattern = mshapes[s][6];
            float *qv = floats((int64_t)hd * nh * nt, 170 + s, -2.0f, 2.0f);
            float *kv = floats((int64_t)hd * nkh * rows, 180 + s, -2.0f, 2.0f);
            float *vv = floats((int64_t)hd * nkh * rows, 190 + s, -2.0f, 2.0f);
            void *mv = malloc(sizeof(int32_t) * (size_t)rows);
            for (int j = 0; j < rows; j++) {
                bool on = mask_on(pattern, j, n_kv);
                if (i32) ((int32_t *)mv)[j] = on ? 7 : 0; /* any non-zero value is "on" */
                else ((uint8_t *)mv)[j] = on;
            }
            mmrt_tensor mask = mmrt_tensor_1d(i32 ? MMRT_I32 : MMRT_U8, mv, rows);
            struct attn_args a = {.q = mmrt_tensor_3d(MMRT_F32, qv, hd, nh, nt),
                                  .k = mmrt_tensor_3d(MMRT_F32, kv, hd, nkh, rows),
                                  .v = mmrt_tensor_3d(MMRT_F32, vv, hd, nkh, rows),
                                  .key_mask = &mask,
                                  .n_kv = n_kv};
            char what[64];
            snprintf(what, sizeof what, "masked attention case %zu %s", s, i32 ? "i32" : "u8");
            check_all(what, run_attention, &a, (int64_t)hd * nh * nt, 1e-5);
            free(qv);
            free(kv);
            free(vv);
            free(mv);
        }
}

Test(ops, attention_oracle_key_mask_by_hand) {
    /* two keys, hd 2: masking one returns the other's value; masking both returns their mean
     * (transformers' finfo.min bias makes the scores equal), not zeros */
    float q[2] = {1, -3}, k[4] = {2, 0, -1, 5}, v[4] = {4, -2, 10, 6}, out[2];
    uint8_t masks[3][2] = {{0, 1}, {1, 0}, {0, 0}};
    float want[3][2] = {{10, 6}, {4, -2}, {7, 2}};
    for (int m = 0; m < 3; m++) {
        mmrt_tensor mask = mmrt_tensor_1d(MMRT_U8, masks[m], 2);
        struct attn_args a = {.q = mmrt_tensor_3d(MMRT_F32, q, 2, 1, 1),
                              .k = mmrt_tensor_3d(MMRT_F32, k, 2, 1, 2),
                              .v = mmrt_tensor_3d(MMRT_F32, v, 2, 1, 2),
                              .key_mask = &mask,
                              .n_kv = 2};
        mmrt_backend *rb = backend(1, true);
        cr_assert_eq(run_attention(rb, &a, out), MMRT_OK);
        mmrt_backend_free(rb);
        for (int i = 0; i < 2; i++)
            cr_assert_float_eq(out[i], want[m][i], 1e-6f, "mask %d out[%d]", m, i);
    }
}

/* An additive bias (ne0 ≥ n_kv, n_tok, n_bh) in [-2, 2) with rows `pitch` floats apart; in
 * pattern 1 every third key of every row is -inf, and row 0 of head 0 is -inf throughout (that
 * query gets zeros). */
static mmrt_tensor attn_bias(int64_t ne0, int64_t n_tok, int64_t n_bh, int64_t pitch, int pattern,
                             uint64_t seed) {
    float *b = floats(pitch * n_tok * n_bh, seed, -2.0f, 2.0f);
    for (int64_t h = 0; h < n_bh && pattern == 1; h++)
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t j = 0; j < ne0; j++)
                if (j % 3 == 2 || (h == 0 && t == 0)) b[(h * n_tok + t) * pitch + j] = -INFINITY;
    mmrt_tensor t = mmrt_tensor_3d(MMRT_F32, b, ne0, n_tok, n_bh);
    t.nb[1] = (size_t)pitch * sizeof(float);
    t.nb[2] = t.nb[1] * (size_t)n_tok;
    t.nb[3] = t.nb[2] * (size_t)n_bh;
    return t;
}

Test(ops, attention_bias_matches_oracle) {
    /* (hd, n_head, n_kv_head, n_tok, pos0, cache rows, causal, per-head bias, key mask, -inf
     * pattern): the per-key path, decode over several chunks, the GEMM path, GQA, a bias shared
     * by all heads or one per head, wider than n_kv, with a key mask and with -inf entries */
    static const int bshapes[][10] = {
        {64, 6, 2, 5, 0, 16, 1, 1, 0, 0},   {64, 6, 2, 1, 150, 160, 1, 1, 0, 0},
        {18, 3, 1, 7, 2, 9, 1, 0, 0, 1},    {16, 4, 4, 3, 0, 3, 0, 1, 1, 0},
        {64, 9, 3, 1, 191, 192, 1, 0, 0, 1}, {16, 10, 2, 3, 5, 10, 1, 1, 0, 0},
        {64, 4, 4, 300, 0, 300, 0, 1, 1, 0}, {64, 6, 2, 260, 0, 260, 1, 0, 0, 0},
        {48, 3, 1, 140, 60, 210, 1, 1, 0, 1}, {32, 6, 3, 40, 0, 40, 0, 0, 1, 1},
        {64, 3, 1, 1, 0, 150, 0, 1, 1, 1},
    };
    for (size_t s = 0; s < sizeof bshapes / sizeof *bshapes; s++) {
        const int *c = bshapes[s];
        int hd = c[0], nh = c[1], nkh = c[2], nt = c[3], pos0 = c[4], rows = c[5];
        bool causal = c[6];
        int64_t n_kv = causal ? pos0 + nt : rows;
        float *qv = floats((int64_t)hd * nh * nt, 250 + s, -2.0f, 2.0f);
        float *kv = floats((int64_t)hd * nkh * rows, 260 + s, -2.0f, 2.0f);
        float *vv = floats((int64_t)hd * nkh * rows, 270 + s, -2.0f, 2.0f);
        mmrt_tensor bias = attn_bias(n_kv + 3, nt, c[7] ? nh : 1, n_kv + 5, c[9], 280 + s);
        uint8_t *mv = malloc((size_t)rows);
        for (int j = 0; j < rows; j++) mv[j] = mask_on(0, j, n_kv);
        mmrt_tensor mask = mmrt_tensor_1d(MMRT_U8, mv, rows);
        struct attn_args a = {.q = mmrt_tensor_3d(MMRT_F32, qv, hd, nh, nt),
                              .k = mmrt_tensor_3d(MMRT_F32, kv, hd, nkh, rows),
                              .v = mmrt_tensor_3d(MMRT_F32, vv, hd, nkh, rows),
                              .key_mask = c[8] ? &mask : NULL,
                              .bias = &bias,
                              .n_kv = n_kv,
                              .pos0 = pos0,
                              .causal = causal};
        char what[64];
        snprintf(what, sizeof what, "attention with bias case %zu", s);
        check_all(what, run_attention, &a, (int64_t)hd * nh * nt, 1e-5);
        free(qv);
        free(kv);
        free(vv);
        free(bias.data);
        free(mv);
    }
}

Test(ops, attention_oracle_bias_by_hand) {
    /* equal q·k, bias (0, ln 3): weights 1/4 and 3/4; a -inf bias drops its key; both -inf:
     * zeros. Head 1 has its own bias row (per-head bias). */
    float q[4] = {1, 0, 0, 1}, k[4] = {0, 0, 0, 0}, v[4] = {4, -2, 8, 6}, out[4];
    float l3 = logf(3.0f);
    float b[3][4] = {{0, l3, l3, 0}, {-INFINITY, 0, 0, -INFINITY}, {-INFINITY, -INFINITY, 0, 0}};
    float want[3][4] = {{7, 4, 5, 0}, {8, 6, 4, -2}, {0, 0, 6, 2}};
    for (int m = 0; m < 3; m++) {
        mmrt_tensor bias = mmrt_tensor_3d(MMRT_F32, b[m], 2, 1, 2); /* (2 keys, 1 token, 2 heads) */
        struct attn_args a = {.q = mmrt_tensor_3d(MMRT_F32, q, 2, 2, 1),
                              .k = mmrt_tensor_3d(MMRT_F32, k, 2, 1, 2),
                              .v = mmrt_tensor_3d(MMRT_F32, v, 2, 1, 2),
                              .bias = &bias,
                              .n_kv = 2};
        mmrt_backend *rb = backend(1, true);
        cr_assert_eq(run_attention(rb, &a, out), MMRT_OK);
        mmrt_backend_free(rb);
        for (int i = 0; i < 4; i++)
            cr_assert_float_eq(out[i], want[m][i], 1e-5f, "bias %d out[%d]", m, i);
    }
}

/* ---- elementwise, softmax, gather, argmax ------------------------------------------------ */

struct binary_args {
    mmrt_op_kind kind;
    mmrt_tensor a, b;
    float s;
};

static mmrt_status run_binary(mmrt_backend *be, void *args, float *out) {
    struct binary_args *a = args;
    mmrt_tensor d = a->a;
    d.data = out;
    switch (a->kind) {
    case MMRT_OP_SILU_MUL: return mmrt_silu_mul(be, &d, &a->a, &a->b, NULL);
    case MMRT_OP_ADD: return mmrt_add(be, &d, &a->a, &a->b, NULL);
    case MMRT_OP_MUL: return mmrt_mul(be, &d, &a->a, &a->b, NULL);
    case MMRT_OP_SCALE: return mmrt_scale(be, &d, &a->a, a->s, NULL);
    case MMRT_OP_GELU: return mmrt_gelu(be, &d, &a->a, NULL);
    case MMRT_OP_GELU_TANH: return mmrt_gelu_tanh(be, &d, &a->a, NULL);
    default: return mmrt_softmax(be, &d, &a->a, a->s, NULL);
    }
}

Test(ops, elementwise_and_softmax_match_oracle) {
    static const mmrt_op_kind kinds[] = {MMRT_OP_SILU_MUL, MMRT_OP_ADD,  MMRT_OP_MUL,
                                         MMRT_OP_SCALE,    MMRT_OP_GELU, MMRT_OP_GELU_TANH,
                                         MMRT_OP_SOFTMAX};
    static const int64_t eshapes[][2] = {{1, 1}, {1, 1536}, {9, 37}, {5, 49280}};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        for (size_t s = 0; s < 4; s++) {
            int64_t rows = eshapes[s][0], d = eshapes[s][1];
            float *av = floats(rows * d, 80 + s, -8.0f, 8.0f), *bv = floats(rows * d, 90 + s, -2.0f, 2.0f);
            struct binary_args a = {.kind = kinds[k], .a = mmrt_tensor_2d(MMRT_F32, av, d, rows),
                                    .b = mmrt_tensor_2d(MMRT_F32, bv, d, rows), .s = 0.7f};
            check_all(mmrt_op_name(kinds[k]), run_binary, &a, rows * d, 1e-5);
            free(av);
            free(bv);
        }
}

Test(ops, gelu_oracles_by_hand) {
    /* torch.nn.functional.gelu(x) and gelu(x, approximate="tanh") at 1, -0.5, 3 */
    float x[3] = {1.0f, -0.5f, 3.0f}, out[3];
    const float erf_want[3] = {0.8413447460685429f, -0.15426876936299344f, 2.99595030590511f};
    const float tanh_want[3] = {0.8411919906082768f, -0.15428599017485606f, 2.996362607918227f};
    for (int tanh_form = 0; tanh_form < 2; tanh_form++) {
        struct binary_args a = {.kind = tanh_form ? MMRT_OP_GELU_TANH : MMRT_OP_GELU,
                                .a = mmrt_tensor_2d(MMRT_F32, x, 3, 1)};
        mmrt_backend *rb = backend(1, true);
        cr_assert_eq(run_binary(rb, &a, out), MMRT_OK);
        mmrt_backend_free(rb);
        for (int i = 0; i < 3; i++)
            cr_assert_float_eq(out[i], tanh_form ? tanh_want[i] : erf_want[i], 1e-6f, "%s(%g)",
                               mmrt_op_name(a.kind), x[i]);
    }
}

struct gather_args {
    mmrt_tensor table, ids;
};

static mmrt_status run_get_rows(mmrt_backend *be, void *args, float *out) {
    struct gather_args *a = args;
    mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, out, a->table.ne[0], a->ids.ne[0]);
    return mmrt_get_rows(be, &d, &a->table, &a->ids, NULL);
}

Test(ops, get_rows_matches_oracle_and_table) {
    int32_t ids[] = {4, 0, 4, 9, 1};
    for (size_t t = 0; t < 3; t++) {
        float *vals;
        struct gather_args a = {.table = weights(weight_types[t], 13, 10, 5, &vals),
                                .ids = mmrt_tensor_1d(MMRT_I32, ids, 5)};
        check_all("get_rows", run_get_rows, &a, 5 * 13, 0.0);
        float out[5 * 13];
        mmrt_backend *be = backend(2, false);
        cr_assert_eq(run_get_rows(be, &a, out), MMRT_OK);
        mmrt_backend_free(be);
        for (int i = 0; i < 5; i++)
            cr_assert_arr_eq(out + 13 * i, vals + 13 * ids[i], 13 * sizeof(float), "row %d", i);
        if (a.table.data != vals) free(a.table.data);
        free(vals);
    }
}

Test(ops, get_rows_rejects_out_of_range_ids) {
    int32_t ids[] = {0, 10};
    struct gather_args a = {.table = weights(MMRT_F32, 4, 10, 1, NULL), .ids = mmrt_tensor_1d(MMRT_I32, ids, 2)};
    for (int ref = 0; ref < 2; ref++) {
        mmrt_backend *be = backend(1, ref);
        float out[8];
        mmrt_error err = {0};
        mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, out, 4, 2);
        cr_assert_eq(mmrt_get_rows(be, &d, &a.table, &a.ids, &err), MMRT_ERR_INVALID_ARG);
        cr_assert(strstr(err.msg, "token id 10 out of range"), "message: %s", err.msg);
        mmrt_backend_free(be);
    }
    free(a.table.data);
}

Test(ops, argmax_matches_oracle_first_index_on_ties) {
    float x[3 * 5] = {1, 3, 3, 0, -1, /* tie: first wins */ -5, -4, -3, -2, -1, 2, 2, 2, 2, 2};
    int32_t got[3], ref[3];
    mmrt_tensor xt = mmrt_tensor_2d(MMRT_F32, x, 5, 3);
    for (int r = 0; r < 2; r++) {
        mmrt_backend *be = backend(1, r);
        mmrt_tensor d = mmrt_tensor_1d(MMRT_I32, r ? ref : got, 3);
        cr_assert_eq(mmrt_argmax(be, &d, &xt, NULL), MMRT_OK);
        mmrt_backend_free(be);
    }
    cr_assert_arr_eq(got, ref, sizeof got);
    cr_assert_eq(ref[0], 1);
    cr_assert_eq(ref[1], 4);
    cr_assert_eq(ref[2], 0);
}

Test(ops, dtype_conversions_round_trip) {
    /* bf16/f16 → f32 is exact; f32 → bf16/f16 rounds to nearest even */
    cr_assert_eq(mmrt_f32_to_bf16(1.0f), 0x3f80);
    cr_assert_eq(mmrt_f32_to_bf16(mmrt_bf16_to_f32(0x3f81)), 0x3f81);
    cr_assert_eq(mmrt_f32_to_f16(1.0f), 0x3c00);
    cr_assert_eq(mmrt_f32_to_f16(65504.0f), 0x7bff);
    cr_assert_eq(mmrt_f32_to_f16(1e6f), 0x7c00);
    cr_assert_float_eq(mmrt_f16_to_f32(0x0001), 5.9604644775390625e-8f, 0.0f);
    for (uint32_t h = 0; h < 0x7c00; h++) /* every finite positive f16 survives a round trip */
        cr_assert_eq(mmrt_f32_to_f16(mmrt_f16_to_f32((uint16_t)h)), h, "f16 0x%04x", h);
}

/* ---- patchify, pixel_shuffle, scatter_rows, sample ------------------------------------------ */

struct patchify_args {
    mmrt_tensor px;
    int32_t p;
};

static mmrt_status run_patchify(mmrt_backend *be, void *args, float *out) {
    struct patchify_args *a = args;
    int64_t p = a->p, rows = a->px.ne[3] * (a->px.ne[1] / p) * (a->px.ne[0] / p);
    mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, out, a->px.ne[2] * p * p, rows);
    return mmrt_patchify(be, &d, &a->px, a->p, NULL);
}

Test(ops, patchify_matches_oracle_and_siglip_im2col) {
    /* (n_img, C, H, W, p): SigLIP-like, non-square, one patch per image, p = 1, odd sizes */
    static const int64_t shapes[][5] = {{2, 3, 8, 8, 4}, {1, 3, 14, 21, 7}, {3, 1, 5, 5, 5},
                                        {1, 2, 6, 4, 1}, {2, 3, 9, 9, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int64_t n = shapes[s][0], C = shapes[s][1], H = shapes[s][2], W = shapes[s][3], p = shapes[s][4];
        float *pix = floats(n * C * H * W, 40 + s, -1.0f, 1.0f);
        struct patchify_args a = {.px = mmrt_tensor_make(MMRT_F32, pix, 4, (int64_t[]){W, H, C, n}),
                                  .p = (int32_t)p};
        int64_t k = C * p * p, rows = n * (H / p) * (W / p);
        char what[96];
        snprintf(what, sizeof what, "patchify %lldx%lldx%lldx%lld p=%lld", (long long)n, (long long)C,
                 (long long)H, (long long)W, (long long)p);
        check_all(what, run_patchify, &a, rows * k, 0.0);
        if (H == W) { /* vision/siglip.c's host im2col, verbatim: the op must give the same bits */
            int64_t S = H, side = S / p;
            float *want = zeros(rows * k), *got = zeros(rows * k);
            for (int64_t t = 0; t < n; t++)
                for (int64_t py = 0; py < side; py++)
                    for (int64_t px = 0; px < side; px++) {
                        int64_t r = t * side * side + py * side + px;
                        float *dst = want + r * k;
                        for (int64_t c = 0; c < C; c++)
                            for (int64_t ky = 0; ky < p; ky++)
                                memcpy(dst + (c * p + ky) * p, pix + ((t * C + c) * S + py * p + ky) * S + px * p,
                                       (size_t)p * sizeof(float));
                    }
            mmrt_backend *be = backend(2, true);
            cr_assert_eq(run_patchify(be, &a, got), MMRT_OK);
            mmrt_backend_free(be);
            cr_assert_arr_eq(got, want, sizeof(float) * (size_t)(rows * k), "%s: not siglip's im2col", what);
            free(want);
            free(got);
        }
        free(pix);
    }
}

struct shuffle_args {
    mmrt_tensor x;
    int32_t r;
};

static mmrt_status run_pixel_shuffle(mmrt_backend *be, void *args, float *out) {
    struct shuffle_args *a = args;
    int64_t s = 0, r = a->r;
    while (s * s < a->x.ne[1]) s++;
    mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, out, a->x.ne[0] * r * r, a->x.ne[2] * (s / r) * (s / r));
    return mmrt_pixel_shuffle(be, &d, &a->x, a->r, NULL);
}

Test(ops, pixel_shuffle_matches_oracle_and_connector) {
    /* (n_tiles, s, D, r) */
    static const int64_t shapes[][4] = {{2, 4, 3, 2}, {1, 6, 5, 3}, {3, 3, 7, 1}, {1, 8, 2, 4}, {2, 6, 9, 2}};
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
        int64_t nt = shapes[c][0], s = shapes[c][1], D = shapes[c][2], r = shapes[c][3];
        float *xv = floats(nt * s * s * D, 60 + c, -1.0f, 1.0f);
        struct shuffle_args a = {.x = mmrt_tensor_3d(MMRT_F32, xv, D, s * s, nt), .r = (int32_t)r};
        int64_t ws = s / r, k = D * r * r, rows = nt * ws * ws;
        char what[96];
        snprintf(what, sizeof what, "pixel_shuffle tiles=%lld s=%lld D=%lld r=%lld", (long long)nt, (long long)s,
                 (long long)D, (long long)r);
        check_all(what, run_pixel_shuffle, &a, rows * k, 0.0);
        /* fusion/idefics3_connector.c's host loop, verbatim */
        float *want = zeros(rows * k), *got = zeros(rows * k);
        for (int64_t t = 0; t < nt; t++) {
            const float *x = xv + t * s * s * D;
            float *y = want + t * ws * ws * k;
            for (int64_t I = 0; I < ws; I++)
                for (int64_t J = 0; J < ws; J++)
                    for (int64_t aa = 0; aa < r; aa++)
                        for (int64_t b = 0; b < r; b++)
                            memcpy(y + (I * ws + J) * k + (aa * r + b) * D, x + ((I * r + aa) * s + (J * r + b)) * D,
                                   (size_t)D * sizeof(float));
        }
        mmrt_backend *be = backend(2, true);
        cr_assert_eq(run_pixel_shuffle(be, &a, got), MMRT_OK);
        mmrt_backend_free(be);
        cr_assert_arr_eq(got, want, sizeof(float) * (size_t)(rows * k), "%s: not the connector's layout", what);
        free(want);
        free(got);
        free(xv);
    }
}

Test(ops, pixel_shuffle_oracle_by_hand) {
    /* one tile of 4 × 4 patches with D = 1 holding their index, r = 2: row (I, J) lists the 2 × 2
     * block's patches row-major */
    float x[16], out[16];
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    struct shuffle_args a = {.x = mmrt_tensor_3d(MMRT_F32, x, 1, 16, 1), .r = 2};
    mmrt_backend *be = backend(1, true);
    cr_assert_eq(run_pixel_shuffle(be, &a, out), MMRT_OK);
    mmrt_backend_free(be);
    static const float want[16] = {0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15};
    cr_assert_arr_eq(out, want, sizeof want);
}

struct scatter_args {
    mmrt_tensor src, idx;
    const float *init; /* (n, d) dst before the op */
    int64_t n;
};

static mmrt_status run_scatter_rows(mmrt_backend *be, void *args, float *out) {
    struct scatter_args *a = args;
    memcpy(out, a->init, sizeof(float) * (size_t)(a->n * a->src.ne[0]));
    mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, out, a->src.ne[0], a->n);
    return mmrt_scatter_rows(be, &d, &a->src, &a->idx, NULL);
}

Test(ops, scatter_rows_matches_oracle_and_keeps_other_rows) {
    static const int64_t shapes[][3] = {{7, 3, 5}, {21, 20, 33}, {9, 1, 1}, {12, 0, 4}}; /* (n, m, d) */
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int64_t n = shapes[s][0], m = shapes[s][1], d = shapes[s][2];
        float *init = floats(n * d, 70 + s, -1.0f, 1.0f), *sv = floats(m * d, 80 + s, 2.0f, 3.0f);
        int32_t idx[32];
        for (int64_t i = 0; i < m; i++) idx[i] = (int32_t)((i * 5 + 2) % n); /* distinct: 5 ∤ n */
        struct scatter_args a = {.src = mmrt_tensor_2d(MMRT_F32, sv, d, m), .idx = mmrt_tensor_1d(MMRT_I32, idx, m),
                                 .init = init, .n = n};
        check_all("scatter_rows", run_scatter_rows, &a, n * d, 0.0);
        float *got = zeros(n * d);
        mmrt_backend *be = backend(1, true);
        cr_assert_eq(run_scatter_rows(be, &a, got), MMRT_OK);
        mmrt_backend_free(be);
        for (int64_t r = 0; r < n; r++) {
            const float *want = init + r * d;
            for (int64_t i = 0; i < m; i++)
                if (idx[i] == r) want = sv + i * d;
            cr_assert_arr_eq(got + r * d, want, sizeof(float) * (size_t)d, "n=%lld m=%lld: row %lld", (long long)n,
                             (long long)m, (long long)r);
        }
        free(got);
        free(init);
        free(sv);
    }
}

Test(ops, scatter_rows_rejects_out_of_range_index_untouched) {
    static const int32_t bad[] = {7, -1};
    for (int k = 0; k < 2; k++)
        for (int ref = 0; ref < 2; ref++) {
            float init[7 * 2], sv[3 * 2] = {1, 2, 3, 4, 5, 6}, out[7 * 2];
            for (int i = 0; i < 14; i++) init[i] = (float)-i;
            int32_t idx[3] = {0, bad[k], 2};
            struct scatter_args a = {.src = mmrt_tensor_2d(MMRT_F32, sv, 2, 3), .idx = mmrt_tensor_1d(MMRT_I32, idx, 3),
                                     .init = init, .n = 7};
            memcpy(out, init, sizeof out);
            mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, out, 2, 7);
            mmrt_backend *be = backend(1, ref);
            mmrt_error err = {0};
            cr_assert_eq(mmrt_scatter_rows(be, &d, &a.src, &a.idx, &err), MMRT_ERR_INVALID_ARG);
            mmrt_backend_free(be);
            char want[64];
            snprintf(want, sizeof want, "row index %d (entry 1) out of range [0, 7)", bad[k]);
            cr_assert(strstr(err.msg, want), "message: %s", err.msg);
            cr_assert_arr_eq(out, init, sizeof out, "dst written despite bad input");
        }
}

typedef struct {
    float temperature;
    int32_t top_k;
    float top_p, min_p;
} sample_case;

/* Parameter sets of the sample tests: plain, each filter alone, all together, k = 1, greedy, a
 * top_k above the CUDA kernel's selection bound. */
static const sample_case sample_cases[] = {
    {1.0f, 0, 1.0f, 0.0f},  {0.7f, 40, 1.0f, 0.0f},    {1.0f, 0, 0.9f, 0.0f},    {1.3f, 0, 1.0f, 0.05f},
    {0.8f, 200, 0.95f, 0.02f}, {1.0f, 1, 1.0f, 0.0f}, {0.0f, 0, 1.0f, 0.0f},     {2.0f, 5000, 0.5f, 0.0f},
    {0.5f, 64, 0.8f, 0.1f}, {1.0f, 0, 0.0f, 0.0f},     {1.0f, 65, 1.0f, 1.0f},
};

static void sample_on(mmrt_backend *be, const mmrt_tensor *x, const float *u, const sample_case *c, int32_t *out) {
    mmrt_tensor ut = mmrt_tensor_1d(MMRT_F32, (void *)u, x->ne[1]), d = mmrt_tensor_1d(MMRT_I32, out, x->ne[1]);
    mmrt_error err = {0};
    cr_assert_eq(mmrt_sample(be, &d, x, &ut, c->temperature, c->top_k, c->top_p, c->min_p, &err), MMRT_OK, "%s",
                 err.msg);
}

/* u for m rows: random in [0, 1), with 0 and the largest f32 below 1 among them */
static float *sample_u(int64_t m, uint64_t seed) {
    float *u = floats(m, seed, 0.0f, 1.0f);
    for (int64_t i = 0; i < m; i++)
        if (u[i] >= 1.0f) u[i] = 0x1.fffffep-1f;
    u[0] = 0.0f;
    if (m > 1) u[m - 1] = 0x1.fffffep-1f;
    return u;
}

Test(ops, sample_matches_oracle) {
    static const int64_t vocab[][3] = {{1000, 64, 0}, {49152 + 7, 12, 0}, {7, 16, 0}, {300, 40, 1}}; /* V, m, ties */
    for (size_t v = 0; v < sizeof vocab / sizeof *vocab; v++) {
        int64_t V = vocab[v][0], m = vocab[v][1];
        float *l = floats(V * m, 90 + v, -8.0f, 8.0f), *u = sample_u(m, 95 + v);
        if (vocab[v][2])
            for (int64_t i = 0; i < V * m; i++) l[i] = floorf(l[i]); /* 16 distinct values: ties */
        mmrt_tensor x = mmrt_tensor_2d(MMRT_F32, l, V, m);
        int32_t *got = malloc(sizeof(int32_t) * (size_t)m), *want = malloc(sizeof(int32_t) * (size_t)m);
        for (size_t c = 0; c < sizeof sample_cases / sizeof *sample_cases; c++) {
            mmrt_backend *rb = backend(1, true), *be = backend(2, false);
            sample_on(rb, &x, u, &sample_cases[c], want);
            sample_on(be, &x, u, &sample_cases[c], got);
            mmrt_backend_free(rb);
            mmrt_backend_free(be);
            int bad = 0;
            for (int64_t r = 0; r < m; r++) {
                cr_assert(want[r] >= 0 && want[r] < V);
                if (got[r] != want[r] && bad++ < 8)
                    fprintf(stderr, "sample V=%lld case %zu: row %lld (u %.9g): expected %d, got %d\n", (long long)V,
                            c, (long long)r, u[r], want[r], got[r]);
            }
            cr_assert_eq(bad, 0, "sample V=%lld case %zu: %d rows differ from the oracle", (long long)V, c, bad);
        }
        free(l);
        free(u);
        free(got);
        free(want);
    }
}

Test(ops, sample_oracle_by_hand) {
    /* p = (0.5, 0.3, 0.2) at T = 1, listed out of order: ids 2, 0, 1 */
    float l[3] = {logf(0.3f), logf(0.2f), logf(0.5f)};
    mmrt_tensor x = mmrt_tensor_2d(MMRT_F32, l, 3, 1);
    static const struct {
        sample_case c;
        float u;
        int32_t want;
    } cases[] = {
        {{1, 0, 1, 0}, 0.49f, 2},   {{1, 0, 1, 0}, 0.51f, 0},    {{1, 0, 1, 0}, 0.81f, 1},
        {{1, 0, 0.6f, 0}, 0.7f, 0}, {{1, 0, 0.6f, 0}, 0.6f, 2},  /* keeps {2, 0}: r = u · 0.8 */
        {{1, 0, 1, 0.5f}, 0.9f, 0}, /* floor 0.25 drops id 1 */ {{1, 1, 1, 0}, 0.99f, 2},
        {{1, 2, 1, 0}, 0.7f, 0},    /* p renormalised over the two: (0.625, 0.375) */
        {{0, 0, 1, 0}, 0.99f, 2},   {{1, 0, 0, 0}, 0.99f, 2}, /* top_p 0 keeps the best */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int32_t got = -1;
        mmrt_backend *rb = backend(1, true);
        sample_on(rb, &x, &cases[i].u, &cases[i].c, &got);
        mmrt_backend_free(rb);
        cr_assert_eq(got, cases[i].want, "case %zu: u %g: expected %d, got %d", i, cases[i].u, cases[i].want, got);
    }
}

/* fusion/sampling.c's generator, to know the u each of its draws used */
static uint64_t host_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double host_next_unit(uint64_t s[4]) {
    uint64_t r = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return (double)(r >> 11) * 0x1.0p-53;
}

/* The op's definition is the host sampler's: same token for the same u (the host draws u with 53
 * bits, the op takes it as f32, which moves r by ~1e-8 relative: no boundary is that close here). */
Test(ops, sample_oracle_equals_the_host_sampler) {
    enum { V = 300, N = 200 };
    float *l = floats(V, 99, -6.0f, 6.0f), *row = malloc(sizeof(float) * V), *lx = malloc(sizeof(float) * V * N);
    float u[N];
    int32_t got[N];
    for (int64_t i = 0; i < N; i++) memcpy(lx + i * V, l, sizeof(float) * V);
    mmrt_tensor x = mmrt_tensor_2d(MMRT_F32, lx, V, N);
    for (size_t c = 0; c < sizeof sample_cases / sizeof *sample_cases; c++) {
        const sample_case *sc = &sample_cases[c];
        mmrt_sampler_params sp = {.temperature = sc->temperature, .top_k = sc->top_k, .top_p = sc->top_p,
                                  .min_p = sc->min_p, .repeat_penalty = 1.0f, .seed = 1234 + c};
        mmrt_sampler smp;
        cr_assert_eq(mmrt_sampler_init(&smp, &sp, V, NULL), MMRT_OK);
        uint64_t seed = sp.seed, rng[4];
        for (int i = 0; i < 4; i++) rng[i] = host_splitmix64(&seed);
        int32_t want[N];
        for (int i = 0; i < N; i++) {
            memcpy(row, l, sizeof(float) * V);
            want[i] = mmrt_sampler_sample(&smp, row, NULL, 0);
            u[i] = sc->temperature > 0.0f ? (float)host_next_unit(rng) : 0.5f;
            if (u[i] >= 1.0f) u[i] = 0x1.fffffep-1f;
        }
        mmrt_sampler_free(&smp);
        mmrt_backend *rb = backend(1, true);
        sample_on(rb, &x, u, sc, got);
        mmrt_backend_free(rb);
        for (int i = 0; i < N; i++)
            cr_assert_eq(got[i], want[i], "case %zu draw %d (u %.9g): host sampler %d, op %d", c, i, u[i], want[i],
                         got[i]);
    }
    free(l);
    free(row);
    free(lx);
}

/* ---- silu, glu, conv1d_dw, rel_pos_bias (the conformer's ops) ------------------------------ */

/* A (ne3, ne2, ne1, ne0) f32 tensor whose rows are `pitch` ≥ ne0 floats apart, random values. */
static mmrt_tensor pitched(int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, int64_t pitch, uint64_t seed,
                           float lo, float hi) {
    mmrt_tensor t = mmrt_tensor_make(MMRT_F32, floats(pitch * ne1 * ne2 * ne3, seed, lo, hi), 4,
                                     (int64_t[]){ne0, ne1, ne2, ne3});
    t.nb[1] = (size_t)pitch * sizeof(float);
    t.nb[2] = t.nb[1] * (size_t)ne1;
    t.nb[3] = t.nb[2] * (size_t)ne2;
    return t;
}

struct gate_args {
    mmrt_tensor x;
    bool glu;
};

static mmrt_status run_gate(mmrt_backend *be, void *args, float *out) {
    struct gate_args *a = args;
    mmrt_tensor d = mmrt_tensor_make(MMRT_F32, out, 4, a->x.ne);
    if (!a->glu) return mmrt_silu(be, &d, &a->x, NULL);
    d.ne[0] /= 2;
    d = mmrt_tensor_make(MMRT_F32, out, 2, d.ne);
    return mmrt_glu(be, &d, &a->x, NULL);
}

Test(ops, silu_and_glu_match_oracle) {
    /* (ne0, ne1, ne2, ne3, pitch): one element, odd 2-D, strided rows, 3-D and 4-D (SILU),
     * a long row; GLU takes the 2-D ones, ne0 = 2n */
    static const int64_t shapes[][5] = {{2, 1, 1, 1, 2},     {74, 9, 1, 1, 74}, {34, 5, 1, 1, 41},
                                        {6, 3, 4, 1, 9},     {8, 2, 3, 2, 8},   {3072, 3, 1, 1, 3072}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int glu = 0; glu < 2; glu++) {
            const int64_t *sh = shapes[s];
            if (glu && (sh[2] != 1 || sh[3] != 1)) continue;
            struct gate_args a = {.x = pitched(sh[0], sh[1], sh[2], sh[3], sh[4], 120 + s, -12.0f, 12.0f),
                                  .glu = glu};
            char what[96];
            snprintf(what, sizeof what, "%s %lldx%lldx%lldx%lld pitch %lld", glu ? "glu" : "silu", (long long)sh[3],
                     (long long)sh[2], (long long)sh[1], (long long)sh[0], (long long)sh[4]);
            check_all(what, run_gate, &a, mmrt_tensor_nelements(&a.x) / (glu ? 2 : 1), 1e-6);
            free(a.x.data);
        }
}

Test(ops, silu_and_glu_oracles_by_hand) {
    /* torch.nn.functional.silu and torch.nn.GLU(dim=-1), in float64 */
    float x[6] = {1.0f, -2.0f, 3.0f, -0.5f, 0.0f, -20.0f}, out[6];
    const double silu_want[6] = {0.7310585786300049, -0.2384058440442351, 2.8577223804672998,
                                 -0.1887703343990727, 0.0, -4.122307236380407e-08};
    float g[6] = {1.0f, -2.0f, 3.0f, 0.5f, -1.0f, 2.0f};
    const double glu_want[3] = {0.6224593312018546, -0.5378828427399902, 2.642391233933647};
    mmrt_backend *rb = backend(1, true);
    mmrt_tensor xt = mmrt_tensor_2d(MMRT_F32, x, 6, 1), dt = mmrt_tensor_2d(MMRT_F32, out, 6, 1);
    cr_assert_eq(mmrt_silu(rb, &dt, &xt, NULL), MMRT_OK);
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(out[i], silu_want[i], 1e-6 * fabs(silu_want[i]) + 1e-12, "silu(%g)", x[i]);
    mmrt_tensor gt = mmrt_tensor_2d(MMRT_F32, g, 6, 1), ht = mmrt_tensor_2d(MMRT_F32, out, 3, 1);
    cr_assert_eq(mmrt_glu(rb, &ht, &gt, NULL), MMRT_OK);
    for (int i = 0; i < 3; i++) cr_assert_float_eq(out[i], glu_want[i], 1e-6, "glu[%d]", i);
    mmrt_backend_free(rb);
}

struct conv_args {
    mmrt_tensor x, w, b;
    bool has_b;
    int32_t pl, pr;
};

static mmrt_status run_conv1d_dw(mmrt_backend *be, void *args, float *out) {
    struct conv_args *a = args;
    mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, out, a->x.ne[0], a->x.ne[1] + a->pl + a->pr - a->w.ne[0] + 1);
    return mmrt_conv1d_dw(be, &d, &a->x, &a->w, a->has_b ? &a->b : NULL, a->pl, a->pr, NULL);
}

Test(ops, conv1d_dw_matches_oracle) {
    /* (T, C, K, pad_left, pad_right, pitch - C): one frame and tap, Granite's K = 15 with
     * (7, 7), K even with torch's (K/2, K/2 − 1), no padding, asymmetric, T < K, strided x */
    static const int64_t shapes[][6] = {{1, 1, 1, 0, 0, 0},  {40, 33, 15, 7, 7, 0}, {9, 4, 4, 2, 1, 3},
                                        {6, 5, 3, 0, 0, 0},  {10, 3, 5, 0, 3, 1},  {3, 7, 6, 3, 2, 0},
                                        {17, 64, 8, 4, 3, 5}, {2, 2, 3, 2, 2, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t t = 0; t < 3; t++) {
            const int64_t *sh = shapes[s];
            int64_t T = sh[0], C = sh[1], K = sh[2], n_out = T + sh[3] + sh[4] - K + 1;
            struct conv_args a = {.x = pitched(C, T, 1, 1, C + sh[5], 140 + s, -2.0f, 2.0f),
                                  .w = weights(weight_types[t], K, C, 150 + s, NULL),
                                  .b = weights(weight_types[(t + s) % 3], C, 1, 160 + s, NULL),
                                  .has_b = (s + t) % 4 != 1,
                                  .pl = (int32_t)sh[3],
                                  .pr = (int32_t)sh[4]};
            char what[128];
            snprintf(what, sizeof what, "conv1d_dw T=%lld C=%lld K=%lld pad (%lld, %lld) w=%s%s%s", (long long)T,
                     (long long)C, (long long)K, (long long)sh[3], (long long)sh[4], mmrt_dtype_name(weight_types[t]),
                     a.has_b ? "" : " no bias", sh[5] ? " strided" : "");
            check_all(what, run_conv1d_dw, &a, n_out * C, 1e-6);
            free(a.x.data);
            free(a.w.data);
            free(a.b.data);
        }
}

Test(ops, conv1d_dw_oracle_by_hand) {
    /* torch Conv1d(2, 2, K, groups=2) over F.pad(x, pads), float64: K = 3 with (1, 1) and a bias,
     * K = 4 with (2, 1) and none; x (T = 4, C = 2) */
    float x[8] = {1, 2, 3, -1, 0.5f, 4, -2, 1}, out[8];
    float w3[6] = {1, 2, 3, -1, 0.5f, 2}, b3[2] = {0.25f, -1}, w4[8] = {1, -1, 2, 0.5f, 2, 1, -3, 1};
    const float want3[8] = {11.25f, -2.0f, 8.75f, 4.5f, -1.75f, 4.0f, -3.25f, -4.5f};
    const float want4[8] = {3.5f, -7.0f, 5.25f, 9.0f, -2.0f, -8.0f, -1.5f, -1.0f};
    for (int k4 = 0; k4 < 2; k4++) {
        struct conv_args a = {.x = mmrt_tensor_2d(MMRT_F32, x, 2, 4),
                              .w = mmrt_tensor_2d(MMRT_F32, k4 ? w4 : w3, k4 ? 4 : 3, 2),
                              .b = mmrt_tensor_1d(MMRT_F32, b3, 2),
                              .has_b = !k4,
                              .pl = k4 ? 2 : 1,
                              .pr = 1};
        mmrt_backend *rb = backend(1, true);
        cr_assert_eq(run_conv1d_dw(rb, &a, out), MMRT_OK);
        mmrt_backend_free(rb);
        for (int i = 0; i < 8; i++)
            cr_assert_float_eq(out[i], (k4 ? want4 : want3)[i], 1e-6f, "K=%d out[%d]", k4 ? 4 : 3, i);
    }
}

struct rel_pos_args {
    mmrt_tensor qe;
    int64_t n_kv;
    float s;
    int32_t c, o;
};

static mmrt_status run_rel_pos_bias(mmrt_backend *be, void *args, float *out) {
    struct rel_pos_args *a = args;
    mmrt_tensor d = mmrt_tensor_3d(MMRT_F32, out, a->n_kv, a->qe.ne[2], a->qe.ne[1]);
    return mmrt_rel_pos_bias(be, &d, &a->qe, a->s, a->c, a->o, NULL);
}

Test(ops, rel_pos_bias_matches_oracle) {
    /* (n, h, R, c, o, n_kv, pitch - R): n = 1; Granite's block (R = 2c + 1, o = c); queries
     * and keys beyond the clamp; an off-centre offset with n_kv > n; n_kv < n; strided qe */
    static const int64_t shapes[][7] = {{1, 1, 1, 0, 0, 1, 0}, {5, 3, 11, 5, 5, 5, 0}, {9, 2, 7, 3, 3, 9, 2},
                                        {4, 2, 9, 2, 5, 6, 0}, {6, 1, 5, 2, 2, 2, 1}, {33, 4, 9, 4, 4, 33, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t *sh = shapes[s];
        struct rel_pos_args a = {.qe = pitched(sh[2], sh[1], sh[0], 1, sh[2] + sh[6], 170 + s, -3.0f, 3.0f),
                                 .n_kv = sh[5], .s = 0.125f + (float)s, .c = (int32_t)sh[3], .o = (int32_t)sh[4]};
        char what[128];
        snprintf(what, sizeof what, "rel_pos_bias n=%lld h=%lld R=%lld c=%lld o=%lld n_kv=%lld%s", (long long)sh[0],
                 (long long)sh[1], (long long)sh[2], (long long)sh[3], (long long)sh[4], (long long)sh[5],
                 sh[6] ? " strided" : "");
        check_all(what, run_rel_pos_bias, &a, sh[1] * sh[0] * sh[5], 0.0); /* a gather and one product */
        free(a.qe.data);
    }
}

/* The composition the conformer uses, against transformers' GraniteSpeechConformerAttention
 * written out: pos_attn[h, i, j] = scale · q[i, h] · rel_pos_emb[clamp(i − j, −c, c) +
 * max_pos_emb] (einsum "b h c d, c r d -> b h c r" over attention_dists, c = context_size).
 * mmrt computes qe = q · E with E the rows [max_pos_emb − ctx, max_pos_emb + ctx] of the table
 * (MATMUL), then REL_POS_BIAS with offset = ctx and max_dist = c: a full block, a partial one,
 * and (beyond what Granite does, c < ctx) distances past the clamp. */
Test(ops, rel_pos_bias_equals_the_conformer_positional_scores) {
    enum { HD = 6, H = 3, CTX = 4, MAX_POS = 7, N_EMB = 2 * MAX_POS + 1, R = 2 * CTX + 1 };
    static const int cases[][2] = {{1, CTX}, {CTX, CTX}, {3, CTX}, {CTX, 2}, {CTX, 0}}; /* (n, c) */
    float scale = 1.0f / sqrtf((float)HD);
    float *emb = floats(N_EMB * HD, 180, -1.0f, 1.0f);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int n = cases[k][0], c = cases[k][1];
        float *q = floats(n * H * HD, 181 + k, -1.0f, 1.0f), qe[CTX * H * R], got[H * CTX * CTX];
        mmrt_backend *rb = backend(1, true);
        mmrt_tensor qt = mmrt_tensor_2d(MMRT_F32, q, HD, n * H);
        mmrt_tensor et = mmrt_tensor_2d(MMRT_F32, emb + (MAX_POS - CTX) * HD, HD, R);
        mmrt_tensor qet = mmrt_tensor_2d(MMRT_F32, qe, R, n * H);
        cr_assert_eq(mmrt_matmul(rb, &qet, &qt, &et, NULL), MMRT_OK);
        qet = mmrt_tensor_3d(MMRT_F32, qe, R, H, n);
        mmrt_tensor dt = mmrt_tensor_3d(MMRT_F32, got, n, n, H);
        cr_assert_eq(mmrt_rel_pos_bias(rb, &dt, &qet, scale, c, CTX, NULL), MMRT_OK);
        mmrt_backend_free(rb);
        for (int h = 0; h < H; h++)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    int dist = i - j < -c ? -c : i - j > c ? c : i - j;
                    const float *e = emb + (dist + MAX_POS) * HD, *qr = q + (i * H + h) * HD;
                    double want = 0.0;
                    for (int d = 0; d < HD; d++) want += (double)qr[d] * e[d];
                    want *= scale;
                    cr_assert_float_eq(got[(h * n + i) * n + j], want, 1e-6, "n=%d c=%d h=%d i=%d j=%d", n, c, h,
                                       i, j);
                }
        free(q);
    }
    free(emb);
}
