/* The CUDA backend's ops against the CPU backend's _ref oracles (fp64), within 1e-5 × max|ref|;
 * reduced-precision matmuls (TF32, f16/bf16 weights) within twice the error of a plain
 * computation in the same precision, as flash attention's tensor-core path is judged.
 *
 * Built only in the MMRT_CUDA_EMU variant, where the CUDA backend's kernels run on the CPU emulator
 * (cuda/emu); ctest runs this binary once per emulator scheduling order. Every case uploads random
 * inputs of odd shapes (1, 7, 33, 257 columns; strided rows), runs the op on the CUDA backend,
 * downloads and compares; none may fall back. A failed launch fails the case with the backend's
 * message, which names the kernel. */
#include "core/backend.h"
#include "core/ops.h"
#include "helpers/backend_test.h"
#include "helpers/compare.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mmrt_dtype weight_types[] = {MMRT_F32, MMRT_BF16, MMRT_F16};
static const int64_t col_counts[] = {1, 7, 33, 257};
static const int64_t row_counts[] = {1, 3, 6};

/* ---- host and device tensors ------------------------------------------------------------ */

/* A host tensor (ne2, ne1, ne0) whose rows are `pitch` ≥ ne0 elements apart, filled with
 * deterministic values in [lo, hi) (rounded to t for f16/bf16; small integers for i32). */
static mmrt_tensor host_tensor(mmrt_dtype t, int64_t ne0, int64_t ne1, int64_t ne2, int64_t pitch,
                               uint64_t seed, float lo, float hi) {
    int64_t n = pitch * ne1 * ne2;
    size_t es = mmrt_dtype_size(t);
    float *f = test_host_alloc(sizeof(float) * (size_t)(n ? n : 1));
    mmrt_test_fill(f, n, seed, lo, hi);
    void *data = test_host_alloc(es * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        switch (t) {
        case MMRT_F32:
            ((float *)data)[i] = f[i];
            break;
        case MMRT_BF16:
            ((uint16_t *)data)[i] = mmrt_f32_to_bf16(f[i]);
            break;
        case MMRT_F16:
            ((uint16_t *)data)[i] = mmrt_f32_to_f16(f[i]);
            break;
        case MMRT_I32:
            ((int32_t *)data)[i] = (int32_t)floorf(f[i]);
            break;
        default:
            cr_assert_fail("host_tensor: dtype %s", mmrt_dtype_name(t));
        }
    }
    mmrt_tensor h = mmrt_tensor_3d(t, data, ne0, ne1, ne2);
    h.nb[1] = (size_t)pitch * es;
    h.nb[2] = h.nb[1] * (size_t)ne1;
    h.nb[3] = h.nb[2] * (size_t)ne2;
    return h;
}

static mmrt_tensor host_matrix(mmrt_dtype t, int64_t cols, int64_t rows, int64_t pitch,
                               uint64_t seed, float lo, float hi) {
    return host_tensor(t, cols, rows, 1, pitch, seed, lo, hi);
}

/* The elements of t (host memory, any strides) as a flat f32 array, innermost first. */
static float *gather(const mmrt_tensor *t) {
    int64_t n = mmrt_tensor_nelements(t), k = 0;
    float *out = test_host_alloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++) {
                const char *row = mmrt_tensor_row(t, i1, i2, i3);
                for (int64_t i0 = 0; i0 < t->ne[0]; i0++)
                    out[k++] = t->type == MMRT_I32 ? (float)((const int32_t *)row)[i0]
                                                   : ((const float *)row)[i0];
            }
    return out;
}

/* ---- the one check every op goes through ------------------------------------------------ */

/* A CUDA backend whose f32 GEMMs use `math` (test_backend's is MMRT_MATH_F32, exact f32). */
static mmrt_backend *cuda_backend(mmrt_math math) {
    mmrt_backend *be = NULL;
    mmrt_error err = {0};
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CUDA, .n_threads = 1, .math = math};
    cr_assert_eq(mmrt_backend_init(&p, &be, &err), MMRT_OK, "CUDA backend init: %s", err.msg);
    return be;
}

/* Runs op (host tensors; op.dst a host tensor of the right shape and strides) on the CPU _ref
 * backend, which leaves the oracle's result in op.dst, and, with device copies of every tensor,
 * on a CUDA backend with `math`; returns the CUDA result gathered as a flat f32 array.
 * in_place: the CUDA run writes into its copy of src[0] (dst aliases it).
 * fallback: the CUDA backend must refuse the op, which then runs on the CPU (counted). */
static float *run_on_cuda(const char *what, mmrt_op op, mmrt_math math, bool in_place,
                          bool fallback) {
    mmrt_backend *cu = cuda_backend(math), *ref = test_backend(MMRT_DEVICE_KIND_CPU, true);
    mmrt_error err = {0};

    mmrt_tensor dsrc[4], ddst;
    mmrt_op dop = op;
    for (int i = 0; i < 4; i++)
        if (op.src[i]) {
            dsrc[i] = test_to_device(cu, op.src[i]);
            dop.src[i] = &dsrc[i];
        }
    /* NaN-filled destination: an element the kernel does not write fails the comparison */
    memset(op.dst->data, 0xff, mmrt_tensor_nbytes(op.dst));
    ddst = test_to_device(cu, op.dst);
    dop.dst = in_place ? &dsrc[0] : &ddst;

    cr_assert(cu->iface->supports_op(cu, &dop) != fallback, "%s: the CUDA backend %s it", what,
              fallback ? "takes" : "refuses");
    cr_assert_eq(mmrt_backend_run(ref, &op, &err), MMRT_OK, "%s: reference: %s", what, err.msg);
    cr_assert_eq(mmrt_backend_run(cu, &dop, &err), MMRT_OK, "%s: %s", what, err.msg);

    mmrt_tensor got = *op.dst;
    got.data = test_host_alloc(mmrt_tensor_nbytes(op.dst));
    cr_assert_eq(cu->iface->download(cu, got.data, dop.dst->data, mmrt_tensor_nbytes(op.dst), &err),
                 MMRT_OK, "%s: download: %s", what, err.msg);
    cr_assert_eq(cu->iface->synchronize(cu, &err), MMRT_OK, "%s: synchronize: %s", what, err.msg);
    cr_assert_eq(cu->n_fallback, fallback, "%s: %lld ops fell back to the CPU", what,
                 (long long)cu->n_fallback);
    cr_assert_eq(cu->n_ops, !fallback, "%s: ops run on the CUDA backend: %lld", what, (long long)cu->n_ops);

    for (int i = 0; i < 4; i++)
        if (op.src[i])
            cu->iface->buffer_free(cu, dsrc[i].data);
    cu->iface->buffer_free(cu, ddst.data);
    mmrt_backend_free(cu);
    mmrt_backend_free(ref);
    return gather(&got);
}

/* run_on_cuda with exact f32 arithmetic; dst within tol × max|ref| of the oracle. */
static void check_op_on(const char *what, mmrt_op op, double tol, bool in_place, bool fallback) {
    float *got = run_on_cuda(what, op, MMRT_MATH_F32, in_place, fallback);
    cr_assert(mmrt_test_close(what, got, gather(op.dst), mmrt_tensor_nelements(op.dst), tol),
              "%s differs from the oracle", what);
}

