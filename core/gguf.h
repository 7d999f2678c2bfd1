/* GGUF files (llama.cpp's model container): a memory-mapped, fully validated reader and a writer.
 *
 * Format (GGUF v3; v2 has the same layout; all little-endian): "GGUF", u32 version, u64 n_tensors,
 * u64 n_kv; n_kv key/value pairs (string key, u32 value type, value); n_tensors tensor infos
 * (string name, u32 n_dims, n_dims x u64 ne innermost first as in ggml, u32 ggml type, u64 offset
 * into the data section); zero padding to the alignment (the u32 KV "general.alignment", default
 * 32); the data section (a file without tensors may end before the padding; the writer then
 * writes none). A string is a u64 byte count and the bytes (no NUL, any bytes). An array value is
 * u32 element type, u64 count, the elements (arrays of strings and of arrays exist).
 *
 * mmrt_gguf_open validates everything before returning, so a hostile file yields a status and a
 * message naming the file and the problem, never an out-of-bounds read: every count is bounded
 * by the bytes left in the file before anything is allocated; array nesting is at most
 * MMRT_GGUF_MAX_DEPTH deep; keys and tensor names are unique and hold no NUL byte; the alignment
 * is a u32 power of two; tensors have 1..4 dims, each > 0, ne[0] a multiple of the type's block
 * size, a byte size that does not overflow, an aligned offset, data inside the file and no two
 * tensors overlap. Statuses: MMRT_ERR_IO (cannot open/stat/map, not a regular file),
 * MMRT_ERR_BAD_FORMAT (malformed), MMRT_ERR_UNSUPPORTED (a version other than 2 and 3, a ggml
 * type id mmrt_qtype_get does not know — known types mmrt cannot compute with are listed; the
 * loader decides), MMRT_ERR_OOM.
 *
 * Lifetime and threads: an mmrt_gguf is immutable once open; any number of threads may read it.
 * Every pointer it hands out stays valid until mmrt_gguf_free. String values point into the
 * mapping and are NOT NUL-terminated (use the length); keys and tensor names are NUL-terminated
 * copies. Tensor data is aligned as the file says (offsets are multiples of the alignment, and the
 * mapping is page-aligned). As with every mapped file, truncating it while mapped raises SIGBUS.
 *
 *     mmrt_gguf *g;
 *     if (mmrt_gguf_open("model.gguf", &g, &err) != MMRT_OK) return err.status;
 *     int64_t n_layer; bool found;
 *     MMRT_TRY(mmrt_gguf_get_int(g, "llama.block_count", &n_layer, NULL, &err)); // required
 *     const mmrt_gguf_tensor *t = mmrt_gguf_find_tensor(g, "blk.0.attn_q.weight");
 *     mmrt_gguf_free(g);
 */
#ifndef MMRT_CORE_GGUF_H
#define MMRT_CORE_GGUF_H

#include "error.h"
#include "quant.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMRT_GGUF_DEFAULT_ALIGNMENT 32u
#define MMRT_GGUF_MAX_DIMS 4
/* Deepest array nesting accepted (an array of arrays is depth 2); real files use 1. */
#define MMRT_GGUF_MAX_DEPTH 4

typedef enum mmrt_gguf_type { /* GGUF value types, as stored */
    MMRT_GGUF_U8 = 0,
    MMRT_GGUF_I8 = 1,
    MMRT_GGUF_U16 = 2,
    MMRT_GGUF_I16 = 3,
    MMRT_GGUF_U32 = 4,
    MMRT_GGUF_I32 = 5,
    MMRT_GGUF_F32 = 6,
    MMRT_GGUF_BOOL = 7,
    MMRT_GGUF_STRING = 8,
    MMRT_GGUF_ARRAY = 9,
    MMRT_GGUF_U64 = 10,
    MMRT_GGUF_I64 = 11,
    MMRT_GGUF_F64 = 12,
    MMRT_GGUF_TYPE_COUNT
} mmrt_gguf_type;

/* "u32", "string", "array", ...; "?" for a value outside the enum. */
const char *mmrt_gguf_type_name(mmrt_gguf_type t);

typedef struct mmrt_gguf_tensor {
    const char *name;                  /* NUL-terminated copy */
    mmrt_qtype type;                   /* a type mmrt_qtype_get knows (maybe not readable) */
    int n_dims;                        /* 1..MMRT_GGUF_MAX_DIMS */
    int64_t ne[MMRT_GGUF_MAX_DIMS];    /* innermost first (ne[0] = row length); unused entries 1 */
    uint64_t offset;                   /* into the data section, a multiple of the alignment */
    const void *data;                  /* into the mapping */
    size_t n_bytes;                    /* row_bytes(type, ne[0]) * ne[1] * ne[2] * ne[3] */
} mmrt_gguf_tensor;

