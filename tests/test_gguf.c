/* GGUF reader and writer (core/gguf.h): files written by llama.cpp's gguf-py read correctly, the
 * writer round-trips every kind it writes at alignments 32 and 64, every hostile file built here is
 * refused with the right status and a message naming the file and the problem, and a file
 * truncated anywhere is refused. */
#include "core/gguf.h"
#include "helpers/tmpdir.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *g_dir; /* a fresh directory per test (Criterion forks per test) */

static void setup(void) { g_dir = tmpdir_make("gguf"); }
static void teardown(void) { tmpdir_remove(g_dir); }

TestSuite(gguf, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------------------------- */

static mmrt_gguf *open_ok(const char *path) {
    mmrt_gguf *g = NULL;
    mmrt_error err = {0};
    mmrt_status st = mmrt_gguf_open(path, &g, &err);
    cr_assert_eq(st, MMRT_OK, "opening %s: %s", path, err.msg);
    cr_assert(g != NULL);
    return g;
}

static mmrt_gguf *open_fixture(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/gguf/%s", MMRT_FIXTURES_DIR, name);
    return open_ok(path);
}

static int64_t get_int(const mmrt_gguf *g, const char *key) {
    int64_t v = 0;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_get_int(g, key, &v, NULL, &err), MMRT_OK, "%s: %s", key, err.msg);
    return v;
}

static double get_float(const mmrt_gguf *g, const char *key) {
    double v = 0;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_get_float(g, key, &v, NULL, &err), MMRT_OK, "%s: %s", key, err.msg);
    return v;
}

/* Asserts that key is a string equal to want (want_len bytes). */
static void expect_str(const mmrt_gguf *g, const char *key, const char *want, size_t want_len) {
    const char *s = NULL;
    size_t len = 0;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_get_str(g, key, &s, &len, NULL, &err), MMRT_OK, "%s: %s", key, err.msg);
    cr_assert(len == want_len && memcmp(s, want, len) == 0, "%s: got \"%.*s\", expected \"%s\"",
              key, (int)len, s, want);
}

static size_t get_arr(const mmrt_gguf *g, const char *key, mmrt_gguf_type et, uint64_t count) {
    size_t i = 0;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_get_arr(g, key, &i, NULL, &err), MMRT_OK, "%s: %s", key, err.msg);
    cr_assert_eq(mmrt_gguf_arr_type(g, i), et, "%s: element type %d", key,
                 mmrt_gguf_arr_type(g, i));
    cr_assert_eq(mmrt_gguf_arr_count(g, i), count, "%s: count", key);
    return i;
}

/* Asserts tensor name has type, n_dims and ne[0..n_dims) and returns it. */
static const mmrt_gguf_tensor *expect_tensor(const mmrt_gguf *g, const char *name, mmrt_qtype type,
                                             int n_dims, const int64_t *ne) {
    const mmrt_gguf_tensor *t = mmrt_gguf_find_tensor(g, name);
    cr_assert(t != NULL, "tensor %s missing", name);
    cr_assert_str_eq(t->name, name);
    cr_assert_eq(t->type, type, "%s: type %d, expected %d", name, t->type, type);
    cr_assert_eq(t->n_dims, n_dims, "%s: n_dims %d", name, t->n_dims);
    for (int d = 0; d < MMRT_GGUF_MAX_DIMS; d++)
        cr_assert_eq(t->ne[d], d < n_dims ? ne[d] : 1, "%s: ne[%d] = %lld", name, d,
                     (long long)t->ne[d]);
    cr_assert_eq(t->offset % mmrt_gguf_alignment(g), 0, "%s: offset %llu", name,
                 (unsigned long long)t->offset);
    cr_assert_eq((uintptr_t)t->data % mmrt_gguf_alignment(g), 0, "%s: data not aligned", name);
    return t;
}

/* Asserts that the bytes of t are (i * mul + add) & 255 (the fixture script's pattern). */
static void expect_pattern(const mmrt_gguf_tensor *t, size_t n, unsigned mul, unsigned add) {
    cr_assert_eq(t->n_bytes, n, "%s: %zu bytes, expected %zu", t->name, t->n_bytes, n);
    const uint8_t *b = t->data;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(b[i], (uint8_t)(i * mul + add), "%s: byte %zu is %u, expected %u", t->name,
                     i, b[i], (uint8_t)(i * mul + add));
}

static void expect_floats(const mmrt_gguf_tensor *t, const float *want, size_t n) {
    cr_assert_eq(t->n_bytes, n * sizeof(float), "%s: %zu bytes", t->name, t->n_bytes);
    for (size_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, (const char *)t->data + 4 * i, 4);
        cr_assert_eq(v, want[i], "%s[%zu] = %g, expected %g", t->name, i, v, want[i]);
    }
}

/* ---- files written by gguf-py (tools/fixtures_gguf_format.py) ------------------------------ */

