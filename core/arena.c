#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

#define ARENA_ALIGN 64

mmrt_status mmrt_arena_init(mmrt_arena *a, const char *name, size_t size, mmrt_error *err) {
    *a = (mmrt_arena){.name = name};
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size == 0) return MMRT_OK;
    a->base = aligned_alloc(ARENA_ALIGN, size);
    if (!a->base) return mmrt_error_oom(err, size, name);
    a->size = size;
    return MMRT_OK;
}

void mmrt_arena_wrap(mmrt_arena *a, const char *name, void *base, size_t size) {
    *a = (mmrt_arena){.name = name, .base = base, .size = size & ~(size_t)(ARENA_ALIGN - 1)};
}

void mmrt_arena_measure(mmrt_arena *a, const char *name) {
    /* aligned placeholders, far from the top of the address space: base + used never wraps */
    *a = (mmrt_arena){.name = name, .base = (char *)(uintptr_t)ARENA_ALIGN, .size = SIZE_MAX / 4};
}

void mmrt_arena_free(mmrt_arena *a) {
    free(a->base);
    *a = (mmrt_arena){0};
}

void *mmrt_arena_alloc(mmrt_arena *a, size_t n_bytes, mmrt_error *err) {
    size_t n = (n_bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (n < n_bytes || n > a->size - a->used) {
        mmrt_error_set(err, MMRT_ERR_OOM, "scratch arena '%s' exhausted: %zu bytes requested, %zu of %zu free",
                       a->name, n_bytes, a->size - a->used, a->size);
        return NULL;
    }
    void *p = a->base + a->used;
    a->used += n;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

mmrt_tensor mmrt_arena_tensor(mmrt_arena *a, mmrt_dtype t, int n_dims, const int64_t *ne,
                              mmrt_error *err) {
    mmrt_tensor r = mmrt_tensor_make(t, NULL, n_dims, ne);
    size_t n = mmrt_dtype_size(t);
    for (int i = 0; i < n_dims; i++) n *= (size_t)ne[i];
    r.data = mmrt_arena_alloc(a, n ? n : 1, err);
    return r;
}

mmrt_tensor mmrt_arena_matrix(mmrt_arena *a, struct mmrt_backend *be, int64_t cols, int64_t rows,
                              mmrt_error *err) {
    mmrt_tensor t = mmrt_arena_tensor(a, MMRT_F32, 2, (int64_t[]){cols, rows}, err);
    t.backend = be;
    return t;
}
