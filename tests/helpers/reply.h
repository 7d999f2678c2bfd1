/* What a generation passes to on_token, collected: the ids (special tokens' too) and the text
 * pieces concatenated. Pass test_reply_collect as on_token and a zeroed test_reply as user. */
#ifndef MMRT_TESTS_REPLY_H
#define MMRT_TESTS_REPLY_H

#include <stddef.h>
#include <stdint.h>

typedef struct test_reply {
    int32_t ids[256]; /* the first 256 token ids (flushes without a token, -1, are not ids) */
    int n;            /* ids kept */
    char text[8192];  /* the pieces, NUL-terminated */
    size_t n_text;
    int calls;        /* on_token calls */
} test_reply;

int test_reply_collect(const char *piece, size_t len, int32_t token, void *user);

#endif
