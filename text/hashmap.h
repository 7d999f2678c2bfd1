/* Two small open-addressing hash tables for the tokenizer (linear probing, power-of-two capacity,
 * no deletion). Both are built once at load and then only read, so concurrent lookups are safe.
 *
 *   mmrt_strmap: byte string -> int32 value (>= 0). Keys are copied into an arena owned by the map.
 *   mmrt_u64map: uint64 key (never UINT64_MAX) -> pair of int32.
 *
 * Insertions return -1 when memory runs out; the map is then unchanged and still valid.
 */
#ifndef MMRT_TEXT_HASHMAP_H
#define MMRT_TEXT_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mmrt_strmap_slot {
    uint64_t hash;
    uint32_t off; /* key offset in arena; UINT32_MAX marks an empty slot */
    uint32_t len;
    int32_t value;
} mmrt_strmap_slot;

typedef struct mmrt_strmap {
    mmrt_strmap_slot *slots;
    size_t cap; /* power of two, or 0 before the first insertion */
    size_t n;
    char *arena;
    size_t arena_len, arena_cap;
} mmrt_strmap;

/* Reserves room for about n_hint keys of total length key_bytes (both may be 0). */
int mmrt_strmap_reserve(mmrt_strmap *m, size_t n_hint, size_t key_bytes);
/* Inserts key -> value. Returns 1 if inserted, 0 if the key was already there (its value is then
 * left alone and stored in *existing if non-NULL), -1 on out of memory or a key over 4 GiB.
 * *key_off (if non-NULL) receives the offset of the stored key in m->arena. */
int mmrt_strmap_put(mmrt_strmap *m, const char *key, size_t len, int32_t value, int32_t *existing,
                    uint32_t *key_off);
/* Value of key, or -1 when absent. */
int32_t mmrt_strmap_get(const mmrt_strmap *m, const char *key, size_t len);
void mmrt_strmap_free(mmrt_strmap *m);

typedef struct mmrt_u64map_slot {
    uint64_t key; /* UINT64_MAX marks an empty slot */
    int32_t a, b;
} mmrt_u64map_slot;

typedef struct mmrt_u64map {
    mmrt_u64map_slot *slots;
    size_t cap, n;
} mmrt_u64map;

int mmrt_u64map_reserve(mmrt_u64map *m, size_t n_hint);
/* Inserts or overwrites. Returns 1 inserted, 0 overwritten, -1 out of memory. */
int mmrt_u64map_put(mmrt_u64map *m, uint64_t key, int32_t a, int32_t b);
/* True when present; *a and *b receive the values. */
bool mmrt_u64map_get(const mmrt_u64map *m, uint64_t key, int32_t *a, int32_t *b);
void mmrt_u64map_free(mmrt_u64map *m);

#endif
