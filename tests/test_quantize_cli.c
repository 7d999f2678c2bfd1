/* `mmrt quantize IN OUT.gguf` (fusion/gguf_export.h, cli/cmd_quantize.c):
 *   - a Hugging Face directory written as a GGUF file loads (fusion/gguf_model.h) as IN loads with
 *     the same --quant: every weight bit-identical (norms as F32 of the same values), logits and
 *     greedy tokens identical (math f32), the same token ids and the same chat prompt — for q8_0 and
 *     q4_0 on the GQA tied fixture (hidden 96), q4_0 on the Llama 3 RoPE untied one, and q4_k on a
 *     checkpoint with 256-wide rows written here;
 *   - a GGUF input keeps its KVs (general.file_type updated) and gets the weights --quant gives it;
 *     already quantized tensors are copied as they are;
 *   - the command: --help, progress, exit codes 1 (missing IN, a non-Llama checkpoint, OUT in a
 *     missing directory, naming them) and 2 (an unknown --type, OUT == IN, missing arguments).
 * llama.cpp (optional, never in CI) reading these files was checked by hand with its llama-simple. */
#include "core/backend.h"
#include "core/gguf.h"
#include "core/json.h"
#include "fusion/gguf_export.h"
#include "fusion/gguf_model.h"
#include "fusion/llama.h"
#include "fusion/quantize.h"
#include "helpers/cli_run.h"
#include "helpers/compare.h"
#include "helpers/st_writer.h"
#include "helpers/tmpdir.h"
#include "text/tokenizer.h"

#include <criterion/criterion.h>
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX MMRT_FIXTURES_DIR
#define GQA FIX "/llama/gqa-tied-bf16"
#define LLAMA3 FIX "/llama/llama3-rope-f16"
#define GGUF_F16 FIX "/gguf_llama/untied-f16/model-F16.gguf"

static char *tmp;

static void setup(void) { tmp = tmpdir_make("quantize-cli"); }
static void teardown(void) { tmpdir_remove(tmp); }

TestSuite(quantize_cli, .init = setup, .fini = teardown);

static char *export_to(const char *in, const char *name, mmrt_dtype qt) {
    char *out = tmpdir_path(tmp, name);
    mmrt_gguf_export_params p = {.qtype = qt, .n_threads = 2};
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_export(in, out, &p, &err), MMRT_OK, "%s", err.msg);
    return out;
}

/* ---- one way of loading: IN with --quant, or OUT.gguf ------------------------------------------ */

typedef struct side {
    mmrt_weights *w;
    mmrt_llm_hparams hp;
    mmrt_tokenizer *tok;
    mmrt_chat_template chat;
    mmrt_gguf_model g; /* OUT: owns the parts above */
    bool gguf;
} side;

