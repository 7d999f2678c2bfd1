/* A test-only media encoder, registered from outside fusion/ through mmrt_encoder_register: it
 * takes pixel-buffer image parts on a Llama text checkpoint and turns each pixel (r, g, b) into the
 * decoder's own token embedding of id (r + 256 · g) mod n_vocab, read from the checkpoint's
 * embedding table (bound with core/weight_table.h). Its rows reaching the decoder at the right
 * positions must therefore give exactly what the plain text of those ids gives.
 *
 * An image file part stands for the first TEST_ENCODER_FILE_PIXELS pixels of its top row, so that
 * `mmrt chat`'s /image command reaches it too (tests/test_encoder_chat.c).
 *
 * The placeholder is "<image>" (what the chat template writes for an image part), expanded to one
 * "<|endoftext|>" per pixel: the token whose embeddings the rows replace. */
#ifndef MMRT_TESTS_TEST_ENCODER_H
#define MMRT_TESTS_TEST_ENCODER_H

#include "fusion/encoder.h"

#include <stdbool.h>
#include <stdint.h>

/* Registers the factory once per process; it matches "llama" checkpoints while enabled. */
void test_encoder_enable(bool on);

/* The LoRA adapter encoders made from now on declare (NULL: none, the default). */
void test_encoder_set_lora(const char *adapter);

/* The id a pixel stands for. */
int32_t test_encoder_pixel_id(const uint8_t *rgb, int64_t n_vocab);

/* Registers factory (a test encoder defined outside fusion/) once per process: *registered says it was. */
void test_encoder_register_once(const mmrt_encoder_factory *factory, bool *registered);

/* What a test encoder's encode ends with (this one's and test_transcribe's audio encoder's): the
 * n_tokens x n_embd host rows allocated on be, uploaded and synchronised, then its one progress step,
 * which aborts with "<who> stopped by the progress callback"; rows freed on failure. */
mmrt_status test_encoder_upload_rows(mmrt_backend *be, const float *host, int64_t n_tokens, int64_t n_embd,
                                     mmrt_encoder_progress_fn progress, void *user, const char *who,
                                     mmrt_tensor *rows, mmrt_error *err);

#define TEST_ENCODER_TOKEN_TEXT "<|endoftext|>"
#define TEST_ENCODER_FILE_PIXELS 4

#endif
