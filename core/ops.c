#include "ops.h"

static mmrt_status run(mmrt_backend *be, mmrt_op op, mmrt_error *err) {
    return mmrt_backend_run(be, &op, err);
}

mmrt_status mmrt_get_rows(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *table,
                          const mmrt_tensor *ids, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_GET_ROWS, .dst = dst, .src = {table, ids}}, err);
}

mmrt_status mmrt_matmul(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                        const mmrt_tensor *w, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_MATMUL, .dst = dst, .src = {x, w}}, err);
}

mmrt_status mmrt_rms_norm(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                          const mmrt_tensor *w, float eps, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_RMS_NORM, .dst = dst, .src = {x, w}, .p.norm.eps = eps},
               err);
}

mmrt_status mmrt_rope(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                      const mmrt_tensor *pos, const mmrt_tensor *inv_freq, int n_rot,
                      float attn_factor, mmrt_error *err) {
    mmrt_op op = {.kind = MMRT_OP_ROPE, .dst = dst, .src = {x, pos, inv_freq}};
    op.p.rope.n_rot = n_rot;
    op.p.rope.attn_factor = attn_factor;
    return run(be, op, err);
}

mmrt_status mmrt_softmax(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x, float scale,
                         mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_SOFTMAX, .dst = dst, .src = {x}, .p.scale.s = scale},
               err);
}

mmrt_status mmrt_attention(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *q,
                           const mmrt_tensor *k, const mmrt_tensor *v, int64_t n_kv,
                           int64_t pos0, bool causal, float scale, mmrt_error *err) {
    mmrt_op op = {.kind = MMRT_OP_ATTENTION, .dst = dst, .src = {q, k, v}};
    op.p.attn.scale = scale;
    op.p.attn.n_kv = n_kv;
    op.p.attn.pos0 = pos0;
    op.p.attn.causal = causal;
    return run(be, op, err);
}

mmrt_status mmrt_attention_masked(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *q,
                                  const mmrt_tensor *k, const mmrt_tensor *v,
                                  const mmrt_tensor *key_mask, int64_t n_kv, float scale,
                                  mmrt_error *err) {
    mmrt_op op = {.kind = MMRT_OP_ATTENTION, .dst = dst, .src = {q, k, v, key_mask}};
    op.p.attn.scale = scale;
    op.p.attn.n_kv = n_kv;
    return run(be, op, err);
}

mmrt_status mmrt_attention_bias(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *q,
                                const mmrt_tensor *k, const mmrt_tensor *v,
                                const mmrt_tensor *key_mask, const mmrt_tensor *bias,
                                int64_t n_kv, int64_t pos0, bool causal, float scale,
                                mmrt_error *err) {
    mmrt_op op = {.kind = MMRT_OP_ATTENTION, .dst = dst, .src = {q, k, v, key_mask, bias}};
    op.p.attn.scale = scale;
    op.p.attn.n_kv = n_kv;
    op.p.attn.pos0 = pos0;
    op.p.attn.causal = causal;
    return run(be, op, err);
}

mmrt_status mmrt_silu_mul(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a,
                          const mmrt_tensor *b, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_SILU_MUL, .dst = dst, .src = {a, b}}, err);
}

mmrt_status mmrt_add(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a,
                     const mmrt_tensor *b, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_ADD, .dst = dst, .src = {a, b}}, err);
}

mmrt_status mmrt_mul(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a,
                     const mmrt_tensor *b, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_MUL, .dst = dst, .src = {a, b}}, err);
}

mmrt_status mmrt_scale(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a, float s,
                       mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_SCALE, .dst = dst, .src = {a}, .p.scale.s = s}, err);
}

mmrt_status mmrt_layer_norm(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                            const mmrt_tensor *w, const mmrt_tensor *b, float eps,
                            mmrt_error *err) {
    mmrt_op op = {.kind = MMRT_OP_LAYER_NORM, .dst = dst, .src = {x, w, b}};
    op.p.norm.eps = eps;
    return run(be, op, err);
}

mmrt_status mmrt_gelu(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_GELU, .dst = dst, .src = {a}}, err);
}

mmrt_status mmrt_gelu_tanh(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a,
                           mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_GELU_TANH, .dst = dst, .src = {a}}, err);
}

mmrt_status mmrt_add_bias(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                          const mmrt_tensor *b, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_ADD_BIAS, .dst = dst, .src = {x, b}}, err);
}

mmrt_status mmrt_argmax(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_ARGMAX, .dst = dst, .src = {x}}, err);
}

mmrt_status mmrt_patchify(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *pixels,
                          int32_t patch, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_PATCHIFY, .dst = dst, .src = {pixels}, .p.patchify.patch = patch},
               err);
}

mmrt_status mmrt_pixel_shuffle(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                               int32_t scale_factor, mmrt_error *err) {
    return run(be,
               (mmrt_op){.kind = MMRT_OP_PIXEL_SHUFFLE, .dst = dst, .src = {x},
                         .p.shuffle.scale_factor = scale_factor},
               err);
}

mmrt_status mmrt_scatter_rows(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *src,
                              const mmrt_tensor *idx, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_SCATTER_ROWS, .dst = dst, .src = {src, idx}}, err);
}

mmrt_status mmrt_sample(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *logits,
                        const mmrt_tensor *u, float temperature, int32_t top_k, float top_p,
                        float min_p, mmrt_error *err) {
    mmrt_op op = {.kind = MMRT_OP_SAMPLE, .dst = dst, .src = {logits, u}};
    op.p.sample.temperature = temperature;
    op.p.sample.top_k = top_k;
    op.p.sample.top_p = top_p;
    op.p.sample.min_p = min_p;
    return run(be, op, err);
}

mmrt_status mmrt_silu(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_SILU, .dst = dst, .src = {a}}, err);
}

mmrt_status mmrt_glu(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_GLU, .dst = dst, .src = {x}}, err);
}

mmrt_status mmrt_conv1d_dw(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                           const mmrt_tensor *w, const mmrt_tensor *b, int32_t pad_left,
                           int32_t pad_right, mmrt_error *err) {
    mmrt_op op = {.kind = MMRT_OP_CONV1D_DW, .dst = dst, .src = {x, w, b}};
    op.p.conv1d.pad_left = pad_left;
    op.p.conv1d.pad_right = pad_right;
    return run(be, op, err);
}

mmrt_status mmrt_rel_pos_bias(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *qe,
                              float scale, int32_t max_dist, int32_t offset, mmrt_error *err) {
    mmrt_op op = {.kind = MMRT_OP_REL_POS_BIAS, .dst = dst, .src = {qe}};
    op.p.rel_pos.scale = scale;
    op.p.rel_pos.max_dist = max_dist;
    op.p.rel_pos.offset = offset;
    return run(be, op, err);
}

mmrt_status mmrt_convert(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *src, mmrt_error *err) {
    return run(be, (mmrt_op){.kind = MMRT_OP_CONVERT, .dst = dst, .src = {src}}, err);
}
