/* Image loading front end: format sniffing, the size guard, EXIF transposition, pixel buffers and
 * the RGB conversions. The decoders are in image_png.c, image_jpeg.c and image_webp.c. */
#include "vision/image.h"

#include "core/fsutil.h"
#include "vision/image_decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


mmrt_image_limits mmrt_image_default_limits(void) {
    return (mmrt_image_limits){.max_pixels = MMRT_IMAGE_DEFAULT_MAX_PIXELS};
}

void mmrt_image_free(mmrt_image *img) {
    if (!img) return;
    free(img->data);
    *img = (mmrt_image){0};
}

mmrt_status mmrt_image_alloc(mmrt_image *out, int64_t w, int64_t h, int32_t channels,
                             int64_t max_pixels, const char *name, mmrt_error *err) {
    *out = (mmrt_image){0};
    if (w <= 0 || h <= 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: empty image (%lldx%lld pixels)", name,
                              (long long)w, (long long)h);
    /* w and h come from 16/32-bit header fields, so w * h cannot overflow int64. */
    if (w > INT32_MAX || h > INT32_MAX || w * h > max_pixels)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: image too large: %lldx%lld = %lld pixels, the limit "
                              "(max_pixels) is %lld",
                              name, (long long)w, (long long)h, (long long)(w * h),
                              (long long)max_pixels);
    size_t n = (size_t)w * (size_t)h * (size_t)channels;
    uint8_t *data = malloc(n);
    if (!data) return mmrt_error_oom(err, n, name);
    *out = (mmrt_image){.width = (int32_t)w, .height = (int32_t)h, .channels = channels,
                        .data = data};
    return MMRT_OK;
}

/* ---- format sniffing ---------------------------------------------------------------------- */

typedef enum { FMT_UNKNOWN, FMT_PNG, FMT_JPEG, FMT_WEBP, FMT_OTHER } image_format;

/* The format of the first bytes; for formats mmrt does not read, *what names it. */
static image_format sniff(const uint8_t *p, size_t n, const char **what) {
    static const struct { const char *magic; size_t off, len; const char *name; } other[] = {
        {"GIF87a", 0, 6, "GIF"},         {"GIF89a", 0, 6, "GIF"},
        {"RIFF", 0, 4, "RIFF (not WebP)"}, {"BM", 0, 2, "BMP"},
        {"II*\0", 0, 4, "TIFF"},         {"MM\0*", 0, 4, "TIFF"},
        {"qoif", 0, 4, "QOI"},           {"8BPS", 0, 4, "Photoshop (PSD)"},
        {"\0\0\0\x0cjP  ", 0, 8, "JPEG 2000"}, {"\xff\x4f\xff\x51", 0, 4, "JPEG 2000"},
        {"\xff\x0a", 0, 2, "JPEG XL"},   {"\0\0\0\x0cJXL ", 0, 8, "JPEG XL"},
        {"icns", 0, 4, "ICNS"},          {"\0\0\1\0", 0, 4, "ICO"},
    };
    *what = NULL;
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return FMT_PNG;
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return FMT_JPEG;
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) return FMT_WEBP;
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        if (n >= other[i].off + other[i].len &&
            memcmp(p + other[i].off, other[i].magic, other[i].len) == 0) {
            *what = other[i].name;
            return FMT_OTHER;
        }
    }
    if (n >= 12 && memcmp(p + 4, "ftyp", 4) == 0) { /* ISO media: HEIF family or video */
        const char *b = (const char *)p + 8;
        bool avif = memcmp(b, "avif", 4) == 0 || memcmp(b, "avis", 4) == 0;
        bool heic = memcmp(b, "heic", 4) == 0 || memcmp(b, "heix", 4) == 0 ||
                    memcmp(b, "mif1", 4) == 0 || memcmp(b, "msf1", 4) == 0 ||
                    memcmp(b, "hevc", 4) == 0 || memcmp(b, "heim", 4) == 0;
        *what = avif ? "AVIF" : heic ? "HEIC/HEIF" : "ISO media (MP4/MOV)";
        return FMT_OTHER;
    }
    return FMT_UNKNOWN;
}

