/* GGUF reader: maps the file, validates every field at open, indexes keys and tensor names.
 * Contract in gguf.h. The file is read through a bounds-checked cursor; every count is checked
 * against the bytes left before anything is allocated for it. */
#include "gguf.h"

#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct gguf_kv {
    char *key;              /* NUL-terminated copy */
    mmrt_gguf_type type;
    const uint8_t *val;     /* the value in the mapping; for an array, its first element */
    const uint8_t *raw;     /* the value's encoding (an array's starts at its element type) */
    size_t n_raw;
    mmrt_gguf_type arr_type; /* arrays only */
    uint64_t count;          /* arrays only */
    uint64_t *str_off;       /* arrays of strings: element j starts at val + str_off[j] */
} gguf_kv;

typedef struct name_index {
    size_t *slots; /* open addressing: item index + 1, 0 = empty */
    size_t n_slots; /* power of two, at least twice the item count */
    uint64_t seed;  /* varies per process (ASLR): a file cannot be built to make names collide */
} name_index;

struct mmrt_gguf {
    char *path;
    const uint8_t *map;
    size_t map_size;
    uint32_t version, alignment;
    uint64_t data_offset;
    gguf_kv *kvs;
    size_t n_kv;
    mmrt_gguf_tensor *tensors;
    size_t n_tensors;
    name_index kv_index, tensor_index;
};

/* Bytes of a fixed-size value type; 0 for string and array (variable) and unknown types. */
static const uint8_t type_size[MMRT_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const type_names[MMRT_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};

const char *mmrt_gguf_type_name(mmrt_gguf_type t) {
    return (unsigned)t < MMRT_GGUF_TYPE_COUNT ? type_names[t] : "?";
}

/* Smallest encoding of one value of type t (string: its length; array: type and count). */
static uint64_t min_value_bytes(mmrt_gguf_type t) {
    if (t == MMRT_GGUF_STRING) return 8;
    if (t == MMRT_GGUF_ARRAY) return 12;
    return type_size[t];
}

static uint64_t ld_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ---- name index ---------------------------------------------------------------------------- */

static uint64_t hash_name(const char *s, uint64_t seed) {
    uint64_t h = 1469598103934665603ull ^ seed; /* FNV-1a, then a final mix into the low bits */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

typedef const char *(*name_of_fn)(const mmrt_gguf *g, size_t i);
static const char *kv_name(const mmrt_gguf *g, size_t i) { return g->kvs[i].key; }
static const char *tensor_name(const mmrt_gguf *g, size_t i) { return g->tensors[i].name; }

static mmrt_status index_init(name_index *ix, size_t n_items, const char *path, mmrt_error *err) {
    size_t n = 16;
    while (n < 2 * n_items) n *= 2;
    ix->slots = calloc(n, sizeof *ix->slots);
    if (!ix->slots) return mmrt_error_oom(err, n * sizeof *ix->slots, path);
    ix->n_slots = n;
    ix->seed = (uint64_t)(uintptr_t)ix->slots * 0x9e3779b97f4a7c15ull;
    return MMRT_OK;
}

/* The item called name (index), or SIZE_MAX; with insert, adds item `insert_i` when absent. */
static size_t index_probe(const mmrt_gguf *g, const name_index *ix, name_of_fn name_of,
                          const char *name, size_t insert_i) {
    size_t mask = ix->n_slots - 1;
    for (size_t s = (size_t)hash_name(name, ix->seed) & mask;; s = (s + 1) & mask) {
        size_t v = ix->slots[s];
        if (v == 0) {
            if (insert_i != SIZE_MAX) ix->slots[s] = insert_i + 1;
            return SIZE_MAX;
        }
        if (strcmp(name_of(g, v - 1), name) == 0) return v - 1;
    }
}

/* ---- cursor -------------------------------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *p;
    size_t size, pos;
    const char *path;
    char ctx[320]; /* what is being read: "header", "key 'general.name'", "tensor 3" */
} cursor;

static mmrt_status need(cursor *c, uint64_t n, const char *what, mmrt_error *err) {
    if (n <= c->size - c->pos) return MMRT_OK;
    return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                          "%s: %s: truncated: %s needs %" PRIu64
                          " bytes at offset %zu, the file has %zu bytes",
                          c->path, c->ctx, what, n, c->pos, c->size);
}

