/* BPE vocabulary/merges loading and the per-piece merge loop (see bpe.h). */
#include "text/bpe.h"

#include "core/json.h"
#include "text/grow.h"
#include "text/json_type.h"
#include "text/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mmrt_bpe_symbol {
    int32_t id;
    int32_t prev, next; /* neighbours in the word; -1 at the ends */
    uint32_t len;       /* bytes covered; 0 once merged into its left neighbour */
};

struct mmrt_bpe_merge {
    int32_t rank, pos, new_id;
};

int mmrt_id_vec_push(mmrt_id_vec *iv, int32_t id) {
    int32_t *v = mmrt_tok_grow(iv->v, &iv->cap, iv->n + 1, sizeof *v);
    if (!v) return -1;
    iv->v = v;
    iv->v[iv->n++] = id;
    return 0;
}

/* ---- loading --------------------------------------------------------------------------------- */

static mmrt_status parse_id(const cJSON *v, const char *path, const char *tok, int32_t *out,
                            mmrt_error *err) {
    int64_t id;
    if (!mmrt_json_exact_int(v, &id))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: model.vocab: id of token \"%.100s\" is not a number", path, tok);
    if (id < 0 || id >= MMRT_TOKEN_ID_LIMIT)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: model.vocab: id %lld of token \"%.100s\" is out of range "
                              "(0..%d)",
                              path, (long long)id, tok, MMRT_TOKEN_ID_LIMIT - 1);
    *out = (int32_t)id;
    return MMRT_OK;
}

static mmrt_status parse_vocab(const cJSON *vocab, const char *path, mmrt_bpe *m, mmrt_error *err) {
    if (!cJSON_IsObject(vocab))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: model.vocab is missing or not an object", path);
    size_t n = (size_t)cJSON_GetArraySize(vocab);
    if (mmrt_strmap_reserve(&m->vocab, n, 8 * n) != 0)
        return mmrt_error_oom(err, 40 * n, "vocabulary");
    /* Entry ids in file order, to build the id -> string table once the arena stops moving. */
    uint32_t *offs = malloc((n ? n : 1) * sizeof *offs);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    mmrt_status st = MMRT_OK;
    if (!offs || !ids) {
        st = mmrt_error_oom(err, 8 * n, "vocabulary");
        goto done;
    }
    size_t k = 0;
    int32_t max_id = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        int32_t id = 0;
        if ((st = parse_id(it, path, it->string, &id, err)) != MMRT_OK) goto done;
        /* cJSON passes raw bytes through; every later step relies on tokens being UTF-8. */
        if (!mmrt_utf8_valid(it->string, strlen(it->string))) {
            st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                "%s: model.vocab: token with id %d is not valid UTF-8", path, id);
            goto done;
        }
        int32_t old;
        int r = mmrt_strmap_put(&m->vocab, it->string, strlen(it->string), id, &old, &offs[k]);
        if (r < 0) {
            st = mmrt_error_oom(err, strlen(it->string), "vocabulary");
            goto done;
        }
        if (r == 0) {
            st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                "%s: model.vocab: duplicate token \"%.100s\"", path, it->string);
            goto done;
        }
        ids[k++] = id;
        if (id > max_id) max_id = id;
    }
    m->n_tokens = k;
    m->n_ids = max_id + 1;
    m->text_off = malloc((size_t)(m->n_ids ? m->n_ids : 1) * sizeof *m->text_off);
    if (!m->text_off) {
        st = mmrt_error_oom(err, (size_t)m->n_ids * 4, "vocabulary ids");
        goto done;
    }
    for (int32_t i = 0; i < m->n_ids; i++) m->text_off[i] = UINT32_MAX;
    for (size_t i = 0; i < k; i++) {
        if (m->text_off[ids[i]] != UINT32_MAX) {
            st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                "%s: model.vocab: duplicate id %d (tokens \"%.100s\" and "
                                "\"%.100s\")",
                                path, ids[i], m->vocab.arena + m->text_off[ids[i]],
                                m->vocab.arena + offs[i]);
            goto done;
        }
        m->text_off[ids[i]] = offs[i];
    }
