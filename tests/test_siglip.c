/* The SigLIP / Idefics3 vision encoder against transformers: embeddings, every layer's output and
 * last_hidden_state of every tests/fixtures/smolvlm case, fed the fixture's pixel_values; padded
 * tiles (tests/fixtures/siglip-padded and the nonsquare case's padded.*) with their pixel masks;
 * position ids against the table torch computed (siglip-padded/position_buckets.json). */
#include "core/backend.h"
#include "core/json.h"
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

/* The checkpoint of smolvlm/<name> and the reference at ref_path (NULL: the case's own). */
static void fixture_open_ref(fixture *f, const char *name, const char *ref_path) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/smolvlm/%s", MMRT_FIXTURES_DIR, name);
    char path[600];
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weights_open(f->dir, &f->weights, &err), MMRT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/config.json", f->dir);
    cr_assert_eq(mmrt_siglip_init(&f->enc, path, f->weights, "model.vision_model.", &err), MMRT_OK,
                 "%s", err.msg);
    if (ref_path) snprintf(path, sizeof path, "%s", ref_path);
    else snprintf(path, sizeof path, "%s/reference.safetensors", f->dir);
    cr_assert_eq(mmrt_weights_open(path, &f->ref, &err), MMRT_OK, "%s", err.msg);
}

static void fixture_open(fixture *f, const char *name) { fixture_open_ref(f, name, NULL); }

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
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = n_threads, .use_ref = use_ref};
    cr_assert_eq(mmrt_backend_init(&p, &be, NULL), MMRT_OK);
    return be;
}

typedef struct hidden_check {
    const fixture *f;
    const char *prefix; /* of the reference names: "vision." (smolvlm), "padded.vision.", "" */
    int64_t n_tiles;
    int n_checked;
    bool ok;
} hidden_check;

/* index 0 = <prefix>embeddings, i + 1 = <prefix>layer.<i>, n_layer + 1 = <prefix>last_hidden_state,
 * each compared tile by tile (a padded tile's scale can differ from its neighbours'). */
static void on_hidden(int index, const mmrt_tensor *x, void *user) {
    hidden_check *hc = user;
    int L = (int)hc->f->enc.hp.n_layer;
    char what[96];
    if (index == 0) snprintf(what, sizeof what, "%sembeddings", hc->prefix);
    else if (index <= L) snprintf(what, sizeof what, "%slayer.%d", hc->prefix, index - 1);
    else snprintf(what, sizeof what, "%slast_hidden_state", hc->prefix);
    const mmrt_st_tensor *ref = ref_tensor(hc->f, what);
    int64_t n = mmrt_tensor_nelements(x), per_tile = n / hc->n_tiles;
    cr_assert_eq((size_t)n * sizeof(float), ref->n_bytes, "%s %s: size", hc->f->dir, what);
    for (int64_t t = 0; t < hc->n_tiles; t++) {
        char label[700];
        snprintf(label, sizeof label, "%s %s tile %lld", hc->f->dir, what, (long long)t);
        if (!mmrt_test_close(label, (const float *)x->data + t * per_tile,
                             (const float *)ref->data + t * per_tile, per_tile, TOL))
            hc->ok = false;
    }
    hc->n_checked++;
}

/* The processor's tiles are all valid: check the fixture's are, which the plain calls assume. */
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
    hidden_check hc = {.f = &f, .prefix = "vision.", .n_tiles = n_tiles, .ok = true};
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

/* ---- padded tiles ----------------------------------------------------------------------- */

static void *copy_of(const mmrt_st_tensor *t) {
    void *p = malloc(t->n_bytes);
    cr_assert_not_null(p);
    memcpy(p, t->data, t->n_bytes); /* the mapping need not be aligned */
    return p;
}

/* The patch mask and position ids of every tile against the reference's, then the encoder with
 * the pixel mask against every state. names: "" (siglip-padded) or "padded." (smolvlm nonsquare). */
