/* Token sampling from logits, with transformers' logits-processor semantics and order:
 * repetition penalty → temperature → top-k → top-p → min-p → draw. Temperature ≤ 0 is greedy
 * (argmax after the repetition penalty). A seeded sampler is reproducible: same seed, same logits,
 * same tokens, on any machine. */
#ifndef MMRT_FUSION_SAMPLING_H
#define MMRT_FUSION_SAMPLING_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct mmrt_sampler_params {
    float temperature;    /* ≤ 0: greedy */
    int32_t top_k;        /* ≤ 0: off */
    float top_p;          /* ≥ 1: off */
    float min_p;          /* ≤ 0: off */
    float repeat_penalty; /* 1: off; > 1 discourages tokens already in the history */
    uint64_t seed;
} mmrt_sampler_params;

typedef struct mmrt_sampler {
    mmrt_sampler_params p;
    int64_t n_vocab;
    uint64_t rng[4];
    int32_t *idx;     /* (n_vocab) candidate ids */
    float *val;       /* (n_vocab) candidate logits, then probabilities */
    uint8_t *seen;    /* (n_vocab) repetition-penalty marks */
} mmrt_sampler;

/* Rejects parameters out of range (NaN, negative top_p, ...) with MMRT_ERR_INVALID_ARG naming
 * the parameter. */
mmrt_status mmrt_sampler_init(mmrt_sampler *s, const mmrt_sampler_params *p, int64_t n_vocab,
                              mmrt_error *err);
void mmrt_sampler_free(mmrt_sampler *s);
/* Bytes mmrt_sampler_init allocates for a vocabulary of n_vocab. */
size_t mmrt_sampler_bytes(int64_t n_vocab);

/* Picks the next token from logits (n_vocab), which it may modify. history: every token of the
 * sequence so far (prompt included), for the repetition penalty. */
int32_t mmrt_sampler_sample(mmrt_sampler *s, float *logits, const int32_t *history, size_t n_history);

#endif