Test(gguf, py_scalars) {
    mmrt_gguf *g = open_fixture("py_types.gguf");
    cr_assert_eq(mmrt_gguf_version(g), 3);
    cr_assert_eq(mmrt_gguf_alignment(g), 32);
    cr_assert_eq(mmrt_gguf_kv_count(g), 18);
    cr_assert_str_eq(mmrt_gguf_kv_key(g, 0), "general.architecture");
    cr_assert_null(mmrt_gguf_kv_key(g, 18));
    expect_str(g, "general.architecture", "llama", 5);
    expect_str(g, "t.str", "h\xc3\xa9llo gguf", 11);
    static const struct { const char *key; mmrt_gguf_type type; int64_t v; } ints[] = {
        {"t.u8", MMRT_GGUF_U8, 200},          {"t.i8", MMRT_GGUF_I8, -100},
        {"t.u16", MMRT_GGUF_U16, 60000},      {"t.i16", MMRT_GGUF_I16, -30000},
        {"t.u32", MMRT_GGUF_U32, 4000000000}, {"t.i32", MMRT_GGUF_I32, -2000000000},
        {"t.u64", MMRT_GGUF_U64, 1ll << 40},  {"t.i64", MMRT_GGUF_I64, -(1ll << 40)},
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        int64_t i = mmrt_gguf_find_key(g, ints[k].key);
        cr_assert(i >= 0, "%s missing", ints[k].key);
        cr_assert_eq(mmrt_gguf_kv_type(g, (size_t)i), ints[k].type, "%s: type", ints[k].key);
        cr_assert_eq(get_int(g, ints[k].key), ints[k].v, "%s = %lld", ints[k].key,
                     (long long)get_int(g, ints[k].key));
    }
    cr_assert_eq(get_float(g, "t.f32"), 0.25);
    cr_assert_eq(get_float(g, "t.f64"), -1.5e-300);
    bool b = false;
    cr_assert_eq(mmrt_gguf_get_bool(g, "t.bool", &b, NULL, NULL), MMRT_OK);
    cr_assert(b);
    mmrt_gguf_free(g);
}