static mmrt_status rd_u32(cursor *c, const char *what, uint32_t *out, mmrt_error *err) {
    MMRT_TRY(need(c, 4, what, err));
    *out = (uint32_t)ld_le(c->p + c->pos, 4);
    c->pos += 4;
    return MMRT_OK;
}

static mmrt_status rd_u64(cursor *c, const char *what, uint64_t *out, mmrt_error *err) {
    MMRT_TRY(need(c, 8, what, err));
    *out = ld_le(c->p + c->pos, 8);
    c->pos += 8;
    return MMRT_OK;
}

/* A string: *s points at its bytes in the mapping. */
static mmrt_status rd_str(cursor *c, const char *what, const uint8_t **s, uint64_t *len,
                          mmrt_error *err) {
    MMRT_TRY(rd_u64(c, what, len, err));
    if (*len > c->size - c->pos)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: %s: %s claims %" PRIu64 " bytes at offset %zu, past the end "
                              "of the file (%zu bytes)",
                              c->path, c->ctx, what, *len, c->pos, c->size);
    *s = c->p + c->pos;
    c->pos += (size_t)*len;
    return MMRT_OK;
}

/* A key or tensor name as a NUL-terminated copy; empty names and NUL bytes are refused. */
static mmrt_status rd_name(cursor *c, const char *what, char **out, mmrt_error *err) {
    const uint8_t *s = NULL;
    uint64_t len;
    MMRT_TRY(rd_str(c, what, &s, &len, err));
    if (len == 0 || memchr(s, '\0', (size_t)len))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s: %s %s", c->path, c->ctx, what,
                              len ? "holds a NUL byte" : "is empty");
    *out = malloc((size_t)len + 1);
    if (!*out) return mmrt_error_oom(err, (size_t)len + 1, what);
    memcpy(*out, s, (size_t)len);
    (*out)[len] = '\0';
    return MMRT_OK;
}

/* ---- key/value pairs ----------------------------------------------------------------------- */

static mmrt_status value_type(cursor *c, uint32_t t, mmrt_error *err) {
    if (t < MMRT_GGUF_TYPE_COUNT) return MMRT_OK;
    return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s: unknown value type %" PRIu32
                          " (at offset %zu)", c->path, c->ctx, t, c->pos - 4);
}

static mmrt_status skip_value(cursor *c, mmrt_gguf_type t, int depth, gguf_kv *kv,
                              mmrt_error *err);

/* The elements of an array (type and count already read). String offsets are recorded in kv
 * when kv is not NULL (a top-level array). */
static mmrt_status skip_elems(cursor *c, mmrt_gguf_type et, uint64_t count, int depth,
                              gguf_kv *kv, mmrt_error *err) {
    uint64_t min = min_value_bytes(et);
    if (count > (c->size - c->pos) / min)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: %s: array of %" PRIu64 " %s needs at least %" PRIu64
                              " bytes per element, only %zu bytes left at offset %zu",
                              c->path, c->ctx, count, type_names[et], min, c->size - c->pos,
                              c->pos);
    if (type_size[et]) {
        c->pos += (size_t)(count * type_size[et]);
        return MMRT_OK;
    }
    if (kv && et == MMRT_GGUF_STRING && count) {
        kv->str_off = malloc((size_t)count * sizeof *kv->str_off);
        if (!kv->str_off) return mmrt_error_oom(err, (size_t)count * 8, "string array index");
    }
    size_t start = c->pos;
    for (uint64_t j = 0; j < count; j++) {
        if (kv && kv->str_off) kv->str_off[j] = c->pos - start;
        MMRT_TRY(skip_value(c, et, depth, NULL, err));
    }
    return MMRT_OK;
}

