/* The CUDA backend's fused attention (cuda/kernels/attention.cuh) against the CPU backend's fp64
 * _ref attention, within 1e-5 × max|ref|.
 *
 * Built only in the MMRT_CUDA_EMU variant (the kernels run on the CPU emulator); ctest runs it
 * once per emulator scheduling order. Every case: causal (from position 0 and after a cached
 * prefix), bidirectional with and without a u8/i32 key mask (all keys masked included), GQA
 * ratios 1, 3 and 4, head dims 64, 72, 128, 256 and odd-sized even ones, token and key counts
 * that are not multiples of the tiles, and one-token decode over long caches (split-KV). Cache
 * rows past n_kv hold NaN, so a kernel that reads them fails. None may fall back to the CPU.
 * Every case also runs with an additive bias (shared or per head, with −inf entries).
 * The same cases run the tensor-core kernel (a backend created with MMRT_MATH_BF16 / _F16), judged
 * as issue 4 says: max error against fp64 at most 2 × that of a plain computation that rounds q,
 * k, v to bf16/f16 once and accumulates in f32, plus 1e-6. MMRT_MATH_TF32 keeps the f32 kernel. */
#include "core/backend.h"
#include "core/ops.h"
#include "helpers/backend_test.h"
#include "helpers/compare.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { MASK_NONE, MASK_U8, MASK_I32 } mask_kind;
/* The additive bias (src[4]): none, one row per token shared by all heads, one per head; the
 * _INF kinds put −inf on every fifth key and on every key of token 0, head 0 (zeros out). */
typedef enum { BIAS_NONE, BIAS_SHARED, BIAS_PER_HEAD, BIAS_SHARED_INF, BIAS_PER_HEAD_INF } bias_kind;

/* The kernel variant under test: the backend's mmrt_math picks it (cuda/attention.cu). */
typedef enum { PREC_F32, PREC_BF16, PREC_F16, PREC_TF32 } precision;
static const char *precision_name[] = {"f32", "bf16", "f16", "tf32"};
static const mmrt_math precision_math[] = {MMRT_MATH_F32, MMRT_MATH_BF16, MMRT_MATH_F16,
                                           MMRT_MATH_TF32};

typedef struct {
    int64_t n, n_kv, n_kv_max, n_head, h_kv, hd, pos0;
    bool causal;
    mask_kind mask;
    bool all_masked; /* every key masked: every query gets the mean of v */
    bias_kind bias;
    int64_t kv_pad; /* cache rows hd + kv_pad floats apart: 1 and 2 force narrower cp.async */
} attn_case;

/* ---- host and device tensors ------------------------------------------------------------ */

/* An f32 (ne2, ne1, ne0) host tensor whose rows are `pitch` ≥ ne0 floats apart, values in
 * [lo, hi); rows i2 ≥ valid2 are NaN. */
static mmrt_tensor host_f32(int64_t ne0, int64_t ne1, int64_t ne2, int64_t pitch, int64_t valid2,
                            uint64_t seed, float lo, float hi) {
    int64_t n = pitch * ne1 * ne2;
    float *f = test_host_alloc(sizeof(float) * (size_t)(n ? n : 1));
    mmrt_test_fill(f, n, seed, lo, hi);
    for (int64_t i = valid2 * pitch * ne1; i < n; i++)
        f[i] = NAN;
    mmrt_tensor t = mmrt_tensor_3d(MMRT_F32, f, ne0, ne1, ne2);
    t.nb[1] = (size_t)pitch * sizeof(float);
    t.nb[2] = t.nb[1] * (size_t)ne1;
    t.nb[3] = t.nb[2] * (size_t)ne2;
    return t;
}

