/* PNG through libpng, converted as Pillow's PngImagePlugin + convert() do:
 *   gray 1/2/4-bit  -> scaled to 8 bits ("1", "L;2", "L;4");  gray 16-bit -> I;16, clipped to 255
 *   RGB/RGBA/LA 16-bit -> the high byte of each sample ("RGB;16B", "RGBA;16B", "LA;16B")
 *   palette -> PLTE lookup (indices past PLTE read as black), tRNS alphas per entry
 *   tRNS key on gray/RGB -> alpha 0 where the converted 8-bit value equals the key (Pillow compares
 *   after conversion; a 1-bit key is 0 or 255)
 * No gamma, sBIT or colour-profile handling: Pillow applies none. Interlaced files are
 * de-interlaced by libpng.
 *
 * libpng reports errors by longjmp. The setjmp lives in png_run(), whose only state is the
 * png_ctx it receives by pointer, so nothing it changes is a local of the frame that calls setjmp;
 * the caller frees whatever the context holds on both paths.
 */
#include "vision/image_decode.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct png_ctx {
    const uint8_t *data;
    size_t n, pos;
    const char *name;
    int64_t max_pixels;
    mmrt_error *err;
    mmrt_status status; /* set when a failure is ours (guard, OOM), not libpng's */
    char msg[256];      /* libpng's message */
    char warning[128];  /* libpng's first warning, which often says what the error is about */
    png_structp png;
    png_infop info;
    uint8_t *raw;        /* one row, or the whole image when interlaced */
    png_bytep *rows;     /* row pointers into raw (interlaced) */
    mmrt_image img;
    int orientation;
    bool pixels_done;
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    if (c->warning[0] && !c->pixels_done)
        snprintf(c->msg, sizeof c->msg, "%s (%s)", msg, c->warning);
    else
        snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* Pillow decodes through the same benign problems silently; the first warning is kept because
 * libpng's error can be generic ("Invalid IHDR data" after "Image width is zero in IHDR"). */
static void png_on_warning(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    if (!c->warning[0]) snprintf(c->warning, sizeof c->warning, "%s", msg);
}

static void png_on_read(png_structp png, png_bytep out, size_t len) {
    png_ctx *c = png_get_io_ptr(png);
    if (c->n - c->pos < len) png_error(png, "file is truncated");
    memcpy(out, c->data + c->pos, len);
    c->pos += len;
}

typedef struct png_layout {
    int ct, bd;                 /* colour type and bit depth from IHDR */
    int n_src;                  /* samples per source pixel */
    bool has_trns;
    int32_t key[3];             /* tRNS key, 8-bit-converted pixels compare to it */
    png_colorp pal;
    int n_pal;
    uint8_t alpha[256];         /* palette alphas */
} png_layout;

static inline uint32_t sample(const uint8_t *row, int bd, size_t i) {
    return bd == 16 ? (uint32_t)row[2 * i] << 8 | row[2 * i + 1] : row[i];
}

/* One 8-bit value from a gray sample, as Pillow's unpackers and I;16 -> L give it. */
static inline uint8_t gray8(uint32_t v, int bd) {
    switch (bd) {
    case 1: return v ? 255 : 0;
    case 2: return (uint8_t)(v * 85);
    case 4: return (uint8_t)(v * 17);
    case 8: return (uint8_t)v;
    default: return v >= 255 ? 255 : (uint8_t)v;
    }
}

