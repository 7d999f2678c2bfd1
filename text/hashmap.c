/* Open-addressing hash tables (see hashmap.h). Load factor stays at or below 1/2 so that probe
 * sequences stay short for the ~50k-250k keys of real vocabularies. */
#include "text/hashmap.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a over the bytes, then a 64-bit finaliser: FNV alone leaves the low bits (the ones the
 * power-of-two mask keeps) poorly mixed for short keys. */
static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_u64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static size_t cap_for(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    return cap;
}

/* ---- string map ------------------------------------------------------------------------------ */

static int strmap_rehash(mmrt_strmap *m, size_t new_cap) {
    mmrt_strmap_slot *slots = malloc(new_cap * sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < new_cap; i++) slots[i].off = UINT32_MAX;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].off == UINT32_MAX) continue;
        size_t j = m->slots[i].hash & (new_cap - 1);
        while (slots[j].off != UINT32_MAX) j = (j + 1) & (new_cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = new_cap;
    return 0;
}

static int arena_reserve(mmrt_strmap *m, size_t extra) {
    if (m->arena_len + extra <= m->arena_cap) return 0;
    size_t cap = m->arena_cap ? m->arena_cap : 4096;
    while (cap < m->arena_len + extra) cap *= 2;
    if (cap > UINT32_MAX) return -1; /* offsets are 32-bit */
    char *a = realloc(m->arena, cap);
    if (!a) return -1;
    m->arena = a;
    m->arena_cap = cap;
    return 0;
}

int mmrt_strmap_reserve(mmrt_strmap *m, size_t n_hint, size_t key_bytes) {
    size_t cap = cap_for(n_hint);
    if (cap > m->cap && strmap_rehash(m, cap) != 0) return -1;
    return arena_reserve(m, key_bytes);
}

static bool slot_has(const mmrt_strmap *m, const mmrt_strmap_slot *s, uint64_t h, const char *key,
                     size_t len) {
    return s->hash == h && s->len == len && memcmp(m->arena + s->off, key, len) == 0;
}

int32_t mmrt_strmap_get(const mmrt_strmap *m, const char *key, size_t len) {
    if (m->cap == 0) return -1;
    uint64_t h = hash_bytes(key, len);
    for (size_t j = h & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        const mmrt_strmap_slot *s = &m->slots[j];
        if (s->off == UINT32_MAX) return -1;
        if (slot_has(m, s, h, key, len)) return s->value;
    }
}

int mmrt_strmap_put(mmrt_strmap *m, const char *key, size_t len, int32_t value, int32_t *existing,
                    uint32_t *key_off) {
    if (len >= UINT32_MAX) return -1;
    if (2 * (m->n + 1) > m->cap && strmap_rehash(m, cap_for(m->n + 1)) != 0) return -1;
    uint64_t h = hash_bytes(key, len);
    size_t j = h & (m->cap - 1);
    for (;; j = (j + 1) & (m->cap - 1)) {
        mmrt_strmap_slot *s = &m->slots[j];
        if (s->off == UINT32_MAX) break;
        if (slot_has(m, s, h, key, len)) {
            if (existing) *existing = s->value;
            if (key_off) *key_off = s->off;
            return 0;
        }
    }
    /* +1 keeps every stored key NUL-terminated, so callers may hand it out as a C string. */
    if (arena_reserve(m, len + 1) != 0) return -1;
    uint32_t off = (uint32_t)m->arena_len;
    if (len) memcpy(m->arena + off, key, len);
    m->arena[off + len] = '\0';
    m->arena_len += len + 1;
    m->slots[j] = (mmrt_strmap_slot){.hash = h, .off = off, .len = (uint32_t)len, .value = value};
    m->n++;
    if (key_off) *key_off = off;
    return 1;
}

void mmrt_strmap_free(mmrt_strmap *m) {
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

/* ---- u64 map --------------------------------------------------------------------------------- */

static int u64map_rehash(mmrt_u64map *m, size_t new_cap) {
    mmrt_u64map_slot *slots = malloc(new_cap * sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < new_cap; i++) slots[i].key = UINT64_MAX;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key == UINT64_MAX) continue;
        size_t j = hash_u64(m->slots[i].key) & (new_cap - 1);
        while (slots[j].key != UINT64_MAX) j = (j + 1) & (new_cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = new_cap;
    return 0;
}

int mmrt_u64map_reserve(mmrt_u64map *m, size_t n_hint) {
    size_t cap = cap_for(n_hint);
    return cap > m->cap ? u64map_rehash(m, cap) : 0;
}

int mmrt_u64map_put(mmrt_u64map *m, uint64_t key, int32_t a, int32_t b) {
    if (2 * (m->n + 1) > m->cap && u64map_rehash(m, cap_for(m->n + 1)) != 0) return -1;
    size_t j = hash_u64(key) & (m->cap - 1);
    for (;; j = (j + 1) & (m->cap - 1)) {
        mmrt_u64map_slot *s = &m->slots[j];
        if (s->key == key) {
            s->a = a;
            s->b = b;
            return 0;
        }
        if (s->key == UINT64_MAX) break;
    }
    m->slots[j] = (mmrt_u64map_slot){.key = key, .a = a, .b = b};
    m->n++;
    return 1;
}

bool mmrt_u64map_get(const mmrt_u64map *m, uint64_t key, int32_t *a, int32_t *b) {
    if (m->cap == 0) return false;
    for (size_t j = hash_u64(key) & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        const mmrt_u64map_slot *s = &m->slots[j];
        if (s->key == key) {
            if (a) *a = s->a;
            if (b) *b = s->b;
            return true;
        }
        if (s->key == UINT64_MAX) return false;
    }
}

void mmrt_u64map_free(mmrt_u64map *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}
