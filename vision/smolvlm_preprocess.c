/* SmolVLM / Idefics3 image preprocessing (see smolvlm_preprocess.h for the contract). */
#include "vision/smolvlm_preprocess.h"

#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* transformers' MAX_IMAGE_SIZE: the resized image's longest edge never exceeds it. */
#define SMOLVLM_MAX_IMAGE_SIZE 4096

mmrt_smolvlm_pp_config mmrt_smolvlm_pp_default_config(void) {
    mmrt_smolvlm_pp_config c = {
        .longest_edge = 4 * 364,
        .max_image_size = 364,
        .do_resize = true,
        .do_image_splitting = true,
        .do_rescale = true,
        .do_normalize = true,
        .rescale_factor = 1.0 / 255.0,
        .mean = {0.5f, 0.5f, 0.5f},
        .std = {0.5f, 0.5f, 0.5f},
        .resample = MMRT_RESAMPLE_LANCZOS,
    };
    return c;
}

/* ---- config ------------------------------------------------------------------------------- */

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* "longest_edge" of the size-like object key ({"longest_edge": n}); absent keeps *out. */
static mmrt_status get_longest_edge(const cJSON *ip, const char *key, int32_t *out,
                                    const char *file, mmrt_error *err) {
    const cJSON *o = NULL;
    MMRT_TRY(mmrt_json_get_object(ip, key, false, &o, file, err));
    if (!o) return MMRT_OK;
    if (!mmrt_json_find(o, "longest_edge"))
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: field \"%s\" has no \"longest_edge\" (only longest_edge "
                              "sizes are supported)",
                              file, key);
    int64_t v = 0;
    MMRT_TRY(mmrt_json_get_int(o, "longest_edge", true, 0, 1, SMOLVLM_MAX_IMAGE_SIZE, &v, file,
                               err));
    *out = (int32_t)v;
    return MMRT_OK;
}

/* image_mean / image_std: one number or a list of 3; absent keeps out. */
static mmrt_status get_triple(const cJSON *ip, const char *key, float out[3], const char *file,
                              mmrt_error *err) {
    const cJSON *v = mmrt_json_find(ip, key);
    if (!v) return MMRT_OK;
    if (cJSON_IsNumber(v)) {
        out[0] = out[1] = out[2] = (float)v->valuedouble;
        return MMRT_OK;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: field \"%s\" must be a number or a list of 3 numbers", file,
                              key);
    float t[3];
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsNumber(e))
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "%s: field \"%s\" element %d is not a number", file, key, i);
        t[i] = (float)e->valuedouble;
    }
    memcpy(out, t, sizeof t);
    return MMRT_OK;
}

static mmrt_status parse_config(const cJSON *ip, const char *file, mmrt_smolvlm_pp_config *c,
                                mmrt_error *err) {
    MMRT_TRY(mmrt_json_get_bool(ip, "do_resize", false, c->do_resize, &c->do_resize, file, err));
    MMRT_TRY(mmrt_json_get_bool(ip, "do_image_splitting", false, c->do_image_splitting,
                                &c->do_image_splitting, file, err));
    MMRT_TRY(mmrt_json_get_bool(ip, "do_rescale", false, c->do_rescale, &c->do_rescale, file, err));
    MMRT_TRY(mmrt_json_get_bool(ip, "do_normalize", false, c->do_normalize, &c->do_normalize,
                                file, err));
    MMRT_TRY(mmrt_json_get_double(ip, "rescale_factor", false, c->rescale_factor,
                                  &c->rescale_factor, file, err));
    MMRT_TRY(get_triple(ip, "image_mean", c->mean, file, err));
    MMRT_TRY(get_triple(ip, "image_std", c->std, file, err));
    for (int i = 0; i < 3; i++)
        if (c->std[i] == 0.0f)
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: field \"image_std\" has a zero",
                                  file);
    MMRT_TRY(get_longest_edge(ip, "size", &c->longest_edge, file, err));
    MMRT_TRY(get_longest_edge(ip, "max_image_size", &c->max_image_size, file, err));
    int64_t r = 1;
    MMRT_TRY(mmrt_json_get_int(ip, "resample", false, 1, 0, 5, &r, file, err));
    /* PIL's Image.Resampling numbering. */
    switch (r) {
    case 1: c->resample = MMRT_RESAMPLE_LANCZOS; break;
    case 2: c->resample = MMRT_RESAMPLE_BILINEAR; break;
    case 3: c->resample = MMRT_RESAMPLE_BICUBIC; break;
    default:
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: resample %lld is not supported (1 LANCZOS, 2 BILINEAR, "
                              "3 BICUBIC)",
                              file, (long long)r);
    }
    return MMRT_OK;
}

