/* The SmolVLM / Idefics3 image path: the vision tower, the connector, the processor's settings and
 * the prompt expansion of transformers' Idefics3Processor / SmolVLMProcessor.
 *
 *   image  -> preprocess (vision/smolvlm_preprocess.h): tiles (rows x cols + global, or one)
 *   tiles  -> SigLIP encoder -> connector: image_seq_len rows of the text model's width per tile
 *   prompt -> each "<image>" of the chat text replaced by
 *               split:     for r, c: <fake_token_around_image><row_r_col_c><image>×L, "\n" per row,
 *                          then "\n<fake_token_around_image><global-img><image>×L<fake_token_around_image>"
 *               not split: <fake_token_around_image><global-img><image>×L<fake_token_around_image>
 *             then tokenized; the k-th <image> token takes row k of the image features, in order.
 *
 * The model's first media encoder (fusion/encoder.h): mmrt_smolvlm_encoder_factory matches these
 * checkpoints; prepare decodes and preprocesses an image part, encode leaves the image's rows
 * (n_tiles · image_seq_len, text hidden) on the backend.
 *
 * Immutable after init; encode may run at once on different backends.
 */
#ifndef MMRT_FUSION_SMOLVLM_H
#define MMRT_FUSION_SMOLVLM_H

#include "core/backend.h"
#include "fusion/encoder.h"
#include "core/safetensors.h"
#include "fusion/idefics3_connector.h"
#include "core/weight_upload.h"
#include "text/tokenizer.h"
#include "vision/siglip.h"
#include "vision/smolvlm_preprocess.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct mmrt_smolvlm {
    mmrt_siglip vit;
    mmrt_idefics3_connector conn;
    mmrt_weight_list conn_weights; /* the connector's, for the upload (the ViT keeps its own) */
    mmrt_smolvlm_pp_config pp;
    int64_t image_seq_len; /* L: <image> tokens (feature rows) per tile */
    int32_t image_token;   /* the id of "<image>" */
} mmrt_smolvlm;

/* Loads the vision side of the checkpoint in dir: vision_config and scale_factor from config.json,
 * the processor settings and image_seq_len (processor_config.json, or the 4.x files), weights
 * "model.vision_model." and "model.connector." from w. Checks that the pieces agree with each other
 * and with the tokenizer (image_token_id, tile size, L) — MMRT_ERR_MODEL naming the file otherwise.
 * On failure v is left freed. */
mmrt_status mmrt_smolvlm_init(mmrt_smolvlm *v, const char *dir, const mmrt_weights *w,
                              int64_t text_hidden, const mmrt_tokenizer *tok, mmrt_error *err);
void mmrt_smolvlm_free(mmrt_smolvlm *v);

/* Moves the vision encoder's and the connector's weights to u's backend. */
mmrt_status mmrt_smolvlm_upload(mmrt_smolvlm *v, mmrt_weight_upload *u, mmrt_error *err);

/* Encodes n_tiles tiles of host pixel_values (n_tiles, 3, S, S) into out (n_tiles · image_seq_len,
 * text_hidden) f32 on be, one tile at a time; progress (may be NULL) after each tile. */
mmrt_status mmrt_smolvlm_encode(const mmrt_smolvlm *v, mmrt_backend *be, const float *pixel_values,
                                int32_t n_tiles, mmrt_tensor *out, mmrt_encoder_progress_fn progress,
                                void *user, mmrt_error *err);

/* The encoder factory of the family: config.json model_type "idefics3" (SmolVLM-256M/500M) or
 * "smolvlm" (SmolVLM2); the decoder is text_config, weights "model.text_model.". */
extern const mmrt_encoder_factory mmrt_smolvlm_encoder_factory;

#endif
