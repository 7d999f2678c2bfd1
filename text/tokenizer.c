/* tokenizer.json loading, encoding and decoding (see tokenizer.h). */
#include "text/tokenizer_impl.h"

#include "core/json.h"
#include "core/log.h"
#include "text/byte_level.h"
#include "text/json_type.h"
#include "text/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- loading --------------------------------------------------------------------------------- */

static mmrt_status check_components(const cJSON *root, const char *path, mmrt_tokenizer *tok,
                                    mmrt_error *err) {
    const cJSON *model = mmrt_json_find(root, "model");
    if (!model) return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: missing \"model\"", path);
    const char *type;
    if (!cJSON_IsObject(model))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: \"model\" is not an object", path);
    MMRT_TRY(mmrt_json_get_string(model, "type", false, &type, path, err));
    /* HF accepts an untyped model whose fields fit BPE. */
    if (!type && !mmrt_json_find(model, "merges"))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: model has no \"type\"", path);
    if (type && strcmp(type, "BPE") != 0)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: model type \"%s\" is not supported (only BPE)", path, type);

    const cJSON *norm = mmrt_json_find(root, "normalizer");
    if (norm) {
        MMRT_TRY(mmrt_tok_json_type(norm, &type, path, "normalizer", err));
        const cJSON *list = mmrt_json_find(norm, "normalizers");
        bool empty_seq =
            strcmp(type, "Sequence") == 0 && cJSON_IsArray(list) && cJSON_GetArraySize(list) == 0;
        if (!empty_seq)
            return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                                  "%s: normalizer type \"%s\" is not supported (only null)", path,
                                  type);
    }

    const cJSON *dec = mmrt_json_find(root, "decoder");
    tok->join_with_spaces = !dec;
    if (!tok->join_with_spaces) {
        MMRT_TRY(mmrt_tok_json_type(dec, &type, path, "decoder", err));
        if (strcmp(type, "ByteLevel") != 0)
            return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                                  "%s: decoder type \"%s\" is not supported (only ByteLevel or "
                                  "null)",
                                  path, type);
    }
    static const char *const ignored[] = {"truncation", "padding"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *v = mmrt_json_find(root, ignored[i]);
        if (v) MMRT_LOG_W("%s: \"%s\" is set and ignored by mmrt's tokenizer", path, ignored[i]);
    }
    return MMRT_OK;
}

/* The raw string of id: an added token's content wins over the vocab entry, as in HF. */
static const char *raw_text(const mmrt_tokenizer *tok, int32_t id, size_t *len) {
    if (id < 0 || id >= tok->n_vocab) return NULL;
    int32_t a = tok->added_of_id[id];
    if (a >= 0) {
        *len = tok->added.tokens[a].len;
        return tok->added.tokens[a].content;
    }
    return mmrt_bpe_token_text(&tok->bpe, id, len);
}

/* ByteLevel decoder, per token: characters back to bytes; a token with any character outside the
 * alphabet stays as its UTF-8 bytes. Writes at most len bytes. */
static size_t byte_level_decode(const char *s, size_t len, char *out) {
    size_t o = 0, adv;
    for (size_t i = 0; i < len; i += adv) {
        int b = mmrt_byte_level_byte(mmrt_utf8_decode(s + i, &adv));
        if (b < 0) {
            memcpy(out, s, len);
            return len;
        }
        out[o++] = (char)b;
    }
    return o;
}

static mmrt_status build_id_tables(mmrt_tokenizer *tok, mmrt_error *err) {
    tok->n_vocab = tok->bpe.n_ids > tok->added.max_id + 1 ? tok->bpe.n_ids : tok->added.max_id + 1;
    size_t n = (size_t)tok->n_vocab ? (size_t)tok->n_vocab : 1;
    tok->added_of_id = malloc(n * sizeof *tok->added_of_id);
    tok->dec_off = malloc(n * sizeof *tok->dec_off);
    tok->dec_len = malloc(n * sizeof *tok->dec_len);
    if (!tok->added_of_id || !tok->dec_off || !tok->dec_len)
        return mmrt_error_oom(err, 12 * n, "token id tables");
    for (size_t i = 0; i < n; i++) tok->added_of_id[i] = -1;
    /* A later added token with the same id replaces an earlier one (HF's map_r). */
    for (size_t i = 0; i < tok->added.n; i++)
        tok->added_of_id[tok->added.tokens[i].id] = (int32_t)i;
    size_t total = 0, len;
    for (int32_t id = 0; id < tok->n_vocab; id++)
        if (raw_text(tok, id, &len)) total += len;
    if (total >= UINT32_MAX) return mmrt_error_oom(err, total, "decoded tokens");
    tok->dec_arena = malloc(total ? total : 1);
    if (!tok->dec_arena) return mmrt_error_oom(err, total, "decoded tokens");
    uint32_t off = 0;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        const char *s = raw_text(tok, id, &len);
        if (!s) {
            tok->dec_off[id] = UINT32_MAX;
            tok->dec_len[id] = 0;
            continue;
        }
        char *out = tok->dec_arena + off;
        size_t m =
            tok->join_with_spaces ? (memcpy(out, s, len), len) : byte_level_decode(s, len, out);
        tok->dec_off[id] = off;
        tok->dec_len[id] = (uint32_t)m;
        off += (uint32_t)m;
    }
    return MMRT_OK;
}

