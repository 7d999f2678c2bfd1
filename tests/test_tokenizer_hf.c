/* text/tokenizer against expectations produced with Hugging Face tokenizers 0.23.3 for specific
 * inputs: special-token parsing on and off, added-token options, pre-tokenizer variants, Unicode
 * newer than PCRE2's tables, the null decoder, and long inputs. The Python that produced each
 * table is quoted beside it; `t` is tokenizers.Tokenizer.from_file(<fixture>/tokenizer.json).
 */
#include <criterion/criterion.h>

#include "helpers/tmpdir.h"
#include "helpers/tokenizer_fixture.h"
#include "text/tokenizer.h"
#include "text/tokenizer_impl.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------------- */

typedef struct ids_case {
    const char *tokenizer; /* fixture name, or NULL for the custom one */
    const char *text;
    int32_t with_special[32], without_special[32]; /* terminated by -1 */
} ids_case;

/* Encodes each case with parse_special true and false; returns the number of mismatches. */
static size_t run_ids_cases(const mmrt_tokenizer *tok, const ids_case *cases, size_t n_cases) {
    size_t n_bad = 0;
    for (size_t i = 0; i < n_cases; i++) {
        for (int ps = 0; ps < 2; ps++) {
            const int32_t *want = ps ? cases[i].with_special : cases[i].without_special;
            size_t n_want = tokfx_count_ids(want), n_got;
            int32_t *got;
            tokfx_encode_ok(tok, cases[i].text, strlen(cases[i].text), ps, &got, &n_got);
            if (!tokfx_ids_equal(want, n_want, got, n_got) && n_bad++ < TOKFX_MAX_SHOWN) {
                char a[512], b[512], t[256];
                fprintf(stderr, "\"%s\" (parse_special=%d)\n  expected %s\n  got      %s\n",
                        tokfx_fmt_str(t, sizeof t, cases[i].text, strlen(cases[i].text)), ps,
                        tokfx_fmt_ids(a, sizeof a, want, n_want),
                        tokfx_fmt_ids(b, sizeof b, got, n_got));
            }
            /* Special tokens taken as text decode back to it (with parsing on, lstrip/rstrip
             * tokens swallow spaces). */
            size_t dl;
            char *dec = tokfx_decode_ok(tok, got, n_got, false, &dl);
            if (!ps && (dl != strlen(cases[i].text) || memcmp(dec, cases[i].text, dl) != 0) &&
                n_bad++ < TOKFX_MAX_SHOWN)
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
    {"smollm2",
     "<|im_start|>user\nHi<|im_end|>",
     {1, 3155, 201, 42, 75, 2, -1},
     {30, 94, 339, 65, 2080, 94, 32, 3155, 201, 42, 75, 30, 94, 339, 65, 549, 94, 32, -1}},
    {"smollm2",
     "a <custom_word> b <|mask|> c",
     {67, 223, 8500, 303, 8501, 284, -1},
     {67, 223, 8500, 303, 407, 94, 79, 2269, 94, 32, 284, -1}},
    {"smollm2",
     "x  <|mask|>y<|sep|>   z<custom_word><|endoftext|>",
     {90, 8501, 91, 8502, 92, 8500, 0, -1},
     {90, 223, 407, 94,   79, 2269, 94,  32,   91,  30, 94, 5582, 94,
      32, 259, 437, 8500, 30, 94,   549, 1069, 476, 94, 32, -1}},
    {"smollm2",
     "<|im_start|<|im_end|>>",
     {30, 94, 339, 65, 2080, 94, 2, 32, -1},
     {30, 94, 339, 65, 2080, 94, 30, 94, 339, 65, 549, 94, 433, -1}},
    {"gpt2",
     "Hello<|endoftext|>world",
     {39, 315, 390, 8499, 86, 274, 729, -1},
     {39, 315, 390, 27, 91, 551, 1073, 476, 91, 29, 86, 274, 729, -1}},
    {"gpt2",
     "<|endoftext|><|endoftext|>",
     {8499, 8499, -1},
     {27, 91, 551, 1073, 476, 91, 29, 27, 91, 551, 1073, 476, 91, 29, -1}},
    {"llama3",
     "<|begin_of_text|>Hi<|eot_id|>",
     {8508, 39, 72, 8517, -1},
     {27, 91, 1232, 70, 265, 7503, 62, 478, 91, 29, 39, 72, 27, 91, 68, 353, 6277, 91, 29, -1}},
    {"llama3",
     "<|start_header_id|>user<|end_header_id|>\n\n",
     {8514, 3254, 8515, 268, -1},
     {27, 91, 2364, 62, 7789, 6277, 91, 29, 3254, 27, 91, 548, 62, 7789, 6277, 91, 1567, -1}},
};

Test(tokenizer_special, parse_special_on_and_off) {
    size_t n_bad = 0, n = sizeof special_cases / sizeof special_cases[0];
    for (size_t i = 0; i < n; i++) {
        mmrt_tokenizer *tok = tokfx_load_named(special_cases[i].tokenizer);
        n_bad += run_ids_cases(tok, &special_cases[i], 1);
        mmrt_tokenizer_free(tok);
    }
    cr_assert_eq(n_bad, 0, "%zu special-token encodings differ from HF", n_bad);
}

Test(tokenizer_special, skip_special_on_decode) {
    mmrt_tokenizer *tok = tokfx_load_named("smollm2");
    const int32_t ids[] = {1, 3155, 201, 42, 75, 2, 8500, 8501};
    size_t l1, l2;
    char *all = tokfx_decode_ok(tok, ids, 8, false, &l1);
    char *some = tokfx_decode_ok(tok, ids, 8, true, &l2);
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
    {NULL,
     "\xc2\xa0qqx\xe3\x80\x80",
     {129, 257, 8504, 410, 225, -1},
     {129, 257, 8504, 410, 225, -1}},
    {NULL, "bqqxc", {8506, -1}, {8506, -1}},
    {NULL, "abqqxcd", {67, 8506, 70, -1}, {67, 8506, 70, -1}},
    {NULL, "zzz", {8507, 92, -1}, {92, 92, 92, -1}},
};
/* lstrip/rstrip swallow the surrounding (Unicode) spaces, so these do not round-trip. */
static const ids_case custom_strip_cases[] = {
    {NULL,
     "x \xe3\x80\x80 \xc9\xae\xc9\xae \xe2\x80\xa8 y",
     {90, 8505, 91, -1},
     {90, 8505, 91, -1}},
    {NULL,
     "qqx \xc9\xae\xc9\xae  \xc9\xae\xc9\xae qqx",
     {8504, 8505, 8505, 8504, -1},
     {8504, 8505, 8505, 8504, -1}},
};

static mmrt_tokenizer *load_custom(char **dir) {
    cJSON *j = tokfx_read_json(TOKFX_DIR "/smollm2/tokenizer.json");
    cJSON *added = cJSON_GetObjectItem(j, "added_tokens");
    static const struct {
        const char *content;
        bool single_word, lstrip, rstrip, normalized, special;
    } extra[] = {
        {"start|>user", false, false, false, false, false},
        {"qqx", true, false, false, true, false},
        {"\xc9\xae\xc9\xae", false, true, true, false, false},
        {"bqqxc", false, false, false, true, false},
        {"zz", false, false, false, false, true},
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
    return tokfx_load_json(j, dir);
}

Test(tokenizer_special, custom_added_tokens) {
    char *dir;
    mmrt_tokenizer *tok = load_custom(&dir);
    size_t n_bad = run_ids_cases(tok, custom_cases, sizeof custom_cases / sizeof custom_cases[0]);
    for (size_t i = 0; i < sizeof custom_strip_cases / sizeof custom_strip_cases[0]; i++) {
        for (int ps = 0; ps < 2; ps++) {
            const ids_case *c = &custom_strip_cases[i];
            int32_t *got;
            size_t n_got, n_want = tokfx_count_ids(ps ? c->with_special : c->without_special);
            tokfx_encode_ok(tok, c->text, strlen(c->text), ps, &got, &n_got);
            if (!tokfx_ids_equal(ps ? c->with_special : c->without_special, n_want, got, n_got) &&
                n_bad++ < TOKFX_MAX_SHOWN) {
                char b[512];
                fprintf(stderr, "strip case %zu (parse_special=%d): got %s\n", i, ps,
                        tokfx_fmt_ids(b, sizeof b, got, n_got));
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

/* ---- pre-tokenizer variants and the null decoder ------------------------------------------- */

/* The gpt2 fixture with its pre_tokenizer replaced. Expected ids from j["pre_tokenizer"] = variant;
 * Tokenizer.from_str(json.dumps(j)).encode(text, add_special_tokens=False).ids */
static const char *const variant_texts[] = {
    "hello  world a1b22c333 ab  ",
    " lead\xc2\xa0nbsp\xe3\x80\x80ideo\xe1\xa0\x8emvs end ",
    "ab\nab\na\nb 42",
    "x<|endoftext|>12 34",
};

static const struct {
    const char *pre_tokenizer;
    int32_t ids[4][40]; /* per variant_texts entry, terminated by -1 */
} variants[] = {
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": "
     "\" \"}, \"behavior\": \"Removed\", \"invert\": false}, {\"type\": \"ByteLevel\", "
     "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{667, 390, 86, 274, 729, 64, 16, 65, 4637, 66, 3024, 18, 482, -1},
      {288, 375, 126, 254, 77, 65, 977, 410, 222, 2761, 78, 157, 254, 236, 76, 85, 82, 551, -1},
      {482, 198, 482, 198, 64, 198, 65, 19, 17, -1},
      {87, 8499, 3805, 8021, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": "
     "\" \"}, \"behavior\": \"Removed\", \"invert\": true}, {\"type\": \"ByteLevel\", "
     "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{220, 220, 220, 220, 220, 220, -1}, {220, 220, 220, -1}, {220, -1}, {8499, 220, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": "
     "\" \"}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", "
     "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{667, 390,  220, 220,  86, 274, 729, 220, 64,  16,
       65,  4637, 66,  3024, 18, 220, 482, 220, 220, -1},
      {220, 288, 375, 126, 254, 77, 65, 977, 410, 222, 2761,
       78,  157, 254, 236, 76,  85, 82, 220, 551, 220, -1},
      {482, 198, 482, 198, 64, 198, 65, 220, 19, 17, -1},
      {87, 8499, 3805, 220, 8021, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": "
     "\" \"}, \"behavior\": \"Isolated\", \"invert\": true}, {\"type\": \"ByteLevel\", "
     "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{667, 390,  220, 220,  86, 274, 729, 220, 64,  16,
       65,  4637, 66,  3024, 18, 220, 482, 220, 220, -1},
      {220, 288, 375, 126, 254, 77, 65, 977, 410, 222, 2761,
       78,  157, 254, 236, 76,  85, 82, 220, 551, 220, -1},
      {482, 198, 482, 198, 64, 198, 65, 220, 19, 17, -1},
      {87, 8499, 3805, 220, 8021, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": "
     "\" \"}, \"behavior\": \"MergedWithPrevious\", \"invert\": false}, {\"type\": \"ByteLevel\", "
     "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{667, 390,  220, 220,  86, 274, 729, 220, 64,  16,
       65,  4637, 66,  3024, 18, 220, 482, 220, 220, -1},
      {220, 288, 375, 126, 254, 77, 65, 977, 410, 222, 2761,
       78,  157, 254, 236, 76,  85, 82, 220, 551, 220, -1},
      {482, 198, 482, 198, 64, 198, 65, 220, 19, 17, -1},
      {87, 8499, 3805, 220, 8021, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": "
     "\" \"}, \"behavior\": \"MergedWithPrevious\", \"invert\": true}, {\"type\": \"ByteLevel\", "
     "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{667, 390, 220, 328, 274, 729, 267, 16, 65, 4637, 66, 3024, 18, 949, 220, 220, -1},
      {501, 375, 126, 254, 77, 65, 977, 410,  222, 2761,
       78,  157, 254, 236, 76, 85, 82,  1338, 220, -1},
      {482, 198, 482, 198, 64, 198, 65, 6878, -1},
      {87, 8499, 3805, 394, 19, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": "
     "\" \"}, \"behavior\": \"MergedWithNext\", \"invert\": false}, {\"type\": \"ByteLevel\", "
     "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{667, 390, 220, 328, 274, 729, 267, 16, 65, 4637, 66, 3024, 18, 949, 220, 220, -1},
      {501, 375, 126, 254, 77, 65, 977, 410,  222, 2761,
       78,  157, 254, 236, 76, 85, 82,  1338, 220, -1},
      {482, 198, 482, 198, 64, 198, 65, 6878, -1},
      {87, 8499, 3805, 394, 19, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": "
     "\" \"}, \"behavior\": \"MergedWithNext\", \"invert\": true}, {\"type\": \"ByteLevel\", "
     "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{667, 390,  220, 220,  86, 274, 729, 220, 64,  16,
       65,  4637, 66,  3024, 18, 220, 482, 220, 220, -1},
      {220, 288, 375, 126, 254, 77, 65, 977, 410, 222, 2761,
       78,  157, 254, 236, 76,  85, 82, 220, 551, 220, -1},
      {482, 198, 482, 198, 64, 198, 65, 220, 19, 17, -1},
      {87, 8499, 3805, 220, 8021, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": "
     "\" \"}, \"behavior\": \"Contiguous\", \"invert\": false}, {\"type\": \"ByteLevel\", "
     "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{667, 390, 256, 86, 274, 729, 220, 64, 16, 65, 4637, 66, 3024, 18, 220, 482, 256, -1},
      {220, 288, 375, 126, 254, 77, 65, 977, 410, 222, 2761,
       78,  157, 254, 236, 76,  85, 82, 220, 551, 220, -1},
      {482, 198, 482, 198, 64, 198, 65, 220, 19, 17, -1},
      {87, 8499, 3805, 220, 8021, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": "
     "\" \"}, \"behavior\": \"Contiguous\", \"invert\": true}, {\"type\": \"ByteLevel\", "
     "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{667, 390, 256, 86, 274, 729, 220, 64, 16, 65, 4637, 66, 3024, 18, 220, 482, 256, -1},
      {220, 288, 375, 126, 254, 77, 65, 977, 410, 222, 2761,
       78,  157, 254, 236, 76,  85, 82, 220, 551, 220, -1},
      {482, 198, 482, 198, 64, 198, 65, 220, 19, 17, -1},
      {87, 8499, 3805, 220, 8021, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
     "\"\\\\d+|(?<=a)b\"}, \"behavior\": \"MergedWithNext\", \"invert\": false}, {\"type\": "
     "\"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{667, 390, 256, 86, 274, 729, 267, 16, 65, 4637, 66, 3024, 18, 267, 65, 256, -1},
      {501, 375, 126, 254, 77, 65, 977, 410,  222, 2761,
       78,  157, 254, 236, 76, 85, 82,  1338, 220, -1},
      {64, 65, 198, 64, 65, 198, 64, 198, 65, 220, 19, 17, -1},
      {87, 8499, 3805, 220, 8021, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
     "\"^a|b$|x*\"}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", "
     "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{71, 68, 75, 75, 78, 220, 220, 86, 78,  81, 75, 67,  220, 64,
       16, 65, 17, 17, 66, 18,  18,  18, 220, 64, 65, 220, 220, -1},
      {220, 75, 68,  64,  67,  126, 254, 77, 65,  82, 79, 410, 222, 72, 67,
       68,  78, 157, 254, 236, 76,  85,  82, 220, 68, 77, 67,  220, -1},
      {64, 65, 198, 64, 65, 198, 64, 198, 65, 220, 19, 17, -1},
      {87, 8499, 16, 17, 220, 18, 19, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
     "\"\\\\s\"}, \"behavior\": \"Removed\", \"invert\": false}, {\"type\": \"ByteLevel\", "
     "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}",
     {{667, 390, 86, 274, 729, 64, 16, 65, 4637, 66, 3024, 18, 482, -1},
      {288, 375, 77, 65, 977, 2761, 78, 157, 254, 236, 76, 85, 82, 551, -1},
      {482, 482, 64, 65, 19, 17, -1},
      {87, 8499, 3805, 8021, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": "
     "false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
     "\"use_regex\": true}]}",
     {{667, 390, 220, 328, 274, 729, 267, 16, 65, 4637, 66, 3024, 18, 949, 256, -1},
      {501, 375, 126, 254, 77, 65, 977, 410,  222, 2761,
       78,  157, 254, 236, 76, 85, 82,  1338, 220, -1},
      {482, 198, 482, 198, 64, 198, 65, 220, 19, 17, -1},
      {87, 8499, 3805, 220, 8021, -1}}},
    {"{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": "
     "true}",
     {{5030, 390, 220, 328, 274, 729, 267, 16, 65, 4637, 66, 3024, 18, 949, 256, -1},
      {501, 375, 126, 254, 77, 65, 977, 410,  222, 2761,
       78,  157, 254, 236, 76, 85, 82,  1338, 220, -1},
      {949, 198, 482, 198, 64, 198, 65, 6878, -1},
      {690, 8499, 7542, 394, 19, -1}}},
    {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": "
     "true}, {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, "
     "\"use_regex\": true}]}",
     {{5030, 390, 220, 328, 274, 729, 267, 356, 300, 378, 378, 281, 394, 394, 394, 949, 256, -1},
      {501, 375, 126, 254, 77, 65, 977, 410,  222, 2761,
       78,  157, 254, 236, 76, 85, 82,  1338, 220, -1},
      {949, 198, 482, 198, 64, 198, 65, 220, 451, 378, -1},
      {690, 8499, 356, 378, 220, 394, 451, -1}}},
};

Test(tokenizer_pretok, split_digits_byte_level_variants) {
    size_t n_bad = 0;
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        char *dir;
        cJSON *pre = cJSON_Parse(variants[v].pre_tokenizer);
        cr_assert_not_null(pre);
        mmrt_tokenizer *tok = tokfx_load_with("gpt2", "pre_tokenizer", pre, &dir);
        for (size_t t = 0; t < 4; t++) {
            const int32_t *want = variants[v].ids[t];
            size_t n_want = tokfx_count_ids(want), n_got;
            int32_t *got;
            tokfx_encode_ok(tok, variant_texts[t], strlen(variant_texts[t]), true, &got, &n_got);
            if (!tokfx_ids_equal(want, n_want, got, n_got) && n_bad++ < TOKFX_MAX_SHOWN) {
                char a[512], b[512];
                fprintf(stderr, "%s\n  text %zu: expected %s\n  got      %s\n",
                        variants[v].pre_tokenizer, t, tokfx_fmt_ids(a, sizeof a, want, n_want),
                        tokfx_fmt_ids(b, sizeof b, got, n_got));
            }
            free(got);
        }
        mmrt_tokenizer_free(tok);
        tmpdir_remove(dir);
    }
    cr_assert_eq(n_bad, 0, "%zu pre-tokenizer variant encodings differ from HF", n_bad);
}

/* Letters and digits newer than PCRE2 10.42's Unicode tables (Cyrillic TJE U+1C89-1C8A, Garay
 * digit U+10D40, Rust-only numerics U+11DE0 and U+16FF4) and U+180E, which PCRE2's \s has and
 * HF's does not: the regex translation must follow HF.
 * (t.encode(s, add_special_tokens=False).ids) */
Test(tokenizer_pretok, newer_unicode_and_white_space) {
    static const char text[] = "A\xe1\xb2\x89\xe1\xb2\x8a"
                               "B 1\xf0\x90\xb5\x80\xf0\x91\xb7\xa0 "
                               "\xf0\x96\xbf\xb4x \xe1\xa0\x8e\xe3\x80\x80 y";
    static const struct {
        const char *tok;
        int32_t ids[40];
    } want[] = {
        {"smollm2", {35,  160, 113, 234, 160, 113, 235, 36, 223, 19,  175, 241, 116, 225, 175, 242,
                     118, 257, 223, 175, 247, 126, 115, 90, 223, 160, 257, 239, 410, 225, 442, -1}},
        {"gpt2", {32,  157, 110, 231, 157, 110, 232, 33,  356, 172, 238, 113, 222, 172, 239, 115,
                  254, 220, 172, 244, 123, 112, 87,  220, 157, 254, 236, 410, 222, 443, -1}},
        {"llama3", {32,  157, 110, 231, 157, 110, 232, 33, 220, 16,  172, 238, 113, 222, 172, 239,
                    115, 254, 220, 172, 244, 123, 112, 87, 220, 157, 254, 236, 411, 222, 442, -1}},
    };
    size_t n_bad = 0;
    for (size_t i = 0; i < 3; i++) {
        mmrt_tokenizer *tok = tokfx_load_named(want[i].tok);
        size_t n_want = tokfx_count_ids(want[i].ids), n_got;
        int32_t *got;
        tokfx_encode_ok(tok, text, strlen(text), true, &got, &n_got);
        if (!tokfx_ids_equal(want[i].ids, n_want, got, n_got) && n_bad++ < TOKFX_MAX_SHOWN) {
            char a[512], b[512];
            fprintf(stderr, "%s\n  expected %s\n  got      %s\n", want[i].tok,
                    tokfx_fmt_ids(a, sizeof a, want[i].ids, n_want),
                    tokfx_fmt_ids(b, sizeof b, got, n_got));
        }
        free(got);
        mmrt_tokenizer_free(tok);
    }
    cr_assert_eq(n_bad, 0, "%zu tokenizers split newer Unicode differently from HF", n_bad);
}

/* The same text, piece by piece, through each fixture's pre-tokenizer: here a wrong letter or digit
 * class shows even where BPE would hide it. (t.pre_tokenizer.pre_tokenize_str(s)) */
typedef struct pieces {
    char buf[1024];
    size_t n, len;
} pieces;

static mmrt_status collect_piece(void *user, const char *piece, size_t n, mmrt_error *err) {
    pieces *p = user;
    cr_assert_lt(p->len + n + 1, sizeof p->buf);
    memcpy(p->buf + p->len, piece, n);
    p->buf[p->len + n] = '|';
    p->len += n + 1;
    p->n++;
    return MMRT_OK;
}

Test(tokenizer_pretok, newer_unicode_pieces) {
    static const char text[] = "A\xe1\xb2\x89\xe1\xb2\x8a"
                               "B 1\xf0\x90\xb5\x80\xf0\x91\xb7\xa0 "
                               "\xf0\x96\xbf\xb4x \xe1\xa0\x8e\xe3\x80\x80 y";
    static const struct {
        const char *tok;
        const char *pieces[12];
    } want[] = {
        {"smollm2",
         {"A\xc3\xa1\xc2\xb2\xc4\xab\xc3\xa1\xc2\xb2\xc4\xac"
          "B",
          "\xc4\xa0", "1", "\xc3\xb0\xc4\xb2\xc2\xb5\xc4\xa2", "\xc3\xb0\xc4\xb3\xc2\xb7\xc5\x82",
          "\xc4\xa0", "\xc3\xb0\xc4\xb8\xc2\xbf\xc2\xb4", "x", "\xc4\xa0\xc3\xa1\xc5\x82\xc4\xb0",
          "\xc3\xa3\xc4\xa2\xc4\xa2", "\xc4\xa0y", NULL}},
        {"gpt2",
         {"A\xc3\xa1\xc2\xb2\xc4\xab\xc3\xa1\xc2\xb2\xc4\xac"
          "B",
          "\xc4\xa0"
          "1\xc3\xb0\xc4\xb2\xc2\xb5\xc4\xa2",
          "\xc3\xb0\xc4\xb3\xc2\xb7\xc5\x82", "\xc4\xa0\xc3\xb0\xc4\xb8\xc2\xbf\xc2\xb4", "x",
          "\xc4\xa0\xc3\xa1\xc5\x82\xc4\xb0", "\xc3\xa3\xc4\xa2\xc4\xa2", "\xc4\xa0y", NULL}},
        {"llama3",
         {"A\xc3\xa1\xc2\xb2\xc4\xab\xc3\xa1\xc2\xb2\xc4\xac"
          "B",
          "\xc4\xa0", "1\xc3\xb0\xc4\xb2\xc2\xb5\xc4\xa2", "\xc3\xb0\xc4\xb3\xc2\xb7\xc5\x82",
          "\xc4\xa0\xc3\xb0\xc4\xb8\xc2\xbf\xc2\xb4", "x", "\xc4\xa0\xc3\xa1\xc5\x82\xc4\xb0",
          "\xc3\xa3\xc4\xa2\xc4\xa2", "\xc4\xa0y", NULL}},
    };
    size_t n_bad = 0;
    for (size_t i = 0; i < 3; i++) {
        mmrt_tokenizer *tok = tokfx_load_named(want[i].tok);
        mmrt_regex_scratch *rsc = NULL;
        mmrt_pretok_scratch *psc = NULL;
        mmrt_error err = {0};
        cr_assert_eq(mmrt_regex_scratch_init(&rsc, &err), MMRT_OK);
        cr_assert_eq(mmrt_pretok_scratch_init(&tok->pretok, rsc, &psc, &err), MMRT_OK);
        pieces got = {0}, exp = {0};
        cr_assert_eq(
            mmrt_pretok_run(&tok->pretok, psc, text, strlen(text), collect_piece, &got, &err),
            MMRT_OK, "%s", err.msg);
        for (size_t k = 0; want[i].pieces[k]; k++)
            collect_piece(&exp, want[i].pieces[k], strlen(want[i].pieces[k]), NULL);
        if ((got.len != exp.len || memcmp(got.buf, exp.buf, got.len) != 0) &&
            n_bad++ < TOKFX_MAX_SHOWN) {
            char a[1024], b[1024];
            fprintf(stderr, "%s pieces\n  expected %s\n  got      %s\n", want[i].tok,
                    tokfx_fmt_str(a, sizeof a, exp.buf, exp.len),
                    tokfx_fmt_str(b, sizeof b, got.buf, got.len));
        }
        mmrt_pretok_scratch_free(psc);
        mmrt_regex_scratch_free(rsc);
        mmrt_tokenizer_free(tok);
    }
    cr_assert_eq(n_bad, 0, "%zu pre-tokenizers split newer Unicode differently from HF", n_bad);
}

/* Without a decoder HF joins the raw token strings with spaces. */
Test(tokenizer_pretok, null_decoder_joins_with_spaces) {
    char *dir;
    mmrt_tokenizer *tok = tokfx_load_with("gpt2", "decoder", cJSON_CreateNull(), &dir);
    const int32_t a[] = {39, 315, 390, 8499, 86, 274, 729}, b[] = {8499, 39, 8499},
                  c[] = {220, 8499, 220};
    size_t la, lb, lc, ls, bad = 0;
    char *da = tokfx_decode_ok(tok, a, 7, false, &la), *db = tokfx_decode_ok(tok, b, 3, true, &lb),
         *dc = tokfx_decode_ok(tok, c, 3, false, &lc);
    char *sa = tokfx_stream_all(tok, a, 7, false, &ls, &bad);
    cr_expect_str_eq(da, "H el lo <|endoftext|> w or ld");
    cr_expect_str_eq(db, "H");
    cr_expect_str_eq(dc, "\xc4\xa0 <|endoftext|> \xc4\xa0");
    cr_expect_str_eq(sa, da);
    free(da);
    free(db);
    free(dc);
    free(sa);
    mmrt_tokenizer_free(tok);
    tmpdir_remove(dir);
}

/* A Split pattern that backtracks over a whole long piece outgrows PCRE2's default JIT stack
 * (and, at a million characters, the 8 MiB one): the matcher must fall back rather than fail.
 * ("x" + "ab" * n + "!a" with pre_tokenizer Split(Regex "(?:ab|a)+!", Isolated) + ByteLevel.) */
Test(tokenizer_long, backtracking_regex_over_long_piece) {
    char *dir;
    cJSON *pre =
        cJSON_Parse("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
                    "\"pattern\": {\"Regex\": \"(?:ab|a)+!\"}, \"behavior\": \"Isolated\", "
                    "\"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": "
                    "false, \"trim_offsets\": true, \"use_regex\": false}]}");
    mmrt_tokenizer *tok = tokfx_load_with("gpt2", "pre_tokenizer", pre, &dir);
    static const struct {
        size_t n, n_ids;
        uint64_t fnv;
    } want[] = {
        {1000, 1003, 0xca26dd9b70d1b18cull},
        {20000, 20003, 0x32ee3a397cf1871cull},
        {200000, 200003, 0x455e9d375873f35cull},
        {500000, 500003, 0x55a9302fa4df811cull},
    };
    size_t n_bad = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t len = 2 * want[i].n + 3, n_got;
        char *s = malloc(len + 1);
        s[0] = 'x';
        for (size_t k = 0; k < want[i].n; k++) memcpy(s + 1 + 2 * k, "ab", 2);
        memcpy(s + len - 2, "!a", 3);
        int32_t *got;
        tokfx_encode_ok(tok, s, len, true, &got, &n_got);
        if ((n_got != want[i].n_ids || tokfx_fnv_ids(got, n_got) != want[i].fnv) &&
            n_bad++ < TOKFX_MAX_SHOWN)
            fprintf(stderr, "n=%zu: expected %zu ids (fnv %016llx), got %zu (fnv %016llx)\n",
                    want[i].n, want[i].n_ids, (unsigned long long)want[i].fnv, n_got,
                    (unsigned long long)tokfx_fnv_ids(got, n_got));
        free(got);
        free(s);
    }
    mmrt_tokenizer_free(tok);
    tmpdir_remove(dir);
    cr_assert_eq(n_bad, 0, "%zu long backtracking inputs differ from HF", n_bad);
}

/* ---------------------------------------------------------------------------------------------- */

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
        mmrt_tokenizer *tok = tokfx_load_named(want[w].tok);
        size_t k = 0;
        while (strcmp(inputs[k].kind, want[w].kind) != 0) k++;
        size_t len, n, dl;
        char *s = repeat(inputs[k].unit, inputs[k].times, &len);
        int32_t *ids;
        tokfx_encode_ok(tok, s, len, true, &ids, &n);
        char *dec = tokfx_decode_ok(tok, ids, n, false, &dl);
        if ((n != want[w].n || tokfx_fnv_ids(ids, n) != want[w].fnv) && n_bad++ < TOKFX_MAX_SHOWN)
            fprintf(stderr, "%s/%s: expected %zu ids (fnv %016llx), got %zu (fnv %016llx)\n",
                    want[w].tok, want[w].kind, want[w].n, (unsigned long long)want[w].fnv, n,
                    (unsigned long long)tokfx_fnv_ids(ids, n));
        if ((dl != len || memcmp(dec, s, len) != 0) && n_bad++ < TOKFX_MAX_SHOWN)
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
