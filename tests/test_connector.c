/* The Idefics3 connector (pixel shuffle + modality projection) against transformers: every
 * tests/fixtures/smolvlm case's vision.last_hidden_state through the connector vs connector.out. */
#include "core/backend.h"
#include "core/safetensors.h"
#include "fusion/idefics3_connector.h"
#include "helpers/compare.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-4 /* ARCHITECTURE.md: f32 paths */

static mmrt_backend *backend(int n_threads, bool use_ref) {
    mmrt_backend *be = NULL;
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = n_threads, .use_ref = use_ref};
    cr_assert_eq(mmrt_backend_init(&p, &be, NULL), MMRT_OK);
    return be;
}

static const mmrt_st_tensor *ref_tensor(const mmrt_weights *ref, const char *dir, const char *name) {
    const mmrt_st_tensor *t = mmrt_weights_find(ref, name);
    cr_assert_not_null(t, "%s: reference tensor %s missing", dir, name);
    return t;
}

static void check_case(const char *name) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/smolvlm/%s", MMRT_FIXTURES_DIR, name);
    mmrt_error err = {0};
    mmrt_weights *w = NULL, *ref = NULL;
    cr_assert_eq(mmrt_weights_open(dir, &w, &err), MMRT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    cr_assert_eq(mmrt_weights_open(path, &ref, &err), MMRT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/config.json", dir);
    int64_t r = 0;
    cr_assert_eq(mmrt_idefics3_scale_factor_load(path, &r, &err), MMRT_OK, "%s", err.msg);

    const mmrt_st_tensor *x = ref_tensor(ref, dir, "vision.last_hidden_state");
    const mmrt_st_tensor *y = ref_tensor(ref, dir, "connector.out");
    cr_assert(x->dtype == MMRT_F32 && x->n_dims == 3, "%s: vision.last_hidden_state", dir);
    cr_assert(y->dtype == MMRT_F32 && y->n_dims == 3, "%s: connector.out", dir);
    int64_t n_tiles = x->shape[0], n_patches = x->shape[1], dv = x->shape[2], dt = y->shape[2];
    cr_assert_eq(y->shape[0], n_tiles, "%s: tiles", dir);
    cr_assert_eq(y->shape[1] * r * r, n_patches, "%s: tokens per tile", dir);

    mmrt_idefics3_connector conn;
    cr_assert_eq(mmrt_idefics3_connector_init(&conn, r, w, "model.connector.", dv, dt, NULL, &err), MMRT_OK,
                 "%s", err.msg);

    float *in = malloc(x->n_bytes), *ref_out = malloc(y->n_bytes), *out = malloc(y->n_bytes);
    cr_assert(in && ref_out && out);
    memcpy(in, x->data, x->n_bytes); /* the mapping need not be float-aligned */
    memcpy(ref_out, y->data, y->n_bytes);
    int64_t n_out = (int64_t)(y->n_bytes / sizeof(float));

    for (int use_ref = 0; use_ref <= 1; use_ref++) {
        mmrt_backend *be = backend(use_ref ? 1 : 2, use_ref);
        memset(out, 0, y->n_bytes);
        cr_assert_eq(mmrt_idefics3_connector_run(&conn, be, in, (int32_t)n_tiles, n_patches, out, &err),
                     MMRT_OK, "%s", err.msg);
        char label[700];
        snprintf(label, sizeof label, "%s connector.out (ref ops %d)", dir, use_ref);
        cr_assert(mmrt_test_close(label, out, ref_out, n_out, TOL), "%s differs from transformers", label);
        cr_assert_eq(be->n_fallback, 0, "%s: %lld ops fell back to the CPU", label, (long long)be->n_fallback);
        mmrt_backend_free(be);
    }

    free(in);
    free(ref_out);
    free(out);
    mmrt_weights_free(w);
    mmrt_weights_free(ref);
}

static const char *const cases[] = {"split", "nosplit", "two-images", "nonsquare", "gray", "rgba", "exif"};
#define N_CASES 7

ParameterizedTestParameters(connector, matches_transformers) {
    static int runs[N_CASES];
    for (int i = 0; i < N_CASES; i++) runs[i] = i;
    return cr_make_param_array(int, runs, N_CASES);
}

ParameterizedTest(int *c, connector, matches_transformers) {
    check_case(cases[*c]);
}

Test(connector, bad_sizes_and_missing_weight) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/smolvlm/nosplit", MMRT_FIXTURES_DIR);
    mmrt_error err = {0};
    mmrt_weights *w = NULL;
    cr_assert_eq(mmrt_weights_open(dir, &w, &err), MMRT_OK, "%s", err.msg);
    const mmrt_st_tensor *pw = mmrt_weights_find(w, "model.connector.modality_projection.proj.weight");
    cr_assert_not_null(pw);
    int64_t dt = pw->shape[0], k = pw->shape[1];
    mmrt_idefics3_connector conn;

    /* wrong prefix: missing weight */
    err = (mmrt_error){0};
    cr_assert_eq(mmrt_idefics3_connector_init(&conn, 2, w, "model.nope.", k / 4, dt, NULL, &err), MMRT_ERR_MODEL);
    cr_assert(strstr(err.msg, "model.nope.modality_projection.proj.weight"), "%s", err.msg);
    /* wrong shape */
    err = (mmrt_error){0};
    cr_assert_eq(mmrt_idefics3_connector_init(&conn, 2, w, "model.connector.", k, dt, NULL, &err), MMRT_ERR_MODEL);
    err = (mmrt_error){0};
    cr_assert_eq(mmrt_idefics3_connector_init(&conn, 0, w, "model.connector.", k, dt, NULL, &err),
                 MMRT_ERR_INVALID_ARG);

    cr_assert_eq(mmrt_idefics3_connector_init(&conn, 2, w, "model.connector.", k / 4, dt, NULL, &err), MMRT_OK,
                 "%s", err.msg);
    mmrt_backend *be = backend(1, false);
    float in[6 * 64] = {0}, out[64] = {0};
    err = (mmrt_error){0}; /* 6 patches: not a square */
    cr_assert_eq(mmrt_idefics3_connector_run(&conn, be, in, 1, 6, out, &err), MMRT_ERR_INVALID_ARG);
    err = (mmrt_error){0}; /* 9 patches: side 3 not a multiple of 2 */
    cr_assert_eq(mmrt_idefics3_connector_run(&conn, be, in, 1, 9, out, &err), MMRT_ERR_INVALID_ARG);
    err = (mmrt_error){0};
    cr_assert_eq(mmrt_idefics3_connector_run(&conn, be, in, 0, 4, out, &err), MMRT_ERR_INVALID_ARG);
    err = (mmrt_error){0};
    cr_assert_eq(mmrt_idefics3_connector_run(&conn, be, NULL, 1, 4, out, &err), MMRT_ERR_INVALID_ARG);
    mmrt_backend_free(be);
    mmrt_weights_free(w);
}
