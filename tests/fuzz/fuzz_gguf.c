/* libFuzzer target: the GGUF reader and writer (core/gguf.h).
 *
 * Input: any bytes, written as one .gguf file and opened by path. When the open succeeds the
 * contract is checked against the input itself: every tensor's dims, type, byte size, alignment
 * and data (exactly the input's bytes at data_offset + offset, inside the input), no two tensors
 * overlapping, name and key lookups finding each entry, every value readable through the getter
 * of its type and refused by the others. Then every pair (mmrt_gguf_writer_copy_kv) and every
 * tensor are written to a second file with mmrt_gguf_writer and read back: the same pairs and
 * tensors, the same bytes.
 */
#include "fuzz_common.h"

#include "core/gguf.h"

#include <stdlib.h>

/* Elements of an array read per KV: the first few and the last (arrays can be long). */
#define ARR_PROBE 8

static void check_tensors(const mmrt_gguf *g, const uint8_t *data, size_t size) {
    size_t n = mmrt_gguf_tensor_count(g);
    uint32_t align = mmrt_gguf_alignment(g);
    uint64_t base = mmrt_gguf_data_offset(g);
    FUZZ_CHECK(align && (align & (align - 1)) == 0 && base % align == 0);
    FUZZ_CHECK(mmrt_gguf_tensor_at(g, n) == NULL);
    for (size_t i = 0; i < n; i++) {
        const mmrt_gguf_tensor *t = mmrt_gguf_tensor_at(g, i);
        FUZZ_CHECK(t && t->name && t->name[0] && mmrt_gguf_find_tensor(g, t->name) == t);
        const mmrt_qtype_info *q = mmrt_qtype_get((uint32_t)t->type);
        FUZZ_CHECK(q && t->n_dims >= 1 && t->n_dims <= MMRT_GGUF_MAX_DIMS);
        size_t bytes = mmrt_qtype_row_bytes(t->type, t->ne[0]);
        for (int d = 0; d < MMRT_GGUF_MAX_DIMS; d++) {
            FUZZ_CHECK(t->ne[d] >= 1 && (d < t->n_dims || t->ne[d] == 1));
            if (d > 0) FUZZ_CHECK(!__builtin_mul_overflow(bytes, (size_t)t->ne[d], &bytes));
        }
        FUZZ_CHECK(bytes == t->n_bytes && bytes > 0);
        FUZZ_CHECK(t->offset % align == 0);
        FUZZ_CHECK(base + t->offset <= size && t->n_bytes <= size - base - t->offset);
        FUZZ_CHECK(memcmp(t->data, data + base + t->offset, t->n_bytes) == 0);
        for (size_t j = 0; j < i; j++) { /* inputs are small: pairwise is fine */
            const mmrt_gguf_tensor *u = mmrt_gguf_tensor_at(g, j);
            FUZZ_CHECK(t->offset + t->n_bytes <= u->offset || u->offset + u->n_bytes <= t->offset);
            FUZZ_CHECK(strcmp(t->name, u->name) != 0);
        }
    }
}

/* An integer getter on a value of type t: succeeds for the integer types except a u64 above
 * INT64_MAX, which is refused like every other type. */
static void check_int_result(mmrt_status st, const mmrt_error *err, mmrt_gguf_type t) {
    bool is_int = t <= MMRT_GGUF_I32 || t == MMRT_GGUF_U64 || t == MMRT_GGUF_I64;
    if (st == MMRT_OK) {
        FUZZ_CHECK(is_int);
        return;
    }
    fuzz_check_error(st, err);
    FUZZ_CHECK(st == MMRT_ERR_BAD_FORMAT && (!is_int || t == MMRT_GGUF_U64));
}

static void read_all(const char *s, size_t len) {
    const volatile char *p = s;
    for (size_t k = 0; k < len; k++) (void)p[k];
}

/* Element j of array KV i through every getter: exactly the one of its type succeeds. */
static void probe_elem(const mmrt_gguf *g, size_t i, uint64_t j, mmrt_gguf_type et) {
    mmrt_error err = {0};
    const char *s;
    size_t len;
    int64_t v;
    double f;
    mmrt_status st = mmrt_gguf_arr_str(g, i, j, &s, &len, &err);
    FUZZ_CHECK((st == MMRT_OK) == (et == MMRT_GGUF_STRING));
    if (st == MMRT_OK)
        read_all(s, len);
    else
        fuzz_check_error(st, &err);
    st = mmrt_gguf_arr_int(g, i, j, &v, &err);
    check_int_result(st, &err, et);
    st = mmrt_gguf_arr_float(g, i, j, &f, &err);
    FUZZ_CHECK((st == MMRT_OK) == (et == MMRT_GGUF_F32 || et == MMRT_GGUF_F64));
    if (st != MMRT_OK) fuzz_check_error(st, &err);
}