Test(gguf, py_arrays) {
    mmrt_gguf *g = open_fixture("py_types.gguf");
    mmrt_error err = {0};
    size_t a = get_arr(g, "a.i32", MMRT_GGUF_I32, 3);
    static const int64_t want_i[] = {1, -2, 3};
    for (uint64_t j = 0; j < 3; j++) {
        int64_t v = 0;
        cr_assert_eq(mmrt_gguf_arr_int(g, a, j, &v, &err), MMRT_OK, "%s", err.msg);
        cr_assert_eq(v, want_i[j], "a.i32[%llu] = %lld", (unsigned long long)j, (long long)v);
    }
    a = get_arr(g, "a.f32", MMRT_GGUF_F32, 2);
    double f = 0;
    cr_assert_eq(mmrt_gguf_arr_float(g, a, 1, &f, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(f, -1.25);
    a = get_arr(g, "a.str", MMRT_GGUF_STRING, 3);
    static const char *const want_s[] = {"<s>", "", "\xe2\x96\x81the"};
    for (uint64_t j = 0; j < 3; j++) {
        const char *s = NULL;
        size_t len = 99;
        cr_assert_eq(mmrt_gguf_arr_str(g, a, j, &s, &len, &err), MMRT_OK, "%s", err.msg);
        cr_assert(len == strlen(want_s[j]) && memcmp(s, want_s[j], len) == 0,
                  "a.str[%llu] = \"%.*s\"", (unsigned long long)j, (int)len, s);
    }
    get_arr(g, "a.bool", MMRT_GGUF_BOOL, 2);
    a = get_arr(g, "a.nested", MMRT_GGUF_ARRAY, 2);
    int64_t v;
    cr_assert_eq(mmrt_gguf_arr_int(g, a, 0, &v, &err), MMRT_ERR_BAD_FORMAT);
    cr_assert(strstr(err.msg, "a.nested") != NULL, "%s", err.msg);
    mmrt_gguf_free(g);
}

Test(gguf, py_tensors) {
    mmrt_gguf *g = open_fixture("py_types.gguf");
    cr_assert_eq(mmrt_gguf_tensor_count(g), 5);
    cr_assert_str_eq(mmrt_gguf_tensor_at(g, 4)->name, "q4_K");
    cr_assert_null(mmrt_gguf_tensor_at(g, 5));
    cr_assert_null(mmrt_gguf_find_tensor(g, "q4_k"));
    const mmrt_gguf_tensor *t = expect_tensor(g, "f32", MMRT_QTYPE_F32, 2, (int64_t[]){3, 2});
    expect_floats(t, (const float[]){-1, -0.5f, 0, 0.5f, 1, 1.5f}, 6);
    t = expect_tensor(g, "f16", MMRT_QTYPE_F16, 1, (int64_t[]){5});
    cr_assert_eq(t->n_bytes, 10);
    cr_assert_eq(memcmp(t->data, "\x00\x3c\x00\xc0\x00\x38\xff\x7b\x00\x00", 10), 0);
    expect_pattern(expect_tensor(g, "bf16", MMRT_QTYPE_BF16, 1, (int64_t[]){3}), 6, 37, 11);
    expect_pattern(expect_tensor(g, "q8_0", MMRT_QTYPE_Q8_0, 2, (int64_t[]){32, 2}), 68, 7, 3);
    expect_pattern(expect_tensor(g, "q4_K", MMRT_QTYPE_Q4_K, 2, (int64_t[]){256, 1}), 144, 13, 5);
    mmrt_gguf_free(g);
}

Test(gguf, py_alignment_64) {
    mmrt_gguf *g = open_fixture("py_align64.gguf");
    cr_assert_eq(mmrt_gguf_alignment(g), 64);
    cr_assert_eq(mmrt_gguf_data_offset(g) % 64, 0);
    expect_floats(expect_tensor(g, "a", MMRT_QTYPE_F32, 1, (int64_t[]){3}),
                  (const float[]){1, 2, 3}, 3);
    const mmrt_gguf_tensor *b = expect_tensor(g, "b", MMRT_QTYPE_F32, 1, (int64_t[]){5});
    cr_assert_eq(b->offset, 64);
    expect_floats(b, (const float[]){4, 5, 6, 7, 8}, 5);
    mmrt_gguf_free(g);
}

/* ---- files written by llama.cpp (tests/fixtures/gguf_llama, tools/fixtures_gguf.py) -------- */

static const struct llama_file {
    const char *name;
    int64_t file_type;            /* general.file_type (llama_ftype) */
    size_t n_tensors;
    int64_t n_embd;
    mmrt_qtype embd_type, q_type; /* token_embd.weight, blk.0.attn_q.weight */
} LLAMA_FILES[] = {
    {"tied-k256/model-Q4_0.gguf", 2, 11, 256, MMRT_QTYPE_Q6_K, MMRT_QTYPE_Q4_0},
    {"tied-k256/model-Q4_1.gguf", 3, 11, 256, MMRT_QTYPE_Q6_K, MMRT_QTYPE_Q4_1},
    {"tied-k256/model-Q4_K_M.gguf", 15, 11, 256, MMRT_QTYPE_Q6_K, MMRT_QTYPE_Q4_K},
    {"tied-k256/model-Q5_K_S.gguf", 16, 11, 256, MMRT_QTYPE_Q6_K, MMRT_QTYPE_Q5_K},
    {"tied-k256/model-Q6_K.gguf", 18, 11, 256, MMRT_QTYPE_Q6_K, MMRT_QTYPE_Q6_K},
    {"tied-k256/model-Q8_0.gguf", 7, 11, 256, MMRT_QTYPE_Q8_0, MMRT_QTYPE_Q8_0},
    {"untied-f16/model-F16.gguf", 1, 21, 32, MMRT_QTYPE_F16, MMRT_QTYPE_F16},
    {"untied-f16/model-BF16.gguf", 32, 21, 32, MMRT_QTYPE_BF16, MMRT_QTYPE_BF16},
};

static char *llama_path(const char *name) {
    char *path = malloc(4096);
    cr_assert(path != NULL);
    snprintf(path, 4096, "%s/gguf_llama/%s", MMRT_FIXTURES_DIR, name);
    return path;
}

Test(gguf, llama_cpp_files) {
    for (size_t k = 0; k < sizeof LLAMA_FILES / sizeof LLAMA_FILES[0]; k++) {
        const struct llama_file *f = &LLAMA_FILES[k];
        char *path = llama_path(f->name);
        mmrt_gguf *g = open_ok(path);
        cr_assert_eq(mmrt_gguf_kv_count(g), 31, "%s", f->name);
        cr_assert_eq(mmrt_gguf_tensor_count(g), f->n_tensors, "%s", f->name);
        expect_str(g, "general.architecture", "llama", 5);
        cr_assert_eq(get_int(g, "general.file_type"), f->file_type, "%s", f->name);
        cr_assert_eq(get_int(g, "llama.embedding_length"), f->n_embd, "%s", f->name);
        size_t a = get_arr(g, "tokenizer.ggml.tokens", MMRT_GGUF_STRING, 288);
        const char *s;
        size_t len;
        cr_assert_eq(mmrt_gguf_arr_str(g, a, 0, &s, &len, NULL), MMRT_OK);
        cr_assert(len == 13 && memcmp(s, "<|endoftext|>", 13) == 0, "%s: token 0 \"%.*s\"",
                  f->name, (int)len, s);
        expect_tensor(g, "token_embd.weight", f->embd_type, 2, (int64_t[]){f->n_embd, 288});
        expect_tensor(g, "blk.0.attn_q.weight", f->q_type, 2, (int64_t[]){f->n_embd, f->n_embd});
        cr_assert_eq(mmrt_gguf_find_tensor(g, "output.weight") != NULL, f->n_tensors == 21);
        mmrt_gguf_free(g);
        free(path);
    }
}

/* Every pair copied and every tensor re-added in file order: mmrt's writer lays the file out
 * exactly as llama.cpp's did, byte for byte. */
Test(gguf, llama_cpp_file_rewritten_identically) {
    char *src = llama_path("tied-k256/model-Q4_K_M.gguf");
    mmrt_gguf *g = open_ok(src);
    mmrt_gguf_writer *w = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_writer_new(&w, &err), MMRT_OK);
    for (size_t i = 0; i < mmrt_gguf_kv_count(g); i++)
        cr_assert_eq(mmrt_gguf_writer_copy_kv(w, g, i, &err), MMRT_OK, "%s", err.msg);
    for (size_t i = 0; i < mmrt_gguf_tensor_count(g); i++) {
        const mmrt_gguf_tensor *t = mmrt_gguf_tensor_at(g, i);
        cr_assert_eq(mmrt_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data,
                                                 &err), MMRT_OK, "%s", err.msg);
    }
    char *dst = tmpdir_path(g_dir, "copy.gguf");
    cr_assert_eq(mmrt_gguf_writer_write(w, dst, &err), MMRT_OK, "%s", err.msg);
    mmrt_gguf_writer_free(w);
    mmrt_gguf_free(g);
    size_t n_src, n_dst;
    char *a = tmpdir_read(src, &n_src), *b = tmpdir_read(dst, &n_dst);
    cr_assert_eq(n_dst, n_src, "rewritten: %zu bytes, llama.cpp's: %zu", n_dst, n_src);
    size_t first = 0;
    while (first < n_src && a[first] == b[first]) first++;
    cr_assert_eq(first, n_src, "first difference at byte %zu", first);
    free(a);
    free(b);
    free(src);
    free(dst);
}

/* ---- getters: absent, required, wrong type -------------------------------------------------- */

