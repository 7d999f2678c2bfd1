/* Streaming detokenizer (see tokenizer.h). The bytes of all pushed tokens form one stream that is
 * repaired exactly as decode() repairs the whole: valid characters pass, each maximal invalid
 * subpart becomes U+FFFD. A subpart is decided by the bytes that follow it, so the only thing that
 * cannot be emitted yet is a valid-so-far character cut off at the end of what we have (at most
 * three bytes); it waits for the next push or for flush. */
#include "text/tokenizer_impl.h"

#include "text/grow.h"
#include "text/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct mmrt_detok {
    const mmrt_tokenizer *tok;
    bool skip_special;
    bool started; /* a token was emitted (for the space between tokens without a decoder) */
    char held[4]; /* an incomplete character awaiting its continuation bytes */
    size_t n_held;
    char *work, *out; /* held + new bytes; their repaired text */
    size_t work_cap, out_cap;
};

mmrt_status mmrt_detok_init(const mmrt_tokenizer *tok, bool skip_special, mmrt_detok **out,
                            mmrt_error *err) {
    if (!tok || !out)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_detok_init: NULL tokenizer or out");
    mmrt_detok *d = calloc(1, sizeof *d);
    if (!d) return mmrt_error_oom(err, sizeof *d, "detokenizer");
    d->tok = tok;
    d->skip_special = skip_special;
    d->out = malloc(64);
    d->out_cap = 64;
    if (!d->out) {
        free(d);
        return mmrt_error_oom(err, 64, "detokenizer");
    }
    d->out[0] = '\0';
    *out = d;
    return MMRT_OK;
}

void mmrt_detok_free(mmrt_detok *d) {
    if (!d) return;
    free(d->work);
    free(d->out);
    free(d);
}

mmrt_status mmrt_detok_push(mmrt_detok *d, int32_t id, const char **out, size_t *len,
                            mmrt_error *err) {
    if (!d || !out || !len)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_detok_push: NULL argument");
    const char *bytes = NULL;
    size_t bl = 0;
    bool skip = false;
    MMRT_TRY(
        mmrt_tokenizer_piece(d->tok, id, SIZE_MAX, d->skip_special, &bytes, &bl, &skip, err));
    bool space = !skip && d->tok->join_with_spaces && d->started;
    size_t n = d->n_held + space + (skip ? 0 : bl);
    /* Each input byte yields at most 3 output bytes (a lone invalid byte becomes U+FFFD). */
    if (mmrt_tok_reserve(&d->work, &d->work_cap, n + 1) != 0 ||
        mmrt_tok_reserve(&d->out, &d->out_cap, 3 * n + 1) != 0)
        return mmrt_error_oom(err, 4 * n, "detokenizer");
    if (!skip) d->started = true;
    memcpy(d->work, d->held, d->n_held);
    if (space) d->work[d->n_held] = ' ';
    if (!skip) memcpy(d->work + d->n_held + space, bytes, bl);

    const uint8_t *w = (const uint8_t *)d->work;
    size_t i = 0, o = 0, adv;
    d->n_held = 0;
    while (i < n) {
        mmrt_utf8_kind k = mmrt_utf8_next(w + i, n - i, &adv, NULL);
        if (k == MMRT_UTF8_INCOMPLETE) {
            memcpy(d->held, w + i, n - i);
            d->n_held = n - i;
            break;
        }
        if (k == MMRT_UTF8_VALID)
            memcpy(d->out + o, w + i, adv);
        else
            memcpy(d->out + o, MMRT_UTF8_REPLACEMENT, 3);
        o += k == MMRT_UTF8_VALID ? adv : 3;
        i += adv;
    }
    d->out[o] = '\0';
    *out = d->out;
    *len = o;
    return MMRT_OK;
}

mmrt_status mmrt_detok_flush(mmrt_detok *d, const char **out, size_t *len, mmrt_error *err) {
    if (!d || !out || !len)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_detok_flush: NULL argument");
    /* A held prefix is a single maximal subpart: one U+FFFD, as the lossy decode of the whole. */
    size_t o = 0;
    if (d->n_held > 0) {
        memcpy(d->out, MMRT_UTF8_REPLACEMENT, 3);
        o = 3;
    }
    d->n_held = 0;
    d->out[o] = '\0';
    *out = d->out;
    *len = o;
    return MMRT_OK;
}
