/* safetensors reader: maps each file, validates its header completely, and indexes tensor names.
 * Contract in safetensors.h. */
#include "safetensors.h"

#include "fsutil.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char INDEX_NAME[] = "model.safetensors.index.json";
static const char SINGLE_NAME[] = "model.safetensors";

typedef struct st_file {
    char *path;
    void *map; /* NULL until mapped */
    size_t map_size;
} st_file;

struct mmrt_weights {
    char *path; /* as given to mmrt_weights_open */
    st_file *files;
    int n_files;
    mmrt_st_tensor *tensors; /* names are owned (malloc'd) */
    size_t n_tensors, cap_tensors;
    size_t *slots;   /* open-addressing hash index: tensor index + 1, 0 = empty */
    size_t n_slots;  /* power of two, at least twice n_tensors */
    cJSON *metadata; /* __metadata__ of files[0], detached from its header; NULL if none */
    struct kept { void *p; void (*free_fn)(void *); } *kept; /* mmrt_weights_keep, freed last */
    size_t n_kept;
};

/* ---- small helpers ----------------------------------------------------------------------- */

/* "[2, 3]" (or "[]" for a scalar) into buf. */
static const char *shape_str(char *buf, size_t cap, int n_dims, const int64_t *shape) {
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n_dims && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
    return buf;
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* mmrt's dtype names are the safetensors spellings ("F32", "BF16", "U8", ...); the block formats
 * come from GGUF files only. */
static bool dtype_parse(const char *s, mmrt_dtype *out) {
    for (int t = 0; t <= MMRT_U8; t++)
        if (strcmp(s, mmrt_dtype_name((mmrt_dtype)t)) == 0) {
            *out = (mmrt_dtype)t;
            return true;
        }
    return false;
}

/* ---- mapping ----------------------------------------------------------------------------- */

static mmrt_status file_map(st_file *f, mmrt_error *err) {
    void *map = NULL;
    size_t size = 0;
    MMRT_TRY(mmrt_fs_map_file(f->path, ".safetensors", &map, &size, err));
    f->map = map;
    f->map_size = size;
    if (size < 8)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: file is %zu bytes, too short for the 8-byte header length",
                              f->path, size);
    return MMRT_OK;
}

/* ---- header parsing ---------------------------------------------------------------------- */

typedef struct header_ctx {
    const char *path;
    const unsigned char *data; /* start of the data section */
    size_t data_size;
} header_ctx;

static mmrt_status push_tensor(mmrt_weights *w, const mmrt_st_tensor *t, mmrt_error *err) {
    if (w->n_tensors == w->cap_tensors) {
        size_t ncap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        mmrt_st_tensor *nt = realloc(w->tensors, ncap * sizeof *nt);
        if (!nt) return mmrt_error_oom(err, ncap * sizeof *nt, "tensor records");
        w->tensors = nt;
        w->cap_tensors = ncap;
    }
    w->tensors[w->n_tensors++] = *t;
    return MMRT_OK;
}

/* Reads data_offsets[i] as a non-negative exact integer. */
static mmrt_status offset_at(const header_ctx *h, const char *name, const cJSON *offs, int i,
                             uint64_t *out, mmrt_error *err) {
    int64_t v;
    if (!mmrt_json_exact_int(cJSON_GetArrayItem(offs, i), &v) || v < 0)
        return mmrt_error_set(
            err, MMRT_ERR_BAD_FORMAT,
            "%s: tensor \"%.256s\": data_offsets[%d] is not a non-negative integer", h->path, name,
            i);
    *out = (uint64_t)v;
    return MMRT_OK;
}

