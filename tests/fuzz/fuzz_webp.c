/* libFuzzer target: WebP files through the project's loader (libwebp's demuxer and animation
 * decoder, EXIF/XMP orientation, conversions) and the SmolVLM preprocessing; see fuzz_image.h.
 * An input that starts with "RIFF....WEBP" is taken as it is (its RIFF size too, so truncation
 * is reached); any other input is taken as the chunk list and gets a RIFF header whose size
 * matches it, so that every input reaches the WebP decoder. */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t hdr[12];
    if (size >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0) {
        memcpy(hdr, data, sizeof hdr);
    } else {
        uint32_t riff = size > UINT32_MAX - 4 ? UINT32_MAX : (uint32_t)(size + 4);
        memcpy(hdr, "RIFF", 4);
        for (int k = 0; k < 4; k++) hdr[4 + k] = (uint8_t)(riff >> (8 * k));
        memcpy(hdr + 8, "WEBP", 4);
    }
    return fuzz_image_with_magic(data, size, hdr, sizeof hdr);
}
