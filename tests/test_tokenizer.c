/* text/tokenizer against Hugging Face tokenizers 0.23.3.
 *
 * fixtures/tokenizer/corpus.json holds hard strings; fixtures/tokenizer/<name>/expected.json what
 * HF produced for each (ids with add_special_tokens=False, decode with and without
 * skip_special_tokens) plus invalid-UTF-8 inputs. The hard-coded expectations below (special-token
 * parsing, custom added tokens, long inputs) were produced with the same HF version; the Python
 * used is quoted next to each table.
 */
#include <criterion/criterion.h>

#include "helpers/tmpdir.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOK_DIR MMRT_FIXTURES_DIR "/tokenizer"
#define MAX_SHOWN 5

/* ---- helpers --------------------------------------------------------------------------------- */

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open fixture %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size, "short read on %s", path);
    fclose(f);
    buf[size] = '\0';
    if (n) *n = (size_t)size;
    return buf;
}

static cJSON *read_json(const char *path) {
    char *text = read_all(path, NULL);
    cJSON *j = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(j, "fixture %s is not JSON", path);
    return j;
}

static mmrt_tokenizer *load_named(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/tokenizer.json", TOK_DIR, name);
    mmrt_tokenizer *tok = NULL;
    mmrt_error err = {0};
    mmrt_status st = mmrt_tokenizer_load(path, &tok, &err);
    cr_assert_eq(st, MMRT_OK, "loading %s: %s", path, err.msg);
    return tok;
}

static cJSON *load_expected(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/expected.json", TOK_DIR, name);
    return read_json(path);
}

static int32_t *json_ids(const cJSON *arr, size_t *n) {
    cr_assert(cJSON_IsArray(arr), "ids is not an array");
    *n = (size_t)cJSON_GetArraySize(arr);
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) ids[i++] = (int32_t)it->valuedouble;
    return ids;
}

static bool ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* "[1, 2, 3 ...]" (first 24 ids) into buf. */
static const char *fmt_ids(char *buf, size_t cap, const int32_t *ids, size_t n) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < n && i < 24 && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%d", i ? ", " : "", ids[i]);
    if (o < cap) snprintf(buf + o, cap - o, "%s] (%zu ids)", n > 24 ? " ..." : "", n);
    return buf;
}

/* A printable rendering of bytes (C escapes), for mismatch reports. */
static const char *fmt_str(char *buf, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == '"') o += (size_t)snprintf(buf + o, cap - o, "\\%c", c);
        else if (c < 0x20 || c == 0x7F) o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

static void encode_ok(const mmrt_tokenizer *tok, const char *s, size_t n, bool parse_special,
                      int32_t **ids, size_t *n_ids) {
    mmrt_error err = {0};
    mmrt_status st = mmrt_tokenizer_encode(tok, s, n, parse_special, ids, n_ids, &err);
    cr_assert_eq(st, MMRT_OK, "encode failed: %s", err.msg);
    cr_assert_not_null(*ids);
}

static char *decode_ok(const mmrt_tokenizer *tok, const int32_t *ids, size_t n, bool skip,
                       size_t *len) {
    mmrt_error err = {0};
    char *text = NULL;
    mmrt_status st = mmrt_tokenizer_decode(tok, ids, n, skip, &text, len, &err);
    cr_assert_eq(st, MMRT_OK, "decode failed: %s", err.msg);
    cr_assert_not_null(text);
    cr_assert_eq(text[*len], '\0');
    return text;
}

/* Streams ids through a detokenizer; every chunk must be whole UTF-8 characters. Returns the
 * concatenation (malloc'ed) and counts chunks that were not. */
static char *stream_all(const mmrt_tokenizer *tok, const int32_t *ids, size_t n, bool skip,
                        size_t *len, size_t *bad_chunks) {
    mmrt_detok *d = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_detok_init(tok, skip, &d, &err), MMRT_OK, "%s", err.msg);
    size_t cap = 64, o = 0;
    char *all = malloc(cap);
    for (size_t i = 0; i <= n; i++) {
        const char *chunk;
        size_t cl;
        mmrt_status st = i < n ? mmrt_detok_push(d, ids[i], &chunk, &cl, &err)
                               : mmrt_detok_flush(d, &chunk, &cl, &err);
        cr_assert_eq(st, MMRT_OK, "detok: %s", err.msg);
        cr_assert_eq(strlen(chunk), cl, "chunk length disagrees with its NUL");
        if (!mmrt_utf8_valid(chunk, cl)) (*bad_chunks)++;
        while (o + cl + 1 > cap) all = realloc(all, cap *= 2);
        memcpy(all + o, chunk, cl);
        o += cl;
    }
    all[o] = '\0';
    mmrt_detok_free(d);
    *len = o;
    return all;
}

