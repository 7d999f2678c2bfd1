/* Image parts of a prompt (mmrt_part: a file, encoded bytes, or a pixel buffer) decoded into the
 * RGB or RGBA image an image processor receives. Shared by the image encoders' prepare steps. */
#ifndef MMRT_FUSION_IMAGE_PART_H
#define MMRT_FUSION_IMAGE_PART_H

#include "core/error.h"
#include "vision/image.h"

#include <mmrt.h>

/* The part types mmrt_image_part_decode takes, as an mmrt_encoder's part_types. */
#define MMRT_IMAGE_PART_TYPES \
    ((1u << MMRT_PART_IMAGE_FILE) | (1u << MMRT_PART_IMAGE_BYTES) | (1u << MMRT_PART_IMAGE_PIXELS))

/* What messages call part i: its name (a path or the name given), else "image part i". */
const char *mmrt_image_part_name(const mmrt_part *p, size_t i, char *buf, size_t size);

/* Decodes part i (an image part type) into *out. max_pixels > 0 lowers the decoder's pixel limit.
 * Errors name the part. */
mmrt_status mmrt_image_part_decode(const mmrt_part *p, size_t i, int64_t max_pixels, mmrt_image *out,
                                   mmrt_error *err);

#endif
