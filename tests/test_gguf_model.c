/* Llama GGUF files as models (fusion/gguf_model.h, text/tokenizer_gguf.c), on every file of
 * tests/fixtures/gguf_llama (llama.cpp's own converter and quantizer, tools/fixtures_gguf.py):
 *   - the tokenizer built from tokenizer.ggml.* gives transformers' ids for the fixture's strings and
 *     prompts, and has the vocabulary, special tokens and texts of the checkpoint's tokenizer.json;
 *   - every weight, read through the model's HF names and dequantized, is the GGUF tensor's rows in
 *     Hugging Face order (q/k un-permuted), bit for bit, with the type the fixture records; the F16
 *     and BF16 conversions of one checkpoint agree to bf16's rounding;
 *   - logits (math f32, on the test device: the CPU, or CUDA as test_cuda_gguf_model in the emulated
 *     build) within 1e-4 x max|ref| of transformers on the dequantized weights, and the greedy
 *     tokens equal up to a step whose top-2 margin is within the tolerance;
 *   - mmrt_model_load of a .gguf path (and of a directory holding one) reports it, and its chat
 *     template renders the fixture's chat prompt;
 *   - hostile files (another architecture, a missing or misshapen tensor, an unknown pre-tokenizer,
 *     missing tokenizer keys, an unreadable tensor type, an unknown tensor) are refused naming the file.
 * The HF checkpoint's own tensors are not in the fixture (its GGUFs hold them); transformers' logits
 * were computed from the GGUF weights un-permuted by the generator, which pins the permutation. */
#include "core/gguf.h"
#include "core/json.h"
#include "core/quant.h"
#include "fusion/gguf_model.h"
#include "fusion/llama.h"
#include "helpers/compare.h"
#include "helpers/test_device.h"
#include "helpers/tmpdir.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGIT_TOL 1e-4

typedef struct gcase {
    const char *dir, *tag; /* tests/fixtures/gguf_llama/<dir>/model-<tag>.gguf */
} gcase;

static gcase all_cases[] = {
    {"untied-f16", "F16"}, {"untied-f16", "BF16"}, {"tied-k256", "Q8_0"},   {"tied-k256", "Q4_0"},
    {"tied-k256", "Q4_1"}, {"tied-k256", "Q4_K_M"}, {"tied-k256", "Q5_K_S"}, {"tied-k256", "Q6_K"},
    {"untied-f16", "Q5_0"}, {"untied-f16", "Q5_1"}, /* 32-wide rows: llama.cpp's Q5_0/Q5_1 ftypes */
};

#define N_CASES (sizeof all_cases / sizeof *all_cases)

/* Criterion passes parameters to a test process that may be a fresh exec of this binary: indexes,
 * not pointers. */
static int case_index[N_CASES] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

static void case_path(const gcase *c, const char *file, char *out, size_t cap) {
    if (file) snprintf(out, cap, "%s/gguf_llama/%s/%s", MMRT_FIXTURES_DIR, c->dir, file);
    else snprintf(out, cap, "%s/gguf_llama/%s/model-%s.gguf", MMRT_FIXTURES_DIR, c->dir, c->tag);
}

static void open_model(const gcase *c, mmrt_gguf_model *m) {
    char path[1024];
    case_path(c, NULL, path, sizeof path);
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_model_open(path, m, &err), MMRT_OK, "%s: %s", path, err.msg);
}

static cJSON *reference_json(const gcase *c) {
    char path[1024];
    case_path(c, "reference.json", path, sizeof path);
    return tmpdir_read_json(path);
}

static void ids_of(const cJSON *arr, int32_t **ids, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(arr);
    *ids = malloc((*n ? *n : 1) * sizeof **ids);
    for (size_t i = 0; i < *n; i++) (*ids)[i] = (int32_t)cJSON_GetArrayItem(arr, (int)i)->valueint;
}