mmrt_status mmrt_smolvlm_pp_config_load(const char *model_dir, mmrt_smolvlm_pp_config *out,
                                        mmrt_error *err) {
    if (!model_dir || !out)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "smolvlm preprocess config: NULL argument");
    size_t n = strlen(model_dir) + 64;
    char *path = malloc(n);
    if (!path) return mmrt_error_oom(err, n, "config path");
    mmrt_smolvlm_pp_config c = mmrt_smolvlm_pp_default_config();
    mmrt_status st = MMRT_OK;
    cJSON *root = NULL;
    const cJSON *ip = NULL;

    /* 5.x: processor_config.json with the settings nested; the 4.x hub layout also has a
     * processor_config.json, but holding only image_seq_len. */
    snprintf(path, n, "%s/processor_config.json", model_dir);
    if (file_exists(path)) {
        st = mmrt_json_load_file(path, &root, err);
        if (st != MMRT_OK) goto done;
        st = mmrt_json_get_object(root, "image_processor", false, &ip, path, err);
        if (st != MMRT_OK) goto done;
    }
    if (!ip) {
        cJSON_Delete(root);
        root = NULL;
        snprintf(path, n, "%s/preprocessor_config.json", model_dir);
        if (!file_exists(path)) {
            st = mmrt_error_set(err, MMRT_ERR_IO,
                                "%s: no image processor settings (neither processor_config.json "
                                "with \"image_processor\" nor preprocessor_config.json)",
                                model_dir);
            goto done;
        }
        st = mmrt_json_load_file(path, &root, err);
        if (st != MMRT_OK) goto done;
        ip = root;
    }
    st = parse_config(ip, path, &c, err);
    if (st == MMRT_OK) *out = c;
done:
    cJSON_Delete(root);
    free(path);
    return st;
}

/* ---- geometry (the processor's Python, integer for integer) -------------------------------- */

/* get_resize_output_image_size: longest edge -> max_len (short edge int()-truncated, bumped to
 * even), then scaled below MAX_IMAGE_SIZE. */
static void resize_output_size(int32_t h, int32_t w, int32_t max_len, int32_t *oh, int32_t *ow) {
    double aspect = (double)w / (double)h;
    if (w >= h) {
        w = max_len;
        h = (int32_t)((double)w / aspect);
        if (h % 2 != 0) h += 1;
    } else {
        h = max_len;
        w = (int32_t)((double)h * aspect);
        if (w % 2 != 0) w += 1;
    }
    if (h < 1) h = 1;
    if (w < 1) w = 1;

    aspect = (double)w / (double)h;
    if (w >= h && w > SMOLVLM_MAX_IMAGE_SIZE) {
        w = SMOLVLM_MAX_IMAGE_SIZE;
        h = (int32_t)((double)w / aspect);
    } else if (h > w && h > SMOLVLM_MAX_IMAGE_SIZE) {
        h = SMOLVLM_MAX_IMAGE_SIZE;
        w = (int32_t)((double)h * aspect);
    }
    *oh = h < 1 ? 1 : h;
    *ow = w < 1 ? 1 : w;
}

static int32_t ceil_to(int32_t x, int32_t m) { return (x + m - 1) / m * m; }

