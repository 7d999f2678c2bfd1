/* The oracle of SILU, GLU, CONV1D_DW and REL_POS_BIAS (see ops_ref.c): element by element from
 * the definitions in core/backend.h, fp64. Slow on purpose. */
#include "cpu.h"

#include <math.h>

static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

mmrt_status mmrt_cpu_silu_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *a = op->src[0];
    for (int64_t i3 = 0; i3 < a->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < a->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < a->ne[1]; i1++) {
                const float *ar = mmrt_tensor_row(a, i1, i2, i3);
                float *dr = mmrt_tensor_row(op->dst, i1, i2, i3);
                for (int64_t j = 0; j < a->ne[0]; j++) dr[j] = (float)(ar[j] * sigmoid(ar[j]));
            }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_glu_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0];
    int64_t n = op->dst->ne[0];
    for (int64_t r = 0; r < x->ne[1]; r++) {
        const float *xr = mmrt_cpu_row_f32(x, r, 0);
        float *dr = mmrt_cpu_row_f32(op->dst, r, 0);
        for (int64_t j = 0; j < n; j++) dr[j] = (float)(xr[j] * sigmoid(xr[n + j]));
    }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_conv1d_dw_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1], *b = op->src[2];
    int64_t n_in = x->ne[1], k_len = w->ne[0], pad_left = op->p.conv1d.pad_left;
    for (int64_t t = 0; t < op->dst->ne[1]; t++)
        for (int64_t c = 0; c < x->ne[0]; c++) {
            double acc = 0.0;
            for (int64_t k = 0; k < k_len; k++) {
                int64_t s = t + k - pad_left;
                double xv = s < 0 || s >= n_in ? 0.0 : mmrt_cpu_row_f32(x, s, 0)[c];
                acc += mmrt_cpu_load(w->type, mmrt_tensor_row(w, c, 0, 0), k) * xv;
            }
            if (b) acc += mmrt_cpu_load(b->type, b->data, c);
            mmrt_cpu_row_f32(op->dst, t, 0)[c] = (float)acc;
        }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_rel_pos_bias_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *qe = op->src[0];
    int64_t c = op->p.rel_pos.max_dist, o = op->p.rel_pos.offset;
    for (int64_t h = 0; h < qe->ne[1]; h++)
        for (int64_t i = 0; i < qe->ne[2]; i++)
            for (int64_t j = 0; j < op->dst->ne[0]; j++) {
                int64_t dist = i - j;
                if (dist < -c) dist = -c;
                if (dist > c) dist = c;
                mmrt_cpu_row_f32(op->dst, i, h)[j] =
                    (float)((double)op->p.rel_pos.scale * mmrt_cpu_row_f32(qe, h, i)[dist + o]);
            }
    return MMRT_OK;
}