/* ---- orientation -------------------------------------------------------------------------- */

/* Applies Pillow's transpose for EXIF orientation o (2..8; others leave img as is). For output
 * pixel (x, y), the source pixel is given per orientation as ImageOps.exif_transpose maps it:
 * 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270,
 * 7 TRANSVERSE, 8 ROTATE_90. */
static mmrt_status orient(mmrt_image *img, int o, const char *name, mmrt_error *err) {
    if (o < 2 || o > 8) return MMRT_OK;
    int32_t w = img->width, h = img->height, ch = img->channels;
    bool swap = o >= 5;
    int32_t ow = swap ? h : w, oh = swap ? w : h;
    size_t n = (size_t)w * h * ch;
    uint8_t *dst = malloc(n);
    if (!dst) return mmrt_error_oom(err, n, name);
    for (int32_t y = 0; y < oh; y++) {
        for (int32_t x = 0; x < ow; x++) {
            int32_t sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x, sy = y; break;
            case 3: sx = w - 1 - x, sy = h - 1 - y; break;
            case 4: sx = x, sy = h - 1 - y; break;
            case 5: sx = y, sy = x; break;
            case 6: sx = y, sy = h - 1 - x; break;
            case 7: sx = w - 1 - y, sy = h - 1 - x; break;
            default: sx = w - 1 - y, sy = x; break;
            }
            memcpy(dst + ((size_t)y * ow + x) * ch, img->data + ((size_t)sy * w + sx) * ch,
                   (size_t)ch);
        }
    }
    free(img->data);
    img->data = dst;
    img->width = ow;
    img->height = oh;
    return MMRT_OK;
}

/* ---- loading ------------------------------------------------------------------------------ */

mmrt_status mmrt_image_load_memory(const void *bytes, size_t n, const char *name,
                                   const mmrt_image_limits *lim, mmrt_image *out, mmrt_error *err) {
    if (!name) name = "image";
    if (!out) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: no output image", name);
    *out = (mmrt_image){0};
    if (!bytes && n > 0)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: NULL bytes", name);
    if (n == 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: empty file (0 bytes), not an image",
                              name);
    int64_t max_pixels = lim ? lim->max_pixels : MMRT_IMAGE_DEFAULT_MAX_PIXELS;
    const uint8_t *p = bytes;
    const char *what;
    image_format fmt = sniff(p, n, &what);
    mmrt_image img = {0};
    int o = 1;
    mmrt_status st;
    switch (fmt) {
    case FMT_PNG: st = mmrt_image_decode_png(p, n, name, max_pixels, &img, &o, err); break;
    case FMT_JPEG: st = mmrt_image_decode_jpeg(p, n, name, max_pixels, &img, &o, err); break;
    case FMT_WEBP: st = mmrt_image_decode_webp(p, n, name, max_pixels, &img, &o, err); break;
    case FMT_OTHER:
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: unsupported image format %s (mmrt reads PNG, JPEG and WebP)",
                              name, what);
    default:
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: not an image mmrt can read (unrecognised format, first bytes "
                              "%02x %02x %02x %02x; mmrt reads PNG, JPEG and WebP)",
                              name, p[0], n > 1 ? p[1] : 0, n > 2 ? p[2] : 0, n > 3 ? p[3] : 0);
    }
    if (st != MMRT_OK) return st;
    if ((st = orient(&img, o, name, err)) != MMRT_OK) {
        mmrt_image_free(&img);
        return st;
    }
    *out = img;
    return MMRT_OK;
}

mmrt_status mmrt_image_load_file(const char *path, const mmrt_image_limits *lim, mmrt_image *out,
                                 mmrt_error *err) {
    if (out) *out = (mmrt_image){0};
    if (!path) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "image: NULL path");
    char *data = NULL;
    size_t n = 0;
    MMRT_TRY(mmrt_fs_read_file(path, MMRT_IMAGE_MAX_FILE_BYTES, &data, &n, err));
    mmrt_status st = mmrt_image_load_memory(data, n, path, lim, out, err);
    free(data);
    return st;
}

