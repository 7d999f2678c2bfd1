/* The op cases the CPU backend's op suites share (test_ops, test_ops_bf16, test_ops_quant): an op's
 * arguments, and a runner that computes it on a backend into a host buffer (the CPU's memory). */
#ifndef MMRT_TESTS_HELPERS_OP_RUNS_H
#define MMRT_TESTS_HELPERS_OP_RUNS_H

#include "core/backend.h"

#include <stdbool.h>
#include <stdint.h>

typedef mmrt_status (*op_run_fn)(mmrt_backend *be, void *args, float *out);

/* dst (m, n) = x (m, k) · w (n, k)ᵀ */
struct matmul_args {
    mmrt_tensor x, w;
};
mmrt_status run_matmul(mmrt_backend *be, void *args, float *out);

struct attn_args {
    mmrt_tensor q, k, v;
    const mmrt_tensor *key_mask; /* NULL: none */
    const mmrt_tensor *bias;     /* NULL: none */
    int64_t n_kv, pos0;
    bool causal;
};
/* Attention with scale 1/√hd; the masked or biased variant when the args have a mask or a bias. */
mmrt_status run_attention(mmrt_backend *be, void *args, float *out);

#endif
