/* Image decoding (vision/image.h) against Pillow's pixels (tests/fixtures/images/decoded, made by
 * tools/fixtures_images.py), pixel buffers, the RGB conversions, and hostile input. */
#include "core/json.h"
#include "core/safetensors.h"
#include "helpers/image_compare.h"
#include "helpers/tmpdir.h"
#include "vision/image.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DECODED MMRT_FIXTURES_DIR "/images/decoded"

static char *fixture_path(const char *rel) {
    char *p = malloc(strlen(DECODED) + strlen(rel) + 2);
    cr_assert(p);
    sprintf(p, "%s/%s", DECODED, rel);
    return p;
}

static uint8_t *read_fixture(const char *rel, size_t *n) {
    char *p = fixture_path(rel);
    uint8_t *d = (uint8_t *)tmpdir_read(p, n);
    free(p);
    return d;
}

/* Compares got with the (h, w, c) U8 reference tensor name; prints the first mismatches. */
static bool same_pixels(const char *what, const mmrt_image *got, const mmrt_weights *ref,
                        const char *name) {
    const mmrt_st_tensor *t = mmrt_weights_find(ref, name);
    if (!t) {
        fprintf(stderr, "%s: no reference tensor %s\n", what, name);
        return false;
    }
    return mmrt_test_same_image(what, got, t);
}

static void open_fixtures(cJSON **manifest, mmrt_weights **ref) {
    mmrt_error err = {0};
    char *p = fixture_path("manifest.json");
    cr_assert_eq(mmrt_json_load_file(p, manifest, &err), MMRT_OK, "%s", err.msg);
    free(p);
    p = fixture_path("reference.safetensors");
    cr_assert_eq(mmrt_weights_open(p, ref, &err), MMRT_OK, "%s", err.msg);
    free(p);
}

Test(image, every_fixture_equals_pillow) {
    cJSON *manifest;
    mmrt_weights *ref;
    open_fixtures(&manifest, &ref);
    const cJSON *cases = mmrt_json_find(manifest, "cases");
    cr_assert(cJSON_GetArraySize(cases) >= 50, "manifest lists too few cases");
    int n_bad = 0, n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *name = mmrt_json_find(c, "name")->valuestring;
        const char *file = mmrt_json_find(c, "file")->valuestring;
        char *path = fixture_path(file);
        mmrt_image img = {0}, mem = {0}, white = {0};
        mmrt_error err = {0};
        if (mmrt_image_load_file(path, NULL, &img, &err) != MMRT_OK) {
            fprintf(stderr, "%s: %s\n", name, err.msg);
            n_bad++;
            free(path);
            continue;
        }
        bool ok = same_pixels(name, &img, ref, name);
        /* From memory: the same pixels. */
        size_t len;
        uint8_t *bytes = read_fixture(file, &len);
        cr_assert_eq(mmrt_image_load_memory(bytes, len, name, NULL, &mem, &err), MMRT_OK, "%s",
                     err.msg);
        ok = ok && mem.width == img.width && mem.height == img.height &&
             mem.channels == img.channels &&
             memcmp(mem.data, img.data, (size_t)img.width * img.height * img.channels) == 0;
        if (cJSON_IsTrue(mmrt_json_find(c, "on_white"))) {
            char key[128];
            snprintf(key, sizeof key, "%s.on_white", name);
            cr_assert_eq(mmrt_image_to_rgb_on_white(&img, MMRT_COMPOSITE_PIL, &white, &err),
                         MMRT_OK, "%s", err.msg);
            ok = same_pixels(key, &white, ref, key) && ok;
        }
        n_bad += !ok;
        n++;
        mmrt_image_free(&img);
        mmrt_image_free(&mem);
        mmrt_image_free(&white);
        free(bytes);
        free(path);
    }
    cr_expect_eq(n_bad, 0, "%d of %d fixture images differ from Pillow", n_bad, n);
    mmrt_weights_free(ref);
    cJSON_Delete(manifest);
}

