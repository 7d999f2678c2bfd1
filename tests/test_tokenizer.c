/* text/tokenizer against Hugging Face tokenizers 0.23.3: the fixture corpus in both directions,
 * streaming, invalid UTF-8, the small API, concurrency and malformed files. Expectations that were
 * produced with HF for variants of the fixtures (special tokens, pre-tokenizer variants, long
 * inputs; fixtures/tokenizer/pipelines.json) are checked in test_tokenizer_hf.c.
 *
 * fixtures/tokenizer/corpus.json holds hard strings; fixtures/tokenizer/<name>/expected.json what
 * HF produced for each (ids with add_special_tokens=False, decode with and without
 * skip_special_tokens) plus invalid-UTF-8 inputs.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "helpers/tmpdir.h"
#include "helpers/tokenizer_fixture.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------- */

/* Each check runs one fixture tokenizer over its expected.json and returns the mismatches. */
static size_t check_encode(const char *name) {
    mmrt_tokenizer *tok = tokfx_load_named(name);
    cJSON *corpus = tokfx_read_json(TOKFX_DIR "/corpus.json");
    cJSON *exp = tokfx_load_expected(name);
    const cJSON *cases = cJSON_GetObjectItem(exp, "cases");
    cr_assert_eq(cJSON_GetArraySize(cases), cJSON_GetArraySize(corpus));
    size_t n_bad = 0, i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *s = cJSON_GetArrayItem(corpus, (int)i)->valuestring;
        size_t n_exp, n_got;
        int32_t *want = tokfx_json_ids(cJSON_GetObjectItem(c, "ids"), &n_exp), *got;
        tokfx_encode_ok(tok, s, strlen(s), true, &got, &n_got);
        char t[256];
        tokfx_expect_ids(&n_bad, want, n_exp, got, n_got, "%s: corpus[%zu] \"%s\"", name, i,
                         tokfx_fmt_str(t, sizeof t, s, strlen(s)));
        free(want);
        free(got);
        i++;
    }
    cJSON_Delete(corpus);
    cJSON_Delete(exp);
    mmrt_tokenizer_free(tok);
    return n_bad;
}

/* decode() against HF, and the stream against decode() with every chunk whole characters. */
static size_t check_decode(const char *name) {
    mmrt_tokenizer *tok = tokfx_load_named(name);
    cJSON *exp = tokfx_load_expected(name);
    size_t n_bad = 0, i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(exp, "cases")) {
        size_t n;
        int32_t *ids = tokfx_json_ids(cJSON_GetObjectItem(c, "ids"), &n);
        for (int skip = 0; skip < 2; skip++) {
            const char *want = tokfx_get_str(c, skip ? "decoded_skip" : "decoded");
            size_t dl, sl, bad_chunks = 0;
            char *whole = tokfx_decode_ok(tok, ids, n, skip, &dl);
            char *streamed = tokfx_stream_all(tok, ids, n, skip, &sl, &bad_chunks);
            tokfx_expect_bytes(&n_bad, want, strlen(want), whole, dl,
                               "%s: case %zu decode (skip_special=%d)", name, i, skip);
            tokfx_expect_bytes(&n_bad, whole, dl, streamed, sl,
                               "%s: case %zu stream (skip_special=%d)", name, i, skip);
            if (bad_chunks && n_bad++ < TOKFX_MAX_SHOWN)
                fprintf(stderr, "%s: case %zu: %zu stream chunks were not whole characters\n", name,
                        i, bad_chunks);
            free(whole);
            free(streamed);
        }
        free(ids);
        i++;
    }
    cJSON_Delete(exp);
    mmrt_tokenizer_free(tok);
    return n_bad;
}

static size_t b64_decode(const char *in, uint8_t *out) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(tab, *in);
        cr_assert_not_null(p, "bad base64 character '%c'", *in);
        acc = acc << 6 | (uint32_t)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o;
}

