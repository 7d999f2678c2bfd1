/* An 8-bit image against its (h, w, channels) U8 reference tensor: shape and every byte. Prints the
 * shape, or the first mismatching pixels (y, x, channel, expected, got), before returning false. */
#ifndef MMRT_TESTS_IMAGE_COMPARE_H
#define MMRT_TESTS_IMAGE_COMPARE_H

#include "core/safetensors.h"
#include "vision/image.h"

#include <stdbool.h>

bool mmrt_test_same_image(const char *what, const mmrt_image *got, const mmrt_st_tensor *ref);

#endif
