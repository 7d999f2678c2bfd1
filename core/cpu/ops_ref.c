/* The oracle: every op straight from its definition, fp64 accumulation, one thread, no SIMD.
 * Slow on purpose. Change these only when the definition changes. */
#include "cpu.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* Rows of a tensor of up to 4 dims as a flat list: row r = (i1, i2, i3). */
static void *row_ptr(const mmrt_tensor *t, int64_t r) {
    int64_t i1 = r % t->ne[1], i2 = (r / t->ne[1]) % t->ne[2], i3 = r / (t->ne[1] * t->ne[2]);
    return mmrt_tensor_row(t, i1, i2, i3);
}

static int64_t n_rows(const mmrt_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

/* A GEMM or attention input as the arithmetic mode sees it: rounded to bf16 in the bf16 mode. */
static double in(const mmrt_cpu_ctx *ctx, double v) {
    return ctx->bf16 ? (double)mmrt_bf16_to_f32(mmrt_f32_to_bf16((float)v)) : v;
}

mmrt_status mmrt_cpu_get_rows_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *table = op->src[0], *ids = op->src[1];
    int64_t d = table->ne[0];
    for (int64_t i = 0; i < ids->ne[0]; i++) {
        int32_t id = ((const int32_t *)ids->data)[i];
        if (id < 0 || id >= table->ne[1])
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "token id %d out of range [0, %lld)",
                                  id, (long long)table->ne[1]);
        const void *src = (const char *)table->data + (size_t)id * table->nb[1];
        float *dst = mmrt_cpu_row_f32(op->dst, i, 0);
        if (mmrt_dtype_is_quant(table->type))
            MMRT_TRY(mmrt_dequantize_row((mmrt_qtype)mmrt_dtype_qtype(table->type), src, dst, d, err));
        else
            for (int64_t j = 0; j < d; j++) dst[j] = mmrt_cpu_load(table->type, src, j);
    }
    return MMRT_OK;
}

/* The int8 mode's MATMUL with block-format weights: each x row quantized per block to the weights'
 * activation type, each output the reference dot kernel's (block integer products summed exactly,
 * scaled blocks added in order in f32). */
static mmrt_status matmul_int8_ref(const mmrt_op *op, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1];
    int64_t k = x->ne[0], m = x->ne[1], n = w->ne[1];
    mmrt_qtype wt = (mmrt_qtype)mmrt_dtype_qtype(w->type);
    int at = mmrt_quant_act_type(wt);
    mmrt_quant_dotn_fn dot = mmrt_quant_dotn_isa(wt, MMRT_QUANT_ISA_REF);
    if (at < 0 || !dot)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "matmul (int8 oracle): no integer dot for %s weights",
                              mmrt_dtype_name(w->type));
    size_t act_bytes = mmrt_qtype_row_bytes((mmrt_qtype)at, k);
    void *act = malloc(act_bytes ? act_bytes : 1);
    if (!act) return mmrt_error_oom(err, act_bytes, "matmul (int8 oracle) activations");
    for (int64_t i = 0; i < m; i++) {
        mmrt_status st = mmrt_quantize_row((mmrt_qtype)at, mmrt_cpu_row_f32(x, i, 0), act, k, err);
        if (st != MMRT_OK) {
            free(act);
            return st;
        }
        for (int64_t j = 0; j < n; j++) dot(mmrt_tensor_row(w, j, 0, 0), act, 0, 1, k, mmrt_cpu_row_f32(op->dst, i, 0) + j);
    }
    free(act);
    return MMRT_OK;
}

