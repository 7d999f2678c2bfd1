/* Small file-system helpers shared by the model-file readers (JSON configs, tokenizers, weights).
 *
 * Paths are plain POSIX paths; symlinks are followed (the Hugging Face cache stores snapshot
 * files as symlinks to blobs). All functions are thread-safe.
 */
#ifndef MMRT_CORE_FSUTIL_H
#define MMRT_CORE_FSUTIL_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

/* Reads the whole regular file at `path` into a malloc'd buffer with a terminating NUL that is not
 * counted in *n_out (so text files can be used as C strings). The caller frees *out.
 * Fails with MMRT_ERR_IO, naming the path, when the file cannot be opened or read (message ends
 * with strerror), is not a regular file (a directory, FIFO, device), or holds more than
 * `max_bytes` bytes. An empty file succeeds with *n_out = 0. On failure *out is NULL. */
mmrt_status mmrt_fs_read_file(const char *path, size_t max_bytes, char **out, size_t *n_out,
                              mmrt_error *err);

/* Maps the regular file at path read-only (MAP_PRIVATE) into *map, *size bytes (> 0). Errors name
 * the path: MMRT_ERR_IO (cannot open or stat, a directory — "expected a <what> file" —, not a
 * regular file (a FIFO does not block the open), too large to map, mmap failed),
 * MMRT_ERR_BAD_FORMAT (empty). Unmap with munmap(*map, *size). */
mmrt_status mmrt_fs_map_file(const char *path, const char *what, void **map, size_t *size, mmrt_error *err);

/* "dir/name" in a malloc'd string (no doubled '/' when dir ends with one; just `name` when dir is
 * empty). Returns NULL only when out of memory. The caller frees. */
char *mmrt_fs_path_join(const char *dir, const char *name);

/* True when path names a directory / a regular file (after following symlinks). */
bool mmrt_fs_is_dir(const char *path);
bool mmrt_fs_is_file(const char *path);

#endif
