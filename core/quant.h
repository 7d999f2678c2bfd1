/* Quantized weight formats: llama.cpp's (ggml's) block formats, as GGUF files store them.
 *
 * A row of k weights is k / block_size blocks, each block a fixed number of bytes holding the
 * block's scale(s) and its packed integers; k must be a multiple of the block size. The type ids
 * are ggml's own (the values GGUF files carry), so a GGUF tensor's type field maps to one without
 * a table. mmrt reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K and Q6_K, and writes Q8_0,
 * Q4_0 and Q4_K (`mmrt quantize`, `--quant`).
 *
 * Dequantization is bit-identical to the `gguf` Python package's (gguf-py, llama.cpp's
 * `ggml-quants.c` reference rows). The dot kernels multiply a quantized weight row by activations
 * that were themselves quantized per block (to Q8_0 for the 32-element formats, to Q8_K for the
 * K formats) as llama.cpp does, integer products summed exactly, scales applied per block in f32.
 */
#ifndef MMRT_CORE_QUANT_H
#define MMRT_CORE_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum mmrt_qtype { /* ggml_type values */
    MMRT_QTYPE_F32 = 0,
    MMRT_QTYPE_F16 = 1,
    MMRT_QTYPE_Q4_0 = 2,
    MMRT_QTYPE_Q4_1 = 3,
    MMRT_QTYPE_Q5_0 = 6,
    MMRT_QTYPE_Q5_1 = 7,
    MMRT_QTYPE_Q8_0 = 8,
    MMRT_QTYPE_Q8_1 = 9,
    MMRT_QTYPE_Q2_K = 10,
    MMRT_QTYPE_Q3_K = 11,
    MMRT_QTYPE_Q4_K = 12,
    MMRT_QTYPE_Q5_K = 13,
    MMRT_QTYPE_Q6_K = 14,
    MMRT_QTYPE_Q8_K = 15,
    MMRT_QTYPE_BF16 = 30,
    MMRT_QTYPE_COUNT = 40 /* above every ggml type id this file names */
} mmrt_qtype;

typedef struct mmrt_qtype_info {
    const char *name;     /* ggml's: "q4_K", "bf16" (NULL: not a type mmrt knows) */
    int32_t block_size;   /* weights per block (1 for F32/F16/BF16) */
    int32_t block_bytes;  /* bytes per block */
    bool readable;        /* mmrt can load and compute with it */
} mmrt_qtype_info;

/* The type's layout; NULL for an id mmrt does not know (GGUF readers name the id in the error). */
const mmrt_qtype_info *mmrt_qtype_get(uint32_t type);

/* Bytes of one row of k weights, or 0 when k is not a multiple of the block size (or overflows). */
size_t mmrt_qtype_row_bytes(mmrt_qtype t, int64_t k);

#endif