Test(gguf, getter_errors) {
    mmrt_gguf *g = open_fixture("py_types.gguf");
    mmrt_error err = {0};
    int64_t v = 7;
    bool found = true;
    cr_assert_eq(mmrt_gguf_get_int(g, "nope", &v, &found, &err), MMRT_OK);
    cr_assert(!found && v == 7);
    cr_assert_eq(mmrt_gguf_find_key(g, "nope"), -1);
    cr_assert_eq(mmrt_gguf_get_int(g, "nope", &v, NULL, &err), MMRT_ERR_MODEL);
    cr_assert(strstr(err.msg, "nope") && strstr(err.msg, "py_types.gguf"), "%s", err.msg);
    cr_assert_eq(mmrt_gguf_get_int(g, "t.str", &v, &found, &err), MMRT_ERR_BAD_FORMAT);
    cr_assert(found);
    cr_assert(strstr(err.msg, "'t.str' is string, expected an integer"), "%s", err.msg);
    double d;
    cr_assert_eq(mmrt_gguf_get_float(g, "t.i32", &d, NULL, &err), MMRT_ERR_BAD_FORMAT);
    const char *s;
    size_t len;
    cr_assert_eq(mmrt_gguf_get_str(g, "t.u8", &s, &len, NULL, &err), MMRT_ERR_BAD_FORMAT);
    bool b;
    cr_assert_eq(mmrt_gguf_get_bool(g, "t.u8", &b, NULL, &err), MMRT_ERR_BAD_FORMAT);
    size_t a;
    cr_assert_eq(mmrt_gguf_get_arr(g, "t.u8", &a, NULL, &err), MMRT_ERR_BAD_FORMAT);
    a = get_arr(g, "a.i32", MMRT_GGUF_I32, 3);
    cr_assert_eq(mmrt_gguf_arr_int(g, a, 3, &v, &err), MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_gguf_arr_str(g, a, 0, &s, &len, &err), MMRT_ERR_BAD_FORMAT);
    cr_assert(strstr(err.msg, "'a.i32''s element is i32, expected string"), "%s", err.msg);
    cr_assert_eq(mmrt_gguf_arr_float(g, a, 0, &d, &err), MMRT_ERR_BAD_FORMAT);
    cr_assert_eq(mmrt_gguf_arr_int(g, 0, 0, &v, &err), MMRT_ERR_BAD_FORMAT); /* not an array */
    cr_assert_eq(mmrt_gguf_arr_int(g, 99, 0, &v, &err), MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_gguf_arr_type(g, 0), MMRT_GGUF_TYPE_COUNT);
    cr_assert_eq(mmrt_gguf_arr_count(g, 0), 0);
    mmrt_gguf_free(g);
    mmrt_gguf_free(NULL);
}

/* ---- writer round trips -------------------------------------------------------------------- */

static uint8_t *pattern(size_t n, unsigned mul, unsigned add) {
    uint8_t *p = malloc(n);
    cr_assert(p != NULL);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * mul + add);
    return p;
}

static mmrt_gguf_writer *new_writer(void) {
    mmrt_gguf_writer *w = NULL;
    cr_assert_eq(mmrt_gguf_writer_new(&w, NULL), MMRT_OK);
    return w;
}

static mmrt_error g_err; /* the writer calls' error, printed by W_OK */

#define W_OK(call) cr_assert_eq((call), MMRT_OK, "%s: %s", #call, g_err.msg)

static const char *const RT_STRS[] = {"x", "", "yz"};

/* One pair of every kind the writer sets (and general.alignment when align is not 0). */
static void set_every_kv(mmrt_gguf_writer *w, uint32_t align) {
    if (align) W_OK(mmrt_gguf_writer_set_u32(w, "general.alignment", align, &g_err));
    W_OK(mmrt_gguf_writer_set_str(w, "general.name", "a\0b", 3, &g_err));
    W_OK(mmrt_gguf_writer_set_u32(w, "k.u32", 0xfffffffeu, &g_err));
    W_OK(mmrt_gguf_writer_set_i32(w, "k.i32", -5, &g_err));
    W_OK(mmrt_gguf_writer_set_u64(w, "k.u64", 1ull << 62, &g_err));
    W_OK(mmrt_gguf_writer_set_f32(w, "k.f32", 1e-3f, &g_err));
    W_OK(mmrt_gguf_writer_set_bool(w, "k.bool", false, &g_err));
    W_OK(mmrt_gguf_writer_set_arr_str(w, "k.astr", RT_STRS, 3, &g_err));
    W_OK(mmrt_gguf_writer_set_arr_i32(w, "k.ai32", (const int32_t[]){-7, 8}, 2, &g_err));
    W_OK(mmrt_gguf_writer_set_arr_f32(w, "k.af32", (const float[]){2.5f}, 1, &g_err));
    W_OK(mmrt_gguf_writer_set_arr_f32(w, "k.empty", NULL, 0, &g_err));
}