typedef struct mmrt_gguf mmrt_gguf;

/* ---- reader ------------------------------------------------------------------------------- */

/* Maps and validates the file at path (see above). On failure *out is NULL, nothing stays mapped
 * and err names the file and the problem. */
mmrt_status mmrt_gguf_open(const char *path, mmrt_gguf **out, mmrt_error *err);

/* Unmaps and frees. NULL is a no-op. */
void mmrt_gguf_free(mmrt_gguf *g);

const char *mmrt_gguf_path(const mmrt_gguf *g); /* as given to mmrt_gguf_open */
uint32_t mmrt_gguf_version(const mmrt_gguf *g);  /* 2 or 3 */
uint32_t mmrt_gguf_alignment(const mmrt_gguf *g);
uint64_t mmrt_gguf_data_offset(const mmrt_gguf *g); /* file offset of the data section */

/* Tensors, in file order; NULL when i is out of range / the name is absent (hash lookup). */
size_t mmrt_gguf_tensor_count(const mmrt_gguf *g);
const mmrt_gguf_tensor *mmrt_gguf_tensor_at(const mmrt_gguf *g, size_t i);
const mmrt_gguf_tensor *mmrt_gguf_find_tensor(const mmrt_gguf *g, const char *name);

/* Key/value pairs, in file order. A KV is named by its index i (0 <= i < count). */
size_t mmrt_gguf_kv_count(const mmrt_gguf *g);
/* Index of key, or -1 when absent (hash lookup). */
int64_t mmrt_gguf_find_key(const mmrt_gguf *g, const char *key);
const char *mmrt_gguf_kv_key(const mmrt_gguf *g, size_t i);          /* NULL when out of range */
/* TYPE_COUNT when out of range. */
mmrt_gguf_type mmrt_gguf_kv_type(const mmrt_gguf *g, size_t i);

/* The encoded value of KV i as stored (its type is mmrt_gguf_kv_type; an array's bytes start at
 * its element type), *n_bytes long; NULL and 0 when out of range. For copying a pair unchanged
 * (mmrt_gguf_writer_copy_kv). */
const void *mmrt_gguf_kv_raw(const mmrt_gguf *g, size_t i, size_t *n_bytes);

/* Typed getters by key. When the key is absent: with found non-NULL, *found = false and MMRT_OK
 * (out untouched); with found NULL the key is required and its absence is MMRT_ERR_MODEL naming
 * the key and the file. A value of another type is MMRT_ERR_BAD_FORMAT naming the key, the file,
 * the expected and the actual type.
 *   get_str:   a string; *s points into the mapping, *len bytes, no NUL terminator.
 *   get_int:   any integer type (u8..i64); a u64 above INT64_MAX is MMRT_ERR_BAD_FORMAT.
 *   get_float: f32 or f64.
 *   get_bool:  bool (any non-zero byte is true).
 *   get_arr:   an array; *index is the KV index to pass to the mmrt_gguf_arr_* functions. */
mmrt_status mmrt_gguf_get_str(const mmrt_gguf *g, const char *key, const char **s, size_t *len,
                              bool *found, mmrt_error *err);
mmrt_status mmrt_gguf_get_int(const mmrt_gguf *g, const char *key, int64_t *out, bool *found,
                              mmrt_error *err);
mmrt_status mmrt_gguf_get_float(const mmrt_gguf *g, const char *key, double *out, bool *found,
                                mmrt_error *err);
mmrt_status mmrt_gguf_get_bool(const mmrt_gguf *g, const char *key, bool *out, bool *found,
                               mmrt_error *err);
mmrt_status mmrt_gguf_get_arr(const mmrt_gguf *g, const char *key, size_t *index, bool *found,
                              mmrt_error *err);

/* Arrays: the element type and count of KV i (TYPE_COUNT and 0 when KV i is not an array). The
 * element getters check that KV i is an array of the right kind (MMRT_ERR_BAD_FORMAT naming the
 * key otherwise; arrays of arrays are listed but their elements cannot be read) and that
 * j < count (MMRT_ERR_INVALID_ARG). Same conversions as the scalar getters. O(1) each: string
 * arrays are indexed at open. */
