/* SmolVLM / Idefics3 image preprocessing: a decoded image -> the encoder's pixel_values, equal to
 * transformers 5.23's slow (PIL) image processor (Idefics3ImageProcessorPil /
 * SmolVLMImageProcessorPil, identical arithmetic), which is what the checkpoints were trained with.
 *
 * Steps, in the processor's order (tests/fixtures/smolvlm/ checks every 8-bit intermediate):
 *   1. convert_to_rgb: RGBA is composited on white with PIL's alpha_composite (MMRT_COMPOSITE_PIL),
 *      as the processor does for the PIL images a file decodes to; RGB is used as is.
 *   2. do_resize: longest edge -> longest_edge, keeping the aspect ratio (short edge truncated,
 *      then bumped to even), capped at 4096 (the processor's MAX_IMAGE_SIZE). PIL resample.
 *   3. do_image_splitting: resize_for_vision_encoder (both sides rounded up to multiples of m =
 *      max_image_size, the short side via int(long / aspect)), then, when larger than m x m, the
 *      row-major m x m crops followed by the global image (that image resized to m x m); an
 *      image of exactly m x m is a single tile with no global image.
 *      Splitting off: the image resized to m x m (aspect not kept), one tile.
 *   4. do_rescale: f32((double)u8 * rescale_factor); do_normalize: f32 (x - mean[c]) / std[c].
 * Every tile is m x m, so the processor's pixel_attention_mask is all ones for one image.
 *
 * Threads: no shared state; calls may run at once on different outputs.
 */
#ifndef MMRT_VISION_SMOLVLM_PREPROCESS_H
#define MMRT_VISION_SMOLVLM_PREPROCESS_H

#include "core/error.h"
#include "vision/image.h"
#include "vision/resize.h"

#include <stdbool.h>
#include <stdint.h>

/* The processor's settings. rescale_factor is double because the processor multiplies in
 * float64 (1/255 as written in the JSON) before casting to float32. */
typedef struct mmrt_smolvlm_pp_config {
    int32_t longest_edge;   /* size["longest_edge"] */
    int32_t max_image_size; /* max_image_size["longest_edge"]: the tile side m */
    bool do_resize, do_image_splitting, do_rescale, do_normalize;
    double rescale_factor;
    float mean[3], std[3];
    mmrt_resample resample;
} mmrt_smolvlm_pp_config;

/* The class defaults (Idefics3ImageProcessorPil): longest_edge 1456, max_image_size 364, every
 * step on, 1/255, mean = std = 0.5, LANCZOS. */
mmrt_smolvlm_pp_config mmrt_smolvlm_pp_default_config(void);

/* Reads model_dir/processor_config.json when it has a nested "image_processor" object (the 5.x
 * layout), else model_dir/preprocessor_config.json (4.x). Absent keys keep the class defaults.
 * MMRT_ERR_IO when neither file holds the settings, MMRT_ERR_BAD_FORMAT for malformed values
 * (naming file and field), MMRT_ERR_UNSUPPORTED for a size without "longest_edge" or a resample
 * other than LANCZOS (1), BILINEAR (2), BICUBIC (3). *out is written only on success. */
mmrt_status mmrt_smolvlm_pp_config_load(const char *model_dir, mmrt_smolvlm_pp_config *out,
                                        mmrt_error *err);

typedef struct mmrt_smolvlm_pp_out {
    int32_t n_rows, n_cols; /* tile grid, 0 when not split */
    int32_t n_tiles;        /* including the global image */
    int32_t tile;           /* tile side m */
    float *pixel_values;    /* (n_tiles, 3, tile, tile), malloc'd */
} mmrt_smolvlm_pp_out;

/* The 8-bit intermediates, for tests and debugging: each an RGB image owned by the struct, zeroed
 * when its step did not run (global: no global image). */
typedef struct mmrt_smolvlm_pp_trace {
    mmrt_image decoded;        /* after convert_to_rgb */
    mmrt_image resized;        /* after step 2 (a copy of decoded when do_resize is off) */
    mmrt_image vision_resized; /* after resize_for_vision_encoder (splitting on) */
    mmrt_image global;         /* the global image (or the single tile when splitting is off) */
} mmrt_smolvlm_pp_trace;

/* Preprocesses one image (as decoded: RGB, or RGBA to composite on white). MMRT_ERR_INVALID_ARG
 * for NULL arguments, an empty image, other channel counts, or sizes < 1 in cfg; MMRT_ERR_OOM.
 * On failure *out is zeroed. */
mmrt_status mmrt_smolvlm_preprocess(const mmrt_image *img, const mmrt_smolvlm_pp_config *cfg,
                                    mmrt_smolvlm_pp_out *out, mmrt_error *err);

/* Same, also filling *trace (may be NULL); free it with mmrt_smolvlm_pp_trace_free, also after a
 * failure. */
mmrt_status mmrt_smolvlm_preprocess_trace(const mmrt_image *img,
                                          const mmrt_smolvlm_pp_config *cfg,
                                          mmrt_smolvlm_pp_out *out, mmrt_smolvlm_pp_trace *trace,
                                          mmrt_error *err);

/* Frees and zeroes. NULL and zeroed structs are fine. */
void mmrt_smolvlm_pp_out_free(mmrt_smolvlm_pp_out *o);
void mmrt_smolvlm_pp_trace_free(mmrt_smolvlm_pp_trace *t);

#endif
