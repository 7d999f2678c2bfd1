#include "idefics3_connector.h"

#include "core/json.h"
#include "core/ops.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM ((int64_t)1 << 20)

mmrt_status mmrt_idefics3_scale_factor_load(const char *config_path, int64_t *scale_factor,
                                            mmrt_error *err) {
    cJSON *cfg = NULL;
    MMRT_TRY(mmrt_json_load_file(config_path, &cfg, err));
    mmrt_status st = mmrt_json_get_int(cfg, "scale_factor", false, 2, 1, 64, scale_factor,
                                       config_path, err);
    cJSON_Delete(cfg);
    return st;
}

static const mmrt_weight_decl weights[] = {
    MMRT_WEIGHT(mmrt_idefics3_connector, proj_w, "modality_projection.proj.weight", 1, 2),
};

mmrt_status mmrt_idefics3_connector_init(mmrt_idefics3_connector *conn, int64_t scale_factor,
                                         const mmrt_weights *w, const char *prefix,
                                         int64_t vision_hidden, int64_t text_hidden,
                                         mmrt_weight_list *list, mmrt_error *err) {
    memset(conn, 0, sizeof *conn);
    if (!w || !prefix)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "connector init: weights and prefix are required");
    if (scale_factor < 1 || scale_factor > 64 || vision_hidden < 1 || vision_hidden > MAX_DIM ||
        text_hidden < 1 || text_hidden > MAX_DIM)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "connector init: scale_factor %lld, vision hidden %lld, text hidden %lld out of range",
                              (long long)scale_factor, (long long)vision_hidden, (long long)text_hidden);
    const int64_t dims[] = {0, text_hidden, vision_hidden * scale_factor * scale_factor};
    mmrt_weight_list local = {0};
    mmrt_status st = mmrt_weight_table_bind(w, prefix, weights, 1, dims, conn, list ? list : &local, err);
    mmrt_weight_list_free(&local);
    MMRT_TRY(st);
    conn->scale_factor = scale_factor;
    conn->vision_hidden = vision_hidden;
    conn->text_hidden = text_hidden;
    return MMRT_OK;
}

/* The grid of n_patches per tile: side², side a multiple of r. */
static mmrt_status check_grid(const mmrt_idefics3_connector *conn, int32_t n_tiles, int64_t n_patches,
                              int64_t *side_out, mmrt_error *err) {
    const int64_t r = conn->scale_factor;
    int64_t side = 0;
    while (side * side < n_patches) side++;
    if (n_tiles <= 0 || n_patches <= 0 || (int64_t)n_tiles * n_patches > ((int64_t)1 << 24) ||
        side * side != n_patches || side % r != 0)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "connector: %d tiles of %lld patches (need a square whose side is a multiple of %lld)",
                              n_tiles, (long long)n_patches, (long long)r);
    *side_out = side;
    return MMRT_OK;
}

mmrt_status mmrt_idefics3_connector_forward(const mmrt_idefics3_connector *conn, mmrt_backend *be,
                                            const mmrt_tensor *vision, int32_t n_tiles, int64_t n_patches,
                                            mmrt_tensor *out, mmrt_error *err) {
    if (!conn || !be || !vision || !out)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "connector: connector, backend, input and out are required");
    int64_t side = 0;
    MMRT_TRY(check_grid(conn, n_tiles, n_patches, &side, err));
    const int64_t r = conn->scale_factor, dv = conn->vision_hidden, dt = conn->text_hidden;
    if (vision->ne[0] != dv || mmrt_tensor_nelements(vision) != n_tiles * n_patches * dv ||
        !mmrt_tensor_is_contiguous(vision) || vision->type != MMRT_F32)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "connector: the vision output is not %d × %lld × %lld f32",
                              n_tiles, (long long)n_patches, (long long)dv);
    const int64_t ws = side / r;              /* shuffled grid side */
    const int64_t n_row = n_tiles * ws * ws;  /* rows of the matmul */
    const int64_t k = dv * r * r;
    if (out->type != MMRT_F32 || out->ne[0] != dt || out->ne[1] != n_row || !mmrt_tensor_is_contiguous(out))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "connector: out is not %lld × %lld f32",
                              (long long)n_row, (long long)dt);
    size_t in_bytes = (size_t)(n_row * k) * sizeof(float);
    void *din = NULL;
    if (be->iface->buffer_alloc(be, in_bytes, &din, err) != MMRT_OK)
        return mmrt_error_wrap(err, "connector scratch for %d tiles", n_tiles);
    mmrt_tensor vt = mmrt_tensor_3d(MMRT_F32, vision->data, dv, n_patches, n_tiles); /* (n_tiles, s², Dv) */
    mmrt_tensor xt = mmrt_tensor_2d(MMRT_F32, din, k, n_row);                        /* (n_row, Dv · r²) */
    vt.backend = vision->backend;
    xt.backend = be;
    mmrt_status st = mmrt_pixel_shuffle(be, &xt, &vt, (int32_t)r, err);
    if (st == MMRT_OK) st = mmrt_matmul(be, out, &xt, &conn->proj_w, err);
    /* the scratch goes back now: nothing queued may still read it */
    mmrt_error ignored = {0};
    if (st == MMRT_OK) st = be->iface->synchronize(be, err);
    else be->iface->synchronize(be, &ignored);
    be->iface->buffer_free(be, din);
    return st;
}

mmrt_status mmrt_idefics3_connector_run(const mmrt_idefics3_connector *conn, mmrt_backend *be,
                                        const float *vision_out, int32_t n_tiles,
                                        int64_t n_patches, float *out, mmrt_error *err) {
    if (!conn || !be || !vision_out || !out)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "connector: connector, backend, input and out are required");
    int64_t side = 0;
    MMRT_TRY(check_grid(conn, n_tiles, n_patches, &side, err));
    const int64_t dv = conn->vision_hidden, dt = conn->text_hidden;
    const int64_t n_row = n_tiles * n_patches / (conn->scale_factor * conn->scale_factor);
    size_t vis_bytes = (size_t)(n_tiles * n_patches * dv) * sizeof(float);
    size_t out_bytes = (size_t)(n_row * dt) * sizeof(float);
    void *dvis = NULL, *dout = NULL;
    mmrt_status st = be->iface->buffer_alloc(be, vis_bytes, &dvis, err);
    if (st == MMRT_OK) st = be->iface->buffer_alloc(be, out_bytes, &dout, err);
    if (st != MMRT_OK) {
        if (dvis) be->iface->buffer_free(be, dvis);
        return mmrt_error_wrap(err, "connector input for %d tiles", n_tiles);
    }
    mmrt_tensor vt = mmrt_tensor_3d(MMRT_F32, dvis, dv, n_patches, n_tiles);
    mmrt_tensor yt = mmrt_tensor_2d(MMRT_F32, dout, dt, n_row); /* (n_row, Dt) */
    vt.backend = yt.backend = be;
    st = be->iface->upload(be, dvis, vision_out, vis_bytes, err);
    if (st == MMRT_OK) st = mmrt_idefics3_connector_forward(conn, be, &vt, n_tiles, n_patches, &yt, err);
    if (st == MMRT_OK) st = be->iface->download(be, out, dout, out_bytes, err);
    if (st == MMRT_OK) st = be->iface->synchronize(be, err);
    else { /* the copies may still read vision_out or write out */
        mmrt_error ignored = {0};
        be->iface->synchronize(be, &ignored);
    }
    be->iface->buffer_free(be, dvis);
    be->iface->buffer_free(be, dout);
    return st;
}