/* Validates one value of type t at the cursor and moves past it. depth counts enclosing arrays. */
static mmrt_status skip_value(cursor *c, mmrt_gguf_type t, int depth, gguf_kv *kv,
                              mmrt_error *err) {
    if (t == MMRT_GGUF_STRING) {
        const uint8_t *s = NULL;
        uint64_t len;
        return rd_str(c, "string", &s, &len, err);
    }
    if (t != MMRT_GGUF_ARRAY) {
        MMRT_TRY(need(c, type_size[t], type_names[t], err));
        c->pos += type_size[t];
        return MMRT_OK;
    }
    if (depth >= MMRT_GGUF_MAX_DEPTH)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: %s: arrays nested more than %d deep (at offset %zu)", c->path,
                              c->ctx, MMRT_GGUF_MAX_DEPTH, c->pos);
    uint32_t et;
    uint64_t count;
    MMRT_TRY(rd_u32(c, "array element type", &et, err));
    MMRT_TRY(value_type(c, et, err));
    MMRT_TRY(rd_u64(c, "array count", &count, err));
    if (kv) {
        kv->arr_type = (mmrt_gguf_type)et;
        kv->count = count;
        kv->val = c->p + c->pos;
    }
    return skip_elems(c, (mmrt_gguf_type)et, count, depth + 1, kv, err);
}

static mmrt_status parse_kv(mmrt_gguf *g, cursor *c, size_t i, mmrt_error *err) {
    gguf_kv *kv = &g->kvs[i];
    snprintf(c->ctx, sizeof c->ctx, "key/value pair %zu", i);
    MMRT_TRY(rd_name(c, "key", &kv->key, err));
    g->n_kv = i + 1; /* kv->key is owned now (freed by mmrt_gguf_free) */
    snprintf(c->ctx, sizeof c->ctx, "key '%.256s'", kv->key);
    if (index_probe(g, &g->kv_index, kv_name, kv->key, i) != SIZE_MAX)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s appears twice", c->path, c->ctx);
    uint32_t t;
    MMRT_TRY(rd_u32(c, "value type", &t, err));
    MMRT_TRY(value_type(c, t, err));
    kv->type = (mmrt_gguf_type)t;
    kv->val = kv->raw = c->p + c->pos;
    MMRT_TRY(skip_value(c, kv->type, 0, kv, err));
    kv->n_raw = (size_t)(c->p + c->pos - kv->raw);
    return MMRT_OK;
}

/* general.alignment, when present: a u32 power of two. */
static mmrt_status read_alignment(mmrt_gguf *g, mmrt_error *err) {
    g->alignment = MMRT_GGUF_DEFAULT_ALIGNMENT;
    size_t i = index_probe(g, &g->kv_index, kv_name, "general.alignment", SIZE_MAX);
    if (i == SIZE_MAX) return MMRT_OK;
    const gguf_kv *kv = &g->kvs[i];
    if (kv->type != MMRT_GGUF_U32)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: key 'general.alignment' is %s, expected u32", g->path,
                              type_names[kv->type]);
    uint32_t a = (uint32_t)ld_le(kv->val, 4);
    if (a == 0 || (a & (a - 1)) != 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: general.alignment is %" PRIu32 ", not a power of two > 0",
                              g->path, a);
    g->alignment = a;
    return MMRT_OK;
}

/* ---- tensor infos -------------------------------------------------------------------------- */

