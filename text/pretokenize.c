/* Pre-tokenizer parsing and application (see pretokenize.h). */
#include "text/pretokenize.h"

#include "text/byte_level.h"
#include "text/grow.h"
#include "core/json.h"
#include "text/json_type.h"
#include "text/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GPT-2's split, as HF's ByteLevel pre-tokenizer compiles it. */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* One character of Rust's char::is_numeric, which HF's Digits uses. */
static const char NUMERIC_PATTERN[] = "[" MMRT_REGEX_CLASS_RUST_NUMERIC "]";

/* ---- parsing --------------------------------------------------------------------------------- */

/* Steps run recursively, one level per step, and every ByteLevel step can double the text: both
 * bounds keep a hostile file from exhausting the stack or memory. */
#define MAX_STEPS 64

static mmrt_status add_step(mmrt_pretok *p, mmrt_pretok_step step, const char *path,
                            mmrt_error *err) {
    bool second_byte_level = false;
    for (size_t i = 0; i < p->n_steps && step.kind == MMRT_PRETOK_BYTE_LEVEL; i++)
        second_byte_level |= p->steps[i].kind == MMRT_PRETOK_BYTE_LEVEL;
    if (p->n_steps == MAX_STEPS || second_byte_level) {
        mmrt_regex_free(step.re);
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              second_byte_level
                                  ? "%s: more than one ByteLevel pre_tokenizer is not supported"
                                  : "%s: more than 64 pre_tokenizers are not supported",
                              path);
    }
    mmrt_pretok_step *steps = realloc(p->steps, (p->n_steps + 1) * sizeof *steps);
    if (!steps) {
        mmrt_regex_free(step.re);
        return mmrt_error_oom(err, (p->n_steps + 1) * sizeof *steps, "pre-tokenizer steps");
    }
    p->steps = steps;
    p->steps[p->n_steps++] = step;
    return MMRT_OK;
}

static mmrt_status parse_behavior(const cJSON *j, const char *path, mmrt_split_behavior *out,
                                  mmrt_error *err) {
    static const struct {
        const char *name;
        mmrt_split_behavior b;
    } names[] = {
        {"Removed", MMRT_SPLIT_REMOVED},
        {"Isolated", MMRT_SPLIT_ISOLATED},
        {"MergedWithPrevious", MMRT_SPLIT_MERGED_WITH_PREVIOUS},
        {"MergedWithNext", MMRT_SPLIT_MERGED_WITH_NEXT},
        {"Contiguous", MMRT_SPLIT_CONTIGUOUS},
    };
    const char *s;
    MMRT_TRY(mmrt_json_get_string(j, "behavior", false, &s, path, err));
    if (!s)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: Split pre_tokenizer has no behavior",
                              path);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].b;
            return MMRT_OK;
        }
    }
    return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                          "%s: Split pre_tokenizer behavior \"%s\" is not supported", path, s);
}

static mmrt_status parse_split(const cJSON *j, const char *path, mmrt_pretok *p, mmrt_error *err) {
    mmrt_pretok_step step = {.kind = MMRT_PRETOK_SPLIT};
    MMRT_TRY(parse_behavior(j, path, &step.behavior, err));
    MMRT_TRY(mmrt_json_get_bool(j, "invert", false, false, &step.invert, path, err));
    const cJSON *pat = mmrt_json_find(j, "pattern");
    const cJSON *str = mmrt_json_find(pat, "String");
    const cJSON *rx = mmrt_json_find(pat, "Regex");
    const cJSON *v = cJSON_IsString(str) ? str : rx;
    if (!cJSON_IsObject(pat) || !cJSON_IsString(v))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: Split pre_tokenizer pattern must be {\"String\": ...} or "
                              "{\"Regex\": ...}",
                              path);
    char what[MMRT_ERROR_MSG_MAX / 2];
    snprintf(what, sizeof what, "%s: Split pre_tokenizer", path);
    MMRT_TRY(mmrt_regex_compile(v->valuestring, strlen(v->valuestring),
                                v == str ? MMRT_REGEX_LITERAL : MMRT_REGEX_ONIG, what, &step.re,
                                err));
    return add_step(p, step, path, err);
}