static size_t check_invalid_utf8(const char *name) {
    mmrt_tokenizer *tok = tokfx_load_named(name);
    cJSON *exp = tokfx_load_expected(name);
    const cJSON *cases = cJSON_GetObjectItem(exp, "invalid_utf8");
    cr_assert_gt(cJSON_GetArraySize(cases), 0, "no invalid_utf8 cases in the fixture");
    size_t n_bad = 0, i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *b64 = tokfx_get_str(c, "bytes_b64"), *dec64 = tokfx_get_str(c, "decoded_b64");
        uint8_t *raw = malloc(strlen(b64) + 1), *want_dec = malloc(strlen(dec64) + 1);
        size_t n_raw = b64_decode(b64, raw), n_want_dec = b64_decode(dec64, want_dec);
        size_t n_exp, n_got, dl;
        int32_t *want = tokfx_json_ids(cJSON_GetObjectItem(c, "ids"), &n_exp), *got;
        tokfx_encode_ok(tok, (const char *)raw, n_raw, true, &got, &n_got);
        char *dec = tokfx_decode_ok(tok, got, n_got, false, &dl);
        tokfx_expect_ids(&n_bad, want, n_exp, got, n_got, "%s: invalid_utf8[%zu] (%s) ids", name, i,
                         b64);
        tokfx_expect_bytes(&n_bad, (const char *)want_dec, n_want_dec, dec, dl,
                           "%s: invalid_utf8[%zu] (%s) decode", name, i, b64);
        free(raw);
        free(want_dec);
        free(want);
        free(got);
        free(dec);
        i++;
    }
    cJSON_Delete(exp);
    mmrt_tokenizer_free(tok);
    return n_bad;
}

static const char *const fixture_names[] = {"smollm2", "gpt2", "llama3"};

typedef struct corpus_check {
    const char *what;
    size_t (*fn)(const char *name);
} corpus_check;

static const corpus_check corpus_checks[] = {
    {"encode", check_encode},
    {"decode/stream", check_decode},
    {"invalid UTF-8", check_invalid_utf8},
};

/* One test per (check, tokenizer). Criterion re-executes the test binary per test, so parameters
 * are indices, not pointers. */
#define N_NAMES (sizeof fixture_names / sizeof *fixture_names)
#define N_RUNS (N_NAMES * sizeof corpus_checks / sizeof *corpus_checks)

ParameterizedTestParameters(tokenizer_corpus, matches_hf) {
    static size_t idx[N_RUNS];
    for (size_t i = 0; i < N_RUNS; i++) idx[i] = i;
    return cr_make_param_array(size_t, idx, N_RUNS);
}

ParameterizedTest(size_t *i, tokenizer_corpus, matches_hf) {
    const corpus_check *c = &corpus_checks[*i / N_NAMES];
    const char *name = fixture_names[*i % N_NAMES];
    size_t n_bad = c->fn(name);
    cr_assert_eq(n_bad, 0, "%s %s: %zu mismatches with HF", name, c->what, n_bad);
}

/* ---------------------------------------------------------------------------------------------- */

