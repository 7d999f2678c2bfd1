/* What a session's KV cache holds, so that the next prompt prefills only what follows the longest
 * common prefix with it.
 *
 * Rows of the cache are a function of the token ids before them, of the media rows spliced in at
 * media positions, and of the adapters active while they were computed. Ids alone do not identify
 * a media position: every image gives the same <image> ids. So the record keeps, besides the ids,
 * each media input's segment and content hash (mmrt_media_input.hash), and the adapter state; a
 * position inside a media segment matches only where the same input (same hash, same segment) is
 * in both, and a different adapter state keeps nothing. */
#ifndef MMRT_FUSION_KV_PREFIX_H
#define MMRT_FUSION_KV_PREFIX_H

#include "core/error.h"
#include "fusion/encoder.h"
#include "fusion/llama.h"

#include <stdint.h>

typedef struct mmrt_kv_media {
    int64_t begin, end;             /* its tokens' positions */
    char hash[MMRT_SHA256_HEX_LEN]; /* mmrt_media_input.hash */
} mmrt_kv_media;

typedef struct mmrt_kv_prefix {
    int32_t *ids;         /* (n) the ids whose rows are in the cache, positions 0 .. n */
    int64_t n, cap;
    mmrt_kv_media *media; /* (n_media) the media inputs among them, in order */
    size_t n_media, cap_media;
    const char *adapter;  /* the LoRA adapter active while they were computed (NULL: none); a
                             string of the model's encoders, which outlive the session */
} mmrt_kv_prefix;

/* The prompt a session is about to run: ids, media segments (batch coordinates = positions) with
 * their inputs, and its adapter. */
typedef struct mmrt_kv_prompt {
    const int32_t *ids;
    int64_t n;
    const mmrt_llm_segment *segments; /* (n_media) in order */
    const mmrt_media_input *inputs;   /* (n_media) */
    size_t n_media;
    const char *adapter;
} mmrt_kv_prompt;

/* How many leading positions of p the cache c already holds and may keep: the longest common
 * prefix of ids where every media position is the same input at the same segment, at most
 * p->n - 1 (the last prompt token is always run, for its logits), and never ending inside a media
 * segment of p (a segment is spliced whole). 0 when the adapters differ. */
int64_t mmrt_kv_prefix_match(const mmrt_kv_prefix *c, const mmrt_kv_prompt *p);

/* Records what the cache holds after a run: the first n_past ids of ids (the prompt followed by
 * the generated tokens that were fed) with the prompt's media (all of which lie inside the prompt)
 * and adapter. On failure the record is empty (keeping nothing is always safe). */
mmrt_status mmrt_kv_prefix_set(mmrt_kv_prefix *c, const mmrt_kv_prompt *p, const int32_t *ids, int64_t n_past,
                               mmrt_error *err);

/* Forgets everything (the next prompt is prefilled whole). */
void mmrt_kv_prefix_clear(mmrt_kv_prefix *c);
void mmrt_kv_prefix_free(mmrt_kv_prefix *c);

#endif