static void check_cuda_op(const char *what, mmrt_op op, double tol, bool in_place) {
    check_op_on(what, op, tol, in_place, false);
}

/* dst of the same shape as a, rows `pitch` apart. */
static mmrt_tensor host_dst(mmrt_dtype t, const mmrt_tensor *a, int64_t pitch) {
    return host_tensor(t, a->ne[0], a->ne[1], a->ne[2], pitch, 0, 0.0f, 0.0f);
}

/* ---- row-wise and elementwise ops on (rows, cols) ----------------------------------------- */

typedef struct {
    mmrt_op_kind kind;
    float lo, hi; /* input range */
    bool binary;
} matrix_op;

static const matrix_op matrix_ops[] = {
    {MMRT_OP_SOFTMAX, -8.0f, 8.0f, false}, {MMRT_OP_SCALE, -4.0f, 4.0f, false},
    {MMRT_OP_GELU, -6.0f, 6.0f, false},    {MMRT_OP_GELU_TANH, -6.0f, 6.0f, false},
    {MMRT_OP_SILU_MUL, -8.0f, 8.0f, true}, {MMRT_OP_ADD, -4.0f, 4.0f, true},
    {MMRT_OP_MUL, -4.0f, 4.0f, true},
};

/* Every shape, contiguous and with strided rows (a, b and dst each with their own pitch). */
static void check_matrix_op(const matrix_op *m, bool in_place) {
    for (size_t c = 0; c < sizeof col_counts / sizeof *col_counts; c++)
        for (size_t r = 0; r < sizeof row_counts / sizeof *row_counts; r++)
            for (int strided = 0; strided < 2; strided++) {
                int64_t cols = col_counts[c], rows = row_counts[r];
                uint64_t seed = 1000 * m->kind + 10 * c + r;
                mmrt_tensor a =
                    host_matrix(MMRT_F32, cols, rows, cols + 3 * strided, seed, m->lo, m->hi);
                mmrt_tensor b =
                    host_matrix(MMRT_F32, cols, rows, cols + 5 * strided, seed + 1, m->lo, m->hi);
                mmrt_tensor d =
                    host_dst(MMRT_F32, &a, in_place ? (int64_t)(a.nb[1] / 4) : cols + 2 * strided);
                mmrt_op op = {.kind = m->kind, .dst = &d, .src = {&a, m->binary ? &b : NULL}};
                op.p.scale.s = m->kind == MMRT_OP_SOFTMAX ? 0.7f : -1.75f;
                char what[128];
                snprintf(what, sizeof what, "%s rows=%lld cols=%lld%s%s", mmrt_op_name(m->kind),
                         (long long)rows, (long long)cols, strided ? " strided" : "",
                         in_place ? " in place" : "");
                check_cuda_op(what, op, 1e-5, in_place);
                test_free_host();
            }
}

Test(cuda_ops, softmax) { check_matrix_op(&matrix_ops[0], false); }
Test(cuda_ops, scale) { check_matrix_op(&matrix_ops[1], false); }
Test(cuda_ops, gelu) { check_matrix_op(&matrix_ops[2], false); }
Test(cuda_ops, gelu_tanh) { check_matrix_op(&matrix_ops[3], false); }
Test(cuda_ops, silu_mul) { check_matrix_op(&matrix_ops[4], false); }
Test(cuda_ops, add) { check_matrix_op(&matrix_ops[5], false); }
Test(cuda_ops, mul) { check_matrix_op(&matrix_ops[6], false); }

Test(cuda_ops, in_place) {
    check_matrix_op(&matrix_ops[0], true); /* softmax: three passes over the row it overwrites */
    check_matrix_op(&matrix_ops[4], true);
}

Test(cuda_ops, softmax_long_rows) {
    /* more columns than threads per block, and a row whose max sits in the last element */
    int64_t cols = 3001;
    mmrt_tensor a = host_matrix(MMRT_F32, cols, 2, cols, 77, -30.0f, 30.0f);
    ((float *)a.data)[cols - 1] = 45.0f;
    mmrt_tensor d = host_dst(MMRT_F32, &a, cols);
    mmrt_op op = {.kind = MMRT_OP_SOFTMAX, .dst = &d, .src = {&a}, .p.scale.s = 1.0f};
    check_cuda_op("softmax cols=3001", op, 1e-5, false);
    test_free_host();
}

/* ---- ops with f32/f16/bf16 weights -------------------------------------------------------- */

static void check_weighted(mmrt_op_kind kind, float lo, float hi) {
    for (size_t t = 0; t < 3; t++)
        for (size_t c = 0; c < sizeof col_counts / sizeof *col_counts; c++)
            for (size_t r = 0; r < sizeof row_counts / sizeof *row_counts; r++) {
                int64_t cols = col_counts[c], rows = row_counts[r];
                bool strided = (c + r) % 2;
                uint64_t seed = 2000 * kind + 100 * t + 10 * c + r;
                mmrt_tensor x = host_matrix(MMRT_F32, cols, rows, cols + 4 * strided, seed, lo, hi);
                mmrt_tensor w = host_matrix(weight_types[t], cols, 1, cols, seed + 1, -1.0f, 1.0f);
                /* a bias of another dtype than w */
                mmrt_tensor b =
                    host_matrix(weight_types[(t + 1) % 3], cols, 1, cols, seed + 2, -1.0f, 1.0f);
                mmrt_tensor d = host_dst(MMRT_F32, &x, cols + strided);
                mmrt_op op = {.kind = kind, .dst = &d, .src = {&x, &w}};
                if (kind == MMRT_OP_LAYER_NORM)
                    op.src[2] = &b;
                op.p.norm.eps = 1e-6f;
                char what[128];
                snprintf(what, sizeof what, "%s rows=%lld cols=%lld w=%s%s", mmrt_op_name(kind),
                         (long long)rows, (long long)cols, mmrt_dtype_name(weight_types[t]),
                         strided ? " strided" : "");
                check_cuda_op(what, op, 1e-5, false);
                test_free_host();
            }
}

Test(cuda_ops, rms_norm) { check_weighted(MMRT_OP_RMS_NORM, -3.0f, 3.0f); }
Test(cuda_ops, layer_norm) { check_weighted(MMRT_OP_LAYER_NORM, -3.0f, 5.0f); /* mean ≠ 0 */ }
Test(cuda_ops, add_bias) { check_weighted(MMRT_OP_ADD_BIAS, -4.0f, 4.0f); }