mmrt_status mmrt_tokenizer_load(const char *path, mmrt_tokenizer **out, mmrt_error *err) {
    if (!out) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_tokenizer_load: out is NULL");
    *out = NULL;
    if (!path)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_tokenizer_load: path is NULL");
    cJSON *root = NULL;
    MMRT_TRY(mmrt_json_load_file(path, &root, err));
    mmrt_status st = mmrt_tokenizer_load_json(root, path, out, err);
    cJSON_Delete(root);
    return st;
}

mmrt_status mmrt_tokenizer_load_json(const cJSON *root, const char *path, mmrt_tokenizer **out, mmrt_error *err) {
    if (!out) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_tokenizer_load_json: out is NULL");
    *out = NULL;
    if (!root || !path)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_tokenizer_load_json: NULL argument");
    mmrt_status st = MMRT_OK;

    mmrt_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return mmrt_error_oom(err, sizeof *tok, "tokenizer");
    tok->bpe.unk_id = -1;
    tok->added.max_id = -1;
    if (!cJSON_IsObject(root))
        st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: top level is not a JSON object", path);
    if (st == MMRT_OK && !(tok->path = strdup(path)))
        st = mmrt_error_oom(err, strlen(path), "path");
    if (st == MMRT_OK) st = check_components(root, path, tok, err);
    if (st == MMRT_OK) st = mmrt_bpe_parse(mmrt_json_find(root, "model"), path, &tok->bpe, err);
    if (st == MMRT_OK)
        st = mmrt_pretok_parse(mmrt_json_find(root, "pre_tokenizer"), path, &tok->pretok, err);
    if (st == MMRT_OK)
        st = mmrt_added_parse(mmrt_json_find(root, "added_tokens"), path, &tok->bpe, &tok->added,
                              err);
    if (st == MMRT_OK) st = build_id_tables(tok, err);
    if (st != MMRT_OK) {
        mmrt_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return MMRT_OK;
}

void mmrt_tokenizer_free(mmrt_tokenizer *tok) {
    if (!tok) return;
    mmrt_bpe_free(&tok->bpe);
    mmrt_added_free(&tok->added);
    mmrt_pretok_free(&tok->pretok);
    free(tok->added_of_id);
    free(tok->dec_off);
    free(tok->dec_len);
    free(tok->dec_arena);
    free(tok->path);
    free(tok);
}

/* ---- getters --------------------------------------------------------------------------------- */

int32_t mmrt_tokenizer_n_vocab(const mmrt_tokenizer *tok) { return tok ? tok->n_vocab : 0; }

int32_t mmrt_tokenizer_find(const mmrt_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    size_t len = strlen(token);
    int32_t a = mmrt_added_find(&tok->added, token, len);
    if (a >= 0) return tok->added.tokens[a].id;
    return mmrt_strmap_get(&tok->bpe.vocab, token, len);
}

const char *mmrt_tokenizer_token_text(const mmrt_tokenizer *tok, int32_t id) {
    size_t len;
    return tok ? raw_text(tok, id, &len) : NULL;
}

bool mmrt_tokenizer_is_special(const mmrt_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_vocab || tok->added_of_id[id] < 0) return false;
    return tok->added.tokens[tok->added_of_id[id]].special;
}

/* ---- encoding -------------------------------------------------------------------------------- */

typedef struct encode_ctx {
    const mmrt_tokenizer *tok;
    mmrt_regex_scratch *rsc;
    mmrt_pretok_scratch *psc;
    mmrt_bpe_scratch bsc;
    mmrt_added_seg_vec segs[2];
    mmrt_id_vec ids;
} encode_ctx;

static mmrt_status bpe_sink(void *user, const char *piece, size_t n, mmrt_error *err) {
    encode_ctx *c = user;
    return mmrt_bpe_encode(&c->tok->bpe, &c->bsc, piece, n, &c->ids, err);
}

/* Added tokens of set `set` first, then (set 1) the other set, then pre-tokenize + BPE. */
static mmrt_status encode_segment(encode_ctx *c, int set, bool parse_special, const char *s,
                                  size_t n, mmrt_error *err) {
    if (set == 2) return mmrt_pretok_run(&c->tok->pretok, c->psc, s, n, bpe_sink, c, err);
    mmrt_added_seg_vec *sv = &c->segs[set];
    MMRT_TRY(mmrt_added_split(&c->tok->added, set, parse_special, c->rsc, s, n, sv, err));
    /* The vector is reused by the next call at this level only after this loop ends. */
    for (size_t i = 0; i < sv->n; i++) {
        mmrt_added_seg g = sv->v[i];
        if (g.tok >= 0) {
            if (mmrt_id_vec_push(&c->ids, c->tok->added.tokens[g.tok].id) != 0)
                return mmrt_error_oom(err, 4 * c->ids.cap, "ids");
        } else {
            MMRT_TRY(encode_segment(c, set + 1, parse_special, s + g.start, g.end - g.start, err));
        }
    }
    return MMRT_OK;
}

