/* SHA-256 (FIPS 180-4), used to verify Hugging Face LFS blobs, whose ETag is the file's sha256.
 *
 * Streaming: init, update any number of times, final. Plain portable C, no allocation; a context
 * may be copied. Functions are reentrant (no shared state).
 */
#ifndef MMRT_CORE_SHA256_H
#define MMRT_CORE_SHA256_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

#define MMRT_SHA256_BYTES 32
/* 64 lowercase hex digits + NUL */
#define MMRT_SHA256_HEX_LEN 65

typedef struct mmrt_sha256 {
    uint32_t h[8];
    uint64_t n_bytes;  /* total bytes fed so far */
    uint8_t block[64]; /* pending partial block */
    size_t n_block;
} mmrt_sha256;

void mmrt_sha256_init(mmrt_sha256 *s);
void mmrt_sha256_update(mmrt_sha256 *s, const void *data, size_t n);
void mmrt_sha256_final(mmrt_sha256 *s, uint8_t digest[MMRT_SHA256_BYTES]);

/* Digest as 64 lowercase hex digits. */
void mmrt_sha256_hex(const uint8_t digest[MMRT_SHA256_BYTES], char hex[MMRT_SHA256_HEX_LEN]);

/* The sha256 of the whole file at path as lowercase hex. MMRT_ERR_IO naming the path on failure. */
mmrt_status mmrt_sha256_file(const char *path, char hex[MMRT_SHA256_HEX_LEN], mmrt_error *err);

#endif
