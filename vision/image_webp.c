/* WebP through libwebp, decoded as Pillow's WebPImagePlugin and its _webp module do:
 *   - only "RIFF....WEBP" files whose first chunk is VP8, VP8L or VP8X (Pillow's _accept);
 *   - the whole file goes through WebPAnimDecoder with default options, which render frame 1 on
 *     a canvas cleared to transparent black (not the ANIM background colour) with libwebp's
 *     default decoder settings: fancy upsampling, no dithering, straight (not premultiplied)
 *     RGBA. An animation gives its first frame, as Image.open does;
 *   - the mode is RGBA unless WebPGetFeatures succeeds and reports no alpha (then Pillow reads
 *     "RGBX" and the image is RGB). has_alpha is the VP8X ALPHA flag or an ALPH chunk, the
 *     alpha_is_used bit of a plain VP8L file, never for plain VP8. A file that declares alpha
 *     stays RGBA even when every pixel is opaque (libwebp's encoder leaves the alpha out of
 *     opaque pictures, so those come back RGB);
 *   - the orientation comes from the first EXIF chunk (the TIFF reader of exif.c), else the
 *     first "XMP " chunk (Image.getexif's XMP fallback).
 */
#include "vision/image_decode.h"

#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>

/* A RIFF size beyond the bytes given means the file was cut: said in messages, since libwebp's
 * demuxer and decoder only report failure. */
static const char *truncation_note(const uint8_t *data, size_t n) {
    uint32_t riff = (uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 |
                    (uint32_t)data[7] << 24;
    return (uint64_t)riff + 8 > n ? " (file is truncated)" : "";
}

/* EXIF first; XMP only when the EXIF block has no Orientation tag. */
static int webp_orientation(const WebPDemuxer *dmx) {
    WebPChunkIterator it;
    if (WebPDemuxGetChunk(dmx, "EXIF", 1, &it)) {
        bool found;
        int64_t o = mmrt_exif_orientation(it.chunk.bytes, it.chunk.size, &found);
        WebPDemuxReleaseChunkIterator(&it);
        if (found) return o >= 1 && o <= 8 ? (int)o : 1;
    }
    if (WebPDemuxGetChunk(dmx, "XMP ", 1, &it)) {
        int o = mmrt_xmp_orientation(it.chunk.bytes, it.chunk.size);
        WebPDemuxReleaseChunkIterator(&it);
        return o >= 1 && o <= 8 ? o : 1;
    }
    return 1;
}

mmrt_status mmrt_image_decode_webp(const uint8_t *data, size_t n, const char *name,
                                   int64_t max_pixels, mmrt_image *out, int *orientation,
                                   mmrt_error *err) {
    *out = (mmrt_image){0};
    if (n < 16 || (memcmp(data + 12, "VP8 ", 4) != 0 && memcmp(data + 12, "VP8L", 4) != 0 &&
                   memcmp(data + 12, "VP8X", 4) != 0))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: invalid WebP: no VP8, VP8L or VP8X chunk after the RIFF header",
                              name);
    /* The header's size is checked (and the output allocated) before the container is parsed,
     * so that a huge canvas is refused even when the rest of the file is broken; the demuxer's
     * canvas, which WebPAnimDecoderNew allocates twice over, has the last word. */
    WebPBitstreamFeatures f;
    bool have_features = WebPGetFeatures(data, n, &f) == VP8_STATUS_OK;
    int32_t channels = have_features && !f.has_alpha ? 3 : 4; /* Pillow: "RGBX" or "RGBA" */
    mmrt_image img = {0};
    if (have_features)
        MMRT_TRY(mmrt_image_alloc(&img, f.width, f.height, channels, max_pixels, name, err));
    WebPData wd = {.bytes = data, .size = n};
    WebPDemuxer *dmx = WebPDemux(&wd);
    if (!dmx) {
        mmrt_image_free(&img);
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: invalid WebP: bad RIFF container%s",
                              name, truncation_note(data, n));
    }
    uint32_t w = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_WIDTH);
    uint32_t h = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_HEIGHT);
    int o = webp_orientation(dmx);
    WebPDemuxDelete(dmx);
    if (!img.data || (uint32_t)img.width != w || (uint32_t)img.height != h) {
        mmrt_image_free(&img);
        MMRT_TRY(mmrt_image_alloc(&img, w, h, channels, max_pixels, name, err));
    }
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, NULL);
    uint8_t *canvas = NULL; /* (h, w, 4) RGBA, owned by dec */
    int timestamp;
    mmrt_status st = MMRT_OK;
    if (!dec) {
        st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: invalid WebP: cannot set up the decoder",
                            name);
    } else if (!WebPAnimDecoderGetNext(dec, &canvas, &timestamp)) {
        st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                            "%s: invalid WebP: cannot decode the image data%s", name,
                            truncation_note(data, n));
    } else if (channels == 3) {
        size_t n_px = (size_t)w * h;
        for (size_t i = 0; i < n_px; i++) memcpy(img.data + 3 * i, canvas + 4 * i, 3);
    } else {
        memcpy(img.data, canvas, (size_t)w * h * 4);
    }
    WebPAnimDecoderDelete(dec);
    if (st != MMRT_OK) {
        mmrt_image_free(&img);
        return st;
    }
    *out = img;
    *orientation = o;
    return MMRT_OK;
}
