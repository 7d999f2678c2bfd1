/* A multimodal fixture (tests/fixtures/smolvlm/<case>, tests/fixtures/granite_speech) as the end to
 * end tests open it: the checkpoint loaded through the library on the test device
 * (helpers/test_device.h, 2 threads), transformers' reference tensors and reference.json; a session
 * on it; and a progress callback that counts the encoder's steps and aborts after a given one.
 * Shared by test_smolvlm and test_granite_speech. */
#ifndef MMRT_TESTS_MODEL_FIXTURE_H
#define MMRT_TESTS_MODEL_FIXTURE_H

#include "core/json.h"
#include "core/safetensors.h"

#include <mmrt.h>

/* The model in model_dir, and ref_dir's reference.safetensors and reference.json: all asserted. */
void test_model_open(const char *model_dir, const char *ref_dir, mmrt_model **model, mmrt_weights **ref,
                     cJSON **json);

/* A session of n_ctx tokens on model, asserted. */
mmrt_session *test_model_session(mmrt_model *model, int32_t n_ctx);

/* mmrt_generate_params.on_progress's user for test_progress_abort: the stage expected, the step
 * after which to abort, and what was seen. */
typedef struct test_progress {
    mmrt_stage stage;
    int32_t after, calls, last_total;
} test_progress;

/* Asserts each call is of p->stage and counts on from the last (steps are counted over the whole
 * prompt); aborts once done reaches p->after. */
int test_progress_abort(mmrt_stage stage, int32_t done, int32_t total, void *user);

#endif