static void expect_tokens(const mmrt_tokenizer *tok, const char *what, const char *text, const cJSON *want_arr) {
    int32_t *want, *got = NULL;
    size_t n_want, n_got = 0;
    ids_of(want_arr, &want, &n_want);
    mmrt_error err = {0};
    cr_assert_eq(mmrt_tokenizer_encode(tok, text, strlen(text), true, &got, &n_got, &err), MMRT_OK, "%s", err.msg);
    for (size_t i = 0; i < n_want || i < n_got; i++)
        cr_assert(i < n_want && i < n_got && got[i] == want[i],
                  "%s \"%s\": token %zu: expected %d, got %d (%zu vs %zu tokens)", what, text, i,
                  i < n_want ? want[i] : -1, i < n_got ? got[i] : -1, n_want, n_got);
    free(want);
    free(got);
}

ParameterizedTestParameters(gguf_model, tokenizer) {
    return cr_make_param_array(int, case_index, N_CASES);
}

ParameterizedTest(int *ci, gguf_model, tokenizer) {
    const gcase *c = &all_cases[*ci];
    mmrt_gguf_model m;
    open_model(c, &m);
    cJSON *ref = reference_json(c);
    const cJSON *row;
    cJSON_ArrayForEach(row, mmrt_json_find(ref, "tokenizer_check"))
        expect_tokens(m.tok, c->tag, mmrt_json_find(row, "text")->valuestring, mmrt_json_find(row, "ids"));
    static const char *const prompts[] = {"raw", "chat"};
    for (int p = 0; p < 2; p++) {
        const cJSON *pr = mmrt_json_find(mmrt_json_find(ref, "prompts"), prompts[p]);
        expect_tokens(m.tok, prompts[p], mmrt_json_find(pr, "text")->valuestring, mmrt_json_find(pr, "ids"));
    }
    /* the same vocabulary, specials and texts as the checkpoint's tokenizer.json */
    char path[1024];
    case_path(c, "tokenizer.json", path, sizeof path);
    mmrt_tokenizer *hf = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_tokenizer_load(path, &hf, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_tokenizer_n_vocab(m.tok), mmrt_tokenizer_n_vocab(hf));
    for (int32_t id = 0; id < mmrt_tokenizer_n_vocab(hf); id++) {
        cr_assert_str_eq(mmrt_tokenizer_token_text(m.tok, id), mmrt_tokenizer_token_text(hf, id), "token %d", id);
        cr_assert_eq(mmrt_tokenizer_is_special(m.tok, id), mmrt_tokenizer_is_special(hf, id), "token %d special", id);
    }
    mmrt_tokenizer_free(hf);
    cJSON_Delete(ref);
    mmrt_gguf_model_free(&m);
}

/* ---- weights ------------------------------------------------------------------------------------ */

