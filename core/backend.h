/* Backends: where tensors live and ops run.
 *
 * A backend is a table of function pointers over an opaque context. Ops are described by an
 * mmrt_op (kind + destination + sources + parameters) and run eagerly, in order, on the backend's
 * stream: compute() may return before the result is ready on an asynchronous device, and
 * synchronize() waits. Host code only reads results after download() + synchronize().
 *
 * Model code never branches on the backend: it calls the op helpers in core/ops.h, which ask
 * supports_op() and fall back to the CPU backend (counting the fallback) when the answer is no.
 * Tests assert the fallback count, so a fallback never passes for coverage.
 */
#ifndef MMRT_CORE_BACKEND_H
#define MMRT_CORE_BACKEND_H

#include "error.h"
#include "tensor.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum mmrt_op_kind {
    MMRT_OP_GET_ROWS,  /* dst(n, d) f32 = table(V, d)[ids(n) i32]          table f32/f16/bf16 */
    MMRT_OP_MATMUL,    /* dst(m, n) f32 = x(m, k) f32 · w(n, k)ᵀ           w f32/f16/bf16     */
    MMRT_OP_RMS_NORM,  /* dst(m, d) = x / sqrt(mean(x²) + eps) · w(d)      w f32/f16/bf16     */
    MMRT_OP_ROPE,      /* in place on x(n, h, hd): rotate-half over the first n_rot dims,
                          angle = pos(n) i32 · inv_freq(n_rot/2) f32, cos/sin · attn_factor   */
    MMRT_OP_SOFTMAX,   /* dst(m, d) = softmax(x · scale) per row                               */
    MMRT_OP_ATTENTION, /* dst(n, h, hd) = softmax(q kᵀ · scale + mask) v over a KV cache:
                          q(n, h, hd), k/v(n_kv_max, h_kv, hd) both f32 or both bf16 (a bf16
                          KV cache: mmrt_backend_kv_dtype); GQA when h_kv < h;
                          optional key_mask(≥ n_kv) u8/i32, bidirectional only: key j takes
                          part when key_mask[j] != 0. As transformers (SigLIP, Idefics3), which
                          adds finfo.min to masked scores: a query whose keys are all masked
                          attends uniformly to all n_kv keys (mean of v), not to none;
                          optional bias(≥ n_kv, n, n_bh) f32, n_bh 1 (shared by all heads) or
                          h, rows contiguous: score(h, t, j) = q·k · scale + bias[h or 0][t][j]
                          (torch SDPA's float attn_mask), with causal and GQA as well. Keys the
                          causal limit or key_mask remove score −inf / −FLT_MAX whatever their
                          bias; a bias of −inf removes a key too, and a query left with no key
                          gets zeros (as with n_kv = 0)                                        */
    MMRT_OP_SILU_MUL,  /* dst = silu(a) · b (gated MLP)                                       */
    MMRT_OP_ADD,       /* dst = a + b                                                          */
    MMRT_OP_MUL,       /* dst = a · b                                                          */
    MMRT_OP_SCALE,     /* dst = a · s                                                          */
    MMRT_OP_ARGMAX,    /* dst(m) i32 = argmax over each row of x(m, d); first index on ties    */
    MMRT_OP_LAYER_NORM, /* dst(m, d) = (x − mean) / sqrt(var + eps) · w(d) + b(d), biased var
                          over each row (torch.nn.LayerNorm)          w, b f32/f16/bf16     */
    MMRT_OP_GELU,      /* dst = 0.5 · a · (1 + erf(a / √2))   (torch gelu, "gelu")             */
    MMRT_OP_GELU_TANH, /* dst = 0.5 · a · (1 + tanh(√(2/π) · (a + 0.044715 · a³)))
                          (torch gelu(approximate="tanh"), "gelu_pytorch_tanh")               */
    MMRT_OP_ADD_BIAS,  /* dst(m, n) = x(m, n) + b(n)  (linear layer bias)  b f32/f16/bf16     */
    MMRT_OP_PATCHIFY,  /* patch-embedding im2col, patch size p = p.patchify.patch:
                          dst(n_img·(H/p)·(W/p), C·p·p) f32 from pixels(n_img, C, H, W) f32,
                          dst[(i·(H/p) + py)·(W/p) + px, (c·p + ky)·p + kx] =
                              pixels[i, c, py·p + ky, px·p + kx]
                          (patches row-major, columns in Conv2d weight order (c, ky, kx))     */
    MMRT_OP_PIXEL_SHUFFLE, /* Idefics3 connector's pixel shuffle, r = p.shuffle.scale_factor:
                          x(n_tiles, s², D) f32 with s a multiple of r, w = s / r →
                          dst(n_tiles·w², D·r²) f32,
                          dst[t·w² + I·w + J, (a·r + b)·D + d] = x[t, (I·r + a)·s + J·r + b, d]
                          (transformers Idefics3Connector.pixel_shuffle)                      */
    MMRT_OP_SCATTER_ROWS, /* in place on dst(n, d) f32: dst[idx[i]] = src[i] for src(m, d) f32,
                          idx(m) i32 distinct (with repeats the row's contents are unspecified);
                          rows not named by idx are left as they are. An index outside
                          [0, n) is bad input: MMRT_ERR_INVALID_ARG naming it (the CPU writes
                          nothing; a device reports it at synchronize(), other rows written)  */
    MMRT_OP_SAMPLE,    /* dst(m) i32 = one token per row of finite logits(m, V) f32 (the caller
                          checks; a NaN gives an unspecified token) drawn with
                          u(m) f32 in [0, 1), params p.sample (fusion/sampling.c's sampler
                          for the same u; repetition penalty stays on the host):
                          T ≤ 0: argmax, first index on ties (u unused). Otherwise:
                          1. candidates ordered by logit descending, ties: lower index first;
                          2. keep the first k = min(top_k, V) (all when top_k ≤ 0);
                          3. e_i = (float)exp(((double)l_i − l_0) · (1 / (double)T)),
                             Z = Σ e_i (double),
                             p_i = (float)(e_i / Z) over the kept, in that order;
                          4. top_p < 1: keep the shortest prefix whose cumulative Σ p_i
                             (double) is ≥ top_p (all k if none is);
                          5. min_p > 0: keep further only p_i ≥ min_p · p_0 (f32 product);
                          6. r = u · Σ kept p_i (double): the first kept i whose cumulative
                             Σ p_i exceeds r, else the last kept.
                          Devices may sum in another order: they may choose differently only
                          when r or top_p is within rounding (~1e-15) of a cumulative sum   */
    MMRT_OP_SILU,      /* dst = a · sigmoid(a)  (torch silu), a f32 of any shape (up to 4-D),
                          rows contiguous                                                      */
    MMRT_OP_GLU,       /* dst(m, n) = x[:, :n] · sigmoid(x[:, n:]) for x(m, 2n) f32
                          (torch nn.GLU over the last dim)                                     */
    MMRT_OP_CONV1D_DW, /* depthwise 1-D convolution along rows (time), K = w's row length:
                          x(T, C) f32, w(C, K) f32/f16/bf16, optional b(C) f32/f16/bf16
                          (src[2], NULL: none), pads p.conv1d.pad_left, pad_right ≥ 0;
                          dst(T + pad_left + pad_right − K + 1, C) f32,
                          dst[t, c] = b[c] + Σ_k w[c, k] · x[t + k − pad_left, c], x outside
                          [0, T) taken as 0 (torch Conv1d(C, C, K, groups=C) on the zero-padded
                          input: a cross-correlation)                                          */
    MMRT_OP_REL_POS_BIAS, /* Shaw relative-position scores gathered into an attention bias:
                          qe(n, h, R) f32 (each query row · the R relative-distance embedding
                          rows, per head) → dst(h, n, n_kv) f32,
                          dst[hh, i, j] = s · qe[i, hh, clamp(i − j, −c, c) + o] with
                          s = p.rel_pos.scale, c = p.rel_pos.max_dist ≥ 0, o = p.rel_pos.offset,
                          o − c ≥ 0 and o + c < R. dst is MMRT_OP_ATTENTION's bias with n_bh = h */
    MMRT_OP_CONVERT,   /* dst = src converted to dst's dtype: src f32 → dst F32/BF16/F16 of the same
                          shape (up to 4-D), rows contiguous, each value rounded to nearest even
                          (mmrt_f32_to_bf16 / mmrt_f32_to_f16; a NaN stays NaN, its payload
                          the device's own): a KV cache row's store                           */
    MMRT_OP_COUNT
} mmrt_op_kind;