static void check_padded(const fixture *f, const char *names, int n_threads, bool use_ref) {
    const mmrt_siglip_hparams *hp = &f->enc.hp;
    char name[128];
    snprintf(name, sizeof name, "%spixel_values", names);
    const mmrt_st_tensor *px = ref_tensor(f, name);
    cr_assert(px->n_dims == 4 && px->shape[1] == hp->n_chan && px->shape[2] == hp->image &&
              px->shape[3] == hp->image, "%s: %s shape", f->dir, name);
    int64_t n_tiles = px->shape[0], np = hp->n_patch, S = hp->image, side = S / hp->patch;
    snprintf(name, sizeof name, "%spixel_attention_mask", names);
    const mmrt_st_tensor *pm = ref_tensor(f, name);
    cr_assert_eq(pm->n_bytes, (size_t)(n_tiles * S * S), "%s: pixel mask size", f->dir);
    const char *vis = names[0] ? "padded.vision." : "";
    snprintf(name, sizeof name, "%spatch_attention_mask", vis);
    const mmrt_st_tensor *ref_patch = ref_tensor(f, name);
    snprintf(name, sizeof name, "%sposition_ids", vis);
    const mmrt_st_tensor *ref_ids = ref_tensor(f, name);
    cr_assert_eq(ref_ids->n_bytes, (size_t)(n_tiles * np) * sizeof(int32_t), "%s: position ids size", f->dir);
    float *pixels = copy_of(px);
    uint8_t *mask = copy_of(pm);
    int32_t *want_ids = copy_of(ref_ids);

    uint8_t *patch = malloc((size_t)np);
    int32_t *ids = malloc((size_t)np * sizeof *ids);
    cr_assert(patch && ids);
    int n_padded = 0;
    for (int64_t t = 0; t < n_tiles; t++) {
        mmrt_siglip_patch_mask(hp, mask + t * S * S, patch);
        cr_assert(memcmp(patch, (const uint8_t *)ref_patch->data + t * np, (size_t)np) == 0,
                  "%s: tile %lld patch mask differs", f->dir, (long long)t);
        n_padded += memchr(patch, 0, (size_t)np) != NULL;
        mmrt_error err = {0};
        cr_assert_eq(mmrt_siglip_position_ids(side, patch, ids, &err), MMRT_OK, "%s", err.msg);
        for (int64_t i = 0; i < np; i++)
            cr_assert_eq(ids[i], want_ids[t * np + i], "%s: tile %lld position id %lld: expected %d, got %d",
                         f->dir, (long long)t, (long long)i, want_ids[t * np + i], ids[i]);
    }
    cr_assert(n_padded > 0, "%s: no padded tile", f->dir);

    size_t n_out = (size_t)(n_tiles * np * hp->n_embd);
    float *out = malloc(n_out * sizeof(float));
    cr_assert_not_null(out);
    mmrt_backend *be = backend(n_threads, use_ref);
    mmrt_error err = {0};
    hidden_check hc = {.f = f, .prefix = vis, .n_tiles = n_tiles, .ok = true};
    cr_assert_eq(mmrt_siglip_encode_masked(&f->enc, be, pixels, mask, (int32_t)n_tiles, out, on_hidden, &hc, &err),
                 MMRT_OK, "%s", err.msg);
    cr_assert_eq(hc.n_checked, hp->n_layer + 2, "states reported: %d", hc.n_checked);
    cr_assert(hc.ok, "%s: padded vision states differ from transformers (threads %d, ref ops %d)", f->dir,
              n_threads, use_ref);
    cr_assert_eq(be->n_fallback, 0, "%s: %lld ops fell back to the CPU", f->dir, (long long)be->n_fallback);
    snprintf(name, sizeof name, "%slast_hidden_state", vis);
    const mmrt_st_tensor *last = ref_tensor(f, name);
    char label[700];
    snprintf(label, sizeof label, "%s masked encode output", f->dir);
    cr_assert(mmrt_test_close(label, out, last->data, (int64_t)n_out, TOL), "%s differs", label);

    free(out);
    free(patch);
    free(ids);
    free(pixels);
    free(mask);
    free(want_ids);
    mmrt_backend_free(be);
}

Test(siglip, padded_tiles_match_transformers) {
    char ref[600];
    snprintf(ref, sizeof ref, "%s/siglip-padded/reference.safetensors", MMRT_FIXTURES_DIR);
    fixture f;
    fixture_open_ref(&f, "nosplit", ref);
    check_padded(&f, "", 2, false);
    check_padded(&f, "", 1, true); /* the oracle ops agree too */
    fixture_close(&f);
}

Test(siglip, padded_tiles_of_nonsquare_case_match_transformers) {
    fixture f;
    fixture_open(&f, "nonsquare"); /* p3-m48 geometry, bf16 weights */
    check_padded(&f, "padded.", 2, false);
    fixture_close(&f);
}

/* Ids of a mask with the first nb_h patches of column 0 and the first nb_w of row 0 valid and,
 * when `inner`, every patch off row 0 and column 0 too (else only the top-left nb_h × nb_w),
 * against buckets[nb] from torch. */