static void expect_every_kv(const mmrt_gguf *g, uint32_t align) {
    cr_assert_eq(mmrt_gguf_kv_count(g), align ? 11 : 10);
    expect_str(g, "general.name", "a\0b", 3);
    cr_assert_eq(get_int(g, "k.u32"), 0xfffffffell);
    cr_assert_eq(get_int(g, "k.i32"), -5);
    cr_assert_eq(get_int(g, "k.u64"), 1ll << 62);
    cr_assert_eq(get_float(g, "k.f32"), (double)1e-3f);
    bool b = true;
    cr_assert_eq(mmrt_gguf_get_bool(g, "k.bool", &b, NULL, NULL), MMRT_OK);
    cr_assert(!b);
    size_t a = get_arr(g, "k.astr", MMRT_GGUF_STRING, 3);
    for (uint64_t j = 0; j < 3; j++) {
        const char *s;
        size_t len;
        cr_assert_eq(mmrt_gguf_arr_str(g, a, j, &s, &len, NULL), MMRT_OK);
        cr_assert(len == strlen(RT_STRS[j]) && memcmp(s, RT_STRS[j], len) == 0);
    }
    int64_t v;
    cr_assert_eq(mmrt_gguf_arr_int(g, get_arr(g, "k.ai32", MMRT_GGUF_I32, 2), 0, &v, NULL), 0);
    cr_assert_eq(v, -7);
    double f;
    cr_assert_eq(mmrt_gguf_arr_float(g, get_arr(g, "k.af32", MMRT_GGUF_F32, 1), 0, &f, NULL), 0);
    cr_assert_eq(f, 2.5);
    get_arr(g, "k.empty", MMRT_GGUF_F32, 0);
}

/* Writes every KV kind and tensors of five types at alignment `align` (0: the default), reads the
 * file back and compares. */
static void round_trip(uint32_t align) {
    mmrt_gguf_writer *w = new_writer();
    set_every_kv(w, align);
    static const struct { const char *name; mmrt_qtype type; int n_dims; int64_t ne[4]; } ts[] = {
        {"t.f32", MMRT_QTYPE_F32, 1, {3}},          {"t.f16", MMRT_QTYPE_F16, 3, {5, 1, 3}},
        {"t.q8_0", MMRT_QTYPE_Q8_0, 2, {64, 3}},    {"t.q4_K", MMRT_QTYPE_Q4_K, 2, {256, 2}},
        {"t.q6_K", MMRT_QTYPE_Q6_K, 4, {512, 1, 1, 2}},
    };
    enum { N_T = sizeof ts / sizeof ts[0] };
    uint8_t *data[N_T];
    size_t n_bytes[N_T];
    for (int i = 0; i < N_T; i++) {
        n_bytes[i] = mmrt_qtype_row_bytes(ts[i].type, ts[i].ne[0]);
        for (int d = 1; d < ts[i].n_dims; d++) n_bytes[i] *= (size_t)ts[i].ne[d];
        data[i] = pattern(n_bytes[i], 3 + 2 * (unsigned)i, (unsigned)i);
        W_OK(mmrt_gguf_writer_add_tensor(w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne,
                                         data[i], &g_err));
    }
    char *path = tmpdir_path(g_dir, "rt.gguf");
    W_OK(mmrt_gguf_writer_write(w, path, &g_err));
    mmrt_gguf_writer_free(w);

    mmrt_gguf *g = open_ok(path);
    cr_assert_eq(mmrt_gguf_alignment(g), align ? align : 32);
    cr_assert_eq(mmrt_gguf_data_offset(g) % mmrt_gguf_alignment(g), 0);
    expect_every_kv(g, align);
    cr_assert_eq(mmrt_gguf_tensor_count(g), N_T);
    for (int i = 0; i < N_T; i++) {
        const mmrt_gguf_tensor *t =
            expect_tensor(g, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne);
        cr_assert_eq(mmrt_gguf_tensor_at(g, (size_t)i), t, "%s: order", ts[i].name);
        expect_pattern(t, n_bytes[i], 3 + 2 * (unsigned)i, (unsigned)i);
        free(data[i]);
    }
    mmrt_gguf_free(g);
    free(path);
}

Test(gguf, writer_round_trip_align_32) { round_trip(0); }
Test(gguf, writer_round_trip_align_64) { round_trip(64); }

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert(d != NULL);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

Test(gguf, writer_no_tensors_no_padding) {
    mmrt_gguf_writer *w = new_writer();
    W_OK(mmrt_gguf_writer_set_u32(w, "general.alignment", 1u << 30, &g_err));
    char *path = tmpdir_path(g_dir, "kv_only.gguf");
    W_OK(mmrt_gguf_writer_write(w, path, &g_err));
    mmrt_gguf_writer_free(w);
    size_t n = 0;
    free(tmpdir_read(path, &n));
    cr_assert_eq(n, 24 + 8 + 17 + 4 + 4, "a KV-only file of %zu bytes", n);
    mmrt_gguf *g = open_ok(path);
    cr_assert_eq(mmrt_gguf_alignment(g), 1u << 30);
    cr_assert_eq(mmrt_gguf_tensor_count(g), 0);
    mmrt_gguf_free(g);
    free(path);
}

