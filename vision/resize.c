/* Pillow-exact resampling of 8-bit images (see resize.h for the contract).
 *
 * Numerics, in the order they happen (every step matters for bit-exactness):
 *
 *  1. Geometry, per axis, in double. Pillow passes the source box as C floats, so the source
 *     extent is (double)(float)n_in. scale = n_in / n_out; when shrinking the filter is stretched
 *     by filterscale = max(scale, 1) so that it also low-passes; its support is
 *     filter_support * filterscale and each output sample i is centred at (i + 0.5) * scale in
 *     source coordinates (pixel centres are at j + 0.5).
 *  2. Taps: the first tap is trunc(center - support + 0.5) clamped to 0, the end is
 *     trunc(center + support + 0.5) clamped to n_in. Tap j gets the weight
 *     filter((j - center + 0.5) * (1 / filterscale)), computed with exactly that operation
 *     order; Lanczos calls the C library's sin(), as Pillow does (glibc's is correctly rounded
 *     in practice, so both agree).
 *  3. The weights are divided by their sum (skipped if it is 0), then rounded half away from zero
 *     to Q22 fixed point: 22 = 32 - 8 - 2 fractional bits, leaving 8 bits for the pixel value and
 *     2 for the overshoot of filters with negative lobes, in a 32-bit accumulator.
 *  4. Each output value is (2^21 + sum(pixel * weight)) >> 22 (2^21 makes the shift round to
 *     nearest), clamped to 0..255. The first pass stores this 8-bit result, and the second pass
 *     filters those rounded bytes: that intermediate rounding, and hence the pass order, is part
 *     of Pillow's output.
 *
 * Accumulation is done in int64: identical to Pillow's int32 whenever Pillow does not overflow
 * (its 2 spare bits guarantee it does not), and free of undefined behaviour when it would.
 * This file relies on strict IEEE double evaluation: the project builds as ISO C11, where GCC
 * does not contract a*b+c into FMA, and no -ffast-math.
 */
#include "vision/resize.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RESIZE_PRECISION_BITS (32 - 8 - 2)
#define RESIZE_PI 3.14159265358979323846

/* ---- filters (Pillow's kernels, support in source pixels at scale 1) ------------------------ */

typedef struct {
    double (*fn)(double x);
    double support;
    const char *name;
} resize_filter;

