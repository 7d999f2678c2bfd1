/* The EXIF / XMP orientation, read the way Pillow's Image.getexif() reads it (PIL/Image.py
 * Exif.load and PIL/TiffImagePlugin.py ImageFileDirectory_v2.load), so that the rotation applied
 * is the one ImageOps.exif_transpose applies. Where Pillow raises (a block that is not TIFF), the
 * orientation counts as absent. BigTIFF headers are not read (absent).
 */
#include "vision/image_decode.h"

#include <math.h>
#include <string.h>

typedef struct tiff_reader {
    const uint8_t *p;
    size_t n;
    bool big_endian;
} tiff_reader;

static bool rd16(const tiff_reader *t, uint64_t off, uint32_t *v) {
    if (off > t->n || t->n - off < 2) return false;
    const uint8_t *b = t->p + off;
    *v = t->big_endian ? (uint32_t)b[0] << 8 | b[1] : (uint32_t)b[1] << 8 | b[0];
    return true;
}

static bool rd32(const tiff_reader *t, uint64_t off, uint32_t *v) {
    uint32_t a, b;
    if (!rd16(t, off, &a) || !rd16(t, off + 2, &b)) return false;
    *v = t->big_endian ? a << 16 | b : b << 16 | a;
    return true;
}

static bool rd64(const tiff_reader *t, uint64_t off, uint64_t *v) {
    uint32_t a, b;
    if (!rd32(t, off, &a) || !rd32(t, off + 4, &b)) return false;
    *v = t->big_endian ? (uint64_t)a << 32 | b : (uint64_t)b << 32 | a;
    return true;
}

/* The size of one value of each TIFF type Pillow can load; 0 for types it skips. */
static unsigned type_size(uint32_t typ) {
    switch (typ) {
    case 1: case 2: case 6: case 7: return 1; /* BYTE ASCII SBYTE UNDEFINED */
    case 3: case 8: return 2;                 /* SHORT SSHORT */
    case 4: case 9: case 11: case 13: return 4; /* LONG SLONG FLOAT IFD */
    case 5: case 10: case 12: case 16: case 17: case 18: return 8; /* RATIONAL ... LONG8 IFD8 */
    default: return 0;
    }
}

/* The first value of type typ at off as Pillow's loaders give it; false when Pillow's value is
 * not a number (bytes, strings) or not a whole number. */
static bool first_value(const tiff_reader *t, uint32_t typ, uint64_t off, int64_t *out) {
    uint32_t u, d;
    uint64_t q;
    switch (typ) {
    case 3: if (!rd16(t, off, &u)) return false; *out = u; return true;
    case 8: if (!rd16(t, off, &u)) return false; *out = (int16_t)u; return true;
    case 4: case 13: if (!rd32(t, off, &u)) return false; *out = u; return true;
    case 9: if (!rd32(t, off, &u)) return false; *out = (int32_t)u; return true;
    case 16: case 18: if (!rd64(t, off, &q)) return false; *out = (int64_t)q; return true;
    case 17: if (!rd64(t, off, &q)) return false; *out = (int64_t)q; return true;
    case 5: case 10: {
        if (!rd32(t, off, &u) || !rd32(t, off + 4, &d)) return false;
        int64_t num = typ == 5 ? (int64_t)u : (int64_t)(int32_t)u;
        int64_t den = typ == 5 ? (int64_t)d : (int64_t)(int32_t)d;
        if (den == 0 || num % den != 0) return false;
        *out = num / den;
        return true;
    }
    case 11: {
        if (!rd32(t, off, &u)) return false;
        float f;
        memcpy(&f, &u, sizeof f);
        if (!(f >= -1e9f && f <= 1e9f) || f != floorf(f)) return false;
        *out = (int64_t)f;
        return true;
    }
    case 12: {
        if (!rd64(t, off, &q)) return false;
        double f;
        memcpy(&f, &q, sizeof f);
        if (!(f >= -1e9 && f <= 1e9) || f != floor(f)) return false;
        *out = (int64_t)f;
        return true;
    }
    default: return false; /* bytes or text: never equal to an orientation */
    }
}

int64_t mmrt_exif_orientation(const uint8_t *exif, size_t n, bool *found) {
    *found = false;
    for (int i = 0; i < 2 && n >= 6 && memcmp(exif, "Exif\0\0", 6) == 0; i++) {
        exif += 6;
        n -= 6;
    }
    if (n < 8) return 0;
    tiff_reader t = {exif, n, false};
    if (memcmp(exif, "MM", 2) == 0) t.big_endian = true;
    else if (memcmp(exif, "II", 2) != 0) return 0;
    uint32_t ifd, count;
    if (exif[2] == 43) return 0; /* Pillow's BigTIFF test: the third byte only */
    rd32(&t, 4, &ifd);
    if (!rd16(&t, ifd, &count)) return 0;
    /* Pillow skips an out-of-line value once the out-of-line sizes so far pass the block size. */
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t e = (uint64_t)ifd + 2 + 12 * (uint64_t)i;
        uint32_t tag, typ, cnt;
        if (!rd16(&t, e, &tag) || !rd16(&t, e + 2, &typ) || !rd32(&t, e + 4, &cnt) ||
            e + 12 > n)
            return 0; /* truncated directory: the entries before the cut count */
        unsigned size1 = type_size(typ);
        if (size1 == 0) continue;
        uint64_t size = (uint64_t)cnt * size1, off = e + 8;
        if (size > 4) {
            uint32_t o;
            rd32(&t, e + 8, &o);
            total += size;
            if (total > n) continue;
            if (o > n || n - o < size) continue; /* short read: tag skipped */
            off = o;
        }
        if (size == 0) continue;
        if (tag != 0x0112) continue;
        /* First occurrence wins, whatever its type. */
        *found = true;
        int64_t v = 0;
        return first_value(&t, typ, off, &v) ? v : 0;
    }
    return 0;
}

int mmrt_xmp_orientation(const uint8_t *xmp, size_t n) {
    static const char key[] = "tiff:Orientation";
    const size_t k = sizeof key - 1;
    for (size_t i = 0; i + k + 2 <= n; i++) {
        if (memcmp(xmp + i, key, k) != 0) continue;
        const uint8_t *p = xmp + i + k;
        size_t left = n - i - k;
        if (p[0] == '=' && left >= 3 && p[1] == '"' && p[2] >= '0' && p[2] <= '9') return p[2] - '0';
        if (p[0] == '>' && p[1] >= '0' && p[1] <= '9') return p[1] - '0';
    }
    return -1;
}