/* The (n, h, hd) elements of t (rows `pitch` apart) packed. */
static float *pack(const mmrt_tensor *t) {
    int64_t k = 0;
    float *out = test_host_alloc(sizeof(float) * (size_t)mmrt_tensor_nelements(t));
    for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
        for (int64_t i1 = 0; i1 < t->ne[1]; i1++) {
            const float *row = (const float *)mmrt_tensor_row(t, i1, i2, 0);
            for (int64_t i0 = 0; i0 < t->ne[0]; i0++)
                out[k++] = row[i0];
        }
    return out;
}

/* ---- one case ----------------------------------------------------------------------------- */

static void describe(const attn_case *c, precision prec, char *what, size_t size) {
    static const char *masks[] = {"", " mask=u8", " mask=i32"};
    static const char *biases[] = {"", " bias=shared", " bias=per-head", " bias=shared,-inf",
                                   " bias=per-head,-inf"};
    snprintf(what, size, "attention %s n=%lld n_kv=%lld heads=%lld/%lld hd=%lld%s %s pos0=%lld%s%s%s",
             precision_name[prec], (long long)c->n, (long long)c->n_kv, (long long)c->n_head,
             (long long)c->h_kv, (long long)c->hd, c->kv_pad ? " kv-padded" : "",
             c->causal ? "causal" : "bidirectional",
             (long long)c->pos0, masks[c->mask], c->all_masked ? " all masked" : "",
             biases[c->bias]);
}

static float round_to(precision prec, float x) {
    return prec == PREC_BF16 ? mmrt_bf16_to_f32(mmrt_f32_to_bf16(x))
                             : mmrt_f16_to_f32(mmrt_f32_to_f16(x));
}

/* The plain computation the tensor-core path is judged against: q, k, v rounded to prec once,
 * then scores, softmax and p·v in f32 in key order, the masks as in the oracle.
 * Returns (n, h, hd) packed. */
static float *plain_attention(const mmrt_op *op, precision prec) {
    const mmrt_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2], *mask = op->src[3];
    const mmrt_tensor *bias = op->src[4];
    int64_t hd = q->ne[0], n_head = q->ne[1], n = q->ne[2], n_kv = op->p.attn.n_kv;
    int64_t group = n_head / k->ne[1];
    float *out = test_host_alloc(sizeof(float) * (size_t)(n * n_head * hd));
    float *score = test_host_alloc(sizeof(float) * (size_t)(n_kv ? n_kv : 1));
    float *acc = test_host_alloc(sizeof(float) * (size_t)hd);
    for (int64_t t = 0; t < n; t++)
        for (int64_t h = 0; h < n_head; h++) {
            int64_t n_vis = op->p.attn.causal ? op->p.attn.pos0 + t + 1 : n_kv;
            if (n_vis > n_kv)
                n_vis = n_kv;
            const float *qr = (const float *)mmrt_tensor_row(q, h, t, 0);
            const float *br = bias ? (const float *)mmrt_tensor_row(bias, t, bias->ne[2] == 1 ? 0 : h, 0)
                                   : NULL;
            float mx = -INFINITY, sum = 0.0f;
            for (int64_t j = 0; j < n_vis; j++) {
                const float *kr = (const float *)mmrt_tensor_row(k, h / group, j, 0);
                float s = 0.0f;
                for (int64_t i = 0; i < hd; i++)
                    s += round_to(prec, qr[i]) * round_to(prec, kr[i]);
                bool on = !mask || (mask->type == MMRT_U8 ? ((const uint8_t *)mask->data)[j] != 0
                                                          : ((const int32_t *)mask->data)[j] != 0);
                score[j] = on ? s * op->p.attn.scale + (br ? br[j] : 0.0f) : -FLT_MAX;
                mx = fmaxf(mx, score[j]);
            }
            for (int64_t i = 0; i < hd; i++)
                acc[i] = 0.0f;
            for (int64_t j = 0; j < n_vis && mx > -INFINITY; j++) {
                float pj = expf(score[j] - mx);
                sum += pj;
                const float *vr = (const float *)mmrt_tensor_row(v, h / group, j, 0);
                for (int64_t i = 0; i < hd; i++)
                    acc[i] += pj * round_to(prec, vr[i]);
            }
            for (int64_t i = 0; i < hd; i++)
                out[(t * n_head + h) * hd + i] = mx > -INFINITY ? acc[i] / sum : 0.0f;
        }
    return out;
}