/* ---- the corpus, both directions, for each tokenizer ------------------------------------------ */

static void check_encode(const char *name) {
    mmrt_tokenizer *tok = load_named(name);
    cJSON *corpus = read_json(TOK_DIR "/corpus.json");
    cJSON *exp = load_expected(name);
    const cJSON *cases = cJSON_GetObjectItem(exp, "cases");
    cr_assert_eq(cJSON_GetArraySize(cases), cJSON_GetArraySize(corpus));
    size_t n_bad = 0, i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *s = cJSON_GetArrayItem(corpus, (int)i)->valuestring;
        size_t n_exp, n_got;
        int32_t *want = json_ids(cJSON_GetObjectItem(c, "ids"), &n_exp), *got;
        encode_ok(tok, s, strlen(s), true, &got, &n_got);
        if (!ids_equal(want, n_exp, got, n_got) && n_bad++ < MAX_SHOWN) {
            char a[512], b[512], t[256];
            fprintf(stderr, "%s: corpus[%zu] \"%s\"\n  expected %s\n  got      %s\n", name, i,
                    fmt_str(t, sizeof t, s, strlen(s)), fmt_ids(a, sizeof a, want, n_exp),
                    fmt_ids(b, sizeof b, got, n_got));
        }
        free(want);
        free(got);
        i++;
    }
    cJSON_Delete(corpus);
    cJSON_Delete(exp);
    mmrt_tokenizer_free(tok);
    cr_assert_eq(n_bad, 0, "%s: %zu of %zu corpus strings encode differently from HF", name, n_bad,
                 i);
}

static void check_decode(const char *name) {
    mmrt_tokenizer *tok = load_named(name);
    cJSON *exp = load_expected(name);
    size_t n_bad = 0, i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(exp, "cases")) {
        size_t n;
        int32_t *ids = json_ids(cJSON_GetObjectItem(c, "ids"), &n);
        for (int skip = 0; skip < 2; skip++) {
            const char *want = cJSON_GetObjectItem(c, skip ? "decoded_skip" : "decoded")->valuestring;
            size_t len;
            char *got = decode_ok(tok, ids, n, skip, &len);
            if ((len != strlen(want) || memcmp(got, want, len) != 0) && n_bad++ < MAX_SHOWN) {
                char a[256], b[256];
                fprintf(stderr, "%s: case %zu (skip_special=%d)\n  expected \"%s\"\n  got      \"%s\"\n",
                        name, i, skip, fmt_str(a, sizeof a, want, strlen(want)),
                        fmt_str(b, sizeof b, got, len));
            }
            free(got);
        }
        free(ids);
        i++;
    }
    cJSON_Delete(exp);
    mmrt_tokenizer_free(tok);
    cr_assert_eq(n_bad, 0, "%s: %zu decodes differ from HF", name, n_bad);
}

static void check_stream(const char *name) {
    mmrt_tokenizer *tok = load_named(name);
    cJSON *exp = load_expected(name);
    size_t n_bad = 0, bad_chunks = 0, i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(exp, "cases")) {
        size_t n;
        int32_t *ids = json_ids(cJSON_GetObjectItem(c, "ids"), &n);
        for (int skip = 0; skip < 2; skip++) {
            size_t dl, sl;
            char *whole = decode_ok(tok, ids, n, skip, &dl);
            char *streamed = stream_all(tok, ids, n, skip, &sl, &bad_chunks);
            if ((dl != sl || memcmp(whole, streamed, dl) != 0) && n_bad++ < MAX_SHOWN) {
                char a[256], b[256];
                fprintf(stderr, "%s: case %zu (skip_special=%d)\n  decode \"%s\"\n  stream \"%s\"\n",
                        name, i, skip, fmt_str(a, sizeof a, whole, dl),
                        fmt_str(b, sizeof b, streamed, sl));
            }
            free(whole);
            free(streamed);
        }
        free(ids);
        i++;
    }
    cJSON_Delete(exp);
    mmrt_tokenizer_free(tok);
    cr_assert_eq(bad_chunks, 0, "%s: %zu stream chunks were not whole UTF-8 characters", name,
                 bad_chunks);
    cr_assert_eq(n_bad, 0, "%s: %zu streams differ from decode()", name, n_bad);
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

