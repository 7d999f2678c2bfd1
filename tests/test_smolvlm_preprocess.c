/* SmolVLM / Idefics3 preprocessing (vision/smolvlm_preprocess.h) against transformers 5.23's PIL
 * image processor: every 8-bit intermediate byte for byte, tile grid and counts, pixel_values to
 * float rounding (tests/fixtures/smolvlm/<case>, made by tools/fixtures_smolvlm.py). */
#include "core/json.h"
#include "core/safetensors.h"
#include "helpers/image_compare.h"
#include "helpers/tmpdir.h"
#include "vision/smolvlm_preprocess.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASES MMRT_FIXTURES_DIR "/smolvlm"

/* Compares an RGB image with the (h, w, 3) U8 reference tensor name; prints the first mismatches.
 * A zeroed image matches an absent tensor. */
static bool same_pixels(const char *what, const mmrt_image *got, const mmrt_weights *ref,
                        const char *name) {
    const mmrt_st_tensor *t = mmrt_weights_find(ref, name);
    if (!t || !got->data) {
        if (!t && !got->data) return true;
        fprintf(stderr, "%s: %s %s\n", what, name,
                t ? "is in the reference but was not produced"
                  : "was produced but not in the reference");
        return false;
    }
    return mmrt_test_same_image(what, got, t);
}

/* max |got - ref| <= tol over n values; prints the first mismatches. */
static bool within_abs(const char *what, const float *got, const float *ref, size_t n, double tol) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (d <= tol) continue;
        if (bad < 5)
            fprintf(stderr, "%s: index %zu: expected %.9g, got %.9g\n", what, i, ref[i], got[i]);
        bad++;
    }
    if (bad) fprintf(stderr, "%s: %d of %zu values off by more than %g\n", what, bad, n, tol);
    return bad == 0;
}

static int64_t json_int(const cJSON *o, const char *key) {
    int64_t v = 0;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_json_get_int(o, key, true, 0, INT32_MIN, INT32_MAX, &v, "reference.json",
                                   &err),
                 MMRT_OK, "%s", err.msg);
    return v;
}

