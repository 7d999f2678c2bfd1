/* Writes small safetensors files for tests: each tensor's name, dtype ("F32", "BF16", "I32", ...),
 * shape (outermost first) and bytes, laid out one after the other. */
#ifndef MMRT_TESTS_ST_WRITER_H
#define MMRT_TESTS_ST_WRITER_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_item {
    const char *name;
    const char *dtype;
    int n_dims;
    int64_t shape[4];
    const void *data;
    size_t n_bytes;
} st_item;

/* dir/name holding items[0 .. n); returns the malloc'ed path (Criterion assertion on failure). */
char *st_write(const char *dir, const char *name, const st_item *items, size_t n);

#endif