done:
    free(offs);
    free(ids);
    return st;
}

/* Splits one merges entry ("a b" or ["a", "b"]) into its two parts. */
static mmrt_status merge_parts(const cJSON *it, size_t i, const char *path, const char **a,
                               size_t *la, const char **b, size_t *lb, mmrt_error *err) {
    if (cJSON_IsString(it)) {
        const char *s = it->valuestring;
        const char *sp = strchr(s, ' ');
        if (sp) {
            *a = s;
            *la = (size_t)(sp - s);
            *b = sp + 1;
            *lb = strlen(sp + 1);
            return MMRT_OK;
        }
    } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(it->child) &&
               cJSON_IsString(it->child->next)) {
        *a = it->child->valuestring;
        *la = strlen(*a);
        *b = it->child->next->valuestring;
        *lb = strlen(*b);
        return MMRT_OK;
    }
    return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                          "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", path, i);
}

static mmrt_status parse_merges(const cJSON *merges, const char *path, mmrt_bpe *m,
                                mmrt_error *err) {
    if (!merges) return MMRT_OK;
    if (!cJSON_IsArray(merges))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: model.merges is not an array", path);
    size_t n = (size_t)cJSON_GetArraySize(merges);
    if (mmrt_u64map_reserve(&m->merges, n) != 0) return mmrt_error_oom(err, 32 * n, "merges");
    char *buf = NULL;
    size_t buf_cap = 0, i = 0;
    mmrt_status st = MMRT_OK;
    const cJSON *it;
    cJSON_ArrayForEach(it, merges) {
        const char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        if ((st = merge_parts(it, i, path, &a, &la, &b, &lb, err)) != MMRT_OK) break;
        char *nb = mmrt_tok_grow(buf, &buf_cap, la + lb, 1);
        if (!nb) {
            st = mmrt_error_oom(err, la + lb, "merge");
            break;
        }
        buf = nb;
        memcpy(buf, a, la);
        memcpy(buf + la, b, lb);
        int32_t ia = mmrt_strmap_get(&m->vocab, a, la);
        int32_t ib = mmrt_strmap_get(&m->vocab, b, lb);
        int32_t ic = mmrt_strmap_get(&m->vocab, buf, la + lb);
        if (ia < 0 || ib < 0 || ic < 0) {
            const char *bad = ia < 0 ? a : ib < 0 ? b : buf;
            int bad_len = (int)(ia < 0 ? la : ib < 0 ? lb : la + lb);
            st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                "%s: model.merges[%zu] (\"%.*s\" + \"%.*s\") refers to unknown "
                                "token \"%.*s\"",
                                path, i, (int)(la > 100 ? 100 : la), a, (int)(lb > 100 ? 100 : lb),
                                b, bad_len > 100 ? 100 : bad_len, bad);
            break;
        }
        /* A repeated pair keeps the later rank, as HF's HashMap collect does. */
        if (mmrt_u64map_put(&m->merges, (uint64_t)ia << 32 | (uint32_t)ib, (int32_t)i, ic) < 0) {
            st = mmrt_error_oom(err, 32 * n, "merges");
            break;
        }
        i++;
    }
    free(buf);
    return st;
}

static mmrt_status parse_options(const cJSON *model, const char *path, mmrt_bpe *m,
                                 mmrt_error *err) {
    const cJSON *dropout = mmrt_json_find(model, "dropout");
    if (dropout && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: BPE dropout is not supported", path);
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < 2; i++) {
        const char *s;
        MMRT_TRY(mmrt_json_get_string(model, affixes[i], false, &s, path, err));
        if (s && s[0])
            return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: BPE %s is not supported", path,
                                  affixes[i]);
    }
    MMRT_TRY(mmrt_json_get_bool(model, "fuse_unk", false, false, &m->fuse_unk, path, err));
    MMRT_TRY(
        mmrt_json_get_bool(model, "byte_fallback", false, false, &m->byte_fallback, path, err));
    MMRT_TRY(
        mmrt_json_get_bool(model, "ignore_merges", false, false, &m->ignore_merges, path, err));
    const char *unk;
    MMRT_TRY(mmrt_json_get_string(model, "unk_token", false, &unk, path, err));
    m->unk_id = unk ? mmrt_strmap_get(&m->vocab, unk, strlen(unk)) : -1;
    /* HF only complains when an unknown character actually needs the unk token. */
    if (unk && m->unk_id < 0 && !(m->unk_missing = strdup(unk)))
        return mmrt_error_oom(err, strlen(unk), "unk_token");
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->byte_ids[b] = mmrt_strmap_get(&m->vocab, name, 6);
    }
    return MMRT_OK;
}