static void check_invalid_utf8(const char *name) {
    mmrt_tokenizer *tok = load_named(name);
    cJSON *exp = load_expected(name);
    const cJSON *cases = cJSON_GetObjectItem(exp, "invalid_utf8");
    cr_assert_gt(cJSON_GetArraySize(cases), 0, "no invalid_utf8 cases in the fixture");
    size_t n_bad = 0, i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *b64 = cJSON_GetObjectItem(c, "bytes_b64")->valuestring;
        const char *dec64 = cJSON_GetObjectItem(c, "decoded_b64")->valuestring;
        uint8_t *raw = malloc(strlen(b64) + 1), *want_dec = malloc(strlen(dec64) + 1);
        size_t n_raw = b64_decode(b64, raw), n_want_dec = b64_decode(dec64, want_dec);
        size_t n_exp, n_got, dl;
        int32_t *want = json_ids(cJSON_GetObjectItem(c, "ids"), &n_exp), *got;
        encode_ok(tok, (const char *)raw, n_raw, true, &got, &n_got);
        char *dec = decode_ok(tok, got, n_got, false, &dl);
        bool ok = ids_equal(want, n_exp, got, n_got) && dl == n_want_dec &&
                  memcmp(dec, want_dec, dl) == 0;
        if (!ok && n_bad++ < MAX_SHOWN) {
            char a[512], b[512], s1[128], s2[128];
            fprintf(stderr, "%s: invalid_utf8[%zu] (%s)\n  expected %s \"%s\"\n  got      %s \"%s\"\n",
                    name, i, b64, fmt_ids(a, sizeof a, want, n_exp),
                    fmt_str(s1, sizeof s1, (const char *)want_dec, n_want_dec),
                    fmt_ids(b, sizeof b, got, n_got), fmt_str(s2, sizeof s2, dec, dl));
        }
        free(raw);
        free(want_dec);
        free(want);
        free(got);
        free(dec);
        i++;
    }
    cJSON_Delete(exp);
    mmrt_tokenizer_free(tok);
    cr_assert_eq(n_bad, 0, "%s: %zu of %zu invalid-UTF-8 inputs differ from HF", name, n_bad, i);
}

Test(tokenizer_corpus, smollm2_encode) { check_encode("smollm2"); }
Test(tokenizer_corpus, gpt2_encode) { check_encode("gpt2"); }
Test(tokenizer_corpus, llama3_encode) { check_encode("llama3"); }
Test(tokenizer_corpus, smollm2_decode) { check_decode("smollm2"); }
Test(tokenizer_corpus, gpt2_decode) { check_decode("gpt2"); }
Test(tokenizer_corpus, llama3_decode) { check_decode("llama3"); }
Test(tokenizer_corpus, smollm2_stream) { check_stream("smollm2"); }
Test(tokenizer_corpus, gpt2_stream) { check_stream("gpt2"); }
Test(tokenizer_corpus, llama3_stream) { check_stream("llama3"); }
Test(tokenizer_corpus, smollm2_invalid_utf8) { check_invalid_utf8("smollm2"); }
Test(tokenizer_corpus, gpt2_invalid_utf8) { check_invalid_utf8("gpt2"); }
Test(tokenizer_corpus, llama3_invalid_utf8) { check_invalid_utf8("llama3"); }

/* ---- hard-coded HF expectations ---------------------------------------------------------------- */

typedef struct ids_case {
    const char *tokenizer; /* fixture name, or NULL for the custom one */
    const char *text;
    int32_t with_special[32], without_special[32]; /* terminated by -1 */
} ids_case;

static size_t count_ids(const int32_t *ids) {
    size_t n = 0;
    while (ids[n] >= 0) n++;
    return n;
}

