/* The CPU backend's MATMUL and GET_ROWS with block-format (quantized) weights, every type, in the
 * three arithmetic modes, decode (m ≤ 8: dot kernels) and prefill (m ≥ 16: GEMM blocks / tiles)
 * shapes, every SIMD level, 1-3 threads:
 * - f32: the weights dequantized exactly; within 1e-5 of the fp64 oracle, and the oracle itself
 *   equal to MATMUL on the dequantized weights stored as f32;
 * - bf16: judged as tests/test_ops_bf16.c judges it (twice the bf16 oracle's error, and closer to
 *   that oracle than to the f32 result);
 * - int8: against the int8 oracle (activations quantized per block, reference integer kernels):
 *   bit-identical at the generic level (the same kernels), elsewhere within the f32-reordering
 *   bound core/quant.h states, and much closer to it than to the f32 result;
 * - the int8 path's activation quantizer: the reference's bytes;
 * - GET_ROWS: exactly the dequantized rows, every mode, fast and oracle. */
#include "core/backend.h"
#include "core/cpu/cpu.h"
#include "core/cpu/simd.h"
#include "core/ops.h"
#include "core/quant.h"
#include "helpers/backend_test.h"
#include "helpers/compare.h"
#include "helpers/op_runs.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mmrt_dtype qtypes[] = {MMRT_Q8_0, MMRT_Q4_0, MMRT_Q4_1, MMRT_Q5_0,
                                    MMRT_Q5_1, MMRT_Q4_K, MMRT_Q5_K, MMRT_Q6_K};
#define N_QTYPES (sizeof qtypes / sizeof *qtypes)
/* (m, n, k): decode rows (1, 3, 8: the dot kernels), prefill (17, 130: GEMM blocks / int8 tiles),
 * n ragged, n = 129 straddling the 128-row GEMM block */
static const int64_t shapes[][3] = {{1, 37, 4096}, {3, 70, 256}, {8, 33, 512},
                                    {17, 129, 256}, {130, 45, 512}, {130, 19, 4096}};
#define N_SHAPES (sizeof shapes / sizeof *shapes)
static const int thread_counts[] = {1, 2, 3};

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Byte offsets of a block's f16 scale fields (d, and dmin / m where the type has one). */
static void f16_fields(mmrt_dtype t, int *at0, int *at1) {
    *at0 = t == MMRT_Q6_K ? 208 : 0;
    *at1 = t == MMRT_Q4_1 || t == MMRT_Q5_1 || t == MMRT_Q4_K || t == MMRT_Q5_K ? 2 : -1;
}

/* A (rows, k) weight matrix of type t: random packed integers (every bit pattern is valid) and
 * random positive f16 scales in [2^-7, 2^-5) — like a model's, and never inf or NaN. */
static mmrt_tensor random_weights(mmrt_dtype t, int64_t k, int64_t rows, uint64_t seed) {
    size_t n = mmrt_dtype_row_bytes(t, k) * (size_t)rows, bb = mmrt_dtype_size(t);
    uint8_t *p = malloc(n);
    cr_assert(p);
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 7;
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(rng_next(&s) >> 24);
    int at0, at1;
    f16_fields(t, &at0, &at1);
    for (size_t b = 0; b < n; b += bb)
        for (int f = 0; f < 2; f++) {
            int at = f ? at1 : at0;
            if (at < 0) continue;
            uint16_t h = mmrt_f32_to_f16(ldexpf(1.0f + (float)(rng_next(&s) % 1024) / 1024.0f, -7 - (int)(rng_next(&s) % 2)));
            memcpy(p + b + at, &h, 2);
        }
    return mmrt_tensor_2d(t, p, k, rows);
}

/* The rows of w dequantized (mmrt_dequantize_row: gguf-py's values), (rows, k) f32. */
static float *dequantized(const mmrt_tensor *w) {
    int64_t k = w->ne[0], rows = w->ne[1];
    float *f = malloc(sizeof(float) * (size_t)(k * rows));
    cr_assert(f);
    for (int64_t r = 0; r < rows; r++) {
        mmrt_error err = {0};
        cr_assert_eq(mmrt_dequantize_row((mmrt_qtype)mmrt_dtype_qtype(w->type), mmrt_tensor_row(w, r, 0, 0),
                                         f + r * k, k, &err), MMRT_OK, "%s", err.msg);
    }
    return f;
}

