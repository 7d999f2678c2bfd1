/* Growable arrays for the tokenizer's vectors and buffers. */
#ifndef MMRT_TEXT_GROW_H
#define MMRT_TEXT_GROW_H

#include <stdint.h>
#include <stdlib.h>

/* Returns buf enlarged (doubling, from 16 elements) to hold at least `need` elements of `size`
 * bytes, updating *cap; buf itself when it is already large enough. NULL when out of memory, and
 * then buf and *cap are unchanged (the caller still owns buf). */
static inline void *mmrt_tok_grow(void *buf, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return buf;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / size) return NULL;
        c *= 2;
    }
    void *b = realloc(buf, c * size);
    if (b) *cap = c;
    return b;
}

/* The same for a byte buffer held in *buf: 0, or -1 when out of memory (*buf still valid). */
static inline int mmrt_tok_reserve(char **buf, size_t *cap, size_t need) {
    char *b = mmrt_tok_grow(*buf, cap, need, 1);
    if (!b) return -1;
    *buf = b;
    return 0;
}

#endif