/* Encodes each case with parse_special true and false; returns the number of mismatches. */
static size_t run_ids_cases(const mmrt_tokenizer *tok, const ids_case *cases, size_t n_cases) {
    size_t n_bad = 0;
    for (size_t i = 0; i < n_cases; i++) {
        for (int ps = 0; ps < 2; ps++) {
            const int32_t *want = ps ? cases[i].with_special : cases[i].without_special;
            size_t n_want = count_ids(want), n_got;
            int32_t *got;
            encode_ok(tok, cases[i].text, strlen(cases[i].text), ps, &got, &n_got);
            if (!ids_equal(want, n_want, got, n_got) && n_bad++ < MAX_SHOWN) {
                char a[512], b[512], t[256];
                fprintf(stderr, "\"%s\" (parse_special=%d)\n  expected %s\n  got      %s\n",
                        fmt_str(t, sizeof t, cases[i].text, strlen(cases[i].text)), ps,
                        fmt_ids(a, sizeof a, want, n_want), fmt_ids(b, sizeof b, got, n_got));
            }
            /* Whatever the parsing, decoding gives the text back (no normalizer here). */
            size_t dl;
            char *dec = decode_ok(tok, got, n_got, false, &dl);
            if ((dl != strlen(cases[i].text) || memcmp(dec, cases[i].text, dl) != 0) &&
                n_bad++ < MAX_SHOWN)
                fprintf(stderr, "\"%s\" (parse_special=%d) does not round-trip\n", cases[i].text,
                        ps);
            free(dec);
            free(got);
        }
    }
    return n_bad;
}

/* t.encode_special_tokens = False / True; t.encode(s, add_special_tokens=False).ids */
static const ids_case special_cases[] = {
    {"smollm2", "<|im_start|>user\nHi<|im_end|>", {1, 3155, 201, 42, 75, 2, -1},
     {30, 94, 339, 65, 2080, 94, 32, 3155, 201, 42, 75, 30, 94, 339, 65, 549, 94, 32, -1}},
    {"smollm2", "a <custom_word> b <|mask|> c", {67, 223, 8500, 303, 8501, 284, -1},
     {67, 223, 8500, 303, 407, 94, 79, 2269, 94, 32, 284, -1}},
    {"smollm2", "x  <|mask|>y<|sep|>   z<custom_word><|endoftext|>",
     {90, 8501, 91, 8502, 92, 8500, 0, -1},
     {90, 223, 407, 94, 79, 2269, 94, 32, 91, 30, 94, 5582, 94, 32, 259, 437, 8500, 30, 94, 549,
      1069, 476, 94, 32, -1}},
    {"smollm2", "<|im_start|<|im_end|>>", {30, 94, 339, 65, 2080, 94, 2, 32, -1},
     {30, 94, 339, 65, 2080, 94, 30, 94, 339, 65, 549, 94, 433, -1}},
    {"gpt2", "Hello<|endoftext|>world", {39, 315, 390, 8499, 86, 274, 729, -1},
     {39, 315, 390, 27, 91, 551, 1073, 476, 91, 29, 86, 274, 729, -1}},
    {"gpt2", "<|endoftext|><|endoftext|>", {8499, 8499, -1},
     {27, 91, 551, 1073, 476, 91, 29, 27, 91, 551, 1073, 476, 91, 29, -1}},
    {"llama3", "<|begin_of_text|>Hi<|eot_id|>", {8508, 39, 72, 8517, -1},
     {27, 91, 1232, 70, 265, 7503, 62, 478, 91, 29, 39, 72, 27, 91, 68, 353, 6277, 91, 29, -1}},
    {"llama3", "<|start_header_id|>user<|end_header_id|>\n\n", {8514, 3254, 8515, 268, -1},
     {27, 91, 2364, 62, 7789, 6277, 91, 29, 3254, 27, 91, 548, 62, 7789, 6277, 91, 1567, -1}},
};

Test(tokenizer_special, parse_special_on_and_off) {
    size_t n_bad = 0, n = sizeof special_cases / sizeof special_cases[0];
    for (size_t i = 0; i < n; i++) {
        mmrt_tokenizer *tok = load_named(special_cases[i].tokenizer);
        n_bad += run_ids_cases(tok, &special_cases[i], 1);
        mmrt_tokenizer_free(tok);
    }
    cr_assert_eq(n_bad, 0, "%zu special-token encodings differ from HF", n_bad);
}