Test(image, alpha_on_white_both_rules_exhaustive) {
    cJSON *manifest;
    mmrt_weights *ref;
    open_fixtures(&manifest, &ref);
    mmrt_image img = {0}, pil = {0}, np = {0};
    mmrt_error err = {0};
    char *path = fixture_path(mmrt_json_find(manifest, "ramp")->valuestring);
    cr_assert_eq(mmrt_image_load_file(path, NULL, &img, &err), MMRT_OK, "%s", err.msg);
    cr_assert(img.width == 256 && img.height == 256 && img.channels == 4);
    for (int y = 0; y < 256; y++) /* every (colour, alpha) pair: r = x, a = y */
        for (int x = 0; x < 256; x++) {
            const uint8_t *p = img.data + 4 * (y * 256 + x);
            cr_assert(p[0] == x && p[1] == 255 - x && p[2] == ((x + 3 * y) & 255) && p[3] == y,
                      "ramp pixel (%d, %d) decoded wrong", x, y);
        }
    cr_assert_eq(mmrt_image_to_rgb_on_white(&img, MMRT_COMPOSITE_PIL, &pil, &err), MMRT_OK);
    cr_assert_eq(mmrt_image_to_rgb_on_white(&img, MMRT_COMPOSITE_NUMPY, &np, &err), MMRT_OK);
    cr_expect(same_pixels("ramp, PIL alpha_composite", &pil, ref, "ramp.on_white_pil"));
    cr_expect(same_pixels("ramp, numpy blend", &np, ref, "ramp.on_white_numpy"));
    cr_expect_eq(mmrt_image_to_rgb_on_white(&img, (mmrt_composite_rule)7, &pil, &err),
                 MMRT_ERR_INVALID_ARG);
    mmrt_image_free(&img);
    mmrt_image_free(&pil);
    mmrt_image_free(&np);
    free(path);
    mmrt_weights_free(ref);
    cJSON_Delete(manifest);
}

Test(image, pixel_buffers_with_stride) {
    enum { W = 5, H = 3, STRIDE = 4 * W + 7 };
    uint8_t buf[H * STRIDE];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 37 + 11);
    mmrt_error err = {0};
    for (int ch = 3; ch <= 4; ch++) {
        mmrt_image img = {0}, rgb = {0};
        cr_assert_eq(mmrt_image_from_pixels(buf, W, H, ch, STRIDE, &img, &err), MMRT_OK, "%s",
                     err.msg);
        cr_assert(img.width == W && img.height == H && img.channels == ch);
        for (int y = 0; y < H; y++)
            cr_assert(memcmp(img.data + y * W * ch, buf + y * STRIDE, (size_t)W * ch) == 0,
                         "row %d", y);
        cr_assert_eq(mmrt_image_to_rgb(&img, &rgb, &err), MMRT_OK);
        for (int i = 0; i < W * H; i++)
            cr_assert(memcmp(rgb.data + 3 * i, img.data + ch * i, 3) == 0, "pixel %d", i);
        mmrt_image_free(&img);
        mmrt_image_free(&rgb);
    }
    mmrt_image img = {0};
    cr_expect_eq(mmrt_image_from_pixels(buf, W, H, 4, 4 * W - 1, &img, &err),
                 MMRT_ERR_INVALID_ARG);
    cr_expect(strstr(err.msg, "stride"), "%s", err.msg);
    cr_expect_eq(mmrt_image_from_pixels(buf, W, H, 2, STRIDE, &img, &err), MMRT_ERR_INVALID_ARG);
    cr_expect_eq(mmrt_image_from_pixels(buf, 0, H, 3, STRIDE, &img, &err), MMRT_ERR_INVALID_ARG);
    cr_expect_eq(mmrt_image_from_pixels(NULL, W, H, 3, STRIDE, &img, &err), MMRT_ERR_INVALID_ARG);
    cr_expect_null(img.data);
    mmrt_image_free(&img);
    mmrt_image_free(NULL);
}

/* ---- bad input ------------------------------------------------------------------------------ */

/* Loads path; expects status st, a zeroed image and a message naming the file and holding each
 * of the words (NULL-terminated). */
static void expect_failure(const char *path, const mmrt_image_limits *lim, mmrt_status st,
                           const char *const *words) {
    mmrt_image img = {.width = 7, .data = (uint8_t *)1};
    mmrt_error err = {0};
    mmrt_status got = mmrt_image_load_file(path, lim, &img, &err);
    cr_expect_eq(got, st, "%s: status %s, expected %s (%s)", path, mmrt_status_str(got),
                 mmrt_status_str(st), err.msg);
    cr_expect(img.data == NULL && img.width == 0, "%s: image not zeroed on failure", path);
    cr_expect(strstr(err.msg, path), "message does not name the file: %s", err.msg);
    for (; words && *words; words++)
        cr_expect(strstr(err.msg, *words), "message lacks \"%s\": %s", *words, err.msg);
}