/* Set by each Test before it runs its cases (criterion runs every Test in its own process). */
static precision g_prec;

/* A CUDA backend whose attention runs the kernel of `prec`. */
static mmrt_backend *cuda_backend(precision prec) {
    mmrt_backend *be = NULL;
    mmrt_error err = {0};
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CUDA, .n_threads = 1, .math = precision_math[prec]};
    cr_assert_eq(mmrt_backend_init(&p, &be, &err), MMRT_OK, "backend init: %s", err.msg);
    return be;
}

/* The tensor-core paths are judged against plain_attention; f32 and TF32 math run the f32 kernel. */
static bool tensor_core(precision prec) { return prec == PREC_BF16 || prec == PREC_F16; }

static void check_attention(const attn_case *c, uint64_t seed) {
    char what[160];
    describe(c, g_prec, what, sizeof what);
    int64_t hd = c->hd;
    /* q and dst with padded rows; the caches as the session keeps them (rows contiguous) */
    mmrt_tensor q = host_f32(hd, c->n_head, c->n, hd + 3, c->n, seed, -2.0f, 2.0f);
    int64_t kv_pitch = hd + c->kv_pad;
    mmrt_tensor k = host_f32(hd, c->h_kv, c->n_kv_max, kv_pitch, c->n_kv, seed + 1, -1.0f, 1.0f);
    mmrt_tensor v = host_f32(hd, c->h_kv, c->n_kv_max, kv_pitch, c->n_kv, seed + 2, -1.0f, 1.0f);
    mmrt_tensor ref = host_f32(hd, c->n_head, c->n, hd + 1, 0, 0, 0.0f, 0.0f); /* NaN */
    mmrt_tensor mask = {0};
    if (c->mask != MASK_NONE) {
        /* about a third of the keys off, the first and the last one on (unless all off) */
        int64_t len = c->n_kv_max;
        float *f = test_host_alloc(sizeof(float) * (size_t)(len ? len : 1));
        mmrt_test_fill(f, len, seed + 3, 0.0f, 3.0f);
        bool i32 = c->mask == MASK_I32;
        void *m = test_host_alloc((i32 ? 4 : 1) * (size_t)(len ? len : 1));
        for (int64_t j = 0; j < len; j++) {
            int on = c->all_masked ? 0 : (j == 0 || j == c->n_kv - 1 || f[j] >= 1.0f);
            if (i32)
                ((int32_t *)m)[j] = on ? (int32_t)(j + 1) * 7 : 0; /* any non-zero is on */
            else
                ((uint8_t *)m)[j] = on ? (uint8_t)(1 + j % 255) : 0;
        }
        mask = mmrt_tensor_1d(i32 ? MMRT_I32 : MMRT_U8, m, len);
    }
    mmrt_tensor bias = {0};
    if (c->bias != BIAS_NONE) {
        /* (n_kv + 2, n, 1 or n_head), rows n_kv + 5 apart; NaN past n_kv (never read) */
        bool per_head = c->bias == BIAS_PER_HEAD || c->bias == BIAS_PER_HEAD_INF;
        bool inf = c->bias == BIAS_SHARED_INF || c->bias == BIAS_PER_HEAD_INF;
        int64_t n_bh = per_head ? c->n_head : 1, ne0 = c->n_kv + 2, pitch = c->n_kv + 5;
        float *b = test_host_alloc(sizeof(float) * (size_t)(pitch * c->n * n_bh));
        mmrt_test_fill(b, pitch * c->n * n_bh, seed + 4, -3.0f, 3.0f);
        for (int64_t h = 0; h < n_bh; h++)
            for (int64_t t = 0; t < c->n; t++)
                for (int64_t j = 0; j < pitch; j++) {
                    float *x = &b[(h * c->n + t) * pitch + j];
                    if (j >= c->n_kv) *x = NAN;
                    else if (inf && (j % 5 == 3 || (h == 0 && t == 0))) *x = -INFINITY;
                }
        bias = mmrt_tensor_3d(MMRT_F32, b, ne0, c->n, n_bh);
        bias.nb[1] = (size_t)pitch * sizeof(float);
        bias.nb[2] = bias.nb[1] * (size_t)c->n;
        bias.nb[3] = bias.nb[2] * (size_t)n_bh;
    }
    mmrt_op op = {.kind = MMRT_OP_ATTENTION, .dst = &ref, .src = {&q, &k, &v}};
    if (c->mask != MASK_NONE)
        op.src[3] = &mask;
    if (c->bias != BIAS_NONE)
        op.src[4] = &bias;
    op.p.attn.scale = (float)(1.0 / sqrt((double)hd));
    op.p.attn.n_kv = c->n_kv;
    op.p.attn.pos0 = c->pos0;
    op.p.attn.causal = c->causal;

    mmrt_backend *cu = cuda_backend(g_prec), *cpu = test_backend(MMRT_DEVICE_KIND_CPU, true);
    mmrt_error err = {0};
    mmrt_tensor dq = test_to_device(cu, &q), dk = test_to_device(cu, &k), dv = test_to_device(cu, &v);
    mmrt_tensor dd = test_to_device(cu, &ref); /* NaN: an element the kernel skips fails */
    mmrt_tensor dm = c->mask != MASK_NONE ? test_to_device(cu, &mask) : mask;
    mmrt_tensor db = c->bias != BIAS_NONE ? test_to_device(cu, &bias) : bias;
    mmrt_op dop = op;
    dop.dst = &dd;
    dop.src[0] = &dq;
    dop.src[1] = &dk;
    dop.src[2] = &dv;
    if (c->mask != MASK_NONE)
        dop.src[3] = &dm;
    if (c->bias != BIAS_NONE)
        dop.src[4] = &db;

    cr_assert(cu->iface->supports_op(cu, &dop), "%s: the CUDA backend refuses it", what);
    cr_assert_eq(mmrt_backend_run(cpu, &op, &err), MMRT_OK, "%s: reference: %s", what, err.msg);
    cr_assert_eq(mmrt_backend_run(cu, &dop, &err), MMRT_OK, "%s: %s", what, err.msg);
    mmrt_tensor got = ref;
    got.data = test_host_alloc(mmrt_tensor_nbytes(&ref));
    cr_assert_eq(cu->iface->download(cu, got.data, dd.data, mmrt_tensor_nbytes(&ref), &err),
                 MMRT_OK, "%s: download: %s", what, err.msg);
    cr_assert_eq(cu->iface->synchronize(cu, &err), MMRT_OK, "%s: synchronize: %s", what, err.msg);
    cr_assert_eq(cu->n_fallback, 0, "%s: %lld ops fell back", what, (long long)cu->n_fallback);
    cr_assert_eq(cu->n_ops, 1, "%s: the op did not run on the CUDA backend", what);

    int64_t n_out = mmrt_tensor_nelements(&ref);
    if (!tensor_core(g_prec))
        cr_assert(mmrt_test_close(what, pack(&got), pack(&ref), n_out, 1e-5),
                  "%s differs from the oracle", what);
    else
        cr_assert(mmrt_test_close_to_plain(what, pack(&got), pack(&ref), plain_attention(&op, g_prec), n_out),
                  "%s: error above twice the plain computation's", what);

    cu->iface->buffer_free(cu, dq.data);
    cu->iface->buffer_free(cu, dk.data);
    cu->iface->buffer_free(cu, dv.data);
    cu->iface->buffer_free(cu, dd.data);
    if (c->mask != MASK_NONE)
        cu->iface->buffer_free(cu, dm.data);
    if (c->bias != BIAS_NONE)
        cu->iface->buffer_free(cu, db.data);
    mmrt_backend_free(cu);
    mmrt_backend_free(cpu);
    test_free_host();
}

