/* Image resizing that reproduces Pillow's `Image.resize` on 8-bit images byte for byte.
 *
 * The checkpoints' image processors resize with PIL (LANCZOS for SmolVLM/Idefics3), and the
 * models were trained on those exact pixels, so "close" is not enough: this file follows Pillow's
 * convolution resampler (libImaging/Resample.c, checked against Pillow 13.0.0 on the fixtures in
 * tests/fixtures/resize/, made by tools/fixtures_resize.py) step for step:
 *
 *   - separable: two passes through an 8-bit intermediate image. Horizontal first, except that
 *     (as of Pillow 13) the vertical pass goes first when the height shrinks, and by more than
 *     twice as many pixels as the width does (new_h < h && h - new_h > 2 * (w - new_w)); the
 *     order matters because the intermediate is rounded. A pass whose size does not change is
 *     skipped, and an unchanged size is a plain copy;
 *   - per output sample, the filter is evaluated in double over the source samples whose centers
 *     lie within the (scaled) support, the weights are normalised to sum to 1, then rounded to
 *     signed fixed point with 22 fractional bits;
 *   - each output value is (2^21 + sum of sample * weight) >> 22, clamped to 0..255.
 *
 * Modes, as Pillow treats them:
 *   - channels 1 ("L") and 3 ("RGB"): every channel is filtered independently.
 *   - channels 4 ("RGBA"): Pillow converts to premultiplied "RGBa" first (c' = round(c * a / 255)
 *     in integers), resizes all four channels, and converts back (c = min(255, c' * 255 / a),
 *     integer division; pixels with a == 0 or a == 255 keep c' unchanged). An unchanged size
 *     skips both conversions (Pillow returns a copy before converting).
 *
 * Threads: no shared state; any number of calls may run at once.
 */
#ifndef MMRT_VISION_RESIZE_H
#define MMRT_VISION_RESIZE_H

#include "core/error.h"

#include <stdint.h>

/* Pillow's Image.Resampling filters of the same names (LANCZOS is a = 3). */
typedef enum {
    MMRT_RESAMPLE_BILINEAR,
    MMRT_RESAMPLE_BICUBIC,
    MMRT_RESAMPLE_LANCZOS,
} mmrt_resample;

/* The filter's name as Pillow spells it ("lanczos"), or "unknown". */
const char *mmrt_resample_name(mmrt_resample filter);

/* Resizes src, (h, w, channels) uint8 row-major and tightly packed, to dst, (new_h, new_w,
 * channels), which the caller allocates. channels is 1 (gray), 3 (RGB) or 4 (RGBA, straight
 * alpha). src and dst must not overlap.
 *
 * MMRT_ERR_INVALID_ARG (message naming the sizes) for NULL buffers, a size <= 0, channels not in
 * {1, 3, 4}, an unknown filter, or sizes whose buffers or filter tables cannot be addressed
 * (overflow); MMRT_ERR_OOM when the filter tables or the intermediate image cannot be allocated.
 * On failure dst is unspecified. */
mmrt_status mmrt_resize_u8(const uint8_t *src, int32_t w, int32_t h, int32_t channels, uint8_t *dst,
                           int32_t new_w, int32_t new_h, mmrt_resample filter, mmrt_error *err);

#endif