static double filter_bilinear(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Keys' cubic convolution with a = -0.5 (Catmull-Rom), written in Pillow's Horner order. */
static double filter_bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc(double x) {
    if (x == 0.0) return 1.0;
    x = x * RESIZE_PI;
    return sin(x) / x;
}

/* Lanczos-3: sinc windowed by a 3x wider sinc; the half-open interval is Pillow's. */
static double filter_lanczos(double x) {
    if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
    return 0.0;
}

static const resize_filter *filter_get(mmrt_resample f) {
    static const resize_filter bilinear = {filter_bilinear, 1.0, "bilinear"};
    static const resize_filter bicubic = {filter_bicubic, 2.0, "bicubic"};
    static const resize_filter lanczos = {filter_lanczos, 3.0, "lanczos"};
    switch (f) {
    case MMRT_RESAMPLE_BILINEAR: return &bilinear;
    case MMRT_RESAMPLE_BICUBIC: return &bicubic;
    case MMRT_RESAMPLE_LANCZOS: return &lanczos;
    }
    return NULL;
}

const char *mmrt_resample_name(mmrt_resample filter) {
    const resize_filter *f = filter_get(filter);
    return f ? f->name : "unknown";
}

/* ---- per-axis tap tables --------------------------------------------------------------------- */

/* For each output sample i of one axis: taps first[i] .. first[i] + count[i] - 1 of the source
 * axis, with Q22 weights coef[i * ksize + t]. */
typedef struct {
    int32_t ksize;   /* room per output sample: 2 * ceil(support) + 1 */
    int32_t *first;  /* (n_out) */
    int32_t *count;  /* (n_out) */
    int32_t *coef;   /* (n_out, ksize) */
    double *weights; /* (ksize) scratch for one sample's double weights */
} resize_taps;

static void taps_free(resize_taps *t) {
    free(t->first);
    free(t->count);
    free(t->coef);
    free(t->weights);
    memset(t, 0, sizeof *t);
}

/* Rounds a normalised weight to Q22, half away from zero (the cast truncates toward zero). */
static int32_t weight_to_fixed(double k) {
    const double one = (double)(1 << RESIZE_PRECISION_BITS);
    return k < 0 ? (int32_t)(-0.5 + k * one) : (int32_t)(0.5 + k * one);
}

static mmrt_status taps_build(int32_t n_in, int32_t n_out, const resize_filter *f, const char *axis,
                              resize_taps *t, mmrt_error *err) {
    memset(t, 0, sizeof *t);
    /* Pillow's box edges are floats: (float)n_in - 0.0f, widened to double. */
    double scale = (double)(float)n_in / n_out;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = f->support * filterscale;
    double half = ceil(support);
    /* ksize bounds the taps per sample; a table of n_out rows of it must be addressable. */
    if (half > (double)(INT32_MAX / 2 - 1) ||
        (size_t)n_out > SIZE_MAX / sizeof(int32_t) / (size_t)(2 * (int32_t)half + 1))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "resize: %s filter table for %d -> %d samples (%s) is too large",
                              f->name, (int)n_in, (int)n_out, axis);
    t->ksize = 2 * (int32_t)half + 1;
    size_t n_coef = (size_t)n_out * (size_t)t->ksize;
    t->first = malloc((size_t)n_out * sizeof *t->first);
    t->count = malloc((size_t)n_out * sizeof *t->count);
    t->coef = calloc(n_coef, sizeof *t->coef);
    t->weights = malloc((size_t)t->ksize * sizeof *t->weights);
    if (!t->first || !t->count || !t->coef || !t->weights) {
        taps_free(t);
        return mmrt_error_oom(err, n_coef * sizeof(int32_t), "resize filter table");
    }
    double inv_filterscale = 1.0 / filterscale;
    for (int32_t i = 0; i < n_out; i++) {
        double center = (i + 0.5) * scale;
        /* Casts truncate; a negative start truncates toward 0 and is clamped to 0 anyway. */
        int32_t lo = (int32_t)(center - support + 0.5);
        if (lo < 0) lo = 0;
        int32_t hi = (int32_t)(center + support + 0.5);
        if (hi > n_in) hi = n_in;
        int32_t n = hi - lo;
        MMRT_ASSERT(n >= 0 && n <= t->ksize);
        double sum = 0.0;
        for (int32_t j = 0; j < n; j++) {
            /* (j + lo) is the source index; +0.5 moves to its pixel centre. Same order as
             * Pillow: integer index, minus center, plus 0.5, times 1/filterscale. */
            double wgt = f->fn(((double)(j + lo) - center + 0.5) * inv_filterscale);
            t->weights[j] = wgt;
            sum += wgt;
        }
        int32_t *c = t->coef + (size_t)i * (size_t)t->ksize;
        for (int32_t j = 0; j < n; j++) {
            double k = t->weights[j];
            if (sum != 0.0) k /= sum;
            c[j] = weight_to_fixed(k);
        }
        t->first[i] = lo;
        t->count[i] = n;
    }
    return MMRT_OK;
}

/* ---- the two passes -------------------------------------------------------------------------- */

/* Rounds a Q22 accumulator (which already holds the +2^21 rounding bias) to a byte. */
static inline uint8_t fixed_to_u8(int64_t acc) {
    if (acc < 0) return 0;
    int64_t v = acc >> RESIZE_PRECISION_BITS;
    return v > 255 ? 255 : (uint8_t)v;
}

/* Horizontal pass over rows [y0, y0 + n_rows) of src (w_in wide) into dst (taps' n_out wide,
 * n_rows high). Called with a literal ch so that the channel loop unrolls. */
static inline void pass_horizontal(const uint8_t *src, int32_t w_in, int32_t y0, int32_t n_rows,
                                   int32_t ch, const resize_taps *t, int32_t w_out, uint8_t *dst) {
    for (int32_t y = 0; y < n_rows; y++) {
        const uint8_t *row = src + ((size_t)(y0 + y) * (size_t)w_in) * (size_t)ch;
        uint8_t *out = dst + ((size_t)y * (size_t)w_out) * (size_t)ch;
        for (int32_t x = 0; x < w_out; x++) {
            const int32_t *k = t->coef + (size_t)x * (size_t)t->ksize;
            const uint8_t *p = row + (size_t)t->first[x] * (size_t)ch;
            int64_t acc[4];
            for (int32_t c = 0; c < ch; c++) acc[c] = 1 << (RESIZE_PRECISION_BITS - 1);
            for (int32_t j = 0; j < t->count[x]; j++)
                for (int32_t c = 0; c < ch; c++) acc[c] += (int64_t)p[(size_t)j * ch + c] * k[j];
            for (int32_t c = 0; c < ch; c++) out[(size_t)x * ch + c] = fixed_to_u8(acc[c]);
        }
    }
}