static float *activations(int64_t k, int64_t m, uint64_t seed) {
    float *x = malloc(sizeof(float) * (size_t)(k * m));
    cr_assert(x);
    mmrt_test_fill(x, k * m, seed, -1.0f, 1.0f);
    return x;
}

/* out = the matmul on a fresh backend (use_ref: the oracle, one thread), which must accept it. */
static void run_on(int n_threads, bool use_ref, mmrt_math math, const mmrt_tensor *x, const mmrt_tensor *w,
                   float *out, const char *what) {
    mmrt_backend *be = test_cpu_backend(n_threads, use_ref, math);
    mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, out, w->ne[1], x->ne[1]);
    cr_assert(be->iface->supports_op(be, &(mmrt_op){.kind = MMRT_OP_MATMUL, .dst = &d, .src = {x, w}}),
              "%s: the CPU backend refuses it", what);
    cr_assert_eq(run_matmul(be, &(struct matmul_args){.x = *x, .w = *w}, out), MMRT_OK, "%s: matmul failed", what);
    mmrt_backend_free(be);
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* One mode's check of the fast result against the references of one case. */
typedef struct quant_case {
    const char *what;
    const mmrt_tensor *x, *w;
    const float *ref;   /* (m, n) the f32 oracle */
    const float *plain; /* (m, n) the mode's oracle (bf16 or int8) */
    const float *bound; /* (m, n) int8: core/quant.h's bound on the f32 reordering */
    double err_plain;   /* max |plain − ref| */
} quant_case;

typedef void (*check_fn)(const quant_case *c, const float *got, const char *label, bool generic);

static void check_f32(const quant_case *c, const float *got, const char *label, bool generic) {
    int64_t n = c->x->ne[1] * c->w->ne[1];
    cr_assert(mmrt_test_close(label, got, c->ref, n, 1e-5), "%s differs from the oracle", label);
}

static void check_bf16(const quant_case *c, const float *got, const char *label, bool generic) {
    int64_t n = c->x->ne[1] * c->w->ne[1];
    cr_assert(mmrt_test_close_to_plain(label, got, c->ref, c->plain, n), "%s: error above 2x plain's", label);
    double to_plain = max_abs_diff(got, c->plain, n);
    cr_assert_leq(to_plain, 0.02 * c->err_plain, "%s: %.3g from the bf16 oracle, which is %.3g from f32: "
                  "the inputs were not rounded as the mode says", label, to_plain, c->err_plain);
}

static void check_int8(const quant_case *c, const float *got, const char *label, bool generic) {
    int64_t n = c->x->ne[1] * c->w->ne[1], shown = 0;
    for (int64_t i = 0; i < n; i++) {
        bool ok = generic ? got[i] == c->plain[i] : fabs((double)got[i] - c->plain[i]) <= c->bound[i];
        if (!ok && shown++ < 5)
            fprintf(stderr, "%s: [%lld] int8 oracle %.9g, got %.9g (bound %.3g%s)\n", label, (long long)i,
                    c->plain[i], got[i], generic ? 0.0 : c->bound[i], generic ? ", same kernels: exact" : "");
    }
    cr_assert_eq(shown, 0, "%s: %lld outputs off the int8 oracle", label, (long long)shown);
    double to_plain = max_abs_diff(got, c->plain, n);
    cr_assert_leq(to_plain, 0.01 * c->err_plain, "%s: %.3g from the int8 oracle, which is %.3g from f32: "
                  "activations were not quantized as the mode says", label, to_plain, c->err_plain);
}