static const char *const gguf_names[][2] = {
    {"token_embd.weight", "model.embed_tokens.weight"}, {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
    {"attn_norm.weight", "input_layernorm.weight"},     {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},       {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},  {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},        {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};

/* The HF name of a GGUF tensor, written independently of the loader's table. */
static void hf_name(const char *gguf, char *out, size_t cap) {
    int layer = -1, used = 0;
    const char *rest = gguf;
    if (sscanf(gguf, "blk.%d.%n", &layer, &used) == 1) rest = gguf + used;
    for (size_t i = 0; i < sizeof gguf_names / sizeof *gguf_names; i++)
        if (strcmp(rest, gguf_names[i][0]) == 0) {
            if (layer >= 0) snprintf(out, cap, "model.layers.%d.%s", layer, gguf_names[i][1]);
            else snprintf(out, cap, "%s", gguf_names[i][1]);
            return;
        }
    cr_assert_fail("unexpected tensor %s in the fixture", gguf);
}

/* The GGUF row holding HF row r of a q/k projection with n_head heads of d rows (see
 * tools/fixtures_gguf.py's PERMUTE_DOC: GGUF row h*d + 2i + j = HF row h*d + j*(d/2) + i). */
static int64_t gguf_row(int64_t r, int64_t d) {
    int64_t h = r / d, j = (r % d) / (d / 2), i = (r % d) % (d / 2);
    return h * d + 2 * i + j;
}

static float *dequant(mmrt_qtype type, const void *data, int64_t rows, int64_t k) {
    float *out = malloc(sizeof(float) * (size_t)(rows * k));
    size_t rb = mmrt_qtype_row_bytes(type, k);
    mmrt_error err = {0};
    for (int64_t r = 0; r < rows; r++)
        cr_assert_eq(mmrt_dequantize_row(type, (const uint8_t *)data + r * rb, out + r * k, k, &err), MMRT_OK, "%s",
                     err.msg);
    return out;
}

/* Weight `hf` of m dequantized, (rows, k) in *rows / *k. */
static float *model_weight(const mmrt_gguf_model *m, const char *hf, int64_t *rows, int64_t *k) {
    const mmrt_st_tensor *t = mmrt_weights_find(m->weights, hf);
    cr_assert_not_null(t, "weight %s missing", hf);
    *k = t->shape[t->n_dims - 1];
    *rows = t->n_dims == 2 ? t->shape[0] : 1;
    return dequant((mmrt_qtype)mmrt_dtype_qtype(t->dtype), t->data, *rows, *k);
}

static void check_tensor(const mmrt_gguf_model *m, const mmrt_gguf_tensor *t, const cJSON *types, int64_t heads[2]) {
    char hf[128];
    hf_name(t->name, hf, sizeof hf);
    const mmrt_st_tensor *w = mmrt_weights_find(m->weights, hf);
    cr_assert_not_null(w, "%s: no weight %s", t->name, hf);
    cr_assert_eq(w->n_dims, t->n_dims, "%s: dims", hf);
    for (int d = 0; d < t->n_dims; d++) cr_assert_eq(w->shape[d], t->ne[t->n_dims - 1 - d], "%s: shape[%d]", hf, d);
    const char *want_type = mmrt_json_find(mmrt_json_find(types, t->name), "type")->valuestring;
    cr_assert_str_eq(mmrt_dtype_name(w->dtype), want_type, "%s: dtype", hf);
    int64_t rows, k;
    float *got = model_weight(m, hf, &rows, &k);
    float *raw = dequant(t->type, t->data, rows, k);
    int64_t n_head = strstr(t->name, "attn_q.") ? heads[0] : strstr(t->name, "attn_k.") ? heads[1] : 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t src = n_head ? gguf_row(r, rows / n_head) : r;
        cr_assert(memcmp(got + r * k, raw + src * k, sizeof(float) * (size_t)k) == 0,
                  "%s row %lld: not GGUF row %lld of %s", hf, (long long)r, (long long)src, t->name);
    }
    free(got);
    free(raw);
}

ParameterizedTestParameters(gguf_model, weights) {
    return cr_make_param_array(int, case_index, N_CASES);
}

ParameterizedTest(int *ci, gguf_model, weights) {
    const gcase *c = &all_cases[*ci];
    mmrt_gguf_model m;
    open_model(c, &m);
    char path[1024];
    case_path(c, NULL, path, sizeof path);
    mmrt_gguf *g = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_open(path, &g, &err), MMRT_OK, "%s", err.msg);
    cJSON *ref = reference_json(c);
    const cJSON *entry = mmrt_json_find(mmrt_json_find(ref, "gguf"), c->tag);
    int64_t heads[2];
    cr_assert_eq(mmrt_json_get_int(m.config, "num_attention_heads", true, 0, 1, 1 << 20, &heads[0], "cfg", &err),
                 MMRT_OK);
    cr_assert_eq(mmrt_json_get_int(m.config, "num_key_value_heads", true, 0, 1, 1 << 20, &heads[1], "cfg", &err),
                 MMRT_OK);
    cr_assert_eq(mmrt_weights_count(m.weights), mmrt_gguf_tensor_count(g), "one weight per GGUF tensor");
    for (size_t i = 0; i < mmrt_gguf_tensor_count(g); i++)
        check_tensor(&m, mmrt_gguf_tensor_at(g, i), mmrt_json_find(entry, "tensors"), heads);
    cJSON_Delete(ref);
    mmrt_gguf_free(g);
    mmrt_gguf_model_free(&m);
}