Test(tokenizer_special, skip_special_on_decode) {
    mmrt_tokenizer *tok = load_named("smollm2");
    const int32_t ids[] = {1, 3155, 201, 42, 75, 2, 8500, 8501};
    size_t l1, l2;
    char *all = decode_ok(tok, ids, 8, false, &l1);
    char *some = decode_ok(tok, ids, 8, true, &l2);
    cr_expect_str_eq(all, "<|im_start|>user\nHi<|im_end|><custom_word><|mask|>");
    /* <custom_word> is an added token but not special: it stays. */
    cr_expect_str_eq(some, "user\nHi<custom_word>");
    cr_assert(mmrt_tokenizer_is_special(tok, 1) && mmrt_tokenizer_is_special(tok, 8501));
    cr_assert(!mmrt_tokenizer_is_special(tok, 8500) && !mmrt_tokenizer_is_special(tok, 3155));
    free(all);
    free(some);
    mmrt_tokenizer_free(tok);
}

/* smollm2 plus these added tokens (ids as HF assigns them, 8503...):
 *   "start|>user" plain, overlapping the special <|im_start|>
 *   "qqx"   single_word, normalized       "ɮɮ" lstrip + rstrip
 *   "bqqxc" normalized (second pass)      "zz" special
 * (json.load smollm2, append, Tokenizer.from_file, encode_special_tokens False/True.) */
static const ids_case custom_cases[] = {
    {NULL, "<|im_start|>user", {1, 3155, -1}, {30, 94, 339, 65, 2080, 94, 32, 3155, -1}},
    {NULL, "a qqx b", {67, 223, 8504, 303, -1}, {67, 223, 8504, 303, -1}},
    {NULL, "qqxs", {83, 83, 90, 85, -1}, {83, 83, 90, 85, -1}},
    {NULL, "aqqx", {67, 83, 83, 90, -1}, {67, 83, 83, 90, -1}},
    {NULL, "qqx", {8504, -1}, {8504, -1}},
    {NULL, "_qqx", {65, 83, 83, 90, -1}, {65, 83, 83, 90, -1}},
    {NULL, "a\xcc\x81qqx", {67, 139, 226, 83, 83, 90, -1}, {67, 139, 226, 83, 83, 90, -1}},
    {NULL, "2qqx", {20, 83, 83, 90, -1}, {20, 83, 83, 90, -1}},
    {NULL, "\xc2\xa0qqx\xe3\x80\x80", {129, 257, 8504, 410, 225, -1},
     {129, 257, 8504, 410, 225, -1}},
    {NULL, "bqqxc", {8506, -1}, {8506, -1}},
    {NULL, "abqqxcd", {67, 8506, 70, -1}, {67, 8506, 70, -1}},
    {NULL, "zzz", {8507, 92, -1}, {92, 92, 92, -1}},
};
/* lstrip/rstrip swallow the surrounding (Unicode) spaces, so these do not round-trip. */
static const ids_case custom_strip_cases[] = {
    {NULL, "x \xe3\x80\x80 \xc9\xae\xc9\xae \xe2\x80\xa8 y", {90, 8505, 91, -1}, {90, 8505, 91, -1}},
    {NULL, "qqx \xc9\xae\xc9\xae  \xc9\xae\xc9\xae qqx", {8504, 8505, 8505, 8504, -1},
     {8504, 8505, 8505, 8504, -1}},
};