/* core/quant.h's bound on a SIMD kernel against the reference: (3·n_blocks + 16)·2^-24 ·
 * Σ_l (|w_l| + offset_l)·|a_l|, with the offsets (Q4_0's 8·d, the mins, Q6_K's 32·|d·sc|) taken as
 * 4·max |w| over l's block and the quantized activation |a_l| as |x_l| + max |x| / 127. */
static float *int8_bounds(const mmrt_tensor *x, const mmrt_tensor *w) {
    int64_t k = x->ne[0], m = x->ne[1], n = w->ne[1], bs = mmrt_dtype_block(w->type);
    float *wf = dequantized(w), *b = malloc(sizeof(float) * (size_t)(m * n));
    double *wo = malloc(sizeof(double) * (size_t)k); /* |w_l| + 4 · block max */
    cr_assert(b && wo);
    double c = (3.0 * (double)(k / bs) + 16.0) * ldexp(1.0, -24);
    for (int64_t j = 0; j < n; j++) {
        const float *wr = wf + j * k;
        for (int64_t l0 = 0; l0 < k; l0 += bs) {
            double mx = 0.0;
            for (int64_t l = l0; l < l0 + bs; l++) mx = fmax(mx, fabs(wr[l]));
            for (int64_t l = l0; l < l0 + bs; l++) wo[l] = fabs(wr[l]) + 4.0 * mx;
        }
        for (int64_t i = 0; i < m; i++) {
            const float *xr = (const float *)x->data + i * k;
            double amax = 0.0, s = 0.0;
            for (int64_t l = 0; l < k; l++) amax = fmax(amax, fabs(xr[l]));
            for (int64_t l = 0; l < k; l++) s += wo[l] * (fabs(xr[l]) + amax / 127.0);
            b[i * n + j] = (float)(c * s);
        }
    }
    free(wf);
    free(wo);
    return b;
}

/* Runs the fast backend in `math` at every SIMD level and thread count and checks each result. The
 * int8 path splits outputs only, never a sum: its results must not depend on the thread count. */
static void check_levels(const quant_case *c, mmrt_math math, check_fn check) {
    int64_t n = c->x->ne[1] * c->w->ne[1];
    float *got = malloc(sizeof(float) * (size_t)n), *first = malloc(sizeof(float) * (size_t)n);
    cr_assert(got && first);
    for (int level = MMRT_SIMD_GENERIC; level <= MMRT_SIMD_AVX512; level++) {
        mmrt_simd_force((mmrt_simd_level)level);
        if ((int)mmrt_simd_level_get() != level) continue; /* the CPU lacks it */
        for (size_t t = 0; t < sizeof thread_counts / sizeof *thread_counts; t++) {
            char label[256];
            snprintf(label, sizeof label, "%s [%s, %d threads]", c->what,
                     mmrt_simd_level_name((mmrt_simd_level)level), thread_counts[t]);
            memset(got, 0xff, sizeof(float) * (size_t)n); /* NaN: catches unwritten outputs */
            run_on(thread_counts[t], false, math, c->x, c->w, got, label);
            check(c, got, label, level == MMRT_SIMD_GENERIC);
            if (t == 0) memcpy(first, got, sizeof(float) * (size_t)n);
            else if (math == MMRT_MATH_INT8)
                cr_assert_arr_eq(got, first, sizeof(float) * (size_t)n, "%s: differs from 1 thread's", label);
        }
    }
    mmrt_simd_force(MMRT_SIMD_AVX512);
    free(got);
    free(first);
}

