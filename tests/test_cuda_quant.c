/* The CUDA backend's MATMUL and GET_ROWS on block-format weights (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q4_K, Q5_K, Q6_K; cuda/quant_matmul.cu) against the CPU backend's _ref oracles, in the three arithmetic modes:
 *   F32   within 1e-5 × max|ref| of the fp64 oracle on the exactly dequantized weights
 *   BF16  (and F16, which takes the same path) within twice the error of the plain computation
 *         (weights dequantized then rounded to bf16, x rounded to bf16, f32 sums in k order) from
 *         that fp64 oracle
 *   INT8  bit for bit the int8 oracle (x quantized per block as llama.cpp's reference quantizers
 *         do, the reference integer dot kernels): the device runs the same operations in the same
 *         order, so even the summation-order differences the mode allows do not occur
 * GET_ROWS dequantizes exactly (bit for bit). Shapes: k 256 and 512, ragged n, m 1 and 3 (the
 * decode GEMV) and 17 (prefill: the dequantized cuBLAS GEMM, or the int8 kernels in row chunks),
 * x and dst strided in some cases. Weights are random bytes under realistic f16 scales, so every
 * bit pattern of the levels and packed scales occurs. None of the ops may fall back to the CPU.
 *
 * Built only in the MMRT_CUDA_EMU variant (cuda/emu); ctest runs it once per scheduling order. */
#include "core/backend.h"
#include "core/quant.h"
#include "core/weight_upload.h"
#include "helpers/backend_test.h"
#include "helpers/compare.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const mmrt_dtype quant_types[] = {MMRT_Q8_0, MMRT_Q4_0, MMRT_Q4_1, MMRT_Q5_0,
                                         MMRT_Q5_1, MMRT_Q4_K, MMRT_Q5_K, MMRT_Q6_K};
#define N_QUANT_TYPES (sizeof quant_types / sizeof *quant_types)

/* ---- host tensors -------------------------------------------------------------------------- */

static uint64_t next_random(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* An f16 scale of magnitude [lo, hi), negative when `sign` and the draw say so. */
static uint16_t random_scale(uint64_t *s, float lo, float hi, bool sign) {
    float v = lo + (hi - lo) * (float)(next_random(s) % 1000) / 1000.0f;
    return mmrt_f32_to_f16(sign && next_random(s) % 2 ? -v : v);
}

/* Block b's f16 scales set to realistic values (the rest of its bytes stay random). */
static void fix_scales(mmrt_dtype t, uint8_t *b, uint64_t *s) {
    uint16_t d = random_scale(s, 0.002f, 0.03f, true), m = random_scale(s, 0.002f, 0.05f, true);
    switch (t) {
    case MMRT_Q8_0:
        for (int j = 2; j < 34; j++)
            if (b[j] == 0x80) b[j] = 0x81; /* levels within ±127, as quantizers write them */
        memcpy(b, &d, 2);
        break;
    case MMRT_Q4_0:
    case MMRT_Q5_0: memcpy(b, &d, 2); break;
    case MMRT_Q4_1:
    case MMRT_Q5_1: memcpy(b, &d, 2), memcpy(b + 2, &m, 2); break;
    case MMRT_Q4_K:
    case MMRT_Q5_K:
        d = random_scale(s, 0.0005f, 0.004f, false), m = random_scale(s, 0.0005f, 0.004f, false);
        memcpy(b, &d, 2), memcpy(b + 2, &m, 2);
        break;
    default: /* Q6_K: d last */
        d = random_scale(s, 0.0002f, 0.002f, true);
        memcpy(b + 208, &d, 2);
        break;
    }
}

/* A host (rows, k) weight matrix of block format t, rows packed. */
static mmrt_tensor quant_matrix(mmrt_dtype t, int64_t k, int64_t rows, uint64_t seed) {
    mmrt_tensor w = mmrt_tensor_2d(t, NULL, k, rows);
    size_t n = mmrt_tensor_nbytes(&w), bb = mmrt_dtype_size(t);
    uint8_t *p = test_host_alloc(n);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)next_random(&seed);
    for (size_t b = 0; b < n / bb; b++) fix_scales(t, p + b * bb, &seed);
    w.data = p;
    return w;
}