static mmrt_tokenizer *load_custom(char **dir) {
    cJSON *j = read_json(TOK_DIR "/smollm2/tokenizer.json");
    cJSON *added = cJSON_GetObjectItem(j, "added_tokens");
    static const struct {
        const char *content;
        bool single_word, lstrip, rstrip, normalized, special;
    } extra[] = {
        {"start|>user", false, false, false, false, false}, {"qqx", true, false, false, true, false},
        {"\xc9\xae\xc9\xae", false, true, true, false, false},
        {"bqqxc", false, false, false, true, false},        {"zz", false, false, false, false, true},
    };
    for (int i = 0; i < 5; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", 8503 + i);
        cJSON_AddStringToObject(t, "content", extra[i].content);
        cJSON_AddBoolToObject(t, "single_word", extra[i].single_word);
        cJSON_AddBoolToObject(t, "lstrip", extra[i].lstrip);
        cJSON_AddBoolToObject(t, "rstrip", extra[i].rstrip);
        cJSON_AddBoolToObject(t, "normalized", extra[i].normalized);
        cJSON_AddBoolToObject(t, "special", extra[i].special);
        cJSON_AddItemToArray(added, t);
    }
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    *dir = tmpdir_make("tokenizer");
    char *path = tmpdir_write_str(*dir, "tokenizer.json", text);
    free(text);
    mmrt_tokenizer *tok = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_tokenizer_load(path, &tok, &err), MMRT_OK, "%s", err.msg);
    free(path);
    return tok;
}

Test(tokenizer_special, custom_added_tokens) {
    char *dir;
    mmrt_tokenizer *tok = load_custom(&dir);
    size_t n_bad = run_ids_cases(tok, custom_cases, sizeof custom_cases / sizeof custom_cases[0]);
    for (size_t i = 0; i < sizeof custom_strip_cases / sizeof custom_strip_cases[0]; i++) {
        for (int ps = 0; ps < 2; ps++) {
            const ids_case *c = &custom_strip_cases[i];
            int32_t *got;
            size_t n_got, n_want = count_ids(ps ? c->with_special : c->without_special);
            encode_ok(tok, c->text, strlen(c->text), ps, &got, &n_got);
            if (!ids_equal(ps ? c->with_special : c->without_special, n_want, got, n_got) &&
                n_bad++ < MAX_SHOWN) {
                char b[512];
                fprintf(stderr, "strip case %zu (parse_special=%d): got %s\n", i, ps,
                        fmt_ids(b, sizeof b, got, n_got));
            }
            free(got);
        }
    }
    cr_assert_eq(mmrt_tokenizer_find(tok, "zz"), 8507);
    cr_assert(mmrt_tokenizer_is_special(tok, 8507) && !mmrt_tokenizer_is_special(tok, 8504));
    mmrt_tokenizer_free(tok);
    tmpdir_remove(dir);
    cr_assert_eq(n_bad, 0, "%zu custom added-token encodings differ from HF", n_bad);
}

/* ---- getters, errors on bad ids, streaming corner cases --------------------------------------- */

Test(tokenizer_api, getters_match_fixture) {
    mmrt_tokenizer *tok = load_named("smollm2");
    cJSON *exp = load_expected("smollm2");
    int32_t n_vocab = mmrt_tokenizer_n_vocab(tok);
    cr_assert_eq(n_vocab, (int32_t)cJSON_GetObjectItem(exp, "vocab_size_with_added")->valuedouble);
    size_t n_bad = 0;
    for (int32_t id = 0; id < n_vocab; id++) {
        const char *t = mmrt_tokenizer_token_text(tok, id);
        if ((!t || mmrt_tokenizer_find(tok, t) != id) && n_bad++ < MAX_SHOWN)
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
            n_bad++ < MAX_SHOWN)
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
    mmrt_tokenizer *tok = load_named("gpt2");
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
    mmrt_tokenizer *tok = load_named("llama3");
    mmrt_detok *d = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_detok_init(tok, false, &d, &err), MMRT_OK);
    /* € = E2 82 AC; then E2 41 (invalid: U+FFFD then A); then F0 9F + flush (one U+FFFD). */
    const struct {
        uint8_t byte;
        const char *want; /* NULL: flush */
    } steps[] = {
        {0xE2, ""}, {0x82, ""}, {0xAC, "\xe2\x82\xac"}, {0xE2, ""}, {0x41, "\xef\xbf\xbd" "A"},
        {0xF0, ""}, {0x9F, ""}, {0, "\xef\xbf\xbd"},   {0, ""},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        const char *out;
        size_t len;
        bool flush = i >= 7;
        mmrt_status st = flush ? mmrt_detok_flush(d, &out, &len, &err)
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
    mmrt_tokenizer *tok = load_named("smollm2");
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
        char *whole = decode_ok(tok, ids, n, skip, &dl);
        char *streamed = stream_all(tok, ids, n, skip, &sl, &bad_chunks);
        if ((dl != sl || memcmp(whole, streamed, dl) != 0) && n_bad++ < MAX_SHOWN) {
            char a[256], b[256], c[256];
            fprintf(stderr, "ids %s\n  decode \"%s\"\n  stream \"%s\"\n", fmt_ids(c, sizeof c, ids, n),
                    fmt_str(a, sizeof a, whole, dl), fmt_str(b, sizeof b, streamed, sl));
        }
        if (!mmrt_utf8_valid(whole, dl)) n_bad++;
        free(whole);
        free(streamed);
    }
    mmrt_tokenizer_free(tok);
    cr_assert_eq(bad_chunks, 0, "%zu chunks were not whole characters", bad_chunks);
    cr_assert_eq(n_bad, 0, "%zu random sequences stream differently from decode", n_bad);
}

