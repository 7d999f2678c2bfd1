/* safetensors reader: valid single files and sharded directories, every hostile-file case the
 * reader must reject (status + message naming the file and the problem), mmrt_weights_get checks,
 * and the real Hugging Face fixtures when present. */
#include "core/safetensors.h"
#include "helpers/tmpdir.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *g_dir; /* a fresh directory per test (Criterion forks per test) */

static void setup(void) { g_dir = tmpdir_make("safetensors"); }
static void teardown(void) { tmpdir_remove(g_dir); }

TestSuite(safetensors, .init = setup, .fini = teardown);

/* ---- helpers ----------------------------------------------------------------------------- */

/* Writes dir/name as: 8-byte little-endian `hlen`, the header bytes, then n_data bytes of data. */
static char *write_st_raw(const char *dir, const char *name, uint64_t hlen, const char *header,
                          const void *data, size_t n_data) {
    size_t n_header = strlen(header);
    size_t n = 8 + n_header + n_data;
    unsigned char *buf = malloc(n);
    cr_assert(buf != NULL);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, header, n_header);
    if (n_data) memcpy(buf + 8 + n_header, data, n_data);
    char *path = tmpdir_write(dir, name, buf, n);
    free(buf);
    return path;
}

static char *write_st(const char *dir, const char *name, const char *header, const void *data,
                      size_t n_data) {
    return write_st_raw(dir, name, strlen(header), header, data, n_data);
}

/* Fails (reporting the caller's line) unless st == want and the message holds `path` and each
 * needle. */
static void expect_error(int line, mmrt_status st, mmrt_status want, const mmrt_error *err,
                         const char *path, const char *const *needles) {
    cr_assert_eq(st, want, "line %d: status %d (%s), expected %d (%s); message: \"%s\"", line, st,
                 mmrt_status_str(st), want, mmrt_status_str(want), err->msg);
    if (path)
        cr_assert(strstr(err->msg, path) != NULL, "line %d: message \"%s\" does not name \"%s\"",
                  line, err->msg, path);
    for (; *needles; needles++)
        cr_assert(strstr(err->msg, *needles) != NULL,
                  "line %d: message \"%s\" does not contain \"%s\"", line, err->msg, *needles);
}
#define EXPECT_ERROR(st, want, err, path, ...)                                                     \
    expect_error(__LINE__, st, want, err, path, (const char *const[]){__VA_ARGS__, NULL})

static void expect_open_fails(int line, const char *open_path, mmrt_status want,
                              const char *named_path, const char *const *needles) {
    mmrt_weights *w = NULL;
    mmrt_error err = {0};
    mmrt_status st = mmrt_weights_open(open_path, &w, &err);
    cr_assert_null(w, "line %d: mmrt_weights_open(%s) returned a handle on failure", line,
                   open_path);
    expect_error(line, st, want, &err, named_path, needles);
}
#define EXPECT_OPEN_FAILS(open_path, want, named_path, ...)                                        \
    expect_open_fails(__LINE__, open_path, want, named_path,                                       \
                      (const char *const[]){__VA_ARGS__, NULL})

static mmrt_weights *open_ok(const char *path) {
    mmrt_weights *w = NULL;
    mmrt_error err = {0};
    mmrt_status st = mmrt_weights_open(path, &w, &err);
    cr_assert_eq(st, MMRT_OK, "mmrt_weights_open(%s) failed: %s", path, err.msg);
    cr_assert_not_null(w);
    return w;
}

static const mmrt_st_tensor *find_ok(const mmrt_weights *w, const char *name) {
    const mmrt_st_tensor *t = mmrt_weights_find(w, name);
    cr_assert_not_null(t, "tensor \"%s\" not found", name);
    cr_assert_str_eq(t->name, name);
    return t;
}

static void expect_shape(const mmrt_st_tensor *t, mmrt_dtype dtype, int n_dims,
                         const int64_t *shape) {
    cr_assert_eq(t->dtype, dtype, "%s: dtype %s, expected %s", t->name, mmrt_dtype_name(t->dtype),
                 mmrt_dtype_name(dtype));
    cr_assert_eq(t->n_dims, n_dims, "%s: n_dims %d, expected %d", t->name, t->n_dims, n_dims);
    for (int i = 0; i < n_dims; i++)
        cr_assert_eq(t->shape[i], shape[i], "%s: shape[%d] = %lld, expected %lld", t->name, i,
                     (long long)t->shape[i], (long long)shape[i]);
}