/* F16 and BF16 round the same f32 checkpoint: every weight agrees to bf16's half ulp plus f16's. */
Test(gguf_model, f16_and_bf16_agree) {
    mmrt_gguf_model a, b;
    open_model(&all_cases[0], &a);
    open_model(&all_cases[1], &b);
    cr_assert_eq(mmrt_weights_count(a.weights), mmrt_weights_count(b.weights));
    for (size_t i = 0; i < mmrt_weights_count(a.weights); i++) {
        const char *name = mmrt_weights_at(a.weights, i)->name;
        int64_t rows, k, rows_b, k_b;
        float *x = model_weight(&a, name, &rows, &k), *y = model_weight(&b, name, &rows_b, &k_b);
        cr_assert(rows == rows_b && k == k_b, "%s: shapes differ", name);
        for (int64_t j = 0; j < rows * k; j++)
            cr_assert(fabsf(x[j] - y[j]) <= fabsf(x[j]) * (1.0f / 256 + 1.0f / 2048) + 1e-7f,
                      "%s[%lld]: F16 %g, BF16 %g", name, (long long)j, x[j], y[j]);
        free(x);
        free(y);
    }
    mmrt_gguf_model_free(&a);
    mmrt_gguf_model_free(&b);
}

/* ---- logits and greedy tokens ----------------------------------------------------------------- */

typedef struct run_ctx {
    const gcase *c;
    mmrt_gguf_model m;
    mmrt_llm_hparams hp;
    mmrt_llm llm;
    mmrt_weights *ref;
    mmrt_backend *wbe;       /* holds the uploaded weights on CUDA (else NULL: the mmap) */
    mmrt_weight_upload up;
    mmrt_backend *be;        /* the session's: forked from wbe on CUDA, else a CPU backend */
} run_ctx;

static void run_open(run_ctx *r, const gcase *c) {
    memset(r, 0, sizeof *r);
    r->c = c;
    open_model(c, &r->m);
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_hparams_parse(r->m.config, "gguf config", &r->hp, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_llm_init(&r->llm, &r->hp, r->m.weights, "model.", &err), MMRT_OK, "%s", err.msg);
    char path[1024];
    case_path(c, "reference.safetensors", path, sizeof path);
    cr_assert_eq(mmrt_weights_open(path, &r->ref, &err), MMRT_OK, "%s", err.msg);
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = 2, .math = MMRT_MATH_F32};
    if (!test_on_cuda()) {
        cr_assert_eq(mmrt_backend_init(&p, &r->be, &err), MMRT_OK, "%s", err.msg);
        return;
    }
    /* on the CUDA test device the weights go up once, as mmrt_model_load does (block formats raw) */
    p.device = MMRT_DEVICE_KIND_CUDA;
    cr_assert_eq(mmrt_backend_init(&p, &r->wbe, &err), MMRT_OK, "%s", err.msg);
    mmrt_weight_upload_init(&r->up, r->wbe, p.math);
    cr_assert_eq(mmrt_llm_upload(&r->llm, &r->up, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_weight_upload_finish(&r->up, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_backend_fork(r->wbe, &r->be, &err), MMRT_OK, "%s", err.msg);
}

static void run_close(run_ctx *r) {
    mmrt_backend_free(r->be);
    mmrt_weight_upload_free(&r->up);
    mmrt_backend_free(r->wbe);
    mmrt_weights_free(r->ref);
    mmrt_llm_free(&r->llm);
    mmrt_gguf_model_free(&r->m);
}

static const mmrt_st_tensor *ref_tensor(const run_ctx *r, const char *tag, const char *prompt, const char *what) {
    char name[128];
    if (tag) snprintf(name, sizeof name, "%s.%s.%s", tag, prompt, what);
    else snprintf(name, sizeof name, "%s.%s", prompt, what);
    const mmrt_st_tensor *t = mmrt_weights_find(r->ref, name);
    cr_assert_not_null(t, "reference %s missing", name);
    return t;
}

static int32_t argmax(const float *x, int64_t n) {
    int32_t best = 0;
    for (int32_t v = 1; v < n; v++)
        if (x[v] > x[best]) best = v;
    return best;
}

/* The prompt's logits (last rows as the reference keeps them), then its greedy tokens through the KV
 * cache, compared up to the first step whose reference margin is within 2 x the logit tolerance. */
static void check_prompt(run_ctx *r, const char *prompt) {
    const mmrt_st_tensor *ids = ref_tensor(r, NULL, prompt, "input_ids");
    const mmrt_st_tensor *want = ref_tensor(r, r->c->tag, prompt, "logits");
    const mmrt_st_tensor *greedy = ref_tensor(r, r->c->tag, prompt, "greedy_ids");
    const mmrt_st_tensor *margins = ref_tensor(r, r->c->tag, prompt, "greedy_margins");
    int64_t n = ids->shape[0], n_last = want->shape[0], n_vocab = r->hp.n_vocab, n_new = greedy->shape[0];
    mmrt_llm_state st;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_state_init(&st, &r->llm, r->be, n + n_new + 1, 0, &err), MMRT_OK, "%s", err.msg);
    float *logits = malloc(sizeof(float) * (size_t)(n * n_vocab));
    mmrt_llm_batch b = {.ids = ids->data, .n_tok = n, .all_logits = true, .logits = logits};
    cr_assert_eq(mmrt_llm_decode(&r->llm, &st, &b, &err), MMRT_OK, "%s", err.msg);
    char what[256];
    snprintf(what, sizeof what, "%s %s logits", r->c->tag, prompt);
    const float *ref = want->data;
    cr_assert(mmrt_test_close(what, logits + (n - n_last) * n_vocab, ref, n_last * n_vocab, LOGIT_TOL), "%s", what);
    float max_ref = 0;
    for (int64_t i = 0; i < n_last * n_vocab; i++) max_ref = fmaxf(max_ref, fabsf(ref[i]));
    const int32_t *expect = greedy->data;
    const float *margin = margins->data;
    int32_t tok = argmax(logits + (n - 1) * n_vocab, n_vocab);
    for (int64_t i = 0; i < n_new; i++) {
        if (tok != expect[i]) {
            cr_assert(margin[i] < 2 * LOGIT_TOL * max_ref, "%s greedy token %lld: expected %d, got %d (margin %g)",
                      what, (long long)i, expect[i], tok, margin[i]);
            break; /* a near tie within the tolerance: the sequences may part here */
        }
        mmrt_llm_batch next = {.ids = &tok, .n_tok = 1, .logits = logits};
        cr_assert_eq(mmrt_llm_decode(&r->llm, &st, &next, &err), MMRT_OK, "%s", err.msg);
        tok = argmax(logits, n_vocab);
    }
    test_assert_no_fallback(r->be, what);
    free(logits);
    mmrt_llm_state_free(&st);
}

