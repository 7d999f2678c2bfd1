/* Internal to vision/image*.c: the format decoders and the EXIF orientation reader.
 *
 * A decoder turns n encoded bytes into an mmrt_image as Pillow's convert("RGB"/"RGBA") would (see
 * image.h), unrotated, and reports the orientation Pillow's exif_transpose would apply. Messages
 * are "<name>: <problem>". On failure *out is zeroed and nothing stays allocated.
 */
#ifndef MMRT_VISION_IMAGE_DECODE_H
#define MMRT_VISION_IMAGE_DECODE_H

#include "vision/image.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

mmrt_status mmrt_image_decode_png(const uint8_t *data, size_t n, const char *name,
                                  int64_t max_pixels, mmrt_image *out, int *orientation,
                                  mmrt_error *err);
mmrt_status mmrt_image_decode_jpeg(const uint8_t *data, size_t n, const char *name,
                                   int64_t max_pixels, mmrt_image *out, int *orientation,
                                   mmrt_error *err);
mmrt_status mmrt_image_decode_webp(const uint8_t *data, size_t n, const char *name,
                                   int64_t max_pixels, mmrt_image *out, int *orientation,
                                   mmrt_error *err);

/* Refuses w x h above max_pixels (before anything is allocated), zero sizes, then allocates
 * out->data for (h, w, channels). */
mmrt_status mmrt_image_alloc(mmrt_image *out, int64_t w, int64_t h, int32_t channels,
                             int64_t max_pixels, const char *name, mmrt_error *err);

/* The Orientation tag (0x0112) of IFD0 of an Exif TIFF block, read as Pillow reads it: an optional
 * "Exif\0\0" prefix (twice at most), "II"/"MM" header, first occurrence of the tag wins, integer
 * (SHORT/LONG/SSHORT/SLONG/LONG8: the first value), rational or float types holding a whole number;
 * a truncated directory keeps the entries read before the cut. Sets *found when the tag is present
 * (whatever its value) and returns the value (0 when it is not a whole number). Never reads out
 * of bounds. */
int64_t mmrt_exif_orientation(const uint8_t *exif, size_t n, bool *found);

/* The first `tiff:Orientation="D` or `tiff:Orientation>D` in an XMP packet (Pillow's fallback
 * when the Exif block has no Orientation): the digit D, or -1 when there is none. */
int mmrt_xmp_orientation(const uint8_t *xmp, size_t n);

#endif