/* Checks that [data, data + n_bytes) lies inside one mapping of t->file in /proc/self/maps. */
static void expect_inside_mapping(const mmrt_st_tensor *t) {
    char real[4096];
    cr_assert(realpath(t->file, real) != NULL, "realpath(%s) failed", t->file);
    uintptr_t lo = (uintptr_t)t->data, hi = lo + t->n_bytes;
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[4096 + 256];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        int pos = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &a, &b, &pos) < 2 || pos == 0) continue;
        char *p = line + pos;
        p[strcspn(p, "\n")] = '\0';
        found = strcmp(p, real) == 0 && lo >= a && hi <= b;
    }
    fclose(f);
    cr_assert(found, "tensor \"%s\": bytes [%p, %p) are not inside a mapping of %s", t->name,
              (void *)lo, (void *)hi, real);
}

static float f32_at(const mmrt_st_tensor *t, size_t i) {
    float v;
    memcpy(&v, (const char *)t->data + 4 * i, 4);
    return v;
}

/* ---- valid files ------------------------------------------------------------------------- */

/* Data section (offsets): w F32 (2,3) [0,24); b BF16 (3) [24,30); gap; s I64 scalar [32,40);
 * e F16 (0,4) [40,40); u U8 (2,2) [40,44); i I32 (1) [44,48). The header is padded with spaces to
 * 8 bytes, as the safetensors library does. */
static char *write_valid(const char *dir, const char *name) {
    unsigned char data[48] = {0};
    for (int i = 0; i < 6; i++) {
        float v = 0.5f * (float)i - 1.0f;
        memcpy(data + 4 * i, &v, 4);
    }
    const uint16_t bf[3] = {0x3f80, 0xc000, 0x4040}; /* 1, -2, 3 */
    memcpy(data + 24, bf, 6);
    const int64_t s = -1234567890123LL;
    memcpy(data + 32, &s, 8);
    const unsigned char u[4] = {1, 2, 254, 255};
    memcpy(data + 40, u, 4);
    const int32_t i32 = -7;
    memcpy(data + 44, &i32, 4);
    char header[1024];
    int n = snprintf(header, sizeof header,
                     "{\"__metadata__\":{\"format\":\"pt\"},"
                     "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[24,30]},"
                     "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                     "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[32,40]},"
                     "\"u\":{\"dtype\":\"U8\",\"shape\":[2,2],\"data_offsets\":[40,44]},"
                     "\"e\":{\"dtype\":\"F16\",\"shape\":[0,4],\"data_offsets\":[40,40]},"
                     "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[44,48]}}");
    while (n % 8) header[n++] = ' ';
    header[n] = '\0';
    return write_st(dir, name, header, data, sizeof data);
}

Test(safetensors, valid_single_file) {
    char *path = write_valid(g_dir, "one.safetensors");
    mmrt_weights *w = open_ok(path);
    cr_assert_eq(mmrt_weights_count(w), 6, "count %zu, expected 6", mmrt_weights_count(w));
    cr_assert_str_eq(mmrt_weights_path(w), path);

    const mmrt_st_tensor *t = find_ok(w, "w");
    expect_shape(t, MMRT_F32, 2, (const int64_t[]){2, 3});
    cr_assert_eq(t->n_bytes, 24);
    cr_assert_str_eq(t->file, path);
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(f32_at(t, i), 0.5f * (float)i - 1.0f, "w[%zu] = %g, expected %g", i,
                     f32_at(t, i), 0.5f * (float)i - 1.0f);

    t = find_ok(w, "b");
    expect_shape(t, MMRT_BF16, 1, (const int64_t[]){3});
    const float bf_want[3] = {1, -2, 3};
    for (int i = 0; i < 3; i++) {
        uint16_t h;
        memcpy(&h, (const char *)t->data + 2 * i, 2);
        cr_assert_eq(mmrt_bf16_to_f32(h), bf_want[i], "b[%d] = %g, expected %g", i,
                     mmrt_bf16_to_f32(h), bf_want[i]);
    }

    t = find_ok(w, "s");
    expect_shape(t, MMRT_I64, 0, NULL);
    cr_assert_eq(t->n_bytes, 8);
    int64_t s;
    memcpy(&s, t->data, 8);
    cr_assert_eq(s, -1234567890123LL, "s = %lld", (long long)s);

    t = find_ok(w, "e");
    expect_shape(t, MMRT_F16, 2, (const int64_t[]){0, 4});
    cr_assert_eq(t->n_bytes, 0);

    t = find_ok(w, "u");
    expect_shape(t, MMRT_U8, 2, (const int64_t[]){2, 2});
    cr_assert_eq(memcmp(t->data, (const unsigned char[]){1, 2, 254, 255}, 4), 0);

    t = find_ok(w, "i");
    expect_shape(t, MMRT_I32, 1, (const int64_t[]){1});
    int32_t i32;
    memcpy(&i32, t->data, 4);
    cr_assert_eq(i32, -7);

    /* Ordered by offset; the empty tensor sorts before the one starting at the same offset. */
    const char *order[] = {"w", "b", "s", "e", "u", "i"};
    for (size_t i = 0; i < 6; i++) {
        cr_assert_str_eq(mmrt_weights_at(w, i)->name, order[i],
                         "at(%zu) is \"%s\", expected \"%s\"", i, mmrt_weights_at(w, i)->name,
                         order[i]);
        expect_inside_mapping(mmrt_weights_at(w, i));
    }
    cr_assert_null(mmrt_weights_at(w, 6));
    cr_assert_null(mmrt_weights_find(w, "nope"));
    cr_assert_null(mmrt_weights_find(w, "__metadata__"));
    cr_assert_str_eq(mmrt_weights_metadata(w, "format"), "pt");
    cr_assert_null(mmrt_weights_metadata(w, "nope"));

    const mmrt_st_tensor *got = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weights_get(w, "w", 2, (const int64_t[]){2, 3}, &got, &err), MMRT_OK, "%s",
                 err.msg);
    cr_assert_eq(got, mmrt_weights_find(w, "w"));
    mmrt_weights_free(w);
    mmrt_weights_free(NULL);
    free(path);
}