ParameterizedTestParameters(gguf_model, logits) {
    return cr_make_param_array(int, case_index, N_CASES);
}

ParameterizedTest(int *ci, gguf_model, logits) {
    const gcase *c = &all_cases[*ci];
    run_ctx r;
    run_open(&r, c);
    check_prompt(&r, "raw");
    check_prompt(&r, "chat");
    run_close(&r);
}

/* ---- through the public API ------------------------------------------------------------------- */

static mmrt_model *load_public(const char *path) {
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = MMRT_DEVICE_CPU;
    mp.math = MMRT_MATH_F32;
    mmrt_model *model = NULL;
    cr_assert_eq(mmrt_model_load(path, &mp, &model), MMRT_OK, "%s: %s", path, mmrt_last_error());
    return model;
}

Test(gguf_model, model_load_and_info) {
    static const char *const dtypes[N_CASES] = {"F16",   "BF16",  "Q8_0",  "mixed", "mixed",
                                                "mixed", "mixed", "Q6_K",  "mixed", "mixed"};
    for (size_t i = 0; i < N_CASES; i++) {
        char path[1024];
        case_path(&all_cases[i], NULL, path, sizeof path);
        mmrt_model *model = load_public(path);
        mmrt_model_info info = {.size = sizeof info};
        cr_assert_eq(mmrt_model_get_info(model, &info), MMRT_OK);
        cr_assert_str_eq(info.architecture, "llama");
        cr_assert_str_eq(info.dtype, dtypes[i], "%s: dtype", path);
        cr_assert_str_eq(info.chat_format, "jinja");
        cr_assert_eq(info.tied_embeddings, strcmp(all_cases[i].dir, "tied-k256") == 0, "%s: tied", path);
        cr_assert_eq(info.n_vocab, 288);
        mmrt_model_free(model);
    }
}