static void check_kv(const mmrt_gguf *g, size_t i) {
    const char *key = mmrt_gguf_kv_key(g, i);
    FUZZ_CHECK(key && key[0] && mmrt_gguf_find_key(g, key) == (int64_t)i);
    mmrt_gguf_type t = mmrt_gguf_kv_type(g, i);
    FUZZ_CHECK((unsigned)t < MMRT_GGUF_TYPE_COUNT);
    mmrt_error err = {0};
    const char *s;
    size_t len, index;
    int64_t v;
    double f;
    bool b, found = false;
    mmrt_status st = mmrt_gguf_get_str(g, key, &s, &len, &found, &err);
    FUZZ_CHECK(found && (st == MMRT_OK) == (t == MMRT_GGUF_STRING));
    if (st == MMRT_OK) read_all(s, len);
    st = mmrt_gguf_get_float(g, key, &f, NULL, &err);
    FUZZ_CHECK((st == MMRT_OK) == (t == MMRT_GGUF_F32 || t == MMRT_GGUF_F64));
    st = mmrt_gguf_get_bool(g, key, &b, NULL, &err);
    FUZZ_CHECK((st == MMRT_OK) == (t == MMRT_GGUF_BOOL));
    check_int_result(mmrt_gguf_get_int(g, key, &v, NULL, &err), &err, t);
    st = mmrt_gguf_get_arr(g, key, &index, NULL, &err);
    FUZZ_CHECK((st == MMRT_OK) == (t == MMRT_GGUF_ARRAY));
    if (st != MMRT_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(mmrt_gguf_arr_type(g, i) == MMRT_GGUF_TYPE_COUNT);
        FUZZ_CHECK(mmrt_gguf_arr_count(g, i) == 0);
        return;
    }
    FUZZ_CHECK(index == i);
    uint64_t count = mmrt_gguf_arr_count(g, i);
    mmrt_gguf_type et = mmrt_gguf_arr_type(g, i);
    FUZZ_CHECK((unsigned)et < MMRT_GGUF_TYPE_COUNT);
    for (uint64_t j = 0; j < count && j < ARR_PROBE; j++) probe_elem(g, i, j, et);
    if (count > ARR_PROBE) probe_elem(g, i, count - 1, et);
    st = mmrt_gguf_arr_int(g, i, count, &v, &err);
    fuzz_check_error(st, &err);
}

/* Writes the pairs and tensors of g with the writer, reads the file back, compares. */
static void rewrite(const mmrt_gguf *g) {
    mmrt_gguf_writer *w = NULL;
    mmrt_error err = {0};
    FUZZ_CHECK(mmrt_gguf_writer_new(&w, &err) == MMRT_OK);
    size_t n_kv = mmrt_gguf_kv_count(g);
    for (size_t i = 0; i < n_kv; i++)
        FUZZ_CHECK(mmrt_gguf_writer_copy_kv(w, g, i, &err) == MMRT_OK);
    size_t n = mmrt_gguf_tensor_count(g);
    for (size_t i = 0; i < n; i++) {
        const mmrt_gguf_tensor *t = mmrt_gguf_tensor_at(g, i);
        FUZZ_CHECK(mmrt_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data,
                                               &err) == MMRT_OK);
    }
    char path[8192];
    fuzz_path(path, sizeof path, "rewritten.gguf");
    mmrt_status st = mmrt_gguf_writer_write(w, path, &err);
    mmrt_gguf_writer_free(w);
    FUZZ_CHECK(st == MMRT_OK);
    mmrt_gguf *r = NULL;
    st = mmrt_gguf_open(path, &r, &err);
    fuzz_note("reopen", st, &err);
    FUZZ_CHECK(st == MMRT_OK && mmrt_gguf_tensor_count(r) == n);
    FUZZ_CHECK(mmrt_gguf_alignment(r) == mmrt_gguf_alignment(g));
    FUZZ_CHECK(mmrt_gguf_kv_count(r) == n_kv);
    for (size_t i = 0; i < n_kv; i++) {
        size_t na, nb;
        const void *a = mmrt_gguf_kv_raw(g, i, &na), *b = mmrt_gguf_kv_raw(r, i, &nb);
        FUZZ_CHECK(strcmp(mmrt_gguf_kv_key(g, i), mmrt_gguf_kv_key(r, i)) == 0);
        FUZZ_CHECK(mmrt_gguf_kv_type(g, i) == mmrt_gguf_kv_type(r, i));
        FUZZ_CHECK(na == nb && memcmp(a, b, na) == 0);
    }
    for (size_t i = 0; i < n; i++) {
        const mmrt_gguf_tensor *a = mmrt_gguf_tensor_at(g, i), *b = mmrt_gguf_tensor_at(r, i);
        FUZZ_CHECK(strcmp(a->name, b->name) == 0 && a->type == b->type && a->n_dims == b->n_dims);
        FUZZ_CHECK(memcmp(a->ne, b->ne, sizeof a->ne) == 0 && a->n_bytes == b->n_bytes);
        FUZZ_CHECK(memcmp(a->data, b->data, a->n_bytes) == 0);
    }
    mmrt_gguf_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[8192];
    fuzz_write(path, sizeof path, "input.gguf", data, size);
    mmrt_gguf *g = (mmrt_gguf *)1;
    mmrt_error err = {0};
    mmrt_status st = mmrt_gguf_open(path, &g, &err);
    fuzz_note("mmrt_gguf_open", st, &err);
    if (st != MMRT_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(g == NULL && strstr(err.msg, path) != NULL);
        return 0;
    }
    FUZZ_CHECK(mmrt_gguf_version(g) == 2 || mmrt_gguf_version(g) == 3);
    check_tensors(g, data, size);
    size_t n_kv = mmrt_gguf_kv_count(g);
    FUZZ_CHECK(mmrt_gguf_kv_key(g, n_kv) == NULL);
    for (size_t i = 0; i < n_kv; i++) check_kv(g, i);
    rewrite(g);
    mmrt_gguf_free(g);
    return 0;
}
