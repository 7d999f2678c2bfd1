/* A growable NUL-terminated string for building prompts and messages. */
#ifndef MMRT_CORE_STRBUF_H
#define MMRT_CORE_STRBUF_H

#include "core/error.h"

#include <stddef.h>

typedef struct mmrt_strbuf {
    char *s;    /* NUL-terminated once anything was appended; NULL before */
    size_t len; /* bytes before the NUL */
    size_t cap;
} mmrt_strbuf;

/* Appends n bytes of text; MMRT_ERR_OOM (the buffer keeps what it had). */
mmrt_status mmrt_strbuf_append(mmrt_strbuf *b, const char *text, size_t n, mmrt_error *err);
/* Appends a NUL-terminated string. */
mmrt_status mmrt_strbuf_puts(mmrt_strbuf *b, const char *text, mmrt_error *err);
/* Hands the string to the caller (an empty string when nothing was appended; NULL on OOM) and
 * leaves the buffer empty. */
char *mmrt_strbuf_take(mmrt_strbuf *b);
void mmrt_strbuf_free(mmrt_strbuf *b);

#endif