/* resize_for_vision_encoder: both sides to multiples of m, the short one derived from the long. */
static void vision_encoder_size(int32_t h, int32_t w, int32_t m, int32_t *oh, int32_t *ow) {
    double aspect = (double)w / (double)h;
    if (w >= h) {
        w = ceil_to(w, m);
        h = ceil_to((int32_t)((double)w / aspect), m);
    } else {
        h = ceil_to(h, m);
        w = ceil_to((int32_t)((double)h * aspect), m);
    }
    /* Defensive: int() of a tiny aspect cannot give 0 from sizes >= 1, but never resize to 0. */
    *oh = h < m ? m : h;
    *ow = w < m ? m : w;
}

/* ---- pipeline ----------------------------------------------------------------------------- */

static mmrt_status resize_image(const mmrt_image *src, int32_t w, int32_t h, mmrt_resample filter,
                                mmrt_image *dst, mmrt_error *err) {
    size_t n = (size_t)w * (size_t)h * 3;
    uint8_t *d = malloc(n);
    if (!d) return mmrt_error_oom(err, n, "resized image");
    mmrt_status st = mmrt_resize_u8(src->data, src->width, src->height, 3, d, w, h, filter, err);
    if (st != MMRT_OK) {
        free(d);
        return st;
    }
    *dst = (mmrt_image){.width = w, .height = h, .channels = 3, .data = d};
    return MMRT_OK;
}

static mmrt_status copy_image(const mmrt_image *src, mmrt_image *dst, mmrt_error *err) {
    size_t n = (size_t)src->width * (size_t)src->height * 3;
    uint8_t *d = malloc(n);
    if (!d) return mmrt_error_oom(err, n, "image copy");
    memcpy(d, src->data, n);
    *dst = (mmrt_image){.width = src->width, .height = src->height, .channels = 3, .data = d};
    return MMRT_OK;
}

/* Writes the m x m crop of img at (y0, x0) as (3, m, m) floats: rescale in float64 then cast to
 * float32, normalize in float32, as numpy does. */
static void emit_tile(const mmrt_image *img, int32_t y0, int32_t x0, int32_t m,
                      const mmrt_smolvlm_pp_config *cfg, float *dst) {
    for (int c = 0; c < 3; c++) {
        float *plane = dst + (size_t)c * m * m; /* (m, m) */
        for (int32_t y = 0; y < m; y++) {
            const uint8_t *row = img->data + ((size_t)(y0 + y) * img->width + x0) * 3;
            for (int32_t x = 0; x < m; x++) {
                uint8_t u = row[(size_t)x * 3 + c];
                float v = cfg->do_rescale ? (float)((double)u * cfg->rescale_factor) : (float)u;
                if (cfg->do_normalize) v = (v - cfg->mean[c]) / cfg->std[c];
                plane[(size_t)y * m + x] = v;
            }
        }
    }
}

void mmrt_smolvlm_pp_out_free(mmrt_smolvlm_pp_out *o) {
    if (!o) return;
    free(o->pixel_values);
    memset(o, 0, sizeof *o);
}

void mmrt_smolvlm_pp_trace_free(mmrt_smolvlm_pp_trace *t) {
    if (!t) return;
    mmrt_image_free(&t->decoded);
    mmrt_image_free(&t->resized);
    mmrt_image_free(&t->vision_resized);
    mmrt_image_free(&t->global);
}