mmrt_status mmrt_bpe_parse(const cJSON *model, const char *path, mmrt_bpe *out, mmrt_error *err) {
    memset(out, 0, sizeof *out);
    out->unk_id = -1;
    mmrt_status st = parse_vocab(mmrt_json_find(model, "vocab"), path, out, err);
    if (st == MMRT_OK) st = parse_merges(mmrt_json_find(model, "merges"), path, out, err);
    if (st == MMRT_OK) st = parse_options(model, path, out, err);
    if (st != MMRT_OK) mmrt_bpe_free(out);
    return st;
}

void mmrt_bpe_free(mmrt_bpe *m) {
    mmrt_strmap_free(&m->vocab);
    mmrt_u64map_free(&m->merges);
    free(m->text_off);
    free((void *)m->unk_missing);
    memset(m, 0, sizeof *m);
}

const char *mmrt_bpe_token_text(const mmrt_bpe *m, int32_t id, size_t *len) {
    if (id < 0 || id >= m->n_ids || m->text_off[id] == UINT32_MAX) return NULL;
    const char *s = m->vocab.arena + m->text_off[id];
    if (len) *len = strlen(s);
    return s;
}

/* ---- encoding -------------------------------------------------------------------------------- */

void mmrt_bpe_scratch_free(mmrt_bpe_scratch *sc) {
    free(sc->sym);
    free(sc->heap);
    memset(sc, 0, sizeof *sc);
}

