/* The media encoders a checkpoint can have: a table of factories (built-in first, then those
 * registered with mmrt_encoder_register), and the helpers every encoder and the session share. */
#include "encoder.h"

#include "core/strbuf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

extern const mmrt_encoder_factory mmrt_smolvlm_encoder_factory;        /* fusion/smolvlm.c */
extern const mmrt_encoder_factory mmrt_granite_speech_encoder_factory; /* fusion/granite_speech.c */

static const mmrt_encoder_factory *const builtin[] = {&mmrt_smolvlm_encoder_factory,
                                                      &mmrt_granite_speech_encoder_factory};

#define MAX_REGISTERED 32

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static const mmrt_encoder_factory *g_registered[MAX_REGISTERED];
static size_t g_n_registered;

mmrt_status mmrt_encoder_register(const mmrt_encoder_factory *f, mmrt_error *err) {
    if (!f || !f->matches || !f->init)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_encoder_register: a factory needs matches and init");
    pthread_mutex_lock(&g_lock);
    bool full = g_n_registered == MAX_REGISTERED;
    if (!full) g_registered[g_n_registered++] = f;
    pthread_mutex_unlock(&g_lock);
    if (full) return mmrt_error_set(err, MMRT_ERR_OOM, "mmrt_encoder_register: %d factories at most", MAX_REGISTERED);
    return MMRT_OK;
}

size_t mmrt_encoder_factories_match(const mmrt_encoder_config *cfg, const mmrt_encoder_factory **out,
                                    size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
        if (n < cap && builtin[i]->matches(cfg)) out[n++] = builtin[i];
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_n_registered; i++)
        if (n < cap && g_registered[i]->matches(cfg)) out[n++] = g_registered[i];
    pthread_mutex_unlock(&g_lock);
    return n;
}

const mmrt_encoder *mmrt_encoder_for_part(mmrt_encoder *const *encs, size_t n, mmrt_part_type t) {
    if ((unsigned)t >= 32) return NULL;
    for (size_t i = 0; i < n; i++)
        if (encs[i]->part_types & (1u << t)) return encs[i];
    return NULL;
}

mmrt_status mmrt_media_rows_alloc(mmrt_backend *be, int64_t n_rows, int64_t n_embd, mmrt_tensor *rows,
                                  mmrt_error *err) {
    void *p = NULL;
    size_t bytes = (size_t)(n_rows * n_embd) * sizeof(float);
    if (be->iface->buffer_alloc(be, bytes ? bytes : 1, &p, err) != MMRT_OK)
        return mmrt_error_wrap(err, "media embeddings (%lld rows)", (long long)n_rows);
    *rows = mmrt_tensor_2d(MMRT_F32, p, n_embd, n_rows);
    rows->backend = be;
    return MMRT_OK;
}

void mmrt_media_rows_free(mmrt_backend *be, mmrt_tensor *rows) {
    if (rows->data) be->iface->buffer_free(be, rows->data);
    memset(rows, 0, sizeof *rows);
}

void mmrt_media_input_free(mmrt_media_input *in) {
    if (in->enc && in->data) in->enc->iface->release(in->enc, in);
    free(in->text);
    memset(in, 0, sizeof *in);
}

/* The earliest placeholder of any input's encoder in text, or NULL; *who is that encoder. */
static const char *next_placeholder(const char *text, const mmrt_media_input *inputs, size_t n,
                                    const mmrt_encoder **who) {
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *hit = strstr(text, inputs[i].enc->placeholder);
        if (hit && (!best || hit < best)) {
            best = hit;
            *who = inputs[i].enc;
        }
    }
    return best;
}

static size_t count_in(const char *text, const char *needle) {
    size_t k = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) k++;
    return k;
}

/* Each encoder's placeholders and inputs must pair up. */
static mmrt_status check_counts(const char *text, const mmrt_media_input *inputs, size_t n, mmrt_error *err) {
    for (size_t i = 0; i < n; i++) {
        const mmrt_encoder *e = inputs[i].enc;
        size_t n_in = 0, n_ph = count_in(text, e->placeholder);
        for (size_t j = 0; j < n; j++) n_in += inputs[j].enc == e;
        if (n_ph != n_in)
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                                  "the prompt has %zu %s placeholder%s but %zu %s%s %s given: each %s needs "
                                  "exactly one",
                                  n_ph, e->placeholder, n_ph == 1 ? "" : "s", n_in, e->noun, n_in == 1 ? "" : "s",
                                  n_in == 1 ? "was" : "were", e->noun);
    }
    return MMRT_OK;
}

mmrt_status mmrt_media_expand_prompt(const char *text, const mmrt_media_input *inputs, size_t n, char **out,
                                     mmrt_error *err) {
    *out = NULL;
    MMRT_TRY(check_counts(text, inputs, n, err));
    size_t *used = calloc(n + 1, sizeof *used); /* per input: taken by a placeholder */
    if (!used) return mmrt_error_oom(err, (n + 1) * sizeof *used, "prompt");
    mmrt_strbuf b = {0};
    mmrt_status st = MMRT_OK;
    const char *p = text;
    const mmrt_encoder *who = NULL;
    for (const char *hit; st == MMRT_OK && (hit = next_placeholder(p, inputs, n, &who));) {
        size_t k = 0; /* the next input of that encoder */
        while (k < n && (used[k] || inputs[k].enc != who)) k++;
        MMRT_ASSERT(k < n); /* the counts were checked */
        used[k] = 1;
        st = mmrt_strbuf_append(&b, p, (size_t)(hit - p), err);
        if (st == MMRT_OK) st = mmrt_strbuf_puts(&b, inputs[k].text, err);
        p = hit + strlen(who->placeholder);
    }
    if (st == MMRT_OK) st = mmrt_strbuf_puts(&b, p, err);
    if (st == MMRT_OK && !(*out = mmrt_strbuf_take(&b))) st = mmrt_error_oom(err, 1, "prompt");
    mmrt_strbuf_free(&b);
    free(used);
    return st;
}