/* Validates one header entry and fills t (name not yet copied). */
static mmrt_status parse_entry(const header_ctx *h, const cJSON *e, mmrt_st_tensor *t,
                               mmrt_error *err) {
    const char *name = e->string;
    char label[MMRT_ERROR_MSG_MAX];
    snprintf(label, sizeof label, "%s: tensor \"%.256s\"", h->path, name);
    if (!cJSON_IsObject(e))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: entry is not a JSON object", label);

    const char *dtype_s;
    MMRT_TRY(mmrt_json_get_string(e, "dtype", true, &dtype_s, label, err));
    if (!dtype_parse(dtype_s, &t->dtype))
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: dtype %.32s is not supported (mmrt reads F32, F16, BF16, I32, "
                              "I64, U8)",
                              label, dtype_s);

    const cJSON *shape = mmrt_json_find(e, "shape");
    if (!shape)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: missing field \"shape\"", label);
    if (!cJSON_IsArray(shape))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: \"shape\" is not a list", label);
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > MMRT_MAX_DIMS)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: has %d dimensions, mmrt supports at most %d", label, n_dims,
                              MMRT_MAX_DIMS);
    t->n_dims = n_dims;
    uint64_t n_elem = 1;
    bool overflow = false;
    for (int i = 0; i < MMRT_MAX_DIMS; i++) {
        if (i >= n_dims) {
            t->shape[i] = 1;
            continue;
        }
        int64_t d;
        if (!mmrt_json_exact_int(cJSON_GetArrayItem(shape, i), &d) || d < 0)
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "%s: shape[%d] is not a non-negative integer", label, i);
        t->shape[i] = d;
        overflow |= __builtin_mul_overflow(n_elem, (uint64_t)d, &n_elem);
    }
    char sbuf[128];
    uint64_t n_bytes;
    /* A 0 dim makes the product 0 even after an earlier overflow: an empty tensor is fine. */
    bool has_zero = false;
    for (int i = 0; i < n_dims; i++) has_zero |= t->shape[i] == 0;
    if (has_zero) {
        n_elem = 0;
        overflow = false;
    }
    if (overflow || __builtin_mul_overflow(n_elem, (uint64_t)mmrt_dtype_size(t->dtype), &n_bytes))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: shape %s: element count overflows",
                              label, shape_str(sbuf, sizeof sbuf, n_dims, t->shape));

    const cJSON *offs = mmrt_json_find(e, "data_offsets");
    if (!offs)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: missing field \"data_offsets\"",
                              label);
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: data_offsets must be a list of two integers", label);
    uint64_t begin = 0, end = 0;
    MMRT_TRY(offset_at(h, name, offs, 0, &begin, err));
    MMRT_TRY(offset_at(h, name, offs, 1, &end, err));
    if (begin > end)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: data_offsets [%" PRIu64 ", %" PRIu64 "] are decreasing", label,
                              begin, end);
    if (end > h->data_size)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: data_offsets [%" PRIu64 ", %" PRIu64
                              "] end beyond the data section (%zu bytes)",
                              label, begin, end, h->data_size);
    if (end - begin != n_bytes)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                              " bytes but shape %s of %s needs %" PRIu64 " bytes (size mismatch)",
                              label, begin, end, end - begin,
                              shape_str(sbuf, sizeof sbuf, n_dims, t->shape),
                              mmrt_dtype_name(t->dtype), n_bytes);
    t->data = h->data + begin;
    t->n_bytes = (size_t)n_bytes;
    return MMRT_OK;
}

static int cmp_by_data(const void *pa, const void *pb) {
    const mmrt_st_tensor *a = pa, *b = pb;
    uintptr_t x = (uintptr_t)a->data, y = (uintptr_t)b->data;
    if (x != y) return x < y ? -1 : 1;
    if (a->n_bytes != b->n_bytes) return a->n_bytes < b->n_bytes ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Sorts one file's tensors by offset and rejects any two whose byte ranges intersect (empty
 * tensors occupy no bytes and never overlap). Offsets within the data section were checked
 * already; overlapping tensors would alias each other's weights. */
static mmrt_status check_overlaps(const header_ctx *h, mmrt_st_tensor *ts, size_t n,
                                  mmrt_error *err) {
    qsort(ts, n, sizeof *ts, cmp_by_data);
    const mmrt_st_tensor *prev = NULL; /* the non-empty tensor reaching furthest so far */
    for (size_t i = 0; i < n; i++) {
        const mmrt_st_tensor *t = &ts[i];
        if (t->n_bytes == 0) continue;
        size_t b = (size_t)((const unsigned char *)t->data - h->data);
        if (prev) {
            size_t pb = (size_t)((const unsigned char *)prev->data - h->data);
            if (b < pb + prev->n_bytes)
                return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                      "%s: tensors \"%.256s\" (bytes [%zu, %zu)) and \"%.256s\" "
                                      "(bytes [%zu, %zu)) overlap",
                                      h->path, prev->name, pb, pb + prev->n_bytes, t->name, b,
                                      b + t->n_bytes);
            if (b + t->n_bytes <= pb + prev->n_bytes) continue;
        }
        prev = t;
    }
    return MMRT_OK;
}

