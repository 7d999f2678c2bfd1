#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

mmrt_status mmrt_strbuf_append(mmrt_strbuf *b, const char *text, size_t n, mmrt_error *err) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) return mmrt_error_oom(err, cap, "text");
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = '\0';
    return MMRT_OK;
}

mmrt_status mmrt_strbuf_puts(mmrt_strbuf *b, const char *text, mmrt_error *err) {
    return mmrt_strbuf_append(b, text, strlen(text), err);
}

char *mmrt_strbuf_take(mmrt_strbuf *b) {
    char *s = b->s ? b->s : strdup("");
    *b = (mmrt_strbuf){0};
    return s;
}

void mmrt_strbuf_free(mmrt_strbuf *b) {
    free(b->s);
    *b = (mmrt_strbuf){0};
}
