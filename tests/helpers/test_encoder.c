#include "test_encoder.h"

#include "core/strbuf.h"
#include "core/weight_table.h"
#include "fusion/encoder.h"
#include "vision/image.h"

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_encoder {
    mmrt_encoder base;
    mmrt_tensor tok_embd; /* (n_vocab, n_embd), the checkpoint's, in its mapping */
    mmrt_weight_list weights;
    int64_t n_vocab, n_embd;
} test_encoder;

static bool g_enabled;
static const char *g_lora;

int32_t test_encoder_pixel_id(const uint8_t *rgb, int64_t n_vocab) {
    return (int32_t)(((int64_t)rgb[0] + 256 * (int64_t)rgb[1]) % n_vocab);
}

/* One input from n RGB pixels. */
static mmrt_status prepare_pixels(const test_encoder *te, const uint8_t *px, int32_t n, mmrt_media_input *in,
                                  mmrt_error *err) {
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    if (!ids) return mmrt_error_oom(err, sizeof(int32_t) * (size_t)n, "test input");
    mmrt_strbuf b = {0};
    mmrt_status st = MMRT_OK;
    for (int32_t i = 0; i < n && st == MMRT_OK; i++) {
        ids[i] = test_encoder_pixel_id(px + 3 * i, te->n_vocab);
        st = mmrt_strbuf_puts(&b, TEST_ENCODER_TOKEN_TEXT, err);
    }
    in->data = ids;
    if (st == MMRT_OK && !(in->text = mmrt_strbuf_take(&b))) st = mmrt_error_oom(err, 1, "test input");
    mmrt_strbuf_free(&b);
    if (st == MMRT_OK) st = mmrt_sha256_buf(px, 3 * (size_t)n, in->hash, err);
    in->n_tokens = n;
    in->n_steps = 1;
    return st;
}

static mmrt_status prepare(const mmrt_encoder *e, const mmrt_part *part, size_t index,
                           const mmrt_generate_params *params, mmrt_media_input *in, mmrt_error *err) {
    (void)params;
    const test_encoder *te = (const test_encoder *)e;
    if (part->type == MMRT_PART_IMAGE_FILE) { /* the first TEST_ENCODER_FILE_PIXELS pixels of row 0 */
        mmrt_image img = {0};
        mmrt_image_limits lim = mmrt_image_default_limits();
        MMRT_TRY(mmrt_image_load_file(part->text, &lim, &img, err));
        int32_t n = img.width < TEST_ENCODER_FILE_PIXELS ? img.width : TEST_ENCODER_FILE_PIXELS;
        uint8_t rgb[3 * TEST_ENCODER_FILE_PIXELS];
        for (int32_t i = 0; i < n; i++) memcpy(rgb + 3 * i, img.data + (size_t)i * (size_t)img.channels, 3);
        mmrt_image_free(&img);
        return prepare_pixels(te, rgb, n, in, err);
    }
    if (part->type != MMRT_PART_IMAGE_PIXELS || !part->data || part->height != 1 || part->channels != 3 ||
        part->width < 1)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "part %zu: the test encoder takes one row of RGB pixels",
                              index);
    return prepare_pixels(te, part->data, part->width, in, err);
}

static mmrt_status encode(const mmrt_encoder *e, mmrt_backend *be, const mmrt_media_input *in,
                          mmrt_encoder_progress_fn progress, void *user, mmrt_tensor *rows, mmrt_error *err) {
    const test_encoder *te = (const test_encoder *)e;
    const int32_t *ids = in->data;
    size_t row_bytes = (size_t)te->tok_embd.nb[1];
    float *host = malloc(sizeof(float) * (size_t)(in->n_tokens * te->n_embd));
    if (!host) return mmrt_error_oom(err, 0, "test rows");
    for (int64_t i = 0; i < in->n_tokens; i++)
        mmrt_to_f32(te->tok_embd.type, (const char *)te->tok_embd.data + (size_t)ids[i] * row_bytes,
                    host + i * te->n_embd, te->n_embd);
    mmrt_status st =
        test_encoder_upload_rows(be, host, in->n_tokens, te->n_embd, progress, user, "test encoder", rows, err);
    free(host);
    return st;
}