static bool is_string_object(const cJSON *o) {
    if (!cJSON_IsObject(o)) return false;
    for (const cJSON *c = o->child; c; c = c->next)
        if (!cJSON_IsString(c)) return false;
    return true;
}

/* Parses and validates the header of mapped file w->files[fi], appending its tensors. */
static mmrt_status parse_file(mmrt_weights *w, int fi, mmrt_error *err) {
    const st_file *f = &w->files[fi];
    const unsigned char *base = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | base[i]; /* little-endian on any host */
    if (hlen == 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: header length is 0", f->path);
    if (hlen > MMRT_ST_MAX_HEADER_BYTES)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: header length %" PRIu64 " is over the %" PRIu64
                              "-byte limit (not a safetensors file?)",
                              f->path, hlen, MMRT_ST_MAX_HEADER_BYTES);
    if (hlen > f->map_size - 8)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: header length %" PRIu64 " exceeds the file size (%zu bytes)",
                              f->path, hlen, f->map_size);
    header_ctx h = {
        .path = f->path, .data = base + 8 + hlen, .data_size = f->map_size - 8 - (size_t)hlen};

    char label[MMRT_ERROR_MSG_MAX];
    snprintf(label, sizeof label, "%s: header", f->path);
    cJSON *root;
    MMRT_TRY(mmrt_json_parse((const char *)base + 8, (size_t)hlen, label, &root, err));
    mmrt_status status = MMRT_OK;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: header is not a JSON object", f->path);
    }
    size_t first = w->n_tensors;
    for (cJSON *e = root->child, *next; e && status == MMRT_OK; e = next) {
        next = e->next;
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!is_string_object(e)) {
                status =
                    mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                   "%s: \"__metadata__\" must be an object of strings", f->path);
            } else if (fi == 0 && !w->metadata) {
                w->metadata = cJSON_DetachItemViaPointer(root, e);
            }
            continue;
        }
        mmrt_st_tensor t = {.file = f->path};
        status = parse_entry(&h, e, &t, err);
        if (status != MMRT_OK) break;
        char *name = strdup(e->string);
        if (!name) {
            status = mmrt_error_oom(err, strlen(e->string) + 1, "tensor name");
            break;
        }
        t.name = name;
        status = push_tensor(w, &t, err);
        if (status != MMRT_OK) free(name);
    }
    cJSON_Delete(root);
    if (status != MMRT_OK) return status;
    if (w->n_tensors - first < 2) return MMRT_OK; /* (w->tensors may still be NULL) */
    return check_overlaps(&h, w->tensors + first, w->n_tensors - first, err);
}

/* ---- name index -------------------------------------------------------------------------- */

/* Builds the hash index; two tensors with one name (in one header, which cJSON keeps, or in two
 * shards) are an error, since a lookup could only ever return one of them. */
static mmrt_status build_index(mmrt_weights *w, mmrt_error *err) {
    size_t n_slots = 16;
    while (n_slots < 2 * w->n_tensors) n_slots *= 2;
    w->slots = calloc(n_slots, sizeof *w->slots);
    if (!w->slots) return mmrt_error_oom(err, n_slots * sizeof *w->slots, "tensor name index");
    w->n_slots = n_slots;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const mmrt_st_tensor *t = &w->tensors[i];
        size_t s = (size_t)hash_name(t->name) & (n_slots - 1);
        for (; w->slots[s]; s = (s + 1) & (n_slots - 1)) {
            const mmrt_st_tensor *o = &w->tensors[w->slots[s] - 1];
            if (strcmp(o->name, t->name) != 0) continue;
            if (o->file == t->file)
                return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: duplicate tensor \"%.256s\"",
                                      t->file, t->name);
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "duplicate tensor \"%.256s\": in both %s and %s", t->name,
                                  o->file, t->file);
        }
        w->slots[s] = i + 1;
    }
    return MMRT_OK;
}

const mmrt_st_tensor *mmrt_weights_find(const mmrt_weights *w, const char *name) {
    if (!w || !name || !w->n_slots) return NULL;
    for (size_t s = (size_t)hash_name(name) & (w->n_slots - 1); w->slots[s];
         s = (s + 1) & (w->n_slots - 1)) {
        const mmrt_st_tensor *t = &w->tensors[w->slots[s] - 1];
        if (strcmp(t->name, name) == 0) return t;
    }
    return NULL;
}

