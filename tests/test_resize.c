/* vision/resize: byte-for-byte equality with Pillow's Image.resize on every case of
 * tests/fixtures/resize/ (tools/fixtures_resize.py), per filter and mode; argument checks. */
#include "core/json.h"
#include "core/safetensors.h"
#include "core/sha256.h"
#include "vision/resize.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESIZE_DIR MMRT_FIXTURES_DIR "/resize"

TestSuite(resize);

/* ---- fixture cases ------------------------------------------------------------------------- */

/* Compares got with the stored Pillow output; prints the first few mismatches as
 * (x, y, c, expected, got). Returns the number of differing bytes. */
static size_t compare_bytes(const char *label, const uint8_t *want, const uint8_t *got, int w,
                            int h, int ch) {
    size_t n_bad = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) {
                size_t i = ((size_t)y * (size_t)w + (size_t)x) * (size_t)ch + (size_t)c;
                if (want[i] == got[i]) continue;
                if (n_bad < 5)
                    fprintf(stderr, "%s: mismatch at (x %d, y %d, c %d): expected %d, got %d\n",
                            label, x, y, c, want[i], got[i]);
                n_bad++;
            }
    return n_bad;
}

/* For outputs too big to store: the first 8 bytes of each row's sha256. Prints the first rows
 * that differ. Returns the number of differing rows. */
static size_t compare_row_hashes(const char *label, const uint8_t *want, const uint8_t *got, int w,
                                 int h, int ch) {
    size_t n_bad = 0, row = (size_t)w * (size_t)ch;
    for (int y = 0; y < h; y++) {
        char hex[MMRT_SHA256_HEX_LEN], want_hex[17];
        mmrt_error err = {0};
        cr_assert_eq(mmrt_sha256_buf(got + (size_t)y * row, row, hex, &err), MMRT_OK, "%s",
                     err.msg);
        for (int i = 0; i < 8; i++) snprintf(want_hex + 2 * i, 3, "%02x", want[(size_t)y * 8 + i]);
        if (strncmp(hex, want_hex, 16) == 0) continue;
        if (n_bad < 5)
            fprintf(stderr, "%s: row %d differs (sha256 %.16s, expected %s)\n", label, y, hex,
                    want_hex);
        n_bad++;
    }
    return n_bad;
}

static mmrt_resample filter_from_name(const char *name) {
    if (strcmp(name, "bilinear") == 0) return MMRT_RESAMPLE_BILINEAR;
    if (strcmp(name, "bicubic") == 0) return MMRT_RESAMPLE_BICUBIC;
    cr_assert_str_eq(name, "lanczos", "unknown filter in cases.json");
    return MMRT_RESAMPLE_LANCZOS;
}

static const mmrt_st_tensor *find_u8(const mmrt_weights *wts, const char *name, int64_t d0,
                                     int64_t d1, int64_t d2) {
    const mmrt_st_tensor *t = mmrt_weights_find(wts, name);
    cr_assert(t != NULL, "tensor %s missing from resize.safetensors", name);
    cr_assert_eq(t->dtype, MMRT_U8, "%s: not U8", name);
    int64_t want = d0 * d1 * d2;
    cr_assert_eq((int64_t)t->n_bytes, want, "%s: %zu bytes, expected %lld", name, t->n_bytes,
                 (long long)want);
    return t;
}

/* A non-negative integer field of a case (sizes below 2^16 keep every product in range). */
static int64_t case_int(const cJSON *c, const char *key) {
    mmrt_error err = {0};
    int64_t v = 0;
    cr_assert_eq(mmrt_json_get_int(c, key, true, 0, 0, 1 << 16, &v, "cases.json", &err), MMRT_OK,
                 "%s", err.msg);
    return v;
}

