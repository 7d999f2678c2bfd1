/* core/quant*.c: dequantization and quantization against gguf-py (tests/fixtures/quant, made by
 * tools/fixtures_quant.py), Q4_K's round trip, and every dot kernel at every ISA this CPU has
 * against the plain C reference, which is itself checked against dequantized rows in f64. */
#include "core/quant.h"
#include "core/cpu/simd.h"
#include "core/tensor.h"
#include "helpers/compare.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *read_fixture(const char *name, size_t *size) {
    char path[512];
    snprintf(path, sizeof path, "%s/quant/%s", MMRT_FIXTURES_DIR, name);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s (run tools/fixtures_quant.py)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)n);
    cr_assert(p && fread(p, 1, (size_t)n, f) == (size_t)n, "reading %s", path);
    fclose(f);
    *size = (size_t)n;
    return p;
}

/* Bit-for-bit equality of n floats, printing the first mismatches. */
static bool same_bits(const char *what, const float *got, const float *ref, int64_t n) {
    int shown = 0;
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &ref[i], 4) == 0) continue;
        if (shown++ < 8) fprintf(stderr, "%s: [%lld] expected %.9g, got %.9g\n", what, (long long)i, ref[i], got[i]);
    }
    return shown == 0;
}

static bool same_bytes(const char *what, const uint8_t *got, const uint8_t *ref, size_t n) {
    int shown = 0;
    for (size_t i = 0; i < n; i++) {
        if (got[i] == ref[i]) continue;
        if (shown++ < 8) fprintf(stderr, "%s: byte %zu expected 0x%02x, got 0x%02x\n", what, i, ref[i], got[i]);
    }
    return shown == 0;
}

static void check_dequant(mmrt_qtype t, const char *name) {
    char qn[64], dn[64];
    snprintf(qn, sizeof qn, "%s.q", name);
    snprintf(dn, sizeof dn, "%s.deq.f32", name);
    size_t qsize, dsize;
    void *q = read_fixture(qn, &qsize);
    float *ref = read_fixture(dn, &dsize);
    int64_t k = (int64_t)(dsize / 4);
    cr_assert_eq(mmrt_qtype_row_bytes(t, k), qsize, "%s: %lld weights in %zu bytes", name, (long long)k, qsize);
    float *got = malloc(dsize);
    mmrt_error err = {0};
    cr_assert_eq(mmrt_dequantize_row(t, q, got, k, &err), MMRT_OK, "%s", err.msg);
    cr_expect(same_bits(name, got, ref, k), "%s: dequantization differs from gguf-py", name);
    free(q);
    free(ref);
    free(got);
}

Test(quant, dequantize_matches_gguf_py) {
    check_dequant(MMRT_QTYPE_F16, "f16");
    check_dequant(MMRT_QTYPE_BF16, "bf16");
    check_dequant(MMRT_QTYPE_Q8_0, "q8_0");
    check_dequant(MMRT_QTYPE_Q4_0, "q4_0");
    check_dequant(MMRT_QTYPE_Q4_1, "q4_1");
    check_dequant(MMRT_QTYPE_Q5_0, "q5_0");
    check_dequant(MMRT_QTYPE_Q5_1, "q5_1");
    check_dequant(MMRT_QTYPE_Q4_K, "q4_k");
    check_dequant(MMRT_QTYPE_Q5_K, "q5_k");
    check_dequant(MMRT_QTYPE_Q6_K, "q6_k");
}

static void check_quantize(mmrt_qtype t, const char *name) {
    char sn[64], qn[64];
    snprintf(sn, sizeof sn, "%s.src.f32", name);
    snprintf(qn, sizeof qn, "%s.q", name);
    size_t ssize, qsize;
    float *src = read_fixture(sn, &ssize);
    uint8_t *ref = read_fixture(qn, &qsize);
    int64_t k = (int64_t)(ssize / 4);
    uint8_t *got = malloc(qsize);
    mmrt_error err = {0};
    cr_assert_eq(mmrt_quantize_row(t, src, got, k, &err), MMRT_OK, "%s", err.msg);
    cr_expect(same_bytes(name, got, ref, qsize), "%s: quantization differs from gguf-py", name);
    free(src);
    free(ref);
    free(got);
}