static void convert_row(const png_layout *L, const uint8_t *src, uint8_t *dst, int32_t w,
                        int ch) {
    for (int32_t x = 0; x < w; x++, dst += ch) {
        size_t i = (size_t)x * L->n_src;
        uint8_t r, g, b, a = 255;
        switch (L->ct) {
        case PNG_COLOR_TYPE_GRAY:
            r = g = b = gray8(sample(src, L->bd, i), L->bd);
            if (L->has_trns && r == L->key[0]) a = 0;
            break;
        case PNG_COLOR_TYPE_GRAY_ALPHA:
            r = g = b = (uint8_t)(sample(src, L->bd, i) >> (L->bd - 8));
            a = (uint8_t)(sample(src, L->bd, i + 1) >> (L->bd - 8));
            break;
        case PNG_COLOR_TYPE_PALETTE: {
            unsigned k = src[i];
            if ((int)k < L->n_pal) {
                r = L->pal[k].red, g = L->pal[k].green, b = L->pal[k].blue;
            } else {
                r = g = b = 0;
            }
            a = L->alpha[k];
            break;
        }
        default: /* RGB, RGBA */
            r = (uint8_t)(sample(src, L->bd, i) >> (L->bd - 8));
            g = (uint8_t)(sample(src, L->bd, i + 1) >> (L->bd - 8));
            b = (uint8_t)(sample(src, L->bd, i + 2) >> (L->bd - 8));
            if (L->ct == PNG_COLOR_TYPE_RGB_ALPHA)
                a = (uint8_t)(sample(src, L->bd, i + 3) >> (L->bd - 8));
            else if (L->has_trns && r == L->key[0] && g == L->key[1] && b == L->key[2])
                a = 0;
        }
        dst[0] = r, dst[1] = g, dst[2] = b;
        if (ch == 4) dst[3] = a;
    }
}

static void read_layout(png_ctx *c, png_layout *L) {
    png_structp png = c->png;
    png_infop info = c->info;
    memset(L, 0, sizeof *L);
    L->ct = png_get_color_type(png, info);
    L->bd = png_get_bit_depth(png, info);
    L->n_src = png_get_channels(png, info);
    memset(L->alpha, 255, sizeof L->alpha);
    if (L->ct == PNG_COLOR_TYPE_PALETTE) png_get_PLTE(png, info, &L->pal, &L->n_pal);
    png_bytep trans = NULL;
    int n_trans = 0;
    png_color_16p key = NULL;
    if (png_get_valid(png, info, PNG_INFO_tRNS) &&
        png_get_tRNS(png, info, &trans, &n_trans, &key)) {
        L->has_trns = true;
        if (L->ct == PNG_COLOR_TYPE_PALETTE) {
            for (int k = 0; k < n_trans && k < 256; k++) L->alpha[k] = trans[k];
        } else if (L->ct == PNG_COLOR_TYPE_GRAY) {
            L->key[0] = L->bd == 1 ? (key->gray ? 255 : 0) : key->gray;
        } else if (L->ct == PNG_COLOR_TYPE_RGB) {
            L->key[0] = key->red, L->key[1] = key->green, L->key[2] = key->blue;
        } else {
            L->has_trns = false; /* libpng drops tRNS on alpha types */
        }
    }
}

/* The orientation Pillow would see: eXIf (before or after IDAT), else an XMP iTXt. */
static int png_orientation(png_ctx *c) {
    png_uint_32 n_exif = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(c->png, c->info, &n_exif, &exif) && exif) {
        bool found;
        int64_t o = mmrt_exif_orientation(exif, n_exif, &found);
        if (found) return o >= 1 && o <= 8 ? (int)o : 1;
    }
    png_textp text = NULL;
    int n_text = 0;
    png_get_text(c->png, c->info, &text, &n_text);
    for (int i = 0; i < n_text; i++) {
        if (strcmp(text[i].key, "XML:com.adobe.xmp") != 0) continue;
        size_t len = text[i].compression >= PNG_ITXT_COMPRESSION_NONE ? text[i].itxt_length
                                                                      : text[i].text_length;
        int o = mmrt_xmp_orientation((const uint8_t *)text[i].text, len);
        return o >= 1 && o <= 8 ? o : 1;
    }
    return 1;
}

/* libpng's own allocations (row buffers, zlib state, the chunks it keeps) are small for any image
 * within max_pixels; but libpng 1.6 applies png_set_chunk_malloc_max to IDAT only, so an iTXt
 * (kept: XMP orientation) claiming gigabytes would be allocated before it is read. Anything over
 * this cap is refused: libpng drops that ancillary chunk (a benign error) or fails the file. */
#define PNG_MALLOC_CAP ((png_alloc_size_t)64 << 20)

static png_voidp png_malloc_capped(png_structp png, png_alloc_size_t n) {
    (void)png;
    return n > PNG_MALLOC_CAP ? NULL : malloc(n);
}

static void png_free_capped(png_structp png, png_voidp p) {
    (void)png;
    free(p);
}