/* ---- pixel buffers and conversions -------------------------------------------------------- */

mmrt_status mmrt_image_from_pixels(const uint8_t *px, int32_t w, int32_t h, int32_t channels,
                                   size_t stride, mmrt_image *out, mmrt_error *err) {
    if (!out) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "pixel buffer: no output image");
    *out = (mmrt_image){0};
    if (!px) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "pixel buffer: NULL pixels");
    if (channels != 3 && channels != 4)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "pixel buffer: %d channels, expected 3 (RGB8) or 4 (RGBA8)",
                              (int)channels);
    if (w < 1 || h < 1)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "pixel buffer: empty image (%dx%d)",
                              (int)w, (int)h);
    size_t row = (size_t)w * channels;
    if (stride < row)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "pixel buffer: stride %zu is shorter than a row (%d x %d = %zu bytes)",
                              stride, (int)w, (int)channels, row);
    MMRT_TRY(mmrt_image_alloc(out, w, h, channels, INT64_MAX, "pixel buffer", err));
    for (int32_t y = 0; y < h; y++) memcpy(out->data + (size_t)y * row, px + (size_t)y * stride, row);
    return MMRT_OK;
}

static mmrt_status check_image(const mmrt_image *in, mmrt_image *out, mmrt_error *err) {
    if (!out) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "image: no output image");
    *out = (mmrt_image){0};
    if (!in || !in->data || in->width < 1 || in->height < 1 ||
        (in->channels != 3 && in->channels != 4))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "image: not a valid RGB/RGBA image");
    return mmrt_image_alloc(out, in->width, in->height, 3, INT64_MAX, "image", err);
}

mmrt_status mmrt_image_to_rgb(const mmrt_image *in, mmrt_image *out, mmrt_error *err) {
    MMRT_TRY(check_image(in, out, err));
    size_t n = (size_t)in->width * in->height;
    for (size_t i = 0; i < n; i++) memcpy(out->data + 3 * i, in->data + in->channels * i, 3);
    return MMRT_OK;
}

/* Pillow's ImagingAlphaComposite (libImaging/AlphaComposite.c) with an opaque white destination:
 * 7 extra bits of precision and divisions by 255 rounded through SHIFTFORDIV255. */
static inline uint8_t over_white_pil(unsigned c, unsigned a) {
    if (a == 0) return 255;
    unsigned blend = 255u * (255u - a);
    unsigned outa255 = a * 255u + blend;
    unsigned coef1 = a * 255u * 255u * (1u << 7) / outa255;
    unsigned coef2 = 255u * (1u << 7) - coef1;
    unsigned t = c * coef1 + 255u * coef2 + (0x80u << 7);
    return (uint8_t)((((t >> 8) + t) >> 8) >> 7);
}

/* transformers' numpy path: alpha = a / 255; round(alpha * c + (1 - alpha) * 255), each step in
 * float64 as numpy evaluates it, rounding half to even (np.round). */
static inline uint8_t over_white_numpy(unsigned c, unsigned a) {
    volatile double alpha = (double)a / 255.0;
    volatile double fg = alpha * (double)c;
    volatile double bg = (1.0 - alpha) * 255.0;
    return (uint8_t)nearbyint(fg + bg);
}

mmrt_status mmrt_image_to_rgb_on_white(const mmrt_image *in, mmrt_composite_rule rule,
                                       mmrt_image *out, mmrt_error *err) {
    if (rule != MMRT_COMPOSITE_PIL && rule != MMRT_COMPOSITE_NUMPY)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "image: unknown composite rule %d",
                              (int)rule);
    MMRT_TRY(check_image(in, out, err));
    size_t n = (size_t)in->width * in->height;
    if (in->channels == 3) {
        memcpy(out->data, in->data, n * 3);
        return MMRT_OK;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = in->data + 4 * i;
        for (int k = 0; k < 3; k++)
            out->data[3 * i + k] = rule == MMRT_COMPOSITE_PIL ? over_white_pil(s[k], s[3])
                                                              : over_white_numpy(s[k], s[3]);
    }
    return MMRT_OK;
}
