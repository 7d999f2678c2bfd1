/* text/tokenizer against Hugging Face tokenizers on variants of the fixture tokenizers:
 * fixtures/tokenizer/pipelines.json (tools/fixtures_tokenizer.py) lists pipelines, each a fixture
 * tokenizer.json with top-level keys replaced (pre_tokenizer, normalizer, decoder) or added tokens
 * appended, and what HF gives for it: added tokens, ids of each text with special-token parsing on
 * and off, decodes with and without skip_special_tokens, pre-tokenizer pieces, and counts plus
 * hashes of the ids and decodes of long inputs.
 *
 * One test per group of pipelines (special tokens, custom added tokens, Split/Digits/ByteLevel
 * variants, regex classes, newer Unicode, ...); every group runs every check its pipelines carry.
 * The regex_classes and newer_unicode groups guard text/regex.c's rewrites of \s, \S, \p{L}, \p{N}
 * (PCRE2's \s has U+180E, HF's does not; PCRE2 10.42 lacks letters and digits HF knows).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

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

#define PIPELINES TOKFX_DIR "/pipelines.json"

/* Every group in pipelines.json, each one run of pipelines_match_hf (see every_group_is_tested). */
static const char *const groups[] = {
    "special_tokens",   "added_tokens", "split_variants",    "regex_classes", "newer_unicode",
    "empty_normalizer", "null_decoder", "long_backtracking", "long_inputs",
};
#define N_GROUPS (sizeof groups / sizeof groups[0])

/* What one pipeline is checked on, and how the checks went. */
typedef struct run {
    const mmrt_tokenizer *tok;
    const cJSON *pipeline, *added; /* the entry and its added_tokens */
    char label[160];               /* "group (pipelines[i], base)", for reports */
    size_t n_checks, n_bad;
} run;

/* Whether HF has id as a special added token. */
static bool hf_special(const run *r, int32_t id) {
    const cJSON *a;
    cJSON_ArrayForEach(a, r->added) {
        if ((int32_t)tokfx_get_num(a, "id") == id) return tokfx_get_bool(a, "special");
    }
    return false;
}

static void check_added_tokens(run *r) {
    const cJSON *a;
    cJSON_ArrayForEach(a, r->added) {
        const char *content = tokfx_get_str(a, "content");
        int32_t want[2] = {(int32_t)tokfx_get_num(a, "id"), tokfx_get_bool(a, "special")};
        int32_t got[2] = {mmrt_tokenizer_find(r->tok, content),
                          mmrt_tokenizer_is_special(r->tok, want[0])};
        r->n_checks++;
        tokfx_expect_ids(&r->n_bad, want, 2, got, 2, "%s: added token \"%s\" (id, special)",
                         r->label, content);
    }
}

/* decode and the stream of HF's ids, both with and without skip_special, against HF's text. */
static void check_decode(run *r, const cJSON *c, const int32_t *ids, size_t n, size_t k) {
    for (int skip = 0; skip < 2; skip++) {
        const char *want = tokfx_get_str(c, skip ? "decoded_skip" : "decoded");
        size_t len, sl, bad_chunks = 0;
        char *got = tokfx_decode_ok(r->tok, ids, n, skip, &len);
        char *streamed = tokfx_stream_all(r->tok, ids, n, skip, &sl, &bad_chunks);
        r->n_checks += 2;
        tokfx_expect_bytes(&r->n_bad, want, strlen(want), got, len,
                           "%s: encode[%zu] decode (skip_special=%d)", r->label, k, skip);
        tokfx_expect_bytes(&r->n_bad, want, strlen(want), streamed, sl,
                           "%s: encode[%zu] stream (skip_special=%d)", r->label, k, skip);
        if (bad_chunks && r->n_bad++ < TOKFX_MAX_SHOWN)
            fprintf(stderr, "%s: encode[%zu] streamed %zu partial characters\n", r->label, k,
                    bad_chunks);
        free(got);
        free(streamed);
    }
}

