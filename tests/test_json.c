/* JSON helpers: file loading (missing, empty, malformed files) and the typed getters (missing
 * fields, wrong types, ranges, null, duplicate keys), each failure checked for status and for a
 * message naming the file, the field and the problem. */
#include "core/fsutil.h"
#include "core/json.h"
#include "helpers/tmpdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *g_dir;

static void setup(void) { g_dir = tmpdir_make("json"); }
static void teardown(void) { tmpdir_remove(g_dir); }

TestSuite(json, .init = setup, .fini = teardown);

/* Fails (reporting the caller's line) unless st == want and the message holds each needle. */
static void expect_error(int line, mmrt_status st, mmrt_status want, const mmrt_error *err,
                         const char *const *needles) {
    cr_assert_eq(st, want, "line %d: status %d (%s), expected %d (%s); message: \"%s\"", line, st,
                 mmrt_status_str(st), want, mmrt_status_str(want), err->msg);
    for (; *needles; needles++)
        cr_assert(strstr(err->msg, *needles) != NULL,
                  "line %d: message \"%s\" does not contain \"%s\"", line, err->msg, *needles);
}
#define EXPECT_ERROR(st, want, err, ...)                                                           \
    expect_error(__LINE__, st, want, err, (const char *const[]){__VA_ARGS__, NULL})

static cJSON *parse_ok(const char *text) {
    cJSON *j = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_json_parse(text, strlen(text), "test", &j, &err), MMRT_OK, "%s", err.msg);
    cr_assert_not_null(j);
    return j;
}

/* ---- files ------------------------------------------------------------------------------- */

Test(json, load_file_ok) {
    char *p = tmpdir_write_str(g_dir, "config.json", "\n{\"hidden_size\": 576, \"x\": [1]}\n");
    cJSON *j = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_json_load_file(p, &j, &err), MMRT_OK, "%s", err.msg);
    int64_t v = 0;
    cr_assert_eq(mmrt_json_get_int(j, "hidden_size", true, 0, 1, 1 << 20, &v, p, &err), MMRT_OK);
    cr_assert_eq(v, 576, "hidden_size = %lld", (long long)v);
    cJSON_Delete(j);
    free(p);
}

Test(json, load_file_missing) {
    char *p = tmpdir_path(g_dir, "absent.json");
    cJSON *j = (cJSON *)p;
    mmrt_error err = {0};
    EXPECT_ERROR(mmrt_json_load_file(p, &j, &err), MMRT_ERR_IO, &err, p, "No such file");
    cr_assert_null(j);
    free(p);
}

Test(json, load_file_empty) {
    char *p = tmpdir_write(g_dir, "empty.json", "", 0);
    cJSON *j = NULL;
    mmrt_error err = {0};
    EXPECT_ERROR(mmrt_json_load_file(p, &j, &err), MMRT_ERR_BAD_FORMAT, &err, p, "empty");
    cr_assert_null(j);
    free(p);
    p = tmpdir_write_str(g_dir, "blank.json", " \n\t ");
    EXPECT_ERROR(mmrt_json_load_file(p, &j, &err), MMRT_ERR_BAD_FORMAT, &err, p, "empty");
    free(p);
}

Test(json, load_file_malformed) {
    char *p = tmpdir_write_str(g_dir, "bad.json", "{\"a\": 1,\n \"b\": }");
    cJSON *j = NULL;
    mmrt_error err = {0};
    EXPECT_ERROR(mmrt_json_load_file(p, &j, &err), MMRT_ERR_BAD_FORMAT, &err, p, "not valid JSON",
                 "at byte 15");
    cr_assert_null(j);
    free(p);
    p = tmpdir_write_str(g_dir, "two.json", "{} {}");
    EXPECT_ERROR(mmrt_json_load_file(p, &j, &err), MMRT_ERR_BAD_FORMAT, &err, p,
                 "unexpected data after the JSON value at byte 3");
    free(p);
    p = tmpdir_write(g_dir, "nul.json", "{}\0", 3);
    EXPECT_ERROR(mmrt_json_load_file(p, &j, &err), MMRT_ERR_BAD_FORMAT, &err, p, "unexpected data");
    free(p);
}