mmrt_status mmrt_smolvlm_preprocess_trace(const mmrt_image *img,
                                          const mmrt_smolvlm_pp_config *cfg,
                                          mmrt_smolvlm_pp_out *out, mmrt_smolvlm_pp_trace *trace,
                                          mmrt_error *err) {
    if (out) memset(out, 0, sizeof *out);
    if (trace) memset(trace, 0, sizeof *trace);
    if (!img || !cfg || !out || !img->data)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "smolvlm preprocess: NULL argument");
    if (img->width < 1 || img->height < 1 || (img->channels != 3 && img->channels != 4))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "smolvlm preprocess: image %dx%d with %d channels (need RGB or RGBA)",
                              img->width, img->height, img->channels);
    if (cfg->longest_edge < 1 || cfg->max_image_size < 1 ||
        cfg->longest_edge > SMOLVLM_MAX_IMAGE_SIZE || cfg->max_image_size > SMOLVLM_MAX_IMAGE_SIZE)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "smolvlm preprocess: longest_edge %d / max_image_size %d out of "
                              "range 1..%d",
                              cfg->longest_edge, cfg->max_image_size, SMOLVLM_MAX_IMAGE_SIZE);

    const int32_t m = cfg->max_image_size;
    mmrt_image decoded = {0}, resized = {0}, vres = {0}, global = {0};
    mmrt_status st = mmrt_image_to_rgb_on_white(img, MMRT_COMPOSITE_PIL, &decoded, err);
    if (st != MMRT_OK) goto done;

    if (cfg->do_resize) {
        int32_t h, w;
        resize_output_size(decoded.height, decoded.width, cfg->longest_edge, &h, &w);
        st = resize_image(&decoded, w, h, cfg->resample, &resized, err);
    } else {
        st = copy_image(&decoded, &resized, err);
    }
    if (st != MMRT_OK) goto done;

    /* The frames: (y0, x0) crops of `src`, then optionally `global`. */
    const mmrt_image *src;
    int32_t rows = 0, cols = 0;
    bool has_global;
    if (cfg->do_image_splitting) {
        int32_t h, w;
        vision_encoder_size(resized.height, resized.width, m, &h, &w);
        st = resize_image(&resized, w, h, cfg->resample, &vres, err);
        if (st != MMRT_OK) goto done;
        src = &vres;
        if (h > m || w > m) {
            rows = (h - m) / m + 1;
            cols = (w - m) / m + 1;
            st = resize_image(&vres, m, m, cfg->resample, &global, err);
            if (st != MMRT_OK) goto done;
            has_global = true;
        } else {
            has_global = false; /* vres is exactly m x m: the one frame */
        }
    } else {
        st = resize_image(&resized, m, m, cfg->resample, &global, err);
        if (st != MMRT_OK) goto done;
        src = NULL;
        has_global = true;
    }

    int32_t n_tiles = (rows * cols) + (has_global ? 1 : 0) + (src && !has_global ? 1 : 0);
    size_t per_tile = (size_t)3 * m * m;
    size_t n_bytes = (size_t)n_tiles * per_tile * sizeof(float);
    float *pv = malloc(n_bytes); /* (n_tiles, 3, m, m) */
    if (!pv) {
        st = mmrt_error_oom(err, n_bytes, "pixel_values");
        goto done;
    }
    int32_t t = 0;
    if (src && !has_global) {
        emit_tile(src, 0, 0, m, cfg, pv);
        t = 1;
    } else {
        for (int32_t r = 0; r < rows; r++)
            for (int32_t c = 0; c < cols; c++)
                emit_tile(src, r * m, c * m, m, cfg, pv + (size_t)t++ * per_tile);
        emit_tile(&global, 0, 0, m, cfg, pv + (size_t)t++ * per_tile);
    }
    MMRT_ASSERT(t == n_tiles);
    *out = (mmrt_smolvlm_pp_out){
        .n_rows = rows, .n_cols = cols, .n_tiles = n_tiles, .tile = m, .pixel_values = pv};

done:
    if (trace) {
        *trace = (mmrt_smolvlm_pp_trace){
            .decoded = decoded, .resized = resized, .vision_resized = vres, .global = global};
    } else {
        mmrt_image_free(&decoded);
        mmrt_image_free(&resized);
        mmrt_image_free(&vres);
        mmrt_image_free(&global);
    }
    return st;
}

mmrt_status mmrt_smolvlm_preprocess(const mmrt_image *img, const mmrt_smolvlm_pp_config *cfg,
                                    mmrt_smolvlm_pp_out *out, mmrt_error *err) {
    return mmrt_smolvlm_preprocess_trace(img, cfg, out, NULL, err);
}