/* Checks the dims and type of t and computes its byte size. */
static mmrt_status tensor_size(const cursor *c, mmrt_gguf_tensor *t, mmrt_error *err) {
    const mmrt_qtype_info *q = mmrt_qtype_get((uint32_t)t->type);
    uint64_t n_elem = 1, rows = 1;
    for (int d = 0; d < t->n_dims; d++) {
        if (t->ne[d] <= 0)
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s: ne[%d] is %s", c->path,
                                  c->ctx, d, t->ne[d] == 0 ? "0" : "above INT64_MAX");
        if (__builtin_mul_overflow(n_elem, (uint64_t)t->ne[d], &n_elem) || n_elem > INT64_MAX)
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "%s: %s: the element count overflows (ne[%d] = %" PRId64 ")",
                                  c->path, c->ctx, d, t->ne[d]);
        if (d > 0) rows *= (uint64_t)t->ne[d];
    }
    if (t->ne[0] % q->block_size != 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: %s: ne[0] = %" PRId64 " is not a multiple of %s's block size %d",
                              c->path, c->ctx, t->ne[0], q->name, (int)q->block_size);
    uint64_t row = mmrt_qtype_row_bytes(t->type, t->ne[0]), total;
    if (row == 0 || __builtin_mul_overflow(row, rows, &total) || total > SIZE_MAX)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s: the byte size overflows",
                              c->path, c->ctx);
    t->n_bytes = (size_t)total;
    return MMRT_OK;
}

static mmrt_status parse_tensor_info(mmrt_gguf *g, cursor *c, size_t i, mmrt_error *err) {
    mmrt_gguf_tensor *t = &g->tensors[i];
    char *name;
    snprintf(c->ctx, sizeof c->ctx, "tensor %zu", i);
    MMRT_TRY(rd_name(c, "tensor name", &name, err));
    t->name = name;
    g->n_tensors = i + 1;
    snprintf(c->ctx, sizeof c->ctx, "tensor '%.256s'", name);
    if (index_probe(g, &g->tensor_index, tensor_name, name, i) != SIZE_MAX)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s appears twice", c->path, c->ctx);
    uint32_t n_dims, type;
    MMRT_TRY(rd_u32(c, "n_dims", &n_dims, err));
    if (n_dims < 1 || n_dims > MMRT_GGUF_MAX_DIMS)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s: n_dims is %" PRIu32
                              ", expected 1 to %d", c->path, c->ctx, n_dims, MMRT_GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    for (int d = 0; d < MMRT_GGUF_MAX_DIMS; d++) {
        uint64_t v = 1;
        if (d < t->n_dims) MMRT_TRY(rd_u64(c, "ne", &v, err));
        t->ne[d] = v > INT64_MAX ? -1 : (int64_t)v;
    }
    MMRT_TRY(rd_u32(c, "type", &type, err));
    if (!mmrt_qtype_get(type))
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: %s: unknown ggml type id %" PRIu32,
                              c->path, c->ctx, type);
    t->type = (mmrt_qtype)type;
    MMRT_TRY(rd_u64(c, "offset", &t->offset, err));
    return tensor_size(c, t, err);
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* Places each tensor's data: aligned, inside the file. */
static mmrt_status place_tensors(mmrt_gguf *g, mmrt_error *err) {
    for (size_t i = 0; i < g->n_tensors; i++) {
        mmrt_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment)
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "%s: tensor '%.256s': offset %" PRIu64
                                  " is not a multiple of the alignment %" PRIu32,
                                  g->path, t->name, t->offset, g->alignment);
        uint64_t left = g->data_offset <= g->map_size ? g->map_size - g->data_offset : 0;
        if (g->data_offset > g->map_size || t->offset > left || t->n_bytes > left - t->offset) {
            uint64_t a = sat_add(g->data_offset, t->offset), b = sat_add(a, t->n_bytes);
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "%s: tensor '%.256s': data [%" PRIu64 ", %" PRIu64
                                  ") past the end of the file (%zu bytes)",
                                  g->path, t->name, a, b, g->map_size);
        }
        t->data = g->map + g->data_offset + t->offset;
    }
    return MMRT_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
    const mmrt_gguf_tensor *x = *(const mmrt_gguf_tensor *const *)a;
    const mmrt_gguf_tensor *y = *(const mmrt_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static mmrt_status check_overlaps(const mmrt_gguf *g, mmrt_error *err) {
    if (g->n_tensors < 2) return MMRT_OK;
    const mmrt_gguf_tensor **by = malloc(g->n_tensors * sizeof *by);
    if (!by) return mmrt_error_oom(err, g->n_tensors * sizeof *by, "tensor order");
    for (size_t i = 0; i < g->n_tensors; i++) by[i] = &g->tensors[i];
    qsort(by, g->n_tensors, sizeof *by, cmp_by_offset);
    mmrt_status st = MMRT_OK;
    for (size_t i = 1; i < g->n_tensors && st == MMRT_OK; i++)
        if (by[i - 1]->offset + by[i - 1]->n_bytes > by[i]->offset)
            st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                "%s: tensors '%.256s' (data offset %" PRIu64 ", %zu bytes) and "
                                "'%.256s' (data offset %" PRIu64 ") overlap",
                                g->path, by[i - 1]->name, by[i - 1]->offset, by[i - 1]->n_bytes,
                                by[i]->name, by[i]->offset);
    free(by);
    return st;
}

