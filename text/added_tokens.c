/* Added-token loading, id assignment and matching (see added_tokens.h). */
#include "text/added_tokens.h"

#include "core/log.h"
#include "text/grow.h"
#include "core/json.h"
#include "text/json_type.h"
#include "text/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rust regex's \w, which HF uses to decide whether a single_word token stands alone:
 * Alphabetic (letters, letter numbers, the circled letters and other alphabetic marks), marks,
 * decimal digits, connector punctuation and the two join controls. */
static const char WORD_CHAR_PATTERN[] =
    "[\\p{L}\\p{Nl}\\p{M}\\p{Nd}\\p{Pc}\\x{200c}\\x{200d}\\x{24b6}-\\x{24e9}\\x{1f130}-\\x{1f149}"
    "\\x{1f150}-\\x{1f169}\\x{1f170}-\\x{1f189}]";

/* ---- trie ------------------------------------------------------------------------------------ */

static int trie_new_node(mmrt_added_trie *t) {
    int32_t *term = mmrt_tok_grow(t->term, &t->cap, t->n_nodes + 1, sizeof *term);
    if (!term) return -1;
    t->term = term;
    t->term[t->n_nodes] = -1;
    return (int)t->n_nodes++;
}

static int trie_insert(mmrt_added_trie *t, const char *s, size_t n, int32_t tok) {
    if (t->n_nodes == 0 && trie_new_node(t) < 0) return -1;
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = (uint64_t)node << 8 | (uint8_t)s[i];
        int32_t child;
        if (!mmrt_u64map_get(&t->edges, key, &child, NULL)) {
            int c = trie_new_node(t);
            if (c < 0 || mmrt_u64map_put(&t->edges, key, c, 0) < 0) return -1;
            child = c;
        }
        node = child;
    }
    t->term[node] = tok;
    t->first[(uint8_t)s[0]] = true;
    return 0;
}

/* Longest content starting at s[i]; returns its token index (-1 if none) and sets *len. */
static int32_t trie_longest(const mmrt_added_trie *t, const char *s, size_t n, size_t i,
                            size_t *len) {
    int32_t node = 0, best = -1;
    for (size_t j = i; j < n; j++) {
        uint64_t key = (uint64_t)node << 8 | (uint8_t)s[j];
        if (!mmrt_u64map_get(&t->edges, key, &node, NULL)) break;
        if (t->term[node] >= 0) {
            best = t->term[node];
            *len = j + 1 - i;
        }
    }
    return best;
}

static void trie_free(mmrt_added_trie *t) {
    mmrt_u64map_free(&t->edges);
    free(t->term);
    memset(t, 0, sizeof *t);
}

/* ---- loading --------------------------------------------------------------------------------- */

static mmrt_status parse_token(const cJSON *it, size_t i, const char *path, mmrt_added_token *tk,
                               int32_t *file_id, mmrt_error *err) {
    char where[64];
    snprintf(where, sizeof where, "added_tokens[%zu]", i);
    if (!cJSON_IsObject(it))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s is not an object", path, where);
    const char *content;
    MMRT_TRY(mmrt_json_get_string(it, "content", false, &content, path, err));
    if (!content || !content[0])
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s has no (or an empty) content", path,
                              where);
    if (!mmrt_utf8_valid(content, strlen(content)))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: %s content is not valid UTF-8", path,
                              where);
    int64_t id;
    if (!mmrt_json_exact_int(mmrt_json_find(it, "id"), &id) || id < 0 || id >= MMRT_TOKEN_ID_LIMIT)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: %s (\"%.100s\") has a missing or out-of-range id (0..%d)", path,
                              where, content, MMRT_TOKEN_ID_LIMIT - 1);
    *file_id = (int32_t)id;
    MMRT_TRY(mmrt_json_get_bool(it, "special", false, false, &tk->special, path, err));
    MMRT_TRY(mmrt_json_get_bool(it, "lstrip", false, false, &tk->lstrip, path, err));
    MMRT_TRY(mmrt_json_get_bool(it, "rstrip", false, false, &tk->rstrip, path, err));
    MMRT_TRY(mmrt_json_get_bool(it, "single_word", false, false, &tk->single_word, path, err));
    MMRT_TRY(mmrt_json_get_bool(it, "normalized", false, !tk->special, &tk->normalized, path, err));
    tk->len = strlen(content);
    tk->content = strdup(content);
    if (!tk->content) return mmrt_error_oom(err, tk->len, "added token");
    return MMRT_OK;
}

