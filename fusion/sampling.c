#include "sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* xoshiro256** seeded through splitmix64: small, fast, and the same everywhere. */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t s[4]) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* uniform in [0, 1) with 53 random bits */
static double next_unit(uint64_t s[4]) { return (double)(next_u64(s) >> 11) * 0x1.0p-53; }

size_t mmrt_sampler_bytes(int64_t n_vocab) {
    return (sizeof(int32_t) + sizeof(float) + 1) * (size_t)n_vocab; /* idx, val, seen */
}

mmrt_status mmrt_sampler_init(mmrt_sampler *s, const mmrt_sampler_params *p, int64_t n_vocab,
                              mmrt_error *err) {
    memset(s, 0, sizeof *s);
    if (!(p->temperature == p->temperature) || !(p->top_p >= 0.0f) || !(p->min_p >= 0.0f && p->min_p <= 1.0f) ||
        !(p->repeat_penalty > 0.0f))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "sampling parameters out of range (temperature %g, top_p %g, min_p %g, "
                              "repeat_penalty %g): need top_p ≥ 0, 0 ≤ min_p ≤ 1, repeat_penalty > 0",
                              p->temperature, p->top_p, p->min_p, p->repeat_penalty);
    s->p = *p;
    s->n_vocab = n_vocab;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    s->idx = malloc(sizeof(int32_t) * (size_t)n_vocab);
    s->val = malloc(sizeof(float) * (size_t)n_vocab);
    s->seen = calloc((size_t)n_vocab, 1);
    if (!s->idx || !s->val || !s->seen) {
        mmrt_sampler_free(s);
        return mmrt_error_oom(err, mmrt_sampler_bytes(n_vocab), "sampler");
    }
    return MMRT_OK;
}

void mmrt_sampler_free(mmrt_sampler *s) {
    free(s->idx);
    free(s->val);
    free(s->seen);
    s->idx = NULL;
    s->val = NULL;
    s->seen = NULL;
}

static int by_value_desc(const void *a, const void *b, void *vals) {
    const float *v = vals;
    int32_t ia = *(const int32_t *)a, ib = *(const int32_t *)b;
    if (v[ia] != v[ib]) return v[ia] < v[ib] ? 1 : -1;
    return ia < ib ? -1 : ia > ib; /* ties: lower id first, so the order is total */
}

int32_t mmrt_sampler_sample(mmrt_sampler *s, float *logits, const int32_t *history, size_t n_history) {
    int64_t n = s->n_vocab;
    if (s->p.repeat_penalty != 1.0f) {
        /* transformers' RepetitionPenaltyLogitsProcessor: each distinct earlier token once */
        for (size_t i = 0; i < n_history; i++) {
            int32_t t = history[i];
            if (t < 0 || t >= n || s->seen[t]) continue;
            s->seen[t] = 1;
            logits[t] = logits[t] < 0 ? logits[t] * s->p.repeat_penalty : logits[t] / s->p.repeat_penalty;
        }
        for (size_t i = 0; i < n_history; i++)
            if (history[i] >= 0 && history[i] < n) s->seen[history[i]] = 0;
    }
    if (s->p.temperature <= 0.0f) {
        int64_t best = 0;
        for (int64_t i = 1; i < n; i++)
            if (logits[i] > logits[best]) best = i;
        return (int32_t)best;
    }
    for (int64_t i = 0; i < n; i++) s->idx[i] = (int32_t)i;
    /* candidates sorted by logit, best first (dividing by a positive temperature keeps the order) */
    qsort_r(s->idx, (size_t)n, sizeof(int32_t), by_value_desc, logits);
    int64_t k = n;
    if (s->p.top_k > 0 && s->p.top_k < k) k = s->p.top_k;
    /* probabilities of the survivors of top-k: exp((l − max) / T) is exp(l/T − max/T) without the
     * inf − inf a tiny temperature would give */
    double sum = 0.0, inv_t = 1.0 / (double)s->p.temperature;
    float mx = logits[s->idx[0]];
    for (int64_t i = 0; i < k; i++) sum += s->val[i] = (float)exp(((double)logits[s->idx[i]] - mx) * inv_t);
    for (int64_t i = 0; i < k; i++) s->val[i] = (float)(s->val[i] / sum);
    if (s->p.top_p < 1.0f) {
        /* smallest prefix whose mass reaches top_p (transformers removes tokens whose
         * cumulative mass from the bottom is ≤ 1 − top_p; the same set) */
        double cum = 0.0;
        int64_t keep = k;
        for (int64_t i = 0; i < k; i++) {
            cum += s->val[i];
            if (cum >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
        k = keep;
    }
    if (s->p.min_p > 0.0f) {
        float floor = s->p.min_p * s->val[0];
        int64_t keep = 1;
        while (keep < k && s->val[keep] >= floor) keep++;
        k = keep;
    }
    double mass = 0.0;
    for (int64_t i = 0; i < k; i++) mass += s->val[i];
    double r = next_unit(s->rng) * mass, acc = 0.0;
    for (int64_t i = 0; i < k; i++) {
        acc += s->val[i];
        if (r < acc) return s->idx[i];
    }
    return s->idx[k - 1];
}