/* ---- open / free --------------------------------------------------------------------------- */

static mmrt_status map_file(mmrt_gguf *g, mmrt_error *err) {
    void *map = NULL;
    size_t size = 0;
    MMRT_TRY(mmrt_fs_map_file(g->path, ".gguf", &map, &size, err));
    g->map = map;
    g->map_size = size;
    return MMRT_OK;
}

/* Magic, version and the two counts; the counts are bounded by the bytes that follow. */
static mmrt_status parse_header(mmrt_gguf *g, cursor *c, uint64_t *n_tensors, uint64_t *n_kv,
                                mmrt_error *err) {
    snprintf(c->ctx, sizeof c->ctx, "header");
    MMRT_TRY(need(c, 4, "magic", err));
    if (memcmp(c->p, "GGUF", 4) != 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: not a GGUF file (magic %02x %02x %02x %02x, "
                              "expected 47 47 55 46)",
                              g->path, c->p[0], c->p[1], c->p[2], c->p[3]);
    c->pos = 4;
    MMRT_TRY(rd_u32(c, "version", &g->version, err));
    if (g->version != 2 && g->version != 3)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: GGUF version %" PRIu32
                              " is not supported (mmrt reads 2 and 3)%s",
                              g->path, g->version,
                              g->version > 0xffff ? "; a big-endian file?" : "");
    MMRT_TRY(rd_u64(c, "n_tensors", n_tensors, err));
    MMRT_TRY(rd_u64(c, "n_kv", n_kv, err));
    uint64_t left = c->size - c->pos;
    if (*n_kv > left / 13 || *n_tensors > left / 32)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: header: %" PRIu64 " key/value pairs and %" PRIu64
                              " tensors cannot fit in the %" PRIu64 " bytes that follow",
                              g->path, *n_kv, *n_tensors, left);
    return MMRT_OK;
}

static mmrt_status parse_all(mmrt_gguf *g, mmrt_error *err) {
    cursor c = {.p = g->map, .size = g->map_size, .path = g->path};
    uint64_t n_tensors = 0, n_kv = 0;
    MMRT_TRY(parse_header(g, &c, &n_tensors, &n_kv, err));
    g->kvs = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kvs);
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->kvs || !g->tensors)
        return mmrt_error_oom(err, (size_t)(n_kv + n_tensors) * sizeof *g->tensors, g->path);
    MMRT_TRY(index_init(&g->kv_index, (size_t)n_kv, g->path, err));
    MMRT_TRY(index_init(&g->tensor_index, (size_t)n_tensors, g->path, err));
    for (size_t i = 0; i < n_kv; i++) MMRT_TRY(parse_kv(g, &c, i, err));
    MMRT_TRY(read_alignment(g, err));
    for (size_t i = 0; i < n_tensors; i++) MMRT_TRY(parse_tensor_info(g, &c, i, err));
    /* The data section starts at the next multiple of the alignment; a file without tensors may
     * end before it. */
    g->data_offset = c.pos + (g->alignment - c.pos % g->alignment) % g->alignment;
    MMRT_TRY(place_tensors(g, err));
    return check_overlaps(g, err);
}