Test(tokenizer_api, getters_match_fixture) {
    mmrt_tokenizer *tok = tokfx_load_named("smollm2");
    cJSON *exp = tokfx_load_expected("smollm2");
    int32_t n_vocab = mmrt_tokenizer_n_vocab(tok);
    cr_assert_eq(n_vocab, (int32_t)cJSON_GetObjectItem(exp, "vocab_size_with_added")->valuedouble);
    size_t n_bad = 0;
    for (int32_t id = 0; id < n_vocab; id++) {
        const char *t = mmrt_tokenizer_token_text(tok, id);
        if ((!t || mmrt_tokenizer_find(tok, t) != id) && n_bad++ < TOKFX_MAX_SHOWN)
            fprintf(stderr, "id %d: text %s finds %d\n", id, t ? t : "(null)",
                    t ? mmrt_tokenizer_find(tok, t) : -2);
    }
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(exp, "added_tokens")) {
        int32_t id = (int32_t)cJSON_GetObjectItem(a, "id")->valuedouble;
        const char *content = cJSON_GetObjectItem(a, "content")->valuestring;
        bool special = cJSON_IsTrue(cJSON_GetObjectItem(a, "special"));
        if ((mmrt_tokenizer_find(tok, content) != id ||
             mmrt_tokenizer_is_special(tok, id) != special) &&
            n_bad++ < TOKFX_MAX_SHOWN)
            fprintf(stderr, "added token %s: expected id %d special %d\n", content, id, special);
    }
    cr_expect_eq(mmrt_tokenizer_find(tok, "no-such-token-\x01"), -1);
    cr_expect_null(mmrt_tokenizer_token_text(tok, -1));
    cr_expect_null(mmrt_tokenizer_token_text(tok, n_vocab));
    cr_expect(!mmrt_tokenizer_is_special(tok, n_vocab));
    cJSON_Delete(exp);
    mmrt_tokenizer_free(tok);
    cr_assert_eq(n_bad, 0, "%zu getter mismatches", n_bad);
}

Test(tokenizer_api, bad_ids_are_rejected) {
    mmrt_tokenizer *tok = tokfx_load_named("gpt2");
    int32_t n_vocab = mmrt_tokenizer_n_vocab(tok);
    const int32_t bad[][2] = {{5, n_vocab}, {-1, 5}, {5, INT32_MAX}};
    for (int i = 0; i < 3; i++) {
        mmrt_error err = {0};
        char *text = NULL;
        size_t len = 0;
        mmrt_status st = mmrt_tokenizer_decode(tok, bad[i], 2, false, &text, &len, &err);
        cr_expect_eq(st, MMRT_ERR_INVALID_ARG, "case %d: status %d", i, st);
        cr_expect_null(text);
        cr_expect(strstr(err.msg, "token id") != NULL, "message: %s", err.msg);
    }
    mmrt_detok *d = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_detok_init(tok, false, &d, &err), MMRT_OK);
    const char *out;
    size_t len;
    cr_expect_eq(mmrt_detok_push(d, n_vocab, &out, &len, &err), MMRT_ERR_INVALID_ARG);
    cr_expect(strstr(err.msg, "token id") != NULL, "message: %s", err.msg);
    mmrt_detok_free(d);
    mmrt_tokenizer_free(tok);
}

/* Byte-level tokens of single bytes let a stream cut characters anywhere. */
static int32_t byte_token(const mmrt_tokenizer *tok, uint8_t b) {
    /* GPT-2 bytes_to_unicode, written out independently of the library. */
    uint32_t cp = b;
    if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
        uint32_t k = 0;
        for (uint32_t x = 0; x < b; x++)
            if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE)) k++;
        cp = 0x100 + k;
    }
    char s[5] = {0};
    mmrt_utf8_encode(cp, s);
    int32_t id = mmrt_tokenizer_find(tok, s);
    cr_assert_geq(id, 0, "no token for byte 0x%02x", b);
    return id;
}

Test(tokenizer_api, stream_holds_partial_characters) {
    mmrt_tokenizer *tok = tokfx_load_named("llama3");
    mmrt_detok *d = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_detok_init(tok, false, &d, &err), MMRT_OK);
    /* € = E2 82 AC; then E2 41 (invalid: U+FFFD then A); then F0 9F + flush (one U+FFFD). */
    const struct {
        uint8_t byte;
        const char *want; /* NULL: flush */
    } steps[] = {
        {0xE2, ""},
        {0x82, ""},
        {0xAC, "\xe2\x82\xac"},
        {0xE2, ""},
        {0x41, "\xef\xbf\xbd"
               "A"},
        {0xF0, ""},
        {0x9F, ""},
        {0, "\xef\xbf\xbd"},
        {0, ""},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        const char *out;
        size_t len;
        bool flush = i >= 7;
        mmrt_status st = flush
                             ? mmrt_detok_flush(d, &out, &len, &err)
                             : mmrt_detok_push(d, byte_token(tok, steps[i].byte), &out, &len, &err);
        cr_assert_eq(st, MMRT_OK, "%s", err.msg);
        cr_assert_str_eq(out, steps[i].want, "step %zu", i);
        cr_assert_eq(len, strlen(steps[i].want), "step %zu", i);
    }
    mmrt_detok_free(d);
    mmrt_tokenizer_free(tok);
}

