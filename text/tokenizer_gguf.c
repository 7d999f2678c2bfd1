/* A GGUF file's tokenizer (tokenizer.ggml.*) as the tokenizer.json it stands for (see tokenizer.h).
 *
 * llama.cpp names a byte-level BPE tokenizer's pre-tokenizer by a short string (tokenizer.ggml.pre)
 * and keeps its regexes in its own source; the table below maps the names whose Hugging Face
 * pipeline mmrt runs (text/pretokenize.c) to that pipeline, so the tokens are the ones the original
 * tokenizer.json gives (facts read from llama.cpp's llama-vocab.cpp and the models' tokenizer.json). */
#include "text/tokenizer.h"

#include "core/gguf.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GGUF token types (llama.cpp's llama_token_type / gguf-py's TokenType). */
enum { TOKEN_CONTROL = 3, TOKEN_USER_DEFINED = 4 };

#define GPT2_SPLIT "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
/* Llama 3's (tiktoken cl100k's) pattern as its tokenizer.json writes it. */
#define LLAMA3_SPLIT                                                                               \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef enum pre_kind {
    PRE_GPT2,    /* ByteLevel with the GPT-2 regex */
    PRE_DIGITS,  /* Digits(individual) then ByteLevel with the GPT-2 regex (SmolLM, StarCoder) */
    PRE_LLAMA3,  /* Split(Llama 3 regex, Isolated), ByteLevel without regex; ignore_merges */
    PRE_DEFAULT, /* llama.cpp's fallback: four regex splits, ByteLevel without regex */
} pre_kind;

typedef struct pre_name {
    const char *name;
    pre_kind kind;
} pre_name;

static const pre_name pre_names[] = {
    {"gpt-2", PRE_GPT2},       {"smollm", PRE_DIGITS},   {"starcoder", PRE_DIGITS},
    {"refact", PRE_DIGITS},    {"llama-bpe", PRE_LLAMA3}, {"llama3", PRE_LLAMA3},
    {"llama-v3", PRE_LLAMA3},  {"dbrx", PRE_LLAMA3},      {"smaug-bpe", PRE_LLAMA3},
    {"default", PRE_DEFAULT},
};

#define SUPPORTED_PRE "gpt-2, smollm, starcoder, refact, llama-bpe, llama3, llama-v3, dbrx, smaug-bpe, default"

/* A NUL-terminated copy of a GGUF string; one holding a NUL byte cannot be a JSON key or token. */
static mmrt_status str_copy(const mmrt_gguf *g, const char *what, const char *s, size_t len, char **out,
                            mmrt_error *err) {
    if (memchr(s, 0, len))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s holds a NUL byte", mmrt_gguf_path(g), what);
    if (!(*out = malloc(len + 1))) return mmrt_error_oom(err, len + 1, what);
    memcpy(*out, s, len);
    (*out)[len] = '\0';
    return MMRT_OK;
}

static mmrt_status get_str(const mmrt_gguf *g, const char *key, char **out, mmrt_error *err) {
    const char *s;
    size_t len;
    MMRT_TRY(mmrt_gguf_get_str(g, key, &s, &len, NULL, err));
    return str_copy(g, key, s, len, out, err);
}

static cJSON *split_step(const char *regex) {
    cJSON *s = cJSON_CreateObject(), *pat = cJSON_CreateObject();
    if (!s || !pat || !cJSON_AddStringToObject(pat, "Regex", regex)) {
        cJSON_Delete(s);
        cJSON_Delete(pat);
        return NULL;
    }
    cJSON_AddItemToObject(s, "pattern", pat);
    if (!cJSON_AddStringToObject(s, "type", "Split") || !cJSON_AddStringToObject(s, "behavior", "Isolated") ||
        !cJSON_AddFalseToObject(s, "invert")) {
        cJSON_Delete(s);
        return NULL;
    }
    return s;
}