Test(gguf, writer_errors) {
    mmrt_gguf_writer *w = new_writer();
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_writer_set_u32(w, "general.alignment", 3, &err), MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_gguf_writer_set_u32(w, "general.alignment", 0, &err), MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_gguf_writer_set_i32(w, "k", 1, &err), MMRT_OK);
    cr_assert_eq(mmrt_gguf_writer_set_f32(w, "k", 1, &err), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(err.msg, "'k' set twice"), "%s", err.msg);
    cr_assert_eq(mmrt_gguf_writer_set_bool(w, "", true, &err), MMRT_ERR_INVALID_ARG);
    uint8_t buf[64] = {0};
    const int64_t ne[2] = {32, 1};
    cr_assert_eq(mmrt_gguf_writer_add_tensor(w, "t", MMRT_QTYPE_Q8_0, 2, ne, buf, &err), MMRT_OK);
    cr_assert_eq(mmrt_gguf_writer_add_tensor(w, "t", MMRT_QTYPE_F32, 1, ne, buf, &err),
                 MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_gguf_writer_add_tensor(w, "u", MMRT_QTYPE_Q8_0, 1, (int64_t[]){16}, buf,
                                             &err), MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_gguf_writer_add_tensor(w, "u", MMRT_QTYPE_F32, 0, ne, buf, &err),
                 MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_gguf_writer_add_tensor(w, "u", MMRT_QTYPE_F32, 5, ne, buf, &err),
                 MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_gguf_writer_add_tensor(w, "u", (mmrt_qtype)4, 1, ne, buf, &err),
                 MMRT_ERR_INVALID_ARG);
    char *bad = tmpdir_path(g_dir, "no/such/dir/x.gguf");
    cr_assert_eq(mmrt_gguf_writer_write(w, bad, &err), MMRT_ERR_IO);
    cr_assert(strstr(err.msg, bad), "%s", err.msg);
    /* Replacing an existing file leaves no temporary behind. */
    char *path = tmpdir_write_str(g_dir, "x.gguf", "old");
    cr_assert_eq(mmrt_gguf_writer_write(w, path, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(count_entries(g_dir), 1);
    mmrt_gguf *g = open_ok(path);
    cr_assert_eq(get_int(g, "k"), 1);
    mmrt_gguf_free(g);
    mmrt_gguf_writer_free(w);
    mmrt_gguf_writer_free(NULL);
    free(bad);
    free(path);
}

/* ---- hostile files --------------------------------------------------------------------------- */

typedef struct bb { /* a growing byte buffer holding a file built by hand */
    uint8_t *p;
    size_t n, cap;
} bb;

static void put(bb *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n) + 64;
        b->p = realloc(b->p, b->cap);
        cr_assert(b->p != NULL);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

/* v as n little-endian bytes; bytes past the 8th are zero (n > 8 pads). */
static void le(bb *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) put(b, &(uint8_t){i < 8 ? (uint8_t)(v >> (8 * i)) : 0}, 1);
}

static void str(bb *b, const char *s) {
    le(b, strlen(s), 8);
    put(b, s, strlen(s));
}

static void hdr(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    le(b, version, 4);
    le(b, n_tensors, 8);
    le(b, n_kv, 8);
}

static void kv_u32(bb *b, const char *key, uint32_t v) {
    str(b, key);
    le(b, MMRT_GGUF_U32, 4);
    le(b, v, 4);
}

static void kv_str(bb *b, const char *key, const char *v) {
    str(b, key);
    le(b, MMRT_GGUF_STRING, 4);
    str(b, v);
}

static void tinfo(bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                  uint64_t offset) {
    str(b, name);
    le(b, n_dims, 4);
    for (uint32_t d = 0; d < n_dims; d++) le(b, ne[d], 8);
    le(b, type, 4);
    le(b, offset, 8);
}

/* Zero padding to align, then n_data bytes of data. */
static void data(bb *b, uint32_t align, size_t n_data) {
    while (b->n % align) le(b, 0, 1);
    for (size_t i = 0; i < n_data; i++) le(b, i * 7 + 1, 1);
}

/* The KV general.name = "t" and one tensor "blk.0.w" (ne, type, offset); n_data bytes of data. */
static void one_tensor(bb *b, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset,
                       size_t n_data) {
    hdr(b, 3, 1, 1);
    kv_str(b, "general.name", "t");
    tinfo(b, "blk.0.w", n_dims, ne, type, offset);
    data(b, 32, n_data);
}

static const uint64_t NE_8x2[] = {8, 2};

