#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static mmrt_status digest_begin(EVP_MD_CTX **ctx, mmrt_error *err) {
    *ctx = EVP_MD_CTX_new();
    if (*ctx && EVP_DigestInit_ex(*ctx, EVP_sha256(), NULL) == 1) return MMRT_OK;
    EVP_MD_CTX_free(*ctx);
    *ctx = NULL;
    return mmrt_error_oom(err, sizeof(void *), "sha256 context");
}

static mmrt_status digest_end(EVP_MD_CTX *ctx, char hex[MMRT_SHA256_HEX_LEN], mmrt_error *err) {
    static const char digits[] = "0123456789abcdef";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    int ok = EVP_DigestFinal_ex(ctx, d, &n) == 1 && n == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) return mmrt_error_set(err, MMRT_ERR_INTERNAL, "sha256: libcrypto failed");
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
    return MMRT_OK;
}

mmrt_status mmrt_sha256_buf(const void *data, size_t n, char hex[MMRT_SHA256_HEX_LEN],
                            mmrt_error *err) {
    EVP_MD_CTX *ctx;
    MMRT_TRY(digest_begin(&ctx, err));
    EVP_DigestUpdate(ctx, data, n);
    return digest_end(ctx, hex, err);
}

mmrt_status mmrt_sha256_file(const char *path, char hex[MMRT_SHA256_HEX_LEN], mmrt_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    EVP_MD_CTX *ctx = NULL;
    mmrt_status st = buf ? digest_begin(&ctx, err) : mmrt_error_oom(err, CHUNK, "sha256 buffer");
    while (st == MMRT_OK) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
            st = mmrt_error_set(err, MMRT_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        if (r <= 0) break;
        EVP_DigestUpdate(ctx, buf, (size_t)r);
    }
    free(buf);
    close(fd);
    if (st != MMRT_OK) {
        EVP_MD_CTX_free(ctx);
        return st;
    }
    return digest_end(ctx, hex, err);
}