mmrt_gguf_type mmrt_gguf_arr_type(const mmrt_gguf *g, size_t i);
uint64_t mmrt_gguf_arr_count(const mmrt_gguf *g, size_t i);
mmrt_status mmrt_gguf_arr_str(const mmrt_gguf *g, size_t i, uint64_t j, const char **s, size_t *len,
                              mmrt_error *err);
mmrt_status mmrt_gguf_arr_int(const mmrt_gguf *g, size_t i, uint64_t j, int64_t *out,
                              mmrt_error *err);
mmrt_status mmrt_gguf_arr_float(const mmrt_gguf *g, size_t i, uint64_t j, double *out,
                                mmrt_error *err);

/* ---- writer (core/gguf_write.c) ----------------------------------------------------------- */

/* Builds a GGUF v3 file in memory (KVs serialised as they are set, tensor data borrowed) and
 * writes it in one call. Not thread-safe; one writer per thread. */
typedef struct mmrt_gguf_writer mmrt_gguf_writer;

mmrt_status mmrt_gguf_writer_new(mmrt_gguf_writer **out, mmrt_error *err);
void mmrt_gguf_writer_free(mmrt_gguf_writer *w); /* NULL is a no-op */

/* KV setters, written in call order. A key set twice, an empty key or one longer than 65535 bytes
 * is MMRT_ERR_INVALID_ARG; "general.alignment" must be set with set_u32 to a power of two and
 * becomes the file's alignment. Strings are copied (len bytes; may hold any bytes). A failed call
 * (this or any other writer call) leaves the writer as it was. */
mmrt_status mmrt_gguf_writer_set_str(mmrt_gguf_writer *w, const char *key, const char *s,
                                     size_t len, mmrt_error *err);
mmrt_status mmrt_gguf_writer_set_u32(mmrt_gguf_writer *w, const char *key, uint32_t v,
                                     mmrt_error *err);
mmrt_status mmrt_gguf_writer_set_i32(mmrt_gguf_writer *w, const char *key, int32_t v,
                                     mmrt_error *err);
mmrt_status mmrt_gguf_writer_set_u64(mmrt_gguf_writer *w, const char *key, uint64_t v,
                                     mmrt_error *err);
mmrt_status mmrt_gguf_writer_set_f32(mmrt_gguf_writer *w, const char *key, float v,
                                     mmrt_error *err);
mmrt_status mmrt_gguf_writer_set_bool(mmrt_gguf_writer *w, const char *key, bool v,
                                      mmrt_error *err);
/* Arrays: n elements (n may be 0). Strings are NUL-terminated. */
mmrt_status mmrt_gguf_writer_set_arr_str(mmrt_gguf_writer *w, const char *key,
                                         const char *const *strs, size_t n, mmrt_error *err);
mmrt_status mmrt_gguf_writer_set_arr_i32(mmrt_gguf_writer *w, const char *key, const int32_t *v,
                                         size_t n, mmrt_error *err);
mmrt_status mmrt_gguf_writer_set_arr_f32(mmrt_gguf_writer *w, const char *key, const float *v,
                                         size_t n, mmrt_error *err);

/* Copies KV i of the open file g unchanged (any type, nested arrays included), under the same
 * key; a general.alignment copied this way also becomes the file's alignment. */
mmrt_status mmrt_gguf_writer_copy_kv(mmrt_gguf_writer *w, const mmrt_gguf *g, size_t i,
                                     mmrt_error *err);

/* Adds a tensor (written in call order). ne is innermost first, n_dims 1..4, each > 0, ne[0] a
 * multiple of the type's block size; data holds the tensor's mmrt_qtype_row_bytes(type, ne[0]) *
 * rows bytes and is BORROWED: it must stay valid until mmrt_gguf_writer_write returns. A duplicate
 * or empty name, or bad dims or type, is MMRT_ERR_INVALID_ARG. */
mmrt_status mmrt_gguf_writer_add_tensor(mmrt_gguf_writer *w, const char *name, mmrt_qtype type,
                                        int n_dims, const int64_t *ne, const void *data,
                                        mmrt_error *err);

/* Writes the file atomically: into a temporary file beside path, flushed and synced, then
 * renamed over path; on failure (MMRT_ERR_IO naming the path and the errno text) the temporary
 * file is removed and path is untouched. The writer may be written again or freed. */
mmrt_status mmrt_gguf_writer_write(const mmrt_gguf_writer *w, const char *path, mmrt_error *err);

#endif