Test(gguf_model, directory_with_one_gguf) {
    char *dir = tmpdir_make("gguf-model");
    char src[1024];
    case_path(&all_cases[0], NULL, src, sizeof src);
    free(tmpdir_copy(dir, "model-F16.gguf", src));
    mmrt_model_free(load_public(dir));
    /* two of them: not a GGUF directory, so a checkpoint directory without config.json */
    free(tmpdir_copy(dir, "other.gguf", src));
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = MMRT_DEVICE_CPU;
    mmrt_model *model = NULL;
    cr_assert_neq(mmrt_model_load(dir, &mp, &model), MMRT_OK);
    cr_assert(strstr(mmrt_last_error(), "config.json"), "%s", mmrt_last_error());
    tmpdir_remove(dir);
}

Test(gguf_model, chat_template_and_special_ids) {
    mmrt_gguf_model m;
    open_model(&all_cases[2], &m);
    cJSON *ref = reference_json(&all_cases[2]);
    const cJSON *raw = mmrt_json_find(mmrt_json_find(ref, "prompts"), "raw");
    const cJSON *chat = mmrt_json_find(mmrt_json_find(ref, "prompts"), "chat");
    char *out = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_chat_render(&m.chat, NULL, mmrt_json_find(raw, "text")->valuestring, &out, &err), MMRT_OK,
                 "%s", err.msg);
    cr_assert_str_eq(out, mmrt_json_find(chat, "text")->valuestring);
    free(out);
    cr_assert_str_eq(cJSON_GetObjectItem(m.chat.vars, "bos_token")->valuestring, "<|im_start|>");
    cr_assert_str_eq(cJSON_GetObjectItem(m.chat.vars, "eos_token")->valuestring, "<|im_end|>");
    mmrt_llm_hparams hp;
    cr_assert_eq(mmrt_llm_hparams_parse(m.config, "cfg", &hp, &err), MMRT_OK, "%s", err.msg);
    cr_assert(hp.bos_id == 1 && hp.n_eos == 1 && hp.eos_ids[0] == 2, "bos %lld, eos %lld (%d)", (long long)hp.bos_id,
              (long long)hp.eos_ids[0], hp.n_eos);
    cr_assert(hp.tie_embeddings && hp.head_dim == 64 && hp.n_head_kv == 2 && hp.n_ctx_train == 256);
    cJSON_Delete(ref);
    mmrt_gguf_model_free(&m);
}

/* ---- hostile files ---------------------------------------------------------------------------- */

/* A copy of the F16 fixture with one thing changed. */
typedef struct variant {
    const char *drop_key;
    const char *str_key, *str_val; /* a string KV replaced (added when absent) */
    const char *drop_tensor;
    const char *halve_tensor;      /* written with half its rows */
    const char *q81_tensor;        /* written as Q8_1 (a type mmrt does not compute with) */
    const char *extra_tensor;      /* an extra F32 tensor of 32 elements (or extra_n of extra_data) */
    const float *extra_data;
    int64_t extra_n;
    const char *u32_key; /* a u32 KV added */
    uint32_t u32_val;
} variant;

static void set_variant_kvs(mmrt_gguf_writer *w, const mmrt_gguf *g, const variant *v) {
    mmrt_error err = {0};
    bool replaced = false;
    for (size_t i = 0; i < mmrt_gguf_kv_count(g); i++) {
        const char *key = mmrt_gguf_kv_key(g, i);
        if (v->drop_key && strcmp(key, v->drop_key) == 0) continue;
        if (v->str_key && strcmp(key, v->str_key) == 0) {
            cr_assert_eq(mmrt_gguf_writer_set_str(w, key, v->str_val, strlen(v->str_val), &err), MMRT_OK, "%s", err.msg);
            replaced = true;
        } else {
            cr_assert_eq(mmrt_gguf_writer_copy_kv(w, g, i, &err), MMRT_OK, "%s", err.msg);
        }
    }
    if (v->str_key && !replaced)
        cr_assert_eq(mmrt_gguf_writer_set_str(w, v->str_key, v->str_val, strlen(v->str_val), &err), MMRT_OK);
    if (v->u32_key) cr_assert_eq(mmrt_gguf_writer_set_u32(w, v->u32_key, v->u32_val, &err), MMRT_OK);
}