/* ---- opening ----------------------------------------------------------------------------- */

/* Maps and parses files[0..n_files) (paths already set), then indexes all tensors. */
static mmrt_status load_files(mmrt_weights *w, mmrt_error *err) {
    for (int i = 0; i < w->n_files; i++) {
        MMRT_TRY(file_map(&w->files[i], err));
        MMRT_TRY(parse_file(w, i, err));
    }
    return build_index(w, err);
}

static mmrt_status alloc_files(mmrt_weights *w, int n, mmrt_error *err) {
    w->files = calloc((size_t)n, sizeof *w->files);
    if (!w->files) return mmrt_error_oom(err, (size_t)n * sizeof *w->files, "file table");
    w->n_files = n;
    return MMRT_OK;
}

/* A shard name must stay inside the model directory: relative, no ".." component. */
static bool shard_name_ok(const char *s) {
    if (!*s || *s == '/') return false;
    for (const char *p = s; *p;) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return false;
        p += len + (q != NULL);
    }
    return true;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks that each weight_map entry is held by the shard it names. */
static mmrt_status check_weight_map(const mmrt_weights *w, const char *dir, const char *index_path,
                                    const cJSON *map, mmrt_error *err) {
    for (const cJSON *e = map->child; e; e = e->next) {
        const mmrt_st_tensor *t = mmrt_weights_find(w, e->string);
        char *want = mmrt_fs_path_join(dir, e->valuestring);
        if (!want) return mmrt_error_oom(err, strlen(dir) + strlen(e->valuestring) + 2, "path");
        mmrt_status st = MMRT_OK;
        if (!t)
            st = mmrt_error_set(err, MMRT_ERR_MODEL,
                                "%s: tensor \"%.256s\" is listed in weight_map but missing from "
                                "its shard %s",
                                index_path, e->string, want);
        else if (strcmp(t->file, want) != 0)
            st = mmrt_error_set(err, MMRT_ERR_MODEL,
                                "%s: tensor \"%.256s\" is listed in weight_map for shard %s but is "
                                "missing from it (found in %s)",
                                index_path, e->string, want, t->file);
        free(want);
        if (st != MMRT_OK) return st;
    }
    return MMRT_OK;
}

static mmrt_status open_sharded(mmrt_weights *w, const char *dir, const char *index_path,
                                mmrt_error *err) {
    cJSON *index;
    MMRT_TRY(mmrt_json_load_file(index_path, &index, err));
    const cJSON *map = NULL;
    const char **names = NULL;
    mmrt_status st = mmrt_json_get_object(index, "weight_map", true, &map, index_path, err);
    int n = st == MMRT_OK ? cJSON_GetArraySize(map) : 0;
    if (st == MMRT_OK && n == 0)
        st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: weight_map is empty", index_path);
    if (st == MMRT_OK && !(names = malloc((size_t)n * sizeof *names)))
        st = mmrt_error_oom(err, (size_t)n * sizeof *names, "shard list");
    int n_names = 0;
    for (const cJSON *e = st == MMRT_OK ? map->child : NULL; e; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring) {
            st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                "%s: weight_map entry \"%.256s\" must be a file name string",
                                index_path, e->string);
            break;
        }
        if (!shard_name_ok(e->valuestring)) {
            st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                "%s: weight_map entry \"%.256s\": shard \"%.256s\" is not a "
                                "relative path inside the model directory",
                                index_path, e->string, e->valuestring);
            break;
        }
        names[n_names++] = e->valuestring;
    }
    /* Sorted and deduplicated so each shard is mapped once and the order (and thus which file's
     * __metadata__ is reported) does not depend on the order of weight_map. */
    int n_unique = 0;
    if (st == MMRT_OK) {
        qsort(names, (size_t)n_names, sizeof *names, cmp_str);
        for (int i = 0; i < n_names; i++)
            if (n_unique == 0 || strcmp(names[n_unique - 1], names[i]) != 0)
                names[n_unique++] = names[i];
        st = alloc_files(w, n_unique, err);
    }
    for (int i = 0; i < n_unique && st == MMRT_OK; i++) {
        w->files[i].path = mmrt_fs_path_join(dir, names[i]);
        if (!w->files[i].path) st = mmrt_error_oom(err, strlen(dir) + strlen(names[i]) + 2, "path");
    }
    if (st == MMRT_OK) st = load_files(w, err);
    if (st == MMRT_OK) st = check_weight_map(w, dir, index_path, map, err);
    free(names);
    cJSON_Delete(index);
    return st;
}