static const int64_t lengths[] = {1, 7, 33, 100, 257};
static const int64_t head_dims[] = {64, 72, 128, 34};
static const int64_t gqa_ratios[] = {1, 3, 4};
#define COUNT(a) (sizeof(a) / sizeof *(a))

/* ---- causal -------------------------------------------------------------------------------- */

static void causal_prefill(void) {
    for (size_t i = 0; i < COUNT(lengths); i++)
        for (size_t d = 0; d < COUNT(head_dims); d++)
            for (size_t g = 0; g < COUNT(gqa_ratios); g++) {
                int64_t n = lengths[i], h_kv = 2;
                attn_case c = {.n = n, .n_kv = n, .n_kv_max = n + 5, .n_head = h_kv * gqa_ratios[g],
                               .h_kv = h_kv, .hd = head_dims[d], .causal = true};
                check_attention(&c, 100 * i + 10 * d + g);
            }
}

static void causal_after_cached_prefix(void) {
    /* chunked prefill and decode steps: queries at pos0.., keys 0 .. pos0 + n − 1 */
    static const int64_t prefixes[] = {5, 31, 100, 256};
    static const int64_t ns[] = {1, 7, 33};
    for (size_t p = 0; p < COUNT(prefixes); p++)
        for (size_t i = 0; i < COUNT(ns); i++) {
            int64_t n = ns[i], n_kv = prefixes[p] + n, ratio = gqa_ratios[(p + i) % 3];
            attn_case c = {.n = n, .n_kv = n_kv, .n_kv_max = n_kv + 40, .n_head = 3 * ratio,
                           .h_kv = 3, .hd = head_dims[(p + 2 * i) % 4], .pos0 = prefixes[p],
                           .causal = true};
            check_attention(&c, 500 + 10 * p + i);
        }
}

