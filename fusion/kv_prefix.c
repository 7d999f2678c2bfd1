#include "kv_prefix.h"

#include <stdlib.h>
#include <string.h>

static bool same_adapter(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

/* True when the cached media m is also input k of p, at the same positions. */
static bool same_input(const mmrt_kv_media *m, const mmrt_kv_prompt *p, size_t k) {
    return m->begin == p->segments[k].begin && m->end == p->segments[k].end &&
           strcmp(m->hash, p->inputs[k].hash) == 0;
}

int64_t mmrt_kv_prefix_match(const mmrt_kv_prefix *c, const mmrt_kv_prompt *p) {
    if (!same_adapter(c->adapter, p->adapter)) return 0;
    int64_t n = c->n < p->n ? c->n : p->n;
    int64_t len = 0;
    while (len < n && c->ids[len] == p->ids[len]) len++;
    /* a media position matches only where the same input is in both: else stop at its segment */
    for (size_t k = 0; k < p->n_media && p->segments[k].begin < len; k++) {
        bool found = false;
        for (size_t j = 0; j < c->n_media && !found; j++) found = same_input(&c->media[j], p, k);
        if (!found) len = p->segments[k].begin;
    }
    for (size_t j = 0; j < c->n_media && c->media[j].begin < len; j++) {
        bool found = false;
        for (size_t k = 0; k < p->n_media && !found; k++) found = same_input(&c->media[j], p, k);
        if (!found) len = c->media[j].begin;
    }
    if (len >= p->n) len = p->n - 1; /* the last token is run again: its logits start generation */
    if (len < 0) len = 0;
    for (size_t k = 0; k < p->n_media; k++) /* segments are spliced whole */
        if (p->segments[k].begin < len && len < p->segments[k].end) len = p->segments[k].begin;
    return len;
}

mmrt_status mmrt_kv_prefix_set(mmrt_kv_prefix *c, const mmrt_kv_prompt *p, const int32_t *ids, int64_t n_past,
                               mmrt_error *err) {
    mmrt_kv_prefix_clear(c);
    if (n_past > c->cap) {
        int32_t *q = realloc(c->ids, sizeof *q * (size_t)n_past);
        if (!q) return mmrt_error_oom(err, sizeof *q * (size_t)n_past, "KV cache record");
        c->ids = q;
        c->cap = n_past;
    }
    if (p->n_media > c->cap_media) {
        mmrt_kv_media *q = realloc(c->media, sizeof *q * p->n_media);
        if (!q) return mmrt_error_oom(err, sizeof *q * p->n_media, "KV cache record");
        c->media = q;
        c->cap_media = p->n_media;
    }
    if (n_past > 0) memcpy(c->ids, ids, sizeof *ids * (size_t)n_past);
    for (size_t k = 0; k < p->n_media; k++) {
        if (p->segments[k].end > n_past) break; /* not in the cache (a failed prefill) */
        mmrt_kv_media *m = &c->media[c->n_media++];
        m->begin = p->segments[k].begin;
        m->end = p->segments[k].end;
        memcpy(m->hash, p->inputs[k].hash, sizeof m->hash);
    }
    c->n = n_past;
    c->adapter = p->adapter;
    return MMRT_OK;
}

void mmrt_kv_prefix_clear(mmrt_kv_prefix *c) {
    c->n = 0;
    c->n_media = 0;
    c->adapter = NULL;
}

void mmrt_kv_prefix_free(mmrt_kv_prefix *c) {
    free(c->ids);
    free(c->media);
    memset(c, 0, sizeof *c);
}
