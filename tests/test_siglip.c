/* The SigLIP / Idefics3 vision encoder against transformers: embeddings, every layer's output and
 * last_hidden_state of every tests/fixtures/smolvlm case, fed the fixture's pixel_values. */
#include "core/backend.h"
#include "core/safetensors.h"
#include "helpers/compare.h"
#include "vision/siglip.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-4 /* ARCHITECTURE.md: f32 paths */

typedef struct fixture {
    char dir[512];
    mmrt_weights *weights, *ref;
    mmrt_siglip enc;
} fixture;

static void fixture_open(fixture *f, const char *name) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/smolvlm/%s", MMRT_FIXTURES_DIR, name);
    char path[600];
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weights_open(f->dir, &f->weights, &err), MMRT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/config.json", f->dir);
    cr_assert_eq(mmrt_siglip_init(&f->enc, path, f->weights, "model.vision_model.", &err), MMRT_OK,
                 "%s", err.msg);
    snprintf(path, sizeof path, "%s/reference.safetensors", f->dir);
    cr_assert_eq(mmrt_weights_open(path, &f->ref, &err), MMRT_OK, "%s", err.msg);
}

static void fixture_close(fixture *f) {
    mmrt_siglip_free(&f->enc);
    mmrt_weights_free(f->weights);
    mmrt_weights_free(f->ref);
}

static const mmrt_st_tensor *ref_tensor(const fixture *f, const char *name) {
    const mmrt_st_tensor *t = mmrt_weights_find(f->ref, name);
    cr_assert_not_null(t, "%s: reference tensor %s missing", f->dir, name);
    return t;
}

static mmrt_backend *backend(int n_threads, bool use_ref) {
    mmrt_backend *be = NULL;
    mmrt_backend_params p = {.device = MMRT_DEVICE_CPU, .n_threads = n_threads, .use_ref = use_ref};
    cr_assert_eq(mmrt_backend_init(&p, &be, NULL), MMRT_OK);
    return be;
}

typedef struct hidden_check {
    const fixture *f;
    int n_checked;
    bool ok;
} hidden_check;

/* index 0 = vision.embeddings, i + 1 = vision.layer.<i>, n_layer + 1 = vision.last_hidden_state */
static void on_hidden(int index, const mmrt_tensor *x, void *user) {
    hidden_check *hc = user;
    int L = (int)hc->f->enc.hp.n_layer;
    char what[64];
    if (index == 0) snprintf(what, sizeof what, "vision.embeddings");
    else if (index <= L) snprintf(what, sizeof what, "vision.layer.%d", index - 1);
    else snprintf(what, sizeof what, "vision.last_hidden_state");
    const mmrt_st_tensor *ref = ref_tensor(hc->f, what);
    char label[700];
    snprintf(label, sizeof label, "%s %s", hc->f->dir, what);
    int64_t n = mmrt_tensor_nelements(x);
    cr_assert_eq((size_t)n * sizeof(float), ref->n_bytes, "%s: size", label);
    if (!mmrt_test_close(label, x->data, ref->data, n, TOL)) hc->ok = false;
    hc->n_checked++;
}

/* The encoder implements the all-patches-valid case only: check the fixture is one. */
static void check_all_patches_valid(const fixture *f, int64_t n_tiles) {
    const mmrt_st_tensor *pos = ref_tensor(f, "vision.position_ids");
    const mmrt_st_tensor *mask = ref_tensor(f, "vision.patch_attention_mask");
    int64_t np = f->enc.hp.n_patch;
    cr_assert_eq(pos->n_bytes, (size_t)(n_tiles * np) * sizeof(int32_t), "%s: position_ids size", f->dir);
    cr_assert_eq(mask->n_bytes, (size_t)(n_tiles * np), "%s: patch mask size", f->dir);
    for (int64_t i = 0; i < n_tiles * np; i++) {
        int32_t id;
        memcpy(&id, (const char *)pos->data + i * 4, 4);
        cr_assert_eq(id, (int32_t)(i % np), "%s: position id %lld is %d", f->dir, (long long)i, id);
        cr_assert_neq(((const uint8_t *)mask->data)[i], 0, "%s: patch %lld masked", f->dir, (long long)i);
    }
}

