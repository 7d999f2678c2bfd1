/* JPEG through libjpeg-turbo with Pillow's decoder settings (JpegDecode.c leaves libjpeg's
 * defaults: ISLOW DCT, fancy upsampling, block smoothing), converted as Pillow's convert() does:
 *   1 component  -> gray, replicated to RGB
 *   3 components -> libjpeg's RGB output (YCbCr, or RGB when the Adobe/JFIF markers say so)
 *   4 components -> libjpeg's CMYK output (YCCK converted), inverted as Pillow's "CMYK;I" rawmode
 *                   always does ("assume adobe conventions"), then Pillow's cmyk2rgb
 * A file that ends before the pixels are complete is an error (Pillow: "image file is truncated");
 * libjpeg's corrupt-data warnings are ignored, as Pillow ignores them. The EXIF orientation comes
 * from the APP1 "Exif" segments (concatenated, as Pillow does) or else the last XMP segment.
 *
 * libjpeg reports errors through error_exit, which longjmps back into jpeg_run(); its only state
 * is the jpeg_ctx passed by pointer, and the caller frees what the context holds on both paths.
 */
#include "vision/image_decode.h"

#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */

#include <jpeglib.h>
#include <stdlib.h>
#include <string.h>

typedef struct jpeg_ctx {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr; /* must stay the struct libjpeg sees */
    struct jpeg_source_mgr src;
    jmp_buf jb;
    bool created;
    const uint8_t *data;
    size_t n;
    const char *name;
    int64_t max_pixels;
    mmrt_error *err;
    mmrt_status status; /* set when a failure is ours (guard, OOM), not libjpeg's */
    char msg[JMSG_LENGTH_MAX];
    uint8_t *row;  /* one decoded scanline */
    uint8_t *exif; /* concatenated Exif segments */
    size_t n_exif;
    mmrt_image img;
    int orientation;
} jpeg_ctx;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_ctx *c = (jpeg_ctx *)cinfo->client_data;
    (*cinfo->err->format_message)(cinfo, c->msg);
    longjmp(c->jb, 1);
}

static void jpeg_on_message(j_common_ptr cinfo) { (void)cinfo; }

static void src_init(j_decompress_ptr cinfo) { (void)cinfo; }
static void src_term(j_decompress_ptr cinfo) { (void)cinfo; }

/* All bytes are in the buffer from the start: asking for more means the file ended early. */
static boolean src_fill(j_decompress_ptr cinfo) {
    jpeg_ctx *c = (jpeg_ctx *)cinfo->client_data;
    snprintf(c->msg, sizeof c->msg, "file is truncated");
    longjmp(c->jb, 1);
}

static void src_skip(j_decompress_ptr cinfo, long k) {
    if (k <= 0) return;
    if ((size_t)k > cinfo->src->bytes_in_buffer) src_fill(cinfo);
    cinfo->src->next_input_byte += k;
    cinfo->src->bytes_in_buffer -= (size_t)k;
}

/* Pillow's cmyk2rgb (libImaging/Convert.c) on its inverted CMYK: nk = 255 - K,
 * out = clip(nk - nk * C / 255) with MULDIV255's rounding. */