/* ---- bidirectional ------------------------------------------------------------------------- */

static void bidirectional(void) {
    /* n_kv ≠ n as well (cross-attention shapes), every mask kind */
    static const int64_t kv_lengths[] = {1, 7, 33, 100, 257};
    for (size_t i = 0; i < COUNT(lengths); i++)
        for (size_t j = 0; j < COUNT(kv_lengths); j++)
            for (int m = MASK_NONE; m <= MASK_I32; m++) {
                int64_t ratio = gqa_ratios[(i + j + (size_t)m) % 3];
                attn_case c = {.n = lengths[i], .n_kv = kv_lengths[j],
                               .n_kv_max = kv_lengths[j] + 3 * (int64_t)m, .n_head = 2 * ratio,
                               .h_kv = 2, .hd = head_dims[(i + 3 * j + (size_t)m) % 4],
                               .mask = (mask_kind)m};
                check_attention(&c, 1000 + 100 * i + 10 * j + (uint64_t)m);
            }
}

static void all_keys_masked_gives_the_mean_of_v(void) {
    for (int m = MASK_U8; m <= MASK_I32; m++)
        for (size_t i = 0; i < COUNT(lengths); i++) {
            attn_case c = {.n = lengths[i], .n_kv = lengths[(i + 2) % 5],
                           .n_kv_max = lengths[(i + 2) % 5] + 1, .n_head = 4, .h_kv = 1,
                           .hd = head_dims[i % 4], .mask = (mask_kind)m, .all_masked = true};
            check_attention(&c, 2000 + 10 * (uint64_t)m + i);
        }
}

static void odd_and_large_head_dims(void) {
    /* small and large even head dims, 256 needing more than 48 KiB of shared memory */
    static const int64_t dims[] = {2, 8, 18, 40, 96, 160, 250, 256};
    for (size_t d = 0; d < COUNT(dims); d++)
        for (int causal = 0; causal < 2; causal++) {
            attn_case c = {.n = 37, .n_kv = 37 + 20 * causal, .n_kv_max = 70, .n_head = 3,
                           .h_kv = 1, .hd = dims[d], .pos0 = 20 * causal, .causal = causal,
                           .mask = causal ? MASK_NONE : MASK_U8};
            check_attention(&c, 3000 + 10 * d + (uint64_t)causal);
        }
}