/* A host f32 (rows, cols) matrix with rows `pitch` apart, values in [lo, hi). */
static mmrt_tensor f32_matrix(int64_t cols, int64_t rows, int64_t pitch, uint64_t seed, float lo,
                              float hi) {
    float *p = test_host_alloc(sizeof(float) * (size_t)(pitch * rows));
    mmrt_test_fill(p, pitch * rows, seed, lo, hi);
    mmrt_tensor t = mmrt_tensor_2d(MMRT_F32, p, cols, rows);
    t.nb[1] = sizeof(float) * (size_t)pitch;
    t.nb[2] = t.nb[3] = t.nb[1] * (size_t)rows;
    return t;
}

/* The (rows, cols) f32 matrix t as a packed array. */
static float *packed(const mmrt_tensor *t) {
    float *out = test_host_alloc(sizeof(float) * (size_t)(t->ne[0] * t->ne[1]));
    for (int64_t i = 0; i < t->ne[1]; i++)
        memcpy(out + i * t->ne[0], mmrt_tensor_row(t, i, 0, 0), sizeof(float) * (size_t)t->ne[0]);
    return out;
}

/* ---- running an op ------------------------------------------------------------------------- */

static mmrt_backend *backend(mmrt_device_kind device, bool use_ref, mmrt_math math) {
    mmrt_backend *be = NULL;
    mmrt_error err = {0};
    mmrt_backend_params p = {.device = device, .n_threads = 1, .use_ref = use_ref, .math = math};
    cr_assert_eq(mmrt_backend_init(&p, &be, &err), MMRT_OK, "backend init: %s", err.msg);
    return be;
}

/* op's oracle result on the CPU _ref backend in `math` (op.dst: host), packed. */
static float *run_ref(const char *what, const mmrt_op *op, mmrt_math math) {
    mmrt_backend *ref = backend(MMRT_DEVICE_KIND_CPU, true, math);
    mmrt_error err = {0};
    memset(op->dst->data, 0xff, mmrt_tensor_nbytes(op->dst));
    cr_assert_eq(mmrt_backend_run(ref, op, &err), MMRT_OK, "%s: reference: %s", what, err.msg);
    mmrt_backend_free(ref);
    return packed(op->dst);
}

/* op (host tensors) run on a CUDA backend in `math` (or on a fork of one, as sessions run) with
 * device copies of every tensor; the result packed. The backend must take the op (no fallback). */
static float *run_cuda_on(const char *what, const mmrt_op *op, mmrt_math math, bool fork) {
    mmrt_backend *parent = backend(MMRT_DEVICE_KIND_CUDA, false, math), *cu = parent;
    mmrt_error err = {0};
    if (fork)
        cr_assert_eq(mmrt_backend_fork(parent, &cu, &err), MMRT_OK, "%s: fork: %s", what, err.msg);
    mmrt_tensor dsrc[2], ddst;
    mmrt_op dop = *op;
    for (int i = 0; i < 2; i++) {
        dsrc[i] = test_to_device(cu, op->src[i]);
        dop.src[i] = &dsrc[i];
    }
    memset(op->dst->data, 0xff, mmrt_tensor_nbytes(op->dst)); /* NaN: unwritten elements fail */
    ddst = test_to_device(cu, op->dst);
    dop.dst = &ddst;
    cr_assert(cu->iface->supports_op(cu, &dop), "%s: the CUDA backend refuses it", what);
    cr_assert_eq(mmrt_backend_run(cu, &dop, &err), MMRT_OK, "%s: %s", what, err.msg);
    cr_assert_eq(cu->iface->download(cu, op->dst->data, ddst.data, mmrt_tensor_nbytes(op->dst), &err),
                 MMRT_OK, "%s: download: %s", what, err.msg);
    cr_assert_eq(cu->iface->synchronize(cu, &err), MMRT_OK, "%s: synchronize: %s", what, err.msg);
    cr_assert_eq(cu->n_fallback, 0, "%s: %lld ops fell back to the CPU", what, (long long)cu->n_fallback);
    for (int i = 0; i < 2; i++) cu->iface->buffer_free(cu, dsrc[i].data);
    cu->iface->buffer_free(cu, ddst.data);
    if (fork) mmrt_backend_free(cu);
    mmrt_backend_free(parent);
    return packed(op->dst);
}

static float *run_cuda(const char *what, const mmrt_op *op, mmrt_math math) {
    return run_cuda_on(what, op, math, false);
}