static void check_encode(run *r) {
    size_t k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(r->pipeline, "encode")) {
        const char *text = tokfx_get_str(c, "text");
        bool parse_special = tokfx_get_bool(c, "parse_special");
        size_t n_want, n_got;
        int32_t *want = tokfx_json_ids(cJSON_GetObjectItem(c, "ids"), &n_want), *got;
        tokfx_encode_ok(r->tok, text, strlen(text), parse_special, &got, &n_got);
        char t[256];
        r->n_checks++;
        tokfx_expect_ids(&r->n_bad, want, n_want, got, n_got,
                         "%s: encode[%zu] \"%s\" (parse_special=%d)", r->label, k,
                         tokfx_fmt_str(t, sizeof t, text, strlen(text)), parse_special);
        for (size_t i = 0; i < n_want; i++) {
            r->n_checks++;
            if (mmrt_tokenizer_is_special(r->tok, want[i]) != hf_special(r, want[i]) &&
                r->n_bad++ < TOKFX_MAX_SHOWN)
                fprintf(stderr, "%s: is_special(%d) differs from HF\n", r->label, want[i]);
        }
        check_decode(r, c, want, n_want, k);
        free(want);
        free(got);
        k++;
    }
}

static mmrt_status collect_piece(void *user, const char *piece, size_t n, mmrt_error *err) {
    (void)err;
    char *copy = malloc(n + 1);
    memcpy(copy, piece, n);
    copy[n] = '\0';
    cr_assert(cJSON_AddItemToArray(user, cJSON_CreateString(copy)));
    free(copy);
    return MMRT_OK;
}

/* The pre-tokenizer alone, piece by piece: a wrong letter, digit or space class shows here even
 * where BPE would hide it. */
static void check_pre_tokenize(run *r) {
    mmrt_regex_scratch *rsc = NULL;
    mmrt_pretok_scratch *psc = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_regex_scratch_init(&rsc, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_pretok_scratch_init(&r->tok->pretok, rsc, &psc, &err), MMRT_OK, "%s",
                 err.msg);
    size_t k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(r->pipeline, "pre_tokenize")) {
        const char *text = tokfx_get_str(c, "text");
        const cJSON *want = cJSON_GetObjectItem(c, "pieces");
        cJSON *got = cJSON_CreateArray();
        cr_assert_eq(
            mmrt_pretok_run(&r->tok->pretok, psc, text, strlen(text), collect_piece, got, &err),
            MMRT_OK, "%s", err.msg);
        r->n_checks++;
        if (!cJSON_Compare(want, got, true) && r->n_bad++ < TOKFX_MAX_SHOWN) {
            char *a = cJSON_PrintUnformatted(want), *b = cJSON_PrintUnformatted(got);
            fprintf(stderr, "%s: pre_tokenize[%zu]\n  expected %s\n  got      %s\n", r->label, k, a,
                    b);
            free(a);
            free(b);
        }
        cJSON_Delete(got);
        k++;
    }
    mmrt_pretok_scratch_free(psc);
    mmrt_regex_scratch_free(rsc);
}

static uint64_t hex64(const cJSON *c, const char *key) {
    return strtoull(tokfx_get_str(c, key), NULL, 16);
}