static void padded_cache_rows(void) {
    /* cache rows not 16 (pad 2) or 8 (pad 1) bytes aligned: the tensor-core kernel's cp.async
     * falls back to 8- and 4-byte copies */
    for (int64_t pad = 1; pad <= 2; pad++)
        for (int causal = 0; causal < 2; causal++) {
            attn_case c = {.n = 40, .n_kv = 70, .n_kv_max = 75, .n_head = 4, .h_kv = 2,
                           .hd = pad == 1 ? 72 : 64, .pos0 = 30 * causal, .causal = causal,
                           .bias = causal ? BIAS_PER_HEAD : BIAS_NONE, .kv_pad = pad};
            check_attention(&c, 3600 + 10 * (uint64_t)pad + (uint64_t)causal);
        }
    attn_case d = {.n = 1, .n_kv = 700, .n_kv_max = 700, .n_head = 3, .h_kv = 1, .hd = 34,
                   .pos0 = 699, .causal = true, .kv_pad = 1};
    check_attention(&d, 3650);
}

static void empty_cache(void) {
    /* n_kv = 0: no key at all, the oracle writes zeros */
    attn_case c = {.n = 3, .n_kv = 0, .n_kv_max = 4, .n_head = 2, .h_kv = 2, .hd = 64};
    check_attention(&c, 3500);
}

/* ---- one-token decode (split-KV above the kernel's chunk of keys) --------------------------- */

static void decode_split_kv(void) {
    static const int64_t kv_lengths[] = {1, 64, 1000, 4097};
    static const int64_t dims[] = {64, 128, 72};
    for (size_t j = 0; j < COUNT(kv_lengths); j++)
        for (size_t g = 0; g < COUNT(gqa_ratios); g++)
            for (int mode = 0; mode < 3; mode++) { /* causal, bidirectional, masked */
                int64_t n_kv = kv_lengths[j];
                attn_case c = {.n = 1, .n_kv = n_kv, .n_kv_max = n_kv + 17,
                               .n_head = 2 * gqa_ratios[g], .h_kv = 2, .hd = dims[(j + g) % 3],
                               .pos0 = mode == 0 ? n_kv - 1 : 0, .causal = mode == 0,
                               .mask = mode == 2 ? (g % 2 ? MASK_I32 : MASK_U8) : MASK_NONE};
                check_attention(&c, 4000 + 100 * j + 10 * g + (uint64_t)mode);
            }
    /* a decode step that sees less than the cache holds (pos0 + 1 < n_kv), and all masked */
    attn_case c = {.n = 1, .n_kv = 4097, .n_kv_max = 4097, .n_head = 4, .h_kv = 1, .hd = 64,
                   .pos0 = 2999, .causal = true};
    check_attention(&c, 4900);
    attn_case m = {.n = 1, .n_kv = 1000, .n_kv_max = 1000, .n_head = 3, .h_kv = 1, .hd = 64,
                   .mask = MASK_U8, .all_masked = true};
    check_attention(&m, 4901);
}

/* ---- additive bias -------------------------------------------------------------------------- */