static void c_empty(bb *b) { (void)b; }
static void c_bad_magic(bb *b) { put(b, "GGML\3\0\0\0", 8); }
static void c_version1(bb *b) { hdr(b, 1, 0, 0); }
static void c_version4(bb *b) { hdr(b, 4, 0, 0); }
static void c_huge_n_kv(bb *b) { hdr(b, 3, 0, 1ull << 60); kv_u32(b, "a", 1); }
static void c_huge_n_tensors(bb *b) { hdr(b, 3, 1ull << 62, 0); le(b, 0, 64); }
static void c_huge_key(bb *b) { hdr(b, 3, 0, 1); le(b, 1ull << 63, 8); le(b, 0, 16); }
static void c_huge_string(bb *b) {
    hdr(b, 3, 0, 1);
    str(b, "general.name");
    le(b, MMRT_GGUF_STRING, 4);
    le(b, UINT64_MAX, 8);
}
static void c_huge_array(bb *b) {
    hdr(b, 3, 0, 1);
    str(b, "tokenizer.ggml.tokens");
    le(b, MMRT_GGUF_ARRAY, 4);
    le(b, MMRT_GGUF_STRING, 4);
    le(b, 1ull << 61, 8);
    str(b, "a");
}
static void c_unknown_value_type(bb *b) { hdr(b, 3, 0, 1); str(b, "k"); le(b, 13, 4); le(b, 0, 8); }
static void c_deep_nesting(bb *b) {
    hdr(b, 3, 0, 1);
    str(b, "k");
    le(b, MMRT_GGUF_ARRAY, 4);
    for (int d = 0; d < MMRT_GGUF_MAX_DEPTH + 1; d++) {
        le(b, d < MMRT_GGUF_MAX_DEPTH ? MMRT_GGUF_ARRAY : MMRT_GGUF_U8, 4);
        le(b, 1, 8);
    }
    le(b, 0, 1);
}
static void c_dup_key(bb *b) { hdr(b, 3, 0, 2); kv_u32(b, "a.b", 1); kv_u32(b, "a.b", 2); }
static void c_key_nul(bb *b) { hdr(b, 3, 0, 1); le(b, 3, 8); put(b, "a\0b", 3); le(b, 0, 5); }
static void c_align(bb *b, uint32_t align) {
    hdr(b, 3, 0, 1);
    kv_u32(b, "general.alignment", align);
}
static void c_align0(bb *b) { c_align(b, 0); }
static void c_align3(bb *b) { c_align(b, 3); }
static void c_align_i32(bb *b) {
    hdr(b, 3, 0, 1);
    str(b, "general.alignment");
    le(b, MMRT_GGUF_I32, 4);
    le(b, 64, 4);
}
static void c_n_dims0(bb *b) { one_tensor(b, 0, NE_8x2, MMRT_QTYPE_F32, 0, 64); }
static void c_n_dims5(bb *b) {
    one_tensor(b, 5, (const uint64_t[]){8, 1, 1, 1, 1}, MMRT_QTYPE_F32, 0, 64);
}
static void c_dim0(bb *b) { one_tensor(b, 2, (const uint64_t[]){8, 0}, MMRT_QTYPE_F32, 0, 64); }
static void c_dim_huge(bb *b) {
    one_tensor(b, 2, (const uint64_t[]){8, 1ull << 63}, MMRT_QTYPE_F32, 0, 64);
}
static void c_overflow(bb *b) {
    one_tensor(b, 3, (const uint64_t[]){32, 1ull << 40, 1ull << 40}, MMRT_QTYPE_F32, 0, 64);
}
static void c_bytes_overflow(bb *b) { /* 2^62 elements fit int64, 2^64 bytes do not */
    one_tensor(b, 2, (const uint64_t[]){1ull << 31, 1ull << 31}, MMRT_QTYPE_F32, 0, 64);
}
static void c_block(bb *b) { one_tensor(b, 1, (const uint64_t[]){16}, MMRT_QTYPE_Q8_0, 0, 64); }
static void c_unknown_type(bb *b) { one_tensor(b, 2, NE_8x2, 4, 0, 64); }
static void c_misaligned(bb *b) { one_tensor(b, 2, NE_8x2, MMRT_QTYPE_F32, 4, 128); }
static void c_past_end(bb *b) { one_tensor(b, 2, NE_8x2, MMRT_QTYPE_F32, 64, 64); }
static void c_offset_huge(bb *b) { one_tensor(b, 2, NE_8x2, MMRT_QTYPE_F32, UINT64_MAX - 31, 64); }
static void c_no_data(bb *b) { one_tensor(b, 2, NE_8x2, MMRT_QTYPE_F32, 0, 63); }
static void c_two(bb *b, const char *second, uint64_t offset) {
    hdr(b, 3, 2, 0);
    tinfo(b, "a", 2, NE_8x2, MMRT_QTYPE_F32, 0);
    tinfo(b, second, 1, NE_8x2, MMRT_QTYPE_F32, offset);
    data(b, 32, 128);
}
static void c_overlap(bb *b) { c_two(b, "b", 32); }
static void c_dup_tensor(bb *b) { c_two(b, "a", 64); }
static void c_tensor_name_empty(bb *b) { c_two(b, "", 64); }

static const struct hostile {
    const char *name;
    void (*build)(bb *b);
    mmrt_status status;
    const char *needle; /* in the message, besides the path */
} HOSTILE[] = {
    {"empty", c_empty, MMRT_ERR_BAD_FORMAT, "empty"},
    {"bad magic", c_bad_magic, MMRT_ERR_BAD_FORMAT, "not a GGUF file"},
    {"version 1", c_version1, MMRT_ERR_UNSUPPORTED, "version 1 "},
    {"version 4", c_version4, MMRT_ERR_UNSUPPORTED, "version 4 "},
    {"huge n_kv", c_huge_n_kv, MMRT_ERR_BAD_FORMAT, "cannot fit"},
    {"huge n_tensors", c_huge_n_tensors, MMRT_ERR_BAD_FORMAT, "cannot fit"},
    {"huge key length", c_huge_key, MMRT_ERR_BAD_FORMAT, "key claims 9223372036854775808 bytes"},
    {"huge string", c_huge_string, MMRT_ERR_BAD_FORMAT, "key 'general.name': string claims"},
    {"huge array", c_huge_array, MMRT_ERR_BAD_FORMAT, "array of 2305843009213693952 string"},
    {"unknown value type", c_unknown_value_type, MMRT_ERR_BAD_FORMAT, "unknown value type 13"},
    {"deep nesting", c_deep_nesting, MMRT_ERR_BAD_FORMAT, "nested more than 4 deep"},
    {"duplicate key", c_dup_key, MMRT_ERR_BAD_FORMAT, "key 'a.b' appears twice"},
    {"NUL in key", c_key_nul, MMRT_ERR_BAD_FORMAT, "NUL"},
    {"alignment 0", c_align0, MMRT_ERR_BAD_FORMAT, "alignment is 0, not a power of two"},
    {"alignment 3", c_align3, MMRT_ERR_BAD_FORMAT, "alignment is 3, not a power of two"},
    {"alignment i32", c_align_i32, MMRT_ERR_BAD_FORMAT, "'general.alignment' is i32"},
    {"n_dims 0", c_n_dims0, MMRT_ERR_BAD_FORMAT, "tensor 'blk.0.w': n_dims is 0"},
    {"n_dims 5", c_n_dims5, MMRT_ERR_BAD_FORMAT, "tensor 'blk.0.w': n_dims is 5"},
    {"dim 0", c_dim0, MMRT_ERR_BAD_FORMAT, "tensor 'blk.0.w': ne[1] is 0"},
    {"dim above INT64_MAX", c_dim_huge, MMRT_ERR_BAD_FORMAT, "ne[1] is above INT64_MAX"},
    {"element count overflow", c_overflow, MMRT_ERR_BAD_FORMAT, "element count overflows"},
    {"byte size overflow", c_bytes_overflow, MMRT_ERR_BAD_FORMAT, "byte size overflows"},
    {"ne[0] not whole blocks", c_block, MMRT_ERR_BAD_FORMAT, "not a multiple of q8_0's block"},
    {"unknown ggml type", c_unknown_type, MMRT_ERR_UNSUPPORTED,
     "tensor 'blk.0.w': unknown ggml type id 4"},
    {"misaligned offset", c_misaligned, MMRT_ERR_BAD_FORMAT, "offset 4 is not a multiple of"},
    {"offset past end", c_past_end, MMRT_ERR_BAD_FORMAT, "past the end of the file"},
    {"offset near 2^64", c_offset_huge, MMRT_ERR_BAD_FORMAT, "past the end of the file"},
    {"data one byte short", c_no_data, MMRT_ERR_BAD_FORMAT,
     "tensor 'blk.0.w': data [128, 192) past the end of the file (191 bytes)"},
    {"overlap", c_overlap, MMRT_ERR_BAD_FORMAT, "tensors 'a' (data offset 0, 64 bytes) and 'b'"},
    {"duplicate tensor", c_dup_tensor, MMRT_ERR_BAD_FORMAT, "tensor 'a' appears twice"},
    {"empty tensor name", c_tensor_name_empty, MMRT_ERR_BAD_FORMAT, "tensor name is empty"},
};