/* Random id sequences (any vocab entry, including lone continuation bytes and specials): the
 * stream must match decode() exactly and never emit a partial character. */
Test(tokenizer_api, stream_matches_decode_on_random_ids) {
    mmrt_tokenizer *tok = tokfx_load_named("smollm2");
    int32_t n_vocab = mmrt_tokenizer_n_vocab(tok);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    size_t n_bad = 0, bad_chunks = 0;
    for (int t = 0; t < 3000; t++) {
        int32_t ids[16];
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = 1 + (rng >> 60);
        for (size_t i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            /* Half the time a single byte token, to split characters often. */
            ids[i] = (rng >> 63) ? byte_token(tok, (uint8_t)(rng >> 20))
                                 : (int32_t)((rng >> 33) % (uint64_t)n_vocab);
        }
        bool skip = t & 1;
        size_t dl, sl;
        char *whole = tokfx_decode_ok(tok, ids, n, skip, &dl);
        char *streamed = tokfx_stream_all(tok, ids, n, skip, &sl, &bad_chunks);
        char c[256];
        tokfx_expect_bytes(&n_bad, whole, dl, streamed, sl, "stream of ids %s (want: decode)",
                           tokfx_fmt_ids(c, sizeof c, ids, n));
        if (!mmrt_utf8_valid(whole, dl)) n_bad++;
        free(whole);
        free(streamed);
    }
    mmrt_tokenizer_free(tok);
    cr_assert_eq(bad_chunks, 0, "%zu chunks were not whole characters", bad_chunks);
    cr_assert_eq(n_bad, 0, "%zu random sequences stream differently from decode", n_bad);
}

/* ---------------------------------------------------------------------------------------------- */

typedef struct thread_job {
    const mmrt_tokenizer *tok;
    const cJSON *corpus, *cases;
    size_t n_bad;
} thread_job;

static void *encode_corpus(void *arg) {
    thread_job *job = arg;
    for (int rep = 0; rep < 3; rep++) {
        int i = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, job->cases) {
            const char *s = cJSON_GetArrayItem(job->corpus, i++)->valuestring;
            size_t n_exp, n_got;
            int32_t *want = tokfx_json_ids(cJSON_GetObjectItem(c, "ids"), &n_exp), *got = NULL;
            if (mmrt_tokenizer_encode(job->tok, s, strlen(s), true, &got, &n_got, NULL) !=
                    MMRT_OK ||
                !tokfx_ids_equal(want, n_exp, got, n_got))
                job->n_bad++;
            free(want);
            free(got);
        }
    }
    return NULL;
}

Test(tokenizer_api, concurrent_encode) {
    mmrt_tokenizer *tok = tokfx_load_named("llama3");
    cJSON *corpus = tokfx_read_json(TOKFX_DIR "/corpus.json");
    cJSON *exp = tokfx_load_expected("llama3");
    thread_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){tok, corpus, cJSON_GetObjectItem(exp, "cases"), 0};
        cr_assert_eq(pthread_create(&th[i], NULL, encode_corpus, &jobs[i]), 0);
    }
    size_t n_bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        n_bad += jobs[i].n_bad;
    }
    cJSON_Delete(corpus);
    cJSON_Delete(exp);
    mmrt_tokenizer_free(tok);
    cr_assert_eq(n_bad, 0, "%zu encodes differed under concurrency", n_bad);
}

/* ---------------------------------------------------------------------------------------------- */

typedef struct bad_file {
    const char *name;    /* file name in the temp dir; NULL content: never created */
    const char *content; /* NULL: use `truncate_fixture` bytes of the smollm2 fixture */
    size_t truncate_fixture;
    mmrt_status status;
    const char *word; /* must appear in the message, beside the path */
} bad_file;

