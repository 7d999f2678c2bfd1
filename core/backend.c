/* Backend-independent op checking and dispatch. */
#include "backend.h"

#include "core/log.h"

#include <stdlib.h>

_Static_assert(MMRT_OP_COUNT <= 32, "fallback_warned holds one bit per op kind");

const char *mmrt_op_name(mmrt_op_kind kind) {
    static const char *const names[MMRT_OP_COUNT] = {
        [MMRT_OP_GET_ROWS] = "get_rows", [MMRT_OP_MATMUL] = "matmul",
        [MMRT_OP_RMS_NORM] = "rms_norm", [MMRT_OP_ROPE] = "rope",
        [MMRT_OP_SOFTMAX] = "softmax",   [MMRT_OP_ATTENTION] = "attention",
        [MMRT_OP_SILU_MUL] = "silu_mul", [MMRT_OP_ADD] = "add",
        [MMRT_OP_MUL] = "mul",           [MMRT_OP_SCALE] = "scale",
        [MMRT_OP_ARGMAX] = "argmax",     [MMRT_OP_LAYER_NORM] = "layer_norm",
        [MMRT_OP_GELU] = "gelu",         [MMRT_OP_GELU_TANH] = "gelu_tanh",
        [MMRT_OP_ADD_BIAS] = "add_bias", [MMRT_OP_PATCHIFY] = "patchify",
        [MMRT_OP_PIXEL_SHUFFLE] = "pixel_shuffle", [MMRT_OP_SCATTER_ROWS] = "scatter_rows",
        [MMRT_OP_SAMPLE] = "sample",     [MMRT_OP_SILU] = "silu",
        [MMRT_OP_GLU] = "glu",           [MMRT_OP_CONV1D_DW] = "conv1d_dw",
        [MMRT_OP_REL_POS_BIAS] = "rel_pos_bias", [MMRT_OP_CONVERT] = "convert",
    };
    return (unsigned)kind < MMRT_OP_COUNT ? names[kind] : "?";
}

static bool is_2d(const mmrt_tensor *t) { return t->ne[2] == 1 && t->ne[3] == 1; }

/* A per-column vector (norm weight, bias) for rows of length d. */
static bool is_row_vector(const mmrt_tensor *t, int64_t d) {
    return t && t->ne[0] == d && t->ne[1] == 1 && is_2d(t) && mmrt_tensor_is_contiguous(t);
}

/* Shapes are built by model code from validated checkpoints, so a mismatch here is a bug in mmrt,
 * not bad input: assert. */