/* AddedVocabulary::add_tokens: the vocab id when the content is in the model, else one past the
 * largest id handed out so far (but never inside the model's id range). */
static int32_t hf_assign_id(const mmrt_added_vocab *av, const mmrt_bpe *model,
                            const mmrt_added_token *tk) {
    int32_t id = mmrt_strmap_get(&model->vocab, tk->content, tk->len);
    if (id >= 0) return id;
    int32_t vocab_size = (int32_t)model->n_tokens;
    if (av->max_id < 0) return vocab_size;
    return (av->max_id >= vocab_size || vocab_size == 0) ? av->max_id + 1 : vocab_size;
}

static mmrt_status add_all(const cJSON *arr, const char *path, const mmrt_bpe *model,
                           mmrt_added_vocab *av, mmrt_error *err) {
    size_t n = (size_t)cJSON_GetArraySize(arr);
    av->tokens = calloc(n ? n : 1, sizeof *av->tokens);
    if (!av->tokens) return mmrt_error_oom(err, n * sizeof *av->tokens, "added tokens");
    const cJSON *it;
    size_t i = 0;
    cJSON_ArrayForEach(it, arr) {
        mmrt_added_token *tk = &av->tokens[av->n];
        int32_t file_id = -1;
        MMRT_TRY(parse_token(it, i, path, tk, &file_id, err));
        av->n++;
        int32_t old;
        int r = mmrt_strmap_put(&av->by_content, tk->content, tk->len, (int32_t)(av->n - 1), &old,
                                NULL);
        if (r < 0) return mmrt_error_oom(err, tk->len, "added tokens");
        if (r == 0)
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "%s: added_tokens[%zu]: duplicate content \"%.100s\" (also "
                                  "added_tokens entry with id %d)",
                                  path, i, tk->content, av->tokens[old].id);
        tk->id = hf_assign_id(av, model, tk);
        if (tk->id >= MMRT_TOKEN_ID_LIMIT)
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "%s: added_tokens[%zu]: id out of range", path, i);
        if (tk->id != file_id)
            MMRT_LOG_W("%s: token '%.100s' was expected to have id %d but was given id %d (as HF "
                       "tokenizers assigns it)",
                       path, tk->content, file_id, tk->id);
        if (tk->id > av->max_id) av->max_id = tk->id;
        if (trie_insert(&av->trie[tk->normalized], tk->content, tk->len, (int32_t)(av->n - 1)) < 0)
            return mmrt_error_oom(err, tk->len, "added-token trie");
        i++;
    }
    return MMRT_OK;
}

mmrt_status mmrt_added_parse(const cJSON *arr, const char *path, const mmrt_bpe *model,
                             mmrt_added_vocab *out, mmrt_error *err) {
    memset(out, 0, sizeof *out);
    out->max_id = -1;
    if (!arr) return MMRT_OK;
    if (!cJSON_IsArray(arr))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: added_tokens is not an array", path);
    mmrt_status st = add_all(arr, path, model, out, err);
    if (st == MMRT_OK)
        st = mmrt_regex_compile(WORD_CHAR_PATTERN, sizeof WORD_CHAR_PATTERN - 1, MMRT_REGEX_PCRE2,
                                "word class", &out->word_char, err);
    if (st != MMRT_OK) mmrt_added_free(out);
    return st;
}

void mmrt_added_free(mmrt_added_vocab *av) {
    for (size_t i = 0; i < av->n; i++) free(av->tokens[i].content);
    free(av->tokens);
    mmrt_strmap_free(&av->by_content);
    trie_free(&av->trie[0]);
    trie_free(&av->trie[1]);
    mmrt_regex_free(av->word_char);
    memset(av, 0, sizeof *av);
    av->max_id = -1;
}