static void check_ids_against_table(int64_t side, const cJSON *buckets, int64_t nb_h, int64_t nb_w, bool inner,
                                    uint8_t *mask, int32_t *ids, int64_t *bh, int64_t *bw) {
    const cJSON *rh = cJSON_GetArrayItem(buckets, (int)nb_h), *rw = cJSON_GetArrayItem(buckets, (int)nb_w);
    cr_assert(cJSON_GetArraySize(rh) == side && cJSON_GetArraySize(rw) == side, "side %lld: table row size",
              (long long)side);
    for (int64_t i = 0; i < side; i++) {
        const cJSON *a = cJSON_GetArrayItem(rh, (int)i), *b = cJSON_GetArrayItem(rw, (int)i);
        bh[i] = cJSON_IsNumber(a) ? (int64_t)a->valuedouble : -1; /* null: never seen by a valid patch */
        bw[i] = cJSON_IsNumber(b) ? (int64_t)b->valuedouble : -1;
    }
    for (int64_t h = 0; h < side; h++)
        for (int64_t w = 0; w < side; w++) {
            bool on = h == 0 ? w < nb_w : w == 0 ? h < nb_h : inner || (h < nb_h && w < nb_w);
            mask[h * side + w] = on;
        }
    mmrt_error err = {0};
    cr_assert_eq(mmrt_siglip_position_ids(side, mask, ids, &err), MMRT_OK, "side %lld nb %lld x %lld: %s",
                 (long long)side, (long long)nb_h, (long long)nb_w, err.msg);
    for (int64_t h = 0; h < side; h++)
        for (int64_t w = 0; w < side; w++) {
            int64_t want = mask[h * side + w] ? bh[h] * side + bw[w] : 0;
            cr_assert(bh[h] >= 0 || !mask[h * side + w], "table entry missing");
            cr_assert_eq(ids[h * side + w], want, "side %lld, nb %lld x %lld (inner %d), patch (%lld, %lld): "
                         "expected %lld, got %d", (long long)side, (long long)nb_h, (long long)nb_w, inner,
                         (long long)h, (long long)w, (long long)want, ids[h * side + w]);
        }
}

Test(siglip, position_ids_match_torch_table) {
    char path[600];
    snprintf(path, sizeof path, "%s/siglip-padded/position_buckets.json", MMRT_FIXTURES_DIR);
    cJSON *root = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_json_load_file(path, &root, &err), MMRT_OK, "%s", err.msg);
    const cJSON *all = mmrt_json_find(root, "buckets");
    cr_assert(cJSON_IsObject(all), "%s: no buckets", path);
    int n_sides = 0;
    bool saw_32 = false, saw_8 = false;
    for (const cJSON *e = all->child; e; e = e->next) {
        int64_t side = strtoll(e->string, NULL, 10);
        cr_assert(side >= 2 && side <= 64 && cJSON_GetArraySize(e) == side + 1, "%s: side %s", path, e->string);
        saw_32 |= side == 32, saw_8 |= side == 8;
        uint8_t *mask = malloc((size_t)(side * side));
        int32_t *ids = malloc((size_t)(side * side) * sizeof *ids);
        int64_t *b = malloc((size_t)(2 * side) * sizeof *b);
        cr_assert(mask && ids && b);
        /* every top-left nb_h × nb_w rectangle (what the processor's padding makes) */
        for (int64_t nb_h = 1; nb_h <= side; nb_h++)
            for (int64_t nb_w = 1; nb_w <= side; nb_w++)
                check_ids_against_table(side, e, nb_h, nb_w, false, mask, ids, b, b + side);
        /* the generator's masks: everything valid off row 0 and column 0, so every bucket shows;
         * nb = 0 included (step inf: coordinates inf, clamped) */
        for (int64_t nb = 0; nb <= side; nb++) check_ids_against_table(side, e, nb, nb, true, mask, ids, b, b + side);
        free(mask);
        free(ids);
        free(b);
        n_sides++;
    }
    cr_assert(saw_8 && saw_32 && n_sides >= 4, "%s: %d sides", path, n_sides);
    cJSON_Delete(root);
}