static void expect_cut_fails(const char *dir, const char *rel, const size_t *cuts, int n_cuts) {
    size_t n;
    uint8_t *bytes = read_fixture(rel, &n);
    for (int i = 0; i < n_cuts; i++) {
        size_t cut = cuts[i] < n ? cuts[i] : n / 2;
        char name[64];
        snprintf(name, sizeof name, "cut%zu_%s", cut, strrchr(rel, '/') + 1);
        char *p = tmpdir_write(dir, name, bytes, cut);
        expect_failure(p, NULL, cut < 8 ? MMRT_ERR_UNSUPPORTED : MMRT_ERR_BAD_FORMAT,
                       (const char *const[]){cut < 8 ? "not an image" : "truncated", NULL});
        free(p);
    }
    free(bytes);
}

Test(image, truncated_png_and_jpeg) {
    char *dir = tmpdir_make("image");
    size_t n_png, n_jpg;
    free(read_fixture("src/png_rgb8.png", &n_png));
    free(read_fixture("src/jpg_progressive.jpg", &n_jpg));
    /* In the signature, in IHDR, just after IHDR, mid-IDAT, before IEND's IDAT end. */
    const size_t png_cuts[] = {4, 20, 33, 60, n_png / 2, n_png - 40};
    expect_cut_fails(dir, "src/png_rgb8.png", png_cuts, 6);
    const size_t interlaced_cuts[] = {100, 200};
    expect_cut_fails(dir, "src/png_rgba16_interlaced.png", interlaced_cuts, 2);
    /* In SOI, in the header tables, mid-scan, near the end of the last scan. */
    const size_t jpg_cuts[] = {2, 30, 200, n_jpg / 2, n_jpg - 20};
    expect_cut_fails(dir, "src/jpg_progressive.jpg", jpg_cuts, 5);
    const size_t base_cuts[] = {400, 700};
    expect_cut_fails(dir, "src/jpg_420.jpg", base_cuts, 2);
    tmpdir_remove(dir);
}

/* Flipped bytes: either Pillow-like success or a clean failure naming the file; never a crash. */
Test(image, corrupt_bytes) {
    char *dir = tmpdir_make("image");
    const char *files[] = {"src/png_rgba8.png",       "src/png_pal8_trns.png",
                           "src/jpg_420.jpg",         "src/jpg_cmyk.jpg",
                           "src/jpg_progressive.jpg", "src/webp_lossy_alpha.webp",
                           "src/webp_lossless_rgba.webp"};
    int n_failed = 0;
    for (int f = 0; f < 7; f++) {
        size_t n;
        uint8_t *bytes = read_fixture(files[f], &n);
        /* Past the RIFF form type for WebP: a broken "WEBP" is another (unsupported) format. */
        for (size_t pos = strstr(files[f], ".webp") ? 16 : 10; pos < n; pos += n / 23 + 1) {
            uint8_t *copy = malloc(n);
            memcpy(copy, bytes, n);
            for (size_t k = pos; k < pos + 8 && k < n; k++) copy[k] ^= 0x5A;
            char *p = tmpdir_write(dir, "corrupt.bin", copy, n);
            mmrt_image img = {0};
            mmrt_error err = {0};
            mmrt_status st = mmrt_image_load_file(p, NULL, &img, &err);
            if (st != MMRT_OK) {
                n_failed++;
                cr_expect(st == MMRT_ERR_BAD_FORMAT || st == MMRT_ERR_UNSUPPORTED, "%s",
                          err.msg);
                cr_expect(strstr(err.msg, p) && strstr(err.msg, "invalid"), "%s", err.msg);
                cr_expect_null(img.data);
            } else {
                cr_expect(img.data && img.width > 0 && img.height > 0);
            }
            mmrt_image_free(&img);
            free(p);
            free(copy);
        }
        free(bytes);
    }
    cr_expect_gt(n_failed, 10, "corruption was hardly ever detected (%d)", n_failed);
    tmpdir_remove(dir);
}

