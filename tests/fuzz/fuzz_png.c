/* libFuzzer target: PNG files through the project's loader (libpng, EXIF, conversions) and the
 * SmolVLM preprocessing; see fuzz_image.h. Inputs without the PNG signature get it prepended. */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return fuzz_image_with_magic(data, size, magic, sizeof magic);
}