static const bad_file bad_files[] = {
    {"not_json.json", "this is not json {", 0, MMRT_ERR_BAD_FORMAT, "JSON"},
    {"empty.json", "", 0, MMRT_ERR_BAD_FORMAT, "empty"},
    {"truncated.json", NULL, 4000, MMRT_ERR_BAD_FORMAT, "JSON"},
    {"array.json", "[1, 2]", 0, MMRT_ERR_BAD_FORMAT, "object"},
    {"no_model.json", "{\"version\": \"1.0\", \"added_tokens\": []}", 0, MMRT_ERR_BAD_FORMAT,
     "model"},
    {"wordpiece.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", 0,
     MMRT_ERR_UNSUPPORTED, "WordPiece"},
    {"unigram.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}", 0,
     MMRT_ERR_UNSUPPORTED, "Unigram"},
    {"merge_unknown.json",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, "
     "\"merges\": [\"a b\", \"a c\"]}}",
     0, MMRT_ERR_BAD_FORMAT, "unknown token \"c\""},
    {"merge_result_unknown.json",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", "
     "\"b\"]]}}",
     0, MMRT_ERR_BAD_FORMAT, "unknown token \"ab\""},
    {"merge_malformed.json",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}}", 0,
     MMRT_ERR_BAD_FORMAT, "merges[0]"},
    {"dup_id.json",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", 0,
     MMRT_ERR_BAD_FORMAT, "duplicate id"},
    {"neg_id.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", 0,
     MMRT_ERR_BAD_FORMAT, "out of range"},
    {"huge_id.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 4e9}, \"merges\": []}}", 0,
     MMRT_ERR_BAD_FORMAT, "out of range"},
    {"str_id.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"0\"}, \"merges\": []}}",
     0, MMRT_ERR_BAD_FORMAT, "not a number"},
    {"added_bad_id.json",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
     "\"added_tokens\": [{\"id\": -3, \"content\": \"<x>\"}]}",
     0, MMRT_ERR_BAD_FORMAT, "added_tokens[0]"},
    {"nfc.json",
     "{\"normalizer\": {\"type\": \"NFC\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, "
     "\"merges\": []}}",
     0, MMRT_ERR_UNSUPPORTED, "NFC"},
    {"metaspace.json",
     "{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, "
     "\"merges\": []}}",
     0, MMRT_ERR_UNSUPPORTED, "Metaspace"},
    {"bad_regex.json",
     "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(unclosed\"}, "
     "\"behavior\": \"Isolated\", \"invert\": false}, \"model\": {\"type\": \"BPE\", "
     "\"vocab\": {}, \"merges\": []}}",
     0, MMRT_ERR_UNSUPPORTED, "regex"},
    {"wp_decoder.json",
     "{\"decoder\": {\"type\": \"WordPiece\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, "
     "\"merges\": []}}",
     0, MMRT_ERR_UNSUPPORTED, "decoder"},
    {"two_byte_level.json",
     "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
     "\"ByteLevel\"}, {\"type\": \"ByteLevel\"}]}, \"model\": {\"type\": \"BPE\", "
     "\"vocab\": {}, \"merges\": []}}",
     0, MMRT_ERR_UNSUPPORTED, "more than one ByteLevel"},
    {"bad_utf8_token.json",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"\xf0\": 1}, \"merges\": []}}",
     0, MMRT_ERR_BAD_FORMAT, "UTF-8"},
    {"bad_utf8_added.json",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
     "\"added_tokens\": [{\"id\": 1, \"content\": \"<\xc3\"}]}",
     0, MMRT_ERR_BAD_FORMAT, "UTF-8"},
    {"missing.json", NULL, 0, MMRT_ERR_IO, "cannot open"},
};