Test(image, not_an_image_missing_and_empty) {
    char *dir = tmpdir_make("image");
    char *txt = tmpdir_write_str(dir, "notes.png", "this is a text file, not a PNG\n");
    expect_failure(txt, NULL, MMRT_ERR_UNSUPPORTED, (const char *const[]){"not an image", NULL});
    char *empty = tmpdir_write(dir, "empty.jpg", "", 0);
    expect_failure(empty, NULL, MMRT_ERR_BAD_FORMAT, (const char *const[]){"empty", NULL});
    char *missing = tmpdir_path(dir, "missing.jpg");
    expect_failure(missing, NULL, MMRT_ERR_IO, NULL);
    expect_failure(dir, NULL, MMRT_ERR_IO, NULL); /* a directory */
    /* Sniffed by content: a WebP named .jpg reaches the WebP decoder (and is cut short here). */
    char *webp = tmpdir_write(dir, "photo.jpg", "RIFF\x10\0\0\0WEBPVP8 ", 16);
    expect_failure(webp, NULL, MMRT_ERR_BAD_FORMAT,
                   (const char *const[]){"invalid WebP", "truncated", NULL});
    char *wav = tmpdir_write(dir, "sound.webp", "RIFF\x24\0\0\0WAVEfmt ", 16);
    expect_failure(wav, NULL, MMRT_ERR_UNSUPPORTED,
                   (const char *const[]){"RIFF (not WebP)", NULL});
    char *heic = tmpdir_write(dir, "photo.heic", "\0\0\0\x18" "ftypheic\0\0\0\0", 16);
    expect_failure(heic, NULL, MMRT_ERR_UNSUPPORTED, (const char *const[]){"HEIC", NULL});
    free(txt), free(empty), free(missing), free(webp), free(wav), free(heic);
    tmpdir_remove(dir);

    mmrt_image img = {0};
    mmrt_error err = {0};
    cr_expect_eq(mmrt_image_load_memory("GIF89a....", 10, "clip.gif", NULL, &img, &err),
                 MMRT_ERR_UNSUPPORTED);
    cr_expect(strstr(err.msg, "clip.gif") && strstr(err.msg, "GIF"), "%s", err.msg);
    err = (mmrt_error){0};
    cr_expect_eq(mmrt_image_load_memory("", 0, NULL, NULL, &img, &err), MMRT_ERR_BAD_FORMAT);
    cr_expect(strstr(err.msg, "image") && strstr(err.msg, "empty"), "%s", err.msg);
}

Test(image, absurd_and_empty_dimensions) {
    char *p = fixture_path("src/bad/huge.png");
    const char *const too_large[] = {"too large", "100000x100000", "max_pixels", NULL};
    expect_failure(p, NULL, MMRT_ERR_UNSUPPORTED, too_large);
    free(p);
    p = fixture_path("src/bad/huge.jpg");
    expect_failure(p, NULL, MMRT_ERR_UNSUPPORTED, (const char *const[]){"65000x65000", NULL});
    free(p);
    p = fixture_path("src/bad/zero.png");
    expect_failure(p, NULL, MMRT_ERR_BAD_FORMAT, (const char *const[]){"width is zero", NULL});
    free(p);
    p = fixture_path("src/bad/zero_height.jpg");
    expect_failure(p, NULL, MMRT_ERR_BAD_FORMAT, (const char *const[]){"Empty JPEG", NULL});
    free(p);
    /* A caller's lower limit applies to ordinary images too. */
    mmrt_image_limits lim = mmrt_image_default_limits();
    cr_expect_eq(lim.max_pixels, 100 * 1000 * 1000);
    lim.max_pixels = 13 * 9 - 1;
    p = fixture_path("src/png_rgb8.png");
    expect_failure(p, &lim, MMRT_ERR_UNSUPPORTED, (const char *const[]){"13x9", NULL});
    lim.max_pixels = 13 * 9;
    mmrt_image img = {0};
    mmrt_error err = {0};
    cr_expect_eq(mmrt_image_load_file(p, &lim, &img, &err), MMRT_OK, "%s", err.msg);
    mmrt_image_free(&img);
    free(p);
}

Test(image, one_pixel_images) {
    const char *files[] = {"src/png_1x1.png", "src/jpg_1x1.jpg", "src/webp_1x1.webp",
                           "src/png_1x1_interlaced.png"};
    for (int i = 0; i < 4; i++) {
        char *p = fixture_path(files[i]);
        mmrt_image img = {0};
        mmrt_error err = {0};
        cr_assert_eq(mmrt_image_load_file(p, NULL, &img, &err), MMRT_OK, "%s", err.msg);
        cr_expect(img.width == 1 && img.height == 1, "%s", p);
        cr_expect_eq(img.channels, i == 3 ? 4 : 3, "%s", p);
        mmrt_image_free(&img);
        free(p);
    }
}

/* ---- WebP ----------------------------------------------------------------------------------- */

Test(image, truncated_webp) {
    char *dir = tmpdir_make("image");
    size_t n_alpha, n_exif;
    free(read_fixture("src/webp_lossy_alpha.webp", &n_alpha));
    free(read_fixture("src/webp_exif6.webp", &n_exif));
    /* In the VP8X chunk, in ALPH, mid-VP8, one byte short. */
    const size_t alpha_cuts[] = {20, 40, n_alpha / 2, n_alpha - 1};
    expect_cut_fails(dir, "src/webp_lossy_alpha.webp", alpha_cuts, 4);
    /* Plain VP8L: in its header, mid-stream. */
    const size_t lossless_cuts[] = {22, 300};
    expect_cut_fails(dir, "src/webp_lossless_rgba.webp", lossless_cuts, 2);
    /* The pixels are complete but the EXIF chunk after them is cut: Pillow refuses it too. */
    const size_t exif_cuts[] = {n_exif - 20};
    expect_cut_fails(dir, "src/webp_exif6.webp", exif_cuts, 1);
    tmpdir_remove(dir);
}

