/* libFuzzer target: JPEG files through the project's loader (libjpeg-turbo, EXIF/XMP orientation,
 * CMYK, conversions) and the SmolVLM preprocessing; see fuzz_image.h. Inputs without the SOI
 * marker get it prepended. */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t magic[3] = {0xff, 0xd8, 0xff};
    return fuzz_image_with_magic(data, size, magic, sizeof magic);
}