mmrt_status mmrt_gguf_open(const char *path, mmrt_gguf **out, mmrt_error *err) {
    *out = NULL;
    mmrt_gguf *g = calloc(1, sizeof *g);
    if (!g) return mmrt_error_oom(err, sizeof *g, path);
    g->path = strdup(path);
    if (!g->path) {
        free(g);
        return mmrt_error_oom(err, strlen(path) + 1, path);
    }
    mmrt_status st = map_file(g, err);
    if (st == MMRT_OK) st = parse_all(g, err);
    if (st != MMRT_OK) {
        mmrt_gguf_free(g);
        return st;
    }
    *out = g;
    return MMRT_OK;
}

void mmrt_gguf_free(mmrt_gguf *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_kv; i++) {
        free(g->kvs[i].key);
        free(g->kvs[i].str_off);
    }
    for (size_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->kvs);
    free(g->tensors);
    free(g->kv_index.slots);
    free(g->tensor_index.slots);
    if (g->map) munmap((void *)g->map, g->map_size);
    free(g->path);
    free(g);
}

/* ---- accessors ----------------------------------------------------------------------------- */

const char *mmrt_gguf_path(const mmrt_gguf *g) { return g->path; }
uint32_t mmrt_gguf_version(const mmrt_gguf *g) { return g->version; }
uint32_t mmrt_gguf_alignment(const mmrt_gguf *g) { return g->alignment; }
uint64_t mmrt_gguf_data_offset(const mmrt_gguf *g) { return g->data_offset; }
size_t mmrt_gguf_tensor_count(const mmrt_gguf *g) { return g->n_tensors; }
size_t mmrt_gguf_kv_count(const mmrt_gguf *g) { return g->n_kv; }

const mmrt_gguf_tensor *mmrt_gguf_tensor_at(const mmrt_gguf *g, size_t i) {
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const mmrt_gguf_tensor *mmrt_gguf_find_tensor(const mmrt_gguf *g, const char *name) {
    size_t i = index_probe(g, &g->tensor_index, tensor_name, name, SIZE_MAX);
    return i == SIZE_MAX ? NULL : &g->tensors[i];
}

int64_t mmrt_gguf_find_key(const mmrt_gguf *g, const char *key) {
    size_t i = index_probe(g, &g->kv_index, kv_name, key, SIZE_MAX);
    return i == SIZE_MAX ? -1 : (int64_t)i;
}

const char *mmrt_gguf_kv_key(const mmrt_gguf *g, size_t i) {
    return i < g->n_kv ? g->kvs[i].key : NULL;
}

mmrt_gguf_type mmrt_gguf_kv_type(const mmrt_gguf *g, size_t i) {
    return i < g->n_kv ? g->kvs[i].type : MMRT_GGUF_TYPE_COUNT;
}

const void *mmrt_gguf_kv_raw(const mmrt_gguf *g, size_t i, size_t *n_bytes) {
    *n_bytes = i < g->n_kv ? g->kvs[i].n_raw : 0;
    return i < g->n_kv ? g->kvs[i].raw : NULL;
}

mmrt_gguf_type mmrt_gguf_arr_type(const mmrt_gguf *g, size_t i) {
    return i < g->n_kv && g->kvs[i].type == MMRT_GGUF_ARRAY ? g->kvs[i].arr_type
                                                            : MMRT_GGUF_TYPE_COUNT;
}

uint64_t mmrt_gguf_arr_count(const mmrt_gguf *g, size_t i) {
    return i < g->n_kv && g->kvs[i].type == MMRT_GGUF_ARRAY ? g->kvs[i].count : 0;
}

/* ---- typed getters ------------------------------------------------------------------------- */

/* *kv = the pair called key, or NULL when absent and optional (found != NULL). */
static mmrt_status lookup(const mmrt_gguf *g, const char *key, bool *found, const gguf_kv **kv,
                          mmrt_error *err) {
    size_t i = index_probe(g, &g->kv_index, kv_name, key, SIZE_MAX);
    *kv = i == SIZE_MAX ? NULL : &g->kvs[i];
    if (found) *found = *kv != NULL;
    if (*kv || found) return MMRT_OK;
    return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: required key '%.256s' is missing", g->path,
                          key);
}