static void check_op(const mmrt_op *op) {
    const mmrt_tensor *d = op->dst, *a = op->src[0], *b = op->src[1], *c = op->src[2];
    const mmrt_tensor *e = op->src[3];
    MMRT_ASSERT(d && a);
    MMRT_ASSERT(mmrt_tensor_rows_contiguous(d) && mmrt_tensor_rows_contiguous(a));
    switch (op->kind) {
    case MMRT_OP_GET_ROWS:
        MMRT_ASSERT(b && b->type == MMRT_I32 && mmrt_tensor_is_contiguous(b));
        MMRT_ASSERT(d->type == MMRT_F32 && d->ne[0] == a->ne[0] && d->ne[1] == b->ne[0] && is_2d(d));
        break;
    case MMRT_OP_MATMUL:
        MMRT_ASSERT(b && a->type == MMRT_F32 && d->type == MMRT_F32 && is_2d(a) && is_2d(b) && is_2d(d));
        MMRT_ASSERT(a->ne[0] == b->ne[0] && d->ne[0] == b->ne[1] && d->ne[1] == a->ne[1]);
        MMRT_ASSERT(mmrt_tensor_rows_contiguous(b));
        break;
    case MMRT_OP_RMS_NORM:
        MMRT_ASSERT(b && b->ne[0] == a->ne[0] && mmrt_tensor_is_contiguous(b));
        MMRT_ASSERT(mmrt_tensor_same_shape(a, d) && is_2d(a));
        break;
    case MMRT_OP_ROPE:
        MMRT_ASSERT(b && c && b->type == MMRT_I32 && c->type == MMRT_F32);
        MMRT_ASSERT(mmrt_tensor_same_shape(a, d) && b->ne[0] == a->ne[2] && a->ne[3] == 1);
        MMRT_ASSERT(op->p.rope.n_rot % 2 == 0 && op->p.rope.n_rot <= a->ne[0]);
        MMRT_ASSERT(c->ne[0] == op->p.rope.n_rot / 2);
        break;
    case MMRT_OP_ATTENTION:
        MMRT_ASSERT(b && c && mmrt_tensor_same_shape(a, d) && mmrt_tensor_same_shape(b, c));
        MMRT_ASSERT(a->ne[0] == b->ne[0] && b->ne[1] > 0 && a->ne[1] % b->ne[1] == 0);
        MMRT_ASSERT(op->p.attn.n_kv >= 0 && op->p.attn.n_kv <= b->ne[2]);
        MMRT_ASSERT((b->type == MMRT_F32 || b->type == MMRT_BF16) && c->type == b->type &&
                    mmrt_tensor_rows_contiguous(b) && mmrt_tensor_rows_contiguous(c));
        MMRT_ASSERT(!e || ((e->type == MMRT_U8 || e->type == MMRT_I32) && !op->p.attn.causal &&
                           e->ne[0] >= op->p.attn.n_kv && mmrt_tensor_is_contiguous(e)));
        MMRT_ASSERT(!op->src[4] ||
                    (op->src[4]->type == MMRT_F32 && op->src[4]->ne[0] >= op->p.attn.n_kv &&
                     op->src[4]->ne[1] == a->ne[2] && op->src[4]->ne[3] == 1 &&
                     (op->src[4]->ne[2] == 1 || op->src[4]->ne[2] == a->ne[1]) &&
                     mmrt_tensor_rows_contiguous(op->src[4])));
        break;
    case MMRT_OP_LAYER_NORM:
        MMRT_ASSERT(is_row_vector(b, a->ne[0]) && is_row_vector(c, a->ne[0]));
        MMRT_ASSERT(mmrt_tensor_same_shape(a, d) && is_2d(a));
        break;
    case MMRT_OP_ADD_BIAS:
        MMRT_ASSERT(is_row_vector(b, a->ne[0]));
        MMRT_ASSERT(mmrt_tensor_same_shape(a, d) && is_2d(a));
        break;
    case MMRT_OP_SILU_MUL:
    case MMRT_OP_ADD:
    case MMRT_OP_MUL:
        MMRT_ASSERT(b && mmrt_tensor_same_shape(a, b) && mmrt_tensor_rows_contiguous(b));
        /* fall through */
    case MMRT_OP_SCALE:
    case MMRT_OP_SOFTMAX:
    case MMRT_OP_GELU:
    case MMRT_OP_GELU_TANH:
        MMRT_ASSERT(mmrt_tensor_same_shape(a, d) && is_2d(a));
        break;
    case MMRT_OP_ARGMAX:
        MMRT_ASSERT(is_2d(a) && d->type == MMRT_I32 && d->ne[0] == a->ne[1]);
        break;
    case MMRT_OP_PATCHIFY: {
        int64_t p = op->p.patchify.patch;
        MMRT_ASSERT(a->type == MMRT_F32 && d->type == MMRT_F32 && is_2d(d) && p >= 1);
        MMRT_ASSERT(a->ne[0] % p == 0 && a->ne[1] % p == 0 && d->ne[0] == a->ne[2] * p * p);
        MMRT_ASSERT(d->ne[1] == a->ne[3] * (a->ne[1] / p) * (a->ne[0] / p));
        break;
    }
    case MMRT_OP_PIXEL_SHUFFLE: {
        int64_t r = op->p.shuffle.scale_factor, s = 0;
        while (s * s < a->ne[1]) s++;
        MMRT_ASSERT(a->type == MMRT_F32 && d->type == MMRT_F32 && is_2d(d) && a->ne[3] == 1);
        MMRT_ASSERT(r >= 1 && s * s == a->ne[1] && s % r == 0);
        MMRT_ASSERT(d->ne[0] == a->ne[0] * r * r && d->ne[1] == a->ne[2] * (s / r) * (s / r));
        break;
    }
    case MMRT_OP_SCATTER_ROWS:
        MMRT_ASSERT(b && b->type == MMRT_I32 && mmrt_tensor_is_contiguous(b) && b->ne[0] == a->ne[1]);
        MMRT_ASSERT(a->type == MMRT_F32 && d->type == MMRT_F32 && is_2d(a) && is_2d(d));
        MMRT_ASSERT(d->ne[0] == a->ne[0]);
        break;
    case MMRT_OP_SAMPLE:
        MMRT_ASSERT(b && b->type == MMRT_F32 && mmrt_tensor_is_contiguous(b) && b->ne[0] == a->ne[1]);
        MMRT_ASSERT(a->type == MMRT_F32 && is_2d(a) && a->ne[0] >= 1 && a->ne[0] <= INT32_MAX);
        MMRT_ASSERT(d->type == MMRT_I32 && mmrt_tensor_is_contiguous(d) && d->ne[0] == a->ne[1]);
        MMRT_ASSERT(op->p.sample.temperature == op->p.sample.temperature && op->p.sample.top_p >= 0.0f &&
                    op->p.sample.min_p >= 0.0f && op->p.sample.min_p <= 1.0f);
        break;
    case MMRT_OP_SILU:
        MMRT_ASSERT(a->type == MMRT_F32 && d->type == MMRT_F32 && mmrt_tensor_same_shape(a, d));
        break;
    case MMRT_OP_GLU:
        MMRT_ASSERT(a->type == MMRT_F32 && d->type == MMRT_F32 && is_2d(a) && is_2d(d));
        MMRT_ASSERT(a->ne[0] == 2 * d->ne[0] && a->ne[1] == d->ne[1]);
        break;
    case MMRT_OP_CONV1D_DW: {
        int64_t pl = op->p.conv1d.pad_left, pr = op->p.conv1d.pad_right, k = b ? b->ne[0] : 0;
        MMRT_ASSERT(b && a->type == MMRT_F32 && d->type == MMRT_F32 && is_2d(a) && is_2d(b) && is_2d(d));
        MMRT_ASSERT(mmrt_tensor_rows_contiguous(b) && b->ne[1] == a->ne[0] && k >= 1);
        MMRT_ASSERT(!c || is_row_vector(c, a->ne[0]));
        MMRT_ASSERT(pl >= 0 && pr >= 0 && a->ne[1] + pl + pr >= k);
        MMRT_ASSERT(d->ne[0] == a->ne[0] && d->ne[1] == a->ne[1] + pl + pr - k + 1);
        break;
    }
    case MMRT_OP_REL_POS_BIAS: {
        int64_t cmax = op->p.rel_pos.max_dist, o = op->p.rel_pos.offset;
        MMRT_ASSERT(a->type == MMRT_F32 && d->type == MMRT_F32 && a->ne[3] == 1 && d->ne[3] == 1);
        MMRT_ASSERT(cmax >= 0 && o - cmax >= 0 && o + cmax < a->ne[0]);
        MMRT_ASSERT(d->ne[1] == a->ne[2] && d->ne[2] == a->ne[1]);
        break;
    }
    case MMRT_OP_CONVERT:
        MMRT_ASSERT(a->type == MMRT_F32 && mmrt_tensor_same_shape(a, d));
        MMRT_ASSERT(d->type == MMRT_F32 || d->type == MMRT_BF16 || d->type == MMRT_F16);
        break;
    case MMRT_OP_COUNT: MMRT_ASSERT(!"invalid op kind");
    }
}

