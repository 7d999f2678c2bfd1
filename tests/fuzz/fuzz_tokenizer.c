/* libFuzzer target: tokenizer.json loading, encoding, decoding and streaming detokenization
 * (text/tokenizer.h).
 *
 * The input is written as tokenizer.json and loaded. A loaded tokenizer encodes a fixed text full
 * of edge cases (added-token look-alikes, invalid and truncated UTF-8, an embedded NUL, digits,
 * CRLF, emoji, combining marks) and a slice of the input itself, with and without special-token
 * parsing. Every id must be valid, decode must succeed and give valid UTF-8, and the streaming
 * detokenizer must reproduce decode exactly (tokenizer.h's promise), with and without
 * skip_special. Ids taken from the input bytes (most of them invalid) must fail cleanly.
 */
#include "fuzz_common.h"

#include "text/tokenizer.h"

#define SLICE_MAX 512

static const char TRICKY[] =
    "Hello, world! It's 2024-06-01 12:34:56.789\n\n\tTabs\r\nCRLF   three   spaces  \n"
    "don't YOU'LL we've I'm 1234567890123 x=3.14e-5;\r\n\r\n"
    "caf\xc3\xa9 na\xc3\xafve \xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c "
    "\xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd e\xcc\x81 "
    "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 "
    "<|endoftext|><|im_start|>user\nhi<|im_end|> <s></s>[INST] <|begin_of_text|>"
    "<|endoftext|<|endoftext|>> <|im_start|>\xc4\xa0\xc4\xa0\xc4\x8a "
    "\xff\xfe\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82 \x80\x80 x\0y \x7f\x01 "
    "                                                                 end\xf0\x9f\x98";

/* Decodes ids both at once and through the stream, which must agree. */
static void check_decode(const mmrt_tokenizer *tok, const int32_t *ids, size_t n,
                         bool skip_special) {
    char *text = NULL;
    size_t len = (size_t)-1;
    mmrt_error err = {0};
    mmrt_status st = mmrt_tokenizer_decode(tok, ids, n, skip_special, &text, &len, &err);
    FUZZ_CHECK(st == MMRT_OK);
    FUZZ_CHECK(text != NULL && text[len] == '\0');
    FUZZ_CHECK(fuzz_utf8_valid(text, len));

    mmrt_detok *d = NULL;
    err = (mmrt_error){0};
    FUZZ_CHECK(mmrt_detok_init(tok, skip_special, &d, &err) == MMRT_OK && d);
    char *stream = malloc(len + 1);
    FUZZ_CHECK(stream != NULL);
    size_t o = 0;
    for (size_t i = 0; i <= n; i++) {
        const char *piece = NULL;
        size_t pl = (size_t)-1;
        err = (mmrt_error){0};
        st = i < n ? mmrt_detok_push(d, ids[i], &piece, &pl, &err)
                   : mmrt_detok_flush(d, &piece, &pl, &err);
        FUZZ_CHECK(st == MMRT_OK && piece != NULL && piece[pl] == '\0');
        FUZZ_CHECK(o + pl <= len); /* never more than decode gives */
        memcpy(stream + o, piece, pl);
        o += pl;
        if (i < n) { /* an invalid id is refused and changes nothing */
            err = (mmrt_error){0};
            st = mmrt_detok_push(d, -1, &piece, &pl, &err);
            fuzz_check_error(st, &err);
            FUZZ_CHECK(st == MMRT_ERR_INVALID_ARG);
            err = (mmrt_error){0};
            st = mmrt_detok_push(d, mmrt_tokenizer_n_vocab(tok), &piece, &pl, &err);
            fuzz_check_error(st, &err);
        }
    }
    FUZZ_CHECK(o == len && memcmp(stream, text, len) == 0);
    free(stream);
    mmrt_detok_free(d);
    free(text);
}