Test(cuda_ops, norms_long_rows) {
    /* SigLIP's 1152 and a large mean: the two-pass variance must not cancel */
    for (int k = 0; k < 2; k++) {
        mmrt_op_kind kind = k ? MMRT_OP_LAYER_NORM : MMRT_OP_RMS_NORM;
        mmrt_tensor x = host_matrix(MMRT_F32, 1152, 3, 1152, 90 + k, 95.0f, 105.0f);
        mmrt_tensor w = host_matrix(MMRT_BF16, 1152, 1, 1152, 92, -1.0f, 1.0f);
        mmrt_tensor b = host_matrix(MMRT_F16, 1152, 1, 1152, 93, -1.0f, 1.0f);
        mmrt_tensor d = host_dst(MMRT_F32, &x, 1152);
        mmrt_op op = {.kind = kind, .dst = &d, .src = {&x, &w, k ? &b : NULL}, .p.norm.eps = 1e-5f};
        check_cuda_op(k ? "layer_norm d=1152 mean 100" : "rms_norm d=1152 mean 100", op, 1e-5,
                      false);
        test_free_host();
    }
}

/* ---- matmul (cuBLAS GEMM) ------------------------------------------------------------------ */

/* x as a TF32 tensor core reads it: 10-bit mantissa, to nearest, ties away from zero
 * (cvt.rna.tf32.f32); infinity and NaN unchanged. */
static float round_tf32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) != 0x7f800000u)
        u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&x, &u, sizeof u);
    return x;
}

/* An input as the GEMM reads it: rounded to the weights' type (nearest even) for f16/bf16
 * weights, to TF32 for f32 weights under tf32, else unchanged. */
static float gemm_input(float v, mmrt_dtype w_type, bool tf32) {
    switch (w_type) {
    case MMRT_BF16:
        return mmrt_bf16_to_f32(mmrt_f32_to_bf16(v));
    case MMRT_F16:
        return mmrt_f16_to_f32(mmrt_f32_to_f16(v));
    default:
        return tf32 ? round_tf32(v) : v;
    }
}

/* The plain computation a reduced-precision GEMM is judged against: x and w rounded once as the
 * GEMM reads them, products and sums in f32 in k order. Returns dst (m, n) packed. */
static float *plain_matmul(const mmrt_tensor *x, const mmrt_tensor *w, bool tf32) {
    int64_t k = x->ne[0], m = x->ne[1], n = w->ne[1];
    float *out = test_host_alloc(sizeof(float) * (size_t)(m * n));
    float *wr = test_host_alloc(sizeof(float) * (size_t)k);
    for (int64_t j = 0; j < n; j++) {
        mmrt_to_f32(w->type, mmrt_tensor_row(w, j, 0, 0), wr, k);
        for (int64_t l = 0; l < k; l++)
            wr[l] = gemm_input(wr[l], w->type, tf32);
        for (int64_t i = 0; i < m; i++) {
            const float *xr = (const float *)mmrt_tensor_row(x, i, 0, 0);
            float s = 0.0f;
            for (int64_t l = 0; l < k; l++)
                s += gemm_input(xr[l], w->type, tf32) * wr[l];
            out[i * n + j] = s;
        }
    }
    return out;
}

/* Every shape and weight type, with rows packed, x strided (a slice of a wider matrix), dst
 * strided (rows of a larger buffer), and all three strided, where single rows also carry a stride
 * below their length (it addresses nothing). Exact f32 within 1e-5 × max|ref|; TF32 and 16-bit
 * weights (x rounded to their type) against the plain computation. */
static void check_matmul(mmrt_math math) {
    /* (m, n, k): one decode row, one output column, k below, above and not a multiple of 8
     * (vector widths, the emulated cuBLAS's 8 partial sums), k = 0 (dst = 0), long k */
    static const int64_t shapes[][3] = {{1, 7, 5},    {1, 33, 257},  {3, 17, 31},
                                        {16, 16, 16}, {37, 41, 577}, {2, 1, 1},
                                        {1, 1, 13},   {6, 1, 300},   {4, 3, 0}};
    static const char *layouts[] = {"", " x strided", " dst strided", " all strided"};
    bool tf32 = math != MMRT_MATH_F32;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t t = 0; t < 3; t++)
            for (int layout = 0; layout < 4; layout++) {
                int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                int sx = layout & 1, sd = layout >> 1, sw = layout == 3;
                uint64_t seed = 600 + 40 * s + 4 * t + (uint64_t)layout;
                mmrt_dtype wt = weight_types[t];
                mmrt_tensor x = host_matrix(MMRT_F32, k, m, k + 3 * sx, seed, -1.0f, 1.0f);
                mmrt_tensor w = host_matrix(wt, k, n, k + sw, seed + 1, -1.0f, 1.0f);
                mmrt_tensor d = host_matrix(MMRT_F32, n, m, n + 2 * sd, 0, 0.0f, 0.0f);
                if (layout == 3) {
                    if (m == 1)
                        x.nb[1] = d.nb[1] = sizeof(float);
                    if (n == 1)
                        w.nb[1] = mmrt_dtype_size(wt);
                }
                mmrt_op op = {.kind = MMRT_OP_MATMUL, .dst = &d, .src = {&x, &w}};
                char what[128];
                snprintf(what, sizeof what, "matmul m=%lld n=%lld k=%lld w=%s math=%d%s",
                         (long long)m, (long long)n, (long long)k, mmrt_dtype_name(wt), (int)math,
                         layouts[layout]);
                float *got = run_on_cuda(what, op, math, false, false);
                if (wt == MMRT_F32 && !tf32)
                    cr_assert(mmrt_test_close(what, got, gather(&d), m * n, 1e-5),
                              "%s differs from the oracle", what);
                else
                    cr_assert(mmrt_test_close_to_plain(what, got, gather(&d), plain_matmul(&x, &w, tf32), m * n),
                              "%s: error above twice the plain computation's", what);
                test_free_host();
            }
}

Test(cuda_ops, matmul) { check_matmul(MMRT_MATH_F32); }
Test(cuda_ops, matmul_tf32) { check_matmul(MMRT_MATH_TF32); }
Test(cuda_ops, matmul_math_bf16) { check_matmul(MMRT_MATH_BF16); /* f32 GEMMs in TF32 too */ }

/* The math mode reaches cuBLAS: MMRT_MATH_F32 keeps 1 + 2^-12 whole, TF32 and BF16 math let
 * cuBLAS read it as 1 (the emulated cuBLAS rounds whenever the compute type allows it). */
Test(cuda_ops, matmul_rounds_to_tf32_only_when_asked) {
    static const mmrt_math maths[] = {MMRT_MATH_F32, MMRT_MATH_TF32, MMRT_MATH_BF16};
    for (int i = 0; i < 3; i++) {
        mmrt_tensor x = host_matrix(MMRT_F32, 1, 1, 1, 0, 0.0f, 0.0f);
        mmrt_tensor w = host_matrix(MMRT_F32, 1, 1, 1, 0, 0.0f, 0.0f);
        mmrt_tensor d = host_matrix(MMRT_F32, 1, 1, 1, 0, 0.0f, 0.0f);
        ((float *)x.data)[0] = 1.0f + 0x1p-12f;
        ((float *)w.data)[0] = 1.0f;
        mmrt_op op = {.kind = MMRT_OP_MATMUL, .dst = &d, .src = {&x, &w}};
        char what[64];
        snprintf(what, sizeof what, "matmul 1x1x1 math=%d", (int)maths[i]);
        float got = run_on_cuda(what, op, maths[i], false, false)[0];
        float want = i == 0 ? 1.0f + 0x1p-12f : 1.0f;
        cr_assert_eq(got, want, "%s: got %.9g, expected %.9g", what, got, want);
        test_free_host();
    }
}