static char *write_variant(const char *dir, const variant *v) {
    char src[1024];
    case_path(&all_cases[0], NULL, src, sizeof src);
    mmrt_gguf *g = NULL;
    mmrt_gguf_writer *w = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_open(src, &g, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_gguf_writer_new(&w, &err), MMRT_OK);
    set_variant_kvs(w, g, v);
    static float extra[32];
    void *q81 = NULL;
    for (size_t i = 0; i < mmrt_gguf_tensor_count(g); i++) {
        const mmrt_gguf_tensor *t = mmrt_gguf_tensor_at(g, i);
        int64_t ne[MMRT_GGUF_MAX_DIMS];
        memcpy(ne, t->ne, sizeof ne);
        mmrt_qtype type = t->type;
        const void *data = t->data;
        if (v->drop_tensor && strcmp(t->name, v->drop_tensor) == 0) continue;
        if (v->halve_tensor && strcmp(t->name, v->halve_tensor) == 0) ne[1] /= 2;
        if (v->q81_tensor && strcmp(t->name, v->q81_tensor) == 0) {
            type = MMRT_QTYPE_Q8_1; /* llama.cpp's activation format: never a weight mmrt reads */
            data = q81 = calloc(1, mmrt_qtype_row_bytes(type, ne[0]) * (size_t)ne[1]);
        }
        cr_assert_eq(mmrt_gguf_writer_add_tensor(w, t->name, type, t->n_dims, ne, data, &err), MMRT_OK, "%s", err.msg);
    }
    if (v->extra_tensor) {
        int64_t ne[1] = {v->extra_data ? v->extra_n : 32};
        const float *data = v->extra_data ? v->extra_data : extra;
        cr_assert_eq(mmrt_gguf_writer_add_tensor(w, v->extra_tensor, MMRT_QTYPE_F32, 1, ne, data, &err), MMRT_OK);
    }
    char *path = tmpdir_path(dir, "hostile.gguf");
    cr_assert_eq(mmrt_gguf_writer_write(w, path, &err), MMRT_OK, "%s", err.msg);
    free(q81);
    mmrt_gguf_writer_free(w);
    mmrt_gguf_free(g);
    return path;
}

/* Loading the variant fails with status want and a message naming the file and each of says[]. */
static void expect_refused(const variant *v, mmrt_status want, const char *say1, const char *say2) {
    char *dir = tmpdir_make("gguf-hostile");
    char *path = write_variant(dir, v);
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = MMRT_DEVICE_CPU;
    mmrt_model *model = (mmrt_model *)0x1;
    mmrt_status st = mmrt_model_load(path, &mp, &model);
    const char *msg = mmrt_last_error();
    cr_assert_eq(st, want, "status %s, want %s: %s", mmrt_status_str(st), mmrt_status_str(want), msg);
    cr_assert_null(model);
    cr_assert(strstr(msg, path), "message does not name the file: %s", msg);
    cr_assert(strstr(msg, say1), "message does not say \"%s\": %s", say1, msg);
    cr_assert(!say2 || strstr(msg, say2), "message does not say \"%s\": %s", say2, msg);
    free(path);
    tmpdir_remove(dir);
}

Test(gguf_model, missing_file) {
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = MMRT_DEVICE_CPU;
    mmrt_model *model = NULL;
    /* a name ending in .gguf is a file, never a Hugging Face repo id to download */
    mmrt_status st = mmrt_model_load("no-such-org/model.gguf", &mp, &model);
    cr_assert_eq(st, MMRT_ERR_IO, "%s: %s", mmrt_status_str(st), mmrt_last_error());
    cr_assert(strstr(mmrt_last_error(), "no-such-org/model.gguf"), "%s", mmrt_last_error());
}

Test(gguf_model, hostile_architecture) {
    expect_refused(&(variant){.str_key = "general.architecture", .str_val = "qwen2"}, MMRT_ERR_UNSUPPORTED,
                   "\"qwen2\"", "supported: llama");
}

Test(gguf_model, hostile_tensors) {
    expect_refused(&(variant){.drop_tensor = "blk.1.ffn_up.weight"}, MMRT_ERR_MODEL, "layers.1.mlp.up_proj", NULL);
    expect_refused(&(variant){.halve_tensor = "blk.0.attn_v.weight"}, MMRT_ERR_MODEL, "v_proj", NULL);
    expect_refused(&(variant){.q81_tensor = "blk.0.attn_v.weight"}, MMRT_ERR_UNSUPPORTED, "blk.0.attn_v.weight",
                   "q8_1");
    expect_refused(&(variant){.extra_tensor = "blk.0.attn_q.bias"}, MMRT_ERR_MODEL, "blk.0.attn_q.bias", NULL);
    expect_refused(&(variant){.extra_tensor = "blk.2.attn_norm.weight"}, MMRT_ERR_MODEL, "blk.2.attn_norm.weight", NULL);
    /* q with a row count that is not whole heads of even size cannot be un-permuted */
    expect_refused(&(variant){.halve_tensor = "blk.0.attn_k.weight", .str_key = "general.name", .str_val = "x"},
                   MMRT_ERR_MODEL, "k_proj", NULL);
}