Test(safetensors, header_only_and_edge_cases) {
    /* No tensors at all; metadata only. */
    char *p = write_st(g_dir, "empty.safetensors", "{\"__metadata__\":{\"a\":\"b\"}}", NULL, 0);
    mmrt_weights *w = open_ok(p);
    cr_assert_eq(mmrt_weights_count(w), 0);
    cr_assert_null(mmrt_weights_find(w, "a"));
    cr_assert_str_eq(mmrt_weights_metadata(w, "a"), "b");
    mmrt_weights_free(w);
    free(p);
    /* An empty tensor inside another's byte range occupies nothing: not an overlap. Integral
     * doubles (8.0) are exact integers; leading/trailing JSON whitespace is fine. */
    p = write_st(g_dir, "edge.safetensors",
                 " {\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]},"
                 "\"z\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[4,4]}}\n  ",
                 (const float[]){1, 2}, 8);
    w = open_ok(p);
    cr_assert_eq(mmrt_weights_count(w), 2);
    cr_assert_eq(find_ok(w, "a")->n_bytes, 8);
    cr_assert_eq(f32_at(find_ok(w, "a"), 1), 2.0f);
    mmrt_weights_free(w);
    free(p);
}

/* A directory with only model.safetensors; the same through a symlink (the HF cache layout). */
Test(safetensors, single_file_directory) {
    char *dir = tmpdir_mkdir(g_dir, "model");
    free(write_valid(dir, "model.safetensors"));
    mmrt_weights *w = open_ok(dir);
    cr_assert_eq(mmrt_weights_count(w), 6);
    char *want = tmpdir_path(dir, "model.safetensors");
    cr_assert_str_eq(find_ok(w, "w")->file, want);
    mmrt_weights_free(w);

    char *link = tmpdir_path(g_dir, "link.safetensors");
    cr_assert_eq(symlink(want, link), 0);
    w = open_ok(link);
    cr_assert_eq(mmrt_weights_count(w), 6);
    mmrt_weights_free(w);
    free(link);
    free(want);
    free(dir);
}

static const char SHARD1[] = "model-00001-of-00002.safetensors";
static const char SHARD2[] = "model-00002-of-00002.safetensors";

/* Two shards: a, b in SHARD1, c in SHARD2. */
static char *write_shards(const char *name) {
    char *dir = tmpdir_mkdir(g_dir, name);
    free(write_st(dir, SHARD1,
                  "{\"__metadata__\":{\"format\":\"pt\"},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[8,10]}}",
                  (const unsigned char[]){0, 0, 128, 63, 0, 0, 0, 64, 0, 60}, 10));
    free(write_st(dir, SHARD2,
                  "{\"__metadata__\":{\"format\":\"other\"},"
                  "\"c\":{\"dtype\":\"BF16\",\"shape\":[1,1],\"data_offsets\":[0,2]}}",
                  (const uint16_t[]){0xbf80}, 2));
    return dir;
}

static void write_index(const char *dir, const char *weight_map) {
    char text[2048];
    snprintf(text, sizeof text, "{\"metadata\":{\"total_size\":12},\"weight_map\":%s}", weight_map);
    free(tmpdir_write_str(dir, "model.safetensors.index.json", text));
}