/* x rows that overlap (a stride below the row length) are no matrix cuBLAS takes: the CPU runs it. */
Test(cuda_ops, matmul_overlapping_rows_fall_back) {
    mmrt_tensor x = host_matrix(MMRT_F32, 12, 1, 12, 620, -1.0f, 1.0f);
    x.ne[0] = 8;
    x.ne[1] = 2;
    x.nb[1] = 4 * sizeof(float);
    x.nb[2] = x.nb[3] = 12 * sizeof(float);
    mmrt_tensor w = host_matrix(MMRT_F32, 8, 3, 8, 621, -1.0f, 1.0f);
    mmrt_tensor d = host_matrix(MMRT_F32, 3, 2, 3, 0, 0.0f, 0.0f);
    mmrt_op op = {.kind = MMRT_OP_MATMUL, .dst = &d, .src = {&x, &w}};
    check_op_on("matmul with overlapping x rows", op, 1e-5, false, true);
    test_free_host();
}

/* ---- get_rows ----------------------------------------------------------------------------- */

Test(cuda_ops, get_rows) {
    for (size_t t = 0; t < 3; t++)
        for (size_t c = 0; c < sizeof col_counts / sizeof *col_counts; c++) {
            int64_t d = col_counts[c], vocab = 50, n = 9;
            bool strided = c % 2;
            mmrt_tensor table =
                host_matrix(weight_types[t], d, vocab, d + 2 * strided, 300 + c, -2.0f, 2.0f);
            mmrt_tensor ids = host_matrix(MMRT_I32, n, 1, n, 310 + c, 0.0f, (float)vocab);
            ((int32_t *)ids.data)[0] = 0;
            ((int32_t *)ids.data)[1] = (int32_t)vocab - 1;
            ((int32_t *)ids.data)[2] = ((int32_t *)ids.data)[3]; /* a repeated id */
            ids = mmrt_tensor_1d(MMRT_I32, ids.data, n);
            mmrt_tensor dst = host_matrix(MMRT_F32, d, n, d + 3 * strided, 0, 0.0f, 0.0f);
            mmrt_op op = {.kind = MMRT_OP_GET_ROWS, .dst = &dst, .src = {&table, &ids}};
            char what[128];
            snprintf(what, sizeof what, "get_rows d=%lld table=%s%s", (long long)d,
                     mmrt_dtype_name(weight_types[t]), strided ? " strided" : "");
            check_cuda_op(what, op, 0.0, false); /* a gather converts exactly */
            test_free_host();
        }
}

Test(cuda_ops, get_rows_reports_out_of_range_ids_at_synchronize) {
    mmrt_backend *cu = test_backend(MMRT_DEVICE_KIND_CUDA, false);
    const int32_t bad_ids[] = {50, -1};
    for (int k = 0; k < 2; k++) {
        mmrt_tensor table = host_matrix(MMRT_F32, 7, 50, 7, 1, -1.0f, 1.0f);
        int32_t idv[3] = {3, bad_ids[k], 4};
        mmrt_tensor ids = mmrt_tensor_1d(MMRT_I32, idv, 3);
        mmrt_tensor dst = host_matrix(MMRT_F32, 7, 3, 7, 0, 0.0f, 0.0f);
        mmrt_tensor dt = test_to_device(cu, &table), di = test_to_device(cu, &ids), dd = test_to_device(cu, &dst);
        mmrt_error err = {0};
        cr_assert_eq(mmrt_get_rows(cu, &dd, &dt, &di, &err), MMRT_OK, "%s", err.msg);
        cr_assert_eq(cu->iface->synchronize(cu, &err), MMRT_ERR_INVALID_ARG);
        char want[64];
        snprintf(want, sizeof want, "token id %d out of range [0, 50)", bad_ids[k]);
        cr_assert(strstr(err.msg, want), "message: %s", err.msg);
        /* reported once: the next synchronize is clean */
        cr_assert_eq(cu->iface->synchronize(cu, &err), MMRT_OK, "%s", err.msg);
        cu->iface->buffer_free(cu, dt.data);
        cu->iface->buffer_free(cu, di.data);
        cu->iface->buffer_free(cu, dd.data);
        test_free_host();
    }
    mmrt_backend_free(cu);
}

/* ---- rope --------------------------------------------------------------------------------- */

Test(cuda_ops, rope) {
    /* (hd, n_head, n_tok, n_rot): full and partial rotation, odd head dim, one token */
    static const int shapes[][4] = {{64, 3, 5, 64}, {18, 1, 9, 18}, {96, 2, 3, 32},
                                    {8, 5, 1, 8},   {33, 2, 4, 16}, {7, 3, 2, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int strided = 0; strided < 2; strided++) {
            int hd = shapes[s][0], nh = shapes[s][1], nt = shapes[s][2], n_rot = shapes[s][3];
            mmrt_tensor x =
                host_tensor(MMRT_F32, hd, nh, nt, hd + 5 * strided, 400 + s, -2.0f, 2.0f);
            mmrt_tensor pos =
                mmrt_tensor_1d(MMRT_I32, test_host_alloc(sizeof(int32_t) * (size_t)nt), nt);
            /* large positions: the angle's f32 rounding must not show */
            for (int t = 0; t < nt; t++)
                ((int32_t *)pos.data)[t] = 1000 * t + 3 + 7919 * (int)s;
            mmrt_tensor inv = mmrt_tensor_1d(
                MMRT_F32, test_host_alloc(sizeof(float) * (size_t)(n_rot / 2 + 1)), n_rot / 2);
            for (int i = 0; i < n_rot / 2; i++)
                ((float *)inv.data)[i] = (float)pow(10000.0, -2.0 * i / n_rot);
            mmrt_tensor d = host_tensor(MMRT_F32, hd, nh, nt, hd + 2 * strided, 0, 0.0f, 0.0f);
            mmrt_op op = {.kind = MMRT_OP_ROPE, .dst = &d, .src = {&x, &pos, &inv}};
            op.p.rope.n_rot = n_rot;
            op.p.rope.attn_factor = s == 2 ? 1.25f : 1.0f;
            char what[128];
            snprintf(what, sizeof what, "rope hd=%d heads=%d tokens=%d n_rot=%d%s", hd, nh, nt,
                     n_rot, strided ? " strided" : "");
            check_cuda_op(what, op, 1e-5, false);
            /* in place: dst is x itself, with x's strides */
            mmrt_tensor d2 = host_tensor(MMRT_F32, hd, nh, nt, hd + 5 * strided, 0, 0.0f, 0.0f);
            op.dst = &d2;
            strncat(what, " in place", sizeof what - strlen(what) - 1);
            check_cuda_op(what, op, 1e-5, true);
            test_free_host();
        }
}

/* ---- argmax ------------------------------------------------------------------------------- */

Test(cuda_ops, argmax_first_index_on_ties) {
    static const int64_t cols[] = {1, 7, 33, 257, 1000};
    for (size_t c = 0; c < sizeof cols / sizeof *cols; c++) {
        int64_t rows = 5;
        mmrt_tensor x =
            host_matrix(MMRT_F32, cols[c], rows, cols[c] + (int64_t)(c % 2), 500 + c, 0.0f, 4.0f);
        /* few distinct values: ties everywhere, the maximum repeated across warps */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < cols[c]; j++) {
                float *v = (float *)mmrt_tensor_row(&x, r, 0, 0) + j;
                *v = floorf(*v);
            }
        mmrt_tensor d = host_matrix(MMRT_I32, rows, 1, rows, 0, 0.0f, 0.0f);
        d = mmrt_tensor_1d(MMRT_I32, d.data, rows);
        mmrt_op op = {.kind = MMRT_OP_ARGMAX, .dst = &d, .src = {&x}};
        char what[64];
        snprintf(what, sizeof what, "argmax cols=%lld", (long long)cols[c]);
        check_cuda_op(what, op, 0.0, false); /* indices: exact */
        test_free_host();
    }
}