static void with_bias(void) {
    /* causal prefill (from 0 and after a prefix), bidirectional with key masks, GQA, head dims
     * 64/72/128, ragged lengths, shared and per-head bias with and without −inf entries */
    static const int64_t ns[] = {1, 7, 33, 100};
    static const int64_t dims[] = {64, 72, 128};
    for (size_t i = 0; i < COUNT(ns); i++)
        for (int mode = 0; mode < 3; mode++) { /* causal, causal after a prefix, masked */
            int64_t n = ns[i], pos0 = mode == 1 ? 29 : 0, n_kv = mode == 2 ? 45 + 19 * (int64_t)i : pos0 + n;
            attn_case c = {.n = n, .n_kv = n_kv, .n_kv_max = n_kv + 4,
                           .n_head = 2 * gqa_ratios[(i + (size_t)mode) % 3], .h_kv = 2,
                           .hd = dims[(i + (size_t)mode) % 3], .pos0 = pos0, .causal = mode < 2,
                           .mask = mode == 2 ? (i % 2 ? MASK_I32 : MASK_U8) : MASK_NONE,
                           .bias = (bias_kind)(1 + (i + (size_t)mode) % 4)};
            check_attention(&c, 6000 + 10 * i + (uint64_t)mode);
        }
}

static void decode_split_kv_with_bias(void) {
    /* one token over long caches (split-KV partials and their merge), every bias kind */
    static const int64_t kv_lengths[] = {300, 1000, 4097};
    for (size_t j = 0; j < COUNT(kv_lengths); j++)
        for (int b = BIAS_SHARED; b <= BIAS_PER_HEAD_INF; b++) {
            int64_t n_kv = kv_lengths[j];
            bool causal = (j + (size_t)b) % 2;
            attn_case c = {.n = 1, .n_kv = n_kv, .n_kv_max = n_kv + 3,
                           .n_head = 2 * gqa_ratios[(j + (size_t)b) % 3], .h_kv = 2,
                           .hd = j == 1 ? 72 : 64 << (b % 2), .pos0 = causal ? n_kv - 1 : 0,
                           .causal = causal, .mask = !causal && b > 2 ? MASK_U8 : MASK_NONE,
                           .bias = (bias_kind)b};
            check_attention(&c, 7000 + 10 * j + (uint64_t)b);
        }
}

/* ---- every case with the f32 kernel and with the tensor-core kernel in bf16 and f16 ------- */

#define PRECISION_TESTS(suite)                                                                   \
    Test(cuda_attention, suite) {                                                                \
        g_prec = PREC_F32;                                                                       \
        suite();                                                                                 \
    }                                                                                            \
    Test(cuda_attention_bf16, suite) {                                                           \
        g_prec = PREC_BF16;                                                                      \
        suite();                                                                                 \
    }                                                                                            \
    Test(cuda_attention_f16, suite) {                                                            \
        g_prec = PREC_F16;                                                                       \
        suite();                                                                                 \
    }

PRECISION_TESTS(causal_prefill)
PRECISION_TESTS(causal_after_cached_prefix)
PRECISION_TESTS(bidirectional)
PRECISION_TESTS(all_keys_masked_gives_the_mean_of_v)
PRECISION_TESTS(odd_and_large_head_dims)
PRECISION_TESTS(empty_cache)
PRECISION_TESTS(padded_cache_rows)
PRECISION_TESTS(decode_split_kv)
PRECISION_TESTS(with_bias)
PRECISION_TESTS(decode_split_kv_with_bias)

/* TF32 math only changes GEMMs: attention stays on the f32 kernel, within 1e-5 of the oracle. */
Test(cuda_attention_tf32, with_bias) {
    g_prec = PREC_TF32;
    with_bias();
}

/* ---- what the backend refuses ------------------------------------------------------------ */