static mmrt_status open_dir(mmrt_weights *w, const char *dir, mmrt_error *err) {
    char *index_path = mmrt_fs_path_join(dir, INDEX_NAME);
    if (!index_path) return mmrt_error_oom(err, strlen(dir) + sizeof INDEX_NAME + 1, "path");
    struct stat st;
    if (stat(index_path, &st) == 0) {
        mmrt_status s = open_sharded(w, dir, index_path, err);
        free(index_path);
        return s;
    }
    free(index_path);
    MMRT_TRY(alloc_files(w, 1, err));
    w->files[0].path = mmrt_fs_path_join(dir, SINGLE_NAME);
    if (!w->files[0].path) return mmrt_error_oom(err, strlen(dir) + sizeof SINGLE_NAME + 1, "path");
    if (stat(w->files[0].path, &st) != 0 && errno == ENOENT)
        return mmrt_error_set(err, MMRT_ERR_IO,
                              "%s: no %s or %s in this directory (not a safetensors model "
                              "directory?)",
                              dir, INDEX_NAME, SINGLE_NAME);
    return load_files(w, err);
}

mmrt_status mmrt_weights_open(const char *path, mmrt_weights **out, mmrt_error *err) {
    *out = NULL;
    if (!path) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_weights_open: path is NULL");
    mmrt_weights *w = calloc(1, sizeof *w);
    if (!w) return mmrt_error_oom(err, sizeof *w, "weights");
    mmrt_status st = MMRT_OK;
    if (!(w->path = strdup(path))) st = mmrt_error_oom(err, strlen(path) + 1, "path");
    struct stat sb;
    if (st == MMRT_OK && stat(path, &sb) != 0)
        st = mmrt_error_set(err, MMRT_ERR_IO, "%s: %s", path, strerror(errno));
    if (st == MMRT_OK && S_ISDIR(sb.st_mode)) {
        st = open_dir(w, path, err);
    } else if (st == MMRT_OK) {
        st = alloc_files(w, 1, err);
        if (st == MMRT_OK && !(w->files[0].path = strdup(path)))
            st = mmrt_error_oom(err, strlen(path) + 1, "path");
        if (st == MMRT_OK) st = load_files(w, err);
    }
    if (st != MMRT_OK) {
        mmrt_weights_free(w);
        return st;
    }
    *out = w;
    return MMRT_OK;
}

void mmrt_weights_free(mmrt_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n_files; i++) {
        if (w->files[i].map) munmap(w->files[i].map, w->files[i].map_size);
        free(w->files[i].path);
    }
    for (size_t i = 0; i < w->n_tensors; i++) free((char *)w->tensors[i].name);
    free(w->files);
    free(w->tensors);
    free(w->slots);
    cJSON_Delete(w->metadata);
    for (size_t i = w->n_kept; i-- > 0;) w->kept[i].free_fn(w->kept[i].p);
    free(w->kept);
    free(w->path);
    free(w);
}

/* ---- weights of another container ----------------------------------------------------------- */

mmrt_status mmrt_weights_new(const char *path, mmrt_weights **out, mmrt_error *err) {
    *out = NULL;
    mmrt_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return mmrt_error_oom(err, sizeof *w + strlen(path), "weights");
    }
    *out = w;
    return MMRT_OK;
}

mmrt_status mmrt_weights_add(mmrt_weights *w, const char *name, mmrt_dtype dtype, int n_dims, const int64_t *shape,
                             const void *data, size_t n_bytes, mmrt_error *err) {
    MMRT_ASSERT(!w->slots && n_dims >= 0 && n_dims <= MMRT_MAX_DIMS);
    mmrt_st_tensor t = {.dtype = dtype, .n_dims = n_dims, .data = data, .n_bytes = n_bytes, .file = w->path};
    for (int i = 0; i < MMRT_MAX_DIMS; i++) t.shape[i] = i < n_dims ? shape[i] : 1;
    if (!(t.name = strdup(name))) return mmrt_error_oom(err, strlen(name) + 1, "tensor name");
    mmrt_status st = push_tensor(w, &t, err);
    if (st != MMRT_OK) free((char *)t.name);
    return st;
}

