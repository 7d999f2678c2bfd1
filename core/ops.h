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
/* Attention with an additive score bias (torch SDPA's float attn_mask): bias (≥ n_kv, n, 1 or h)
 * f32, rows contiguous, score(h, t, j) = q·k · scale + bias[h or 0][t][j]; key_mask (NULL: none,
 * bidirectional only) and causal as above (MMRT_OP_ATTENTION). */
mmrt_status mmrt_attention_bias(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *q,
                                const mmrt_tensor *k, const mmrt_tensor *v,
                                const mmrt_tensor *key_mask, const mmrt_tensor *bias,
                                int64_t n_kv, int64_t pos0, bool causal, float scale,
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

/* Patch-embedding im2col (MMRT_OP_PATCHIFY): pixels (n_img, C, H, W) f32 — the 4-D tensor
 * ne = {W, H, C, n_img} — into dst (n_img · (H/p) · (W/p), C · p · p) f32, one row per p × p
 * patch in row-major patch order, columns in Conv2d weight order (c, ky, kx): multiplied by the
 * flattened conv weight (d, C·p·p)ᵀ it is the stride-p convolution, as vision/siglip.c computes
 * it on the host. p must divide H and W. */
mmrt_status mmrt_patchify(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *pixels,
                          int32_t patch, mmrt_error *err);
/* The Idefics3 connector's pixel shuffle (MMRT_OP_PIXEL_SHUFFLE): x (n_tiles, s², D) f32 — a
 * (n_tiles · s², D) vision output viewed with ne = {D, s², n_tiles} — into dst
 * (n_tiles · (s/r)², D · r²) f32: each r × r block of patches becomes one row, its patches
 * concatenated row-major (transformers Idefics3Connector.pixel_shuffle). r must divide s. */
mmrt_status mmrt_pixel_shuffle(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                               int32_t scale_factor, mmrt_error *err);
/* Media embeddings into the token stream (MMRT_OP_SCATTER_ROWS): dst (n, d) row idx[i] =
 * src (m, d) row i, in place; the other rows of dst are kept. idx (m) i32, distinct. An index
 * outside [0, n) is MMRT_ERR_INVALID_ARG naming it: at once on the CPU (dst untouched), at the
 * next synchronize() on a device (rows with valid indices written). */
mmrt_status mmrt_scatter_rows(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *src,
                              const mmrt_tensor *idx, mmrt_error *err);
/* Token sampling on the backend (MMRT_OP_SAMPLE). The caller validates the parameters (as
 * mmrt_sampler_init does: out-of-range values are asserted here, not reported) and checks the
 * logits are finite. dst (m) i32 = the token fusion/sampling.c's
 * sampler picks from each row of logits (m, V) f32 when its uniform draw is u (m) f32 in [0, 1):
 * temperature (≤ 0: greedy), then top_k (≤ 0: off), top_p (≥ 1: off), min_p (0: off), as
 * defined at MMRT_OP_SAMPLE. The repetition penalty is the caller's, applied to the logits
 * before. */
mmrt_status mmrt_sample(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *logits,
                        const mmrt_tensor *u, float temperature, int32_t top_k, float top_p,
                        float min_p, mmrt_error *err);

/* ---- the conformer's ops (Granite Speech) ------------------------------------------------- */

/* dst = a · sigmoid(a) (torch silu, MMRT_OP_SILU): a f32 of any shape up to 4-D, dst the same. */
mmrt_status mmrt_silu(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *a, mmrt_error *err);
/* torch nn.GLU over the last dim (MMRT_OP_GLU): dst (m, n) = x[:, :n] · sigmoid(x[:, n:]) for
 * x (m, 2n) f32. */
mmrt_status mmrt_glu(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x, mmrt_error *err);
/* Depthwise 1-D convolution along time (MMRT_OP_CONV1D_DW): x (T, C) f32, w (C, K)
 * f32/f16/bf16, b (C) f32/f16/bf16 or NULL, into dst (T + pad_left + pad_right − K + 1, C) f32:
 * dst[t, c] = b[c] + Σ_k w[c, k] · x[t + k − pad_left, c], rows of x outside [0, T) zero —
 * torch Conv1d(C, C, K, groups=C) over F.pad(x, (pad_left, pad_right)). */
mmrt_status mmrt_conv1d_dw(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *x,
                           const mmrt_tensor *w, const mmrt_tensor *b, int32_t pad_left,
                           int32_t pad_right, mmrt_error *err);
/* Shaw relative-position scores as an attention bias (MMRT_OP_REL_POS_BIAS): qe (n, h, R) f32
 * into dst (h, n, n_kv) f32, dst[hh, i, j] = scale · qe[i, hh, clamp(i − j, −max_dist, max_dist)
 * + offset]; requires max_dist ≥ 0, offset − max_dist ≥ 0 and offset + max_dist < R (asserted).
 * dst is mmrt_attention_bias's bias with one row block per head. */
mmrt_status mmrt_rel_pos_bias(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *qe,
                              float scale, int32_t max_dist, int32_t offset, mmrt_error *err);
/* dst = src (f32) converted to dst's dtype (F32/BF16/F16, same shape, rows contiguous), rounded to
 * nearest even (MMRT_OP_CONVERT): f32 rows stored into a bf16 KV cache. */
mmrt_status mmrt_convert(mmrt_backend *be, mmrt_tensor *dst, const mmrt_tensor *src, mmrt_error *err);

#endif