/* ---- long inputs: HF's ids (count + FNV-1a over the ids) and time ----------------------------- */

static uint64_t fnv_ids(const int32_t *ids, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint32_t)ids[i]) * 1099511628211ull;
    return h;
}

static char *repeat(const char *unit, size_t times, size_t *len) {
    size_t ul = strlen(unit);
    char *s = malloc(ul * times + 1);
    for (size_t i = 0; i < times; i++) memcpy(s + i * ul, unit, ul);
    s[ul * times] = '\0';
    *len = ul * times;
    return s;
}

Test(tokenizer_long, long_inputs_match_hf_and_stay_fast) {
    static const struct {
        const char *kind, *unit;
        size_t times;
    } inputs[] = {
        {"a", "a", 100000},
        {"spaces", " ", 100000},
        {"digits", "1", 100000},
        {"emoji", "\xf0\x9f\x98\x80", 20000},
        {"newlines", "\n \n", 30000},
        {"mixed", "Hello, world! 12345 <|endoftext|> \xc3\xa9\xe4\xb8\xad  \t\n", 3000},
    };
    /* ids = t.encode(unit * times, add_special_tokens=False).ids; (len(ids), fnv(ids)) */
    static const struct {
        const char *tok, *kind;
        size_t n;
        uint64_t fnv;
    } want[] = {
        {"smollm2", "a", 100000u, 0x2e3dca765d7524a3ull},
        {"smollm2", "spaces", 3125u, 0xc509f002f86bca5bull},
        {"smollm2", "digits", 100000u, 0x6cdab84ac40692a3ull},
        {"smollm2", "emoji", 80000u, 0x3a087b46376ff343ull},
        {"smollm2", "newlines", 30001u, 0x30b680bf9eac3a8eull},
        {"smollm2", "mixed", 63000u, 0x38f2baaae1611183ull},
        {"gpt2", "a", 100000u, 0x6d93206ee0dd5303ull},
        {"gpt2", "spaces", 3125u, 0x47b39bd045f6fa23ull},
        {"gpt2", "digits", 50000u, 0xafb0971c66960b83ull},
        {"gpt2", "emoji", 80000u, 0xb2c03f003a6450c3ull},
        {"gpt2", "newlines", 30001u, 0x8772b1500ddc605dull},
        {"gpt2", "mixed", 54000u, 0x63649a05f51540a3ull},
        {"llama3", "a", 100000u, 0x6d93206ee0dd5303ull},
        {"llama3", "spaces", 3125u, 0x8431269a1196d249ull},
        {"llama3", "digits", 33334u, 0xcfc46290495b7129ull},
        {"llama3", "emoji", 80000u, 0xb2c03f003a6450c3ull},
        {"llama3", "newlines", 30001u, 0x9f80aa7cdbb80197ull},
        {"llama3", "mixed", 60000u, 0xad82644d53ccb953ull},
    };
    size_t n_bad = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        mmrt_tokenizer *tok = load_named(want[w].tok);
        size_t k = 0;
        while (strcmp(inputs[k].kind, want[w].kind) != 0) k++;
        size_t len, n, dl;
        char *s = repeat(inputs[k].unit, inputs[k].times, &len);
        int32_t *ids;
        encode_ok(tok, s, len, true, &ids, &n);
        char *dec = decode_ok(tok, ids, n, false, &dl);
        if ((n != want[w].n || fnv_ids(ids, n) != want[w].fnv) && n_bad++ < MAX_SHOWN)
            fprintf(stderr, "%s/%s: expected %zu ids (fnv %016llx), got %zu (fnv %016llx)\n",
                    want[w].tok, want[w].kind, want[w].n, (unsigned long long)want[w].fnv, n,
                    (unsigned long long)fnv_ids(ids, n));
        if ((dl != len || memcmp(dec, s, len) != 0) && n_bad++ < MAX_SHOWN)
            fprintf(stderr, "%s/%s does not round-trip\n", want[w].tok, want[w].kind);
        free(s);
        free(ids);
        free(dec);
        mmrt_tokenizer_free(tok);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cr_assert_eq(n_bad, 0, "%zu long inputs differ from HF", n_bad);
    /* ~2.3 MB of text in all; a quadratic merge loop would take minutes. Generous for sanitizers
     * and valgrind. */
    cr_assert_lt(secs, 60.0, "long inputs took %.1f s", secs);
}