Test(json, load_file_not_a_file) {
    char *d = tmpdir_mkdir(g_dir, "sub.json");
    cJSON *j = NULL;
    mmrt_error err = {0};
    EXPECT_ERROR(mmrt_json_load_file(d, &j, &err), MMRT_ERR_IO, &err, d, "directory");
    free(d);
}

Test(json, read_file_limit_and_join) {
    char *p = tmpdir_write_str(g_dir, "ten.txt", "0123456789");
    char *buf = NULL;
    size_t n = 0;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_fs_read_file(p, 10, &buf, &n, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(n, 10);
    cr_assert_str_eq(buf, "0123456789");
    free(buf);
    EXPECT_ERROR(mmrt_fs_read_file(p, 9, &buf, &n, &err), MMRT_ERR_IO, &err, p, "limit");
    cr_assert_null(buf);
    cr_assert(mmrt_fs_is_file(p));
    cr_assert(!mmrt_fs_is_dir(p));
    cr_assert(mmrt_fs_is_dir(g_dir));
    free(p);
    /* Regular files that report size 0 (procfs) are still read to the end. */
    cr_assert_eq(mmrt_fs_read_file("/proc/self/status", 1 << 20, &buf, &n, &err), MMRT_OK, "%s",
                 err.msg);
    cr_assert_gt(n, 0);
    cr_assert_not_null(strstr(buf, "Name:"));
    free(buf);

    char *j = mmrt_fs_path_join("a", "b.json");
    cr_assert_str_eq(j, "a/b.json");
    free(j);
    j = mmrt_fs_path_join("a/", "b.json");
    cr_assert_str_eq(j, "a/b.json");
    free(j);
    j = mmrt_fs_path_join("", "b.json");
    cr_assert_str_eq(j, "b.json");
    free(j);
}

/* ---- getters ----------------------------------------------------------------------------- */

static const char CONFIG[] =
    "{\"hidden_size\": 576, \"float_int\": 64.0, \"frac\": 4.5, \"big\": 1e300,"
    " \"neg\": -3, \"name\": \"abc\", \"rope_theta\": 100000.0, \"inf\": 1e999,"
    " \"tie\": true, \"one\": 1, \"null_field\": null, \"dup\": 1, \"dup\": 2,"
    " \"eos\": [2, 49279], \"eos1\": 7, \"eos_bad\": [2, \"x\"], \"obj\": {\"k\": 1},"
    " \"empty_list\": [], \"exact53\": 9007199254740992}";

Test(json, get_int) {
    cJSON *j = parse_ok(CONFIG);
    mmrt_error err = {0};
    int64_t v = -1;
    cr_assert_eq(mmrt_json_get_int(j, "hidden_size", true, 0, 1, 4096, &v, "config.json", &err),
                 MMRT_OK, "%s", err.msg);
    cr_assert_eq(v, 576);
    cr_assert_eq(mmrt_json_get_int(j, "float_int", true, 0, 1, 4096, &v, "config.json", &err),
                 MMRT_OK, "%s", err.msg);
    cr_assert_eq(v, 64);
    cr_assert_eq(mmrt_json_get_int(j, "neg", true, 0, -10, 10, &v, "config.json", &err), MMRT_OK);
    cr_assert_eq(v, -3);
    /* Absent or null, not required: the default. */
    cr_assert_eq(mmrt_json_get_int(j, "absent", false, 42, 0, 100, &v, "config.json", &err),
                 MMRT_OK);
    cr_assert_eq(v, 42);
    v = -1;
    cr_assert_eq(mmrt_json_get_int(j, "null_field", false, 43, 0, 100, &v, "config.json", &err),
                 MMRT_OK);
    cr_assert_eq(v, 43);
    /* Duplicate keys: the last one wins, as in Python. */
    cr_assert_eq(mmrt_json_get_int(j, "dup", true, 0, 0, 100, &v, "config.json", &err), MMRT_OK);
    cr_assert_eq(v, 2, "dup = %lld, expected the last value 2", (long long)v);

    v = 99;
    EXPECT_ERROR(mmrt_json_get_int(j, "absent", true, 0, 0, 100, &v, "config.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err, "config.json", "missing field \"absent\"");
    EXPECT_ERROR(mmrt_json_get_int(j, "null_field", true, 0, 0, 100, &v, "config.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err, "missing field \"null_field\"");
    EXPECT_ERROR(mmrt_json_get_int(j, "name", true, 0, 0, 100, &v, "config.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err,
                 "config.json: field \"name\" must be an integer, got \"abc\"");
    EXPECT_ERROR(mmrt_json_get_int(j, "frac", true, 0, 0, 100, &v, "config.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err, "\"frac\" must be an integer, got 4.5");
    EXPECT_ERROR(mmrt_json_get_int(j, "big", true, 0, 0, 100, &v, "config.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err, "\"big\" must be an integer");
    EXPECT_ERROR(mmrt_json_get_int(j, "exact53", true, 0, 0, INT64_MAX, &v, "config.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err, "\"exact53\" must be an integer");
    EXPECT_ERROR(mmrt_json_get_int(j, "tie", true, 0, 0, 100, &v, "config.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err, "must be an integer, got true");
    EXPECT_ERROR(mmrt_json_get_int(j, "hidden_size", true, 0, 1, 512, &v, "config.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err, "config.json", "\"hidden_size\" is 576",
                 "out of range [1, 512]");
    EXPECT_ERROR(mmrt_json_get_int(j, "neg", true, 0, 0, 10, &v, NULL, &err), MMRT_ERR_BAD_FORMAT,
                 &err, "JSON: field \"neg\" is -3");
    cr_assert_eq(v, 99, "*out changed on failure: %lld", (long long)v);
    cJSON_Delete(j);
}

Test(json, get_double_bool_string_object) {
    cJSON *j = parse_ok(CONFIG);
    mmrt_error err = {0};
    double d = 0;
    cr_assert_eq(mmrt_json_get_double(j, "rope_theta", true, 0, &d, "c.json", &err), MMRT_OK);
    cr_assert_eq(d, 100000.0);
    cr_assert_eq(mmrt_json_get_double(j, "hidden_size", true, 0, &d, "c.json", &err), MMRT_OK);
    cr_assert_eq(d, 576.0);
    cr_assert_eq(mmrt_json_get_double(j, "absent", false, 1e-5, &d, "c.json", &err), MMRT_OK);
    cr_assert_eq(d, 1e-5);
    EXPECT_ERROR(mmrt_json_get_double(j, "name", true, 0, &d, "c.json", &err), MMRT_ERR_BAD_FORMAT,
                 &err, "c.json: field \"name\" must be a finite number, got \"abc\"");
    EXPECT_ERROR(mmrt_json_get_double(j, "inf", true, 0, &d, "c.json", &err), MMRT_ERR_BAD_FORMAT,
                 &err, "\"inf\" must be a finite number");
    EXPECT_ERROR(mmrt_json_get_double(j, "absent", true, 0, &d, "c.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err, "c.json", "missing field \"absent\"");

    bool b = false;
    cr_assert_eq(mmrt_json_get_bool(j, "tie", true, false, &b, "c.json", &err), MMRT_OK);
    cr_assert(b);
    cr_assert_eq(mmrt_json_get_bool(j, "absent", false, true, &b, "c.json", &err), MMRT_OK);
    cr_assert(b);
    EXPECT_ERROR(mmrt_json_get_bool(j, "one", true, false, &b, "c.json", &err), MMRT_ERR_BAD_FORMAT,
                 &err, "c.json: field \"one\" must be true or false, got 1");
    EXPECT_ERROR(mmrt_json_get_bool(j, "absent", true, false, &b, "c.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err, "missing field \"absent\"");

    const char *s = NULL;
    cr_assert_eq(mmrt_json_get_string(j, "name", true, &s, "c.json", &err), MMRT_OK);
    cr_assert_str_eq(s, "abc");
    cr_assert_eq(mmrt_json_get_string(j, "absent", false, &s, "c.json", &err), MMRT_OK);
    cr_assert_null(s);
    EXPECT_ERROR(mmrt_json_get_string(j, "eos", true, &s, "c.json", &err), MMRT_ERR_BAD_FORMAT,
                 &err, "c.json: field \"eos\" must be a string, got [2,49279]");
    EXPECT_ERROR(mmrt_json_get_string(j, "absent", true, &s, "c.json", &err), MMRT_ERR_BAD_FORMAT,
                 &err, "missing field \"absent\"");

    const cJSON *o = NULL;
    cr_assert_eq(mmrt_json_get_object(j, "obj", true, &o, "c.json", &err), MMRT_OK);
    int64_t k = 0;
    cr_assert_eq(mmrt_json_get_int(o, "k", true, 0, 0, 9, &k, "c.json obj", &err), MMRT_OK);
    cr_assert_eq(k, 1);
    cr_assert_eq(mmrt_json_get_object(j, "null_field", false, &o, "c.json", &err), MMRT_OK);
    cr_assert_null(o);
    EXPECT_ERROR(mmrt_json_get_object(j, "name", true, &o, "c.json", &err), MMRT_ERR_BAD_FORMAT,
                 &err, "\"name\" must be an object");
    /* A NULL object (an absent optional sub-object) has no fields. */
    k = 5;
    cr_assert_eq(mmrt_json_get_int(NULL, "k", false, 7, 0, 9, &k, "c.json", &err), MMRT_OK);
    cr_assert_eq(k, 7);
    EXPECT_ERROR(mmrt_json_get_int(NULL, "k", true, 7, 0, 9, &k, "c.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err, "missing field \"k\"");
    /* A non-object where an object is expected. */
    EXPECT_ERROR(
        mmrt_json_get_int(mmrt_json_find(j, "eos"), "k", false, 7, 0, 9, &k, "c.json", &err),
        MMRT_ERR_BAD_FORMAT, &err, "c.json", "expected a JSON object");
    cJSON_Delete(j);
}

Test(json, get_int_list) {
    cJSON *j = parse_ok(CONFIG);
    mmrt_error err = {0};
    int64_t vals[4] = {0};
    int n = -1;
    cr_assert_eq(mmrt_json_get_int_list(j, "eos", vals, 4, &n, "g.json", &err), MMRT_OK, "%s",
                 err.msg);
    cr_assert_eq(n, 2);
    cr_assert_eq(vals[0], 2);
    cr_assert_eq(vals[1], 49279);
    cr_assert_eq(mmrt_json_get_int_list(j, "eos1", vals, 4, &n, "g.json", &err), MMRT_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(vals[0], 7);
    cr_assert_eq(mmrt_json_get_int_list(j, "absent", vals, 4, &n, "g.json", &err), MMRT_OK);
    cr_assert_eq(n, 0);
    n = -1;
    cr_assert_eq(mmrt_json_get_int_list(j, "empty_list", vals, 4, &n, "g.json", &err), MMRT_OK);
    cr_assert_eq(n, 0);

    n = -1;
    vals[0] = 123;
    EXPECT_ERROR(mmrt_json_get_int_list(j, "eos", vals, 1, &n, "g.json", &err), MMRT_ERR_BAD_FORMAT,
                 &err, "g.json", "\"eos\" has 2 values, more than the 1");
    EXPECT_ERROR(mmrt_json_get_int_list(j, "eos_bad", vals, 4, &n, "g.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err,
                 "g.json: field \"eos_bad\" must be an integer or a "
                 "list of integers, got [2,\"x\"]");
    EXPECT_ERROR(mmrt_json_get_int_list(j, "name", vals, 4, &n, "g.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err, "must be an integer or a list of integers");
    EXPECT_ERROR(mmrt_json_get_int_list(j, "frac", vals, 4, &n, "g.json", &err),
                 MMRT_ERR_BAD_FORMAT, &err, "got 4.5");
    cr_assert_eq(n, -1, "*n changed on failure: %d", n);
    cr_assert_eq(vals[0], 123, "vals changed on failure: %lld", (long long)vals[0]);
    cJSON_Delete(j);
}

Test(json, long_values_are_shortened) {
    char text[512];
    snprintf(text, sizeof text, "{\"s\": \"%0200d\"}", 7);
    cJSON *j = parse_ok(text);
    mmrt_error err = {0};
    int64_t v;
    EXPECT_ERROR(mmrt_json_get_int(j, "s", true, 0, 0, 1, &v, "c.json", &err), MMRT_ERR_BAD_FORMAT,
                 &err, "must be an integer, got \"000", "...");
    cr_assert_lt(strlen(err.msg), 150, "message not shortened: %s", err.msg);
    cJSON_Delete(j);
}
