/* Tensors: a typed view of memory owned elsewhere (a backend buffer, an arena, an mmap'ed file).
 *
 * Dimension vocabulary (ggml's): ne[i] is the number of elements along dimension i and nb[i] its
 * stride in bytes; dimension 0 is the innermost (contiguous) one. Shape comments in the code are
 * written outermost first, like numpy: a `// (n_tok, n_embd)` tensor has ne[0] = n_embd,
 * ne[1] = n_tok. Unused dimensions have ne = 1. A view shares data with its parent and only
 * changes ne/nb/data.
 *
 * `data` is a pointer in the address space of the tensor's backend: host memory for the CPU
 * backend, device memory for a GPU backend. Only the backend that owns it may dereference it.
 */
#ifndef MMRT_CORE_TENSOR_H
#define MMRT_CORE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMRT_MAX_DIMS 4

typedef enum mmrt_dtype {
    MMRT_F32 = 0,
    MMRT_F16 = 1,
    MMRT_BF16 = 2,
    MMRT_I32 = 3,
    MMRT_I64 = 4,
    MMRT_U8 = 5,
    /* llama.cpp's block formats (core/quant.h): rows of ne[0] weights in blocks of
     * mmrt_dtype_block(t) weights, mmrt_dtype_size(t) bytes each; weights only (MATMUL, GET_ROWS) */
    MMRT_Q8_0 = 6,
    MMRT_Q4_0 = 7,
    MMRT_Q4_1 = 8,
    MMRT_Q4_K = 9,
    MMRT_Q5_K = 10,
    MMRT_Q6_K = 11,
    MMRT_Q5_0 = 12,
    MMRT_Q5_1 = 13,
    MMRT_DTYPE_COUNT
} mmrt_dtype;

/* The quantized dtypes, as a set of (1u << dtype) bits. */
#define MMRT_DTYPES_QUANT                                                                          \
    ((1u << MMRT_Q8_0) | (1u << MMRT_Q4_0) | (1u << MMRT_Q4_1) | (1u << MMRT_Q4_K) |               \
     (1u << MMRT_Q5_K) | (1u << MMRT_Q6_K) | (1u << MMRT_Q5_0) | (1u << MMRT_Q5_1))

struct mmrt_backend;

typedef struct mmrt_tensor {
    mmrt_dtype type;
    int64_t ne[MMRT_MAX_DIMS]; /* elements per dimension, ne[0] innermost */
    size_t nb[MMRT_MAX_DIMS];  /* byte stride per dimension */
    void *data;
    struct mmrt_backend *backend; /* whose address space `data` lives in */
} mmrt_tensor;

/* Bytes per element, or per block for the block formats. */
size_t mmrt_dtype_size(mmrt_dtype t);
/* Elements per block: 1, or the block formats' 32 / 256. */
int64_t mmrt_dtype_block(mmrt_dtype t);
static inline bool mmrt_dtype_is_quant(mmrt_dtype t) { return t >= MMRT_Q8_0 && t < MMRT_DTYPE_COUNT; }
/* Bytes of a contiguous row of ne0 elements (ne0 a multiple of the block). */
size_t mmrt_dtype_row_bytes(mmrt_dtype t, int64_t ne0);
/* safetensors' spellings ("F32", "BF16", ...) and ggml's for the block formats ("Q4_K"). */
const char *mmrt_dtype_name(mmrt_dtype t);

/* A contiguous tensor header over `data` with shape ne (n_dims entries, innermost first). For a
 * block format nb[0] is the block's bytes and nb[1] the row's. */
mmrt_tensor mmrt_tensor_make(mmrt_dtype t, void *data, int n_dims, const int64_t *ne);
/* Shorthands, innermost first: mmrt_tensor_2d(F32, p, n_embd, n_tok) is (n_tok, n_embd). */
mmrt_tensor mmrt_tensor_1d(mmrt_dtype t, void *data, int64_t ne0);
mmrt_tensor mmrt_tensor_2d(mmrt_dtype t, void *data, int64_t ne0, int64_t ne1);
mmrt_tensor mmrt_tensor_3d(mmrt_dtype t, void *data, int64_t ne0, int64_t ne1, int64_t ne2);

int64_t mmrt_tensor_nelements(const mmrt_tensor *t);
/* Bytes spanned from data to one past the last element (0 for an empty tensor). */
size_t mmrt_tensor_nbytes(const mmrt_tensor *t);
bool mmrt_tensor_is_contiguous(const mmrt_tensor *t);
/* Rows are contiguous (nb[0] == element size) even if rows are strided. */
bool mmrt_tensor_rows_contiguous(const mmrt_tensor *t);
bool mmrt_tensor_same_shape(const mmrt_tensor *a, const mmrt_tensor *b);

/* Views of the rows [i0, i0 + n) along the outermost used dimension `dim`. */
mmrt_tensor mmrt_tensor_slice(const mmrt_tensor *t, int dim, int64_t i0, int64_t n);

/* A (n, heads · hd) matrix viewed as (n, heads, hd): attention's layout of a projection's output. */
mmrt_tensor mmrt_tensor_split_heads(const mmrt_tensor *t, int64_t hd);

/* Row pointer for a 2-D-or-more tensor: element (i1, i2, i3, 0). Host backends only. */
static inline void *mmrt_tensor_row(const mmrt_tensor *t, int64_t i1, int64_t i2, int64_t i3) {
    return (char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
}

/* Scalar conversions (exact for bf16/f16 → f32; round-to-nearest-even the other way). */
float mmrt_bf16_to_f32(uint16_t h);
uint16_t mmrt_f32_to_bf16(float f);
float mmrt_f16_to_f32(uint16_t h);
uint16_t mmrt_f32_to_f16(float f);

/* Converts n elements of a float dtype (F32/F16/BF16) to f32. */
void mmrt_to_f32(mmrt_dtype t, const void *src, float *dst, int64_t n);

#endif