static void run_case(const char *name) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/%s", CASES, name);
    mmrt_error err = {0};

    mmrt_smolvlm_pp_config cfg;
    cr_assert_eq(mmrt_smolvlm_pp_config_load(dir, &cfg, &err), MMRT_OK, "%s", err.msg);

    cJSON *manifest = NULL;
    snprintf(path, sizeof path, "%s/reference.json", dir);
    cr_assert_eq(mmrt_json_load_file(path, &manifest, &err), MMRT_OK, "%s", err.msg);
    mmrt_weights *ref = NULL;
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    cr_assert_eq(mmrt_weights_open(path, &ref, &err), MMRT_OK, "%s", err.msg);

    /* The loaded settings are the ones the reference ran with. */
    const cJSON *settings =
        mmrt_json_find(mmrt_json_find(manifest, "processor"), "image_processor_settings");
    cr_assert(settings);
    cr_assert_eq(cfg.longest_edge, json_int(mmrt_json_find(settings, "size"), "longest_edge"));
    cr_assert_eq(cfg.max_image_size,
                 json_int(mmrt_json_find(settings, "max_image_size"), "longest_edge"));
    cr_assert_eq(cfg.do_image_splitting,
                 cJSON_IsTrue(mmrt_json_find(settings, "do_image_splitting")));

    const mmrt_st_tensor *pv = mmrt_weights_find(ref, "pixel_values");
    const mmrt_st_tensor *mask = mmrt_weights_find(ref, "pixel_attention_mask");
    cr_assert(pv && pv->dtype == MMRT_F32 && pv->n_dims == 4);
    cr_assert(mask && mask->dtype == MMRT_U8);
    const int32_t m = cfg.max_image_size;
    cr_assert_eq(pv->shape[1], 3);
    cr_assert_eq(pv->shape[2], m);
    cr_assert_eq(pv->shape[3], m);
    cr_assert_eq(pv->shape[0], json_int(manifest, "n_tiles"));
    /* Every tile is m x m, so the processor's mask is all ones. */
    for (size_t i = 0; i < mask->n_bytes; i++)
        cr_assert_eq(((const uint8_t *)mask->data)[i], 1, "pixel_attention_mask[%zu]", i);

    const cJSON *images = mmrt_json_find(manifest, "images");
    cr_assert(cJSON_IsArray(images) && cJSON_GetArraySize(images) > 0);
    int64_t total = 0;
    const size_t per_tile = (size_t)3 * m * m;
    for (int k = 0; k < cJSON_GetArraySize(images); k++) {
        const cJSON *im = cJSON_GetArrayItem(images, k);
        const char *file = NULL;
        cr_assert_eq(mmrt_json_get_string(im, "file", true, &file, "reference.json", &err),
                     MMRT_OK);
        snprintf(path, sizeof path, "%s/%s", MMRT_SOURCE_DIR, file);
        mmrt_image img = {0};
        cr_assert_eq(mmrt_image_load_file(path, NULL, &img, &err), MMRT_OK, "%s", err.msg);

        mmrt_smolvlm_pp_out out;
        mmrt_smolvlm_pp_trace tr;
        cr_assert_eq(mmrt_smolvlm_preprocess_trace(&img, &cfg, &out, &tr, &err), MMRT_OK, "%s",
                     err.msg);

        char what[700], tname[64];
        bool ok = true;
        static const char *const stages[] = {"decoded", "resized", "vision_resized", "global"};
        const mmrt_image *got[] = {&tr.decoded, &tr.resized, &tr.vision_resized, &tr.global};
        for (int s = 0; s < 4; s++) {
            snprintf(tname, sizeof tname, "image.%d.%s", k, stages[s]);
            snprintf(what, sizeof what, "%s %s", name, tname);
            ok = same_pixels(what, got[s], ref, tname) && ok;
        }
        cr_expect(ok, "%s image %d (%s): 8-bit intermediates differ", name, k, file);

        cr_assert_eq(out.n_rows, json_int(im, "rows"), "%s image %d rows", name, k);
        cr_assert_eq(out.n_cols, json_int(im, "cols"), "%s image %d cols", name, k);
        cr_assert_eq(out.n_tiles, json_int(im, "n_tiles"), "%s image %d n_tiles", name, k);
        cr_assert_eq(out.tile, m);
        const cJSON *span = mmrt_json_find(im, "pixel_values_rows");
        cr_assert(cJSON_IsArray(span) && cJSON_GetArraySize(span) == 2);
        int64_t r0 = (int64_t)cJSON_GetArrayItem(span, 0)->valuedouble;
        int64_t r1 = (int64_t)cJSON_GetArrayItem(span, 1)->valuedouble;
        cr_assert_eq(r0, total);
        cr_assert_eq(r1 - r0, out.n_tiles);
        cr_assert_leq(r1, pv->shape[0]);
        snprintf(what, sizeof what, "%s image %d pixel_values", name, k);
        cr_expect(within_abs(what, out.pixel_values, (const float *)pv->data + r0 * per_tile,
                             (size_t)out.n_tiles * per_tile, 1e-6),
                  "%s", what);
        total = r1;

        mmrt_smolvlm_pp_out_free(&out);
        mmrt_smolvlm_pp_trace_free(&tr);
        mmrt_image_free(&img);
    }
    cr_assert_eq(total, pv->shape[0], "%s: the images' tiles do not cover pixel_values", name);
    mmrt_weights_free(ref);
    cJSON_Delete(manifest);
}

Test(smolvlm_preprocess, split) { run_case("split"); }
Test(smolvlm_preprocess, nosplit_legacy_layout) { run_case("nosplit"); }
Test(smolvlm_preprocess, nonsquare) { run_case("nonsquare"); }
Test(smolvlm_preprocess, rgba_on_white) { run_case("rgba"); }
Test(smolvlm_preprocess, gray) { run_case("gray"); }
Test(smolvlm_preprocess, exif) { run_case("exif"); }
Test(smolvlm_preprocess, two_images) { run_case("two-images"); }