static float round_bf16(float v) { return mmrt_bf16_to_f32(mmrt_f32_to_bf16(v)); }

/* The bf16 mode's plain computation: weights dequantized exactly then rounded to bf16, x rounded
 * to bf16, f32 products and sums in k order. (m, n) packed. */
static float *plain_bf16(const mmrt_tensor *x, const mmrt_tensor *w) {
    int64_t k = x->ne[0], m = x->ne[1], n = w->ne[1];
    float *out = test_host_alloc(sizeof(float) * (size_t)(m * n));
    float *wr = test_host_alloc(sizeof(float) * (size_t)k);
    for (int64_t j = 0; j < n; j++) {
        mmrt_dequant_ref((mmrt_qtype)mmrt_dtype_qtype(w->type), mmrt_tensor_row(w, j, 0, 0), wr, k);
        for (int64_t l = 0; l < k; l++) wr[l] = round_bf16(wr[l]);
        for (int64_t i = 0; i < m; i++) {
            const float *xr = mmrt_tensor_row(x, i, 0, 0);
            float s = 0.0f;
            for (int64_t l = 0; l < k; l++) s += round_bf16(xr[l]) * wr[l];
            out[i * n + j] = s;
        }
    }
    return out;
}

/* Index of the first element where a and b differ bit for bit, or n. */
static int64_t first_difference(const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) return i;
    return n;
}

static void assert_identical(const char *what, const float *got, const float *ref, int64_t n) {
    int64_t i = first_difference(got, ref, n);
    cr_assert_eq(i, n, "%s: element %lld: expected %.9g, got %.9g", what, (long long)i,
                 i < n ? ref[i] : 0.0, i < n ? got[i] : 0.0);
}

/* ---- MATMUL -------------------------------------------------------------------------------- */

/* One (type, mode) over every shape: (m, n, k) with m 1, 3 (decode) and 17 (prefill), n ragged,
 * k 256 and 512; x and dst strided in every other case. */
static void check_quant_matmul(mmrt_dtype t, mmrt_math math) {
    static const int64_t shapes[][3] = {{1, 5, 256}, {3, 33, 512}, {17, 7, 256}, {17, 33, 512},
                                        {1, 33, 512}, {3, 1, 256}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], strided = s % 2;
        uint64_t seed = 7000 + 100 * (uint64_t)t + 10 * s + (uint64_t)math;
        mmrt_tensor x = f32_matrix(k, m, k + 4 * strided, seed, -1.0f, 1.0f);
        mmrt_tensor w = quant_matrix(t, k, n, seed + 1);
        mmrt_tensor d = f32_matrix(n, m, n + 3 * strided, 0, 0.0f, 0.0f);
        mmrt_op op = {.kind = MMRT_OP_MATMUL, .dst = &d, .src = {&x, &w}};
        char what[128];
        snprintf(what, sizeof what, "matmul m=%lld n=%lld k=%lld w=%s math=%d%s", (long long)m,
                 (long long)n, (long long)k, mmrt_dtype_name(t), (int)math, strided ? " strided" : "");
        float *got = run_cuda(what, &op, math);
        if (math == MMRT_MATH_INT8) {
            assert_identical(what, got, run_ref(what, &op, MMRT_MATH_INT8), m * n);
        } else {
            float *ref = run_ref(what, &op, MMRT_MATH_F32);
            if (math == MMRT_MATH_F32)
                cr_assert(mmrt_test_close(what, got, ref, m * n, 1e-5), "%s differs from the oracle", what);
            else
                cr_assert(mmrt_test_close_to_plain(what, got, ref, plain_bf16(&x, &w), m * n),
                          "%s: error above twice the plain computation's", what);
        }
        test_free_host();
    }
}

static void check_all_types(mmrt_math math) {
    for (size_t t = 0; t < N_QUANT_TYPES; t++) check_quant_matmul(quant_types[t], math);
}

Test(cuda_quant, matmul_f32) { check_all_types(MMRT_MATH_F32); }
Test(cuda_quant, matmul_bf16) { check_all_types(MMRT_MATH_BF16); }
Test(cuda_quant, matmul_int8) { check_all_types(MMRT_MATH_INT8); }
/* The f16 mode has no weight type to round block formats to: they take the bf16 path. */
Test(cuda_quant, matmul_f16_as_bf16) { check_all_types(MMRT_MATH_F16); }