mmrt_status test_encoder_upload_rows(mmrt_backend *be, const float *host, int64_t n_tokens, int64_t n_embd,
                                     mmrt_encoder_progress_fn progress, void *user, const char *who,
                                     mmrt_tensor *rows, mmrt_error *err) {
    mmrt_status st = mmrt_media_rows_alloc(be, n_tokens, n_embd, rows, err);
    if (st == MMRT_OK) st = be->iface->upload(be, rows->data, host, mmrt_tensor_nbytes(rows), err);
    if (st == MMRT_OK) st = be->iface->synchronize(be, err);
    if (st == MMRT_OK && progress && progress(1, user) != 0)
        st = mmrt_error_set(err, MMRT_ERR_ABORTED, "%s stopped by the progress callback", who);
    if (st != MMRT_OK) mmrt_media_rows_free(be, rows);
    return st;
}

static void release(const mmrt_encoder *e, mmrt_media_input *in) {
    (void)e;
    free(in->data);
    in->data = NULL;
}

static void encoder_free(mmrt_encoder *e) {
    test_encoder *te = (test_encoder *)e;
    mmrt_weight_list_free(&te->weights);
    free(te);
}

/* It takes image parts: a model with it says so (what `mmrt chat` checks before /image). */
static void describe(const mmrt_encoder *e, mmrt_model_info *info) {
    (void)e;
    info->vision = true;
}

static const mmrt_encoder_i iface = {
    .prepare = prepare, .encode = encode, .release = release, .describe = describe, .free = encoder_free,
};

static bool matches(const mmrt_encoder_config *cfg) { return g_enabled && strcmp(cfg->model_type, "llama") == 0; }

static const mmrt_weight_decl embd_decl[] = {
    MMRT_WEIGHT(test_encoder, tok_embd, "embed_tokens.weight", 1, 2),
};

static mmrt_status init(const mmrt_encoder_config *cfg, mmrt_encoder **out, mmrt_error *err) {
    int32_t token = mmrt_tokenizer_find(cfg->tok, TEST_ENCODER_TOKEN_TEXT);
    if (token < 0) return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: no %s token", cfg->dir, TEST_ENCODER_TOKEN_TEXT);
    test_encoder *te = calloc(1, sizeof *te);
    if (!te) return mmrt_error_oom(err, sizeof *te, "test encoder");
    te->n_vocab = cfg->text->n_vocab;
    te->n_embd = cfg->text->n_embd;
    const int64_t dims[] = {0, te->n_vocab, te->n_embd};
    mmrt_status st = mmrt_weight_table_bind(cfg->weights, "model.", embd_decl, 1, dims, te, &te->weights, err);
    if (st != MMRT_OK) {
        encoder_free(&te->base);
        return st;
    }
    te->base = (mmrt_encoder){.iface = &iface, .name = "test embeddings", .noun = "row",
                              .part_types = 1u << MMRT_PART_IMAGE_PIXELS | 1u << MMRT_PART_IMAGE_FILE, .stage = MMRT_STAGE_IMAGE_ENCODE,
                              .placeholder = "<image>", .token = token, .lora = g_lora, .impl = te};
    *out = &te->base;
    return MMRT_OK;
}

static const mmrt_encoder_factory factory = {.name = "test", .matches = matches, .init = init};

void test_encoder_register_once(const mmrt_encoder_factory *f, bool *registered) {
    if (*registered) return;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_encoder_register(f, &err), MMRT_OK, "%s", err.msg);
    *registered = true;
}

void test_encoder_enable(bool on) {
    static bool registered;
    test_encoder_register_once(&factory, &registered);
    g_enabled = on;
}

void test_encoder_set_lora(const char *adapter) { g_lora = adapter; }
