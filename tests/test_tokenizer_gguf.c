/* text/tokenizer_gguf.c against Hugging Face tokenizers 0.23.3: each tokenizer fixture
 * (fixtures/tokenizer/<name>: gpt2, llama3, smollm2) written as the tokenizer.ggml.* keys llama.cpp's
 * converter stores (tokens in id order, token_type 3 for special added tokens and 4 for the others,
 * merges as "a b", the pre-tokenizer by llama.cpp's name), read back by mmrt_tokenizer_load_gguf, and
 * run over the fixture corpus: every encoding and decoding equals HF's in expected.json. This pins
 * the pre-tokenizer names "gpt-2", "llama-bpe" (with Llama 3's ignore_merges) and "smollm" to the
 * pipelines of those tokenizers. GGUF keeps no lstrip / rstrip / single_word flags, so strings that hold
 * an added token with one of them (smollm2's <|mask|> and <|sep|>) are left out. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "core/gguf.h"
#include "helpers/tmpdir.h"
#include "helpers/tokenizer_fixture.h"
#include "text/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tcase {
    const char *fixture, *pre;
} tcase;

static const tcase cases[] = {{"gpt2", "gpt-2"}, {"llama3", "llama-bpe"}, {"smollm2", "smollm"}};
static int case_index[] = {0, 1, 2}; /* parameters are indexes: the test may run in a fresh exec */

/* tokens[id] and types[id] from tokenizer.json's model.vocab and added_tokens. */
static size_t vocab_of(const cJSON *tj, const char ***tokens, int32_t **types) {
    const cJSON *vocab = cJSON_GetObjectItem(cJSON_GetObjectItem(tj, "model"), "vocab");
    const cJSON *added = cJSON_GetObjectItem(tj, "added_tokens");
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) n = (size_t)e->valueint + 1 > n ? (size_t)e->valueint + 1 : n;
    cJSON_ArrayForEach(e, added) {
        size_t id = (size_t)cJSON_GetObjectItem(e, "id")->valueint;
        n = id + 1 > n ? id + 1 : n;
    }
    *tokens = calloc(n, sizeof **tokens);
    *types = malloc(n * sizeof **types);
    for (size_t i = 0; i < n; i++) (*types)[i] = 1;
    cJSON_ArrayForEach(e, vocab)(*tokens)[e->valueint] = e->string;
    cJSON_ArrayForEach(e, added) {
        int id = cJSON_GetObjectItem(e, "id")->valueint;
        (*tokens)[id] = cJSON_GetObjectItem(e, "content")->valuestring;
        (*types)[id] = cJSON_IsTrue(cJSON_GetObjectItem(e, "special")) ? 3 : 4;
    }
    for (size_t i = 0; i < n; i++) cr_assert_not_null((*tokens)[i], "the fixture has no token %zu", i);
    return n;
}

/* model.merges as "a b" strings (tokenizer.json may hold ["a", "b"] pairs). */
static size_t merges_of(const cJSON *tj, char ***merges) {
    const cJSON *list = cJSON_GetObjectItem(cJSON_GetObjectItem(tj, "model"), "merges");
    size_t n = (size_t)cJSON_GetArraySize(list), i = 0;
    *merges = malloc((n ? n : 1) * sizeof **merges);
    const cJSON *m;
    cJSON_ArrayForEach(m, list) {
        if (cJSON_IsString(m)) {
            (*merges)[i++] = strdup(m->valuestring);
            continue;
        }
        const char *a = cJSON_GetArrayItem(m, 0)->valuestring, *b = cJSON_GetArrayItem(m, 1)->valuestring;
        char *s = malloc(strlen(a) + strlen(b) + 2);
        sprintf(s, "%s %s", a, b);
        (*merges)[i++] = s;
    }
    return n;
}

/* Whether s holds an added token of the fixture with a flag GGUF cannot carry. */
static bool has_flagged_token(const cJSON *tj, const char *s) {
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(tj, "added_tokens")) {
        bool flagged = cJSON_IsTrue(cJSON_GetObjectItem(a, "lstrip")) || cJSON_IsTrue(cJSON_GetObjectItem(a, "rstrip")) ||
                       cJSON_IsTrue(cJSON_GetObjectItem(a, "single_word"));
        if (flagged && strstr(s, cJSON_GetObjectItem(a, "content")->valuestring)) return true;
    }
    return false;
}