/* Every type × shape in one mode: the oracles once per case, then the fast backend everywhere. */
static void check_mode(mmrt_math math, check_fn check) {
    for (size_t s = 0; s < N_SHAPES; s++)
        for (size_t t = 0; t < N_QTYPES; t++) {
            int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            float *xf = activations(k, m, 1 + s);
            mmrt_tensor x = mmrt_tensor_2d(MMRT_F32, xf, k, m);
            mmrt_tensor w = random_weights(qtypes[t], k, n, 100 + 10 * s + t);
            char what[96];
            snprintf(what, sizeof what, "matmul %s m=%lld n=%lld k=%lld", mmrt_dtype_name(qtypes[t]),
                     (long long)m, (long long)n, (long long)k);
            float *ref = malloc(sizeof(float) * (size_t)(m * n)), *plain = malloc(sizeof(float) * (size_t)(m * n));
            cr_assert(ref && plain);
            run_on(1, true, MMRT_MATH_F32, &x, &w, ref, what);
            quant_case c = {.what = what, .x = &x, .w = &w, .ref = ref, .plain = plain};
            if (math != MMRT_MATH_F32) {
                run_on(1, true, math, &x, &w, plain, what);
                c.err_plain = max_abs_diff(plain, ref, m * n);
                cr_assert_gt(c.err_plain, 0.0, "%s: the mode's oracle equals f32's: a useless case", what);
            }
            float *bound = math == MMRT_MATH_INT8 ? int8_bounds(&x, &w) : NULL;
            c.bound = bound;
            check_levels(&c, math, check);
            free(bound);
            free(ref);
            free(plain);
            free(xf);
            free(w.data);
        }
}

Test(ops_quant, matmul_f32) { check_mode(MMRT_MATH_F32, check_f32); }
Test(ops_quant, matmul_bf16) { check_mode(MMRT_MATH_BF16, check_bf16); }
Test(ops_quant, matmul_int8) { check_mode(MMRT_MATH_INT8, check_int8); }

/* The f32 oracle on quantized weights is the oracle on the same weights dequantized and stored as
 * f32, bit for bit: what the GGUF parity tests rely on (transformers on the dequantized weights). */
Test(ops_quant, f32_oracle_is_dequantized_matmul) {
    for (size_t t = 0; t < N_QTYPES; t++) {
        int64_t m = 3, n = 21, k = 512;
        float *xf = activations(k, m, 9);
        mmrt_tensor x = mmrt_tensor_2d(MMRT_F32, xf, k, m);
        mmrt_tensor w = random_weights(qtypes[t], k, n, 50 + t);
        float *wf = dequantized(&w);
        mmrt_tensor w32 = mmrt_tensor_2d(MMRT_F32, wf, k, n);
        float got[3 * 21], want[3 * 21];
        run_on(1, true, MMRT_MATH_F32, &x, &w, got, mmrt_dtype_name(qtypes[t]));
        run_on(1, true, MMRT_MATH_F32, &x, &w32, want, "f32");
        cr_assert_arr_eq(got, want, sizeof got, "%s: oracle differs from f32 on the dequantized weights",
                         mmrt_dtype_name(qtypes[t]));
        free(xf);
        free(wf);
        free(w.data);
    }
}

/* x with rows further apart than k (a view into a wider buffer) gives what a compact x gives, in
 * every mode, decode and prefill: the same bits, except where oneDNN multiplies (f32 and bf16
 * prefill), whose kernel choice may follow the stride. */
Test(ops_quant, strided_activation_rows) {
    static const mmrt_math maths[] = {MMRT_MATH_F32, MMRT_MATH_BF16, MMRT_MATH_INT8};
    static const int64_t ms[] = {5, 20};
    int64_t k = 256, n = 24, stride = 300;
    mmrt_tensor w = random_weights(MMRT_Q4_K, k, n, 77);
    for (size_t mi = 0; mi < 2; mi++) {
        int64_t m = ms[mi];
        float *xc = activations(k, m, 31 + mi), *xw = malloc(sizeof(float) * (size_t)(stride * m));
        cr_assert(xw);
        for (int64_t i = 0; i < m; i++) memcpy(xw + i * stride, xc + i * k, sizeof(float) * (size_t)k);
        mmrt_tensor x = mmrt_tensor_2d(MMRT_F32, xc, k, m), xs = x;
        xs.data = xw;
        xs.nb[1] = sizeof(float) * (size_t)stride;
        xs.nb[2] = xs.nb[3] = xs.nb[1] * (size_t)m;
        float want[20 * 24], got[20 * 24];
        for (size_t md = 0; md < 3; md++) {
            run_on(2, false, maths[md], &x, &w, want, "compact x");
            run_on(2, false, maths[md], &xs, &w, got, "strided x");
            if (m >= 16 && maths[md] != MMRT_MATH_INT8)
                cr_assert(mmrt_test_close("strided x (oneDNN)", got, want, m * n, 1e-6));
            else
                cr_assert_arr_eq(got, want, sizeof(float) * (size_t)(m * n), "m=%lld, math %d: strided x differs",
                                 (long long)m, (int)maths[md]);
        }
        free(xc);
        free(xw);
    }
    free(w.data);
}

