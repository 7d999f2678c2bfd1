#include "image_part.h"

#include <stdio.h>

const char *mmrt_image_part_name(const mmrt_part *p, size_t i, char *buf, size_t size) {
    if (p->text) return p->text;
    snprintf(buf, size, "image part %zu", i);
    return buf;
}

mmrt_status mmrt_image_part_decode(const mmrt_part *p, size_t i, int64_t max_pixels, mmrt_image *out,
                                   mmrt_error *err) {
    mmrt_image_limits lim = mmrt_image_default_limits();
    if (max_pixels > 0) lim.max_pixels = max_pixels;
    char name[48];
    switch (p->type) {
    case MMRT_PART_IMAGE_FILE:
        if (!p->text) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "image part %zu: NULL path", i);
        return mmrt_image_load_file(p->text, &lim, out, err);
    case MMRT_PART_IMAGE_BYTES:
        if (!p->data) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "image part %zu: NULL bytes", i);
        return mmrt_image_load_memory(p->data, p->size, mmrt_image_part_name(p, i, name, sizeof name), &lim, out,
                                      err);
    case MMRT_PART_IMAGE_PIXELS: {
        const char *nm = mmrt_image_part_name(p, i, name, sizeof name);
        if (p->width > 0 && p->height > 0 && (int64_t)p->width * p->height > lim.max_pixels)
            return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: %d x %d pixels is over the limit of %lld",
                                  nm, p->width, p->height, (long long)lim.max_pixels);
        size_t stride = p->size ? p->size : (size_t)(p->width > 0 ? p->width : 0) * (size_t)(p->channels > 0 ? p->channels : 0);
        mmrt_image px = {0};
        mmrt_status st = mmrt_image_from_pixels(p->data, p->width, p->height, p->channels, stride, &px, err);
        if (st != MMRT_OK) return mmrt_error_wrap(err, "%s", nm);
        if (px.channels == 3) {
            *out = px;
            return MMRT_OK;
        }
        /* a pixel array: composited as transformers' convert_to_rgb does for numpy input */
        st = mmrt_image_to_rgb_on_white(&px, MMRT_COMPOSITE_NUMPY, out, err);
        mmrt_image_free(&px);
        return st;
    }
    case MMRT_PART_TEXT:
    case MMRT_PART_AUDIO_FILE:
    case MMRT_PART_AUDIO_BYTES:
    case MMRT_PART_AUDIO_SAMPLES: break;
    }
    return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "part %zu: not an image part (type %d)", i, (int)p->type);
}
