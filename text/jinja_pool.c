/* The bump pool behind every parse and render, the output buffers and the error helpers of the
 * Jinja2 interpreter (text/jinja_impl.h). */
#include "text/jinja_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jj_block {
    jj_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define JJ_BLOCK_MIN ((size_t)64 << 10)

void *jj_alloc(jj_pool *p, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    jj_block *b = p->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > JJ_BLOCK_MIN ? n : JJ_BLOCK_MIN;
        if (cap > SIZE_MAX - sizeof(jj_block)) return NULL;
        if (p->limit && (p->total + cap > p->limit || p->total + cap < p->total)) {
            p->hit_limit = true;
            return NULL;
        }
        b = malloc(sizeof(jj_block) + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->used = 0;
        p->total += cap;
        /* A big allocation goes behind the current block so that its free space stays usable. */
        if (p->head && cap > JJ_BLOCK_MIN) {
            b->next = p->head->next;
            p->head->next = b;
        } else {
            b->next = p->head;
            p->head = b;
        }
    }
    void *r = b->data + b->used;
    b->used += n;
    memset(r, 0, n);
    return r;
}

void jj_pool_free(jj_pool *p) {
    for (jj_block *b = p->head; b;) {
        jj_block *next = b->next;
        free(b);
        b = next;
    }
    p->head = NULL;
    p->total = 0;
}

int jj_fail(jj_render *r, mmrt_status st, const char *fmt, ...) {
    char msg[MMRT_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mmrt_error_set(r->err, st, "%s:%d:%d: %s", r->t->name, (int)r->line, (int)r->col, msg);
    return -1;
}

int jj_oom(jj_render *r) {
    if (r->pool.hit_limit)
        return jj_fail(r, MMRT_ERR_INVALID_ARG,
                       "the render needs more than max_memory = %zu bytes", r->pool.limit);
    return jj_fail(r, MMRT_ERR_OOM, "out of memory while rendering");
}

int jj_step(jj_render *r, int64_t n) {
    r->steps += n;
    if (r->steps > r->max_steps)
        return jj_fail(r, MMRT_ERR_INVALID_ARG,
                       "the template ran more than max_steps = %lld steps (an endless loop?)",
                       (long long)r->max_steps);
    return 0;
}

int jj_buf_put(jj_render *r, jj_buf *b, const char *s, size_t n) {
    if (n >= 256 && jj_step(r, (int64_t)(n >> 8))) return -1; /* copying costs steps too */
    if (n > r->max_output || b->len > r->max_output - n)
        return jj_fail(r, MMRT_ERR_INVALID_ARG, "the output grows past max_output = %zu bytes",
                       r->max_output);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *ns = jj_alloc(&r->pool, cap);
        if (!ns) return jj_oom(r);
        if (b->len) memcpy(ns, b->s, b->len);
        b->s = ns;
        b->cap = cap;
    }
    if (n) memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

int jj_buf_value(jj_render *r, const jj_buf *b, jj_value *out) {
    return jj_make_str(r, b->s ? b->s : "", b->len, out);
}