/* Runs every case of `filter` on `mode` and fails if any output differs from Pillow's. */
static void check_cases(const char *filter, const char *mode) {
    mmrt_error err = {0};
    cJSON *doc = NULL;
    mmrt_weights *wts = NULL;
    cr_assert_eq(mmrt_json_load_file(RESIZE_DIR "/cases.json", &doc, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_weights_open(RESIZE_DIR "/resize.safetensors", &wts, &err), MMRT_OK, "%s",
                 err.msg);
    const cJSON *cases = mmrt_json_find(doc, "cases");
    cr_assert(cJSON_IsArray(cases), "cases.json: no \"cases\" array");

    int n_run = 0, n_failed = 0, n_hashed = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *f = cJSON_GetStringValue(mmrt_json_find(c, "filter"));
        const char *m = cJSON_GetStringValue(mmrt_json_find(c, "mode"));
        cr_assert(f && m, "cases.json: case without filter/mode");
        if (strcmp(f, filter) != 0 || strcmp(m, mode) != 0) continue;
        int64_t id = case_int(c, "id"), w = case_int(c, "w"), h = case_int(c, "h");
        int64_t ch = case_int(c, "channels"), nw = case_int(c, "new_w"), nh = case_int(c, "new_h");
        cr_assert(ch == 1 || ch == 3 || ch == 4, "case %lld: %lld channels", (long long)id,
                  (long long)ch);
        const char *image = cJSON_GetStringValue(mmrt_json_find(c, "image"));
        const char *check = cJSON_GetStringValue(mmrt_json_find(c, "check"));
        const char *tensor = cJSON_GetStringValue(mmrt_json_find(c, "tensor"));
        cr_assert(image && check && tensor, "cases.json: case %lld incomplete", (long long)id);

        char src_name[256], label[256];
        snprintf(src_name, sizeof src_name, "src.%s.%s", image, mode);
        snprintf(label, sizeof label, "case %lld (%s %s %lldx%lld -> %lldx%lld, %s)", (long long)id,
                 image, mode, (long long)w, (long long)h, (long long)nw, (long long)nh, filter);
        const mmrt_st_tensor *src = find_u8(wts, src_name, h, w, ch);
        bool hashed = strcmp(check, "row_sha256") == 0;
        const mmrt_st_tensor *want = hashed ? find_u8(wts, tensor, nh, 8, 1)
                                            : find_u8(wts, tensor, nh, nw, ch);

        size_t n_out = (size_t)(nw * nh * ch);
        uint8_t *got = malloc(n_out);
        cr_assert(got != NULL);
        mmrt_status st = mmrt_resize_u8(src->data, (int32_t)w, (int32_t)h, (int32_t)ch, got,
                                        (int32_t)nw, (int32_t)nh, filter_from_name(f), &err);
        cr_assert_eq(st, MMRT_OK, "%s: %s", label, err.msg);
        size_t n_bad = hashed
                           ? compare_row_hashes(label, want->data, got, (int)nw, (int)nh, (int)ch)
                           : compare_bytes(label, want->data, got, (int)nw, (int)nh, (int)ch);
        if (n_bad) {
            fprintf(stderr, "%s: %zu %s differ from Pillow\n", label, n_bad,
                    hashed ? "rows" : "bytes");
            n_failed++;
        }
        n_hashed += hashed;
        n_run++;
        free(got);
    }
    mmrt_weights_free(wts);
    cJSON_Delete(doc);
    /* Every mode/filter pair has at least the 10 targets of each small source image. */
    cr_assert_geq(n_run, 40, "only %d %s/%s cases in the fixtures", n_run, filter, mode);
    cr_assert_eq(n_failed, 0, "%d of %d %s/%s cases differ from Pillow (%d checked by row hash)",
                 n_failed, n_run, filter, mode, n_hashed);
}

Test(resize, lanczos_rgb) { check_cases("lanczos", "RGB"); }
Test(resize, lanczos_rgba) { check_cases("lanczos", "RGBA"); }
Test(resize, lanczos_gray) { check_cases("lanczos", "L"); }
Test(resize, bicubic_rgb) { check_cases("bicubic", "RGB"); }
Test(resize, bicubic_rgba) { check_cases("bicubic", "RGBA"); }
Test(resize, bicubic_gray) { check_cases("bicubic", "L"); }
Test(resize, bilinear_rgb) { check_cases("bilinear", "RGB"); }
Test(resize, bilinear_rgba) { check_cases("bilinear", "RGBA"); }
Test(resize, bilinear_gray) { check_cases("bilinear", "L"); }

/* ---- bad arguments --------------------------------------------------------------------------- */