/* Each weight row widened (or dequantized) to f32 exactly, then the definition in fp64. */
mmrt_status mmrt_cpu_matmul_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1];
    int64_t k = x->ne[0], m = x->ne[1], n = w->ne[1];
    if (ctx->int8 && mmrt_dtype_is_quant(w->type)) return matmul_int8_ref(op, err);
    float *wr = malloc(sizeof(float) * (size_t)(k > 0 ? k : 1)); /* (k) weight row j */
    if (!wr) return mmrt_error_oom(err, sizeof(float) * (size_t)k, "matmul oracle row");
    for (int64_t j = 0; j < n; j++) {
        mmrt_cpu_widen_row(w->type, mmrt_tensor_row(w, j, 0, 0), wr, k);
        for (int64_t i = 0; i < m; i++) {
            const float *xr = mmrt_cpu_row_f32(x, i, 0);
            double acc = 0.0;
            for (int64_t l = 0; l < k; l++) acc += in(ctx, xr[l]) * in(ctx, wr[l]);
            mmrt_cpu_row_f32(op->dst, i, 0)[j] = (float)acc;
        }
    }
    free(wr);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_rms_norm_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1];
    int64_t d = x->ne[0];
    for (int64_t r = 0; r < n_rows(x); r++) {
        const float *xr = row_ptr(x, r);
        float *dr = row_ptr(op->dst, r);
        double ss = 0.0;
        for (int64_t j = 0; j < d; j++) ss += (double)xr[j] * xr[j];
        double inv = 1.0 / sqrt(ss / (double)d + op->p.norm.eps);
        for (int64_t j = 0; j < d; j++)
            dr[j] = (float)((double)xr[j] * inv * mmrt_cpu_load(w->type, w->data, j));
    }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_rope_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *pos = op->src[1], *inv_freq = op->src[2];
    int half = op->p.rope.n_rot / 2;
    for (int64_t t = 0; t < x->ne[2]; t++) {
        double p = ((const int32_t *)pos->data)[t];
        for (int64_t h = 0; h < x->ne[1]; h++) {
            const float *xr = mmrt_cpu_row_f32(x, h, t);
            float *dr = mmrt_cpu_row_f32(op->dst, h, t);
            for (int i = 0; i < half; i++) {
                double angle = p * ((const float *)inv_freq->data)[i];
                double c = cos(angle) * op->p.rope.attn_factor;
                double s = sin(angle) * op->p.rope.attn_factor;
                double x1 = xr[i], x2 = xr[i + half];
                dr[i] = (float)(x1 * c - x2 * s);
                dr[i + half] = (float)(x2 * c + x1 * s);
            }
            for (int64_t i = 2 * half; i < x->ne[0]; i++) dr[i] = xr[i];
        }
    }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_softmax_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0];
    int64_t d = x->ne[0];
    for (int64_t r = 0; r < n_rows(x); r++) {
        const float *xr = row_ptr(x, r);
        float *dr = row_ptr(op->dst, r);
        double mx = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < d; j++) mx = fmax(mx, (double)xr[j] * op->p.scale.s);
        for (int64_t j = 0; j < d; j++) sum += exp((double)xr[j] * op->p.scale.s - mx);
        for (int64_t j = 0; j < d; j++) dr[j] = (float)(exp((double)xr[j] * op->p.scale.s - mx) / sum);
    }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_layer_norm_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *w = op->src[1], *b = op->src[2];
    int64_t d = x->ne[0];
    for (int64_t r = 0; r < n_rows(x); r++) {
        const float *xr = row_ptr(x, r);
        float *dr = row_ptr(op->dst, r);
        double mean = 0.0, var = 0.0;
        for (int64_t j = 0; j < d; j++) mean += xr[j];
        mean /= (double)d;
        for (int64_t j = 0; j < d; j++) var += ((double)xr[j] - mean) * ((double)xr[j] - mean);
        double inv = 1.0 / sqrt(var / (double)d + op->p.norm.eps);
        for (int64_t j = 0; j < d; j++)
            dr[j] = (float)(((double)xr[j] - mean) * inv * mmrt_cpu_load(w->type, w->data, j) +
                            mmrt_cpu_load(b->type, b->data, j));
    }
    return MMRT_OK;
}

mmrt_status mmrt_cpu_add_bias_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0], *b = op->src[1];
    for (int64_t r = 0; r < n_rows(x); r++) {
        const float *xr = row_ptr(x, r);
        float *dr = row_ptr(op->dst, r);
        for (int64_t j = 0; j < x->ne[0]; j++)
            dr[j] = (float)((double)xr[j] + mmrt_cpu_load(b->type, b->data, j));
    }
    return MMRT_OK;
}

/* The key mask as transformers applies it: an additive bias of finfo(f32).min on masked scores.
 * A score plus -FLT_MAX is -FLT_MAX in fp64 too, so a query with every key masked ends up with
 * equal scores: uniform attention over all keys, as in transformers; a masked key's score is
 * -FLT_MAX whatever its bias. The additive bias (src[4]) applies to the other keys; a query whose
 * scores are all -inf (bias) gets zeros. */