Test(quant, quantize_matches_gguf_py) {
    check_quantize(MMRT_QTYPE_Q8_0, "q8_0");
    check_quantize(MMRT_QTYPE_Q4_0, "q4_0");
}

/* Q4_K has no gguf-py quantizer: its round trip must stay within one quantization step of each
 * weight (the step is the sub-block's d·sc; the level search never lands further away) and its
 * rms error within 10 % of the row's rms (4 bits: about 1/15 of each sub-block's range). */
Test(quant, q4_K_round_trip) {
    const int64_t k = 4096;
    float *x = malloc(k * 4), *y = malloc(k * 4);
    mmrt_block_q4_K *q = malloc(mmrt_qtype_row_bytes(MMRT_QTYPE_Q4_K, k));
    mmrt_test_fill(x, k, 11, -1.0f, 1.0f);
    for (int64_t i = 0; i < k; i++) x[i] = x[i] * x[i] * x[i] + (i % 512 == 0 ? 4.0f : 0.0f); /* heavy tails */
    mmrt_error err = {0};
    cr_assert_eq(mmrt_quantize_row(MMRT_QTYPE_Q4_K, x, q, k, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_dequantize_row(MMRT_QTYPE_Q4_K, q, y, k, &err), MMRT_OK, "%s", err.msg);
    double se = 0, sx = 0;
    int bad = 0;
    for (int64_t i = 0; i < k; i++) {
        uint8_t sc, m;
        mmrt_q4k_scale_min((int)(i % 256) / 32, q[i / 256].scales, &sc, &m);
        float step = mmrt_f16_to_f32(q[i / 256].d) * sc;
        if (fabsf(x[i] - y[i]) > step && bad++ < 8)
            fprintf(stderr, "q4_K: [%lld] x %g, back %g, step %g\n", (long long)i, x[i], y[i], step);
        se += (double)(x[i] - y[i]) * (x[i] - y[i]);
        sx += (double)x[i] * x[i];
    }
    cr_expect_eq(bad, 0, "q4_K: %d weights more than a step away", bad);
    cr_expect_lt(sqrt(se / sx), 0.10, "q4_K: relative rms error %g", sqrt(se / sx));
    free(x);
    free(y);
    free(q);
}

/* ---- dot kernels ----------------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void put_f16(uint8_t *p, float v) {
    uint16_t h = mmrt_f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* A row of random blocks: every byte random (all integer levels, Q8_0's −128 included), the f16
 * scales set to random finite values in [1e-4, 1e-2) (Q4_1's and Q5_1's m negated, the K mins' dmin
 * too). */
static uint8_t *random_row(mmrt_qtype t, int64_t k, uint64_t seed) {
    const mmrt_qtype_info *q = mmrt_qtype_get(t);
    size_t n = mmrt_qtype_row_bytes(t, k);
    uint8_t *row = malloc(n);
    for (size_t i = 0; i < n; i++) row[i] = (uint8_t)rng_next(&seed);
    for (size_t b = 0; b < n; b += (size_t)q->block_bytes) {
        float u0 = (float)(rng_next(&seed) % 1000) * 1e-5f + 1e-4f, u1 = (float)(rng_next(&seed) % 1000) * 1e-5f + 1e-4f;
        if (t == MMRT_QTYPE_Q6_K) {
            put_f16(row + b + 208, u0);
            continue;
        }
        put_f16(row + b, u0);
        bool has_min = t == MMRT_QTYPE_Q4_1 || t == MMRT_QTYPE_Q5_1;
        if (t != MMRT_QTYPE_Q8_0 && t != MMRT_QTYPE_Q4_0 && t != MMRT_QTYPE_Q5_0)
            put_f16(row + b + 2, has_min ? -u1 : u1);
    }
    return row;
}

/* |offset| of weight i, the part of its value the kernels sum separately from d·q: Q4_0's 8·d,
 * Q5_0's 16·d, Q4_1's and Q5_1's m, the K mins' dmin·m (twice: the scalar min sum), Q6_K's 32·d·sc. */
static double weight_offset(mmrt_qtype t, const uint8_t *row, int64_t i) {
    const mmrt_qtype_info *q = mmrt_qtype_get(t);
    const uint8_t *b = row + (i / q->block_size) * q->block_bytes;
    uint16_t h0, h1;
    memcpy(&h0, b, 2);
    memcpy(&h1, b + 2, 2);
    if (t == MMRT_QTYPE_Q4_0) return 8 * fabs(mmrt_f16_to_f32(h0));
    if (t == MMRT_QTYPE_Q5_0) return 16 * fabs(mmrt_f16_to_f32(h0));
    if (t == MMRT_QTYPE_Q4_1 || t == MMRT_QTYPE_Q5_1) return fabs(mmrt_f16_to_f32(h1));
    if (t == MMRT_QTYPE_Q4_K || t == MMRT_QTYPE_Q5_K) {
        uint8_t sc, m;
        mmrt_q4k_scale_min((int)(i % 256) / 32, b + 4, &sc, &m);
        return 2 * fabs(mmrt_f16_to_f32(h1)) * m;
    }
    if (t == MMRT_QTYPE_Q6_K) {
        uint16_t d;
        memcpy(&d, b + 208, 2);
        return 32 * fabs(mmrt_f16_to_f32(d) * ((const int8_t *)b)[192 + (i % 256) / 16]);
    }
    return 0;
}

/* Activation row (Q8_0, Q8_1 or Q8_K) as floats: d·q. */
static void act_values(mmrt_qtype at, const uint8_t *a, int64_t k, float *x) {
    for (int64_t i = 0; i < k; i++) {
        if (at == MMRT_QTYPE_Q8_K) {
            const mmrt_block_q8_K *b = (const mmrt_block_q8_K *)a + i / 256;
            x[i] = b->d * b->qs[i % 256];
        } else if (at == MMRT_QTYPE_Q8_1) {
            const mmrt_block_q8_1 *b = (const mmrt_block_q8_1 *)a + i / 32;
            x[i] = mmrt_f16_to_f32(b->d) * b->qs[i % 32];
        } else {
            const mmrt_block_q8_0 *b = (const mmrt_block_q8_0 *)a + i / 32;
            x[i] = mmrt_f16_to_f32(b->d) * b->qs[i % 32];
        }
    }
}

typedef struct dot_case {
    mmrt_qtype wt, at;
    int64_t k;
    uint8_t *w, *act; /* MMRT_QUANT_DOTN_MAX activation rows, act_bytes apart */
    size_t act_bytes;
    double exact[MMRT_QUANT_DOTN_MAX], tol[MMRT_QUANT_DOTN_MAX];
    double tol_exact[MMRT_QUANT_DOTN_MAX]; /* tol + Q8_1's f16 rounding of d·Σq */
} dot_case;

/* Random weights and activations, each activation row's f64 dot with the dequantized weights,
 * and the bound every kernel must meet against it and against the reference: the block terms
 * (d·Σq·a and the offsets') sum to at most A = Σ_i (|w_i| + offset_i)·|a_i|; f32 summation of nb
 * of them in any order, each rounded once or twice, is within (3·nb + 16)·2^-24·A. Against the
 * f64 dot, Q4_1 and Q5_1 also carry the f16 rounding of Q8_1's s = d·Σq: 2^-11·Σ_i |m|·|a_i| at most. */
static void dot_case_init(dot_case *c, mmrt_qtype wt, int64_t k, uint64_t seed) {
    c->wt = wt;
    c->at = (mmrt_qtype)mmrt_quant_act_type(wt);
    c->k = k;
    c->w = random_row(wt, k, seed);
    c->act_bytes = mmrt_qtype_row_bytes(c->at, k);
    c->act = malloc(c->act_bytes * MMRT_QUANT_DOTN_MAX);
    float *wf = malloc(k * 4), *x = malloc(k * 4);
    mmrt_error err = {0};
    cr_assert_eq(mmrt_dequantize_row(wt, c->w, wf, k, &err), MMRT_OK, "%s", err.msg);
    int64_t nb = k / mmrt_qtype_get(wt)->block_size;
    for (int r = 0; r < MMRT_QUANT_DOTN_MAX; r++) {
        uint8_t *a = c->act + r * c->act_bytes;
        mmrt_test_fill(x, k, seed * 31 + r, -1.0f, 1.0f);
        if (r == 1) memset(x, 0, (size_t)(k < 256 ? k : 256) * 4); /* an all-zero block: d = 0 */
        cr_assert_eq(mmrt_quantize_row(c->at, x, a, k, &err), MMRT_OK, "%s", err.msg);
        act_values(c->at, a, k, x);
        double s = 0, mag = 0, mag_off = 0;
        for (int64_t i = 0; i < k; i++) {
            s += (double)wf[i] * x[i];
            mag += (fabs(wf[i]) + weight_offset(wt, c->w, i)) * fabs(x[i]);
            mag_off += weight_offset(wt, c->w, i) * fabs(x[i]);
        }
        c->exact[r] = s;
        c->tol[r] = (3.0 * (double)nb + 16) * ldexp(1.0, -24) * mag;
        c->tol_exact[r] = c->tol[r] + (c->at == MMRT_QTYPE_Q8_1 ? ldexp(mag_off, -11) : 0.0);
    }
    free(wf);
    free(x);
}

static void dot_case_free(dot_case *c) {
    free(c->w);
    free(c->act);
}

static const mmrt_qtype dot_types[] = {MMRT_QTYPE_Q8_0, MMRT_QTYPE_Q4_0, MMRT_QTYPE_Q4_1, MMRT_QTYPE_Q5_0,
                                       MMRT_QTYPE_Q5_1, MMRT_QTYPE_Q4_K, MMRT_QTYPE_Q5_K, MMRT_QTYPE_Q6_K};
static const int64_t dot_ks[] = {256, 4096, 11008};

/* The reference against the f64 dot of the dequantized rows: checks the block layouts and the
 * integer arithmetic that every SIMD kernel is then compared with. */
Test(quant, reference_dot_matches_dequantized) {
    for (size_t t = 0; t < sizeof dot_types / sizeof *dot_types; t++)
        for (size_t j = 0; j < sizeof dot_ks / sizeof *dot_ks; j++) {
            dot_case c;
            dot_case_init(&c, dot_types[t], dot_ks[j], 7 + t * 13 + j);
            float out[MMRT_QUANT_DOTN_MAX];
            mmrt_quant_dotn_isa(c.wt, MMRT_QUANT_ISA_REF)(c.w, c.act, c.act_bytes, MMRT_QUANT_DOTN_MAX, c.k, out);
            for (int r = 0; r < MMRT_QUANT_DOTN_MAX; r++)
                cr_expect_leq(fabs(out[r] - c.exact[r]), c.tol_exact[r], "%s k=%lld row %d: ref %.9g, f64 %.9g (tol %.3g)",
                              mmrt_qtype_get(c.wt)->name, (long long)c.k, r, out[r], c.exact[r], c.tol_exact[r]);
            dot_case_free(&c);
        }
}

/* One kernel on one case: single rows against the reference (within the bound), and the
 * multi-row form equal bit for bit to the single rows for every nx. */
static void check_kernel(const dot_case *c, mmrt_quant_isa isa, mmrt_quant_dotn_fn f) {
    const char *name = mmrt_qtype_get(c->wt)->name;
    float ref[MMRT_QUANT_DOTN_MAX], one[MMRT_QUANT_DOTN_MAX], many[MMRT_QUANT_DOTN_MAX];
    mmrt_quant_dotn_isa(c->wt, MMRT_QUANT_ISA_REF)(c->w, c->act, c->act_bytes, MMRT_QUANT_DOTN_MAX, c->k, ref);
    for (int r = 0; r < MMRT_QUANT_DOTN_MAX; r++) {
        f(c->w, c->act + r * c->act_bytes, 0, 1, c->k, &one[r]);
        cr_expect_leq(fabs((double)one[r] - ref[r]), c->tol[r], "%s %s k=%lld row %d: ref %.9g, got %.9g (tol %.3g)",
                      mmrt_quant_isa_name(isa), name, (long long)c->k, r, ref[r], one[r], c->tol[r]);
    }
    for (int nx = 2; nx <= MMRT_QUANT_DOTN_MAX; nx++) {
        f(c->w, c->act, c->act_bytes, nx, c->k, many);
        cr_expect(same_bits(name, many, one, nx), "%s %s: nx=%d changes a row's result", mmrt_quant_isa_name(isa),
                  name, nx);
    }
}

Test(quant, simd_dots_match_reference) {
    int tested = 0;
    for (int isa = MMRT_QUANT_ISA_AVX2; isa < MMRT_QUANT_ISA_COUNT; isa++) {
        if (!mmrt_quant_dotn_isa(MMRT_QTYPE_Q8_0, (mmrt_quant_isa)isa)) {
            fprintf(stderr, "quant: this CPU has no %s, not tested\n", mmrt_quant_isa_name((mmrt_quant_isa)isa));
            continue;
        }
        for (size_t t = 0; t < sizeof dot_types / sizeof *dot_types; t++)
            for (size_t j = 0; j < sizeof dot_ks / sizeof *dot_ks; j++) {
                dot_case c;
                dot_case_init(&c, dot_types[t], dot_ks[j], 101 + t * 13 + j);
                mmrt_quant_dotn_fn f = mmrt_quant_dotn_isa(c.wt, (mmrt_quant_isa)isa);
                cr_assert(f, "%s has no %s kernel", mmrt_quant_isa_name((mmrt_quant_isa)isa),
                          mmrt_qtype_get(c.wt)->name);
                check_kernel(&c, (mmrt_quant_isa)isa, f);
                dot_case_free(&c);
                tested++;
            }
    }
    fprintf(stderr, "quant: %d kernel/k pairs against the reference\n", tested);
}

/* Short rows of the 32-element formats (3 blocks: no whole vector loop) and the dispatch's pick. */
Test(quant, short_rows_and_dispatch) {
    for (int t = 0; t < 5; t++) {
        cr_assert_eq(mmrt_qtype_get(dot_types[t])->block_size, 32, "dot_types: the 32-element formats first");
        dot_case c;
        dot_case_init(&c, dot_types[t], 96, 5 + t);
        for (int isa = 0; isa < MMRT_QUANT_ISA_COUNT; isa++) {
            mmrt_quant_dotn_fn f = mmrt_quant_dotn_isa(c.wt, (mmrt_quant_isa)isa);
            if (f) check_kernel(&c, (mmrt_quant_isa)isa, f);
        }
        float got;
        mmrt_error err = {0};
        cr_assert_eq(mmrt_quant_dot(c.wt, c.w, c.act, c.k, &got, &err), MMRT_OK, "%s", err.msg);
        cr_expect_leq(fabs(got - c.exact[0]), c.tol_exact[0], "%s: mmrt_quant_dot %.9g vs %.9g",
                      mmrt_qtype_get(c.wt)->name, got, c.exact[0]);
        dot_case_free(&c);
    }
}

Test(quant, bad_k_is_refused) {
    uint8_t buf[4096] = {0};
    float out[1024], v;
    mmrt_error err = {0};
    cr_expect_eq(mmrt_quant_dot(MMRT_QTYPE_Q8_0, buf, buf, 100, &v, &err), MMRT_ERR_INVALID_ARG);
    cr_expect(strstr(err.msg, "q8_0") != NULL, "message names the type: %s", err.msg);
    cr_expect_eq(mmrt_quant_dot(MMRT_QTYPE_Q4_K, buf, buf, 512 + 32, &v, &err), MMRT_ERR_INVALID_ARG);
    cr_expect_eq(mmrt_quant_dot(MMRT_QTYPE_Q6_K, buf, buf, 0, &v, &err), MMRT_ERR_INVALID_ARG);
    cr_expect_eq(mmrt_dequantize_row(MMRT_QTYPE_Q5_K, buf, out, 300, &err), MMRT_ERR_INVALID_ARG);
    cr_expect_eq(mmrt_quantize_row(MMRT_QTYPE_Q4_0, out, buf, 33, &err), MMRT_ERR_INVALID_ARG);
    cr_expect_eq(mmrt_quantize_row(MMRT_QTYPE_Q8_K, out, buf, -256, &err), MMRT_ERR_INVALID_ARG);
    cr_expect_eq(mmrt_quantize_row(MMRT_QTYPE_Q6_K, out, buf, 256, &err), MMRT_ERR_UNSUPPORTED);
    cr_expect_eq(mmrt_dequantize_row(MMRT_QTYPE_Q2_K, buf, out, 256, &err), MMRT_ERR_UNSUPPORTED);
    cr_expect_eq(mmrt_quant_dot(MMRT_QTYPE_F16, buf, buf, 256, &v, &err), MMRT_ERR_UNSUPPORTED);
}

/* The SIMD kernels' word-wise unpacking of Q4_K/Q5_K scales against the per-j reference. */
Test(quant, q4k_scale_unpacking_agrees) {
    uint64_t s = 99;
    for (int t = 0; t < 2000; t++) {
        uint8_t q[12], all[16];
        for (int i = 0; i < 12; i++) q[i] = t < 1000 ? (uint8_t)rng_next(&s) : (uint8_t)(t & 1 ? 0xFF : (1 << (t % 8)));
        mmrt_q4k_unpack_scales(q, all);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            mmrt_q4k_scale_min(j, q, &sc, &m);
            cr_assert(all[j] == sc && all[8 + j] == m, "case %d j %d: scale %u/%u, min %u/%u", t, j, all[j], sc,
                      all[8 + j], m);
        }
    }
}