/* Expects MMRT_ERR_INVALID_ARG and a message containing `needle`. */
static void expect_invalid(const uint8_t *src, int32_t w, int32_t h, int32_t ch, uint8_t *dst,
                           int32_t nw, int32_t nh, mmrt_resample f, const char *needle) {
    mmrt_error err = {0};
    mmrt_status st = mmrt_resize_u8(src, w, h, ch, dst, nw, nh, f, &err);
    cr_assert_eq(st, MMRT_ERR_INVALID_ARG, "resize %dx%dx%d -> %dx%d: status %d, message \"%s\"",
                 (int)w, (int)h, (int)ch, (int)nw, (int)nh, (int)st, err.msg);
    cr_assert(strstr(err.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", err.msg, needle);
}

Test(resize, rejects_bad_sizes) {
    uint8_t src[64] = {0}, dst[64] = {0};
    expect_invalid(src, 0, 4, 3, dst, 2, 2, MMRT_RESAMPLE_LANCZOS, "resize 0x4 -> 2x2");
    expect_invalid(src, 4, -1, 3, dst, 2, 2, MMRT_RESAMPLE_LANCZOS, "resize 4x-1 -> 2x2");
    expect_invalid(src, 4, 4, 3, dst, 0, 2, MMRT_RESAMPLE_BICUBIC, "resize 4x4 -> 0x2");
    expect_invalid(src, 4, 4, 3, dst, 2, -7, MMRT_RESAMPLE_BILINEAR, "resize 4x4 -> 2x-7");
    expect_invalid(src, -3, 4, 3, dst, 2, 2, MMRT_RESAMPLE_LANCZOS, "sizes must be positive");
}

Test(resize, rejects_bad_channels_filter_and_null) {
    uint8_t src[64] = {0}, dst[64] = {0};
    expect_invalid(src, 4, 4, 2, dst, 2, 2, MMRT_RESAMPLE_LANCZOS,
                   "2 channels (expected 1, 3 or 4)");
    expect_invalid(src, 4, 4, 0, dst, 2, 2, MMRT_RESAMPLE_LANCZOS, "0 channels");
    expect_invalid(src, 4, 4, 5, dst, 2, 2, MMRT_RESAMPLE_LANCZOS, "resize 4x4 -> 2x2: 5 channels");
    expect_invalid(src, 4, 4, 3, dst, 2, 2, (mmrt_resample)99, "unknown filter 99");
    expect_invalid(NULL, 4, 4, 3, dst, 2, 2, MMRT_RESAMPLE_LANCZOS, "src is NULL");
    expect_invalid(src, 4, 4, 3, NULL, 2, 2, MMRT_RESAMPLE_LANCZOS, "dst is NULL");
    /* A NULL mmrt_error is allowed; the status still comes back. */
    cr_assert_eq(mmrt_resize_u8(src, 4, 4, 2, dst, 2, 2, MMRT_RESAMPLE_LANCZOS, NULL),
                 MMRT_ERR_INVALID_ARG);
}

/* Sizes whose buffers or filter tables cannot be addressed fail before any pixel is read (the
 * 1-byte buffers would make a read or write an ASan error). */
Test(resize, rejects_absurd_sizes) {
    uint8_t src[1] = {0}, dst[1] = {0};
    expect_invalid(src, INT32_MAX, INT32_MAX, 4, dst, 1, 1, MMRT_RESAMPLE_LANCZOS,
                   "resize 2147483647x2147483647 -> 1x1 with 4 channels: image too large");
    expect_invalid(src, 1, 1, 3, dst, INT32_MAX, INT32_MAX, MMRT_RESAMPLE_BILINEAR,
                   "resize 1x1 -> 2147483647x2147483647 with 3 channels: image too large");
    /* Shrinking 2^31 columns to 1 needs a 3 * 2^31-tap Lanczos kernel per output sample. */
    expect_invalid(src, INT32_MAX, 1, 1, dst, 1, 1, MMRT_RESAMPLE_LANCZOS,
                   "lanczos filter table for 2147483647 -> 1 samples (width) is too large");
}

/* An unchanged size is a copy in every mode, RGBA included (no premultiplication round trip,
 * which would alter the colour of translucent pixels). */
Test(resize, same_size_is_a_copy) {
    uint8_t src[3 * 2 * 4], dst[3 * 2 * 4];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(37 * i + 11);
    src[3] = 3; /* alpha 3: a premultiply round trip would change this pixel's colour */
    mmrt_error err = {0};
    cr_assert_eq(mmrt_resize_u8(src, 3, 2, 4, dst, 3, 2, MMRT_RESAMPLE_LANCZOS, &err), MMRT_OK,
                 "%s", err.msg);
    cr_assert_arr_eq(dst, src, sizeof src);
}

Test(resize, filter_names) {
    cr_assert_str_eq(mmrt_resample_name(MMRT_RESAMPLE_LANCZOS), "lanczos");
    cr_assert_str_eq(mmrt_resample_name(MMRT_RESAMPLE_BICUBIC), "bicubic");
    cr_assert_str_eq(mmrt_resample_name(MMRT_RESAMPLE_BILINEAR), "bilinear");
    cr_assert_str_eq(mmrt_resample_name((mmrt_resample)42), "unknown");
}