/* ---- CPU fallback ---------------------------------------------------------------------------- */

#define FALLBACK_TENSORS (1 + MMRT_OP_MAX_SRC) /* dst and src[] */

/* Host copies of an op's device operands; operands sharing memory share a copy. */
typedef struct fallback_copies {
    const mmrt_tensor *dev[FALLBACK_TENSORS];
    void *host[FALLBACK_TENSORS];
    mmrt_tensor t[FALLBACK_TENSORS];
    int n;
} fallback_copies;

/* Device memory of be or of the backend be was forked from (weights), which be can read. */
static bool on_device(const mmrt_backend *be, const mmrt_tensor *t) {
    return t && t->backend && !t->backend->iface->host_memory && !be->iface->host_memory;
}

/* The host tensor standing for t: t itself when it is host memory, else a downloaded copy. */
static mmrt_status host_view(mmrt_backend *be, fallback_copies *c, const mmrt_tensor *t, mmrt_tensor *out,
                             mmrt_error *err) {
    if (!on_device(be, t)) {
        *out = *t;
        return MMRT_OK;
    }
    for (int i = 0; i < c->n; i++)
        if (c->dev[i]->data == t->data && mmrt_tensor_nbytes(c->dev[i]) == mmrt_tensor_nbytes(t)) {
            *out = *t;
            out->data = c->host[i];
            out->backend = be->cpu;
            return MMRT_OK;
        }
    size_t n = mmrt_tensor_nbytes(t);
    void *h = malloc(n ? n : 1);
    if (!h) return mmrt_error_oom(err, n, "CPU fallback copy");
    c->dev[c->n] = t;
    c->host[c->n++] = h;
    if (n) MMRT_TRY(be->iface->download(be, h, t->data, n, err));
    *out = *t;
    out->data = h;
    out->backend = be->cpu;
    return MMRT_OK;
}