Test(safetensors, sharded_directory) {
    char *dir = write_shards("sharded");
    /* The index wins over a (here broken) model.safetensors. Shards are listed out of order and
     * SHARD1 twice: each is mapped once, in name order. */
    free(tmpdir_write_str(dir, "model.safetensors", "garbage"));
    write_index(dir, "{\"c\":\"model-00002-of-00002.safetensors\","
                     "\"a\":\"model-00001-of-00002.safetensors\","
                     "\"b\":\"model-00001-of-00002.safetensors\"}");
    mmrt_weights *w = open_ok(dir);
    cr_assert_eq(mmrt_weights_count(w), 3, "count %zu", mmrt_weights_count(w));
    char *p1 = tmpdir_path(dir, SHARD1), *p2 = tmpdir_path(dir, SHARD2);
    const mmrt_st_tensor *a = find_ok(w, "a"), *b = find_ok(w, "b"), *c = find_ok(w, "c");
    cr_assert_str_eq(a->file, p1);
    cr_assert_str_eq(b->file, p1);
    cr_assert_str_eq(c->file, p2);
    cr_assert_eq(a->file, b->file, "tensors of one shard must share its path (mapped once)");
    expect_shape(a, MMRT_F32, 1, (const int64_t[]){2});
    expect_shape(c, MMRT_BF16, 2, (const int64_t[]){1, 1});
    cr_assert_eq(f32_at(a, 0), 1.0f);
    cr_assert_eq(f32_at(a, 1), 2.0f);
    uint16_t h;
    memcpy(&h, b->data, 2);
    cr_assert_eq(mmrt_f16_to_f32(h), 1.0f);
    memcpy(&h, c->data, 2);
    cr_assert_eq(mmrt_bf16_to_f32(h), -1.0f);
    cr_assert_str_eq(mmrt_weights_at(w, 0)->name, "a");
    cr_assert_str_eq(mmrt_weights_at(w, 2)->name, "c");
    for (size_t i = 0; i < 3; i++) expect_inside_mapping(mmrt_weights_at(w, i));
    cr_assert_str_eq(mmrt_weights_metadata(w, "format"), "pt");
    mmrt_weights_free(w);
    free(p1);
    free(p2);
    free(dir);
}

/* ---- hostile headers (one process per case) ------------------------------------------------ */

/* Arrays, not pointers: Criterion may run each case in a fresh exec of this binary, where a
 * pointer into the parent's address space would not be valid. */
typedef struct bad_header {
    char header[160];
    mmrt_status status;
    char needle[48];
} bad_header;

#define T(dtype, shape, offs)                                                                      \
    "{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offs "}"

