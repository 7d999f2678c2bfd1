/* Temporary directories for tests that need files on disk (hostile model files, configs).
 *
 * Every function fails the calling test with a Criterion assertion on error, so callers need no
 * error handling. Returned strings are malloc'd; the caller frees them. Typical use:
 *
 *     char *dir = tmpdir_make("safetensors");              // $TMPDIR/mmrt-safetensors-XXXXXX
 *     char *p = tmpdir_write_str(dir, "config.json", "{\"hidden_size\": 64}");
 *     ...
 *     free(p);
 *     tmpdir_remove(dir);                                   // rm -r, then free(dir)
 *
 * Criterion runs each test in its own process, so a test may also create the directory in a
 * suite's .init and remove it in .fini (which runs even when an assertion fails).
 */
#ifndef MMRT_TESTS_HELPERS_TMPDIR_H
#define MMRT_TESTS_HELPERS_TMPDIR_H

#include <stddef.h>

/* Creates a new, empty, uniquely named directory "mmrt-<tag>-XXXXXX" under $TMPDIR (or /tmp). */
char *tmpdir_make(const char *tag);

/* "dir/name". */
char *tmpdir_path(const char *dir, const char *name);

/* Writes n bytes to dir/name, creating missing parent directories inside dir ("a/b/c.bin"), and
 * replacing an existing file. Returns the full path. */
char *tmpdir_write(const char *dir, const char *name, const void *data, size_t n);

/* Same for a NUL-terminated string (the NUL is not written). */
char *tmpdir_write_str(const char *dir, const char *name, const char *text);

/* Copies the file src (any path) to dir/name, as tmpdir_write. Returns the full path. */
char *tmpdir_copy(const char *dir, const char *name, const char *src);

/* Reads a whole file (any path) into a NUL-terminated buffer; its length goes to *n when n is not
 * NULL. */
char *tmpdir_read(const char *path, size_t *n);

/* Reads and parses a JSON file (a cJSON tree; the caller deletes it). */
struct cJSON *tmpdir_read_json(const char *path);

/* Creates the directory dir/name (and its parents). Returns the full path. */
char *tmpdir_mkdir(const char *dir, const char *name);

/* Removes dir and everything under it (symlinks are removed, not followed), then frees dir. Only
 * removes directories made by tmpdir_make (name starts with "mmrt-"); NULL is a no-op. */
void tmpdir_remove(char *dir);

#endif