static mmrt_status mismatch(const mmrt_gguf *g, const gguf_kv *kv, const char *what,
                            const char *expected, mmrt_error *err) {
    const char *got = type_names[kv->type == MMRT_GGUF_ARRAY && what[0] ? kv->arr_type : kv->type];
    return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: key '%.256s'%s is %s, expected %s",
                          g->path, kv->key, what, got, expected);
}

static bool is_int_type(mmrt_gguf_type t) {
    return t <= MMRT_GGUF_I32 || t == MMRT_GGUF_U64 || t == MMRT_GGUF_I64;
}

/* An integer value of type t at p (is_int_type(t)); false when a u64 exceeds INT64_MAX. */
static bool load_int(mmrt_gguf_type t, const uint8_t *p, int64_t *out) {
    uint64_t u = ld_le(p, type_size[t]);
    bool is_signed = t == MMRT_GGUF_I8 || t == MMRT_GGUF_I16 || t == MMRT_GGUF_I32 ||
                     t == MMRT_GGUF_I64;
    int bits = 8 * type_size[t];
    if (is_signed && bits < 64 && (u >> (bits - 1)) & 1) u |= UINT64_MAX << bits; /* sign-extend */
    if (!is_signed && u > INT64_MAX) return false;
    *out = (int64_t)u;
    return true;
}

static double load_float(mmrt_gguf_type t, const uint8_t *p) {
    uint64_t u = ld_le(p, type_size[t]);
    if (t == MMRT_GGUF_F64) {
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    uint32_t u32 = (uint32_t)u;
    float f;
    memcpy(&f, &u32, sizeof f);
    return f;
}

mmrt_status mmrt_gguf_get_str(const mmrt_gguf *g, const char *key, const char **s, size_t *len,
                              bool *found, mmrt_error *err) {
    const gguf_kv *kv = NULL;
    MMRT_TRY(lookup(g, key, found, &kv, err));
    if (!kv) return MMRT_OK;
    if (kv->type != MMRT_GGUF_STRING) return mismatch(g, kv, "", "string", err);
    *len = (size_t)ld_le(kv->val, 8);
    *s = (const char *)kv->val + 8;
    return MMRT_OK;
}

mmrt_status mmrt_gguf_get_int(const mmrt_gguf *g, const char *key, int64_t *out, bool *found,
                              mmrt_error *err) {
    const gguf_kv *kv = NULL;
    MMRT_TRY(lookup(g, key, found, &kv, err));
    if (!kv) return MMRT_OK;
    if (!is_int_type(kv->type)) return mismatch(g, kv, "", "an integer", err);
    if (!load_int(kv->type, kv->val, out))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: key '%.256s': %" PRIu64
                              " does not fit in int64", g->path, key, ld_le(kv->val, 8));
    return MMRT_OK;
}

mmrt_status mmrt_gguf_get_float(const mmrt_gguf *g, const char *key, double *out, bool *found,
                                mmrt_error *err) {
    const gguf_kv *kv = NULL;
    MMRT_TRY(lookup(g, key, found, &kv, err));
    if (!kv) return MMRT_OK;
    if (kv->type != MMRT_GGUF_F32 && kv->type != MMRT_GGUF_F64)
        return mismatch(g, kv, "", "f32 or f64", err);
    *out = load_float(kv->type, kv->val);
    return MMRT_OK;
}

