/* Decoded images: PNG (libpng), JPEG (libjpeg-turbo) and WebP (libwebp) files or bytes, and
 * callers' pixel buffers, as 8-bit RGB or RGBA pixels equal byte for byte to what Pillow gives.
 *
 * The reference is the Python pipeline the checkpoints' processors were run with:
 *
 *     im = ImageOps.exif_transpose(Image.open(path))
 *     px = im.convert("RGBA" if has_alpha(im) else "RGB")
 *
 * where has_alpha is transformers' convert_to_rgb rule: an "A" band, or a tRNS transparency (palette,
 * gray or RGB key). So a loaded image has 4 channels exactly when the processor would composite it
 * on white, and the pixel values follow Pillow's conversions (16-bit colour keeps the high byte,
 * 16-bit gray is clipped to 255 as Pillow's I;16 -> L does, CMYK uses Pillow's cmyk2rgb, JPEG is
 * decoded with ISLOW DCT and fancy upsampling). WebP (lossy, lossless, alpha) is decoded through
 * libwebp's WebPAnimDecoder as Pillow does: fancy upsampling, RGBA exactly when libwebp's header
 * features report alpha (even if every pixel is opaque), and the first frame of an animation.
 * The EXIF orientation (APP1 Exif / PNG eXIf / WebP EXIF chunk, falling back to an XMP
 * tiff:Orientation as Pillow does) is applied.
 *
 * The format is sniffed from the first bytes (RIFF....WEBP for WebP), never from the file name.
 * Everything else (HEIC, AVIF, GIF, ...) is MMRT_ERR_UNSUPPORTED naming the detected type. Every
 * failure returns a status and a message naming the file (or the name given for memory input) and
 * the problem; nothing is allocated or leaked on failure and *out is zeroed. All functions are
 * thread-safe.
 */
#ifndef MMRT_VISION_IMAGE_H
#define MMRT_VISION_IMAGE_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct mmrt_image {
    int32_t width, height;
    int32_t channels; /* 3 (RGB) or 4 (RGBA, straight alpha) */
    uint8_t *data;    /* (height, width, channels), tightly packed, malloc'd */
} mmrt_image;

typedef struct mmrt_image_limits {
    int64_t max_pixels; /* width * height above this is refused from the header, before decoding */
} mmrt_image_limits;

#define MMRT_IMAGE_DEFAULT_MAX_PIXELS ((int64_t)100 * 1000 * 1000)
/* Largest encoded file read (bytes). */
#define MMRT_IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

/* max_pixels = MMRT_IMAGE_DEFAULT_MAX_PIXELS. */
mmrt_image_limits mmrt_image_default_limits(void);

/* Reads and decodes the file at path. lim may be NULL (defaults). Fails with MMRT_ERR_IO (missing,
 * unreadable, empty), MMRT_ERR_UNSUPPORTED (not PNG/JPEG/WebP; or a header over lim->max_pixels),
 * MMRT_ERR_BAD_FORMAT (corrupt or truncated data, zero width or height), MMRT_ERR_OOM. */
mmrt_status mmrt_image_load_file(const char *path, const mmrt_image_limits *lim, mmrt_image *out,
                                 mmrt_error *err);

/* Decodes n encoded bytes; name labels messages (NULL reads as "image"). Same statuses. */
mmrt_status mmrt_image_load_memory(const void *bytes, size_t n, const char *name,
                                   const mmrt_image_limits *lim, mmrt_image *out, mmrt_error *err);

/* Copies a caller's pixel buffer: h rows of w pixels of `channels` (3 = RGB8, 4 = RGBA8) bytes,
 * rows `stride` bytes apart (stride >= w * channels). MMRT_ERR_INVALID_ARG for NULL pixels,
 * w or h < 1, other channel counts or a short stride. */
mmrt_status mmrt_image_from_pixels(const uint8_t *px, int32_t w, int32_t h, int32_t channels,
                                   size_t stride, mmrt_image *out, mmrt_error *err);

/* Frees img->data and zeroes *img. NULL and zeroed images are fine. */
void mmrt_image_free(mmrt_image *img);

/* Pillow's img.convert("RGB"): a copy with the alpha channel dropped (a copy of RGB input). */
mmrt_status mmrt_image_to_rgb(const mmrt_image *in, mmrt_image *out, mmrt_error *err);

/* How alpha is composited on white; the two paths of transformers' convert_to_rgb differ by one
 * level on some pixels. */
typedef enum mmrt_composite_rule {
    /* PIL images (decoded files): Image.alpha_composite(white, im), Pillow's fixed-point blend. */
    MMRT_COMPOSITE_PIL = 0,
    /* numpy arrays (pixel buffers): round(a/255 * c + (1 - a/255) * 255), half to even, in f64. */
    MMRT_COMPOSITE_NUMPY = 1,
} mmrt_composite_rule;

/* RGB with the alpha of RGBA input composited on opaque white, as the SmolVLM / Idefics3
 * processors do (transformers.image_transforms.convert_to_rgb); RGB input is copied. */
mmrt_status mmrt_image_to_rgb_on_white(const mmrt_image *in, mmrt_composite_rule rule,
                                       mmrt_image *out, mmrt_error *err);

#endif
