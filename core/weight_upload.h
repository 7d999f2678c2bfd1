/* Weights on a device: a model's tensors uploaded once, at load, through the model's backend.
 *
 * Each tensor's bytes go up once per distinct host range (a tied lm_head shares the embedding
 * table's copy), into a buffer of their own, and the tensor is repointed there. On a host backend
 * (the CPU) nothing is copied: tensors keep pointing into the mmap.
 *
 * f16/bf16 weights are widened to f32 on the way up when the backend computes in exact f32
 * (MMRT_MATH_F32, the default): the device then computes what the CPU backend computes, which
 * widens 16-bit weights as it reads them, at twice the weights' device memory. Other math modes keep
 * the checkpoint's dtype and run 16-bit GEMMs on tensor cores. Sessions then run on backends
 * forked from the model's (mmrt_backend_fork), which read these buffers.
 */
#ifndef MMRT_CORE_WEIGHT_UPLOAD_H
#define MMRT_CORE_WEIGHT_UPLOAD_H

#include "backend.h"

typedef struct mmrt_weight_copy {
    const void *host;
    size_t n_bytes;
    void *dev;
} mmrt_weight_copy;

/* A tensor moved by the upload, and what it was before (for mmrt_weight_upload_rollback). */
typedef struct mmrt_weight_moved {
    mmrt_tensor *t;
    mmrt_tensor host;
} mmrt_weight_moved;

typedef struct mmrt_weight_upload {
    mmrt_backend *be;
    mmrt_weight_copy *copies;
    size_t n, cap;
    mmrt_weight_moved *moved;
    size_t n_moved, cap_moved;
    size_t bytes; /* device bytes held */
    bool widen;   /* f16/bf16 → f32 on upload */
} mmrt_weight_upload;

/* math: the arithmetic `be` was created for (mmrt_backend_params.math). */
void mmrt_weight_upload_init(mmrt_weight_upload *u, mmrt_backend *be, mmrt_math math);

/* Moves the contiguous host tensor t to u's backend (t->data and t->backend are updated). The
 * host bytes must stay valid until mmrt_weight_upload_finish. A failure (MMRT_ERR_OOM with the
 * size asked for) names the weight `what`, its size and how much is already on the device. */
mmrt_status mmrt_weight_upload_tensor(mmrt_weight_upload *u, mmrt_tensor *t, const char *what,
                                      mmrt_error *err);

/* Waits until every upload has landed. */
mmrt_status mmrt_weight_upload_finish(mmrt_weight_upload *u, mmrt_error *err);

/* Gives the device buffers back (tensors moved by u dangle afterwards). */
void mmrt_weight_upload_free(mmrt_weight_upload *u);

/* After a failed upload: points every tensor u moved back at its host data (as it was before),
 * then frees u, so that the model can be uploaded to another backend (device auto → the CPU). */
void mmrt_weight_upload_rollback(mmrt_weight_upload *u);

#endif
