/* The mmrt_tokenizer structure, shared by tokenizer.c (load, encode, decode) and detok.c. */
#ifndef MMRT_TEXT_TOKENIZER_IMPL_H
#define MMRT_TEXT_TOKENIZER_IMPL_H

#include "text/added_tokens.h"
#include "text/bpe.h"
#include "text/pretokenize.h"
#include "text/tokenizer.h"

struct mmrt_tokenizer {
    char *path;
    mmrt_bpe bpe;
    mmrt_added_vocab added;
    mmrt_pretok pretok;
    bool join_with_spaces; /* no decoder: HF joins the token strings with " " */
    int32_t n_vocab;
    int32_t *added_of_id; /* id -> index in added.tokens, or -1 */
    uint32_t *dec_off;    /* id -> its decoded bytes in dec_arena; UINT32_MAX: unassigned id */
    uint32_t *dec_len;
    char *dec_arena;
};

/* The decoded bytes of id (the decoder's per-token step), for decode and the stream. Fails with
 * MMRT_ERR_INVALID_ARG for an unassigned or out-of-range id; `pos` is its index for the message
 * (SIZE_MAX: none). *skip is set when skip_special asks to drop it. */
mmrt_status mmrt_tokenizer_piece(const mmrt_tokenizer *tok, int32_t id, size_t pos,
                                 bool skip_special, const char **bytes, size_t *len, bool *skip,
                                 mmrt_error *err);

#endif