/* The fixture's tokenizer as a GGUF file (KVs only) in dir; its path. */
static char *write_gguf(const tcase *c, const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/tokenizer.json", TOKFX_DIR, c->fixture);
    cJSON *tj = tokfx_read_json(path);
    const char **tokens;
    int32_t *types;
    char **merges;
    size_t n = vocab_of(tj, &tokens, &types), n_merges = merges_of(tj, &merges);
    mmrt_gguf_writer *w = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_writer_new(&w, &err), MMRT_OK);
    cr_assert_eq(mmrt_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", 4, &err), MMRT_OK);
    cr_assert_eq(mmrt_gguf_writer_set_str(w, "tokenizer.ggml.pre", c->pre, strlen(c->pre), &err), MMRT_OK);
    cr_assert_eq(mmrt_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, n, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, n, &err), MMRT_OK);
    cr_assert_eq(mmrt_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, n_merges, &err),
                 MMRT_OK);
    char *out = tmpdir_path(dir, "tokenizer.gguf");
    cr_assert_eq(mmrt_gguf_writer_write(w, out, &err), MMRT_OK, "%s", err.msg);
    mmrt_gguf_writer_free(w);
    for (size_t i = 0; i < n_merges; i++) free(merges[i]);
    free(merges);
    free(tokens);
    free(types);
    cJSON_Delete(tj);
    return out;
}

ParameterizedTestParameters(tokenizer_gguf, corpus) {
    return cr_make_param_array(int, case_index, sizeof case_index / sizeof *case_index);
}

ParameterizedTest(int *ci, tokenizer_gguf, corpus) {
    const tcase *c = &cases[*ci];
    char *dir = tmpdir_make("tokenizer-gguf");
    char *path = write_gguf(c, dir);
    mmrt_gguf *g = NULL;
    mmrt_tokenizer *tok = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_open(path, &g, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_tokenizer_load_gguf(g, &tok, &err), MMRT_OK, "%s", err.msg);
    mmrt_gguf_free(g); /* the tokenizer keeps nothing of the file */
    cJSON *corpus = tokfx_read_json(TOKFX_DIR "/corpus.json");
    cJSON *exp = tokfx_load_expected(c->fixture);
    char tj_path[512];
    snprintf(tj_path, sizeof tj_path, "%s/%s/tokenizer.json", TOKFX_DIR, c->fixture);
    cJSON *tj = tokfx_read_json(tj_path);
    size_t n_bad = 0, i = 0, n_left_out = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(exp, "cases")) {
        const char *s = cJSON_GetArrayItem(corpus, (int)i)->valuestring;
        if (has_flagged_token(tj, s)) {
            n_left_out++;
            i++;
            continue;
        }
        size_t n_want, n_got, dl;
        int32_t *want = tokfx_json_ids(cJSON_GetObjectItem(e, "ids"), &n_want), *got;
        tokfx_encode_ok(tok, s, strlen(s), true, &got, &n_got);
        char t[256];
        tokfx_expect_ids(&n_bad, want, n_want, got, n_got, "%s (pre %s): corpus[%zu] \"%s\"", c->fixture, c->pre, i,
                         tokfx_fmt_str(t, sizeof t, s, strlen(s)));
        const char *want_text = tokfx_get_str(e, "decoded");
        char *text = tokfx_decode_ok(tok, want, n_want, false, &dl);
        tokfx_expect_bytes(&n_bad, want_text, strlen(want_text), text, dl, "%s: case %zu decode", c->fixture, i);
        free(text);
        free(want);
        free(got);
        i++;
    }
    cr_assert(i > 0 && n_bad == 0, "%s: %zu mismatches over %zu strings", c->fixture, n_bad, i - n_left_out);
    cr_assert(n_left_out < i / 10, "%s: %zu of %zu strings left out", c->fixture, n_left_out, i);
    cJSON_Delete(tj);
    cJSON_Delete(corpus);
    cJSON_Delete(exp);
    mmrt_tokenizer_free(tok);
    free(path);
    tmpdir_remove(dir);
}

/* The same vocabulary under another pipeline gives other tokens: the name is not ignored. */
Test(tokenizer_gguf, pre_name_matters) {
    tcase c = {"llama3", "gpt-2"};
    char *dir = tmpdir_make("tokenizer-gguf");
    char *path = write_gguf(&c, dir);
    mmrt_gguf *g = NULL;
    mmrt_tokenizer *tok = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_gguf_open(path, &g, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_tokenizer_load_gguf(g, &tok, &err), MMRT_OK, "%s", err.msg);
    cJSON *corpus = tokfx_read_json(TOKFX_DIR "/corpus.json");
    cJSON *exp = tokfx_load_expected("llama3");
    size_t differ = 0, i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(exp, "cases")) {
        const char *s = cJSON_GetArrayItem(corpus, (int)i++)->valuestring;
        size_t n_want, n_got;
        int32_t *want = tokfx_json_ids(cJSON_GetObjectItem(e, "ids"), &n_want), *got;
        tokfx_encode_ok(tok, s, strlen(s), true, &got, &n_got);
        differ += !tokfx_ids_equal(want, n_want, got, n_got);
        free(want);
        free(got);
    }
    cr_assert(differ > 0, "the GPT-2 split gave Llama 3's tokens on every string");
    cJSON_Delete(corpus);
    cJSON_Delete(exp);
    mmrt_tokenizer_free(tok);
    mmrt_gguf_free(g);
    free(path);
    tmpdir_remove(dir);
}
