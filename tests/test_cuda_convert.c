/* MMRT_OP_CONVERT on the CUDA backend (the emulator in the MMRT_CUDA_EMU build) against the CPU
 * backend's oracle (tests/test_ops_convert.c checks that one against the scalar conversions):
 * f32 → BF16/F16/F32 bit for bit (a NaN's payload aside), rounding ties, infinities and
 * subnormals included, strided source rows, rows written into the middle of a larger (KV cache)
 * buffer without touching the rest; none may fall back. */
#include "core/backend.h"
#include "core/ops.h"
#include "helpers/backend_test.h"
#include "helpers/compare.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* n f32 values over many magnitudes, the first few bit patterns that round awkwardly (bf16 and
 * f16 ties both ways, quiet NaN, ±inf, ±0, subnormals, f16 overflow). */
static float *source_values(int64_t n) {
    static const uint32_t awkward[] = {0x3f808000u, 0x3f818000u, 0x7fc00000u, 0xff800000u, 0x80000000u,
                                       0x00000001u, 0x3f801000u, 0x3f803000u, 0x477ff000u, 0x33000001u};
    float *x = test_host_alloc(sizeof(float) * (size_t)n);
    mmrt_test_fill(x, n, 11, -1.0f, 1.0f);
    for (int64_t i = 0; i < n; i++) x[i] = ldexpf(x[i], (int)(i % 37) - 18);
    for (int64_t i = 0; i < n && i < (int64_t)(sizeof awkward / sizeof *awkward); i++)
        memcpy(&x[i], &awkward[i], sizeof(float));
    return x;
}

/* Converts hs into the rows [r0, r0 + hs->ne[2]) of a copy of the host cache hc on be; the whole
 * cache back in out. */
static void convert_on(mmrt_backend *be, const mmrt_tensor *hs, const mmrt_tensor *hc, int64_t r0, void *out,
                       const char *what) {
    mmrt_error err = {0};
    bool device = !be->iface->host_memory;
    mmrt_tensor src = device ? test_to_device(be, hs) : *hs;
    mmrt_tensor cache = *hc;
    if (device) cache = test_to_device(be, hc);
    else cache.data = memcpy(out, hc->data, mmrt_tensor_nbytes(hc));
    mmrt_tensor dst = mmrt_tensor_slice(&cache, 2, r0, hs->ne[2]);
    cr_assert_eq(mmrt_convert(be, &dst, &src, &err), MMRT_OK, "%s on %s: %s", what, be->iface->name, err.msg);
    if (!device) return;
    cr_assert_eq(be->iface->download(be, out, cache.data, mmrt_tensor_nbytes(hc), &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(be->iface->synchronize(be, &err), MMRT_OK, "%s: %s", what, err.msg);
    be->iface->buffer_free(be, src.data);
    be->iface->buffer_free(be, cache.data);
}

/* src (n, heads, hd) f32 with rows hd + pad apart → rows [r0, r0 + n) of a (rows, heads, hd) cache
 * of t, on the CUDA backend and the CPU oracle: every byte of the caches equal. */
static void check_convert(mmrt_backend *cu, mmrt_backend *ref, mmrt_dtype t, const int64_t p[6]) {
    int64_t hd = p[0], heads = p[1], n = p[2], ld = p[0] + p[3], rows = p[4], r0 = p[5];
    char what[128];
    snprintf(what, sizeof what, "convert to %s hd=%lld heads=%lld n=%lld pad=%lld", mmrt_dtype_name(t),
             (long long)hd, (long long)heads, (long long)n, (long long)p[3]);
    mmrt_tensor hs = mmrt_tensor_3d(MMRT_F32, source_values(ld * heads * n), hd, heads, n);
    hs.nb[1] = sizeof(float) * (size_t)ld;
    hs.nb[2] = hs.nb[1] * (size_t)heads;
    hs.nb[3] = hs.nb[2] * (size_t)n;
    size_t es = mmrt_dtype_size(t), bytes = es * (size_t)(hd * heads * rows);
    mmrt_tensor hc = mmrt_tensor_3d(t, memset(test_host_alloc(bytes), 0xa5, bytes), hd, heads, rows);
    unsigned char *want = test_host_alloc(bytes), *got = test_host_alloc(bytes);
    int64_t fallback = cu->n_fallback;
    convert_on(ref, &hs, &hc, r0, want, what);
    convert_on(cu, &hs, &hc, r0, got, what);
    cr_assert_eq(cu->n_fallback, fallback, "%s: fell back to the CPU", what);
    int64_t bad = 0;
    for (size_t b = 0; b < bytes; b += es) {
        float w, g;
        mmrt_to_f32(t, want + b, &w, 1);
        mmrt_to_f32(t, got + b, &g, 1);
        /* a NaN's payload is the device's own (CUDA's is canonical: 0x7fff), a NaN it must stay */
        if (memcmp(want + b, got + b, es) != 0 && !(isnan(w) && isnan(g)) && bad++ < 5)
            fprintf(stderr, "%s: element %zu (row %zu): CPU oracle %a, got %a\n", what, b / es,
                    b / es / (size_t)(hd * heads), (double)w, (double)g);
    }
    cr_assert_eq(bad, 0, "%s: %lld elements differ from the CPU oracle's", what, (long long)bad);
}

Test(cuda_convert, equals_the_cpu_oracle_bit_for_bit) {
    mmrt_backend *cu = test_backend(MMRT_DEVICE_KIND_CUDA, false), *ref = test_backend(MMRT_DEVICE_KIND_CPU, true);
    static const mmrt_dtype types[] = {MMRT_BF16, MMRT_F16, MMRT_F32};
    /* (hd, heads, n, pad, cache rows, r0): a decode row, a prefill chunk, ragged sizes */
    static const int64_t shapes[][6] = {{64, 3, 1, 0, 40, 17}, {64, 2, 37, 5, 50, 3}, {17, 3, 5, 3, 5, 0},
                                        {1, 1, 1, 0, 1, 0}};
    for (size_t t = 0; t < 3; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) check_convert(cu, ref, types[t], shapes[s]);
    mmrt_backend_free(cu);
    mmrt_backend_free(ref);
    test_free_host();
}