/* ---- concurrency: one tokenizer, several threads encoding at once ----------------------------- */

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
            int32_t *want = json_ids(cJSON_GetObjectItem(c, "ids"), &n_exp), *got = NULL;
            if (mmrt_tokenizer_encode(job->tok, s, strlen(s), true, &got, &n_got, NULL) != MMRT_OK ||
                !ids_equal(want, n_exp, got, n_got))
                job->n_bad++;
            free(want);
            free(got);
        }
    }
    return NULL;
}

Test(tokenizer_api, concurrent_encode) {
    mmrt_tokenizer *tok = load_named("llama3");
    cJSON *corpus = read_json(TOK_DIR "/corpus.json");
    cJSON *exp = load_expected("llama3");
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

/* ---- bad files --------------------------------------------------------------------------------- */

typedef struct bad_file {
    const char *name;     /* file name in the temp dir; NULL content: never created */
    const char *content;  /* NULL: use `truncate_fixture` bytes of the smollm2 fixture */
    size_t truncate_fixture;
    mmrt_status status;
    const char *word;     /* must appear in the message, beside the path */
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
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", \"b\"]]}}",
     0, MMRT_ERR_BAD_FORMAT, "unknown token \"ab\""},
    {"merge_malformed.json",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}}", 0,
     MMRT_ERR_BAD_FORMAT, "merges[0]"},
    {"dup_id.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}",
     0, MMRT_ERR_BAD_FORMAT, "duplicate id"},
    {"neg_id.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", 0,
     MMRT_ERR_BAD_FORMAT, "out of range"},
    {"huge_id.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 4e9}, \"merges\": []}}", 0,
     MMRT_ERR_BAD_FORMAT, "out of range"},
    {"str_id.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"0\"}, \"merges\": []}}", 0,
     MMRT_ERR_BAD_FORMAT, "not a number"},
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
    {"missing.json", NULL, 0, MMRT_ERR_IO, "cannot open"},
};

Test(tokenizer_errors, bad_files_name_file_and_problem) {
    char *dir = tmpdir_make("tokenizer-bad");
    size_t fixture_len;
    char *fixture = read_all(TOK_DIR "/smollm2/tokenizer.json", &fixture_len);
    size_t n_bad = 0;
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        const bad_file *b = &bad_files[i];
        char *path;
        if (b->content) path = tmpdir_write_str(dir, b->name, b->content);
        else if (b->truncate_fixture) path = tmpdir_write(dir, b->name, fixture, b->truncate_fixture);
        else path = tmpdir_path(dir, b->name);
        mmrt_tokenizer *tok = (mmrt_tokenizer *)1;
        mmrt_error err = {0};
        mmrt_status st = mmrt_tokenizer_load(path, &tok, &err);
        bool ok = st == b->status && tok == NULL && strstr(err.msg, path) != NULL &&
                  strstr(err.msg, b->word) != NULL;
        if (!ok && n_bad++ < MAX_SHOWN)
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

/* NULL arguments are invalid-argument errors; empty input and free(NULL) are fine. */
Test(tokenizer_errors, null_arguments) {
    mmrt_error err = {0};
    mmrt_tokenizer *tok = NULL;
    cr_expect_eq(mmrt_tokenizer_load(NULL, &tok, &err), MMRT_ERR_INVALID_ARG);
    tok = load_named("gpt2");
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
