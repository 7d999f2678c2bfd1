/* mmrt-quant-bench: GB/s of weight bytes that the quantized dot kernels (core/quant.h) stream on
 * one thread, for a 4096×4096 matrix-vector product per weight type and instruction set.
 *
 *     build/.../bench/mmrt-quant-bench [--k 4096] [--rows 4096]
 *
 * "L2" runs the product over the first rows that fit in 512 KiB again and again (weights
 * L2-resident: the kernels' own speed); "matrix" over all rows (weights from L3 or DRAM). Best of
 * several passes. "L2 x4" is the L2 run with 4 activation rows per call (small-batch decode): weight
 * bytes per second, each byte used 4 times. Prints timings only; no test depends on it.
 */
#include "core/clock.h"
#include "core/quant.h"
#include "core/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random bytes with small finite f16 scales (the values do not change the kernels' speed). */
static uint8_t *random_matrix(mmrt_qtype t, int64_t k, int64_t rows) {
    const mmrt_qtype_info *q = mmrt_qtype_get(t);
    size_t n = mmrt_qtype_row_bytes(t, k) * (size_t)rows;
    uint8_t *m = aligned_alloc(64, (n + 63) / 64 * 64);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) m[i] = (uint8_t)rng_next(&s);
    uint16_t h = mmrt_f32_to_f16(1e-3f);
    size_t d_at = t == MMRT_QTYPE_Q6_K ? 208 : 0;
    for (size_t b = 0; b < n; b += (size_t)q->block_bytes) memcpy(m + b + d_at, &h, 2);
    return m;
}

/* Seconds of the best of `passes` products over rows [0, rows), each pass repeated `reps` times. */
static double time_rows(mmrt_quant_dotn_fn f, const uint8_t *w, size_t row_bytes, const void *act,
                        size_t act_bytes, int nx, int64_t k, int64_t rows, int reps, int passes, float *y) {
    double best = 1e30;
    for (int p = 0; p < passes; p++) {
        double t0 = mmrt_now_ms();
        for (int r = 0; r < reps; r++)
            for (int64_t i = 0; i < rows; i++) f(w + (size_t)i * row_bytes, act, act_bytes, nx, k, &y[i * nx]);
        double dt = (mmrt_now_ms() - t0) / 1e3 / reps;
        if (dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv) {
    int64_t k = 4096, rows = 4096;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--k") == 0) k = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--rows") == 0) rows = atoll(argv[i + 1]);
    }
    if (k <= 0 || k % 256 || rows <= 0) {
        fprintf(stderr, "usage: %s [--k K (a multiple of 256)] [--rows N]\n", argv[0]);
        return 2;
    }
    static const mmrt_qtype types[] = {MMRT_QTYPE_Q8_0, MMRT_QTYPE_Q4_0, MMRT_QTYPE_Q4_1, MMRT_QTYPE_Q5_0,
                                       MMRT_QTYPE_Q5_1, MMRT_QTYPE_Q4_K, MMRT_QTYPE_Q5_K, MMRT_QTYPE_Q6_K};
    float *x = malloc((size_t)k * 4), *y = malloc((size_t)rows * 4 * 4);
    uint64_t s = 1;
    for (int64_t i = 0; i < k; i++) x[i] = (float)(rng_next(&s) % 2001) / 1000.0f - 1.0f;
    printf("%lld x %lld, 1 thread: GB/s of weight bytes (L2: first rows within 512 KiB, repeated)\n",
           (long long)rows, (long long)k);
    printf("%-6s %-11s %10s %10s %10s %10s\n", "type", "isa", "L2 GB/s", "L2 x4 GB/s", "matrix GB/s", "matrix ms");
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        mmrt_qtype at = (mmrt_qtype)mmrt_quant_act_type(types[t]);
        size_t act_bytes = mmrt_qtype_row_bytes(at, k);
        uint8_t *act = malloc(act_bytes * 4);
        for (int r = 0; r < 4; r++) mmrt_quantize_row(at, x, act + r * act_bytes, k, NULL);
        size_t row_bytes = mmrt_qtype_row_bytes(types[t], k);
        uint8_t *w = random_matrix(types[t], k, rows);
        int64_t l2_rows = (int64_t)(512 * 1024 / row_bytes);
        if (l2_rows > rows) l2_rows = rows;
        for (int isa = 0; isa < MMRT_QUANT_ISA_COUNT; isa++) {
            mmrt_quant_dotn_fn f = mmrt_quant_dotn_isa(types[t], (mmrt_quant_isa)isa);
            if (!f) continue;
            int reps = isa == MMRT_QUANT_ISA_REF ? 1 : 20;
            double l2 = time_rows(f, w, row_bytes, act, act_bytes, 1, k, l2_rows, reps, 5, y);
            double l2x4 = time_rows(f, w, row_bytes, act, act_bytes, 4, k, l2_rows, reps, 5, y);
            double full = time_rows(f, w, row_bytes, act, act_bytes, 1, k, rows, 1, isa == MMRT_QUANT_ISA_REF ? 1 : 5, y);
            double l2_gb = (double)l2_rows * row_bytes / 1e9;
            printf("%-6s %-11s %10.1f %10.1f %10.1f %10.2f\n", mmrt_qtype_get(types[t])->name,
                   mmrt_quant_isa_name((mmrt_quant_isa)isa), l2_gb / l2, l2_gb / l2x4,
                   (double)rows * row_bytes / full / 1e9, full * 1e3);
        }
        free(w);
        free(act);
    }
    free(x);
    free(y);
    return 0;
}