const char *mmrt_op_name(mmrt_op_kind kind);

#define MMRT_OP_MAX_SRC 5

typedef struct mmrt_op {
    mmrt_op_kind kind;
    mmrt_tensor *dst;
    const mmrt_tensor *src[MMRT_OP_MAX_SRC];
    union {
        struct {
            float eps;
        } norm;            /* src: x, w (RMS_NORM); x, w, b (LAYER_NORM) */
        struct {
            int n_rot;         /* leading dims rotated per head (partial RoPE when < hd) */
            float attn_factor; /* multiplies cos and sin (1 for plain RoPE) */
        } rope;                /* src: x, pos, inv_freq */
        struct {
            float scale;
            int64_t n_kv;  /* keys 0..n_kv-1 of the cache are valid */
            int64_t pos0;  /* absolute position of the first query (causal mask) */
            bool causal;
        } attn;            /* src: q, k cache, v cache, key_mask, bias (NULL: none) */
        struct {
            float s;
        } scale;
        struct {
            int32_t patch;        /* p ≥ 1, divides H and W */
        } patchify;               /* src: pixels */
        struct {
            int32_t scale_factor; /* r ≥ 1, divides s */
        } shuffle;                /* src: x */
        struct {
            float temperature;    /* ≤ 0: greedy */
            int32_t top_k;        /* ≤ 0: off */
            float top_p;          /* ≥ 1: off; ≥ 0 */
            float min_p;          /* 0: off; in [0, 1] */
        } sample;                 /* src: logits, u */
        struct {
            int32_t pad_left, pad_right; /* zero rows before and after x, ≥ 0 */
        } conv1d;                        /* src: x, w, b (NULL: none) */
        struct {
            float scale;      /* s */
            int32_t max_dist; /* c ≥ 0: distances beyond ±c read the row of ±c */
            int32_t offset;   /* o: qe's column of distance 0 */
        } rel_pos;            /* src: qe */
    } p;
} mmrt_op;