Test(tokenizer_errors, bad_files_name_file_and_problem) {
    char *dir = tmpdir_make("tokenizer-bad");
    size_t fixture_len;
    char *fixture = tokfx_read_all(TOKFX_DIR "/smollm2/tokenizer.json", &fixture_len);
    size_t n_bad = 0;
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        const bad_file *b = &bad_files[i];
        char *path;
        if (b->content)
            path = tmpdir_write_str(dir, b->name, b->content);
        else if (b->truncate_fixture)
            path = tmpdir_write(dir, b->name, fixture, b->truncate_fixture);
        else
            path = tmpdir_path(dir, b->name);
        mmrt_tokenizer *tok = (mmrt_tokenizer *)1;
        mmrt_error err = {0};
        mmrt_status st = mmrt_tokenizer_load(path, &tok, &err);
        bool ok = st == b->status && tok == NULL && strstr(err.msg, path) != NULL &&
                  strstr(err.msg, b->word) != NULL;
        if (!ok && n_bad++ < TOKFX_MAX_SHOWN)
            fprintf(stderr, "%s: expected status %d with \"%s\", got status %d: %s\n", b->name,
                    b->status, b->word, st, err.msg);
        if (st == MMRT_OK) mmrt_tokenizer_free(tok);
        free(path);
    }
    /* A directory where the file should be. */
    mmrt_tokenizer *tok = NULL;
    mmrt_error err = {0};
    cr_expect_eq(mmrt_tokenizer_load(dir, &tok, &err), MMRT_ERR_IO, "directory: %s", err.msg);
    cr_expect(strstr(err.msg, dir) != NULL, "%s", err.msg);
    free(fixture);
    tmpdir_remove(dir);
    cr_assert_eq(n_bad, 0, "%zu bad files were not reported as expected", n_bad);
}

/* A pattern that backtracks exponentially on the input hits PCRE2's match limit: encode reports it
 * (HF's Oniguruma would give up on that search silently) instead of hanging or aborting. */
Test(tokenizer_errors, catastrophic_regex_is_an_error) {
    char *dir;
    cJSON *pre = cJSON_Parse("{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a|aa)+$\"}, "
                             "\"behavior\": \"Isolated\", \"invert\": false}");
    mmrt_tokenizer *tok = tokfx_load_with("gpt2", "pre_tokenizer", pre, &dir);
    char text[72];
    memset(text, 'a', 70);
    text[70] = '!';
    int32_t *ids = (int32_t *)1;
    size_t n = 7;
    mmrt_error err = {0};
    mmrt_status st = mmrt_tokenizer_encode(tok, text, 71, true, &ids, &n, &err);
    cr_expect_eq(st, MMRT_ERR_UNSUPPORTED, "status %d: %s", st, err.msg);
    cr_expect(strstr(err.msg, "regex") != NULL && strstr(err.msg, "limit") != NULL &&
                  strstr(err.msg, "tokenizer.json") != NULL,
              "%s", err.msg);
    cr_expect(ids == NULL && n == 0, "outputs are reset on failure");
    mmrt_tokenizer_free(tok);
    tmpdir_remove(dir);
}

/* NULL arguments are invalid-argument errors; empty input and free(NULL) are fine. */
Test(tokenizer_errors, null_arguments) {
    mmrt_error err = {0};
    mmrt_tokenizer *tok = NULL;
    cr_expect_eq(mmrt_tokenizer_load(NULL, &tok, &err), MMRT_ERR_INVALID_ARG);
    tok = tokfx_load_named("gpt2");
    int32_t *ids = NULL;
    size_t n = 0;
    cr_expect_eq(mmrt_tokenizer_encode(tok, NULL, 3, true, &ids, &n, &err), MMRT_ERR_INVALID_ARG);
    cr_expect_eq(mmrt_tokenizer_encode(tok, NULL, 0, true, &ids, &n, &err), MMRT_OK);
    cr_expect_eq(n, 0);
    free(ids);
    mmrt_tokenizer_free(tok);
    mmrt_tokenizer_free(NULL);
    mmrt_detok_free(NULL);
}