/* Broken VP8 data: a bad frame start code, an impossible first-partition size. */
Test(image, corrupt_vp8_frame) {
    char *dir = tmpdir_make("image");
    size_t n;
    uint8_t *bytes = read_fixture("src/webp_lossy.webp", &n);
    cr_assert(n > 40 && memcmp(bytes + 12, "VP8 ", 4) == 0 && bytes[23] == 0x9d);
    const char *const words[] = {"invalid WebP", NULL};
    uint8_t *copy = malloc(n);
    memcpy(copy, bytes, n);
    copy[23] ^= 0xff; /* start code 9d 01 2a */
    char *p = tmpdir_write(dir, "startcode.webp", copy, n);
    expect_failure(p, NULL, MMRT_ERR_BAD_FORMAT, words);
    free(p);
    memcpy(copy, bytes, n);
    copy[20] |= 0xe0, copy[21] = copy[22] = 0xff; /* first partition past the chunk */
    p = tmpdir_write(dir, "partition.webp", copy, n);
    expect_failure(p, NULL, MMRT_ERR_BAD_FORMAT, words);
    free(p);
    /* A VP8L chunk whose bitstream is garbage after a valid header. */
    free(bytes);
    bytes = read_fixture("src/webp_lossless_rgba.webp", &n);
    free(copy);
    copy = malloc(n);
    memcpy(copy, bytes, n);
    for (size_t k = 25; k < n; k++) copy[k] = (uint8_t)(k * 131 + 7);
    p = tmpdir_write(dir, "garbage.webp", copy, n);
    expect_failure(p, NULL, MMRT_ERR_BAD_FORMAT, words);
    free(p);
    free(copy);
    free(bytes);
    tmpdir_remove(dir);
}

Test(image, webp_headers_refused) {
    char *p = fixture_path("src/bad/huge.webp");
    expect_failure(p, NULL, MMRT_ERR_UNSUPPORTED,
                   (const char *const[]){"too large", "16384x16384", "max_pixels", NULL});
    free(p);
    p = fixture_path("src/bad/huge_anim.webp");
    expect_failure(p, NULL, MMRT_ERR_UNSUPPORTED,
                   (const char *const[]){"60000x60000", NULL});
    free(p);
    p = fixture_path("src/bad/not_vp8.webp");
    expect_failure(p, NULL, MMRT_ERR_BAD_FORMAT,
                   (const char *const[]){"invalid WebP", "VP8", NULL});
    free(p);
    mmrt_image_limits lim = {.max_pixels = 29 * 17 - 1};
    p = fixture_path("src/webp_anim.webp");
    expect_failure(p, &lim, MMRT_ERR_UNSUPPORTED, (const char *const[]){"29x17", NULL});
    free(p);
}

/* What Pillow's modes come to: alpha as libwebp's header says, EXIF / XMP rotation, frame 0. */
Test(image, webp_modes_and_orientation) {
    static const struct { const char *file; int w, h, channels; } cases[] = {
        {"src/webp_lossy.webp", 29, 17, 3},      {"src/webp_lossless_rgb.webp", 29, 17, 3},
        {"src/webp_lossy_alpha.webp", 29, 17, 4}, {"src/webp_opaque_rgba.webp", 29, 17, 3},
        {"src/webp_exif6.webp", 17, 29, 3},       {"src/webp_exif8_rgba_be.webp", 17, 29, 4},
        {"src/webp_xmp3.webp", 29, 17, 3},        {"src/webp_anim.webp", 29, 17, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        uint8_t *bytes = read_fixture(cases[i].file, &n);
        mmrt_image img = {0};
        mmrt_error err = {0};
        cr_assert_eq(mmrt_image_load_memory(bytes, n, cases[i].file, NULL, &img, &err), MMRT_OK,
                     "%s", err.msg);
        cr_expect(img.width == cases[i].w && img.height == cases[i].h &&
                      img.channels == cases[i].channels,
                  "%s: %dx%dx%d, expected %dx%dx%d", cases[i].file, img.width, img.height,
                  img.channels, cases[i].w, cases[i].h, cases[i].channels);
        mmrt_image_free(&img);
        free(bytes);
    }
}
