#include "op_runs.h"

#include "core/ops.h"

#include <math.h>

mmrt_status run_matmul(mmrt_backend *be, void *args, float *out) {
    struct matmul_args *a = args;
    mmrt_tensor d = mmrt_tensor_2d(MMRT_F32, out, a->w.ne[1], a->x.ne[1]);
    return mmrt_matmul(be, &d, &a->x, &a->w, NULL);
}

mmrt_status run_attention(mmrt_backend *be, void *args, float *out) {
    struct attn_args *a = args;
    mmrt_tensor d = a->q;
    d.data = out;
    float scale = 1.0f / sqrtf((float)a->q.ne[0]);
    if (a->bias)
        return mmrt_attention_bias(be, &d, &a->q, &a->k, &a->v, a->key_mask, a->bias, a->n_kv,
                                   a->pos0, a->causal, scale, NULL);
    if (a->key_mask)
        return mmrt_attention_masked(be, &d, &a->q, &a->k, &a->v, a->key_mask, a->n_kv, scale,
                                     NULL);
    return mmrt_attention(be, &d, &a->q, &a->k, &a->v, a->n_kv, a->pos0, a->causal, scale, NULL);
}