static void open_hf(side *s, const char *dir, mmrt_dtype qt) {
    memset(s, 0, sizeof *s);
    mmrt_weights *src = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weights_open(dir, &src, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_weights_quantize(src, qt, 2, &s->w, &err), MMRT_OK, "%s", err.msg);
    char *cfg_path = tmpdir_path(dir, "config.json"), *tok_path = tmpdir_path(dir, "tokenizer.json");
    cJSON *cfg = NULL;
    cr_assert_eq(mmrt_json_load_file(cfg_path, &cfg, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_llm_hparams_parse(cfg, cfg_path, &s->hp, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_tokenizer_load(tok_path, &s->tok, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_chat_template_load(dir, false, &s->chat, &err), MMRT_OK, "%s", err.msg);
    cJSON_Delete(cfg);
    free(cfg_path);
    free(tok_path);
}

static void open_out(side *s, const char *path) {
    memset(s, 0, sizeof *s);
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_model_open(path, &s->g, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_llm_hparams_parse(s->g.config, path, &s->hp, &err), MMRT_OK, "%s", err.msg);
    s->w = s->g.weights;
    s->tok = s->g.tok;
    s->chat = s->g.chat;
    s->gguf = true;
}

static void side_free(side *s) {
    if (s->gguf) {
        mmrt_gguf_model_free(&s->g);
        return;
    }
    mmrt_weights_free(s->w);
    mmrt_tokenizer_free(s->tok);
    mmrt_chat_template_free(&s->chat);
}

/* ---- comparisons -------------------------------------------------------------------------------- */

static float *as_f32(const mmrt_st_tensor *t, int64_t n) {
    float *x = malloc(sizeof(float) * (size_t)n);
    cr_assert_not_null(x);
    mmrt_to_f32(t->dtype, t->data, x, n);
    return x;
}

/* Every tensor of want in got under the same name and shape with the same bytes; a 1-D tensor may
 * have become F32 with the same values. Returns how many are quantized. */
static int expect_same_weights(const mmrt_weights *want, const mmrt_weights *got) {
    cr_assert_eq(mmrt_weights_count(got), mmrt_weights_count(want), "%zu tensors, expected %zu",
                 mmrt_weights_count(got), mmrt_weights_count(want));
    int n_quant = 0;
    for (size_t i = 0; i < mmrt_weights_count(want); i++) {
        const mmrt_st_tensor *a = mmrt_weights_at(want, i), *b = mmrt_weights_find(got, a->name);
        cr_assert_not_null(b, "%s missing", a->name);
        cr_assert_eq(b->n_dims, a->n_dims, "%s: %d dims, expected %d", a->name, b->n_dims, a->n_dims);
        for (int d = 0; d < a->n_dims; d++) cr_assert_eq(b->shape[d], a->shape[d], "%s: shape differs", a->name);
        n_quant += mmrt_dtype_is_quant(a->dtype);
        if (a->dtype == b->dtype) {
            cr_assert(a->n_bytes == b->n_bytes && memcmp(a->data, b->data, a->n_bytes) == 0, "%s (%s) differs",
                      a->name, mmrt_dtype_name(a->dtype));
            continue;
        }
        cr_assert(a->n_dims == 1 && b->dtype == MMRT_F32, "%s: %s became %s", a->name, mmrt_dtype_name(a->dtype),
                  mmrt_dtype_name(b->dtype));
        float *x = as_f32(a, a->shape[0]), *y = as_f32(b, a->shape[0]);
        for (int64_t j = 0; j < a->shape[0]; j++) cr_assert_eq(x[j], y[j], "%s[%lld]: %g, expected %g", a->name,
                                                                 (long long)j, y[j], x[j]);
        free(x);
        free(y);
    }
    return n_quant;
}

static const char *const texts[] = {
    "Hello world", "The 2024 numbers: 12345!", "<|im_start|>user\nhi<|im_end|>", "  spaces\tand\nnewlines  ",
    "caf\xc3\xa9 \xe2\x98\x95 na\xc3\xafve",
};

static void encode(const mmrt_tokenizer *tok, const char *text, int32_t **ids, size_t *n) {
    mmrt_error err = {0};
    cr_assert_eq(mmrt_tokenizer_encode(tok, text, strlen(text), true, ids, n, &err), MMRT_OK, "%s", err.msg);
}

static void expect_same_text(const side *a, const side *b) {
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int32_t *x, *y;
        size_t nx, ny;
        encode(a->tok, texts[i], &x, &nx);
        encode(b->tok, texts[i], &y, &ny);
        cr_assert_eq(ny, nx, "\"%s\": %zu tokens, expected %zu", texts[i], ny, nx);
        for (size_t j = 0; j < nx; j++) cr_assert_eq(y[j], x[j], "\"%s\" token %zu: %d, expected %d", texts[i], j, y[j],
                                                     x[j]);
        free(x);
        free(y);
    }
    char *x = NULL, *y = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_chat_render(&a->chat, "Be brief.", "What is 2 + 2?", &x, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_chat_render(&b->chat, "Be brief.", "What is 2 + 2?", &y, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(y, x);
    free(x);
    free(y);
}

static int32_t argmax(const float *x, int64_t n) {
    int32_t best = 0;
    for (int32_t v = 1; v < n; v++)
        if (x[v] > x[best]) best = v;
    return best;
}

typedef struct runner {
    mmrt_llm llm;
    mmrt_backend *be;
    mmrt_llm_state st;
    float *logits;
} runner;

static void runner_open(runner *r, const side *s, int64_t n_ctx) {
    memset(r, 0, sizeof *r);
    mmrt_error err = {0};
    mmrt_backend_params p = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = 2, .math = MMRT_MATH_F32};
    cr_assert_eq(mmrt_llm_init(&r->llm, &s->hp, s->w, "model.", &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_backend_init(&p, &r->be, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_llm_state_init(&r->st, &r->llm, r->be, n_ctx, 0, &err), MMRT_OK, "%s", err.msg);
    r->logits = malloc(sizeof(float) * (size_t)(n_ctx * s->hp.n_vocab));
    cr_assert_not_null(r->logits);
}

static void runner_free(runner *r) {
    free(r->logits);
    mmrt_llm_state_free(&r->st);
    mmrt_backend_free(r->be);
    mmrt_llm_free(&r->llm);
}

static void decode(runner *r, const int32_t *ids, int64_t n) {
    mmrt_error err = {0};
    mmrt_llm_batch b = {.ids = ids, .n_tok = n, .all_logits = true, .logits = r->logits};
    cr_assert_eq(mmrt_llm_decode(&r->llm, &r->st, &b, &err), MMRT_OK, "%s", err.msg);
}

static void expect_same_logits(const char *what, const float *want, const float *got, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        cr_assert(memcmp(&want[i], &got[i], sizeof(float)) == 0, "%s: logit %lld is %.9g, expected %.9g", what,
                  (long long)i, got[i], want[i]);
}

/* The prompt's logits, then 6 greedy steps through the KV cache: identical bits. */
static void expect_same_run(const side *a, const side *b, const char *prompt) {
    int32_t *ids;
    size_t n;
    encode(a->tok, prompt, &ids, &n);
    int64_t n_vocab = a->hp.n_vocab, n_new = 6;
    cr_assert_eq(b->hp.n_vocab, n_vocab);
    runner ra, rb;
    runner_open(&ra, a, (int64_t)n + n_new + 1);
    runner_open(&rb, b, (int64_t)n + n_new + 1);
    decode(&ra, ids, (int64_t)n);
    decode(&rb, ids, (int64_t)n);
    expect_same_logits(prompt, ra.logits, rb.logits, (int64_t)n * n_vocab);
    int32_t tok = argmax(ra.logits + ((int64_t)n - 1) * n_vocab, n_vocab);
    for (int64_t i = 0; i < n_new; i++) {
        decode(&ra, &tok, 1);
        decode(&rb, &tok, 1);
        expect_same_logits(prompt, ra.logits, rb.logits, n_vocab);
        tok = argmax(ra.logits, n_vocab);
    }
    runner_free(&ra);
    runner_free(&rb);
    free(ids);
}

/* OUT.gguf of dir with qt against dir loaded with --quant qt; returns the quantized tensor count. */
static int expect_equivalent(const char *dir, mmrt_dtype qt) {
    char *out = export_to(dir, "out.gguf", qt);
    side a, b;
    open_hf(&a, dir, qt);
    open_out(&b, out);
    int n_quant = expect_same_weights(a.w, b.w);
    mmrt_gguf *g = NULL;
    const char *pre = NULL;
    size_t len = 0;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_open(out, &g, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &len, NULL, &err), MMRT_OK, "%s", err.msg);
    cr_assert(len == 6 && memcmp(pre, "smollm", 6) == 0, "tokenizer.ggml.pre \"%.*s\" (the fixtures' are SmolLM's)",
              (int)len, pre);
    mmrt_gguf_free(g);
    expect_same_text(&a, &b);
    expect_same_run(&a, &b, "The quick brown fox");
    expect_same_run(&a, &b, "<|im_start|>user\n2 + 2 =<|im_end|>");
    side_free(&a);
    side_free(&b);
    free(out);
    return n_quant;
}

Test(quantize_cli, hf_gqa_tied_q8_0) {
    cr_assert_eq(expect_equivalent(GQA, MMRT_Q8_0), 3 * 7, "3 layers x 7 matrices quantized");
}

Test(quantize_cli, hf_gqa_tied_q4_0) { cr_assert_eq(expect_equivalent(GQA, MMRT_Q4_0), 3 * 7); }

Test(quantize_cli, hf_llama3_rope_untied_q4_0) {
    cr_assert_eq(expect_equivalent(LLAMA3, MMRT_Q4_0), 2 * 7 + 1, "2 layers x 7 matrices and lm_head");
}

/* A Llama with 256-wide rows everywhere (Q4_K's super-block), written here: F32 weights. */
static char *write_k256(void) {
    char *dir = tmpdir_mkdir(tmp, "k256");
    free(tmpdir_write_str(dir, "config.json",
                          "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 256,"
                          " \"intermediate_size\": 256, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,"
                          " \"num_key_value_heads\": 1, \"head_dim\": 128, \"vocab_size\": 1024,"
                          " \"max_position_embeddings\": 128, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0,"
                          " \"tie_word_embeddings\": false, \"bos_token_id\": 1, \"eos_token_id\": 2}"));
    free(tmpdir_copy(dir, "tokenizer.json", GQA "/tokenizer.json"));
    free(tmpdir_copy(dir, "tokenizer_config.json", GQA "/tokenizer_config.json"));
    static const struct { const char *name; int64_t rows, cols; } shapes[] = {
        {"model.embed_tokens.weight", 1024, 256}, {"lm_head.weight", 1024, 256},
        {"model.layers.0.self_attn.q_proj.weight", 256, 256}, {"model.layers.0.self_attn.k_proj.weight", 128, 256},
        {"model.layers.0.self_attn.v_proj.weight", 128, 256}, {"model.layers.0.self_attn.o_proj.weight", 256, 256},
        {"model.layers.0.mlp.gate_proj.weight", 256, 256},    {"model.layers.0.mlp.up_proj.weight", 256, 256},
        {"model.layers.0.mlp.down_proj.weight", 256, 256},    {"model.layers.0.input_layernorm.weight", 256, 0},
        {"model.layers.0.post_attention_layernorm.weight", 256, 0}, {"model.norm.weight", 256, 0},
    };
    enum { N = sizeof shapes / sizeof *shapes };
    st_item items[N];
    float *data[N];
    for (size_t i = 0; i < N; i++) {
        int64_t n = shapes[i].rows * (shapes[i].cols ? shapes[i].cols : 1);
        cr_assert_not_null(data[i] = malloc(sizeof(float) * (size_t)n));
        bool norm = shapes[i].cols == 0;
        mmrt_test_fill(data[i], n, 100 + i, norm ? 0.5f : -0.1f, norm ? 1.5f : 0.1f);
        items[i] = (st_item){shapes[i].name, "F32", norm ? 1 : 2, {shapes[i].rows, shapes[i].cols}, data[i],
                             sizeof(float) * (size_t)n};
    }
    free(st_write(dir, "model.safetensors", items, N));
    for (size_t i = 0; i < N; i++) free(data[i]);
    return dir;
}

Test(quantize_cli, hf_k256_q4_k) {
    char *dir = write_k256();
    cr_assert_eq(expect_equivalent(dir, MMRT_Q4_K), 7 + 1, "7 matrices and lm_head");
    free(dir);
}

/* tokenizer.ggml.pre from a tokenizer.json's pipeline: the fixture's (SmolLM's), GPT-2's, Llama 3's
 * (which needs ignore_merges), and none for a normalizer or an unknown pipeline. */
static const char *pre_name_with(const char *pre_json, bool ignore_merges, const char *normalizer_json) {
    cJSON *root = tmpdir_read_json(GQA "/tokenizer.json");
    cr_assert_not_null(root);
    if (pre_json) cJSON_ReplaceItemInObject(root, "pre_tokenizer", cJSON_Parse(pre_json));
    if (normalizer_json) cJSON_ReplaceItemInObject(root, "normalizer", cJSON_Parse(normalizer_json));
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(root, "model"), "ignore_merges", cJSON_CreateBool(ignore_merges));
    const char *name = mmrt_tokenizer_gguf_pre_name(root);
    cJSON_Delete(root);
    return name ? name : "(none)";
}

/* Llama 3's pre_tokenizer as its tokenizer.json writes it (JSON inside a C string). */
#define LLAMA3_REGEX                                                                                 \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}|"                     \
    " ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"
#define LLAMA3_PRE                                                                                   \
    "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"" LLAMA3_REGEX  \
    "\"}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, " \
    "\"trim_offsets\": true, \"use_regex\": false}]}"

Test(quantize_cli, pre_tokenizer_names) {
    cr_assert_str_eq(pre_name_with(NULL, false, NULL), "smollm");
    const char *gpt2 =
        "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}";
    cr_assert_str_eq(pre_name_with(gpt2, false, NULL), "gpt-2");
    cr_assert_str_eq(pre_name_with(LLAMA3_PRE, true, NULL), "llama-bpe");
    cr_assert_str_eq(pre_name_with(LLAMA3_PRE, false, NULL), "(none)", "Llama 3's pipeline ignores merges");
    cr_assert_str_eq(pre_name_with(NULL, false, "{\"type\": \"NFC\"}"), "(none)");
    const char *prefix = "{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"use_regex\": true}";
    cr_assert_str_eq(pre_name_with(prefix, false, NULL), "(none)");
}

/* ---- GGUF input ----------------------------------------------------------------------------------- */

static void expect_kvs_copied(const char *in, const char *out, int64_t file_type) {
    mmrt_gguf *a = NULL, *b = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_open(in, &a, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_gguf_open(out, &b, &err), MMRT_OK, "%s", err.msg);
    for (size_t i = 0; i < mmrt_gguf_kv_count(a); i++) {
        const char *key = mmrt_gguf_kv_key(a, i);
        if (strcmp(key, "general.file_type") == 0) continue;
        int64_t j = mmrt_gguf_find_key(b, key);
        cr_assert(j >= 0, "%s missing", key);
        size_t na, nb;
        const void *ra = mmrt_gguf_kv_raw(a, i, &na), *rb = mmrt_gguf_kv_raw(b, (size_t)j, &nb);
        cr_assert(mmrt_gguf_kv_type(a, i) == mmrt_gguf_kv_type(b, (size_t)j) && na == nb && memcmp(ra, rb, na) == 0,
                  "%s changed", key);
    }
    int64_t ft = -1;
    cr_assert_eq(mmrt_gguf_get_int(b, "general.file_type", &ft, NULL, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(ft, file_type);
    mmrt_gguf_free(a);
    mmrt_gguf_free(b);
}

Test(quantize_cli, gguf_f16_to_q8_0) {
    char *out = export_to(GGUF_F16, "q8.gguf", MMRT_Q8_0);
    mmrt_gguf_model a, b;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_model_open(GGUF_F16, &a, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_gguf_model_open(out, &b, &err), MMRT_OK, "%s", err.msg);
    mmrt_weights *q = NULL;
    cr_assert_eq(mmrt_weights_quantize(a.weights, MMRT_Q8_0, 2, &q, &err), MMRT_OK, "%s", err.msg);
    a.weights = NULL; /* taken over by q */
    cr_assert_eq(expect_same_weights(q, b.weights), 2 * 7 + 1);
    expect_kvs_copied(GGUF_F16, out, 7);
    mmrt_weights_free(q);
    mmrt_gguf_model_free(&a);
    mmrt_gguf_model_free(&b);
    free(out);
}

Test(quantize_cli, quantized_tensors_are_copied_as_they_are) {
    char *q8 = export_to(GGUF_F16, "q8.gguf", MMRT_Q8_0), *q4 = export_to(q8, "q4.gguf", MMRT_Q4_0);
    mmrt_gguf *a = NULL, *b = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_open(q8, &a, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_gguf_open(q4, &b, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_gguf_tensor_count(b), mmrt_gguf_tensor_count(a));
    for (size_t i = 0; i < mmrt_gguf_tensor_count(a); i++) {
        const mmrt_gguf_tensor *x = mmrt_gguf_tensor_at(a, i), *y = mmrt_gguf_find_tensor(b, x->name);
        cr_assert_not_null(y, "%s missing", x->name);
        cr_assert(x->type == y->type && x->n_bytes == y->n_bytes && memcmp(x->data, y->data, x->n_bytes) == 0,
                  "%s changed", x->name);
    }
    mmrt_gguf_free(a);
    mmrt_gguf_free(b);
    expect_kvs_copied(q8, q4, 2);
    free(q8);
    free(q4);
}

/* The public entry: defaults (q8_0), progress on the calling thread, a refused quant. */
static void count_progress(size_t i, size_t n, const char *tensor, const char *type, void *user) {
    size_t *seen = user;
    cr_assert(i == *seen && i < n && tensor && type, "progress %zu of %zu after %zu", i, n, *seen);
    (*seen)++;
}

Test(quantize_cli, public_api) {
    char *out = tmpdir_path(tmp, "api.gguf");
    cr_assert_eq(mmrt_quantize_file(GGUF_F16, out, NULL), MMRT_OK, "%s", mmrt_last_error());
    expect_kvs_copied(GGUF_F16, out, 7);
    mmrt_quantize_params p;
    mmrt_quantize_params_init(&p, sizeof p);
    cr_assert_eq(p.quant, MMRT_QUANT_Q8_0);
    size_t seen = 0;
    p.quant = MMRT_QUANT_Q4_0;
    p.progress = count_progress;
    p.user = &seen;
    cr_assert_eq(mmrt_quantize_file(GQA, out, &p), MMRT_OK, "%s", mmrt_last_error());
    cr_assert_eq(seen, 29, "progress for %zu of the 29 tensors", seen);
    p.quant = MMRT_QUANT_NONE;
    cr_assert_eq(mmrt_quantize_file(GQA, out, &p), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_last_error(), "quant"), "%s", mmrt_last_error());
    free(out);
}

/* ---- the command ------------------------------------------------------------------------------------ */

static void expect_run(const char *args, int rc, const char *say1, const char *say2) {
    result r = run(args);
    cr_assert_eq(r.rc, rc, "mmrt %s: exit %d, expected %d; stderr:\n%s", args, r.rc, rc, r.err);
    cr_assert(!say1 || strstr(r.err, say1) || strstr(r.out, say1), "mmrt %s: \"%s\" not said:\n%s", args, say1, r.err);
    cr_assert(!say2 || strstr(r.err, say2), "mmrt %s: \"%s\" not said:\n%s", args, say2, r.err);
    result_free(&r);
}

Test(quantize_cli, command_writes_with_progress) {
    expect_run("quantize --help", 0, "q8_0", NULL);
    char args[4096];
    snprintf(args, sizeof args, "quantize '%s' '%s/cli.gguf' --type q4_0 -t 2", GQA, tmp);
    expect_run(args, 0, "tensor 1/29 ", "wrote");
    char *out = tmpdir_path(tmp, "cli.gguf");
    mmrt_gguf *g = NULL;
    mmrt_error err = {0};
    int64_t ft = 0;
    cr_assert_eq(mmrt_gguf_open(out, &g, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_gguf_get_int(g, "general.file_type", &ft, NULL, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(ft, 2, "Q4_0 is llama.cpp's file type 2");
    cr_assert_eq(mmrt_gguf_find_tensor(g, "blk.0.attn_q.weight")->type, MMRT_QTYPE_Q4_0);
    mmrt_gguf_free(g);
    free(out);
}

Test(quantize_cli, bad_input) {
    char args[4096];
    snprintf(args, sizeof args, "quantize '%s/absent' '%s/x.gguf'", tmp, tmp);
    expect_run(args, 1, "absent", NULL);
    snprintf(args, sizeof args, "quantize '%s/smolvlm/nosplit' '%s/x.gguf'", FIX, tmp);
    expect_run(args, 1, "idefics3", "llama");
    snprintf(args, sizeof args, "quantize '%s' '%s/no/such/dir/x.gguf'", GQA, tmp);
    expect_run(args, 1, "no/such/dir", "does not exist");
    snprintf(args, sizeof args, "quantize '%s' '%s/x.gguf' --type q5_k", GQA, tmp);
    expect_run(args, 2, "q5_k", NULL);
    snprintf(args, sizeof args, "quantize '%s'", GQA);
    expect_run(args, 2, "missing", NULL);
    expect_run("quantize --bogus", 2, "--bogus", NULL);
}

Test(quantize_cli, out_is_in) {
    char *in = tmpdir_copy(tmp, "in.gguf", GGUF_F16);
    size_t n0 = 0, n1 = 0;
    char *before = tmpdir_read(in, &n0);
    char args[4096];
    snprintf(args, sizeof args, "quantize '%s' '%s'", in, in);
    expect_run(args, 2, "is IN", NULL);
    snprintf(args, sizeof args, "quantize '%s' '%s/./in.gguf'", in, tmp);
    expect_run(args, 2, "the output is the input", NULL);
    char *after = tmpdir_read(in, &n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "IN was changed");
    free(before);
    free(after);
    free(in);
}