/* Writes b as dir/name, opens it and checks the status and that the message names the file and
 * holds needle (when not NULL). Returns whether it did, reporting the case otherwise. */
static bool expect_refused(const char *what, const bb *b, mmrt_status want, const char *needle) {
    char *path = tmpdir_write(g_dir, "h.gguf", b->p ? (const void *)b->p : "", b->n);
    mmrt_gguf *g = (mmrt_gguf *)1;
    mmrt_error err = {0};
    mmrt_status st = mmrt_gguf_open(path, &g, &err);
    bool ok = st == want && g == NULL && strstr(err.msg, path) &&
              (!needle || strstr(err.msg, needle));
    cr_expect(ok, "%s: status %s (expected %s), message \"%s\" (expected the path and \"%s\")",
              what, mmrt_status_str(st), mmrt_status_str(want), err.msg, needle ? needle : "");
    if (st == MMRT_OK) mmrt_gguf_free(g);
    free(path);
    return ok;
}

Test(gguf, hostile_files) {
    for (size_t i = 0; i < sizeof HOSTILE / sizeof HOSTILE[0]; i++) {
        bb b = {0};
        HOSTILE[i].build(&b);
        expect_refused(HOSTILE[i].name, &b, HOSTILE[i].status, HOSTILE[i].needle);
        free(b.p);
    }
}

/* A v2 file with every header part: KVs (string, array of strings, alignment 64) and two
 * tensors, the last one ending the file. */
static void full_file(bb *b, uint32_t version) {
    hdr(b, version, 2, 3);
    kv_str(b, "general.architecture", "llama");
    kv_u32(b, "general.alignment", 64);
    str(b, "tokenizer.ggml.tokens");
    le(b, MMRT_GGUF_ARRAY, 4);
    le(b, MMRT_GGUF_STRING, 4);
    le(b, 2, 8);
    str(b, "a");
    str(b, "bc");
    tinfo(b, "token_embd.weight", 2, (const uint64_t[]){32, 2}, MMRT_QTYPE_Q8_0, 0);
    tinfo(b, "output_norm.weight", 1, (const uint64_t[]){5}, MMRT_QTYPE_F32, 128);
    data(b, 64, 128 + 20);
}

Test(gguf, version_2_and_3) {
    for (uint32_t v = 2; v <= 3; v++) {
        bb b = {0};
        full_file(&b, v);
        char *path = tmpdir_write(g_dir, "v.gguf", b.p, b.n);
        mmrt_gguf *g = open_ok(path);
        cr_assert_eq(mmrt_gguf_version(g), v);
        cr_assert_eq(mmrt_gguf_alignment(g), 64);
        const mmrt_gguf_tensor *t = mmrt_gguf_find_tensor(g, "output_norm.weight");
        cr_assert(t && t->n_bytes == 20 && t->offset == 128);
        cr_assert_eq(mmrt_gguf_data_offset(g) + 128 + 20, b.n);
        cr_assert_eq(memcmp(t->data, b.p + b.n - 20, 20), 0, "output_norm.weight: wrong bytes");
        mmrt_gguf_free(g);
        free(path);
        free(b.p);
    }
}

Test(gguf, truncated_anywhere) {
    bb b = {0};
    full_file(&b, 3);
    int failed = 0;
    for (size_t n = 0; n < b.n && failed < 5; n++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu bytes", n, b.n);
        failed += !expect_refused(what, &(bb){.p = b.p, .n = n}, MMRT_ERR_BAD_FORMAT, NULL);
    }
    cr_assert_eq(failed, 0);
    free(b.p);
}

Test(gguf, not_a_file) {
    mmrt_gguf *g = (mmrt_gguf *)1;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_open(g_dir, &g, &err), MMRT_ERR_IO);
    cr_assert(g == NULL && strstr(err.msg, g_dir), "%s", err.msg);
    char *missing = tmpdir_path(g_dir, "missing.gguf");
    cr_assert_eq(mmrt_gguf_open(missing, &g, &err), MMRT_ERR_IO);
    cr_assert(strstr(err.msg, missing) && strstr(err.msg, "No such file"), "%s", err.msg);
    free(missing);
}