typedef struct mmrt_backend mmrt_backend;

typedef struct mmrt_backend_i {
    const char *name;
    /* Device memory. ptr is in the backend's address space. */
    mmrt_status (*buffer_alloc)(mmrt_backend *be, size_t n_bytes, void **ptr, mmrt_error *err);
    void (*buffer_free)(mmrt_backend *be, void *ptr);
    /* Copies queued on the backend's stream; the host side must stay valid until synchronize. */
    mmrt_status (*upload)(mmrt_backend *be, void *dst, const void *src, size_t n_bytes,
                          mmrt_error *err);
    mmrt_status (*download)(mmrt_backend *be, void *dst, const void *src, size_t n_bytes,
                            mmrt_error *err);
    mmrt_status (*synchronize)(mmrt_backend *be, mmrt_error *err);
    /* True when compute() implements this op for these dtypes and shapes. */
    bool (*supports_op)(mmrt_backend *be, const mmrt_op *op);
    mmrt_status (*compute)(mmrt_backend *be, const mmrt_op *op, mmrt_error *err);
    /* True when `data` pointers of this backend are host pointers (zero-copy weights). */
    bool host_memory;
    /* A new backend on the same device with its own stream and buffers that may also read the
     * buffers `be` handed out (a model's weights, uploaded once through `be`, read by each
     * session's backend). `be` must outlive it and must not allocate or free while it lives. */
    mmrt_status (*fork)(mmrt_backend *be, mmrt_backend **out, mmrt_error *err);
    void (*free)(mmrt_backend *be);
    /* Host threads its ops use (n > 0); NULL where the count means nothing (a GPU). */
    void (*set_threads)(mmrt_backend *be, int n);
    /* The dtype a decoder's KV cache on this backend holds (F32 or BF16): BF16 where its ATTENTION
     * would round k and v to bf16 anyway (the CPU's bf16/int8 modes), so the cache holds exactly
     * the values attention uses in half the bytes. NULL: F32. */
    mmrt_dtype (*kv_dtype)(mmrt_backend *be);
} mmrt_backend_i;

