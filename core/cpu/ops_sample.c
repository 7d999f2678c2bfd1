/* SAMPLE (core/backend.h): fusion/sampling.c's sampler, step for step, on every row.
 *
 * The oracle sorts all V candidates; the fast op only sorts the top_k it keeps (a selection
 * first). Both then run the same steps 3-6, which are the definition itself: there is nothing
 * faster to check against it. */
#include "cpu.h"

#include <math.h>
#include <stdlib.h>

/* The sort key of candidate j of a row of n_vocab logits: a larger key is an earlier candidate
 * (logit descending, lower index first on ties, -0 == +0); the index is n_vocab − 1 − low word. */
static uint64_t sample_key(float l, int64_t j, int64_t n_vocab) {
    union {
        float f;
        uint32_t u;
    } b = {.f = l == 0.0f ? 0.0f : l};
    uint32_t ord = (b.u & 0x80000000u) ? ~b.u : b.u | 0x80000000u;
    return ((uint64_t)ord << 32) | (uint32_t)(n_vocab - 1 - j);
}

static int64_t key_index(uint64_t key, int64_t n_vocab) { return n_vocab - 1 - (int64_t)(key & 0xffffffffu); }

static int by_key_desc(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Moves the k largest of n distinct keys to a[0..k), in any order (Wirth's selection: O(n) on
 * average, without sorting what top-k drops). */
static void select_largest(uint64_t *a, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1, kth = k - 1;
    while (lo < hi) {
        uint64_t pivot = a[kth];
        int64_t i = lo, j = hi;
        do {
            while (a[i] > pivot) i++;
            while (pivot > a[j]) j--;
            if (i <= j) {
                uint64_t t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        } while (i <= j);
        if (j < kth) lo = i;
        if (kth < i) hi = j;
    }
}

/* Steps 3-6 on the k candidates keys[0..k), best first; val: (k) scratch. */
static int32_t sample_sorted(const mmrt_op *op, const float *logits, const uint64_t *keys, int64_t k,
                             int64_t n_vocab, float u, float *val) {
    double sum = 0.0, inv_t = 1.0 / (double)op->p.sample.temperature;
    float mx = logits[key_index(keys[0], n_vocab)];
    for (int64_t i = 0; i < k; i++)
        sum += val[i] = (float)exp(((double)logits[key_index(keys[i], n_vocab)] - mx) * inv_t);
    for (int64_t i = 0; i < k; i++) val[i] = (float)(val[i] / sum);
    if (op->p.sample.top_p < 1.0f) {
        double cum = 0.0;
        int64_t keep = k;
        for (int64_t i = 0; i < k; i++) {
            cum += val[i];
            if (cum >= op->p.sample.top_p) {
                keep = i + 1;
                break;
            }
        }
        k = keep;
    }
    if (op->p.sample.min_p > 0.0f) {
        float floor = op->p.sample.min_p * val[0];
        int64_t keep = 1;
        while (keep < k && val[keep] >= floor) keep++;
        k = keep;
    }
    double mass = 0.0;
    for (int64_t i = 0; i < k; i++) mass += val[i];
    double r = (double)u * mass, acc = 0.0;
    for (int64_t i = 0; i < k; i++) {
        acc += val[i];
        if (r < acc) return (int32_t)key_index(keys[i], n_vocab);
    }
    return (int32_t)key_index(keys[k - 1], n_vocab);
}

static mmrt_status sample_rows(const mmrt_op *op, bool select, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0];
    const float *u = op->src[1]->data;
    int32_t *dst = op->dst->data;
    int64_t n_vocab = x->ne[0];
    int64_t k = op->p.sample.top_k > 0 && op->p.sample.top_k < n_vocab ? op->p.sample.top_k : n_vocab;
    uint64_t *keys = malloc(sizeof(uint64_t) * (size_t)n_vocab);
    float *val = malloc(sizeof(float) * (size_t)n_vocab);
    if (!keys || !val) {
        free(keys);
        free(val);
        return mmrt_error_oom(err, 12 * (size_t)n_vocab, "sample candidates");
    }
    for (int64_t r = 0; r < x->ne[1]; r++) {
        const float *l = mmrt_cpu_row_f32(x, r, 0);
        if (op->p.sample.temperature <= 0.0f) { /* greedy: the first maximum */
            int64_t best = 0;
            for (int64_t j = 1; j < n_vocab; j++)
                if (l[j] > l[best]) best = j;
            dst[r] = (int32_t)best;
            continue;
        }
        for (int64_t j = 0; j < n_vocab; j++) keys[j] = sample_key(l[j], j, n_vocab);
        if (select && k < n_vocab) select_largest(keys, n_vocab, k);
        qsort(keys, (size_t)(select ? k : n_vocab), sizeof *keys, by_key_desc);
        dst[r] = sample_sorted(op, l, keys, k, n_vocab, u[r], val);
    }
    free(keys);
    free(val);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_sample(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    return sample_rows(op, true, err);
}

mmrt_status mmrt_cpu_sample_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    return sample_rows(op, false, err);
}