Test(siglip, position_ids_out_of_table_refused) {
    /* 19 and 27 patches per side: torch.arange(1/side, 1, 1/side) has `side` boundaries, so the
     * NaN coordinate of row 0 when column 0 has no valid patch lands in bucket `side`: transformers
     * raises IndexError; a side with side − 1 boundaries (8) gives an id in range. */
    const int64_t sides[] = {19, 27, 8};
    for (int k = 0; k < 3; k++) {
        int64_t side = sides[k];
        uint8_t *mask = calloc((size_t)(side * side), 1);
        int32_t *ids = malloc((size_t)(side * side) * sizeof *ids);
        cr_assert(mask && ids);
        for (int64_t h = 0; h < side; h++)
            for (int64_t w = 2; w < side; w++) mask[h * side + w] = 1; /* columns 2.. valid */
        mmrt_error err = {0};
        mmrt_status st = mmrt_siglip_position_ids(side, mask, ids, &err);
        if (side == 8) {
            cr_assert_eq(st, MMRT_OK, "%s", err.msg);
            cr_assert_eq(ids[2], 7 * 8 + 2, "row 0 of a tile without column 0: id %d", ids[2]);
        } else {
            cr_assert_eq(st, MMRT_ERR_INVALID_ARG, "side %lld: status %d", (long long)side, st);
            cr_assert(strstr(err.msg, "patch (0, 2)") && strstr(err.msg, "IndexError"), "message: %s", err.msg);
        }
        /* the transpose: rows 2.. valid, so row 0 is empty and column 0's coordinate 0 is NaN
         * (ids from torch: side 8 gives 23 at (2, 0) and 63 at (7, 0); 19 and 27 IndexError) */
        memset(mask, 0, (size_t)(side * side));
        memset(mask + 2 * side, 1, (size_t)((side - 2) * side));
        err = (mmrt_error){0};
        st = mmrt_siglip_position_ids(side, mask, ids, &err);
        if (side == 8) {
            cr_assert_eq(st, MMRT_OK, "%s", err.msg);
            cr_assert(ids[2 * 8] == 23 && ids[7 * 8] == 63, "column 0 without row 0: ids %d, %d", ids[16], ids[56]);
        } else {
            cr_assert_eq(st, MMRT_ERR_INVALID_ARG, "side %lld: status %d", (long long)side, st);
            cr_assert(strstr(err.msg, "IndexError"), "message: %s", err.msg);
        }
        free(mask);
        free(ids);
    }
    mmrt_error err = {0};
    cr_assert_eq(mmrt_siglip_position_ids(0, (uint8_t[1]){1}, (int32_t[1]){0}, &err), MMRT_ERR_INVALID_ARG);
}

/* A NULL mask and an all-ones mask are the plain call, bit for bit; an all-zero mask runs (its
 * values are checked against transformers in the siglip-padded fixture's last tile). */
Test(siglip, masked_encode_null_and_full_masks) {
    fixture f;
    fixture_open(&f, "split");
    const mmrt_siglip_hparams *hp = &f.enc.hp;
    const mmrt_st_tensor *px = ref_tensor(&f, "pixel_values");
    int64_t n_tiles = px->shape[0], S = hp->image;
    size_t n_out = (size_t)(n_tiles * hp->n_patch * hp->n_embd);
    float *pixels = copy_of(px);
    float *plain = malloc(n_out * sizeof(float)), *out = malloc(n_out * sizeof(float));
    uint8_t *mask = malloc((size_t)(n_tiles * S * S));
    cr_assert(plain && out && mask);
    mmrt_backend *be = backend(2, false);
    mmrt_error err = {0};
    cr_assert_eq(mmrt_siglip_encode(&f.enc, be, pixels, (int32_t)n_tiles, plain, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_siglip_encode_masked(&f.enc, be, pixels, NULL, (int32_t)n_tiles, out, NULL, NULL, &err),
                 MMRT_OK, "%s", err.msg);
    cr_assert(memcmp(out, plain, n_out * sizeof(float)) == 0, "NULL mask differs from the plain call");
    memset(mask, 1, (size_t)(n_tiles * S * S));
    mask[5] = 0; /* one masked pixel leaves its patch valid */
    cr_assert_eq(mmrt_siglip_encode_masked(&f.enc, be, pixels, mask, (int32_t)n_tiles, out, NULL, NULL, &err),
                 MMRT_OK, "%s", err.msg);
    cr_assert(memcmp(out, plain, n_out * sizeof(float)) == 0, "all-valid mask differs from the plain call");
    memset(mask, 0, (size_t)(n_tiles * S * S));
    cr_assert_eq(mmrt_siglip_encode_masked(&f.enc, be, pixels, mask, (int32_t)n_tiles, out, NULL, NULL, &err),
                 MMRT_OK, "%s", err.msg);
    cr_assert(memcmp(out, plain, n_out * sizeof(float)) != 0, "all-masked tiles give the unmasked output");
    cr_assert_eq(mmrt_siglip_encode_masked(&f.enc, be, NULL, mask, (int32_t)n_tiles, out, NULL, NULL, &err),
                 MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_siglip_encode_masked(&f.enc, be, pixels, mask, 0, out, NULL, NULL, &err),
                 MMRT_ERR_INVALID_ARG);
    free(pixels);
    free(plain);
    free(out);
    free(mask);
    mmrt_backend_free(be);
    fixture_close(&f);
}