struct mmrt_backend {
    const mmrt_backend_i *iface;
    void *ctx;
    int64_t n_ops;       /* ops run on this backend */
    int64_t n_fallback;  /* ops this backend did not support that ran on the CPU instead */
    struct mmrt_backend *cpu; /* the CPU backend fallbacks run on (created on first use) */
    uint32_t fallback_warned; /* op kinds whose fallback was logged (one warning per kind) */
    mmrt_math math;           /* the arithmetic it was made for: its CPU fallbacks compute in it too */
};

/* ---- registry (core/backend_registry.c: the one file that knows which backends were built) - */

typedef enum mmrt_device_kind {
    MMRT_DEVICE_KIND_CPU = 0,
    MMRT_DEVICE_KIND_CUDA = 1,
    MMRT_DEVICE_KIND_AUTO = 2,
} mmrt_device_kind;

/* mmrt_math (include/mmrt.h): the arithmetic of a backend's GEMMs and attention, one meaning on
 * every backend (the CPU runs F32, BF16 and INT8; TF32 and F16 compute as F32 there). */

typedef struct mmrt_backend_params {
    mmrt_device_kind device;
    int n_threads;  /* CPU threads; <= 0 means all cores */
    bool use_ref;   /* CPU: run the naive _ref oracle ops (tests, debugging) */
    mmrt_math math; /* see mmrt_math (default exact f32; AUTO is resolved by the model, not here) */
} mmrt_backend_params;

mmrt_status mmrt_backend_init(const mmrt_backend_params *params, mmrt_backend **out,
                              mmrt_error *err);
void mmrt_backend_free(mmrt_backend *be);
/* be->iface->fork: a backend for one session over the weights a model uploaded through `be`. */
mmrt_status mmrt_backend_fork(mmrt_backend *be, mmrt_backend **out, mmrt_error *err);
/* be->iface->set_threads where the backend has it (the CPU's per-session thread count). */
void mmrt_backend_set_threads(mmrt_backend *be, int n);
/* be->iface->kv_dtype where the backend has it, else MMRT_F32. */
mmrt_dtype mmrt_backend_kv_dtype(mmrt_backend *be);

/* ---- planning (core/backend_plan.c) ------------------------------------------------------ */

/* A backend that runs nothing: ops are checked (mmrt_backend_run's shape assertions) and skipped,
 * copies do nothing, buffers are placeholder addresses never dereferenced. With a measuring arena
 * (core/arena.h) a pass sizes its own scratch by running itself once on it. It has no state but
 * its counters: make one per planning pass (on the stack); nothing to free. */
mmrt_backend mmrt_backend_plan(void);

/* ---- running ops ------------------------------------------------------------------------ */

/* Validates op shapes (MMRT_ASSERT: shapes are built by model code, not by users), then runs it
 * on `be`; an op a device backend does not support runs on the CPU instead — operands in the
 * device's memory are copied to the host and the result back (synchronously), n_fallback counts
 * it, and the first fallback of each op kind logs a warning naming it. */
mmrt_status mmrt_backend_run(mmrt_backend *be, const mmrt_op *op, mmrt_error *err);

#endif
