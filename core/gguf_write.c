/* GGUF writer: key/value pairs serialised as they are set, tensors borrowed until the write.
 * Contract in gguf.h. Keys and tensor names are checked for duplicates by a linear scan: files
 * hold tens of keys and at most a few thousand tensors. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NAME_BYTES 65535 /* keys and tensor names; llama.cpp's own names are under 64 */

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
} wbuf;

typedef struct wtensor {
    char *name;
    mmrt_qtype type;
    int n_dims;
    int64_t ne[MMRT_GGUF_MAX_DIMS];
    const void *data; /* borrowed */
    size_t n_bytes;
} wtensor;

struct mmrt_gguf_writer {
    wbuf kv; /* the serialised pairs */
    char **keys;
    size_t n_kv, cap_keys;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
    uint32_t alignment;
};

/* ---- buffer -------------------------------------------------------------------------------- */

static mmrt_status put(wbuf *b, const void *src, size_t n, mmrt_error *err) {
    if (n > SIZE_MAX / 2 - b->n) return mmrt_error_oom(err, SIZE_MAX, "GGUF writer buffer");
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) return mmrt_error_oom(err, cap, "GGUF writer buffer");
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
    return MMRT_OK;
}

static mmrt_status put_le(wbuf *b, uint64_t v, int n_bytes, mmrt_error *err) {
    uint8_t le[8];
    for (int i = 0; i < n_bytes; i++) le[i] = (uint8_t)(v >> (8 * i));
    return put(b, le, (size_t)n_bytes, err);
}

static mmrt_status put_str(wbuf *b, const char *s, size_t len, mmrt_error *err) {
    MMRT_TRY(put_le(b, len, 8, err));
    return put(b, s, len, err);
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---- writer -------------------------------------------------------------------------------- */

mmrt_status mmrt_gguf_writer_new(mmrt_gguf_writer **out, mmrt_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return mmrt_error_oom(err, sizeof **out, "GGUF writer");
    (*out)->alignment = MMRT_GGUF_DEFAULT_ALIGNMENT;
    return MMRT_OK;
}

void mmrt_gguf_writer_free(mmrt_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->keys);
    free(w->tensors);
    free(w->kv.p);
    free(w);
}

static mmrt_status check_name(const char *what, const char *name, mmrt_error *err) {
    size_t len = strlen(name);
    if (len == 0 || len > MAX_NAME_BYTES)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "GGUF writer: %s '%.256s' is %s", what,
                              name, len ? "longer than 65535 bytes" : "empty");
    return MMRT_OK;
}

/* A pair is added in three steps so that a failure leaves the writer as it was: begin_kv checks
 * the key and writes it with the value type (*mark: where the pair starts), the caller writes
 * the value, end_kv records the key or, on failure, drops the bytes written since *mark. */
static mmrt_status begin_kv(mmrt_gguf_writer *w, const char *key, mmrt_gguf_type t, size_t *mark,
                            mmrt_error *err) {
    *mark = w->kv.n;
    MMRT_TRY(check_name("key", key, err));
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "GGUF writer: key '%.256s' set twice",
                                  key);
    if (w->n_kv == w->cap_keys) {
        size_t cap = w->cap_keys ? 2 * w->cap_keys : 16;
        char **k = realloc(w->keys, cap * sizeof *k);
        if (!k) return mmrt_error_oom(err, cap * sizeof *k, "GGUF writer keys");
        w->keys = k;
        w->cap_keys = cap;
    }
    MMRT_TRY(put_str(&w->kv, key, strlen(key), err));
    return put_le(&w->kv, (uint64_t)t, 4, err);
}

static mmrt_status end_kv(mmrt_gguf_writer *w, const char *key, size_t mark, mmrt_status st,
                          mmrt_error *err) {
    char *copy = st == MMRT_OK ? strdup(key) : NULL;
    if (st == MMRT_OK && !copy) st = mmrt_error_oom(err, strlen(key) + 1, "GGUF writer key");
    if (st != MMRT_OK) {
        w->kv.n = mark;
        return st;
    }
    w->keys[w->n_kv++] = copy; /* capacity reserved by begin_kv */
    return MMRT_OK;
}