/* The dispatch follows the SIMD level in use (MMRT_SIMD / mmrt_simd_force): generic gives the
 * reference, avx2 the best 256-bit kernel, and the default the best the CPU has. */
Test(quant, dispatch_follows_simd_level) {
    mmrt_quant_dotn_fn vnni256 = mmrt_quant_dotn_isa(MMRT_QTYPE_Q4_K, MMRT_QUANT_ISA_AVXVNNI);
    mmrt_quant_dotn_fn avx2 = mmrt_quant_dotn_isa(MMRT_QTYPE_Q4_K, MMRT_QUANT_ISA_AVX2);
    mmrt_quant_dotn_fn avx512 = mmrt_quant_dotn_isa(MMRT_QTYPE_Q4_K, MMRT_QUANT_ISA_AVX512VNNI);
    mmrt_simd_force(MMRT_SIMD_AVX512);
    mmrt_quant_dotn_fn best = avx512 ? avx512 : vnni256 ? vnni256 : avx2;
    cr_expect(mmrt_quant_dotn_get(MMRT_QTYPE_Q4_K) == (best ? best : mmrt_quant_dotn_isa(MMRT_QTYPE_Q4_K, MMRT_QUANT_ISA_REF)),
              "default: the best kernel the CPU has");
    if (avx2) {
        mmrt_simd_force(MMRT_SIMD_AVX2);
        cr_expect(mmrt_quant_dotn_get(MMRT_QTYPE_Q4_K) == (vnni256 ? vnni256 : avx2), "avx2: a 256-bit kernel");
    }
    mmrt_simd_force(MMRT_SIMD_GENERIC);
    cr_expect(mmrt_quant_dotn_get(MMRT_QTYPE_Q4_K) == mmrt_quant_dotn_isa(MMRT_QTYPE_Q4_K, MMRT_QUANT_ISA_REF),
              "generic: the reference");
}
