#include "image_compare.h"

#include <stdio.h>

bool mmrt_test_same_image(const char *what, const mmrt_image *got, const mmrt_st_tensor *t) {
    if (t->dtype != MMRT_U8 || t->n_dims != 3 || t->shape[0] != got->height ||
        t->shape[1] != got->width || t->shape[2] != got->channels) {
        fprintf(stderr, "%s: shape (%d, %d, %d), reference (%lld, %lld, %lld)\n", what,
                got->height, got->width, got->channels, (long long)t->shape[0],
                (long long)t->shape[1], (long long)t->shape[2]);
        return false;
    }
    const uint8_t *r = t->data;
    size_t w = (size_t)got->width, c = (size_t)got->channels;
    int bad = 0;
    for (size_t i = 0; i < t->n_bytes; i++) {
        if (got->data[i] == r[i]) continue;
        if (bad < 5)
            fprintf(stderr, "%s: pixel (y %zu, x %zu) channel %zu: expected %u, got %u\n", what,
                    i / c / w, i / c % w, i % c, r[i], got->data[i]);
        bad++;
    }
    if (bad) fprintf(stderr, "%s: %d of %zu bytes differ\n", what, bad, t->n_bytes);
    return bad == 0;
}