static mmrt_status set_scalar(mmrt_gguf_writer *w, const char *key, mmrt_gguf_type t, uint64_t v,
                              int n_bytes, mmrt_error *err) {
    size_t mark;
    mmrt_status st = begin_kv(w, key, t, &mark, err);
    if (st == MMRT_OK) st = put_le(&w->kv, v, n_bytes, err);
    return end_kv(w, key, mark, st, err);
}

mmrt_status mmrt_gguf_writer_set_str(mmrt_gguf_writer *w, const char *key, const char *s,
                                     size_t len, mmrt_error *err) {
    size_t mark;
    mmrt_status st = begin_kv(w, key, MMRT_GGUF_STRING, &mark, err);
    if (st == MMRT_OK) st = put_str(&w->kv, s, len, err);
    return end_kv(w, key, mark, st, err);
}

mmrt_status mmrt_gguf_writer_set_u32(mmrt_gguf_writer *w, const char *key, uint32_t v,
                                     mmrt_error *err) {
    bool is_alignment = strcmp(key, "general.alignment") == 0;
    if (is_alignment && (v == 0 || (v & (v - 1)) != 0))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "GGUF writer: general.alignment %u is not a power of two > 0",
                              (unsigned)v);
    MMRT_TRY(set_scalar(w, key, MMRT_GGUF_U32, v, 4, err));
    if (is_alignment) w->alignment = v;
    return MMRT_OK;
}

mmrt_status mmrt_gguf_writer_set_i32(mmrt_gguf_writer *w, const char *key, int32_t v,
                                     mmrt_error *err) {
    return set_scalar(w, key, MMRT_GGUF_I32, (uint32_t)v, 4, err);
}

mmrt_status mmrt_gguf_writer_set_u64(mmrt_gguf_writer *w, const char *key, uint64_t v,
                                     mmrt_error *err) {
    return set_scalar(w, key, MMRT_GGUF_U64, v, 8, err);
}

mmrt_status mmrt_gguf_writer_set_f32(mmrt_gguf_writer *w, const char *key, float v,
                                     mmrt_error *err) {
    return set_scalar(w, key, MMRT_GGUF_F32, f32_bits(v), 4, err);
}

mmrt_status mmrt_gguf_writer_set_bool(mmrt_gguf_writer *w, const char *key, bool v,
                                      mmrt_error *err) {
    return set_scalar(w, key, MMRT_GGUF_BOOL, v ? 1 : 0, 1, err);
}

/* An array of n elements of type et: strings from strs, else 4-byte values (int32_t or float,
 * read through memcpy) from vals. */
static mmrt_status set_arr(mmrt_gguf_writer *w, const char *key, mmrt_gguf_type et,
                           const char *const *strs, const void *vals, size_t n, mmrt_error *err) {
    size_t mark;
    mmrt_status st = begin_kv(w, key, MMRT_GGUF_ARRAY, &mark, err);
    if (st == MMRT_OK) st = put_le(&w->kv, (uint64_t)et, 4, err);
    if (st == MMRT_OK) st = put_le(&w->kv, n, 8, err);
    for (size_t i = 0; i < n && st == MMRT_OK; i++) {
        uint32_t u = 0;
        if (!strs) memcpy(&u, (const char *)vals + 4 * i, 4);
        st = strs ? put_str(&w->kv, strs[i], strlen(strs[i]), err) : put_le(&w->kv, u, 4, err);
    }
    return end_kv(w, key, mark, st, err);
}

mmrt_status mmrt_gguf_writer_set_arr_str(mmrt_gguf_writer *w, const char *key,
                                         const char *const *strs, size_t n, mmrt_error *err) {
    return set_arr(w, key, MMRT_GGUF_STRING, strs, NULL, n, err);
}