/* The int8 path's activation quantizer writes mmrt_quantize_row's bytes (the oracle's): random rows
 * at several magnitudes, and rows of exact ties (amax 127 makes d = 1, so x·id = x: ±n.5 must round
 * away from zero, ±0.49999997 towards it). */
Test(ops_quant, act_quantizer_matches_reference) {
    static const mmrt_qtype acts[] = {MMRT_QTYPE_Q8_0, MMRT_QTYPE_Q8_1, MMRT_QTYPE_Q8_K};
    static const float scales[] = {1e-3f, 1.0f, 3e3f, 0.0f};
    int64_t k = 512;
    float x[512];
    for (size_t c = 0; c < 5; c++) {
        if (c < 4) {
            mmrt_test_fill(x, k, 300 + c, -1.0f, 1.0f);
            for (int64_t i = 0; i < k; i++) x[i] *= scales[c];
        } else {
            for (int64_t i = 0; i < k; i++)
                x[i] = i % 32 == 0 ? 127.0f : i % 7 == 0 ? (i % 2 ? 0.49999997f : -0.49999997f)
                                                          : (float)(i % 32 - 16) + (i % 2 ? 0.5f : -0.5f);
        }
        for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
            size_t n = mmrt_qtype_row_bytes(acts[a], k);
            uint8_t want[2048], got[2048];
            cr_assert(n <= sizeof want);
            memset(got, 0xa5, n);
            cr_assert_eq(mmrt_quantize_row(acts[a], x, want, k, NULL), MMRT_OK);
            mmrt_cpu_quantize_act(acts[a], x, got, k);
            for (size_t i = 0; i < n; i++)
                cr_assert_eq(got[i], want[i], "%s, case %zu: byte %zu is %u, the reference's %u",
                             mmrt_qtype_get(acts[a])->name, c, i, got[i], want[i]);
        }
    }
}

/* GET_ROWS from a quantized table: exactly the dequantized rows, every mode, fast and oracle. */
Test(ops_quant, get_rows_dequantizes_exactly) {
    static const mmrt_math maths[] = {MMRT_MATH_F32, MMRT_MATH_BF16, MMRT_MATH_INT8};
    int32_t ids[] = {3, 0, 39, 3, 17};
    mmrt_tensor idt = mmrt_tensor_1d(MMRT_I32, ids, 5);
    for (size_t t = 0; t < N_QTYPES; t++) {
        int64_t k = 512;
        mmrt_tensor table = random_weights(qtypes[t], k, 40, 70 + t);
        float *want = dequantized(&table), got[5 * 512];
        for (size_t md = 0; md < 3; md++)
            for (int ref = 0; ref < 2; ref++) {
                mmrt_backend *be = test_cpu_backend(2, ref, maths[md]);
                mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, got, k, 5);
                mmrt_error err = {0};
                cr_assert(be->iface->supports_op(be, &(mmrt_op){.kind = MMRT_OP_GET_ROWS, .dst = &d,
                                                               .src = {&table, &idt}}));
                cr_assert_eq(mmrt_get_rows(be, &d, &table, &idt, &err), MMRT_OK, "%s", err.msg);
                mmrt_backend_free(be);
                for (int i = 0; i < 5; i++)
                    cr_assert_arr_eq(got + k * i, want + k * ids[i], sizeof(float) * (size_t)k,
                                     "%s row %d (math %d, %s)", mmrt_dtype_name(qtypes[t]), i, (int)maths[md],
                                     ref ? "oracle" : "fast");
            }
        free(want);
        free(table.data);
    }
}