/* Decodes into c->img; returns false on any failure (message in c->msg or c->err). */
static bool png_run(png_ctx *c) {
    if (setjmp(png_jmpbuf(c->png))) {
        /* Like Pillow, a file whose pixels are all there may end badly (no IEND, junk chunks). */
        if (!c->pixels_done) return false;
        c->orientation = png_orientation(c);
        return true;
    }
    png_set_read_fn(c->png, c, png_on_read);
    /* Hostile chunk lengths must not turn into huge allocations: ancillary chunks are capped (an
     * XMP packet or Exif block is far smaller), and the chunks mmrt has no use for are skipped
     * unread (colour profiles, text, suggested palettes). */
    png_set_chunk_malloc_max(c->png, (png_alloc_size_t)8 << 20);
    png_set_chunk_cache_max(c->png, 1000);
    static const png_byte skipped[] = "iCCP\0sPLT\0zTXt\0tEXt\0hIST\0pCAL\0sCAL\0";
    png_set_keep_unknown_chunks(c->png, PNG_HANDLE_CHUNK_NEVER, skipped, 7);
    /* Pillow ignores CRC errors in ancillary chunks but not in critical ones; libpng's defaults
     * (error on critical, warn and discard ancillary) are the closest. */
    png_read_info(c->png, c->info);
    png_uint_32 w = png_get_image_width(c->png, c->info);
    png_uint_32 h = png_get_image_height(c->png, c->info);
    png_layout L;
    read_layout(c, &L);
    int ch = L.ct == PNG_COLOR_TYPE_GRAY_ALPHA || L.ct == PNG_COLOR_TYPE_RGB_ALPHA || L.has_trns ? 4 : 3;
    c->status = mmrt_image_alloc(&c->img, w, h, ch, c->max_pixels, c->name, c->err);
    if (c->status != MMRT_OK) return false;
    if (L.bd < 8) png_set_packing(c->png);
    int passes = png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);
    size_t rowbytes = png_get_rowbytes(c->png, c->info);
    size_t n_rows = passes > 1 ? h : 1;
    if (rowbytes == 0 || rowbytes > SIZE_MAX / n_rows ||
        !(c->raw = malloc(rowbytes * n_rows))) {
        c->status = mmrt_error_oom(c->err, rowbytes * n_rows, c->name);
        return false;
    }
    size_t out_row = (size_t)w * ch;
    if (passes > 1) {
        if (!(c->rows = malloc(sizeof *c->rows * h))) {
            c->status = mmrt_error_oom(c->err, sizeof *c->rows * h, c->name);
            return false;
        }
        for (size_t y = 0; y < h; y++) c->rows[y] = c->raw + y * rowbytes;
        png_read_image(c->png, c->rows);
        for (size_t y = 0; y < h; y++)
            convert_row(&L, c->rows[y], c->img.data + y * out_row, (int32_t)w, ch);
    } else {
        for (size_t y = 0; y < h; y++) {
            png_read_row(c->png, c->raw, NULL);
            convert_row(&L, c->raw, c->img.data + y * out_row, (int32_t)w, ch);
        }
    }
    /* Chunks after IDAT (an eXIf there counts for Pillow too) land in the same info struct. */
    c->pixels_done = true;
    png_read_end(c->png, c->info);
    c->orientation = png_orientation(c);
    return true;
}

mmrt_status mmrt_image_decode_png(const uint8_t *data, size_t n, const char *name,
                                  int64_t max_pixels, mmrt_image *out, int *orientation,
                                  mmrt_error *err) {
    png_ctx c = {.data = data, .n = n, .name = name, .max_pixels = max_pixels, .err = err};
    mmrt_status st = MMRT_OK;
    c.png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &c, png_on_error, png_on_warning, NULL, png_malloc_capped,
                                     png_free_capped);
    if (c.png) c.info = png_create_info_struct(c.png);
    if (!c.png || !c.info) {
        st = mmrt_error_oom(err, sizeof(png_struct *), name);
    } else if (!png_run(&c)) {
        st = c.status != MMRT_OK
                 ? c.status
                 : mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: invalid PNG: %s",
                                  name, c.msg);
    }
    png_destroy_read_struct(c.png ? &c.png : NULL, c.info ? &c.info : NULL, NULL);
    free(c.rows);
    free(c.raw);
    if (st != MMRT_OK) {
        mmrt_image_free(&c.img);
        return st;
    }
    *out = c.img;
    *orientation = c.orientation;
    return MMRT_OK;
}
