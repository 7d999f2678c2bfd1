/* safetensors weights: one file or a Hugging Face model directory, memory-mapped read-only.
 *
 * Format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length N, N
 * bytes of JSON header, then the data section. The header maps each tensor name to
 * {"dtype", "shape", "data_offsets": [begin, end)} with offsets relative to the data section, plus
 * an optional "__metadata__" object of strings. A sharded checkpoint adds
 * model.safetensors.index.json whose "weight_map" maps each tensor name to its shard file.
 *
 * Every file is validated completely at open (lengths, JSON, dtypes, shapes, offsets inside the
 * data section, byte sizes, no overlapping tensors, no duplicate names), so a hostile file yields
 * a status and a message naming the file and the problem, never an out-of-bounds read. Statuses:
 * MMRT_ERR_IO (cannot open/stat/map, not a regular file, nothing to load in a directory),
 * MMRT_ERR_BAD_FORMAT (malformed content), MMRT_ERR_UNSUPPORTED (a dtype other than F32, F16,
 * BF16, I32, I64, U8, or more than MMRT_MAX_DIMS dimensions), MMRT_ERR_MODEL (the index lists a
 * tensor its shard does not hold; mmrt_weights_get's checks), MMRT_ERR_OOM.
 *
 * Lifetime and threads: an mmrt_weights is immutable after mmrt_weights_open returns; any number of
 * threads may read it at once. Every pointer it hands out (tensor records, names, data, file
 * paths, metadata strings) stays valid until mmrt_weights_free. The mappings are MAP_PRIVATE and
 * read-only: if another process truncates a file while it is mapped, touching its data raises
 * SIGBUS, which no reader of mapped files can prevent.
 *
 * Alignment: `data` is aligned only as the file lays it out. Writers from the safetensors library
 * pad the header so the data section starts 8-byte aligned, and offsets are usually multiples of
 * the element size, but a valid file need not be: read through memcpy or check alignment before
 * casting to float * / uint16_t *.
 */
#ifndef MMRT_CORE_SAFETENSORS_H
#define MMRT_CORE_SAFETENSORS_H

#include "error.h"
#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

/* Largest header accepted: real headers are well under 10 MB; anything bigger is hostile. */
#define MMRT_ST_MAX_HEADER_BYTES ((uint64_t)100 * 1000 * 1000)

typedef struct mmrt_st_tensor {
    const char *name;
    mmrt_dtype dtype;
    int n_dims;                   /* 0..MMRT_MAX_DIMS; a 0-d scalar has n_dims 0 and 1 element */
    int64_t shape[MMRT_MAX_DIMS]; /* as written in the file, outermost first; unused entries 1 */
    const void *data;             /* into the mapping (see Alignment above) */
    size_t n_bytes;               /* product(shape) * mmrt_dtype_size(dtype); 0 for empty */
    const char *file;             /* path of the file holding it */
} mmrt_st_tensor;

/* One or more mapped files and a name index over all their tensors. */
typedef struct mmrt_weights mmrt_weights;

/* Opens `path`, a .safetensors file or a model directory. In a directory,
 * model.safetensors.index.json (sharded) takes precedence over model.safetensors; each shard named
 * in its weight_map is opened once (shard names must be relative paths without ".."), every
 * weight_map entry must be present in the shard it names, and a name present in two shards is an
 * error. A directory with neither file is MMRT_ERR_IO naming the directory and both names.
 * On failure *out is NULL and nothing is left mapped. */
mmrt_status mmrt_weights_open(const char *path, mmrt_weights **out, mmrt_error *err);

/* Unmaps every file and frees all records. NULL is a no-op. */
void mmrt_weights_free(mmrt_weights *w);

/* Weights read from another container (a GGUF file, fusion/gguf_model.c), under Hugging Face
 * names: an empty set named path (for messages), tensors added one by one over memory that
 * mmrt_weights_keep hands over (the mapping, converted copies), then indexed by
 * mmrt_weights_finish (a duplicate name is MMRT_ERR_BAD_FORMAT). Tensors may be of the block
 * formats (mmrt_dtype_is_quant); shape is outermost first as in safetensors. */
mmrt_status mmrt_weights_new(const char *path, mmrt_weights **out, mmrt_error *err);
mmrt_status mmrt_weights_add(mmrt_weights *w, const char *name, mmrt_dtype dtype, int n_dims, const int64_t *shape,
                             const void *data, size_t n_bytes, mmrt_error *err);
/* p is freed by free_fn(p) when w is freed, after the tensors, in reverse order of keeping (also
 * when this call fails). */
mmrt_status mmrt_weights_keep(mmrt_weights *w, void *p, void (*free_fn)(void *), mmrt_error *err);
mmrt_status mmrt_weights_finish(mmrt_weights *w, mmrt_error *err);

/* The path given to mmrt_weights_open. */
const char *mmrt_weights_path(const mmrt_weights *w);

/* Number of tensors over all files. Tensors are ordered by file (shards in name order), then by
 * offset within the file. */
size_t mmrt_weights_count(const mmrt_weights *w);
/* Tensor i, 0 <= i < count (NULL when out of range). */
const mmrt_st_tensor *mmrt_weights_at(const mmrt_weights *w, size_t i);

/* The tensor called name, or NULL when absent. O(1) on average (hash index). */
const mmrt_st_tensor *mmrt_weights_find(const mmrt_weights *w, const char *name);

/* Looks name up and checks that its dtype is a float type (F32, F16, BF16) and that its shape is
 * exactly shape[0..n_dims) (outermost first). On success *out is the tensor. Failures are
 * MMRT_ERR_MODEL with a message naming the tensor, its file (or the opened path when the tensor is
 * absent), the expected and the actual shape or dtype; *out is then NULL. */
mmrt_status mmrt_weights_get(const mmrt_weights *w, const char *name, int n_dims,
                             const int64_t *shape, const mmrt_st_tensor **out, mmrt_error *err);

/* A set of dtypes: bit (1u << mmrt_dtype) for each member. */
#define MMRT_DTYPES_FLOAT ((1u << MMRT_F32) | (1u << MMRT_F16) | (1u << MMRT_BF16))

/* mmrt_weights_get accepting the dtypes of the set `dtypes` instead of the float types. */
mmrt_status mmrt_weights_get_typed(const mmrt_weights *w, const char *name, uint32_t dtypes, int n_dims,
                                   const int64_t *shape, const mmrt_st_tensor **out, mmrt_error *err);

/* A tensor over float weight `name`, checked (as mmrt_weights_get) to be a (rows, cols) matrix, or
 * a (cols) vector when rows == 0. Its byte size is added to *bytes when bytes is not NULL. The
 * data stays in the mapping: valid until mmrt_weights_free. */
mmrt_status mmrt_weights_bind(const mmrt_weights *w, const char *name, int64_t rows, int64_t cols,
                              mmrt_tensor *out, size_t *bytes, mmrt_error *err);

/* The string value of key in the first file's __metadata__ (first shard in name order), or NULL
 * when absent. */
const char *mmrt_weights_metadata(const mmrt_weights *w, const char *key);

#endif