Test(gguf_model, hostile_keys) {
    expect_refused(&(variant){.drop_key = "llama.embedding_length"}, MMRT_ERR_MODEL, "llama.embedding_length", NULL);
    expect_refused(&(variant){.str_key = "tokenizer.ggml.pre", .str_val = "nonsense"}, MMRT_ERR_UNSUPPORTED,
                   "\"nonsense\"", "smollm");
    expect_refused(&(variant){.str_key = "tokenizer.ggml.model", .str_val = "llama"}, MMRT_ERR_UNSUPPORTED,
                   "SentencePiece", "gpt2");
    expect_refused(&(variant){.drop_key = "tokenizer.ggml.tokens"}, MMRT_ERR_MODEL, "tokenizer.ggml.tokens", NULL);
    expect_refused(&(variant){.drop_key = "tokenizer.ggml.merges"}, MMRT_ERR_MODEL, "tokenizer.ggml.merges", NULL);
    expect_refused(&(variant){.drop_key = "tokenizer.ggml.pre"}, MMRT_ERR_MODEL, "tokenizer.ggml.pre", NULL);
}

/* ---- Llama 3 RoPE scaling (rope_freqs.weight) ---------------------------------------------------- */

/* What convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors stores for head size d. */
static void llama3_divisors(float *out, int64_t d, double base, double factor, double orig) {
    for (int64_t i = 0; i < d / 2; i++) {
        double wavelen = 2 * M_PI * pow(base, (double)(2 * i) / (double)d);
        double smooth = (orig / wavelen - 1.0) / (4.0 - 1.0);
        out[i] = (float)(wavelen < orig / 4 ? 1.0 : wavelen > orig ? factor : 1.0 / ((1 - smooth) / factor + smooth));
    }
}

Test(gguf_model, llama3_rope_from_rope_freqs) {
    float div[4]; /* head_dim 8 of the F16 fixture; with original context 1024 one divisor is smoothed */
    llama3_divisors(div, 8, 10000.0, 8.0, 1024.0);
    cr_assert(div[0] == 1.0f && div[2] > 1.0f && div[2] < 8.0f && div[3] == 8.0f, "the case covers every branch");
    variant v = {.extra_tensor = "rope_freqs.weight", .extra_data = div, .extra_n = 4,
                 .u32_key = "llama.rope.scaling.original_context_length", .u32_val = 1024};
    char *dir = tmpdir_make("gguf-rope");
    char *path = write_variant(dir, &v);
    mmrt_gguf_model m;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_model_open(path, &m, &err), MMRT_OK, "%s", err.msg);
    mmrt_llm_hparams hp;
    cr_assert_eq(mmrt_llm_hparams_parse(m.config, path, &hp, &err), MMRT_OK, "%s", err.msg);
    cr_assert(hp.rope_type == MMRT_ROPE_LLAMA3 && hp.rope_factor == 8.0 && hp.rope_orig_ctx == 1024);
    float inv[4], attn_factor;
    mmrt_llm_rope_inv_freq(&hp, inv, &attn_factor);
    for (int i = 0; i < 4; i++) {
        double want = 1.0 / pow(10000.0, (double)(2 * i) / 8.0) / div[i];
        cr_assert(fabs(inv[i] - want) <= 1e-6 * want, "inv_freq[%d]: expected %g, got %g", i, want, inv[i]);
    }
    mmrt_gguf_model_free(&m);
    free(path);
    tmpdir_remove(dir);
    div[2] = 3.0f; /* not Llama 3's smoothing */
    expect_refused(&v, MMRT_ERR_UNSUPPORTED, "rope_freqs.weight", "Llama 3");
}