static cJSON *simple_step(const char *type, const char *flag, bool value) {
    cJSON *s = cJSON_CreateObject();
    if (!s || !cJSON_AddStringToObject(s, "type", type) || !cJSON_AddBoolToObject(s, flag, value)) {
        cJSON_Delete(s);
        return NULL;
    }
    if (strcmp(type, "ByteLevel") == 0 && !cJSON_AddFalseToObject(s, "add_prefix_space")) {
        cJSON_Delete(s);
        return NULL;
    }
    return s;
}

/* The "pre_tokenizer" object of kind; NULL when out of memory. */
static cJSON *pre_tokenizer(pre_kind kind) {
    cJSON *seq = cJSON_CreateObject(), *list = cJSON_CreateArray();
    if (!seq || !list || !cJSON_AddStringToObject(seq, "type", "Sequence")) {
        cJSON_Delete(seq);
        cJSON_Delete(list);
        return NULL;
    }
    cJSON_AddItemToObject(seq, "pretokenizers", list);
    cJSON *steps[5] = {0};
    int n = 0;
    switch (kind) {
    case PRE_GPT2: steps[n++] = simple_step("ByteLevel", "use_regex", true); break;
    case PRE_DIGITS:
        steps[n++] = simple_step("Digits", "individual_digits", true);
        steps[n++] = simple_step("ByteLevel", "use_regex", true);
        break;
    case PRE_LLAMA3:
        steps[n++] = split_step(LLAMA3_SPLIT);
        steps[n++] = simple_step("ByteLevel", "use_regex", false);
        break;
    case PRE_DEFAULT: /* llama.cpp's regex list for an unnamed BPE pre-tokenizer, in its order */
        steps[n++] = split_step("[\\p{P}\\$\\+<=>\\^~\\|]+");
        steps[n++] = split_step(GPT2_SPLIT);
        steps[n++] = split_step("\\p{N}+");
        steps[n++] = split_step("[0-9][0-9][0-9]");
        steps[n++] = simple_step("ByteLevel", "use_regex", false);
        break;
    }
    bool ok = true;
    for (int i = 0; i < n; i++) {
        if (steps[i]) cJSON_AddItemToArray(list, steps[i]);
        else ok = false;
    }
    if (!ok) {
        cJSON_Delete(seq);
        return NULL;
    }
    return seq;
}

static mmrt_status pre_kind_of(const mmrt_gguf *g, pre_kind *kind, mmrt_error *err) {
    char *pre = NULL;
    if (mmrt_gguf_find_key(g, "tokenizer.ggml.pre") < 0) /* llama.cpp guesses ("default"); mmrt does not */
        return mmrt_error_set(err, MMRT_ERR_MODEL,
                              "%s: tokenizer.ggml.pre is missing (a file converted before llama.cpp recorded the "
                              "pre-tokenizer: convert the model again)", mmrt_gguf_path(g));
    MMRT_TRY(get_str(g, "tokenizer.ggml.pre", &pre, err));
    for (size_t i = 0; i < sizeof pre_names / sizeof *pre_names; i++)
        if (strcmp(pre, pre_names[i].name) == 0) {
            *kind = pre_names[i].kind;
            free(pre);
            return MMRT_OK;
        }
    mmrt_status st = mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                                    "%s: tokenizer.ggml.pre \"%s\" is not supported (supported: " SUPPORTED_PRE ")",
                                    mmrt_gguf_path(g), pre);
    free(pre);
    return st;
}

/* Every field of want (recursively; arrays element by element, of the same length) is in got. */
static bool json_within(const cJSON *want, const cJSON *got) {
    if (!want || !got) return false;
    if (cJSON_IsObject(want)) {
        if (!cJSON_IsObject(got)) return false;
        for (const cJSON *c = want->child; c; c = c->next)
            if (!json_within(c, cJSON_GetObjectItemCaseSensitive(got, c->string))) return false;
        return true;
    }
    if (cJSON_IsArray(want)) {
        if (!cJSON_IsArray(got) || cJSON_GetArraySize(want) != cJSON_GetArraySize(got)) return false;
        for (const cJSON *a = want->child, *b = got->child; a; a = a->next, b = b->next)
            if (!json_within(a, b)) return false;
        return true;
    }
    return cJSON_Compare(want, got, true);
}

