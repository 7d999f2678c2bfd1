/* The body of the image targets (fuzz_png.c, fuzz_jpeg.c, fuzz_webp.c): image decoding
 * (vision/image.h) — the PNG (libpng), JPEG (libjpeg-turbo) and WebP (libwebp) decoders, the EXIF/XMP orientation reader and the
 * transposition — then the SmolVLM preprocessing of what was decoded.
 *
 * Input: bytes decoded from memory (and, for every 16th input, also from a file: both must
 * agree). max_pixels is small so that hostile headers cannot make the run slow or big. When the
 * decode succeeds the image must be well formed (size within the limit, 3 or 4 channels, every
 * byte readable), both RGB conversions must succeed, and preprocessing (resize, tiles, global
 * image, normalisation; small geometry) must give finite pixel values of the promised shape; on
 * failure the status and a message naming the input must be there, and the output must be zeroed.
 */
#ifndef MMRT_TESTS_FUZZ_IMAGE_H
#define MMRT_TESTS_FUZZ_IMAGE_H

#include "fuzz_common.h"

#include "vision/image.h"
#include "vision/smolvlm_preprocess.h"

#include <math.h>

#define FUZZ_MAX_PIXELS (1 << 20)

static void check_image(const mmrt_image *img) {
    FUZZ_CHECK(img->data != NULL);
    FUZZ_CHECK(img->width > 0 && img->height > 0);
    FUZZ_CHECK((int64_t)img->width * img->height <= FUZZ_MAX_PIXELS);
    FUZZ_CHECK(img->channels == 3 || img->channels == 4);
    size_t n = (size_t)img->width * img->height * img->channels;
    unsigned sum = 0;
    const volatile uint8_t *b = img->data;
    for (size_t i = 0; i < n; i++) sum += b[i];
    (void)sum;
    for (int rule = 0; rule < 2; rule++) {
        mmrt_image rgb = {0};
        mmrt_error err = {0};
        FUZZ_CHECK(mmrt_image_to_rgb_on_white(img, (mmrt_composite_rule)rule, &rgb, &err) ==
                   MMRT_OK);
        FUZZ_CHECK(rgb.channels == 3 && rgb.width == img->width && rgb.height == img->height);
        if (img->channels == 3)
            FUZZ_CHECK(memcmp(rgb.data, img->data, n) == 0);
        mmrt_image_free(&rgb);
    }
}

/* Tiles as the processor makes them, at a small scale: longest edge 64, 16-pixel tiles. */
static void check_preprocess(const mmrt_image *img, bool split) {
    mmrt_smolvlm_pp_config cfg = mmrt_smolvlm_pp_default_config();
    cfg.longest_edge = 64;
    cfg.max_image_size = 16;
    cfg.do_image_splitting = split;
    mmrt_smolvlm_pp_out out = {0};
    mmrt_error err = {0};
    mmrt_status st = mmrt_smolvlm_preprocess(img, &cfg, &out, &err);
    fuzz_note("mmrt_smolvlm_preprocess", st, &err);
    FUZZ_CHECK(st == MMRT_OK);
    FUZZ_CHECK(out.tile == 16 && out.n_tiles >= 1 && out.n_tiles <= 17);
    FUZZ_CHECK(split ? out.n_tiles == (out.n_rows * out.n_cols) + (out.n_rows * out.n_cols > 1)
                     : out.n_tiles == 1 && out.n_rows == 0 && out.n_cols == 0);
    size_t n = (size_t)out.n_tiles * 3 * 16 * 16;
    for (size_t i = 0; i < n; i++) FUZZ_CHECK(isfinite(out.pixel_values[i]) && fabsf(out.pixel_values[i]) <= 1.0f);
    mmrt_smolvlm_pp_out_free(&out);
}

static int fuzz_image_input(const uint8_t *data, size_t size) {
    mmrt_image_limits lim = {.max_pixels = FUZZ_MAX_PIXELS};
    mmrt_image img = {.width = -1, .data = (uint8_t *)&lim};
    mmrt_error err = {0};
    mmrt_status st = mmrt_image_load_memory(data, size, "fuzz-input", &lim, &img, &err);
    fuzz_note("mmrt_image_load_memory", st, &err);
    if (st != MMRT_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(strstr(err.msg, "fuzz-input") != NULL);
        FUZZ_CHECK(img.data == NULL && img.width == 0 && img.height == 0);
    } else {
        check_image(&img);
        check_preprocess(&img, size % 2 == 0);
    }
    if (size % 16 == 0) {
        char path[8192];
        fuzz_write(path, sizeof path, "input.img", data, size);
        mmrt_image from_file = {0};
        mmrt_error err2 = {0};
        mmrt_status st2 = mmrt_image_load_file(path, &lim, &from_file, &err2);
        FUZZ_CHECK(st2 == st);
        if (st2 != MMRT_OK) {
            fuzz_check_error(st2, &err2);
            FUZZ_CHECK(strstr(err2.msg, path) != NULL);
        } else {
            FUZZ_CHECK(from_file.width == img.width && from_file.height == img.height &&
                       from_file.channels == img.channels);
            FUZZ_CHECK(memcmp(from_file.data, img.data,
                              (size_t)img.width * img.height * img.channels) == 0);
        }
        mmrt_image_free(&from_file);
    }
    mmrt_image_free(&img);
    return 0;
}

/* Runs the body on data that starts with `magic` (prepended when it does not), so that every input
 * reaches the decoder of one format. */
static int fuzz_image_with_magic(const uint8_t *data, size_t size, const uint8_t *magic, size_t n_magic) {
    if (size >= n_magic && memcmp(data, magic, n_magic) == 0) return fuzz_image_input(data, size);
    uint8_t *buf = malloc(size + n_magic);
    if (!buf) return 0;
    memcpy(buf, magic, n_magic);
    if (size) memcpy(buf + n_magic, data, size);
    fuzz_image_input(buf, size + n_magic);
    free(buf);
    return 0;
}

#endif