static inline uint8_t cmyk_channel(unsigned c_pil, unsigned nk) {
    unsigned t = c_pil * nk + 128;
    int v = (int)nk - (int)(((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void convert_row(const uint8_t *src, uint8_t *dst, int32_t w, int comps) {
    for (int32_t x = 0; x < w; x++, dst += 3) {
        if (comps == 1) {
            dst[0] = dst[1] = dst[2] = src[x];
        } else if (comps == 3) {
            memcpy(dst, src + 3 * (size_t)x, 3);
        } else {
            const uint8_t *p = src + 4 * (size_t)x; /* raw CMYK; Pillow's values are 255 - raw */
            unsigned nk = p[3];
            for (int k = 0; k < 3; k++) dst[k] = cmyk_channel(255u - p[k], nk);
        }
    }
}

static int jpeg_orientation(jpeg_ctx *c) {
    static const char xmp_id[] = "http://ns.adobe.com/xap/1.0/";
    const uint8_t *xmp = NULL;
    size_t n_xmp = 0, total = 0;
    for (jpeg_saved_marker_ptr m = c->cinfo.marker_list; m; m = m->next)
        if (m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) total += m->data_length;
    if (total) {
        c->exif = malloc(total);
        if (!c->exif) {
            c->status = mmrt_error_oom(c->err, total, c->name);
            return -1;
        }
    }
    for (jpeg_saved_marker_ptr m = c->cinfo.marker_list; m; m = m->next) {
        if (m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
            size_t skip = c->n_exif ? 6 : 0; /* later segments append without their prefix */
            memcpy(c->exif + c->n_exif, m->data + skip, m->data_length - skip);
            c->n_exif += m->data_length - skip;
        } else if (m->data_length >= sizeof xmp_id &&
                   memcmp(m->data, xmp_id, sizeof xmp_id) == 0) {
            xmp = m->data + sizeof xmp_id, n_xmp = m->data_length - sizeof xmp_id;
        }
    }
    if (c->n_exif) {
        bool found;
        int64_t o = mmrt_exif_orientation(c->exif, c->n_exif, &found);
        if (found) return o >= 1 && o <= 8 ? (int)o : 1;
    }
    int o = xmp ? mmrt_xmp_orientation(xmp, n_xmp) : -1;
    return o >= 1 && o <= 8 ? o : 1;
}

static bool jpeg_run(jpeg_ctx *c) {
    j_decompress_ptr ci = &c->cinfo;
    if (setjmp(c->jb)) return false;
    ci->err = jpeg_std_error(&c->jerr);
    c->jerr.error_exit = jpeg_on_error;
    c->jerr.output_message = jpeg_on_message;
    ci->client_data = c;   /* kept by jpeg_create_decompress */
    c->created = true;     /* jpeg_destroy is safe on a struct whose creation failed */
    jpeg_create_decompress(ci);
    c->src = (struct jpeg_source_mgr){.next_input_byte = c->data, .bytes_in_buffer = c->n,
                                      .init_source = src_init, .fill_input_buffer = src_fill,
                                      .skip_input_data = src_skip,
                                      .resync_to_restart = jpeg_resync_to_restart,
                                      .term_source = src_term};
    ci->src = &c->src;
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(ci, TRUE);
    int comps = ci->num_components;
    if (comps != 1 && comps != 3 && comps != 4) {
        c->status = mmrt_error_set(c->err, MMRT_ERR_UNSUPPORTED,
                                   "%s: JPEG with %d components is not supported", c->name, comps);
        return false;
    }
    c->status = mmrt_image_alloc(&c->img, ci->image_width, ci->image_height, 3, c->max_pixels,
                                 c->name, c->err);
    if (c->status != MMRT_OK) return false;
    if ((c->orientation = jpeg_orientation(c)) < 0) return false;
    ci->out_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    ci->dct_method = JDCT_ISLOW;
    ci->do_fancy_upsampling = TRUE;
    jpeg_start_decompress(ci);
    if (ci->output_width != ci->image_width || ci->output_height != ci->image_height ||
        ci->output_components != comps) {
        snprintf(c->msg, sizeof c->msg, "unexpected output geometry");
        return false;
    }
    if (!(c->row = malloc((size_t)ci->output_width * comps))) {
        c->status = mmrt_error_oom(c->err, (size_t)ci->output_width * comps, c->name);
        return false;
    }
    size_t out_row = (size_t)c->img.width * 3;
    while (ci->output_scanline < ci->output_height) {
        uint8_t *dst = c->img.data + ci->output_scanline * out_row;
        JSAMPROW rows[1] = {c->row};
        if (jpeg_read_scanlines(ci, rows, 1) != 1) {
            snprintf(c->msg, sizeof c->msg, "file is truncated");
            return false;
        }
        convert_row(c->row, dst, c->img.width, comps);
    }
    /* No jpeg_finish_decompress: what follows the last scanline (EOI, trailing data) does not
     * matter to Pillow either. */
    return true;
}

mmrt_status mmrt_image_decode_jpeg(const uint8_t *data, size_t n, const char *name,
                                   int64_t max_pixels, mmrt_image *out, int *orientation,
                                   mmrt_error *err) {
    jpeg_ctx *c = calloc(1, sizeof *c);
    if (!c) return mmrt_error_oom(err, sizeof *c, name);
    *c = (jpeg_ctx){.data = data, .n = n, .name = name, .max_pixels = max_pixels, .err = err};
    mmrt_status st = MMRT_OK;
    if (!jpeg_run(c)) {
        st = c->status != MMRT_OK
                 ? c->status
                 : mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: invalid JPEG: %s",
                                  name, c->msg);
    }
    if (c->created) jpeg_destroy_decompress(&c->cinfo);
    free(c->row);
    free(c->exif);
    if (st != MMRT_OK) {
        mmrt_image_free(&c->img);
    } else {
        *out = c->img;
        *orientation = c->orientation;
    }
    free(c);
    return st;
}
