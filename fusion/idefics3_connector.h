/* The Idefics3 / SmolVLM connector: vision features -> text-embedding-sized image features.
 *
 *   out = modality_projection(pixel_shuffle(x))       per tile
 *
 * pixel_shuffle (transformers Idefics3Connector.pixel_shuffle, run on the host), with w = sqrt(n_patches)
 * and r = scale_factor:  y[I·(w/r) + J, (a·r + b)·Dv + d] = x[(I·r + a)·w + (J·r + b), d]
 * modality_projection: a bias-free Linear (Dt, Dv·r²), "<prefix>modality_projection.proj.weight".
 *
 * mmrt_idefics3_connector is immutable after init; its weight stays in the mmap of the
 * mmrt_weights it was bound from. Calls to run on one connector may run at once on different
 * backends. */
#ifndef MMRT_FUSION_IDEFICS3_CONNECTOR_H
#define MMRT_FUSION_IDEFICS3_CONNECTOR_H

#include "core/backend.h"
#include "core/safetensors.h"
#include "core/weight_table.h"

#include <stdint.h>

typedef struct mmrt_idefics3_connector {
    int64_t scale_factor;  /* r */
    int64_t vision_hidden; /* Dv */
    int64_t text_hidden;   /* Dt */
    mmrt_tensor proj_w;    /* (Dt, Dv · r²) */
} mmrt_idefics3_connector;

/* Reads the top-level "scale_factor" of the config.json at config_path (default 2 when absent, as
 * in transformers' Idefics3Config); out of range is MMRT_ERR_BAD_FORMAT. */
mmrt_status mmrt_idefics3_scale_factor_load(const char *config_path, int64_t *scale_factor,
                                            mmrt_error *err);

/* Binds "<prefix>modality_projection.proj.weight" (e.g. prefix "model.connector."), checked to be
 * (text_hidden, vision_hidden · scale_factor²), and appends it to list (for the upload; NULL: not
 * recorded). Bad sizes are MMRT_ERR_INVALID_ARG, a missing or misshapen weight MMRT_ERR_MODEL
 * naming it. */
mmrt_status mmrt_idefics3_connector_init(mmrt_idefics3_connector *conn, int64_t scale_factor,
                                         const mmrt_weights *w, const char *prefix,
                                         int64_t vision_hidden, int64_t text_hidden,
                                         mmrt_weight_list *list, mmrt_error *err);

/* vision_out: host (n_tiles, n_patches, vision_hidden); n_patches must be a square whose side is
 * a multiple of scale_factor. out: host (n_tiles, n_patches / scale_factor², text_hidden). */
mmrt_status mmrt_idefics3_connector_run(const mmrt_idefics3_connector *conn, mmrt_backend *be,
                                        const float *vision_out, int32_t n_tiles,
                                        int64_t n_patches, float *out, mmrt_error *err);

/* The same from a contiguous f32 vision output already on `be` (or the backend it was forked
 * from): (n_tiles · n_patches, vision_hidden) in any shape of those elements with ne[0] =
 * vision_hidden, into out (n_tiles · n_patches / scale_factor², text_hidden) f32 on `be`, which
 * stays there (the decoder splices it into the prompt on the backend). Synchronizes before it
 * returns. */
mmrt_status mmrt_idefics3_connector_forward(const mmrt_idefics3_connector *conn, mmrt_backend *be,
                                            const mmrt_tensor *vision, int32_t n_tiles, int64_t n_patches,
                                            mmrt_tensor *out, mmrt_error *err);

#endif