ParameterizedTestParameters(safetensors, bad_header) {
    static bad_header cases[] = {
        {"{\"a\": ", MMRT_ERR_BAD_FORMAT, "not valid JSON"},
        {"[1, 2]", MMRT_ERR_BAD_FORMAT, "not a JSON object"},
        {"{} garbage", MMRT_ERR_BAD_FORMAT, "unexpected data"},
        {"   ", MMRT_ERR_BAD_FORMAT, "empty"},
        {"{\"a\": 5}", MMRT_ERR_BAD_FORMAT, "\"a\": entry is not a JSON object"},
        {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", MMRT_ERR_BAD_FORMAT,
         "missing field \"dtype\""},
        {"{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", MMRT_ERR_BAD_FORMAT,
         "\"dtype\" must be a string"},
        {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", MMRT_ERR_BAD_FORMAT,
         "missing field \"shape\""},
        {"{\"a\":" T("F32", "4", "[0,16]") "}", MMRT_ERR_BAD_FORMAT, "\"shape\" is not a list"},
        {"{\"a\":" T("F32", "[-1]", "[0,4]") "}", MMRT_ERR_BAD_FORMAT,
         "shape[0] is not a non-negative integer"},
        {"{\"a\":" T("F32", "[1, 2.5]", "[0,4]") "}", MMRT_ERR_BAD_FORMAT,
         "shape[1] is not a non-negative integer"},
        {"{\"a\":" T("F32", "[1e16]", "[0,4]") "}", MMRT_ERR_BAD_FORMAT,
         "shape[0] is not a non-negative integer"},
        {"{\"a\":" T("F32", "[\"2\"]", "[0,8]") "}", MMRT_ERR_BAD_FORMAT,
         "shape[0] is not a non-negative integer"},
        {"{\"a\":" T("F32", "[4294967296, 4294967296, 16]", "[0,0]") "}", MMRT_ERR_BAD_FORMAT,
         "overflows"},
        {"{\"a\":" T("I64", "[4294967296, 536870912]", "[0,0]") "}", MMRT_ERR_BAD_FORMAT,
         "overflows"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", MMRT_ERR_BAD_FORMAT,
         "missing field \"data_offsets\""},
        {"{\"a\":" T("F32", "[1]", "[0]") "}", MMRT_ERR_BAD_FORMAT, "list of two integers"},
        {"{\"a\":" T("F32", "[1]", "[0,4,8]") "}", MMRT_ERR_BAD_FORMAT, "list of two integers"},
        {"{\"a\":" T("F32", "[1]", "\"0-4\"") "}", MMRT_ERR_BAD_FORMAT, "list of two integers"},
        {"{\"a\":" T("F32", "[1]", "[-4,0]") "}", MMRT_ERR_BAD_FORMAT,
         "data_offsets[0] is not a non-negative integer"},
        {"{\"a\":" T("F32", "[1]", "[0,4.5]") "}", MMRT_ERR_BAD_FORMAT,
         "data_offsets[1] is not a non-negative integer"},
        {"{\"a\":" T("F32", "[1]", "[0,1e300]") "}", MMRT_ERR_BAD_FORMAT,
         "data_offsets[1] is not a non-negative integer"},
        {"{\"a\":" T("F32", "[1]", "[8,4]") "}", MMRT_ERR_BAD_FORMAT, "decreasing"},
        {"{\"a\":" T("F32", "[20]", "[0,80]") "}", MMRT_ERR_BAD_FORMAT, "beyond the data section"},
        {"{\"a\":" T("U8", "[1]", "[1000000000000000,1000000000000001]") "}", MMRT_ERR_BAD_FORMAT,
         "beyond the data section"},
        {"{\"a\":" T("F32", "[2]", "[0,4]") "}", MMRT_ERR_BAD_FORMAT, "size mismatch"},
        {"{\"a\":" T("BF16", "[2,2]", "[0,4]") "}", MMRT_ERR_BAD_FORMAT, "size mismatch"},
        {"{\"a\":" T("F32", "[2]", "[0,8]") ",\"b\":" T("F32", "[2]", "[4,12]") "}",
         MMRT_ERR_BAD_FORMAT, "overlap"},
        {"{\"b\":" T("F32", "[4]", "[0,16]") ",\"a\":" T("U8", "[1]", "[15,16]") "}",
         MMRT_ERR_BAD_FORMAT, "overlap"},
        {"{\"a\":" T("F32", "[1]", "[0,4]") ",\"b\":" T("F32", "[1]", "[0,4]") "}",
         MMRT_ERR_BAD_FORMAT, "overlap"},
        {"{\"a\":" T("F32", "[1]", "[0,4]") ",\"a\":" T("F32", "[1]", "[4,8]") "}",
         MMRT_ERR_BAD_FORMAT, "duplicate tensor \"a\""},
        {"{\"a\":" T("F8_E4M3", "[4]", "[0,4]") "}", MMRT_ERR_UNSUPPORTED, "F8_E4M3"},
        {"{\"a\":" T("BOOL", "[4]", "[0,4]") "}", MMRT_ERR_UNSUPPORTED, "BOOL"},
        {"{\"a\":" T("F32", "[1,1,1,1,1]", "[0,4]") "}", MMRT_ERR_UNSUPPORTED, "dimensions"},
        {"{\"__metadata__\":{\"format\":1}}", MMRT_ERR_BAD_FORMAT, "__metadata__"},
        {"{\"__metadata__\":[\"pt\"]}", MMRT_ERR_BAD_FORMAT, "__metadata__"},
    };
    return cr_make_param_array(bad_header, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(bad_header *c, safetensors, bad_header) {
    unsigned char data[64] = {0};
    char *path = write_st(g_dir, "bad.safetensors", c->header, data, sizeof data);
    mmrt_weights *w = NULL;
    mmrt_error err = {0};
    mmrt_status st = mmrt_weights_open(path, &w, &err);
    cr_assert_eq(st, c->status, "header %s: status %s, expected %s; message: \"%s\"", c->header,
                 mmrt_status_str(st), mmrt_status_str(c->status), err.msg);
    cr_assert_null(w, "header %s: a handle was returned on failure", c->header);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, c->needle),
              "header %s: message \"%s\" does not name %s and \"%s\"", c->header, err.msg, path,
              c->needle);
    free(path);
}

/* ---- hostile file layouts ---------------------------------------------------------------- */

Test(safetensors, empty_file) {
    char *p = tmpdir_write(g_dir, "zero.safetensors", "", 0);
    EXPECT_OPEN_FAILS(p, MMRT_ERR_BAD_FORMAT, p, "empty");
    free(p);
}

Test(safetensors, shorter_than_length_field) {
    char *p = tmpdir_write(g_dir, "short.safetensors", "\x05\0\0\0\0", 5);
    EXPECT_OPEN_FAILS(p, MMRT_ERR_BAD_FORMAT, p, "5 bytes", "too short");
    free(p);
}