static bool merge_before(const struct mmrt_bpe_merge *a, const struct mmrt_bpe_merge *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(struct mmrt_bpe_merge *h, size_t *n, struct mmrt_bpe_merge x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!merge_before(&x, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

static struct mmrt_bpe_merge heap_pop(struct mmrt_bpe_merge *h, size_t *n) {
    struct mmrt_bpe_merge top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && merge_before(&h[c + 1], &h[c])) c++;
        if (!merge_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

/* Queues the merge of the pair starting at pos, if the merges table has one. */
static void queue_pair(const mmrt_bpe *m, const struct mmrt_bpe_symbol *sym, int32_t pos,
                       struct mmrt_bpe_merge *heap, size_t *n_heap) {
    int32_t rank, new_id;
    uint64_t key = (uint64_t)sym[pos].id << 32 | (uint32_t)sym[sym[pos].next].id;
    if (mmrt_u64map_get(&m->merges, key, &rank, &new_id))
        heap_push(heap, n_heap, (struct mmrt_bpe_merge){rank, pos, new_id});
}

static void add_symbol(struct mmrt_bpe_symbol *sym, size_t *n, int32_t id, uint32_t len) {
    int32_t i = (int32_t)*n;
    if (i > 0) sym[i - 1].next = i;
    sym[i] = (struct mmrt_bpe_symbol){id, i - 1, -1, len};
    (*n)++;
}

/* Word::merge_all: pop the lowest-ranked pair, skip entries made stale by earlier merges, merge,
 * and queue the two pairs the merged symbol now forms with its neighbours. */
static void merge_all(const mmrt_bpe *m, struct mmrt_bpe_symbol *sym, size_t n_sym,
                      struct mmrt_bpe_merge *heap) {
    size_t n_heap = 0;
    for (size_t i = 0; i + 1 < n_sym; i++) queue_pair(m, sym, (int32_t)i, heap, &n_heap);
    while (n_heap > 0) {
        struct mmrt_bpe_merge top = heap_pop(heap, &n_heap);
        struct mmrt_bpe_symbol *cur = &sym[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        struct mmrt_bpe_symbol right = sym[cur->next];
        int32_t rank, new_id;
        uint64_t key = (uint64_t)cur->id << 32 | (uint32_t)right.id;
        if (!mmrt_u64map_get(&m->merges, key, &rank, &new_id) || new_id != top.new_id) continue;
        sym[cur->next].len = 0;
        cur->id = new_id;
        cur->len += right.len;
        cur->next = right.next;
        if (right.next >= 0) sym[right.next].prev = top.pos;
        if (cur->prev >= 0) queue_pair(m, sym, cur->prev, heap, &n_heap);
        if (cur->next >= 0) queue_pair(m, sym, top.pos, heap, &n_heap);
    }
}

mmrt_status mmrt_bpe_encode(const mmrt_bpe *m, mmrt_bpe_scratch *sc, const char *s, size_t n,
                            mmrt_id_vec *out, mmrt_error *err) {
    if (m->ignore_merges) {
        int32_t id = mmrt_strmap_get(&m->vocab, s, n);
        if (id >= 0) {
            if (mmrt_id_vec_push(out, id) != 0) return mmrt_error_oom(err, 4 * out->cap, "ids");
            return MMRT_OK;
        }
    }
    /* At most one symbol per byte; the queue holds at most the n - 1 initial pairs plus two per
     * merge (of which there are at most n - 1). */
    if (n > sc->sym_cap) {
        free(sc->sym);
        free(sc->heap);
        sc->sym_cap = 0;
        sc->sym = malloc(n * sizeof *sc->sym);
        sc->heap = malloc(3 * n * sizeof *sc->heap);
        if (!sc->sym || !sc->heap) return mmrt_error_oom(err, 40 * n, "BPE word");
        sc->sym_cap = n;
    }
    struct mmrt_bpe_symbol *sym = sc->sym;
    size_t n_sym = 0;
    int32_t unk_len = 0; /* > 0 while an unk symbol is pending (it may still fuse) */
    for (size_t i = 0; i < n;) {
        size_t cl = mmrt_utf8_len((uint8_t)s[i]);
        if (cl > n - i) cl = n - i;
        int32_t id = mmrt_strmap_get(&m->vocab, s + i, cl);
        if (id >= 0) {
            if (unk_len) add_symbol(sym, &n_sym, m->unk_id, (uint32_t)unk_len);
            unk_len = 0;
            add_symbol(sym, &n_sym, id, (uint32_t)cl);
        } else {
            bool bytes_ok = m->byte_fallback;
            for (size_t b = 0; bytes_ok && b < cl; b++)
                bytes_ok = m->byte_ids[(uint8_t)s[i + b]] >= 0;
            if (bytes_ok) {
                /* As in HF, a pending unk is not flushed first (it lands after these bytes). */
                for (size_t b = 0; b < cl; b++)
                    add_symbol(sym, &n_sym, m->byte_ids[(uint8_t)s[i + b]], 1);
            } else if (m->unk_missing) {
                return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                      "unk_token \"%.100s\" is not in the vocabulary",
                                      m->unk_missing);
            } else if (m->unk_id >= 0) {
                if (unk_len && m->fuse_unk) {
                    unk_len += (int32_t)cl;
                } else {
                    if (unk_len) add_symbol(sym, &n_sym, m->unk_id, (uint32_t)unk_len);
                    unk_len = (int32_t)cl;
                }
            }
            /* Without unk_token or byte fallback HF drops the character. */
        }
        i += cl;
    }
    if (unk_len) add_symbol(sym, &n_sym, m->unk_id, (uint32_t)unk_len);
    merge_all(m, sym, n_sym, sc->heap);
    for (size_t i = 0; i < n_sym; i++) {
        if (sym[i].len == 0) continue;
        if (mmrt_id_vec_push(out, sym[i].id) != 0) return mmrt_error_oom(err, 4 * out->cap, "ids");
    }
    return MMRT_OK;
}
