/* The BPE model of HF tokenizers (models/bpe): a vocabulary, ranked merges, and the merge loop of
 * Word::merge_all (lowest rank first, leftmost on ties, with a priority queue so that long pieces
 * stay O(n log n)). Supported options: unk_token, fuse_unk, byte_fallback, ignore_merges.
 * Unsupported (rejected with MMRT_ERR_UNSUPPORTED): dropout > 0, continuing_subword_prefix,
 * end_of_word_suffix.
 *
 * Immutable after mmrt_bpe_parse; encode with a per-thread scratch.
 */
#ifndef MMRT_TEXT_BPE_H
#define MMRT_TEXT_BPE_H

#include "core/error.h"
#include "text/hashmap.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* Ids are below this bound; it keeps id tables small whatever a file claims. */
#define MMRT_TOKEN_ID_LIMIT (1 << 24)

typedef struct mmrt_id_vec {
    int32_t *v;
    size_t n, cap;
} mmrt_id_vec;

/* Returns -1 on out of memory. */
int mmrt_id_vec_push(mmrt_id_vec *iv, int32_t id);

typedef struct mmrt_bpe {
    mmrt_strmap vocab;       /* token -> id */
    mmrt_u64map merges;      /* (left << 32 | right) -> (rank, merged id) */
    uint32_t *text_off;      /* id -> offset of its string in vocab.arena; UINT32_MAX for a hole */
    int32_t n_ids;           /* max vocab id + 1 */
    size_t n_tokens;         /* number of vocab entries (HF's get_vocab_size) */
    int32_t unk_id;          /* -1: no unk_token */
    const char *unk_missing; /* unk_token named but absent from vocab (copy, or NULL) */
    bool fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_ids[256]; /* byte_fallback: id of "<0xXX>", -1 if absent */
} mmrt_bpe;

/* Parses the "model" object (type already checked to be BPE). Errors name path and the field:
 * duplicate tokens or ids, ids out of range, merges whose parts or result are not in the vocab. */
mmrt_status mmrt_bpe_parse(const cJSON *model, const char *path, mmrt_bpe *out, mmrt_error *err);
void mmrt_bpe_free(mmrt_bpe *m);

/* The vocab string of id, or NULL (hole or out of range). */
const char *mmrt_bpe_token_text(const mmrt_bpe *m, int32_t id, size_t *len);

typedef struct mmrt_bpe_scratch {
    struct mmrt_bpe_symbol *sym;
    size_t sym_cap;
    struct mmrt_bpe_merge *heap;
    size_t heap_cap;
} mmrt_bpe_scratch;

void mmrt_bpe_scratch_free(mmrt_bpe_scratch *sc);

/* Appends the ids of one pre-tokenized piece s[0..n) (valid UTF-8, n > 0) to out. */
mmrt_status mmrt_bpe_encode(const mmrt_bpe *m, mmrt_bpe_scratch *sc, const char *s, size_t n,
                            mmrt_id_vec *out, mmrt_error *err);

#endif