Test(safetensors, header_length_zero) {
    char *p = write_st_raw(g_dir, "h0.safetensors", 0, "{}", NULL, 0);
    EXPECT_OPEN_FAILS(p, MMRT_ERR_BAD_FORMAT, p, "header length is 0");
    free(p);
}

Test(safetensors, header_length_beyond_file) {
    char *p = write_st_raw(g_dir, "hbig.safetensors", 1000, "{}", NULL, 0);
    EXPECT_OPEN_FAILS(p, MMRT_ERR_BAD_FORMAT, p, "header length 1000", "exceeds the file size");
    free(p);
    /* One byte too long: the header would swallow a byte past the end. */
    p = write_st_raw(g_dir, "h3.safetensors", 3, "{}", NULL, 0);
    EXPECT_OPEN_FAILS(p, MMRT_ERR_BAD_FORMAT, p, "exceeds the file size");
    free(p);
}

Test(safetensors, header_length_absurd) {
    char *p = write_st_raw(g_dir, "habs.safetensors", (uint64_t)1 << 62, "{}", NULL, 0);
    EXPECT_OPEN_FAILS(p, MMRT_ERR_BAD_FORMAT, p, "header length", "limit");
    free(p);
    p = write_st_raw(g_dir, "habs2.safetensors", MMRT_ST_MAX_HEADER_BYTES + 1, "{}", NULL, 0);
    EXPECT_OPEN_FAILS(p, MMRT_ERR_BAD_FORMAT, p, "limit");
    free(p);
}

/* A header shorter than the JSON inside it: the parser must stop at the header length. */
Test(safetensors, header_length_truncates_json) {
    char *p = write_st_raw(g_dir, "trunc.safetensors", 10, "{\"a\":" T("U8", "[1]", "[0,1]") "}",
                           NULL, 0);
    EXPECT_OPEN_FAILS(p, MMRT_ERR_BAD_FORMAT, p, "not valid JSON");
    free(p);
}

Test(safetensors, missing_path) {
    char *p = tmpdir_path(g_dir, "absent.safetensors");
    EXPECT_OPEN_FAILS(p, MMRT_ERR_IO, p, "No such file");
    free(p);
}

Test(safetensors, fifo_is_not_a_regular_file) {
    char *p = tmpdir_path(g_dir, "fifo.safetensors");
    cr_assert_eq(mkfifo(p, 0600), 0);
    EXPECT_OPEN_FAILS(p, MMRT_ERR_IO, p, "not a regular file");
    free(p);
}

Test(safetensors, directory_without_weights) {
    char *dir = tmpdir_mkdir(g_dir, "nothing");
    free(tmpdir_write_str(dir, "config.json", "{}"));
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_IO, dir, "model.safetensors.index.json", "model.safetensors",
                      "no ");
    free(dir);
}

/* ---- hostile sharded directories --------------------------------------------------------- */

Test(safetensors, shard_missing_tensor) {
    char *dir = write_shards("s_missing");
    write_index(dir, "{\"a\":\"model-00001-of-00002.safetensors\","
                     "\"zzz\":\"model-00002-of-00002.safetensors\"}");
    char *index = tmpdir_path(dir, "model.safetensors.index.json");
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_MODEL, index, "\"zzz\"", SHARD2, "missing");
    free(index);
    free(dir);
}

Test(safetensors, shard_wrong_file) {
    char *dir = write_shards("s_wrong");
    write_index(dir, "{\"a\":\"model-00002-of-00002.safetensors\","
                     "\"c\":\"model-00001-of-00002.safetensors\"}");
    char *index = tmpdir_path(dir, "model.safetensors.index.json");
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_MODEL, index, "missing from", "found in");
    free(index);
    free(dir);
}

Test(safetensors, shard_file_absent) {
    char *dir = write_shards("s_absent");
    write_index(dir, "{\"a\":\"model-00001-of-00002.safetensors\",\"q\":\"gone.safetensors\"}");
    char *gone = tmpdir_path(dir, "gone.safetensors");
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_IO, gone, "No such file");
    free(gone);
    free(dir);
}

Test(safetensors, shard_is_directory) {
    char *dir = write_shards("s_dir");
    free(tmpdir_mkdir(dir, "sub.safetensors"));
    write_index(dir, "{\"a\":\"sub.safetensors\"}");
    char *sub = tmpdir_path(dir, "sub.safetensors");
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_IO, sub, "is a directory");
    free(sub);
    free(dir);
}

Test(safetensors, shard_escapes_directory) {
    char *dir = write_shards("s_escape");
    char *index = tmpdir_path(dir, "model.safetensors.index.json");
    write_index(dir, "{\"a\":\"../model-00001-of-00002.safetensors\"}");
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_BAD_FORMAT, index, "relative path");
    write_index(dir, "{\"a\":\"/etc/passwd\"}");
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_BAD_FORMAT, index, "relative path");
    free(index);
    free(dir);
}

