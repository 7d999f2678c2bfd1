/* Op helpers for model code: one call per op, on any backend (core/backend.h). Shapes are in the
 * comments of mmrt_op_kind; dst may alias the first source for elementwise ops and ROPE. */
#ifndef MMRT_CORE_OPS_H
#define MMRT_CORE_OPS_H

#include "backend.h"

mmrt_status mmrt_get_rows(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *table,
                          const mmrt_tensor *ids, mmrt_error *err);
mmrt_status mmrt_matmul(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                        const mmrt_tensor *w, mmrt_error *err);
mmrt_status mmrt_rms_norm(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                          const mmrt_tensor *w, float eps, mmrt_error *err);
mmrt_status mmrt_rope(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                      const mmrt_tensor *pos, const mmrt_tensor *inv_freq, int n_rot,
                      float attn_factor, mmrt_error *err);
mmrt_status mmrt_softmax(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x, float scale,
                         mmrt_error *err);
mmrt_status mmrt_attention(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *q,
                           const mmrt_tensor *k, const mmrt_tensor *v, int64_t n_kv,
                           int64_t pos0, bool causal, float scale, mmrt_error *err);
/* Bidirectional attention over keys 0..n_kv-1 where key_mask (u8/i32, ≥ n_kv) is non-zero; a
 * query with every key masked gets the mean of v, as in transformers' SigLIP (MMRT_OP_ATTENTION). */
mmrt_status mmrt_attention_masked(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *q,
                                  const mmrt_tensor *k, const mmrt_tensor *v,
                                  const mmrt_tensor *key_mask, int64_t n_kv, float scale,
                                  mmrt_error *err);
mmrt_status mmrt_silu_mul(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a,
                          const mmrt_tensor *b, mmrt_error *err);
mmrt_status mmrt_add(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a,
                     const mmrt_tensor *b, mmrt_error *err);
mmrt_status mmrt_mul(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a,
                     const mmrt_tensor *b, mmrt_error *err);
mmrt_status mmrt_scale(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a, float s,
                       mmrt_error *err);
mmrt_status mmrt_layer_norm(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                            const mmrt_tensor *w, const mmrt_tensor *b, float eps,
                            mmrt_error *err);
mmrt_status mmrt_gelu(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a, mmrt_error *err);
mmrt_status mmrt_gelu_tanh(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a,
                           mmrt_error *err);
mmrt_status mmrt_add_bias(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                          const mmrt_tensor *b, mmrt_error *err);
mmrt_status mmrt_argmax(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x, mmrt_error *err);

#endif
