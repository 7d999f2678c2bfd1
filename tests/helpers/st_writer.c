#include "st_writer.h"

#include "tmpdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *st_write(const char *dir, const char *name, const st_item *items, size_t n) {
    char header[8192];
    size_t len = 0, offset = 0;
    len += (size_t)snprintf(header + len, sizeof header - len, "{");
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(header + len, sizeof header - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                                i ? "," : "", items[i].name, items[i].dtype);
        for (int d = 0; d < items[i].n_dims; d++)
            len += (size_t)snprintf(header + len, sizeof header - len, "%s%lld", d ? "," : "",
                                    (long long)items[i].shape[d]);
        len += (size_t)snprintf(header + len, sizeof header - len, "],\"data_offsets\":[%zu,%zu]}", offset,
                                offset + items[i].n_bytes);
        offset += items[i].n_bytes;
    }
    len += (size_t)snprintf(header + len, sizeof header - len, "}");
    cr_assert(len < sizeof header, "st_write: header too long");
    while ((8 + len) % 8) header[len++] = ' '; /* the data section starts 8-byte aligned */
    unsigned char *buf = malloc(8 + len + offset);
    cr_assert_not_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)len >> (8 * i));
    memcpy(buf + 8, header, len);
    size_t at = 8 + len;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + at, items[i].data, items[i].n_bytes);
        at += items[i].n_bytes;
    }
    char *path = tmpdir_write(dir, name, buf, at);
    free(buf);
    return path;
}