/* Long inputs: counts and FNV-1a hashes of HF's ids and decode. */
static void check_long(run *r) {
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(r->pipeline, "long")) {
        const char *prefix = tokfx_get_str(c, "prefix"), *unit = tokfx_get_str(c, "unit"),
                   *suffix = tokfx_get_str(c, "suffix");
        size_t times = (size_t)tokfx_get_num(c, "times"), np = strlen(prefix), nu = strlen(unit);
        size_t len = np + nu * times + strlen(suffix), n, dl;
        char *s = malloc(len + 1);
        memcpy(s, prefix, np);
        for (size_t i = 0; i < times; i++) memcpy(s + np + i * nu, unit, nu);
        strcpy(s + np + nu * times, suffix);
        int32_t *ids;
        tokfx_encode_ok(r->tok, s, len, true, &ids, &n);
        char *dec = tokfx_decode_ok(r->tok, ids, n, false, &dl);
        size_t want_n = (size_t)tokfx_get_num(c, "n_ids");
        size_t want_dl = (size_t)tokfx_get_num(c, "decoded_bytes");
        uint64_t want_ids = hex64(c, "ids_fnv"), got_ids = tokfx_fnv_ids(ids, n);
        uint64_t want_dec = hex64(c, "decoded_fnv"), got_dec = tokfx_fnv_bytes(dec, dl);
        r->n_checks++;
        char u[64];
        if ((n != want_n || got_ids != want_ids || dl != want_dl || got_dec != want_dec) &&
            r->n_bad++ < TOKFX_MAX_SHOWN)
            fprintf(stderr,
                    "%s: \"%s\" + \"%s\" * %zu + \"%s\"\n"
                    "  expected %zu ids (fnv %016llx), decode %zu bytes (fnv %016llx)\n"
                    "  got      %zu ids (fnv %016llx), decode %zu bytes (fnv %016llx)\n",
                    r->label, prefix, tokfx_fmt_str(u, sizeof u, unit, nu), times, suffix, want_n,
                    (unsigned long long)want_ids, want_dl, (unsigned long long)want_dec, n,
                    (unsigned long long)got_ids, dl, (unsigned long long)got_dec);
        free(s);
        free(ids);
        free(dec);
    }
}

/* Runs every check of every pipeline in group; fails when the group is missing or differs. */
static void check_group(const char *group) {
    cJSON *fx = tokfx_read_json(PIPELINES);
    size_t n_pipelines = 0, n_checks = 0, n_bad = 0, i = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(fx, "pipelines")) {
        if (strcmp(tokfx_get_str(p, "group"), group) == 0) {
            char *dir;
            mmrt_tokenizer *tok = tokfx_load_pipeline(p, &dir);
            run r = {tok, p, cJSON_GetObjectItem(p, "added_tokens"), "", 0, n_bad};
            snprintf(r.label, sizeof r.label, "%s (pipelines[%zu], %s)", group, i,
                     tokfx_get_str(p, "base"));
            check_added_tokens(&r);
            check_encode(&r);
            check_pre_tokenize(&r);
            check_long(&r);
            n_checks += r.n_checks;
            n_bad = r.n_bad;
            n_pipelines++;
            mmrt_tokenizer_free(tok);
            if (dir) tmpdir_remove(dir);
        }
        i++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cJSON_Delete(fx);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cr_assert_gt(n_pipelines, 0, "pipelines.json has no group \"%s\"", group);
    cr_assert_gt(n_checks, 0, "group \"%s\" has nothing to check", group);
    cr_assert_eq(n_bad, 0, "%s: %zu of %zu checks differ from HF", group, n_bad, n_checks);
    /* long_inputs is ~2.3 MB of text: a quadratic merge loop would take minutes. Generous for
     * sanitizers and valgrind. */
    cr_assert_lt(secs, 60.0, "%s took %.1f s", group, secs);
}

/* Criterion re-executes the test binary per test, so parameters are indices, not pointers. */
ParameterizedTestParameters(tokenizer_hf, pipelines_match_hf) {
    static size_t idx[N_GROUPS];
    for (size_t i = 0; i < N_GROUPS; i++) idx[i] = i;
    return cr_make_param_array(size_t, idx, N_GROUPS);
}

ParameterizedTest(size_t *g, tokenizer_hf, pipelines_match_hf) { check_group(groups[*g]); }

/* A group added to the fixture without a test would go unchecked. */
Test(tokenizer_hf, every_group_is_tested) {
    cJSON *fx = tokfx_read_json(PIPELINES);
    cr_assert_not_null(cJSON_GetObjectItem(fx, "versions"), "pipelines.json records no versions");
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(fx, "pipelines")) {
        const char *group = tokfx_get_str(p, "group");
        size_t g = 0;
        while (g < N_GROUPS && strcmp(groups[g], group) != 0) g++;
        cr_expect_lt(g, N_GROUPS, "group \"%s\" of pipelines.json has no test", group);
    }
    cJSON_Delete(fx);
}