/* Vertical pass: src is w wide (any height the taps address), dst is (h_out, w). Each output row
 * is accumulated over its source rows in blocks that stay in L1, reading rows contiguously. */
static void pass_vertical(const uint8_t *src, int32_t w, int32_t ch, const resize_taps *t,
                          int32_t h_out, uint8_t *dst) {
    enum { BLOCK = 512 };
    size_t stride = (size_t)w * (size_t)ch;
    int64_t acc[BLOCK];
    for (int32_t y = 0; y < h_out; y++) {
        const int32_t *k = t->coef + (size_t)y * (size_t)t->ksize;
        const uint8_t *row0 = src + (size_t)t->first[y] * stride;
        uint8_t *out = dst + (size_t)y * stride;
        for (size_t i0 = 0; i0 < stride; i0 += BLOCK) {
            size_t n = stride - i0 < BLOCK ? stride - i0 : BLOCK;
            for (size_t i = 0; i < n; i++) acc[i] = 1 << (RESIZE_PRECISION_BITS - 1);
            for (int32_t j = 0; j < t->count[y]; j++) {
                const uint8_t *p = row0 + (size_t)j * stride + i0;
                for (size_t i = 0; i < n; i++) acc[i] += (int64_t)p[i] * k[j];
            }
            for (size_t i = 0; i < n; i++) out[i0 + i] = fixed_to_u8(acc[i]);
        }
    }
}

static void run_horizontal(const uint8_t *src, int32_t w_in, int32_t y0, int32_t n_rows,
                           int32_t ch, const resize_taps *t, int32_t w_out, uint8_t *dst) {
    switch (ch) {
    case 1: pass_horizontal(src, w_in, y0, n_rows, 1, t, w_out, dst); break;
    case 3: pass_horizontal(src, w_in, y0, n_rows, 3, t, w_out, dst); break;
    default: pass_horizontal(src, w_in, y0, n_rows, 4, t, w_out, dst); break;
    }
}

/* ---- RGBA <-> premultiplied (Pillow's RGBA -> RGBa -> RGBA conversions) --------------------- */

/* c * a / 255 rounded to nearest, in Pillow's exact integer form ((t >> 8) + t) >> 8 with
 * t = c * a + 128. */
static void premultiply(const uint8_t *src, size_t n_px, uint8_t *dst) {
    for (size_t i = 0; i < n_px; i++, src += 4, dst += 4) {
        uint32_t a = src[3];
        for (int c = 0; c < 3; c++) {
            uint32_t t = (uint32_t)src[c] * a + 128;
            dst[c] = (uint8_t)(((t >> 8) + t) >> 8);
        }
        dst[3] = (uint8_t)a;
    }
}

/* c = min(255, c' * 255 / a), truncating; a of 0 or 255 leaves the colour as it is (for a == 0 it
 * may be nonzero after resampling with negative lobes, and Pillow keeps it). */