mmrt_status mmrt_gguf_writer_set_arr_i32(mmrt_gguf_writer *w, const char *key, const int32_t *v,
                                         size_t n, mmrt_error *err) {
    return set_arr(w, key, MMRT_GGUF_I32, NULL, v, n, err);
}

mmrt_status mmrt_gguf_writer_set_arr_f32(mmrt_gguf_writer *w, const char *key, const float *v,
                                         size_t n, mmrt_error *err) {
    return set_arr(w, key, MMRT_GGUF_F32, NULL, v, n, err);
}

mmrt_status mmrt_gguf_writer_copy_kv(mmrt_gguf_writer *w, const mmrt_gguf *g, size_t i,
                                     mmrt_error *err) {
    const char *key = mmrt_gguf_kv_key(g, i);
    if (!key)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "GGUF writer: %s has no pair %zu",
                              mmrt_gguf_path(g), i);
    mmrt_gguf_type t = mmrt_gguf_kv_type(g, i);
    size_t n;
    const void *raw = mmrt_gguf_kv_raw(g, i, &n);
    if (strcmp(key, "general.alignment") == 0 && t == MMRT_GGUF_U32) /* validated at open */
        return mmrt_gguf_writer_set_u32(w, key, mmrt_gguf_alignment(g), err);
    size_t mark;
    mmrt_status st = begin_kv(w, key, t, &mark, err);
    if (st == MMRT_OK) st = put(&w->kv, raw, n, err);
    return end_kv(w, key, mark, st, err);
}

/* ---- tensors ------------------------------------------------------------------------------- */

/* Byte size of a tensor of type with ne[0..n_dims); 0 when the dims or the type are invalid. */
static size_t tensor_bytes(mmrt_qtype type, int n_dims, const int64_t *ne) {
    if (!mmrt_qtype_get((uint32_t)type) || n_dims < 1 || n_dims > MMRT_GGUF_MAX_DIMS) return 0;
    size_t total = mmrt_qtype_row_bytes(type, ne[0]);
    for (int d = 0; d < n_dims; d++)
        if (ne[d] <= 0) return 0;
    for (int d = 1; d < n_dims; d++)
        if (__builtin_mul_overflow(total, (uint64_t)ne[d], &total)) return 0;
    return total;
}

mmrt_status mmrt_gguf_writer_add_tensor(mmrt_gguf_writer *w, const char *name, mmrt_qtype type,
                                        int n_dims, const int64_t *ne, const void *data,
                                        mmrt_error *err) {
    MMRT_TRY(check_name("tensor name", name, err));
    size_t n_bytes = tensor_bytes(type, n_dims, ne);
    if (n_bytes == 0)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "GGUF writer: tensor '%.256s': bad type %d or dims (n_dims %d, "
                              "ne[0] a multiple of the block size, each > 0)",
                              name, (int)type, n_dims);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                                  "GGUF writer: tensor '%.256s' added twice", name);
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
        wtensor *t = realloc(w->tensors, cap * sizeof *t);
        if (!t) return mmrt_error_oom(err, cap * sizeof *t, "GGUF writer tensors");
        w->tensors = t;
        w->cap_tensors = cap;
    }
    wtensor *t = &w->tensors[w->n_tensors];
    *t = (wtensor){.type = type, .n_dims = n_dims, .data = data, .n_bytes = n_bytes};
    for (int d = 0; d < MMRT_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->name = strdup(name);
    if (!t->name) return mmrt_error_oom(err, strlen(name) + 1, "GGUF writer tensor name");
    w->n_tensors++;
    return MMRT_OK;
}

/* ---- file ---------------------------------------------------------------------------------- */

static uint64_t pad_to(uint64_t n, uint32_t align) { return (align - n % align) % align; }