/* Whether HF pre-tokenizer hf runs the steps of seq (a Sequence pre_tokenizer() built); a single
 * step may stand outside a Sequence. */
static bool pre_matches(const cJSON *seq, const cJSON *hf) {
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(seq, "pretokenizers");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(hf, "type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "Sequence") == 0) return json_within(seq, hf);
    return cJSON_GetArraySize(steps) == 1 && json_within(steps->child, hf);
}

const char *mmrt_tokenizer_gguf_pre_name(const cJSON *root) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *hf = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") != 0 || (norm && !cJSON_IsNull(norm)) || !hf)
        return NULL;
    bool ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
    for (size_t i = 0; i < sizeof pre_names / sizeof *pre_names; i++) {
        if ((pre_names[i].kind == PRE_LLAMA3) != ignore_merges) continue;
        cJSON *seq = pre_tokenizer(pre_names[i].kind);
        bool ok = seq && pre_matches(seq, hf);
        cJSON_Delete(seq);
        if (ok) return pre_names[i].name;
    }
    return NULL;
}

/* An array KV of strings, its index and count. */
static mmrt_status str_array(const mmrt_gguf *g, const char *key, size_t *index, uint64_t *n, mmrt_error *err) {
    MMRT_TRY(mmrt_gguf_get_arr(g, key, index, NULL, err));
    if (mmrt_gguf_arr_type(g, *index) != MMRT_GGUF_STRING)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s is an array of %s, not of strings", mmrt_gguf_path(g),
                              key, mmrt_gguf_type_name(mmrt_gguf_arr_type(g, *index)));
    *n = mmrt_gguf_arr_count(g, *index);
    return MMRT_OK;
}

/* Adds added-token entry {id, content, special} to list. */
static mmrt_status add_added(cJSON *list, int64_t id, const char *content, bool special, mmrt_error *err) {
    cJSON *a = cJSON_CreateObject();
    if (!a || !cJSON_AddNumberToObject(a, "id", (double)id) || !cJSON_AddStringToObject(a, "content", content) ||
        !cJSON_AddBoolToObject(a, "special", special)) {
        cJSON_Delete(a);
        return mmrt_error_oom(err, strlen(content), "added token");
    }
    cJSON_AddItemToArray(list, a);
    return MMRT_OK;
}

/* model.vocab (token -> id) and added_tokens from tokenizer.ggml.tokens / token_type. */
static mmrt_status add_vocab(const mmrt_gguf *g, cJSON *vocab, cJSON *added, mmrt_error *err) {
    size_t ti, tt = 0;
    uint64_t n, n_types = 0;
    bool has_types = false;
    MMRT_TRY(str_array(g, "tokenizer.ggml.tokens", &ti, &n, err));
    MMRT_TRY(mmrt_gguf_get_arr(g, "tokenizer.ggml.token_type", &tt, &has_types, err));
    if (has_types && (n_types = mmrt_gguf_arr_count(g, tt)) != n)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: tokenizer.ggml.token_type has %llu entries for %llu tokens", mmrt_gguf_path(g),
                              (unsigned long long)n_types, (unsigned long long)n);
    if (n == 0 || n > (1u << 24))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: tokenizer.ggml.tokens has %llu tokens", mmrt_gguf_path(g),
                              (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        char *tok = NULL;
        int64_t type = 1;
        MMRT_TRY(mmrt_gguf_arr_str(g, ti, i, &s, &len, err));
        if (has_types) MMRT_TRY(mmrt_gguf_arr_int(g, tt, i, &type, err));
        MMRT_TRY(str_copy(g, "a token of tokenizer.ggml.tokens", s, len, &tok, err));
        mmrt_status st = MMRT_OK;
        cJSON *id = cJSON_CreateNumber((double)i);
        if (!id) st = mmrt_error_oom(err, len, "vocab");
        else cJSON_AddItemToObject(vocab, tok, id);
        if (st == MMRT_OK && (type == TOKEN_CONTROL || type == TOKEN_USER_DEFINED))
            st = add_added(added, (int64_t)i, tok, type == TOKEN_CONTROL, err);
        free(tok);
        MMRT_TRY(st);
    }
    return MMRT_OK;
}