static mmrt_status run_on_cpu(mmrt_backend *be, const mmrt_op *op, mmrt_error *err) {
    if (!be->cpu) {
        mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CPU, .math = be->math};
        MMRT_TRY(mmrt_backend_init(&p, &be->cpu, err));
    }
    if (!(be->fallback_warned & (1u << op->kind))) {
        be->fallback_warned |= 1u << op->kind;
        MMRT_LOG_W("backend %s does not support op %s with these shapes/dtypes: it runs on the CPU", be->iface->name,
                   mmrt_op_name(op->kind));
    }
    fallback_copies c = {0};
    mmrt_op h = *op;
    mmrt_tensor dst;
    mmrt_status st = host_view(be, &c, op->dst, &dst, err);
    h.dst = &dst;
    for (int i = 0; i < MMRT_OP_MAX_SRC && st == MMRT_OK; i++)
        if (op->src[i]) {
            st = host_view(be, &c, op->src[i], &c.t[i], err);
            h.src[i] = &c.t[i];
        }
    if (st == MMRT_OK) st = be->iface->synchronize(be, err); /* the downloads have landed */
    if (st == MMRT_OK) st = mmrt_backend_run(be->cpu, &h, err);
    if (st == MMRT_OK && on_device(be, op->dst))
        st = be->iface->upload(be, op->dst->data, dst.data, mmrt_tensor_nbytes(op->dst), err);
    if (st == MMRT_OK) st = be->iface->synchronize(be, err); /* before the host copies go */
    for (int i = 0; i < c.n; i++) free(c.host[i]);
    if (st == MMRT_OK) be->n_fallback++;
    return st;
}

mmrt_dtype mmrt_backend_kv_dtype(mmrt_backend *be) {
    return be->iface->kv_dtype ? be->iface->kv_dtype(be) : MMRT_F32;
}

mmrt_status mmrt_backend_run(mmrt_backend *be, const mmrt_op *op, mmrt_error *err) {
    check_op(op);
    if (be->iface->supports_op(be, op)) {
        be->n_ops++;
        return be->iface->compute(be, op, err);
    }
    if (be->iface->host_memory)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "backend %s does not support op %s on %s",
                              be->iface->name, mmrt_op_name(op->kind), mmrt_dtype_name(op->src[0]->type));
    return run_on_cpu(be, op, err);
}
