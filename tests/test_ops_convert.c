/* MMRT_OP_CONVERT on the CPU: f32 → BF16/F16/F32, round to nearest even, bit for bit the scalar
 * conversions (mmrt_f32_to_bf16, mmrt_f32_to_f16) for the oracle and the fast op at every SIMD
 * level and thread count: ties, NaN, infinities, subnormals, strided rows (a KV cache's), and a
 * tensor large enough for the fast op's threads. */
#include "core/backend.h"
#include "core/cpu/simd.h"
#include "core/ops.h"
#include "helpers/compare.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mmrt_backend *cpu(int n_threads, bool use_ref) {
    mmrt_backend *be = NULL;
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = n_threads, .use_ref = use_ref};
    cr_assert_eq(mmrt_backend_init(&p, &be, NULL), MMRT_OK);
    return be;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* n values: the awkward ones first (bf16 and f16 ties both ways, NaN, ±inf, ±0, subnormals, values
 * that overflow f16), then random ones over many magnitudes. */
static float *test_values(int64_t n) {
    static const uint32_t special[] = {0x3f808000u, 0x3f818000u, 0x3f80c000u, 0x3f807fffu, 0x7fc00000u,
                                       0x7f800001u, 0xffc00001u, 0x7f800000u, 0xff800000u, 0x00000000u,
                                       0x80000000u, 0x00000001u, 0x807fffffu, 0x7f7fffffu, 0x3f801000u,
                                       0x3f803000u, 0x477ff000u, 0x47800000u, 0x33800000u, 0x33000001u};
    float *x = malloc(sizeof(float) * (size_t)n);
    cr_assert(x);
    mmrt_test_fill(x, n, 7, -1.0f, 1.0f);
    for (int64_t i = 0; i < n; i++) x[i] = ldexpf(x[i], (int)(i % 41) - 20);
    for (int64_t i = 0; i < n && i < (int64_t)(sizeof special / sizeof *special); i++) x[i] = from_bits(special[i]);
    return x;
}

/* The expected bits of element i of x converted to t. */
static uint32_t expected_bits(mmrt_dtype t, float x) {
    if (t == MMRT_BF16) return mmrt_f32_to_bf16(x);
    if (t == MMRT_F16) return mmrt_f32_to_f16(x);
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static uint32_t got_bits(mmrt_dtype t, const void *row, int64_t i) {
    if (t != MMRT_F32) return ((const uint16_t *)row)[i];
    uint32_t u;
    memcpy(&u, (const float *)row + i, sizeof u);
    return u;
}

/* Converts src (hd, heads, n) f32, whose rows are `pad` floats apart beyond hd, into the rows
 * [r0, r0 + n) of a (cache_rows, heads, hd) tensor of t, on be; compares every element and checks
 * the cache's other rows were not written. */
static void check_convert(const char *what, mmrt_backend *be, mmrt_dtype t, int64_t hd, int64_t heads, int64_t n,
                          int64_t pad, int64_t cache_rows, int64_t r0) {
    int64_t ld = hd + pad;
    float *x = test_values(ld * heads * n);
    mmrt_tensor src = mmrt_tensor_3d(MMRT_F32, x, hd, heads, n);
    src.nb[1] = sizeof(float) * (size_t)ld;
    src.nb[2] = src.nb[1] * (size_t)heads;
    src.nb[3] = src.nb[2] * (size_t)n;
    size_t es = mmrt_dtype_size(t), cache_bytes = es * (size_t)(hd * heads * cache_rows);
    unsigned char *cache = malloc(cache_bytes);
    cr_assert(cache);
    memset(cache, 0xa5, cache_bytes);
    mmrt_tensor all = mmrt_tensor_3d(t, cache, hd, heads, cache_rows);
    mmrt_tensor dst = mmrt_tensor_slice(&all, 2, r0, n);
    cr_assert_eq(mmrt_convert(be, &dst, &src, NULL), MMRT_OK, "%s: convert failed", what);
    int64_t bad = 0;
    for (int64_t r = 0; r < n; r++)
        for (int64_t h = 0; h < heads; h++)
            for (int64_t i = 0; i < hd; i++) {
                float v = ((const float *)mmrt_tensor_row(&src, h, r, 0))[i];
                uint32_t want = expected_bits(t, v), got = got_bits(t, mmrt_tensor_row(&dst, h, r, 0), i);
                if (want != got && bad++ < 5)
                    fprintf(stderr, "%s: (%lld, %lld, %lld) of %a: expected 0x%x, got 0x%x\n", what, (long long)r,
                            (long long)h, (long long)i, (double)v, want, got);
            }
    cr_assert_eq(bad, 0, "%s: %lld elements converted wrongly", what, (long long)bad);
    size_t lo = (size_t)r0 * all.nb[2], hi = (size_t)(r0 + n) * all.nb[2];
    for (size_t b = 0; b < cache_bytes; b++)
        if (b < lo || b >= hi) cr_assert_eq(cache[b], 0xa5, "%s: byte %zu outside the rows written", what, b);
    free(x);
    free(cache);
}

/* (hd, heads, n, pad, cache rows, r0): a decode row, a prefill chunk, ragged row lengths for the
 * vector tails, and one over 65536 elements (the fast op's threads) */
static const int64_t shapes[][6] = {{64, 3, 1, 0, 40, 17}, {64, 2, 37, 5, 50, 3}, {17, 3, 5, 3, 5, 0},
                                    {1, 1, 1, 0, 1, 0},    {64, 8, 200, 1, 300, 90}};

static void check_all_types(const char *label, mmrt_backend *be) {
    static const mmrt_dtype types[] = {MMRT_BF16, MMRT_F16, MMRT_F32};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t t = 0; t < 3; t++) {
            char what[128];
            snprintf(what, sizeof what, "%s %s shape %zu", label, mmrt_dtype_name(types[t]), s);
            const int64_t *p = shapes[s];
            check_convert(what, be, types[t], p[0], p[1], p[2], p[3], p[4], p[5]);
        }
}

Test(ops_convert, oracle_rounds_to_nearest_even) {
    mmrt_backend *be = cpu(1, true);
    check_all_types("oracle", be);
    mmrt_backend_free(be);
}

Test(ops_convert, fast_equals_the_scalar_conversions) {
    for (int level = MMRT_SIMD_GENERIC; level <= MMRT_SIMD_AVX512; level++) {
        mmrt_simd_force((mmrt_simd_level)level);
        if ((int)mmrt_simd_level_get() != level) continue; /* the CPU lacks it */
        for (int th = 1; th <= 3; th += 2) {
            mmrt_backend *be = cpu(th, false);
            char label[64];
            snprintf(label, sizeof label, "%s, %d threads", mmrt_simd_level_name((mmrt_simd_level)level), th);
            check_all_types(label, be);
            mmrt_backend_free(be);
        }
    }
    mmrt_simd_force(MMRT_SIMD_AVX512);
}

Test(ops_convert, in_place_f32_is_a_no_op) {
    float x[6] = {1.5f, -2.0f, 3.25f, 0.1f, -0.0f, 1e30f}, want[6];
    memcpy(want, x, sizeof x);
    mmrt_tensor t = mmrt_tensor_2d(MMRT_F32, x, 3, 2);
    mmrt_backend *be = cpu(1, false);
    cr_assert_eq(mmrt_convert(be, &t, &t, NULL), MMRT_OK);
    mmrt_backend_free(be);
    cr_assert_eq(memcmp(x, want, sizeof x), 0);
}
