/* Arena: a bump allocator for per-pass scratch. One block sized up front; allocations are
 * aligned to 64 bytes (cache lines, AVX-512 loads) and released all at once by a reset to a mark.
 * Running out is an error (MMRT_ERR_OOM naming the arena and the request), never a realloc:
 * tensors handed out earlier must stay valid during the pass. Not thread-safe; a session owns one.
 *
 * The block's size is never a hand-kept budget: the code that uses the arena runs its pass once on
 * a measuring arena (mmrt_arena_measure) and the plan backend (core/backend_plan.c), which run the
 * same allocation sequence touching no memory, and allocates the peak it recorded.
 */
#ifndef MMRT_CORE_ARENA_H
#define MMRT_CORE_ARENA_H

#include "error.h"
#include "tensor.h"

typedef struct mmrt_arena {
    const char *name;
    char *base;
    size_t size;
    size_t used;
    size_t peak;
} mmrt_arena;

mmrt_status mmrt_arena_init(mmrt_arena *a, const char *name, size_t size, mmrt_error *err);
void mmrt_arena_free(mmrt_arena *a);
/* An arena over memory owned by someone else (e.g. a backend buffer); mmrt_arena_free is then
 * not called. base must be 64-byte aligned. */
void mmrt_arena_wrap(mmrt_arena *a, const char *name, void *base, size_t size);

/* An arena that only measures: every allocation succeeds, at a placeholder address that must
 * never be dereferenced, and `peak` ends as the size a real arena needs for the same sequence of
 * allocations and resets. */
void mmrt_arena_measure(mmrt_arena *a, const char *name);

void *mmrt_arena_alloc(mmrt_arena *a, size_t n_bytes, mmrt_error *err);
/* A contiguous tensor in the arena; shape innermost first as in mmrt_tensor_make. On failure
 * returns a tensor with data == NULL and sets err. */
mmrt_tensor mmrt_arena_tensor(mmrt_arena *a, mmrt_dtype t, int n_dims, const int64_t *ne,
                              mmrt_error *err);

/* A (rows, cols) f32 matrix in the arena, in backend be's address space. */
mmrt_tensor mmrt_arena_matrix(mmrt_arena *a, struct mmrt_backend *be, int64_t cols, int64_t rows,
                              mmrt_error *err);

static inline size_t mmrt_arena_mark(const mmrt_arena *a) { return a->used; }
static inline void mmrt_arena_reset(mmrt_arena *a, size_t mark) { a->used = mark; }

#endif