Test(smolvlm_preprocess, config_errors) {
    mmrt_error err = {0};
    mmrt_smolvlm_pp_config cfg = mmrt_smolvlm_pp_default_config();
    char *dir = tmpdir_make("smolvlm-pp");

    cr_assert_eq(mmrt_smolvlm_pp_config_load(dir, &cfg, &err), MMRT_ERR_IO);
    cr_assert(strstr(err.msg, "preprocessor_config.json"), "%s", err.msg);

    /* processor_config.json without "image_processor" falls back to preprocessor_config.json. */
    free(tmpdir_write_str(dir, "processor_config.json", "{\"image_seq_len\": 64}"));
    free(tmpdir_write_str(dir, "preprocessor_config.json", "{\"resample\": 0}"));
    mmrt_error_clear(&err);
    cr_assert_eq(mmrt_smolvlm_pp_config_load(dir, &cfg, &err), MMRT_ERR_UNSUPPORTED);
    cr_assert(strstr(err.msg, "preprocessor_config.json") && strstr(err.msg, "resample"), "%s",
              err.msg);

    free(tmpdir_write_str(dir, "processor_config.json",
                          "{\"image_processor\": {\"size\": {\"height\": 10, \"width\": 10}}}"));
    mmrt_error_clear(&err);
    cr_assert_eq(mmrt_smolvlm_pp_config_load(dir, &cfg, &err), MMRT_ERR_UNSUPPORTED);
    cr_assert(strstr(err.msg, "processor_config.json") && strstr(err.msg, "longest_edge"), "%s",
              err.msg);

    free(tmpdir_write_str(dir, "processor_config.json",
                          "{\"image_processor\": {\"image_mean\": [0.5, 0.5]}}"));
    mmrt_error_clear(&err);
    cr_assert_eq(mmrt_smolvlm_pp_config_load(dir, &cfg, &err), MMRT_ERR_BAD_FORMAT);
    cr_assert(strstr(err.msg, "image_mean"), "%s", err.msg);

    free(tmpdir_write_str(dir, "processor_config.json",
                          "{\"image_processor\": {\"max_image_size\": {\"longest_edge\": 16}, "
                          "\"image_std\": 0.25, \"resample\": 3, \"do_image_splitting\": false}}"));
    mmrt_error_clear(&err);
    cr_assert_eq(mmrt_smolvlm_pp_config_load(dir, &cfg, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(cfg.max_image_size, 16);
    cr_assert_eq(cfg.longest_edge, 4 * 364);
    cr_assert_eq(cfg.std[2], 0.25f);
    cr_assert_eq(cfg.resample, MMRT_RESAMPLE_BICUBIC);
    cr_assert(!cfg.do_image_splitting);
    tmpdir_remove(dir);
}

Test(smolvlm_preprocess, bad_input) {
    mmrt_error err = {0};
    mmrt_smolvlm_pp_config cfg = mmrt_smolvlm_pp_default_config();
    mmrt_smolvlm_pp_out out;
    uint8_t px[2 * 2 * 3] = {0};
    mmrt_image img = {.width = 2, .height = 2, .channels = 2, .data = px};
    cr_assert_eq(mmrt_smolvlm_preprocess(&img, &cfg, &out, &err), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(err.msg, "channels"), "%s", err.msg);
    cr_assert_null(out.pixel_values);
    img.channels = 3;
    cfg.max_image_size = 0;
    mmrt_error_clear(&err);
    cr_assert_eq(mmrt_smolvlm_preprocess(&img, &cfg, &out, &err), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(err.msg, "max_image_size"), "%s", err.msg);
    mmrt_error_clear(&err);
    cr_assert_eq(mmrt_smolvlm_preprocess(NULL, &cfg, &out, &err), MMRT_ERR_INVALID_ARG);
    mmrt_smolvlm_pp_out_free(NULL);
    mmrt_smolvlm_pp_trace_free(NULL);

    /* A 2x2 image is upscaled to longest_edge 64: a 2x2 grid of 32-pixel tiles + the global. */
    cfg = mmrt_smolvlm_pp_default_config();
    cfg.longest_edge = 64;
    cfg.max_image_size = 32;
    mmrt_error_clear(&err);
    cr_assert_eq(mmrt_smolvlm_preprocess(&img, &cfg, &out, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(out.n_tiles, 5);
    cr_assert_eq(out.n_rows, 2);
    mmrt_smolvlm_pp_out_free(&out);
}