Test(safetensors, shard_duplicate_across_files) {
    char *dir = tmpdir_mkdir(g_dir, "s_dup");
    free(write_st(dir, SHARD1, "{\"a\":" T("U8", "[1]", "[0,1]") "}", "x", 1));
    free(write_st(dir, SHARD2, "{\"a\":" T("U8", "[1]", "[0,1]") "}", "y", 1));
    write_index(dir, "{\"a\":\"model-00001-of-00002.safetensors\","
                     "\"b\":\"model-00002-of-00002.safetensors\"}");
    char *p1 = tmpdir_path(dir, SHARD1), *p2 = tmpdir_path(dir, SHARD2);
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_BAD_FORMAT, p1, p2, "duplicate tensor \"a\"");
    free(p1);
    free(p2);
    free(dir);
}

Test(safetensors, bad_index_files) {
    char *dir = write_shards("s_index");
    char *index = tmpdir_path(dir, "model.safetensors.index.json");
    free(tmpdir_write_str(dir, "model.safetensors.index.json", "{\"weight_map\": {"));
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_BAD_FORMAT, index, "not valid JSON");
    free(tmpdir_write_str(dir, "model.safetensors.index.json", "{\"metadata\": {}}"));
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_BAD_FORMAT, index, "missing field \"weight_map\"");
    write_index(dir, "[]");
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_BAD_FORMAT, index, "\"weight_map\" must be an object");
    write_index(dir, "{}");
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_BAD_FORMAT, index, "weight_map is empty");
    write_index(dir, "{\"a\": 3}");
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_BAD_FORMAT, index, "\"a\"", "file name string");
    free(tmpdir_write(dir, "model.safetensors.index.json", "", 0));
    EXPECT_OPEN_FAILS(dir, MMRT_ERR_BAD_FORMAT, index, "empty");
    free(index);
    free(dir);
}

/* ---- mmrt_weights_get -------------------------------------------------------------------- */

Test(safetensors, get_checks_name_dtype_and_shape) {
    char *path = write_valid(g_dir, "get.safetensors");
    mmrt_weights *w = open_ok(path);
    const mmrt_st_tensor *t = (const mmrt_st_tensor *)w; /* must be reset to NULL on failure */
    mmrt_error err = {0};

    mmrt_status st =
        mmrt_weights_get(w, "model.missing.weight", 2, (const int64_t[]){2, 3}, &t, &err);
    EXPECT_ERROR(st, MMRT_ERR_MODEL, &err, path, "\"model.missing.weight\"", "not found");
    cr_assert_null(t);

    st = mmrt_weights_get(w, "w", 2, (const int64_t[]){3, 2}, &t, &err);
    EXPECT_ERROR(st, MMRT_ERR_MODEL, &err, path, "\"w\"", "has shape [2, 3], expected [3, 2]");
    cr_assert_null(t);

    st = mmrt_weights_get(w, "w", 3, (const int64_t[]){1, 2, 3}, &t, &err);
    EXPECT_ERROR(st, MMRT_ERR_MODEL, &err, path, "expected [1, 2, 3]");

    st = mmrt_weights_get(w, "i", 1, (const int64_t[]){1}, &t, &err);
    EXPECT_ERROR(st, MMRT_ERR_MODEL, &err, path, "\"i\"", "dtype I32", "float");

    st = mmrt_weights_get(w, "w", 5, (const int64_t[]){1, 1, 1, 2, 3}, &t, &err);
    EXPECT_ERROR(st, MMRT_ERR_INVALID_ARG, &err, NULL, "\"w\"");

    cr_assert_eq(mmrt_weights_get(w, "b", 1, (const int64_t[]){3}, &t, &err), MMRT_OK, "%s",
                 err.msg);
    cr_assert_str_eq(t->name, "b");
    mmrt_weights_free(w);
    free(path);
}

/* Many tensors: the hash index must find every one and nothing else. */
Test(safetensors, index_finds_many_tensors) {
    enum { N = 1000 };
    size_t cap = (size_t)N * 80 + 16, len = 0;
    char *header = malloc(cap);
    cr_assert_not_null(header);
    len += (size_t)snprintf(header + len, cap - len, "{");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(header + len, cap - len,
                                "%s\"layers.%d.w\":{\"dtype\":\"U8\",\"shape\":[1],"
                                "\"data_offsets\":[%d,%d]}",
                                i ? "," : "", i, i, i + 1);
    snprintf(header + len, cap - len, "}");
    unsigned char data[N];
    for (int i = 0; i < N; i++) data[i] = (unsigned char)(i * 7);
    char *p = write_st(g_dir, "many.safetensors", header, data, N);
    mmrt_weights *w = open_ok(p);
    cr_assert_eq(mmrt_weights_count(w), N);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "layers.%d.w", i);
        const mmrt_st_tensor *t = find_ok(w, name);
        cr_assert_eq(*(const unsigned char *)t->data, (unsigned char)(i * 7), "%s holds %d", name,
                     *(const unsigned char *)t->data);
    }
    cr_assert_null(mmrt_weights_find(w, "layers.1000.w"));
    cr_assert_null(mmrt_weights_find(w, "layers.1.w "));
    mmrt_weights_free(w);
    free(p);
    free(header);
}