mmrt_status mmrt_gguf_get_bool(const mmrt_gguf *g, const char *key, bool *out, bool *found,
                               mmrt_error *err) {
    const gguf_kv *kv = NULL;
    MMRT_TRY(lookup(g, key, found, &kv, err));
    if (!kv) return MMRT_OK;
    if (kv->type != MMRT_GGUF_BOOL) return mismatch(g, kv, "", "bool", err);
    *out = kv->val[0] != 0;
    return MMRT_OK;
}

mmrt_status mmrt_gguf_get_arr(const mmrt_gguf *g, const char *key, size_t *index, bool *found,
                              mmrt_error *err) {
    const gguf_kv *kv = NULL;
    MMRT_TRY(lookup(g, key, found, &kv, err));
    if (!kv) return MMRT_OK;
    if (kv->type != MMRT_GGUF_ARRAY) return mismatch(g, kv, "", "array", err);
    *index = (size_t)(kv - g->kvs);
    return MMRT_OK;
}

/* ---- array elements ------------------------------------------------------------------------ */

/* *kv = array KV i; j checked against its count. */
static mmrt_status arr_elem(const mmrt_gguf *g, size_t i, uint64_t j, const gguf_kv **kv,
                            mmrt_error *err) {
    if (i >= g->n_kv)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: no key/value pair %zu (%zu pairs)",
                              g->path, i, g->n_kv);
    *kv = &g->kvs[i];
    if ((*kv)->type != MMRT_GGUF_ARRAY) return mismatch(g, *kv, "", "array", err);
    if (j >= (*kv)->count)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: key '%.256s': element %" PRIu64
                              " of %" PRIu64, g->path, (*kv)->key, j, (*kv)->count);
    return MMRT_OK;
}

mmrt_status mmrt_gguf_arr_str(const mmrt_gguf *g, size_t i, uint64_t j, const char **s, size_t *len,
                              mmrt_error *err) {
    const gguf_kv *kv = NULL;
    MMRT_TRY(arr_elem(g, i, j, &kv, err));
    if (kv->arr_type != MMRT_GGUF_STRING) return mismatch(g, kv, "'s element", "string", err);
    const uint8_t *p = kv->val + kv->str_off[j];
    *len = (size_t)ld_le(p, 8);
    *s = (const char *)p + 8;
    return MMRT_OK;
}

mmrt_status mmrt_gguf_arr_int(const mmrt_gguf *g, size_t i, uint64_t j, int64_t *out,
                              mmrt_error *err) {
    const gguf_kv *kv = NULL;
    MMRT_TRY(arr_elem(g, i, j, &kv, err));
    if (!is_int_type(kv->arr_type)) return mismatch(g, kv, "'s element", "an integer", err);
    const uint8_t *p = kv->val + j * type_size[kv->arr_type];
    if (!load_int(kv->arr_type, p, out))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: key '%.256s': element %" PRIu64
                              " = %" PRIu64 " does not fit in int64", g->path, kv->key, j,
                              ld_le(p, 8));
    return MMRT_OK;
}

mmrt_status mmrt_gguf_arr_float(const mmrt_gguf *g, size_t i, uint64_t j, double *out,
                                mmrt_error *err) {
    const gguf_kv *kv = NULL;
    MMRT_TRY(arr_elem(g, i, j, &kv, err));
    if (kv->arr_type != MMRT_GGUF_F32 && kv->arr_type != MMRT_GGUF_F64)
        return mismatch(g, kv, "'s element", "f32 or f64", err);
    *out = load_float(kv->arr_type, kv->val + j * type_size[kv->arr_type]);
    return MMRT_OK;
}
