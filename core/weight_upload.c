#include "weight_upload.h"

#include <stdlib.h>
#include <string.h>

void mmrt_weight_upload_init(mmrt_weight_upload *u, mmrt_backend *be, mmrt_math math) {
    memset(u, 0, sizeof *u);
    u->be = be;
    u->widen = math == MMRT_MATH_F32;
}

/* Uploads the f16/bf16 tensor t widened to f32 into dev (n_elem floats). */
static mmrt_status upload_widened(mmrt_backend *be, void *dev, const mmrt_tensor *t, int64_t n_elem,
                                  mmrt_error *err) {
    float *tmp = malloc(sizeof(float) * (size_t)(n_elem ? n_elem : 1));
    if (!tmp) return mmrt_error_oom(err, sizeof(float) * (size_t)n_elem, "weight widened to f32");
    const uint16_t *h = t->data;
    for (int64_t i = 0; i < n_elem; i++)
        tmp[i] = t->type == MMRT_BF16 ? mmrt_bf16_to_f32(h[i]) : mmrt_f16_to_f32(h[i]);
    mmrt_status st = be->iface->upload(be, dev, tmp, sizeof(float) * (size_t)n_elem, err);
    if (st == MMRT_OK) st = be->iface->synchronize(be, err); /* before tmp goes */
    free(tmp);
    return st;
}

static const mmrt_weight_copy *find_copy(const mmrt_weight_upload *u, const void *host, size_t n_bytes) {
    for (size_t i = 0; i < u->n; i++)
        if (u->copies[i].host == host && u->copies[i].n_bytes == n_bytes) return &u->copies[i];
    return NULL;
}

/* Grows the array *items (cap entries of `size` bytes, n used) so that one more fits. */
static mmrt_status room_for_one(void **items, size_t *cap, size_t n, size_t size, mmrt_error *err) {
    if (n < *cap) return MMRT_OK;
    size_t ncap = *cap ? 2 * *cap : 256;
    void *p = realloc(*items, ncap * size);
    if (!p) return mmrt_error_oom(err, ncap * size, "weight upload list");
    *items = p;
    *cap = ncap;
    return MMRT_OK;
}

mmrt_status mmrt_weight_upload_tensor(mmrt_weight_upload *u, mmrt_tensor *t, const char *what,
                                      mmrt_error *err) {
    mmrt_backend *be = u->be;
    MMRT_ASSERT(mmrt_tensor_is_contiguous(t));
    MMRT_TRY(room_for_one((void **)&u->moved, &u->cap_moved, u->n_moved, sizeof *u->moved, err));
    if (be->iface->host_memory || !t->data) {
        u->moved[u->n_moved++] = (mmrt_weight_moved){.t = t, .host = *t};
        t->backend = be;
        return MMRT_OK;
    }
    const size_t n_host = mmrt_tensor_nbytes(t);
    const bool widen = u->widen && (t->type == MMRT_BF16 || t->type == MMRT_F16);
    const int64_t n_elem = mmrt_tensor_nelements(t);
    const size_t n = widen ? sizeof(float) * (size_t)n_elem : n_host;
    const mmrt_weight_copy *c = find_copy(u, t->data, n_host);
    if (!c) {
        MMRT_TRY(room_for_one((void **)&u->copies, &u->cap, u->n, sizeof *u->copies, err));
        void *dev = NULL;
        mmrt_status st = be->iface->buffer_alloc(be, n, &dev, err);
        if (st != MMRT_OK) {
            mmrt_error_wrap(err, "weight %s (%zu bytes; %.1f MiB of weights are already on %s)", what, n,
                            (double)u->bytes / 1048576.0, be->iface->name);
            return st;
        }
        u->copies[u->n++] = (mmrt_weight_copy){.host = t->data, .n_bytes = n_host, .dev = dev};
        u->bytes += n;
        c = &u->copies[u->n - 1];
        MMRT_TRY(widen ? upload_widened(be, dev, t, n_elem, err) : be->iface->upload(be, dev, t->data, n, err));
    }
    u->moved[u->n_moved++] = (mmrt_weight_moved){.t = t, .host = *t};
    if (widen) {
        /* a contiguous f32 tensor of the same shape */
        mmrt_tensor w = mmrt_tensor_make(MMRT_F32, c->dev, MMRT_MAX_DIMS, t->ne);
        *t = w;
    } else {
        t->data = c->dev;
    }
    t->backend = be;
    return MMRT_OK;
}

mmrt_status mmrt_weight_upload_finish(mmrt_weight_upload *u, mmrt_error *err) {
    return u->be ? u->be->iface->synchronize(u->be, err) : MMRT_OK;
}

void mmrt_weight_upload_free(mmrt_weight_upload *u) {
    if (!u->be) return;
    for (size_t i = 0; i < u->n; i++) u->be->iface->buffer_free(u->be, u->copies[i].dev);
    free(u->copies);
    free(u->moved);
    memset(u, 0, sizeof *u);
}

void mmrt_weight_upload_rollback(mmrt_weight_upload *u) {
    for (size_t i = u->n_moved; i-- > 0;) *u->moved[i].t = u->moved[i].host; /* last move first */
    if (u->be) {
        mmrt_error ignored = {0};
        u->be->iface->synchronize(u->be, &ignored); /* no upload still reads the host data */
    }
    mmrt_weight_upload_free(u);
}