static void unpremultiply(uint8_t *px, size_t n_px) {
    for (size_t i = 0; i < n_px; i++, px += 4) {
        uint32_t a = px[3];
        if (a == 0 || a == 255) continue;
        for (int c = 0; c < 3; c++) {
            uint32_t v = 255u * px[c] / a;
            px[c] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

/* ---- entry point ----------------------------------------------------------------------------- */

/* Pixels of a (w, h, ch) image as a byte count, or 0 when it cannot be addressed. */
static size_t image_bytes(int32_t w, int32_t h, int32_t ch) {
    size_t n = (size_t)w * (size_t)h; /* < 2^62: each factor < 2^31 */
    if (n > (size_t)PTRDIFF_MAX / (size_t)ch) return 0;
    return n * (size_t)ch;
}

mmrt_status mmrt_resize_u8(const uint8_t *src, int32_t w, int32_t h, int32_t channels, uint8_t *dst,
                           int32_t new_w, int32_t new_h, mmrt_resample filter, mmrt_error *err) {
    const resize_filter *f = filter_get(filter);
    if (!src || !dst)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "resize %dx%d -> %dx%d: %s is NULL",
                              (int)w, (int)h, (int)new_w, (int)new_h, !src ? "src" : "dst");
    if (w <= 0 || h <= 0 || new_w <= 0 || new_h <= 0)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "resize %dx%d -> %dx%d: sizes must be positive", (int)w, (int)h,
                              (int)new_w, (int)new_h);
    if (channels != 1 && channels != 3 && channels != 4)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "resize %dx%d -> %dx%d: %d channels (expected 1, 3 or 4)", (int)w,
                              (int)h, (int)new_w, (int)new_h, (int)channels);
    if (!f)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "resize %dx%d -> %dx%d: unknown filter %d",
                              (int)w, (int)h, (int)new_w, (int)new_h, (int)filter);
    size_t n_src = image_bytes(w, h, channels);
    size_t n_dst = image_bytes(new_w, new_h, channels);
    /* The intermediate image is at most (h, new_w) or (new_h, w). */
    if (!n_src || !n_dst || !image_bytes(new_w, h, channels) || !image_bytes(w, new_h, channels))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "resize %dx%d -> %dx%d with %d channels: image too large to address",
                              (int)w, (int)h, (int)new_w, (int)new_h, (int)channels);

    /* Pillow's Image.resize returns a copy for an unchanged size, before any mode conversion. */
    if (new_w == w && new_h == h) {
        memcpy(dst, src, n_src);
        return MMRT_OK;
    }

    mmrt_status st = MMRT_OK;
    uint8_t *premul = NULL, *tmp = NULL;
    resize_taps th = {0}, tv = {0};
    int32_t need_h = new_w != w, need_v = new_h != h;
    /* Pillow skips the pass of an unchanged dimension (its taps would be an identity anyway). Both
     * tables are built before any pixel is touched, so oversized requests fail early. */
    if (need_v) st = taps_build(h, new_h, f, "height", &tv, err);
    if (st == MMRT_OK && need_h) st = taps_build(w, new_w, f, "width", &th, err);
    if (st != MMRT_OK) goto done;
    if (channels == 4) {
        premul = malloc(n_src);
        if (!premul) {
            st = mmrt_error_oom(err, n_src, "premultiplied RGBA image for resize");
            goto done;
        }
        premultiply(src, n_src / 4, premul);
        src = premul;
    }
    if (need_h && need_v) {
        /* Pillow >= 13 runs the vertical pass first when the height shrinks, and by more than
         * twice as many pixels as the width does (less work for the second pass). The order
         * changes the result, because the intermediate image is rounded to bytes. */
        bool vertical_first = new_h < h && (int64_t)h - new_h > 2 * ((int64_t)w - new_w);
        size_t n_tmp;
        if (vertical_first) {
            n_tmp = image_bytes(w, new_h, channels);
        } else {
            /* Only source rows [y_first, y_end) are ever read by the vertical pass, so the
             * horizontal pass filters just those (as Pillow does; the values are the same). */
            n_tmp = image_bytes(new_w, tv.first[new_h - 1] + tv.count[new_h - 1] - tv.first[0],
                                channels);
        }
        tmp = malloc(n_tmp);
        if (!tmp) {
            st = mmrt_error_oom(err, n_tmp, "resize intermediate image");
            goto done;
        }
        if (vertical_first) {
            pass_vertical(src, w, channels, &tv, new_h, tmp);                 /* (new_h, w) */
            run_horizontal(tmp, w, 0, new_h, channels, &th, new_w, dst);      /* (new_h, new_w) */
        } else {
            int32_t y_first = tv.first[0];
            int32_t y_end = tv.first[new_h - 1] + tv.count[new_h - 1];
            run_horizontal(src, w, y_first, y_end - y_first, channels, &th, new_w, tmp);
            for (int32_t y = 0; y < new_h; y++) tv.first[y] -= y_first;
            pass_vertical(tmp, new_w, channels, &tv, new_h, dst);
        }
    } else if (need_h) {
        run_horizontal(src, w, 0, h, channels, &th, new_w, dst);
    } else {
        pass_vertical(src, w, channels, &tv, new_h, dst);
    }
    if (channels == 4) unpremultiply(dst, n_dst / 4);

done:
    taps_free(&th);
    taps_free(&tv);
    free(tmp);
    free(premul);
    return st;
}
