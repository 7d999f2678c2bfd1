/* Quantizing a checkpoint's decoder weights at load (fusion/quantize.h): which tensors change,
 * their bytes (those of core/quant.h's reference quantizer, checked against gguf-py and llama.cpp in
 * test_quant), and what stays. */
#include "core/quant.h"
#include "fusion/quantize.h"

#include <criterion/criterion.h>
#include <mmrt.h>
#include <stdlib.h>
#include <string.h>

static mmrt_weights *quantized(const char *fixture, mmrt_dtype qt) {
    mmrt_weights *src = NULL, *q = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weights_open(fixture, &src, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_weights_quantize(src, qt, 2, &q, &err), MMRT_OK, "%s", err.msg);
    return q;
}

static bool is_linear(const char *name) {
    return strstr(name, "_proj.weight") != NULL || strcmp(name, "lm_head.weight") == 0;
}

/* Row r of t quantized by hand equals the stored row. */
static void check_row(const mmrt_st_tensor *orig, const mmrt_st_tensor *q, int64_t r, mmrt_qtype qt) {
    int64_t k = orig->shape[1];
    float *f = malloc(sizeof(float) * (size_t)k);
    size_t rb = mmrt_qtype_row_bytes(qt, k);
    unsigned char *want = malloc(rb);
    cr_assert(f && want);
    mmrt_to_f32(orig->dtype, (const char *)orig->data + (size_t)r * (size_t)k * mmrt_dtype_size(orig->dtype), f, k);
    mmrt_error err = {0};
    cr_assert_eq(mmrt_quantize_row(qt, f, want, k, &err), MMRT_OK, "%s", err.msg);
    cr_assert(memcmp(want, (const char *)q->data + (size_t)r * rb, rb) == 0, "%s row %lld differs", q->name, (long long)r);
    free(f);
    free(want);
}

Test(quantize, q8_0_quantizes_every_decoder_linear_layer_and_nothing_else) {
    const char *dir = MMRT_FIXTURES_DIR "/llama/gqa-tied-bf16";
    mmrt_weights *orig = NULL, *q = quantized(dir, MMRT_Q8_0);
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weights_open(dir, &orig, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_weights_count(q), mmrt_weights_count(orig));
    int n_quant = 0;
    for (size_t i = 0; i < mmrt_weights_count(orig); i++) {
        const mmrt_st_tensor *o = mmrt_weights_at(orig, i), *t = mmrt_weights_find(q, o->name);
        cr_assert_not_null(t, "%s missing", o->name);
        cr_assert_eq(t->n_dims, o->n_dims);
        for (int d = 0; d < o->n_dims; d++) cr_assert_eq(t->shape[d], o->shape[d], "%s: shape changed", o->name);
        if (!is_linear(o->name)) {
            cr_assert_eq(t->dtype, o->dtype, "%s: %s became %s", o->name, mmrt_dtype_name(o->dtype), mmrt_dtype_name(t->dtype));
            cr_assert(t->n_bytes == o->n_bytes && memcmp(t->data, o->data, o->n_bytes) == 0, "%s changed", o->name);
            continue;
        }
        cr_assert_eq(t->dtype, MMRT_Q8_0, "%s is %s", o->name, mmrt_dtype_name(t->dtype));
        cr_assert_eq(t->n_bytes, mmrt_qtype_row_bytes(MMRT_QTYPE_Q8_0, o->shape[1]) * (size_t)o->shape[0]);
        check_row(o, t, 0, MMRT_QTYPE_Q8_0);
        check_row(o, t, o->shape[0] - 1, MMRT_QTYPE_Q8_0);
        n_quant++;
    }
    cr_assert_eq(n_quant, 3 * 7, "%d linear layers quantized (3 layers x 7)", n_quant);
    cr_assert_eq(mmrt_weights_find(q, "model.embed_tokens.weight")->dtype, MMRT_BF16, "the embeddings stay 16-bit");
    mmrt_weights_free(orig);
    mmrt_weights_free(q);
}

Test(quantize, rows_not_a_multiple_of_the_block_keep_their_dtype) {
    /* hidden 96: Q4_K's 256-weight blocks do not fit any row */
    mmrt_weights *q = quantized(MMRT_FIXTURES_DIR "/llama/gqa-tied-bf16", MMRT_Q4_K);
    for (size_t i = 0; i < mmrt_weights_count(q); i++)
        cr_assert_eq(mmrt_weights_at(q, i)->dtype, MMRT_BF16, "%s", mmrt_weights_at(q, i)->name);
    mmrt_weights_free(q);
}

Test(quantize, an_untied_lm_head_is_quantized_too) {
    mmrt_weights *q = quantized(MMRT_FIXTURES_DIR "/llama/llama3-rope-f16", MMRT_Q4_0);
    const mmrt_st_tensor *t = mmrt_weights_find(q, "lm_head.weight");
    cr_assert_not_null(t);
    cr_assert_eq(t->dtype, MMRT_Q4_0);
    mmrt_weights_free(q);
}

Test(quantize, type_names) {
    mmrt_dtype t;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_quant_type_parse("Q4_K", &t, &err), MMRT_OK);
    cr_assert_eq(t, MMRT_Q4_K);
    cr_assert_eq(mmrt_quant_type_parse("q8_0", &t, &err), MMRT_OK);
    cr_assert_eq(t, MMRT_Q8_0);
    cr_assert_eq(mmrt_quant_type_parse("q5_k", &t, &err), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(err.msg, "q5_k") && strstr(err.msg, "q4_0"), "%s", err.msg);
}

/* Through the public API: the model reports the format, and the default math computes it as
 * llama.cpp does; an unknown quantization is refused. */
Test(quantize, model_load_with_quant) {
    unsetenv("MMRT_MATH"); /* the suites pin f32; here the default itself is under test */
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    cr_assert_eq(mp.quant, MMRT_QUANT_NONE);
    mp.quant = MMRT_QUANT_Q4_0;
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(MMRT_FIXTURES_DIR "/llama/gqa-tied-bf16", &mp, &m), MMRT_OK, "%s", mmrt_last_error());
    mmrt_model_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    cr_assert_eq(mmrt_model_get_info(m, &info), MMRT_OK);
    cr_assert_str_eq(info.dtype, "Q4_0");
    cr_assert_eq(info.math, MMRT_MATH_INT8);
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, NULL, &s), MMRT_OK, "%s", mmrt_last_error());
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 8;
    mmrt_generate_result r;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    cr_assert_eq(mmrt_session_generate(s, "hello", &gp, &r), MMRT_OK, "%s", mmrt_session_last_error(s));
    cr_assert_eq(r.n_generated, 8);
    mmrt_session_free(s);
    mmrt_model_free(m);
    mp.quant = (mmrt_quant)7;
    cr_assert_eq(mmrt_model_load(MMRT_FIXTURES_DIR "/llama/gqa-tied-bf16", &mp, &m), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_last_error(), "quant"), "%s", mmrt_last_error());
}