int32_t mmrt_added_find(const mmrt_added_vocab *av, const char *s, size_t n) {
    return mmrt_strmap_get(&av->by_content, s, n);
}

/* ---- matching -------------------------------------------------------------------------------- */

void mmrt_added_seg_vec_free(mmrt_added_seg_vec *sv) {
    free(sv->v);
    memset(sv, 0, sizeof *sv);
}

static int seg_push(mmrt_added_seg_vec *sv, size_t start, size_t end, int32_t tok) {
    mmrt_added_seg *v = mmrt_tok_grow(sv->v, &sv->cap, sv->n + 1, sizeof *v);
    if (!v) return -1;
    sv->v = v;
    sv->v[sv->n++] = (mmrt_added_seg){start, end, tok};
    return 0;
}

/* Start of the trailing run of white space in s[0..end) (HF's space_leftmost_at_end). */
static size_t trailing_space_start(const char *s, size_t end) {
    size_t i = end;
    while (i > 0) {
        size_t c = i - 1;
        while (c > 0 && ((uint8_t)s[c] & 0xC0) == 0x80) c--;
        size_t adv;
        if (!mmrt_utf8_is_white_space(mmrt_utf8_decode(s + c, &adv))) break;
        i = c;
    }
    return i;
}

/* Byte length of the leading run of white space in s[0..n) (HF's space_rightmost_at_start). */
static size_t leading_space_len(const char *s, size_t n) {
    size_t i = 0, adv;
    while (i < n && mmrt_utf8_is_white_space(mmrt_utf8_decode(s + i, &adv))) i += adv;
    return i;
}

/* HF's single_word test: no word character right before or right after the match. */
static bool stands_alone(const mmrt_added_vocab *av, mmrt_regex_scratch *rsc, const char *s,
                         size_t n, size_t start, size_t end) {
    if (start > 0) {
        size_t c = start - 1;
        while (c > 0 && ((uint8_t)s[c] & 0xC0) == 0x80) c--;
        if (mmrt_regex_matches_at(av->word_char, rsc, s, n, c)) return false;
    }
    return end == n || !mmrt_regex_matches_at(av->word_char, rsc, s, n, end);
}

mmrt_status mmrt_added_split(const mmrt_added_vocab *av, int set, bool parse_special,
                             mmrt_regex_scratch *rsc, const char *s, size_t n,
                             mmrt_added_seg_vec *out, mmrt_error *err) {
    const mmrt_added_trie *t = &av->trie[set];
    out->n = 0;
    size_t done = 0; /* end of the text already assigned to a segment */
    size_t pos = 0;  /* where the next search starts */
    while (t->n_nodes > 0 && pos < n) {
        size_t ms = pos, len = 0;
        int32_t tok = -1;
        for (; ms < n; ms++) {
            if (!t->first[(uint8_t)s[ms]]) continue;
            if ((tok = trie_longest(t, s, n, ms, &len)) >= 0) break;
        }
        if (tok < 0) break;
        size_t me = ms + len;
        pos = me;
        const mmrt_added_token *tk = &av->tokens[tok];
        if (tk->special && !parse_special) continue;
        if (tk->single_word && !stands_alone(av, rsc, s, n, ms, me)) continue;
        size_t start = ms, stop = me;
        if (tk->lstrip) {
            start = trailing_space_start(s, ms);
            if (start < done) start = done; /* spaces a previous match already took */
        }
        if (tk->rstrip) stop += leading_space_len(s + stop, n - stop);
        if (done < start && seg_push(out, done, start, -1) != 0) goto oom;
        if (seg_push(out, start, stop, tok) != 0) goto oom;
        done = stop;
    }
    if (done < n && seg_push(out, done, n, -1) != 0) goto oom;
    return MMRT_OK;
oom:
    return mmrt_error_oom(err, out->cap * sizeof(mmrt_added_seg), "added-token segments");
}
