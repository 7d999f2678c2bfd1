/* CONVERT: f32 rows stored as F32/BF16/F16 (a bf16 KV cache's rows), round to nearest even.
 *
 * Rows of up to 4-D tensors; each row's conversion is independent, so the fast version splits
 * rows over threads and the result is the same for any thread count (and equal to the _ref
 * version's bit for bit: rounding is exact arithmetic, not an approximation).
 */
#include "cpu.h"
#include "simd.h"

#include <string.h>

static int64_t n_rows(const mmrt_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

/* Row r of a tensor of up to 4 dims, rows taken in (i1, i2, i3) order. */
static void *row_at(const mmrt_tensor *t, int64_t r) {
    int64_t i1 = r % t->ne[1], i2 = (r / t->ne[1]) % t->ne[2], i3 = r / (t->ne[1] * t->ne[2]);
    return mmrt_tensor_row(t, i1, i2, i3);
}

mmrt_status mmrt_cpu_convert(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *src = op->src[0], *dst = op->dst;
    int64_t rows = n_rows(src), d = src->ne[0];
    mmrt_round_bf16_fn round = mmrt_simd_round_bf16();
    /* a decoded token's rows are a few hundred values: threads cost more than they save */
#pragma omp parallel for num_threads(ctx->n_threads) schedule(static) if (rows * d >= 65536)
    for (int64_t r = 0; r < rows; r++) {
        const float *s = row_at(src, r);
        void *o = row_at(dst, r);
        if (dst->type == MMRT_BF16) {
            round(s, o, d);
        } else if (dst->type == MMRT_F16) {
            for (int64_t j = 0; j < d; j++) ((uint16_t *)o)[j] = mmrt_f32_to_f16(s[j]);
        } else if (o != s) {
            memmove(o, s, sizeof(float) * (size_t)d);
        }
    }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_convert_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *src = op->src[0], *dst = op->dst;
    for (int64_t r = 0; r < n_rows(src); r++) {
        const float *s = row_at(src, r);
        void *o = row_at(dst, r);
        for (int64_t j = 0; j < src->ne[0]; j++) {
            float v = s[j];
            if (dst->type == MMRT_BF16) ((uint16_t *)o)[j] = mmrt_f32_to_bf16(v);
            else if (dst->type == MMRT_F16) ((uint16_t *)o)[j] = mmrt_f32_to_f16(v);
            else ((float *)o)[j] = v;
        }
    }
    return MMRT_OK;
}