static mmrt_status parse_one(const cJSON *j, const char *path, mmrt_pretok *p, mmrt_error *err) {
    const char *type;
    MMRT_TRY(mmrt_tok_json_type(j, &type, path, "pre_tokenizer", err));
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = mmrt_json_find(j, "pretokenizers");
        if (!cJSON_IsArray(list))
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "%s: Sequence pre_tokenizer has no \"pretokenizers\" array",
                                  path);
        const cJSON *item;
        cJSON_ArrayForEach(item, list) MMRT_TRY(parse_one(item, path, p, err));
        return MMRT_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        mmrt_pretok_step step = {.kind = MMRT_PRETOK_BYTE_LEVEL, .behavior = MMRT_SPLIT_ISOLATED};
        bool use_regex;
        /* HF's defaults when the fields are absent. */
        MMRT_TRY(mmrt_json_get_bool(j, "add_prefix_space", false, true, &step.add_prefix_space,
                                    path, err));
        MMRT_TRY(mmrt_json_get_bool(j, "use_regex", false, true, &use_regex, path, err));
        if (use_regex)
            MMRT_TRY(mmrt_regex_compile(GPT2_PATTERN, sizeof GPT2_PATTERN - 1, MMRT_REGEX_ONIG,
                                        "GPT-2 pattern", &step.re, err));
        return add_step(p, step, path, err);
    }
    if (strcmp(type, "Split") == 0) return parse_split(j, path, p, err);
    if (strcmp(type, "Digits") == 0) {
        mmrt_pretok_step step = {.kind = MMRT_PRETOK_DIGITS};
        bool individual;
        MMRT_TRY(mmrt_json_get_bool(j, "individual_digits", false, false, &individual, path, err));
        step.behavior = individual ? MMRT_SPLIT_ISOLATED : MMRT_SPLIT_CONTIGUOUS;
        MMRT_TRY(mmrt_regex_compile(NUMERIC_PATTERN, sizeof NUMERIC_PATTERN - 1, MMRT_REGEX_PCRE2,
                                    "numeric class", &step.re, err));
        return add_step(p, step, path, err);
    }
    return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                          "%s: pre_tokenizer type \"%s\" is not supported (supported: ByteLevel, "
                          "Split, Digits, Sequence)",
                          path, type);
}

mmrt_status mmrt_pretok_parse(const cJSON *j, const char *path, mmrt_pretok *out, mmrt_error *err) {
    memset(out, 0, sizeof *out);
    if (!j) return MMRT_OK;
    mmrt_status st = parse_one(j, path, out, err);
    if (st != MMRT_OK) mmrt_pretok_free(out);
    return st;
}

void mmrt_pretok_free(mmrt_pretok *p) {
    for (size_t i = 0; i < p->n_steps; i++) mmrt_regex_free(p->steps[i].re);
    free(p->steps);
    memset(p, 0, sizeof *p);
}

/* ---- running --------------------------------------------------------------------------------- */

/* Each step owns its buffers: while a step walks its pieces, deeper steps reuse theirs. */
typedef struct level {
    mmrt_span_vec spans, kept;
    char *prefixed, *mapped;
    size_t prefixed_cap, mapped_cap;
} level;

struct mmrt_pretok_scratch {
    mmrt_regex_scratch *rsc; /* borrowed */
    level *lv;
    size_t n_lv;
};

mmrt_status mmrt_pretok_scratch_init(const mmrt_pretok *p, mmrt_regex_scratch *rsc,
                                     mmrt_pretok_scratch **out, mmrt_error *err) {
    mmrt_pretok_scratch *sc = calloc(1, sizeof *sc);
    level *lv = calloc(p->n_steps ? p->n_steps : 1, sizeof *lv);
    if (!sc || !lv) {
        free(sc);
        free(lv);
        return mmrt_error_oom(err, sizeof *sc + p->n_steps * sizeof *lv, "pre-tokenizer scratch");
    }
    sc->rsc = rsc;
    sc->lv = lv;
    sc->n_lv = p->n_steps;
    *out = sc;
    return MMRT_OK;
}

void mmrt_pretok_scratch_free(mmrt_pretok_scratch *sc) {
    if (!sc) return;
    for (size_t i = 0; i < sc->n_lv; i++) {
        mmrt_span_vec_free(&sc->lv[i].spans);
        mmrt_span_vec_free(&sc->lv[i].kept);
        free(sc->lv[i].prefixed);
        free(sc->lv[i].mapped);
    }
    free(sc->lv);
    free(sc);
}

/* HF's SplitDelimiterBehavior applied to the matched/unmatched spans (flags already inverted
 * when asked). The merges mirror HF's folds, including MergedWithNext walking backwards. */