/* Prefill dequantizes the weight 16 MiB at a time (cuda/quant_matmul.cu): 16384 rows of 256 f32
 * weights fill one tile, so rows past it take a second tile and a second GEMM. */
Test(cuda_quant, matmul_prefill_crosses_a_tile) {
    int64_t k = 256, m = 9, n = 16384 + 3;
    mmrt_tensor x = f32_matrix(k, m, k, 61, -1.0f, 1.0f);
    mmrt_tensor w = quant_matrix(MMRT_Q4_0, k, n, 62);
    mmrt_tensor d = f32_matrix(n, m, n, 0, 0.0f, 0.0f);
    mmrt_op op = {.kind = MMRT_OP_MATMUL, .dst = &d, .src = {&x, &w}};
    const char *what = "matmul m=9 n=16387 k=256 w=Q4_0 (two tiles)";
    float *got = run_cuda(what, &op, MMRT_MATH_F32);
    cr_assert(mmrt_test_close(what, got, run_ref(what, &op, MMRT_MATH_F32), m * n, 1e-5),
              "%s differs from the oracle", what);
    test_free_host();
}

/* The int8 quantizers' edge cases: a row of zeros (d = 0), a K super-block whose largest
 * magnitude occurs twice with both signs (the first one sets the sign of Q8_K's scale), and
 * values that land on .5 after scaling (rounding ties). */
Test(cuda_quant, matmul_int8_quantizer_edges) {
    for (size_t t = 0; t < N_QUANT_TYPES; t++) {
        int64_t k = 512, m = 3, n = 5;
        mmrt_tensor x = f32_matrix(k, m, k, 900 + t, -1.0f, 1.0f);
        float *x0 = x.data, *x1 = x0 + k, *x2 = x1 + k;
        memset(x0, 0, sizeof(float) * (size_t)k);
        x1[7] = 2.0f, x1[100] = -2.0f, x1[300] = -2.0f, x1[400] = 2.0f;
        for (int64_t l = 0; l < k; l++) x2[l] = (float)((l % 255) - 127) * 0.5f;
        mmrt_tensor w = quant_matrix(quant_types[t], k, n, 950 + t);
        mmrt_tensor d = f32_matrix(n, m, n, 0, 0.0f, 0.0f);
        mmrt_op op = {.kind = MMRT_OP_MATMUL, .dst = &d, .src = {&x, &w}};
        char what[96];
        snprintf(what, sizeof what, "int8 quantizer edges w=%s", mmrt_dtype_name(quant_types[t]));
        float *got = run_cuda(what, &op, MMRT_MATH_INT8);
        assert_identical(what, got, run_ref(what, &op, MMRT_MATH_INT8), m * n);
        test_free_host();
    }
}

/* A session's backend is a fork of the model's: it computes in the int8 mode too (and every other
 * op of that mode in bf16, which test_cuda_ops covers). */
Test(cuda_quant, fork_keeps_the_int8_mode) {
    mmrt_tensor x = f32_matrix(256, 2, 256, 31, -1.0f, 1.0f);
    mmrt_tensor w = quant_matrix(MMRT_Q4_1, 256, 9, 32);
    mmrt_tensor d = f32_matrix(9, 2, 9, 0, 0.0f, 0.0f);
    mmrt_op op = {.kind = MMRT_OP_MATMUL, .dst = &d, .src = {&x, &w}};
    float *got = run_cuda_on("int8 on a fork", &op, MMRT_MATH_INT8, true);
    assert_identical("int8 on a fork", got, run_ref("int8 on a fork", &op, MMRT_MATH_INT8), 2 * 9);
    test_free_host();
}

/* ---- GET_ROWS ------------------------------------------------------------------------------ */