mmrt_status mmrt_cpu_attention_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2], *key_mask = op->src[3];
    const mmrt_tensor *bias = op->src[4];
    int64_t hd = q->ne[0], n_head = q->ne[1], n_tok = q->ne[2], n_kv = op->p.attn.n_kv;
    int64_t group = n_head / k->ne[1];
    double *score = malloc(sizeof(double) * (size_t)(n_kv > 0 ? n_kv : 1));
    double *acc = malloc(sizeof(double) * (size_t)hd);
    if (!score || !acc) {
        free(score);
        free(acc);
        return mmrt_error_oom(err, sizeof(double) * (size_t)(n_kv + hd), "attention scores");
    }
    for (int64_t t = 0; t < n_tok; t++) {
        /* causal: query at absolute position pos0 + t sees keys 0 .. pos0 + t */
        int64_t n_vis = op->p.attn.causal ? op->p.attn.pos0 + t + 1 : n_kv;
        if (n_vis > n_kv) n_vis = n_kv;
        for (int64_t h = 0; h < n_head; h++) {
            const float *qr = mmrt_cpu_row_f32(q, h, t);
            /* (≥ n_kv) this query's bias row: head h, or the one row all heads share */
            const float *br = bias ? mmrt_cpu_row_f32(bias, t, bias->ne[2] == 1 ? 0 : h) : NULL;
            double mx = -INFINITY, sum = 0.0;
            for (int64_t j = 0; j < n_vis; j++) {
                const void *kr = mmrt_tensor_row(k, h / group, j, 0); /* f32, or a bf16 cache */
                double s = 0.0;
                for (int64_t i = 0; i < hd; i++) s += in(ctx, qr[i]) * in(ctx, mmrt_cpu_load(k->type, kr, i));
                score[j] = !mmrt_cpu_key_on(key_mask, j) ? -FLT_MAX
                                                         : s * op->p.attn.scale + (br ? br[j] : 0.0);
                mx = fmax(mx, score[j]);
            }
            for (int64_t i = 0; i < hd; i++) acc[i] = 0.0;
            for (int64_t j = 0; j < n_vis; j++) {
                double pj = exp(score[j] - mx), wj = in(ctx, pj); /* the sum of unrounded weights */
                sum += pj;
                const void *vr = mmrt_tensor_row(v, h / group, j, 0);
                for (int64_t i = 0; i < hd; i++) acc[i] += wj * in(ctx, mmrt_cpu_load(v->type, vr, i));
            }
            float *dr = mmrt_cpu_row_f32(op->dst, h, t);
            for (int64_t i = 0; i < hd; i++) dr[i] = mx > -INFINITY ? (float)(acc[i] / sum) : 0.0f;
        }
    }
    free(score);
    free(acc);
    return MMRT_OK;
}

/* Elementwise ops: same shape for every operand, rows contiguous. */
typedef double (*binary_fn)(double a, double b, double s);

static void elementwise_ref(const mmrt_op *op, binary_fn f) {
    const mmrt_tensor *a = op->src[0], *b = op->src[1];
    for (int64_t r = 0; r < n_rows(a); r++) {
        const float *ar = row_ptr(a, r), *br = b ? row_ptr(b, r) : NULL;
        float *dr = row_ptr(op->dst, r);
        for (int64_t j = 0; j < a->ne[0]; j++)
            dr[j] = (float)f(ar[j], br ? br[j] : 0.0, op->p.scale.s);
    }
}

static double f_silu_mul(double a, double b, double s) { return a / (1.0 + exp(-a)) * b; }
static double f_add(double a, double b, double s) { return a + b; }
static double f_mul(double a, double b, double s) { return a * b; }
static double f_scale(double a, double b, double s) { return a * s; }
static double f_gelu(double a, double b, double s) { return 0.5 * a * (1.0 + erf(a / sqrt(2.0))); }
static double f_gelu_tanh(double a, double b, double s) {
    const double pi = 3.14159265358979323846;
    return 0.5 * a * (1.0 + tanh(sqrt(2.0 / pi) * (a + 0.044715 * a * a * a)));
}

mmrt_status mmrt_cpu_silu_mul_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    elementwise_ref(op, f_silu_mul);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_add_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    elementwise_ref(op, f_add);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_mul_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    elementwise_ref(op, f_mul);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_scale_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    elementwise_ref(op, f_scale);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_gelu_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    elementwise_ref(op, f_gelu);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_gelu_tanh_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    elementwise_ref(op, f_gelu_tanh);
    return MMRT_OK;
}

mmrt_status mmrt_cpu_argmax_ref(const mmrt_op *op, const mmrt_cpu_ctx *ctx, mmrt_error *err) {
    const mmrt_tensor *x = op->src[0];
    for (int64_t r = 0; r < n_rows(x); r++) {
        const float *xr = row_ptr(x, r);
        int64_t best = 0;
        for (int64_t j = 1; j < x->ne[0]; j++)
            if (xr[j] > xr[best]) best = j;
        ((int32_t *)op->dst->data)[r] = (int32_t)best;
    }
    return MMRT_OK;
}
