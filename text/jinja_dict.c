/* Ordered dicts of the Jinja2 interpreter (Python dicts keep insertion order). Entries live in two
 * parallel arrays; once a dict holds more than JJ_DICT_INDEX_MIN entries, keys that are strings,
 * numbers, booleans or None are also entered in an open-addressing hash index, so lookups and
 * inserts stay O(1) on big contexts and dicts built in loops. Other keys (tuples) are rare and
 * found by a scan. Numbers that compare equal hash equal (1, 1.0 and True are one key). */
#include "text/jinja_impl.h"

#include <math.h>
#include <string.h>

#define JJ_DICT_INDEX_MIN 16

/* The key's hash; false when the key is not indexed. */
static bool key_hash(const jj_value *k, uint64_t *h) {
    uint64_t x;
    switch (k->t) {
    case JV_STR: {
        x = 1469598103934665603ull;
        for (size_t i = 0; i < k->u.s->len; i++) x = (x ^ (uint8_t)k->u.s->s[i]) * 1099511628211ull;
        *h = x ^ (x >> 29);
        return true;
    }
    case JV_NONE: x = 0x9e3779b97f4a7c15ull; break;
    case JV_BOOL: x = (uint64_t)k->u.b; break;
    case JV_INT: x = (uint64_t)k->u.i; break;
    case JV_FLOAT:
        if (k->u.f == floor(k->u.f) && fabs(k->u.f) < 9.2e18) {
            x = (uint64_t)(int64_t)k->u.f;
        } else {
            memcpy(&x, &k->u.f, sizeof x);
            if (k->u.f == 0) x = 0;
        }
        break;
    default: return false;
    }
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    *h = x;
    return true;
}

static void index_put(jj_dict *d, size_t pos) {
    uint64_t h;
    if (!key_hash(&d->k[pos], &h)) return;
    size_t mask = d->index_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask)
        if (!d->index[i]) {
            d->index[i] = (uint32_t)(pos + 1);
            return;
        }
}

/* (Re)builds the index for room of d->cap entries. */
static int index_build(jj_render *r, jj_dict *d) {
    size_t cap = 64;
    while (cap < d->cap * 2) cap *= 2;
    if (d->cap > UINT32_MAX / 2) return jj_fail(r, MMRT_ERR_INVALID_ARG, "a dict with more than 2^31 entries");
    uint32_t *idx = jj_alloc(&r->pool, cap * sizeof *idx);
    if (!idx) return jj_oom(r);
    d->index = idx;
    d->index_cap = cap;
    for (size_t i = 0; i < d->n; i++) index_put(d, i);
    return 0;
}

jj_dict *jj_dict_new(jj_render *r, size_t cap, jj_value *out) {
    jj_dict *d = jj_alloc(&r->pool, sizeof *d);
    if (!d) {
        jj_oom(r);
        return NULL;
    }
    if (cap && (cap > SIZE_MAX / 2 / sizeof(jj_value) || !(d->k = jj_alloc(&r->pool, cap * sizeof(jj_value))) ||
                !(d->v = jj_alloc(&r->pool, cap * sizeof(jj_value))))) {
        jj_oom(r);
        return NULL;
    }
    d->cap = cap;
    out->t = JV_DICT;
    out->safe = 0;
    out->iter = 0;
    out->u.d = d;
    return d;
}

jj_value *jj_dict_get(const jj_dict *d, const jj_value *k) {
    uint64_t h;
    if (d->index && key_hash(k, &h)) {
        size_t mask = d->index_cap - 1;
        for (size_t i = h & mask; d->index[i]; i = (i + 1) & mask) {
            size_t pos = d->index[i] - 1;
            if (jj_equal(&d->k[pos], k)) return &d->v[pos];
        }
        return NULL;
    }
    for (size_t i = d->n; i-- > 0;)
        if (jj_equal(&d->k[i], k)) return &d->v[i];
    return NULL;
}

jj_value *jj_dict_get_s(const jj_dict *d, const char *key, size_t n) {
    if (d->index) {
        /* hash the bytes as key_hash does for strings */
        uint64_t x = 1469598103934665603ull;
        for (size_t i = 0; i < n; i++) x = (x ^ (uint8_t)key[i]) * 1099511628211ull;
        x ^= x >> 29;
        size_t mask = d->index_cap - 1;
        for (size_t i = x & mask; d->index[i]; i = (i + 1) & mask) {
            const jj_value *k = &d->k[d->index[i] - 1];
            if (k->t == JV_STR && k->u.s->len == n && memcmp(k->u.s->s, key, n) == 0) return &d->v[d->index[i] - 1];
        }
        return NULL;
    }
    for (size_t i = d->n; i-- > 0;)
        if (d->k[i].t == JV_STR && d->k[i].u.s->len == n && memcmp(d->k[i].u.s->s, key, n) == 0) return &d->v[i];
    return NULL;
}

int jj_dict_set(jj_render *r, jj_dict *d, jj_value k, jj_value v) {
    jj_value *old = jj_dict_get(d, &k);
    if (old) {
        *old = v;
        return 0;
    }
    if (!d->index && jj_step(r, (int64_t)(d->n / 8))) return -1; /* scans of small dicts */
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        jj_value *nk = jj_alloc(&r->pool, cap * sizeof *nk), *nv = jj_alloc(&r->pool, cap * sizeof *nv);
        if (!nk || !nv) return jj_oom(r);
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
        if (d->index && index_build(r, d)) return -1;
    }
    d->k[d->n] = k;
    d->v[d->n] = v;
    d->n++;
    if (d->index) index_put(d, d->n - 1);
    else if (d->n > JJ_DICT_INDEX_MIN && index_build(r, d)) return -1;
    return 0;
}