mmrt_status mmrt_tokenizer_encode(const mmrt_tokenizer *tok, const char *text, size_t len,
                                  bool parse_special, int32_t **ids, size_t *n_ids,
                                  mmrt_error *err) {
    if (!tok || !ids || !n_ids || (!text && len > 0))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "mmrt_tokenizer_encode: NULL tokenizer, text or output");
    *ids = NULL;
    *n_ids = 0;
    char *fixed = NULL;
    if (len > 0 && !mmrt_utf8_valid(text, len)) {
        size_t n = mmrt_utf8_lossy_len(text, len);
        if (!(fixed = malloc(n))) return mmrt_error_oom(err, n, "encode input");
        mmrt_utf8_lossy(text, len, fixed);
        text = fixed;
        len = n;
    }
    encode_ctx c = {.tok = tok};
    mmrt_status st = mmrt_regex_scratch_init(&c.rsc, err);
    if (st == MMRT_OK) st = mmrt_pretok_scratch_init(&tok->pretok, c.rsc, &c.psc, err);
    if (st == MMRT_OK && mmrt_id_vec_push(&c.ids, 0) != 0) st = mmrt_error_oom(err, 256, "ids");
    c.ids.n = 0; /* the push above only made sure the result is never NULL */
    if (st == MMRT_OK && len > 0) st = encode_segment(&c, 0, parse_special, text, len, err);
    mmrt_pretok_scratch_free(c.psc);
    mmrt_regex_scratch_free(c.rsc);
    mmrt_bpe_scratch_free(&c.bsc);
    mmrt_added_seg_vec_free(&c.segs[0]);
    mmrt_added_seg_vec_free(&c.segs[1]);
    free(fixed);
    if (st != MMRT_OK) {
        free(c.ids.v);
        if (err) mmrt_error_wrap(err, "%s: encode", tok->path);
        return st;
    }
    *ids = c.ids.v;
    *n_ids = c.ids.n;
    return MMRT_OK;
}

/* ---- decoding -------------------------------------------------------------------------------- */

mmrt_status mmrt_tokenizer_piece(const mmrt_tokenizer *tok, int32_t id, size_t pos,
                                 bool skip_special, const char **bytes, size_t *len, bool *skip,
                                 mmrt_error *err) {
    if (id < 0 || id >= tok->n_vocab || tok->dec_off[id] == UINT32_MAX) {
        char at[40] = "";
        if (pos != SIZE_MAX) snprintf(at, sizeof at, " at position %zu", pos);
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "token id %d%s is not in the vocabulary of %s (ids 0..%d)", id, at,
                              tok->path, tok->n_vocab - 1);
    }
    *skip = skip_special && mmrt_tokenizer_is_special(tok, id);
    *bytes = tok->dec_arena + tok->dec_off[id];
    *len = tok->dec_len[id];
    return MMRT_OK;
}

mmrt_status mmrt_tokenizer_decode(const mmrt_tokenizer *tok, const int32_t *ids, size_t n,
                                  bool skip_special, char **text, size_t *len, mmrt_error *err) {
    if (!tok || !text || (!ids && n > 0))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "mmrt_tokenizer_decode: NULL tokenizer, ids or output");
    *text = NULL;
    if (len) *len = 0;
    /* Pass 1 validates and sizes; pass 2 concatenates the bytes. */
    size_t total = 0, kept = 0;
    for (size_t i = 0; i < n; i++) {
        const char *b = NULL;
        size_t bl = 0;
        bool skip = false;
        MMRT_TRY(mmrt_tokenizer_piece(tok, ids[i], i, skip_special, &b, &bl, &skip, err));
        if (skip) continue;
        total += bl + (tok->join_with_spaces && kept > 0);
        kept++;
    }
    char *raw = malloc(total + 1);
    if (!raw) return mmrt_error_oom(err, total + 1, "decoded text");
    size_t o = 0;
    kept = 0;
    for (size_t i = 0; i < n; i++) {
        const char *b = NULL;
        size_t bl = 0;
        bool skip = false;
        mmrt_tokenizer_piece(tok, ids[i], i, skip_special, &b, &bl, &skip, NULL);
        if (skip) continue;
        if (tok->join_with_spaces && kept++ > 0) raw[o++] = ' ';
        memcpy(raw + o, b, bl);
        o += bl;
    }
    bool valid = mmrt_utf8_valid(raw, o);
    size_t m = valid ? o : mmrt_utf8_lossy_len(raw, o);
    char *res = valid ? raw : malloc(m + 1);
    if (!res) {
        free(raw);
        return mmrt_error_oom(err, m + 1, "decoded text");
    }
    if (res != raw) {
        mmrt_utf8_lossy(raw, o, res);
        free(raw);
    }
    res[m] = '\0';
    *text = res;
    if (len) *len = m;
    return MMRT_OK;
}