Test(cuda_quant, get_rows) {
    for (size_t t = 0; t < N_QUANT_TYPES; t++)
        for (int64_t d = 256; d <= 512; d += 256) {
            int64_t vocab = 11, n = 6, strided = d == 512;
            mmrt_tensor table = quant_matrix(quant_types[t], d, vocab, 1300 + 10 * t + (uint64_t)d);
            int32_t *id = test_host_alloc(sizeof(int32_t) * (size_t)n);
            const int32_t ids_v[] = {0, 10, 3, 3, 7, 1}; /* both ends, a repeat */
            memcpy(id, ids_v, sizeof ids_v);
            mmrt_tensor ids = mmrt_tensor_1d(MMRT_I32, id, n);
            mmrt_tensor dst = f32_matrix(d, n, d + 5 * strided, 0, 0.0f, 0.0f);
            mmrt_op op = {.kind = MMRT_OP_GET_ROWS, .dst = &dst, .src = {&table, &ids}};
            char what[96];
            snprintf(what, sizeof what, "get_rows d=%lld table=%s%s", (long long)d,
                     mmrt_dtype_name(quant_types[t]), strided ? " strided" : "");
            float *got = run_cuda(what, &op, MMRT_MATH_F32);
            assert_identical(what, got, run_ref(what, &op, MMRT_MATH_F32), n * d);
            test_free_host();
        }
}

Test(cuda_quant, get_rows_reports_out_of_range_ids_at_synchronize) {
    mmrt_backend *cu = backend(MMRT_DEVICE_KIND_CUDA, false, MMRT_MATH_INT8);
    mmrt_error err = {0};
    mmrt_tensor table = quant_matrix(MMRT_Q4_K, 256, 4, 77);
    int32_t *id = test_host_alloc(2 * sizeof(int32_t));
    id[0] = 1, id[1] = 4;
    mmrt_tensor ids = mmrt_tensor_1d(MMRT_I32, id, 2);
    mmrt_tensor dst = f32_matrix(256, 2, 256, 0, 0.0f, 0.0f);
    mmrt_tensor dt = test_to_device(cu, &table), di = test_to_device(cu, &ids),
                dd = test_to_device(cu, &dst);
    mmrt_op op = {.kind = MMRT_OP_GET_ROWS, .dst = &dd, .src = {&dt, &di}};
    cr_assert_eq(mmrt_backend_run(cu, &op, &err), MMRT_OK, "get_rows: %s", err.msg);
    cr_assert_eq(cu->iface->synchronize(cu, &err), MMRT_ERR_INVALID_ARG, "id 4 of 4 rows: not reported");
    cr_assert(strstr(err.msg, "4") != NULL, "the message names the id: %s", err.msg);
    cr_assert_eq(cu->n_fallback, 0);
    mmrt_backend_free(cu); /* frees its buffers */
    test_free_host();
}

/* ---- weights on the device ----------------------------------------------------------------- */

/* Block-format weights go up as the file stores them in every mode (16-bit ones are widened in
 * F32), so the device decodes the same bytes the CPU does. */
Test(cuda_quant, weights_upload_raw_in_every_mode) {
    static const mmrt_math maths[] = {MMRT_MATH_F32, MMRT_MATH_BF16, MMRT_MATH_INT8};
    for (int i = 0; i < 3; i++) {
        mmrt_backend *cu = backend(MMRT_DEVICE_KIND_CUDA, false, maths[i]);
        mmrt_error err = {0};
        mmrt_tensor host = quant_matrix(MMRT_Q5_K, 512, 3, 40 + (uint64_t)i), t = host;
        mmrt_weight_upload u;
        mmrt_weight_upload_init(&u, cu, maths[i]);
        cr_assert_eq(mmrt_weight_upload_tensor(&u, &t, "w", &err), MMRT_OK, "%s", err.msg);
        cr_assert_eq(mmrt_weight_upload_finish(&u, &err), MMRT_OK, "%s", err.msg);
        cr_assert(t.type == MMRT_Q5_K && memcmp(t.nb, host.nb, sizeof t.nb) == 0 &&
                      t.data != host.data,
                  "math %d: the weight changed type or layout on the way up", (int)maths[i]);
        size_t n = mmrt_tensor_nbytes(&host);
        uint8_t *back = test_host_alloc(n);
        cr_assert_eq(cu->iface->download(cu, back, t.data, n, &err), MMRT_OK, "%s", err.msg);
        cr_assert_eq(cu->iface->synchronize(cu, &err), MMRT_OK, "%s", err.msg);
        cr_assert(memcmp(back, host.data, n) == 0, "math %d: the device bytes differ", (int)maths[i]);
        mmrt_weight_upload_free(&u);
        mmrt_backend_free(cu);
        test_free_host();
    }
}