static int apply_behavior(const mmrt_span_vec *in, mmrt_split_behavior b, bool invert,
                          mmrt_span_vec *out) {
    out->n = 0;
    bool prev_match = false;
    if (b == MMRT_SPLIT_MERGED_WITH_NEXT) {
        for (size_t i = in->n; i-- > 0;) {
            mmrt_span s = in->v[i];
            bool m = s.match != invert;
            if (m && !prev_match && out->n > 0)
                out->v[out->n - 1].start = s.start;
            else if (mmrt_span_push(out, s.start, s.end, false) != 0)
                return -1;
            prev_match = m;
        }
        for (size_t i = 0; i < out->n / 2; i++) {
            mmrt_span t = out->v[i];
            out->v[i] = out->v[out->n - 1 - i];
            out->v[out->n - 1 - i] = t;
        }
        return 0;
    }
    for (size_t i = 0; i < in->n; i++) {
        mmrt_span s = in->v[i];
        bool m = s.match != invert;
        bool extend = false;
        switch (b) {
        case MMRT_SPLIT_REMOVED:
            if (m) continue;
            break;
        case MMRT_SPLIT_CONTIGUOUS: extend = m == prev_match && out->n > 0; break;
        case MMRT_SPLIT_MERGED_WITH_PREVIOUS: extend = m && !prev_match && out->n > 0; break;
        default: break;
        }
        if (extend)
            out->v[out->n - 1].end = s.end;
        else if (mmrt_span_push(out, s.start, s.end, false) != 0)
            return -1;
        prev_match = m;
    }
    return 0;
}

static mmrt_status run_from(const mmrt_pretok *p, mmrt_pretok_scratch *sc, size_t k, const char *s,
                            size_t n, mmrt_pretok_sink sink, void *user, mmrt_error *err) {
    if (n == 0) return MMRT_OK;
    if (k == p->n_steps) return sink(user, s, n, err);
    const mmrt_pretok_step *st = &p->steps[k];
    level *lv = &sc->lv[k];

    if (st->kind == MMRT_PRETOK_BYTE_LEVEL && st->add_prefix_space && s[0] != ' ') {
        if (mmrt_tok_reserve(&lv->prefixed, &lv->prefixed_cap, n + 1) != 0)
            return mmrt_error_oom(err, n + 1, "pre-tokenizer buffer");
        lv->prefixed[0] = ' ';
        memcpy(lv->prefixed + 1, s, n);
        s = lv->prefixed;
        n++;
    }
    lv->kept.n = 0;
    if (st->re) {
        MMRT_TRY(mmrt_regex_find_matches(st->re, sc->rsc, s, n, &lv->spans, err));
        if (apply_behavior(&lv->spans, st->behavior, st->invert, &lv->kept) != 0)
            return mmrt_error_oom(err, lv->spans.n * sizeof(mmrt_span), "pre-tokenizer spans");
    } else if (mmrt_span_push(&lv->kept, 0, n, false) != 0) {
        return mmrt_error_oom(err, sizeof(mmrt_span), "pre-tokenizer spans");
    }

    for (size_t i = 0; i < lv->kept.n; i++) {
        const char *piece = s + lv->kept.v[i].start;
        size_t len = lv->kept.v[i].end - lv->kept.v[i].start;
        if (st->kind == MMRT_PRETOK_BYTE_LEVEL) {
            /* Byte-level characters are U+0021..U+0143: at most two UTF-8 bytes per byte. */
            if (mmrt_tok_reserve(&lv->mapped, &lv->mapped_cap, 2 * len + 1) != 0)
                return mmrt_error_oom(err, 2 * len + 1, "byte-level buffer");
            size_t m = 0;
            for (size_t b = 0; b < len; b++)
                m += mmrt_utf8_encode(mmrt_byte_level_char((uint8_t)piece[b]), lv->mapped + m);
            piece = lv->mapped;
            len = m;
        }
        MMRT_TRY(run_from(p, sc, k + 1, piece, len, sink, user, err));
    }
    return MMRT_OK;
}

mmrt_status mmrt_pretok_run(const mmrt_pretok *p, mmrt_pretok_scratch *sc, const char *s, size_t n,
                            mmrt_pretok_sink sink, void *user, mmrt_error *err) {
    return run_from(p, sc, 0, s, n, sink, user, err);
}
