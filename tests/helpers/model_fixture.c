#include "helpers/model_fixture.h"

#include "helpers/test_device.h"

#include <criterion/criterion.h>
#include <stdio.h>

void test_model_open(const char *model_dir, const char *ref_dir, mmrt_model **model, mmrt_weights **ref,
                     cJSON **json) {
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = test_device(); /* "cuda" as test_cuda_<suite> in the emulated CUDA build */
    mp.n_threads = 2;
    cr_assert_eq(mmrt_model_load(model_dir, &mp, model), MMRT_OK, "%s", mmrt_last_error());
    char path[600];
    mmrt_error err = {0};
    snprintf(path, sizeof path, "%s/reference.safetensors", ref_dir);
    cr_assert_eq(mmrt_weights_open(path, ref, &err), MMRT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/reference.json", ref_dir);
    cr_assert_eq(mmrt_json_load_file(path, json, &err), MMRT_OK, "%s", err.msg);
}

mmrt_session *test_model_session(mmrt_model *model, int32_t n_ctx) {
    mmrt_session_params sp;
    mmrt_session_params_init(&sp, sizeof sp);
    sp.n_ctx = n_ctx;
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(model, &sp, &s), MMRT_OK, "%s", mmrt_last_error());
    return s;
}

int test_progress_abort(mmrt_stage stage, int32_t done, int32_t total, void *user) {
    test_progress *p = user;
    cr_assert_eq(stage, p->stage);
    cr_assert_eq(done, p->calls + 1, "steps are counted over the whole prompt");
    p->calls++;
    p->last_total = total;
    return done >= p->after;
}