static void check_encode(const mmrt_tokenizer *tok, const char *s, size_t n, bool parse_special) {
    int32_t *ids = NULL;
    size_t n_ids = (size_t)-1;
    mmrt_error err = {0};
    mmrt_status st = mmrt_tokenizer_encode(tok, s, n, parse_special, &ids, &n_ids, &err);
    fuzz_note("mmrt_tokenizer_encode", st, &err);
    if (st != MMRT_OK) { /* e.g. a byte missing from the vocabulary */
        fuzz_check_error(st, &err);
        FUZZ_CHECK(ids == NULL);
        return;
    }
    FUZZ_CHECK(ids != NULL);
    int32_t n_vocab = mmrt_tokenizer_n_vocab(tok);
    for (size_t i = 0; i < n_ids; i++) {
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < n_vocab);
        FUZZ_CHECK(mmrt_tokenizer_token_text(tok, ids[i]) != NULL);
    }
    check_decode(tok, ids, n_ids, false);
    check_decode(tok, ids, n_ids, true);
    free(ids);
}

/* Up to 16 ids read from the input bytes, spread around the valid range: decode either succeeds
 * or fails with MMRT_ERR_INVALID_ARG. */
static void check_raw_ids(const mmrt_tokenizer *tok, const uint8_t *data, size_t size) {
    int32_t ids[16];
    size_t n = 0;
    int32_t n_vocab = mmrt_tokenizer_n_vocab(tok);
    for (size_t i = 0; i + 2 <= size && n < 16; i += 2) {
        int32_t v = (int32_t)(data[size - 1 - i] | data[size - 2 - i] << 8);
        ids[n++] = n_vocab > 0 ? v % (n_vocab + 2) - 1 : v - 1;
    }
    char *text = NULL;
    mmrt_error err = {0};
    mmrt_status st = mmrt_tokenizer_decode(tok, ids, n, false, &text, NULL, &err);
    if (st != MMRT_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(st == MMRT_ERR_INVALID_ARG && text == NULL);
        return;
    }
    free(text);
    check_decode(tok, ids, n, false);
    check_decode(tok, ids, n, true);
}

static void check_getters(const mmrt_tokenizer *tok) {
    int32_t n_vocab = mmrt_tokenizer_n_vocab(tok);
    FUZZ_CHECK(n_vocab >= 0);
    FUZZ_CHECK(mmrt_tokenizer_token_text(tok, -1) == NULL);
    FUZZ_CHECK(mmrt_tokenizer_token_text(tok, n_vocab) == NULL);
    FUZZ_CHECK(!mmrt_tokenizer_is_special(tok, -1) && !mmrt_tokenizer_is_special(tok, n_vocab));
    int32_t probe[] = {0, 1, 2, n_vocab / 2, n_vocab - 1};
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        const char *t = mmrt_tokenizer_token_text(tok, probe[i]);
        if (!t) continue;
        int32_t id = mmrt_tokenizer_find(tok, t);
        FUZZ_CHECK(id >= 0 && id < n_vocab);
        (void)mmrt_tokenizer_is_special(tok, probe[i]);
    }
    (void)mmrt_tokenizer_find(tok, "<|endoftext|>");
    (void)mmrt_tokenizer_find(tok, "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[8192];
    fuzz_write(path, sizeof path, "tokenizer.json", data, size);
    mmrt_tokenizer *tok = (mmrt_tokenizer *)1;
    mmrt_error err = {0};
    mmrt_status st = mmrt_tokenizer_load(path, &tok, &err);
    fuzz_note("mmrt_tokenizer_load", st, &err);
    if (st != MMRT_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(tok == NULL);
        return 0;
    }
    FUZZ_CHECK(tok != NULL);
    check_getters(tok);
    check_encode(tok, TRICKY, sizeof TRICKY - 1, true);
    check_encode(tok, TRICKY, sizeof TRICKY - 1, false);
    check_encode(tok, "", 0, true);
    /* A slice from the middle of the input: token strings, escapes and structure of the file. */
    size_t start = size / 3, n = size - start < SLICE_MAX ? size - start : SLICE_MAX;
    check_encode(tok, (const char *)data + start, n, true);
    check_raw_ids(tok, data, size);
    mmrt_tokenizer_free(tok);
    return 0;
}