static void check_case(const char *name, int n_threads, bool use_ref) {
    fixture f;
    fixture_open(&f, name);
    const mmrt_siglip_hparams *hp = &f.enc.hp;
    const mmrt_st_tensor *px = ref_tensor(&f, "pixel_values");
    cr_assert_eq(px->n_dims, 4, "%s: pixel_values rank", f.dir);
    cr_assert(px->shape[1] == hp->n_chan && px->shape[2] == hp->image && px->shape[3] == hp->image,
              "%s: pixel_values shape", f.dir);
    int64_t n_tiles = px->shape[0];
    check_all_patches_valid(&f, n_tiles);
    size_t n_out = (size_t)(n_tiles * hp->n_patch * hp->n_embd);
    float *pixels = malloc(px->n_bytes), *out = malloc(n_out * sizeof(float));
    cr_assert(pixels && out);
    memcpy(pixels, px->data, px->n_bytes); /* the mapping need not be float-aligned */

    mmrt_backend *be = backend(n_threads, use_ref);
    mmrt_error err = {0};
    hidden_check hc = {.f = &f, .ok = true};
    cr_assert_eq(mmrt_siglip_encode_hidden(&f.enc, be, pixels, (int32_t)n_tiles, out, on_hidden, &hc, &err),
                 MMRT_OK, "%s", err.msg);
    cr_assert_eq(hc.n_checked, hp->n_layer + 2, "states reported: %d", hc.n_checked);
    cr_assert(hc.ok, "%s: vision states differ from transformers (threads %d, ref ops %d)", name,
              n_threads, use_ref);
    cr_assert_eq(be->n_fallback, 0, "%s: %lld ops fell back to the CPU", name, (long long)be->n_fallback);

    /* the plain call gives the same output in out */
    const mmrt_st_tensor *last = ref_tensor(&f, "vision.last_hidden_state");
    memset(out, 0, n_out * sizeof(float));
    cr_assert_eq(mmrt_siglip_encode(&f.enc, be, pixels, (int32_t)n_tiles, out, &err), MMRT_OK, "%s", err.msg);
    char label[600];
    snprintf(label, sizeof label, "%s encode output", f.dir);
    cr_assert(mmrt_test_close(label, out, last->data, (int64_t)n_out, TOL), "%s differs", label);

    free(pixels);
    free(out);
    mmrt_backend_free(be);
    fixture_close(&f);
}

static const char *const cases[] = {"split", "nosplit", "two-images", "nonsquare", "gray", "rgba", "exif"};
#define N_CASES 7

ParameterizedTestParameters(siglip, encoder_matches_transformers) {
    static int runs[N_CASES];
    for (int i = 0; i < N_CASES; i++) runs[i] = i;
    return cr_make_param_array(int, runs, N_CASES);
}

ParameterizedTest(int *c, siglip, encoder_matches_transformers) {
    check_case(cases[*c], 2, false);
    check_case(cases[*c], 1, true); /* the oracle ops agree too */
}

Test(siglip, bad_input_and_missing_weights) {
    fixture f;
    fixture_open(&f, "nosplit");
    mmrt_backend *be = backend(1, false);
    mmrt_error err = {0};
    float px[1] = {0}, out[1];
    cr_assert_eq(mmrt_siglip_encode(&f.enc, be, px, 0, out, &err), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(err.msg, "tiles"), "message: %s", err.msg);
    mmrt_siglip enc;
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", f.dir);
    mmrt_error err2 = {0};
    cr_assert_eq(mmrt_siglip_init(&enc, path, f.weights, "model.no_such_tower.", &err2), MMRT_ERR_MODEL);
    cr_assert(strstr(err2.msg, "model.no_such_tower.embeddings.patch_embedding.weight"), "message: %s", err2.msg);
    mmrt_siglip_free(&enc);
    mmrt_backend_free(be);
    fixture_close(&f);
}