static mmrt_status add_merges(const mmrt_gguf *g, cJSON *merges, mmrt_error *err) {
    size_t mi;
    uint64_t n;
    MMRT_TRY(str_array(g, "tokenizer.ggml.merges", &mi, &n, err));
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        char *m = NULL;
        MMRT_TRY(mmrt_gguf_arr_str(g, mi, i, &s, &len, err));
        MMRT_TRY(str_copy(g, "a merge of tokenizer.ggml.merges", s, len, &m, err));
        cJSON *item = cJSON_CreateString(m);
        free(m);
        if (!item) return mmrt_error_oom(err, len, "merges");
        cJSON_AddItemToArray(merges, item);
    }
    return MMRT_OK;
}

/* The tokenizer.json object of g's byte-level BPE tokenizer into root (an empty object). */
static mmrt_status build_json(const mmrt_gguf *g, pre_kind kind, cJSON *root, mmrt_error *err) {
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON *vocab = model ? cJSON_AddObjectToObject(model, "vocab") : NULL;
    cJSON *merges = vocab ? cJSON_AddArrayToObject(model, "merges") : NULL;
    cJSON *added = merges ? cJSON_AddArrayToObject(root, "added_tokens") : NULL;
    cJSON *decoder = added ? cJSON_AddObjectToObject(root, "decoder") : NULL;
    cJSON *pre = decoder ? pre_tokenizer(kind) : NULL;
    if (!pre) return mmrt_error_oom(err, 0, "tokenizer.json");
    cJSON_AddItemToObject(root, "pre_tokenizer", pre);
    /* Llama 3's tokenizer.json sets ignore_merges (a whole word in the vocab is one token). */
    if (!cJSON_AddStringToObject(model, "type", "BPE") || !cJSON_AddStringToObject(decoder, "type", "ByteLevel") ||
        !cJSON_AddBoolToObject(model, "ignore_merges", kind == PRE_LLAMA3))
        return mmrt_error_oom(err, 0, "tokenizer.json");
    MMRT_TRY(add_vocab(g, vocab, added, err));
    return add_merges(g, merges, err);
}

mmrt_status mmrt_tokenizer_load_gguf(const mmrt_gguf *g, mmrt_tokenizer **out, mmrt_error *err) {
    if (!out) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_tokenizer_load_gguf: out is NULL");
    *out = NULL;
    if (!g) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_tokenizer_load_gguf: NULL file");
    char *model = NULL;
    MMRT_TRY(get_str(g, "tokenizer.ggml.model", &model, err));
    if (strcmp(model, "gpt2") != 0) {
        mmrt_status st = mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                                        "%s: tokenizer.ggml.model \"%s\" is not supported (supported: gpt2, "
                                        "byte-level BPE)%s",
                                        mmrt_gguf_path(g), model,
                                        strcmp(model, "llama") == 0 ? "; \"llama\" is a SentencePiece tokenizer" : "");
        free(model);
        return st;
    }
    free(model);
    pre_kind kind = PRE_GPT2;
    MMRT_TRY(pre_kind_of(g, &kind, err));
    cJSON *root = cJSON_CreateObject();
    if (!root) return mmrt_error_oom(err, 0, "tokenizer.json");
    mmrt_status st = build_json(g, kind, root, err);
    if (st == MMRT_OK) st = mmrt_tokenizer_load_json(root, mmrt_gguf_path(g), out, err);
    cJSON_Delete(root);
    return st;
}