/* Everything before the data section: header, pairs, tensor infos, padding. */
static mmrt_status build_header(const mmrt_gguf_writer *w, wbuf *h, mmrt_error *err) {
    MMRT_TRY(put(h, "GGUF", 4, err));
    MMRT_TRY(put_le(h, 3, 4, err));
    MMRT_TRY(put_le(h, w->n_tensors, 8, err));
    MMRT_TRY(put_le(h, w->n_kv, 8, err));
    MMRT_TRY(put(h, w->kv.p, w->kv.n, err));
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        MMRT_TRY(put_str(h, t->name, strlen(t->name), err));
        MMRT_TRY(put_le(h, (uint64_t)t->n_dims, 4, err));
        for (int d = 0; d < t->n_dims; d++) MMRT_TRY(put_le(h, (uint64_t)t->ne[d], 8, err));
        MMRT_TRY(put_le(h, (uint64_t)t->type, 4, err));
        MMRT_TRY(put_le(h, offset, 8, err));
        offset += t->n_bytes + pad_to(t->n_bytes, w->alignment);
    }
    /* Without tensors there is no data section to align (readers accept a file that ends
     * here), and a large general.alignment would otherwise write that many zeros. */
    static const uint8_t zeros[4096];
    size_t n = w->n_tensors ? (size_t)pad_to(h->n, w->alignment) : 0;
    for (size_t k; n; n -= k) MMRT_TRY(put(h, zeros, k = n < sizeof zeros ? n : sizeof zeros, err));
    return MMRT_OK;
}

static mmrt_status write_all(int fd, const void *p, size_t n, const char *path, mmrt_error *err) {
    const uint8_t *b = p;
    while (n) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot write: %s", path,
                                  k < 0 ? strerror(errno) : "no progress");
        b += k;
        n -= (size_t)k;
    }
    return MMRT_OK;
}

static mmrt_status write_body(const mmrt_gguf_writer *w, int fd, const char *path,
                              mmrt_error *err) {
    wbuf h = {0};
    mmrt_status st = build_header(w, &h, err);
    if (st == MMRT_OK) st = write_all(fd, h.p, h.n, path, err);
    free(h.p);
    static const uint8_t zeros[256];
    for (size_t i = 0; i < w->n_tensors && st == MMRT_OK; i++) {
        const wtensor *t = &w->tensors[i];
        st = write_all(fd, t->data, t->n_bytes, path, err);
        for (size_t n = (size_t)pad_to(t->n_bytes, w->alignment), k; n && st == MMRT_OK; n -= k)
            st = write_all(fd, zeros, k = n < sizeof zeros ? n : sizeof zeros, path, err);
    }
    if (st == MMRT_OK && fsync(fd) != 0)
        st = mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot sync: %s", path, strerror(errno));
    return st;
}

mmrt_status mmrt_gguf_writer_write(const mmrt_gguf_writer *w, const char *path, mmrt_error *err) {
    size_t n = strlen(path) + sizeof ".tmp-XXXXXX";
    char *tmp = malloc(n);
    if (!tmp) return mmrt_error_oom(err, n, path);
    snprintf(tmp, n, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        mmrt_status st = mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot create a temporary file "
                                        "beside it: %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    /* mkstemp makes the file 0600; a model file is meant to be shared like any other output. */
    mmrt_status st = fchmod(fd, 0644) == 0 ? MMRT_OK
                     : mmrt_error_set(err, MMRT_ERR_IO, "%s: chmod: %s", tmp, strerror(errno));
    if (st == MMRT_OK) st = write_body(w, fd, path, err);
    if (close(fd) != 0 && st == MMRT_OK)
        st = mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot close: %s", path, strerror(errno));
    if (st == MMRT_OK && rename(tmp, path) != 0)
        st = mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot rename the temporary file over it: %s",
                            path, strerror(errno));
    if (st != MMRT_OK) unlink(tmp);
    free(tmp);
    return st;
}