Test(cuda_attention, supports_op_refuses_unhandled_shapes) {
    mmrt_backend *cu = test_backend(MMRT_DEVICE_KIND_CUDA, false);
    /* (hd, dtype of q): odd, too large, not f32 */
    static const struct {
        int64_t hd;
        mmrt_dtype q_type;
        bool ok;
    } cases[] = {{64, MMRT_F32, true},  {256, MMRT_F32, true},  {2, MMRT_F32, true},
                 {33, MMRT_F32, false}, {258, MMRT_F32, false}, {1, MMRT_F32, false},
                 {64, MMRT_F16, false}, {64, MMRT_BF16, false}};
    for (size_t i = 0; i < COUNT(cases); i++) {
        int64_t hd = cases[i].hd, n = 5, n_kv = 9;
        mmrt_tensor hq = host_f32(hd, 4, n, hd, n, 1, -1.0f, 1.0f);
        hq.type = cases[i].q_type; /* only the dtype matters to supports_op */
        mmrt_tensor hk = host_f32(hd, 2, n_kv, hd, n_kv, 2, -1.0f, 1.0f);
        mmrt_tensor hd_ = host_f32(hd, 4, n, hd, n, 3, 0.0f, 0.0f);
        mmrt_tensor q = test_to_device(cu, &hq), k = test_to_device(cu, &hk), d = test_to_device(cu, &hd_);
        mmrt_op op = {.kind = MMRT_OP_ATTENTION, .dst = &d, .src = {&q, &k, &k}};
        op.p.attn.scale = 0.125f;
        op.p.attn.n_kv = n_kv;
        cr_assert_eq(cu->iface->supports_op(cu, &op), cases[i].ok, "hd=%lld q=%s: expected %s",
                     (long long)hd, mmrt_dtype_name(cases[i].q_type),
                     cases[i].ok ? "accepted" : "refused");
        if (cases[i].ok) {
            /* an f32 key mask, and a u8 mask shorter than n_kv, are refused */
            mmrt_tensor hm = host_f32(n_kv, 1, 1, n_kv, 1, 4, 0.0f, 1.0f);
            hm = mmrt_tensor_1d(MMRT_F32, hm.data, n_kv);
            mmrt_tensor m = test_to_device(cu, &hm);
            op.src[3] = &m;
            cr_assert_not(cu->iface->supports_op(cu, &op), "hd=%lld: f32 key mask", (long long)hd);
            m.type = MMRT_U8;
            m.ne[0] = n_kv - 1;
            m.nb[1] = m.nb[2] = m.nb[3] = (size_t)(n_kv - 1);
            cr_assert_not(cu->iface->supports_op(cu, &op), "hd=%lld: short key mask",
                          (long long)hd);
            op.src[3] = NULL;
            cu->iface->buffer_free(cu, m.data);
            /* a bias (n_kv, n, 1) is accepted; f32 only, ≥ n_kv keys, 1 or n_head heads */
            mmrt_tensor hb = host_f32(n_kv, n, 4, n_kv, 4, 5, -1.0f, 1.0f);
            mmrt_tensor b = test_to_device(cu, &hb);
            op.src[4] = &b;
            b.ne[2] = 1;
            cr_assert(cu->iface->supports_op(cu, &op), "hd=%lld: shared bias", (long long)hd);
            b.ne[2] = 4;
            cr_assert(cu->iface->supports_op(cu, &op), "hd=%lld: per-head bias", (long long)hd);
            b.ne[2] = 2;
            cr_assert_not(cu->iface->supports_op(cu, &op), "hd=%lld: bias of 2 heads", (long long)hd);
            b.ne[2] = 1;
            b.ne[0] = n_kv - 1;
            cr_assert_not(cu->iface->supports_op(cu, &op), "hd=%lld: short bias", (long long)hd);
            b.ne[0] = n_kv;
            b.ne[1] = n - 1;
            cr_assert_not(cu->iface->supports_op(cu, &op), "hd=%lld: bias rows", (long long)hd);
            b.ne[1] = n;
            b.type = MMRT_I32;
            cr_assert_not(cu->iface->supports_op(cu, &op), "hd=%lld: i32 bias", (long long)hd);
            op.src[4] = NULL;
            cu->iface->buffer_free(cu, b.data);
            /* a host-memory cache */
            op.src[1] = &hk;
            cr_assert_not(cu->iface->supports_op(cu, &op), "hd=%lld: host K", (long long)hd);
        }
        cu->iface->buffer_free(cu, q.data);
        cu->iface->buffer_free(cu, k.data);
        cu->iface->buffer_free(cu, d.data);
        test_free_host();
    }
    mmrt_backend_free(cu);
}