/* ---- what the backend refuses, and its errors ------------------------------------------------ */

Test(cuda_ops, supports_op_refuses_what_it_cannot_run) {
    mmrt_backend *cu = test_backend(MMRT_DEVICE_KIND_CUDA, false);
    cr_assert_not(cu->iface->host_memory);
    mmrt_tensor hx = host_matrix(MMRT_F32, 8, 4, 8, 1, -1.0f, 1.0f);
    mmrt_tensor hw = host_matrix(MMRT_F32, 8, 8, 8, 2, -1.0f, 1.0f);
    mmrt_tensor hh = host_matrix(MMRT_F16, 8, 4, 8, 3, -1.0f, 1.0f);
    mmrt_tensor hd = host_matrix(MMRT_F32, 8, 4, 8, 0, 0.0f, 0.0f);
    mmrt_tensor x = test_to_device(cu, &hx), w = test_to_device(cu, &hw), h = test_to_device(cu, &hh);
    mmrt_tensor d = test_to_device(cu, &hd);
    mmrt_tensor w1 = w;
    w1.ne[1] = 1;
    w1.nb[2] = w1.nb[3] = w1.nb[1];

    /* the baseline is accepted */
    mmrt_op ok = {.kind = MMRT_OP_RMS_NORM, .dst = &d, .src = {&x, &w1}};
    cr_assert(cu->iface->supports_op(cu, &ok));

    /* attention with an odd head dim (the kernels need an even one; tests/test_cuda_attention.c
     * covers what they take) */
    mmrt_tensor q3 = mmrt_tensor_split_heads(&x, 1), d3 = mmrt_tensor_split_heads(&d, 1);
    mmrt_tensor k3 = q3;
    mmrt_op at = {.kind = MMRT_OP_ATTENTION, .dst = &d3, .src = {&q3, &k3, &k3}};
    at.p.attn.scale = 0.5f;
    at.p.attn.n_kv = 4;
    cr_assert_not(cu->iface->supports_op(cu, &at), "attention");
    /* ... runs on the CPU instead, counted as a fallback */
    mmrt_error err = {0};
    int64_t ops = cu->n_ops;
    cr_assert_eq(mmrt_backend_run(cu, &at, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(cu->n_fallback, 1);
    cr_assert_eq(cu->n_ops, ops);

    /* an f16 activation */
    mmrt_op sm = {.kind = MMRT_OP_SOFTMAX, .dst = &d, .src = {&h}, .p.scale.s = 1.0f};
    cr_assert_not(cu->iface->supports_op(cu, &sm), "f16 softmax input");
    /* an i32 bias */
    mmrt_tensor hb = host_matrix(MMRT_I32, 8, 1, 8, 4, 0.0f, 4.0f);
    mmrt_tensor b = test_to_device(cu, &hb);
    mmrt_op ab = {.kind = MMRT_OP_ADD_BIAS, .dst = &d, .src = {&x, &b}};
    cr_assert_not(cu->iface->supports_op(cu, &ab), "i32 bias");

    /* host memory: weights on the host are not supported yet, nor host activations */
    mmrt_tensor hw1 = host_matrix(MMRT_F32, 8, 1, 8, 5, -1.0f, 1.0f);
    mmrt_op hostw = {.kind = MMRT_OP_RMS_NORM, .dst = &d, .src = {&x, &hw1}};
    cr_assert_not(cu->iface->supports_op(cu, &hostw), "host weight");
    mmrt_op hostx = {.kind = MMRT_OP_RMS_NORM, .dst = &d, .src = {&hx, &w1}};
    cr_assert_not(cu->iface->supports_op(cu, &hostx), "host activation");

    /* a view that runs past the end of its buffer */
    mmrt_tensor over = x;
    over.ne[1] = 5;
    mmrt_tensor dover = d;
    dover.ne[1] = 5;
    mmrt_op ov = {.kind = MMRT_OP_SCALE, .dst = &dover, .src = {&over}, .p.scale.s = 2.0f};
    cr_assert_not(cu->iface->supports_op(cu, &ov), "view past the buffer");

    /* a freed buffer */
    cu->iface->buffer_free(cu, x.data);
    cr_assert_not(cu->iface->supports_op(cu, &ok), "freed buffer");

    cu->iface->buffer_free(cu, w.data);
    cu->iface->buffer_free(cu, h.data);
    cu->iface->buffer_free(cu, d.data);
    cu->iface->buffer_free(cu, b.data);
    mmrt_backend_free(cu);
    test_free_host();
}

Test(cuda_ops, buffers_are_pooled) {
    mmrt_backend *cu = test_backend(MMRT_DEVICE_KIND_CUDA, false);
    mmrt_error err = {0};
    void *a = NULL, *b = NULL, *c = NULL;
    cr_assert_eq(cu->iface->buffer_alloc(cu, 1000, &a, &err), MMRT_OK, "%s", err.msg);
    cu->iface->buffer_free(cu, a);
    cr_assert_eq(cu->iface->buffer_alloc(cu, 900, &b, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(b, a, "a freed buffer of the right size is reused");
    cr_assert_eq(cu->iface->buffer_alloc(cu, 900, &c, &err), MMRT_OK, "%s", err.msg);
    cr_assert_neq(c, b, "a buffer in use is not handed out twice");
    cu->iface->buffer_free(cu, b);
    cu->iface->buffer_free(cu, c);
    cu->iface->buffer_free(cu, NULL);
    mmrt_backend_free(cu);
}

Test(cuda_ops, device_oom_names_the_size) {
    mmrt_backend *cu = test_backend(MMRT_DEVICE_KIND_CUDA, false);
    mmrt_error err = {0};
    void *p = NULL;
    size_t huge = (size_t)1 << 52; /* 4 PiB */
    cr_assert_eq(cu->iface->buffer_alloc(cu, huge, &p, &err), MMRT_ERR_OOM, "%s", err.msg);
    cr_assert(strstr(err.msg, "4503599627370496"), "message: %s", err.msg);
    /* the backend still works afterwards, and the failure is not blamed on the next kernel */
    mmrt_tensor hx = host_matrix(MMRT_F32, 5, 2, 5, 1, -1.0f, 1.0f);
    mmrt_tensor hd = host_matrix(MMRT_F32, 5, 2, 5, 0, 0.0f, 0.0f);
    mmrt_tensor x = test_to_device(cu, &hx), d = test_to_device(cu, &hd);
    cr_assert_eq(mmrt_scale(cu, &d, &x, 2.0f, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(cu->iface->synchronize(cu, &err), MMRT_OK, "%s", err.msg);
    cu->iface->buffer_free(cu, x.data);
    cu->iface->buffer_free(cu, d.data);
    mmrt_backend_free(cu);
    test_free_host();
}

Test(cuda_ops, elementwise_grid_stride) {
    /* more elements than the grid has threads (FLAT_BLOCKS_MAX × FLAT_THREADS = 262144) */
    mmrt_tensor a = host_matrix(MMRT_F32, 1001, 300, 1003, 95, -6.0f, 6.0f);
    mmrt_tensor b = host_matrix(MMRT_BF16, 1001, 1, 1001, 96, -1.0f, 1.0f);
    mmrt_tensor d = host_dst(MMRT_F32, &a, 1001);
    mmrt_op gelu = {.kind = MMRT_OP_GELU, .dst = &d, .src = {&a}};
    check_cuda_op("gelu rows=300 cols=1001", gelu, 1e-5, false);
    mmrt_op bias = {.kind = MMRT_OP_ADD_BIAS, .dst = &d, .src = {&a, &b}};
    check_cuda_op("add_bias rows=300 cols=1001", bias, 1e-5, false);
    test_free_host();
}

/* An op the kernels do not take runs on the CPU: operands downloaded, the result uploaded back,
 * counted in n_fallback; in place too (dst aliasing src[0]). */
Test(cuda_ops, unsupported_ops_fall_back_to_the_cpu) {
    /* attention with an odd head dim: q (5 tokens, 2 heads, 3), a 6-row K/V cache of 5 keys */
    mmrt_tensor q = host_tensor(MMRT_F32, 3, 2, 5, 3, 11, -1.0f, 1.0f);
    mmrt_tensor k = host_tensor(MMRT_F32, 3, 2, 6, 3, 12, -1.0f, 1.0f);
    mmrt_tensor v = host_tensor(MMRT_F32, 3, 2, 6, 3, 13, -1.0f, 1.0f);
    mmrt_tensor d = host_tensor(MMRT_F32, 3, 2, 5, 3, 0, 0.0f, 0.0f);
    mmrt_op at = {.kind = MMRT_OP_ATTENTION, .dst = &d, .src = {&q, &k, &v}};
    at.p.attn.scale = 0.5f;
    at.p.attn.n_kv = 5;
    at.p.attn.causal = true;
    check_op_on("attention, head dim 3", at, 1e-5, false, true);
    test_free_host();
}

/* ---- patchify, pixel_shuffle, scatter_rows, sample ------------------------------------------ */

Test(cuda_ops, patchify) {
    /* (n_img, C, H, W, p): SigLIP-like, non-square, one patch, p = 1, odd */
    static const int64_t shapes[][5] = {{2, 3, 8, 8, 4}, {1, 3, 14, 21, 7}, {3, 1, 5, 5, 5}, {1, 2, 6, 4, 1},
                                        {2, 3, 9, 9, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int strided = 0; strided < 2; strided++) {
            int64_t n = shapes[s][0], C = shapes[s][1], H = shapes[s][2], W = shapes[s][3], p = shapes[s][4];
            mmrt_tensor px = host_tensor(MMRT_F32, W, H, C * n, W + 3 * strided, 600 + s, -1.0f, 1.0f);
            px.ne[2] = C;
            px.ne[3] = n;
            px.nb[3] = px.nb[2] * (size_t)C;
            int64_t k = C * p * p, rows = n * (H / p) * (W / p);
            mmrt_tensor d = host_matrix(MMRT_F32, k, rows, k + 2 * strided, 0, 0.0f, 0.0f);
            mmrt_op op = {.kind = MMRT_OP_PATCHIFY, .dst = &d, .src = {&px}, .p.patchify.patch = (int32_t)p};
            char what[128];
            snprintf(what, sizeof what, "patchify %lldx%lldx%lldx%lld p=%lld%s", (long long)n, (long long)C,
                     (long long)H, (long long)W, (long long)p, strided ? " strided" : "");
            check_cuda_op(what, op, 0.0, false); /* a copy: exact */
            test_free_host();
        }
}

Test(cuda_ops, pixel_shuffle) {
    static const int64_t shapes[][4] = {{2, 4, 3, 2}, {1, 6, 5, 3}, {3, 3, 7, 1}, {1, 8, 2, 4}, {2, 6, 257, 2}};
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++)
        for (int strided = 0; strided < 2; strided++) {
            int64_t nt = shapes[c][0], s = shapes[c][1], D = shapes[c][2], r = shapes[c][3], w = s / r;
            mmrt_tensor x = host_tensor(MMRT_F32, D, s * s, nt, D + 5 * strided, 700 + c, -1.0f, 1.0f);
            mmrt_tensor d = host_matrix(MMRT_F32, D * r * r, nt * w * w, D * r * r + strided, 0, 0.0f, 0.0f);
            mmrt_op op = {.kind = MMRT_OP_PIXEL_SHUFFLE, .dst = &d, .src = {&x}, .p.shuffle.scale_factor = (int32_t)r};
            char what[128];
            snprintf(what, sizeof what, "pixel_shuffle tiles=%lld s=%lld D=%lld r=%lld%s", (long long)nt,
                     (long long)s, (long long)D, (long long)r, strided ? " strided" : "");
            check_cuda_op(what, op, 0.0, false);
            test_free_host();
        }
}

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* scatter_rows writes into a dst that holds data: dst starts from the same values on both sides
 * (run_on_cuda's NaN fill would make the kept rows incomparable). */
Test(cuda_ops, scatter_rows_keeps_other_rows) {
    static const int64_t shapes[][3] = {{7, 3, 5}, {21, 20, 257}, {9, 1, 1}, {40, 33, 33}}; /* (n, m, d) */
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int strided = 0; strided < 2; strided++) {
            int64_t n = shapes[s][0], m = shapes[s][1], d = shapes[s][2];
            mmrt_tensor src = host_matrix(MMRT_F32, d, m, d + 3 * strided, 800 + s, 2.0f, 3.0f);
            mmrt_tensor dst = host_matrix(MMRT_F32, d, n, d + strided, 810 + s, -1.0f, 1.0f);
            mmrt_tensor idx = mmrt_tensor_1d(MMRT_I32, test_host_alloc(sizeof(int32_t) * (size_t)m), m);
            int64_t step = 8; /* coprime with n: i · step + 3 (mod n) are distinct for i < m ≤ n */
            while (gcd64(step, n) != 1) step++;
            for (int64_t i = 0; i < m; i++) ((int32_t *)idx.data)[i] = (int32_t)((i * step + 3) % n);
            mmrt_backend *cu = test_backend(MMRT_DEVICE_KIND_CUDA, false), *ref = test_backend(MMRT_DEVICE_KIND_CPU, true);
            mmrt_tensor ds = test_to_device(cu, &src), di = test_to_device(cu, &idx), dd = test_to_device(cu, &dst);
            mmrt_error err = {0};
            cr_assert_eq(mmrt_scatter_rows(ref, &dst, &src, &idx, &err), MMRT_OK, "%s", err.msg);
            cr_assert_eq(mmrt_scatter_rows(cu, &dd, &ds, &di, &err), MMRT_OK, "%s", err.msg);
            mmrt_tensor got = dst;
            got.data = test_host_alloc(mmrt_tensor_nbytes(&dst));
            cr_assert_eq(cu->iface->download(cu, got.data, dd.data, mmrt_tensor_nbytes(&dst), &err), MMRT_OK);
            cr_assert_eq(cu->iface->synchronize(cu, &err), MMRT_OK, "%s", err.msg);
            cr_assert_eq(cu->n_fallback, 0);
            char what[96];
            snprintf(what, sizeof what, "scatter_rows n=%lld m=%lld d=%lld%s", (long long)n, (long long)m,
                     (long long)d, strided ? " strided" : "");
            cr_assert(mmrt_test_close(what, gather(&got), gather(&dst), n * d, 0.0), "%s differs from the oracle",
                      what);
            cu->iface->buffer_free(cu, ds.data);
            cu->iface->buffer_free(cu, di.data);
            cu->iface->buffer_free(cu, dd.data);
            mmrt_backend_free(cu);
            mmrt_backend_free(ref);
            test_free_host();
        }
}

Test(cuda_ops, scatter_rows_reports_out_of_range_index_at_synchronize) {
    mmrt_backend *cu = test_backend(MMRT_DEVICE_KIND_CUDA, false);
    const int32_t bad_idx[] = {9, -2};
    for (int k = 0; k < 2; k++) {
        mmrt_tensor src = host_matrix(MMRT_F32, 5, 3, 5, 1, -1.0f, 1.0f);
        int32_t iv[3] = {1, bad_idx[k], 4};
        mmrt_tensor idx = mmrt_tensor_1d(MMRT_I32, iv, 3);
        mmrt_tensor dst = host_matrix(MMRT_F32, 5, 9, 5, 2, 0.0f, 1.0f);
        mmrt_tensor ds = test_to_device(cu, &src), di = test_to_device(cu, &idx), dd = test_to_device(cu, &dst);
        mmrt_error err = {0};
        cr_assert_eq(mmrt_scatter_rows(cu, &dd, &ds, &di, &err), MMRT_OK, "%s", err.msg);
        cr_assert_eq(cu->iface->synchronize(cu, &err), MMRT_ERR_INVALID_ARG);
        char want[64];
        snprintf(want, sizeof want, "scatter_rows: row index %d out of range [0, 9)", bad_idx[k]);
        cr_assert(strstr(err.msg, want), "message: %s", err.msg);
        cr_assert_eq(cu->iface->synchronize(cu, &err), MMRT_OK, "%s", err.msg); /* reported once */
        cu->iface->buffer_free(cu, ds.data);
        cu->iface->buffer_free(cu, di.data);
        cu->iface->buffer_free(cu, dd.data);
        test_free_host();
    }
    mmrt_backend_free(cu);
}

/* Parameter sets: plain; each filter alone; all together; k = 1; greedy; top_k at and just above
 * the kernel's selection bound (64); a large top_k; top_p 0; min_p 1. */
static const struct {
    float temperature;
    int32_t top_k;
    float top_p, min_p;
} cuda_sample_cases[] = {
    {1.0f, 0, 1.0f, 0.0f},   {0.7f, 40, 1.0f, 0.0f},  {1.0f, 0, 0.9f, 0.0f},  {1.3f, 0, 1.0f, 0.05f},
    {0.8f, 200, 0.95f, 0.02f}, {1.0f, 1, 1.0f, 0.0f}, {0.0f, 0, 1.0f, 0.0f},  {0.5f, 64, 0.8f, 0.1f},
    {1.0f, 65, 1.0f, 0.0f},  {2.0f, 5000, 0.5f, 0.0f}, {1.0f, 0, 0.0f, 0.0f}, {1.0f, 0, 1.0f, 1.0f},
};

/* Distinct logits (a shuffled arithmetic ramp plus noise smaller than its step) over odd V,
 * many u per set; the token must be the oracle's exactly. */
static void check_sample(int64_t V, int64_t rows, bool strided, int64_t first_case, int64_t n_cases) {
    mmrt_tensor x = host_matrix(MMRT_F32, V, rows, V + 3 * strided, 900 + V, 0.0f, 1.0f);
    for (int64_t r = 0; r < rows; r++) {
        float *row = mmrt_tensor_row(&x, r, 0, 0);
        for (int64_t j = 0; j < V; j++) /* j ↦ (j · 7919 + r) mod V is a bijection: V is not a multiple */
            row[j] = -8.0f + 16.0f * ((float)((j * 7919 + r) % V) + 0.5f * row[j]) / (float)V;
    }
    mmrt_tensor u = host_matrix(MMRT_F32, rows, 1, rows, 990 + V, 0.0f, 1.0f);
    u = mmrt_tensor_1d(MMRT_F32, u.data, rows);
    ((float *)u.data)[0] = 0.0f;
    ((float *)u.data)[rows - 1] = 0x1.fffffep-1f;
    for (int64_t c = first_case; c < first_case + n_cases; c++) {
        mmrt_tensor d = host_matrix(MMRT_I32, rows, 1, rows, 0, 0.0f, 0.0f);
        d = mmrt_tensor_1d(MMRT_I32, d.data, rows);
        mmrt_op op = {.kind = MMRT_OP_SAMPLE, .dst = &d, .src = {&x, &u}};
        op.p.sample.temperature = cuda_sample_cases[c].temperature;
        op.p.sample.top_k = cuda_sample_cases[c].top_k;
        op.p.sample.top_p = cuda_sample_cases[c].top_p;
        op.p.sample.min_p = cuda_sample_cases[c].min_p;
        char what[128];
        snprintf(what, sizeof what, "sample V=%lld rows=%lld T=%g top_k=%d top_p=%g min_p=%g%s", (long long)V,
                 (long long)rows, op.p.sample.temperature, op.p.sample.top_k, op.p.sample.top_p,
                 op.p.sample.min_p, strided ? " strided" : "");
        check_cuda_op(what, op, 0.0, false); /* token ids: exact */
    }
    test_free_host();
}

#define N_SAMPLE_CASES ((int64_t)(sizeof cuda_sample_cases / sizeof *cuda_sample_cases))

Test(cuda_ops, sample_small_vocab) {
    check_sample(7, 5, false, 0, N_SAMPLE_CASES);
    check_sample(33, 9, true, 0, N_SAMPLE_CASES);
}
Test(cuda_ops, sample_many_u) { check_sample(1000, 32, true, 0, N_SAMPLE_CASES); }
Test(cuda_ops, sample_large_vocab) { check_sample(49152 + 7, 4, false, 0, N_SAMPLE_CASES); }

/* ---- silu, glu, conv1d_dw, rel_pos_bias (the conformer's ops) ------------------------------ */

Test(cuda_ops, silu) {
    check_matrix_op(&(matrix_op){MMRT_OP_SILU, -12.0f, 12.0f, false}, false);
    check_matrix_op(&(matrix_op){MMRT_OP_SILU, -12.0f, 12.0f, false}, true);
    /* 3-D and 4-D, strided rows: (ne3, ne2, ne1, ne0) = (1, 4, 3, 33) and (2, 3, 5, 7) */
    static const int64_t shapes[][4] = {{33, 3, 4, 1}, {7, 5, 3, 2}};
    for (size_t s = 0; s < 2; s++) {
        const int64_t *sh = shapes[s];
        mmrt_tensor a = host_tensor(MMRT_F32, sh[0], sh[1], sh[2] * sh[3], sh[0] + 3, 1900 + s, -12.0f, 12.0f);
        mmrt_tensor d = host_tensor(MMRT_F32, sh[0], sh[1], sh[2] * sh[3], sh[0] + 1, 0, 0.0f, 0.0f);
        for (mmrt_tensor *t = &a; t; t = t == &a ? &d : NULL) {
            t->ne[2] = sh[2];
            t->ne[3] = sh[3];
            t->nb[3] = t->nb[2] * (size_t)sh[2];
        }
        mmrt_op op = {.kind = MMRT_OP_SILU, .dst = &d, .src = {&a}};
        char what[96];
        snprintf(what, sizeof what, "silu %lldx%lldx%lldx%lld strided", (long long)sh[3], (long long)sh[2],
                 (long long)sh[1], (long long)sh[0]);
        check_cuda_op(what, op, 1e-5, false);
        test_free_host();
    }
}

Test(cuda_ops, glu) {
    for (size_t c = 0; c < sizeof col_counts / sizeof *col_counts; c++)
        for (size_t r = 0; r < sizeof row_counts / sizeof *row_counts; r++)
            for (int strided = 0; strided < 2; strided++) {
                int64_t n = col_counts[c], rows = row_counts[r];
                mmrt_tensor x = host_matrix(MMRT_F32, 2 * n, rows, 2 * n + 3 * strided, 1950 + 10 * c + r, -10.0f,
                                            10.0f);
                mmrt_tensor d = host_matrix(MMRT_F32, n, rows, n + strided, 0, 0.0f, 0.0f);
                mmrt_op op = {.kind = MMRT_OP_GLU, .dst = &d, .src = {&x}};
                char what[96];
                snprintf(what, sizeof what, "glu rows=%lld n=%lld%s", (long long)rows, (long long)n,
                         strided ? " strided" : "");
                check_cuda_op(what, op, 1e-5, false);
                test_free_host();
            }
}

Test(cuda_ops, conv1d_dw) {
    /* (T, C, K, pad_left, pad_right): one frame and tap, Granite's K = 15 with (7, 7) over more
     * frames than a block has threads, K even with torch's (K/2, K/2 − 1), no padding,
     * asymmetric, T < K, 257 channels */
    static const int64_t shapes[][5] = {{1, 1, 1, 0, 0},  {300, 33, 15, 7, 7}, {9, 4, 4, 2, 1}, {6, 5, 3, 0, 0},
                                        {10, 3, 5, 0, 3}, {3, 7, 6, 3, 2},     {17, 257, 8, 4, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t t = 0; t < 3; t++) {
            const int64_t *sh = shapes[s];
            int64_t T = sh[0], C = sh[1], K = sh[2], n_out = T + sh[3] + sh[4] - K + 1;
            bool strided = (s + t) % 2, bias = (s + t) % 3 != 2;
            uint64_t seed = 2100 + 10 * s + t;
            mmrt_tensor x = host_matrix(MMRT_F32, C, T, C + 3 * strided, seed, -2.0f, 2.0f);
            mmrt_tensor w = host_matrix(weight_types[t], K, C, K + strided, seed + 1, -1.0f, 1.0f);
            mmrt_tensor b = host_matrix(weight_types[(t + 1) % 3], C, 1, C, seed + 2, -1.0f, 1.0f);
            mmrt_tensor d = host_matrix(MMRT_F32, C, n_out, C + 2 * strided, 0, 0.0f, 0.0f);
            mmrt_op op = {.kind = MMRT_OP_CONV1D_DW, .dst = &d, .src = {&x, &w, bias ? &b : NULL}};
            op.p.conv1d.pad_left = (int32_t)sh[3];
            op.p.conv1d.pad_right = (int32_t)sh[4];
            char what[128];
            snprintf(what, sizeof what, "conv1d_dw T=%lld C=%lld K=%lld pad (%lld, %lld) w=%s%s%s", (long long)T,
                     (long long)C, (long long)K, (long long)sh[3], (long long)sh[4], mmrt_dtype_name(weight_types[t]),
                     bias ? "" : " no bias", strided ? " strided" : "");
            check_cuda_op(what, op, 1e-5, false);
            test_free_host();
        }
}

Test(cuda_ops, rel_pos_bias) {
    /* (n, h, R, max_dist, offset, n_kv): n = 1; Granite's block (R = 2c + 1, o = c); distances
     * beyond the clamp; an off-centre offset with n_kv > n; n_kv < n; more outputs than threads */
    static const int64_t shapes[][6] = {{1, 1, 1, 0, 0, 1}, {5, 3, 11, 5, 5, 5}, {9, 2, 7, 3, 3, 9},
                                        {4, 2, 9, 2, 5, 6}, {6, 1, 5, 2, 2, 2}, {200, 4, 9, 4, 4, 200}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int strided = 0; strided < 2; strided++) {
            const int64_t *sh = shapes[s];
            int64_t n = sh[0], h = sh[1], R = sh[2], n_kv = sh[5];
            mmrt_tensor qe = host_tensor(MMRT_F32, R, h, n, R + 2 * strided, 2200 + s, -3.0f, 3.0f);
            mmrt_tensor d = host_tensor(MMRT_F32, n_kv, n, h, n_kv + 3 * strided, 0, 0.0f, 0.0f);
            mmrt_op op = {.kind = MMRT_OP_REL_POS_BIAS, .dst = &d, .src = {&qe}};
            op.p.rel_pos.scale = 0.125f + (float)s;
            op.p.rel_pos.max_dist = (int32_t)sh[3];
            op.p.rel_pos.offset = (int32_t)sh[4];
            char what[128];
            snprintf(what, sizeof what, "rel_pos_bias n=%lld h=%lld R=%lld c=%lld o=%lld n_kv=%lld%s", (long long)n,
                     (long long)h, (long long)R, (long long)sh[3], (long long)sh[4], (long long)n_kv,
                     strided ? " strided" : "");
            check_cuda_op(what, op, 0.0, false); /* a gather and one f32 product: exact */
            test_free_host();
        }
}