/* ---- real checkpoints -------------------------------------------------------------------- */

/* Reads the file's own header independently and checks t's bytes equal the bytes at its
 * data_offsets. */
static void expect_bytes_match_file(const mmrt_st_tensor *t) {
    int fd = open(t->file, O_RDONLY);
    cr_assert(fd >= 0, "cannot open %s", t->file);
    unsigned char len8[8];
    cr_assert_eq(pread(fd, len8, 8, 0), 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | len8[i];
    char *header = malloc(hlen + 1);
    cr_assert_not_null(header);
    cr_assert_eq(pread(fd, header, hlen, 8), (ssize_t)hlen);
    header[hlen] = '\0';
    cJSON *root = cJSON_Parse(header);
    cr_assert_not_null(root, "%s: header does not parse", t->file);
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, t->name), "data_offsets");
    cr_assert_not_null(offs, "%s: no data_offsets for %s", t->file, t->name);
    off_t begin = (off_t)cJSON_GetArrayItem(offs, 0)->valuedouble;
    size_t n = (size_t)(cJSON_GetArrayItem(offs, 1)->valuedouble - (double)begin);
    cr_assert_eq(n, t->n_bytes, "%s: %zu bytes in the file, %zu in the record", t->name, n,
                 t->n_bytes);
    unsigned char *buf = malloc(n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(pread(fd, buf, n, 8 + (off_t)hlen + begin), (ssize_t)n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(buf[i], ((const unsigned char *)t->data)[i],
                     "%s: byte %zu is %u in the file, %u in the mapping", t->name, i, buf[i],
                     ((const unsigned char *)t->data)[i]);
    free(buf);
    cJSON_Delete(root);
    free(header);
    close(fd);
}

/* Opens path (a model directory or one file) and checks every tensor against the file. */
static void expect_weights_consistent(const char *path) {
    mmrt_weights *w = open_ok(path);
    size_t n = mmrt_weights_count(w);
    cr_assert_gt(n, 0, "%s: no tensors", path);
    for (size_t i = 0; i < n; i++) {
        const mmrt_st_tensor *t = mmrt_weights_at(w, i);
        size_t n_elem = 1;
        for (int k = 0; k < t->n_dims; k++) n_elem *= (size_t)t->shape[k];
        cr_assert_eq(t->n_bytes, n_elem * mmrt_dtype_size(t->dtype), "%s: %s", path, t->name);
        cr_assert_eq(mmrt_weights_find(w, t->name), t, "%s: find(%s)", path, t->name);
        expect_inside_mapping(t);
        expect_bytes_match_file(t);
    }
    mmrt_weights_free(w);
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Each fixture model directory (written by Hugging Face transformers, some sharded) opens as a
 * whole, and each .safetensors file in it (shards, reference activations) opens on its own. */
Test(safetensors, llama_fixtures) {
    const char *root = MMRT_FIXTURES_DIR "/llama";
    DIR *d = opendir(root);
    if (!d) cr_skip_test("no fixtures in %s", root);
    int n_models = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        /* A model directory has a config or weights; tokenizer-only fixtures are not models. */
        char probe[4096 + 300];
        bool is_model = false;
        const char *marks[] = {"config.json", "model.safetensors", "model.safetensors.index.json"};
        for (size_t k = 0; k < 3 && !is_model; k++) {
            snprintf(probe, sizeof probe, "%s/%s", dir, marks[k]);
            is_model = access(probe, F_OK) == 0;
        }
        if (!is_model) continue;
        expect_weights_consistent(dir);
        DIR *md = opendir(dir);
        cr_assert_not_null(md, "cannot list %s", dir);
        for (struct dirent *f; (f = readdir(md));) {
            if (!has_suffix(f->d_name, ".safetensors")) continue;
            snprintf(probe, sizeof probe, "%s/%s", dir, f->d_name);
            expect_weights_consistent(probe);
        }
        closedir(md);
        n_models++;
    }
    closedir(d);
    if (n_models == 0) cr_skip_test("no model directories in %s", root);
}