mmrt_status mmrt_weights_keep(mmrt_weights *w, void *p, void (*free_fn)(void *), mmrt_error *err) {
    struct kept *k = realloc(w->kept, (w->n_kept + 1) * sizeof *k);
    if (!k) {
        free_fn(p);
        return mmrt_error_oom(err, (w->n_kept + 1) * sizeof *k, "weights resources");
    }
    w->kept = k;
    w->kept[w->n_kept++] = (struct kept){p, free_fn};
    return MMRT_OK;
}

mmrt_status mmrt_weights_finish(mmrt_weights *w, mmrt_error *err) { return build_index(w, err); }

/* ---- queries ----------------------------------------------------------------------------- */

const char *mmrt_weights_path(const mmrt_weights *w) { return w ? w->path : NULL; }

size_t mmrt_weights_count(const mmrt_weights *w) { return w ? w->n_tensors : 0; }

const mmrt_st_tensor *mmrt_weights_at(const mmrt_weights *w, size_t i) {
    return w && i < w->n_tensors ? &w->tensors[i] : NULL;
}

mmrt_status mmrt_weights_get_typed(const mmrt_weights *w, const char *name, uint32_t dtypes, int n_dims,
                                   const int64_t *shape, const mmrt_st_tensor **out, mmrt_error *err) {
    *out = NULL;
    if (!w || !name || n_dims < 0 || n_dims > MMRT_MAX_DIMS || (n_dims > 0 && !shape))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "mmrt_weights_get: bad arguments for tensor \"%.256s\"",
                              name ? name : "(null)");
    char want[128], got[128];
    shape_str(want, sizeof want, n_dims, shape);
    const mmrt_st_tensor *t = mmrt_weights_find(w, name);
    if (!t)
        return mmrt_error_set(err, MMRT_ERR_MODEL,
                              "%s: tensor \"%.256s\" not found (expected shape %s)", w->path, name,
                              want);
    if (!(dtypes & (1u << t->dtype))) {
        char list[64] = "";
        for (int d = 0; d < MMRT_DTYPE_COUNT; d++)
            if (dtypes & (1u << d))
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "",
                         mmrt_dtype_name((mmrt_dtype)d));
        return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: tensor \"%.256s\" has dtype %s, expected %s%s%s",
                              t->file, name, mmrt_dtype_name(t->dtype),
                              dtypes == MMRT_DTYPES_FLOAT ? "a float type (" : "", list,
                              dtypes == MMRT_DTYPES_FLOAT ? ")" : "");
    }
    bool same = t->n_dims == n_dims;
    for (int i = 0; same && i < n_dims; i++) same = t->shape[i] == shape[i];
    if (!same)
        return mmrt_error_set(err, MMRT_ERR_MODEL,
                              "%s: tensor \"%.256s\" has shape %s, expected %s", t->file, name,
                              shape_str(got, sizeof got, t->n_dims, t->shape), want);
    *out = t;
    return MMRT_OK;
}

mmrt_status mmrt_weights_get(const mmrt_weights *w, const char *name, int n_dims,
                             const int64_t *shape, const mmrt_st_tensor **out, mmrt_error *err) {
    return mmrt_weights_get_typed(w, name, MMRT_DTYPES_FLOAT, n_dims, shape, out, err);
}

const char *mmrt_weights_metadata(const mmrt_weights *w, const char *key) {
    if (!w || !key) return NULL;
    const cJSON *v = mmrt_json_find(w->metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

mmrt_status mmrt_weights_bind(const mmrt_weights *w, const char *name, int64_t rows, int64_t cols,
                              mmrt_tensor *out, size_t *bytes, mmrt_error *err) {
    const mmrt_st_tensor *st;
    MMRT_TRY(mmrt_weights_get(w, name, rows ? 2 : 1, (int64_t[]){rows ? rows : cols, cols}, &st, err));
    *out = rows ? mmrt_tensor_2d(st->dtype, (void *)st->data, cols, rows)
                : mmrt_tensor_1d(st->dtype, (void *)st->data, cols);
    if (bytes) *bytes += st->n_bytes;
    return MMRT_OK;
}
