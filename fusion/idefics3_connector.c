#include "idefics3_connector.h"

#include "core/json.h"
#include "core/ops.h"

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

mmrt_status mmrt_idefics3_connector_init(mmrt_idefics3_connector *conn, int64_t scale_factor,
                                         const mmrt_weights *w, const char *prefix,
                                         int64_t vision_hidden, int64_t text_hidden,
                                         mmrt_error *err) {
    memset(conn, 0, sizeof *conn);
    if (!w || !prefix)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "connector init: weights and prefix are required");
    if (scale_factor < 1 || scale_factor > 64 || vision_hidden < 1 || vision_hidden > MAX_DIM ||
        text_hidden < 1 || text_hidden > MAX_DIM)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "connector init: scale_factor %lld, vision hidden %lld, text hidden %lld out of range",
                              (long long)scale_factor, (long long)vision_hidden, (long long)text_hidden);
    int64_t k = vision_hidden * scale_factor * scale_factor;
    char name[256];
    int n = snprintf(name, sizeof name, "%smodality_projection.proj.weight", prefix);
    if (n < 0 || (size_t)n >= sizeof name)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "connector init: prefix too long");
    MMRT_TRY(mmrt_weights_bind(w, name, text_hidden, k, &conn->proj_w, NULL, err));
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

mmrt_status mmrt_idefics3_connector_run_tensor(const mmrt_idefics3_connector *conn, mmrt_backend *be,
                                               const mmrt_tensor *vision, int32_t n_tiles,
                                               int64_t n_patches, float *out, mmrt_error *err) {
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
    size_t in_bytes = (size_t)(n_row * k) * sizeof(float);
    size_t out_bytes = (size_t)(n_row * dt) * sizeof(float);

    void *din = NULL, *dout = NULL;
    mmrt_status st = be->iface->buffer_alloc(be, in_bytes, &din, err);
    if (st == MMRT_OK) st = be->iface->buffer_alloc(be, out_bytes, &dout, err);
    if (st != MMRT_OK) {
        if (din) be->iface->buffer_free(be, din);
        return mmrt_error_wrap(err, "connector scratch for %d tiles", n_tiles);
    }
    mmrt_tensor vt = mmrt_tensor_3d(MMRT_F32, vision->data, dv, n_patches, n_tiles); /* (n_tiles, s², Dv) */
    mmrt_tensor xt = mmrt_tensor_2d(MMRT_F32, din, k, n_row);                        /* (n_row, Dv · r²) */
    mmrt_tensor yt = mmrt_tensor_2d(MMRT_F32, dout, dt, n_row);                      /* (n_row, Dt) */
    vt.backend = vision->backend;
    xt.backend = yt.backend = be;
    st = mmrt_pixel_shuffle(be, &xt, &vt, (int32_t)r, err);
    if (st == MMRT_OK) st = mmrt_matmul(be, &yt, &xt, &conn->proj_w, err);
    if (st == MMRT_OK) st = be->iface->download(be, out, dout, out_bytes, err);
    if (st == MMRT_OK) st = be->iface->synchronize(be, err);
    else {
        mmrt_error ignored = {0};
        be->iface->synchronize(be, &ignored); /* nothing queued may outlive the buffers */
    }
    be->iface->buffer_free(be, din);
    be->iface->buffer_free(be, dout);
    return st;
}

mmrt_status mmrt_idefics3_connector_run(const mmrt_idefics3_connector *conn, mmrt_backend *be,
                                        const float *vision_out, int32_t n_tiles,
                                        int64_t n_patches, float *out, mmrt_error *err) {
    if (!conn || !be || !vision_out || !out)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "connector: connector, backend, input and out are required");
    int64_t side = 0;
    MMRT_TRY(check_grid(conn, n_tiles, n_patches, &side, err));
    const int64_t dv = conn->vision_hidden;
    size_t vis_bytes = (size_t)(n_tiles * n_patches * dv) * sizeof(float);
    void *dvis = NULL;
    if (be->iface->buffer_alloc(be, vis_bytes, &dvis, err) != MMRT_OK)
        return mmrt_error_wrap(err, "connector input for %d tiles", n_tiles);
    mmrt_tensor vt = mmrt_tensor_3d(MMRT_F32, dvis, dv, n_patches, n_tiles);
    vt.backend = be;
    mmrt_status st = be->iface->upload(be, dvis, vision_out, vis_bytes, err);
    if (st == MMRT_OK) st = mmrt_idefics3_connector_run_tensor(conn, be, &vt, n_tiles, n_patches, out, err);
    if (st != MMRT_OK) { /* the upload may still read vision_out */
        mmrt_error ignored = {0};
        be->iface->synchronize(be, &ignored);
    }
    be->iface->buffer_free(be, dvis);
    return st;
}
