/* mmrt_session: per-request state and the generation loop (prefill, then sample → decode). Every
 * call keeps what the KV cache already holds of its prompt (fusion/kv_prefix.h) and prefills the
 * rest; conversations and the session's own chat are in fusion/conversation.c. */
#include "model.h"
#include "prompt_media.h"

#include "core/clock.h"
#include "core/log.h"
#include "fusion/api_struct.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define DEFAULT_CTX_CAP 4096

static const mmrt_session_params session_defaults = {.size = sizeof(mmrt_session_params)};

static const mmrt_generate_params generate_defaults = {
    .size = sizeof(mmrt_generate_params), .max_tokens = 256, .temperature = 0.0f, .top_k = 0, .top_p = 1.0f,
    .min_p = 0.0f, .repeat_penalty = 1.0f, .seed = MMRT_SEED_RANDOM};

void mmrt_session_params_init(mmrt_session_params *p, size_t size) {
    mmrt_api_struct_init(p, size, &session_defaults, sizeof session_defaults);
}

void mmrt_generate_params_init(mmrt_generate_params *p, size_t size) {
    mmrt_api_struct_init(p, size, &generate_defaults, sizeof generate_defaults);
}

void mmrt_free(void *p) { free(p); }

/* 0 means the default: the trained context, capped. Negative sizes are left for init to refuse. */
static int64_t resolve_ctx(const mmrt_model *m, int32_t n_ctx) {
    if (n_ctx != 0) return n_ctx;
    return m->llm.hp.n_ctx_train < DEFAULT_CTX_CAP ? m->llm.hp.n_ctx_train : DEFAULT_CTX_CAP;
}

/* The session's host buffers: the last position's logits, and the token history (prompt +
 * generated, one spare) that generate() grows the prompt's ids into. */
static size_t logits_bytes(const mmrt_model *m) { return sizeof(float) * (size_t)m->llm.hp.n_vocab; }
static size_t history_bytes(int64_t n_ctx) { return sizeof(int32_t) * (size_t)(n_ctx + 1); }

int64_t mmrt_model_session_bytes(const mmrt_model *m, int32_t n_ctx) {
    if (!m) return 0;
    int64_t ctx = resolve_ctx(m, n_ctx);
    size_t state = mmrt_llm_state_bytes(&m->llm, mmrt_backend_kv_dtype(m->be), ctx, 0);
    if (state == 0) return 0;
    return (int64_t)(state + logits_bytes(m) + mmrt_sampler_bytes(m->llm.hp.n_vocab) + history_bytes(ctx));
}

mmrt_status mmrt_session_init(const mmrt_model *model, const mmrt_session_params *params,
                              mmrt_session **out) {
    mmrt_error err = {0};
    mmrt_session_params p;
    mmrt_status pst = mmrt_api_struct_in(&p, &session_defaults, sizeof p, params, "mmrt_session_params", &err);
    params = &p;
    if (pst == MMRT_OK && (!model || !out))
        pst = mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "mmrt_session_init: NULL argument");
    if (pst == MMRT_OK && p.n_threads < 0)
        pst = mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "mmrt_session_params.n_threads: %d is negative", (int)p.n_threads);
    if (pst != MMRT_OK) {
        mmrt_error_publish(&err);
        return pst;
    }
    *out = NULL;
    mmrt_session *s = calloc(1, sizeof *s);
    mmrt_status st = MMRT_OK;
    if (!s) {
        st = mmrt_error_oom(&err, sizeof *s, "session");
        goto fail;
    }
    s->model = model;
    s->logits = malloc(logits_bytes(model));
    if (!s->logits) {
        st = mmrt_error_oom(&err, logits_bytes(model), "logits");
        goto fail;
    }
    if ((st = mmrt_backend_fork(model->be, &s->be, &err)) != MMRT_OK) goto fail;
    mmrt_backend_set_threads(s->be, params->n_threads);
    st = mmrt_llm_state_init(&s->state, &model->llm, s->be, resolve_ctx(model, params->n_ctx),
                             params->n_batch, &err);
    if (st != MMRT_OK) goto fail;
    *out = s;
    return MMRT_OK;
fail:
    mmrt_session_free(s);
    mmrt_error_publish(&err);
    return st;
}

void mmrt_session_free(mmrt_session *s) {
    if (!s) return;
    mmrt_kv_prefix_free(&s->cache);
    mmrt_conversation_free(&s->conv);
    mmrt_strbuf_free(&s->reply);
    mmrt_llm_state_free(&s->state);
    mmrt_backend_free(s->be);
    free(s->logits);
    free(s);
}

const char *mmrt_session_last_error(const mmrt_session *s) { return s ? s->err.msg : ""; }

mmrt_status mmrt_session_fail(mmrt_session *s, mmrt_status st) {
    if (s->err.status == MMRT_OK) s->err.status = st;
    return st;
}

/* The prompt rendered (chat format unless raw), media parts as cp[i] (in the order of the
 * conversation's parts). */
static mmrt_status render_prompt(mmrt_session *s, const mmrt_prompt_in *in, const mmrt_chat_part *cp, bool raw,
                                 const char *system, char **out) {
    const mmrt_model *m = s->model;
    if (!in->msgs) {
        MMRT_TRY(mmrt_chat_render_parts(&m->chat, system, cp, in->n_parts, raw, out, &s->err));
    } else {
        mmrt_chat_message *cm = calloc(in->n_msgs ? in->n_msgs : 1, sizeof *cm);
        if (!cm) return mmrt_error_oom(&s->err, in->n_msgs * sizeof *cm, "conversation");
        for (size_t i = 0, k = 0; i < in->n_msgs; k += in->msgs[i++].n_parts)
            cm[i] = (mmrt_chat_message){in->msgs[i].role, cp + k, in->msgs[i].n_parts};
        mmrt_status st = mmrt_chat_render_messages(&m->chat, cm, in->n_msgs, true, out, &s->err);
        free(cm);
        MMRT_TRY(st);
    }
    if (!raw && !m->chat.jinja && !m->chat.parse_error)
        MMRT_LOG_W("%s has no chat template: the prompt is used as is", m->dir);
    return MMRT_OK;
}

mmrt_status mmrt_session_null(const char *fn) {
    mmrt_error err = {0};
    mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "%s: the session is NULL", fn);
    mmrt_error_publish(&err);
    return MMRT_ERR_INVALID_ARG;
}

/* ---- stop strings ------------------------------------------------------------------------ */

/* Generated text passes through here before the callback. Text that might be the start of a stop
 * string is held back until the next piece shows whether it is; a stop string found ends
 * generation and neither it nor anything after it is emitted. */
typedef struct stop_filter {
    const char *const *stop;
    int32_t n_stop;
    char *held;
    size_t n_held, cap;
} stop_filter;

/* Length of the longest suffix of text[0..n) that is a proper prefix of some stop string. */
static size_t partial_stop_suffix(const stop_filter *f, const char *text, size_t n) {
    size_t best = 0;
    for (int32_t i = 0; i < f->n_stop; i++) {
        size_t ls = strlen(f->stop[i]);
        if (ls == 0) continue; /* an empty stop string matches nothing */
        for (size_t k = ls > n ? n : ls - 1; k > best; k--)
            if (memcmp(text + n - k, f->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

/* Appends piece; sets *emit and *n_emit to the text now safe to pass on; returns true when a stop
 * string was found. */
static bool stop_filter_push(stop_filter *f, const char *piece, size_t len, const char **emit,
                             size_t *n_emit, bool *oom) {
    if (f->n_held + len + 1 > f->cap) {
        size_t cap = (f->n_held + len + 1) * 2;
        char *p = realloc(f->held, cap);
        if (!p) {
            *oom = true;
            return true;
        }
        f->held = p;
        f->cap = cap;
    }
    memcpy(f->held + f->n_held, piece, len);
    f->n_held += len;
    f->held[f->n_held] = '\0';
    *emit = f->held;
    size_t first = f->n_held;
    for (int32_t i = 0; i < f->n_stop; i++) {
        if (!f->stop[i][0]) continue;
        const char *hit = strstr(f->held, f->stop[i]);
        if (hit && (size_t)(hit - f->held) < first) first = (size_t)(hit - f->held);
    }
    bool found = first < f->n_held;
    size_t n = found ? first : f->n_held - partial_stop_suffix(f, f->held, f->n_held);
    /* a stop string may begin inside a character: never emit part of one */
    while (n > 0 && n < f->n_held && ((unsigned char)f->held[n] & 0xc0) == 0x80) n--;
    *n_emit = n;
    if (found) f->n_held = 0;
    return found;
}

/* Drops the emitted prefix after the callback has seen it. */
static void stop_filter_consume(stop_filter *f, size_t n) {
    memmove(f->held, f->held + n, f->n_held - n);
    f->n_held -= n;
}

/* ---- generation --------------------------------------------------------------------------- */

static bool is_eos(const mmrt_llm_hparams *hp, int32_t tok) {
    for (int i = 0; i < hp->n_eos; i++)
        if (hp->eos_ids[i] == tok) return true;
    return false;
}

typedef struct gen_loop {
    mmrt_session *s;
    const mmrt_generate_params *p;
    mmrt_generate_result *r;
    mmrt_sampler sampler;
    mmrt_detok *detok;
    stop_filter stop;
    int32_t *history;
    size_t n_history;
    int64_t n_kept;                 /* history[0 .. n_kept) is in the KV cache already */
    mmrt_llm_segment *segments;     /* the media segments after n_kept, in batch coordinates */
    size_t n_segments;
    const char *adapter;            /* the decoder's LoRA adapter for this call, or NULL */
} gen_loop;

/* Passes text through the stop filter to the callback; true when generation must end. */
static bool deliver(gen_loop *g, const char *piece, size_t len, int32_t tok) {
    const char *emit;
    size_t n_emit;
    bool oom = false;
    bool stop = stop_filter_push(&g->stop, piece, len, &emit, &n_emit, &oom);
    if (oom) {
        mmrt_error_oom(&g->s->err, len, "generated text");
        return true;
    }
    if (stop) g->r->stop_reason = MMRT_STOP_STRING;
    if (mmrt_strbuf_append(&g->s->reply, emit, n_emit, &g->s->err) != MMRT_OK) return true;
    if (g->p->on_token && (n_emit > 0 || !stop) && g->p->on_token(emit, n_emit, tok, g->p->user) != 0) {
        if (!stop) g->r->stop_reason = MMRT_STOP_CALLBACK;
        stop = true;
    }
    if (!stop) stop_filter_consume(&g->stop, n_emit);
    return stop;
}

static mmrt_status run_loop(gen_loop *g) {
    mmrt_session *s = g->s;
    const mmrt_llm *llm = &s->model->llm;
    mmrt_error *err = &s->err;
    double t0 = mmrt_now_ms();
    mmrt_llm_batch batch = {.ids = g->history + g->n_kept, .n_tok = (int64_t)g->n_history - g->n_kept,
                            .logits = s->logits, .segments = g->segments, .n_segments = g->n_segments,
                            .adapter = g->adapter};
    MMRT_TRY(mmrt_llm_decode(llm, &s->state, &batch, err));
    double t1 = mmrt_now_ms();
    g->r->prefill_ms = t1 - t0;

    for (int32_t i = 0; i < g->p->max_tokens; i++) {
        for (int64_t v = 0; v < llm->hp.n_vocab; v++)
            if (!isfinite(s->logits[v]))
                return mmrt_error_set(err, MMRT_ERR_MODEL,
                                      "%s: the model computed %s logits at token %d (corrupt weights?)",
                                      s->model->dir, isnan(s->logits[v]) ? "NaN" : "infinite",
                                      g->r->n_generated);
        int32_t tok = mmrt_sampler_sample(&g->sampler, s->logits, g->history, g->n_history);
        if (is_eos(&llm->hp, tok)) {
            g->r->stop_reason = MMRT_STOP_EOS;
            break;
        }
        g->history[g->n_history++] = tok;
        g->r->n_generated++;
        /* config.json's vocabulary may be padded past the tokenizer's, or the tokenizer may have
         * holes: ids it has no text for decode to nothing, as in transformers */
        const char *piece = "";
        size_t len = 0;
        if (mmrt_tokenizer_token_text(s->model->tok, tok)) MMRT_TRY(mmrt_detok_push(g->detok, tok, &piece, &len, err));
        if (deliver(g, piece, len, tok)) break;
        if (i + 1 == g->p->max_tokens) {
            g->r->stop_reason = MMRT_STOP_MAX_TOKENS;
            break;
        }
        if (s->state.n_past >= s->state.n_ctx) {
            g->r->stop_reason = MMRT_STOP_CONTEXT;
            break;
        }
        mmrt_llm_batch next = {.ids = &g->history[g->n_history - 1], .n_tok = 1, .logits = s->logits,
                               .adapter = g->adapter};
        MMRT_TRY(mmrt_llm_decode(llm, &s->state, &next, err));
    }
    if (g->r->stop_reason == MMRT_STOP_MAX_TOKENS || g->r->stop_reason == MMRT_STOP_EOS ||
        g->r->stop_reason == MMRT_STOP_CONTEXT) {
        /* bytes of an unfinished character, and text held back for a stop string that never came */
        const char *piece;
        size_t len;
        MMRT_TRY(mmrt_detok_flush(g->detok, &piece, &len, err));
        if (len > 0 || g->stop.n_held > 0) {
            mmrt_stop_reason reason = g->r->stop_reason;
            g->stop.n_stop = 0; /* nothing more can complete a stop string */
            deliver(g, piece, len, -1);
            g->r->stop_reason = reason;
        }
    }
    g->r->decode_ms = mmrt_now_ms() - t1;
    return MMRT_OK;
}

/* A fresh seed per call: the kernel's entropy, or the clock's nanoseconds if that fails. */
static uint64_t random_seed(void) {
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed) return seed;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
}

/* ---- the prompt --------------------------------------------------------------------------- */

/* The prompt's parts in order (a conversation's parts, message after message), shallow copies
 * in *flat (malloc'ed when a conversation's, else parts itself). */
static mmrt_status flatten(mmrt_session *s, const mmrt_prompt_in *in, const mmrt_part **flat, mmrt_part **owned,
                           size_t *n) {
    *owned = NULL;
    if (!in->msgs) {
        *flat = in->parts;
        *n = in->n_parts;
        return MMRT_OK;
    }
    size_t total = 0;
    for (size_t i = 0; i < in->n_msgs; i++) {
        if (!in->msgs[i].role || (in->msgs[i].n_parts > 0 && !in->msgs[i].parts))
            return mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "message %zu: NULL %s", i,
                                  in->msgs[i].role ? "parts" : "role");
        total += in->msgs[i].n_parts;
    }
    if (!(*owned = malloc((total ? total : 1) * sizeof **owned)))
        return mmrt_error_oom(&s->err, total * sizeof **owned, "conversation");
    for (size_t i = 0, k = 0; i < in->n_msgs; k += in->msgs[i++].n_parts)
        if (in->msgs[i].n_parts) memcpy(*owned + k, in->msgs[i].parts, in->msgs[i].n_parts * sizeof **owned);
    *flat = *owned;
    *n = total;
    return MMRT_OK;
}

/* The prompt's token ids: rendered with media parts as their encoders' placeholders, expanded as
 * the processors do, tokenized; pm's segments locate each input. */
static mmrt_status prompt_ids(mmrt_session *s, const mmrt_prompt_in *in, const mmrt_part *parts, size_t n_parts,
                              const mmrt_generate_params *params, mmrt_prompt_media *pm, int32_t **ids,
                              size_t *n_ids) {
    mmrt_chat_part *cp = calloc(n_parts ? n_parts : 1, sizeof *cp);
    if (!cp) return mmrt_error_oom(&s->err, n_parts * sizeof *cp, "prompt");
    for (size_t i = 0; i < n_parts; i++) {
        /* media parts as their encoder's placeholder (string content) or type (list content) */
        const mmrt_encoder *e = parts[i].type == MMRT_PART_TEXT ? NULL
                              : mmrt_encoder_for_part(s->model->encoders, s->model->n_encoders, parts[i].type);
        cp[i] = parts[i].type == MMRT_PART_TEXT ? (mmrt_chat_part){.text = parts[i].text}
                                                : (mmrt_chat_part){.image = true, .text = e ? e->placeholder : NULL,
                                                                   .kind = e ? e->noun : NULL};
    }
    char *rendered = NULL;
    mmrt_status st = render_prompt(s, in, cp, params->raw, params->system, &rendered);
    free(cp);
    if (st == MMRT_OK) st = mmrt_prompt_media_ids(pm, s->model->tok, s->model->dir, rendered, ids, n_ids, &s->err);
    free(rendered);
    return st;
}

static mmrt_status prepare_media(mmrt_session *s, const mmrt_part *parts, size_t n_parts,
                                 const mmrt_generate_params *params, mmrt_prompt_media *pm) {
    const mmrt_model *m = s->model;
    return mmrt_prompt_media_prepare(pm, m->encoders, m->n_encoders, m->dir, parts, n_parts, params, s->state.n_ctx,
                                     &s->err);
}

/* ---- generation entry points ---------------------------------------------------------------- */

/* A text that holds an encoder's placeholder, which only its media parts may put in the prompt. */
static const char *placeholder_in(const mmrt_model *m, const char *text) {
    for (size_t k = 0; text && k < m->n_encoders; k++)
        if (strstr(text, m->encoders[k]->placeholder)) return m->encoders[k]->placeholder;
    return NULL;
}

/* Cheap checks of the parameters and the text parts, before any media is read. */
static mmrt_status check_params(mmrt_session *s, const mmrt_part *parts, size_t n_parts,
                                const mmrt_generate_params *params) {
    if (params->max_tokens < 0 || params->n_stop < 0)
        return mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "max_tokens and n_stop must be ≥ 0");
    if (params->n_stop > 0 && !params->stop_strings)
        return mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "n_stop is %d but stop_strings is NULL", params->n_stop);
    for (size_t i = 0; i < n_parts; i++) {
        if (parts[i].type == MMRT_PART_TEXT && !parts[i].text)
            return mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "prompt part %zu: NULL text", i);
        /* the placeholders are the processors': each one must come from a media part */
        const char *ph = parts[i].type == MMRT_PART_TEXT ? placeholder_in(s->model, parts[i].text) : NULL;
        if (ph)
            return mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG,
                                  "prompt part %zu: the text contains \"%s\"; pass media as parts of their own", i,
                                  ph);
    }
    const char *ph = placeholder_in(s->model, params->system);
    if (ph) return mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "the system message contains \"%s\"", ph);
    if (params->max_pixels < 0)
        return mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "max_pixels must be ≥ 0 (0 = the default)");
    for (int32_t i = 0; i < params->n_stop; i++)
        if (!params->stop_strings[i])
            return mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "stop string %d is NULL", i);
    return MMRT_OK;
}

mmrt_status mmrt_session_prompt_ids(mmrt_session *s, const mmrt_part *parts, size_t n_parts,
                                    const mmrt_generate_params *params, int32_t **ids, size_t *n_ids) {
    mmrt_error_clear(&s->err);
    *ids = NULL;
    *n_ids = 0;
    if (!params) params = &generate_defaults;
    mmrt_prompt_in in = {.parts = parts, .n_parts = n_parts};
    mmrt_prompt_media pm = {0};
    mmrt_status st = check_params(s, parts, n_parts, params);
    if (st == MMRT_OK) st = prepare_media(s, parts, n_parts, params, &pm);
    if (st == MMRT_OK) st = prompt_ids(s, &in, parts, n_parts, params, &pm, ids, n_ids);
    if (st != MMRT_OK) {
        free(*ids);
        *ids = NULL;
    }
    mmrt_prompt_media_free(&pm);
    return mmrt_session_fail(s, st);
}

/* The result's counts and times of the media inputs, by the stage their encoder reports. */
static void count_media(const mmrt_prompt_media *pm, mmrt_generate_result *r) {
    for (size_t k = 0; k < pm->n; k++) {
        const mmrt_media_input *in = &pm->inputs[k];
        if (in->enc->stage == MMRT_STAGE_AUDIO_ENCODE) {
            r->n_audio++;
            r->n_audio_tokens += (int32_t)in->n_tokens;
            r->audio_load_ms += in->prepare_ms;
            r->audio_encode_ms += in->encode_ms;
        } else {
            r->n_images++;
            r->n_image_tiles += in->n_steps;
            r->n_image_tokens += (int32_t)in->n_tokens;
            r->image_load_ms += in->prepare_ms;
            r->image_encode_ms += in->encode_ms;
        }
    }
}

/* The prompt's media prepared and its ids, dropping the conversation's oldest turns while it does
 * not fit the context when params->drop_old_turns (in->msgs, a copy, loses them). */
static mmrt_status fitting_prompt(mmrt_session *s, mmrt_prompt_in *in, mmrt_message *msgs,
                                  const mmrt_generate_params *params, mmrt_prompt_media *pm, int32_t **ids,
                                  size_t *n_ids, mmrt_generate_result *r) {
    const mmrt_model *m = s->model;
    for (;;) {
        const mmrt_part *parts = NULL;
        mmrt_part *owned = NULL;
        size_t n_parts = 0;
        MMRT_TRY(flatten(s, in, &parts, &owned, &n_parts));
        mmrt_status st = check_params(s, parts, n_parts, params);
        if (st != MMRT_OK || params->max_tokens == 0) { /* -n 0 reads no media */
            free(owned);
            return st;
        }
        st = prepare_media(s, parts, n_parts, params, pm);
        if (st == MMRT_OK) st = prompt_ids(s, in, parts, n_parts, params, pm, ids, n_ids);
        free(owned);
        if (st == MMRT_OK && *n_ids == 0)
            st = mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "the prompt is empty: nothing to continue");
        bool fits = st == MMRT_OK && (int64_t)*n_ids <= s->state.n_ctx;
        size_t first, end;
        if (!fits && (st == MMRT_OK || st == MMRT_ERR_CONTEXT_FULL) && in->msgs && params->drop_old_turns &&
            mmrt_messages_oldest_turn(in->msgs, in->n_msgs, &first, &end)) {
            memmove(msgs + first, msgs + end, (in->n_msgs - end) * sizeof *msgs);
            in->n_msgs -= end - first;
            r->n_dropped_turns++;
            mmrt_prompt_media_free(pm);
            free(*ids);
            *ids = NULL;
            *n_ids = 0;
            mmrt_error_clear(&s->err);
            continue;
        }
        if (st == MMRT_OK && !fits && in->msgs)
            st = mmrt_error_set(&s->err, MMRT_ERR_CONTEXT_FULL,
                                "the conversation has %zu tokens%s but the context holds %lld: start a new one "
                                "(mmrt_session_reset, /reset in mmrt chat), raise the context size (--ctx; this "
                                "model was trained with %lld) or let the oldest turns go (drop_old_turns)",
                                *n_ids, pm->n ? " with its media" : "", (long long)s->state.n_ctx,
                                (long long)m->llm.hp.n_ctx_train);
        else if (st == MMRT_OK && !fits) /* before the costly encoding */
            st = mmrt_error_set(&s->err, MMRT_ERR_CONTEXT_FULL,
                                "the prompt has %zu tokens%s but the context holds %lld (raise the context "
                                "size; this model was trained with %lld)",
                                *n_ids, pm->n ? " with its media" : "", (long long)s->state.n_ctx,
                                (long long)m->llm.hp.n_ctx_train);
        if (st == MMRT_OK && r->n_dropped_turns > 0)
            MMRT_LOG_W("the conversation did not fit the context of %lld tokens: its %d oldest turn%s dropped",
                       (long long)s->state.n_ctx, r->n_dropped_turns, r->n_dropped_turns == 1 ? " was" : "s were");
        return st;
    }
}

/* Keeps the cache's common prefix with the prompt in g->history[0 .. n_ids) and encodes the media
 * after it; g's segments are those media's, in the coordinates of the batch that follows. */
static mmrt_status keep_prefix(mmrt_session *s, mmrt_prompt_media *pm, const mmrt_kv_prompt *kp,
                               const mmrt_generate_params *params, gen_loop *g) {
    g->n_kept = mmrt_kv_prefix_match(&s->cache, kp);
    if (g->n_kept > s->state.n_past) g->n_kept = s->state.n_past; /* never past what is computed */
    g->r->n_cached_tokens = (int32_t)g->n_kept;
    size_t k0 = 0;
    while (k0 < pm->n && pm->segments[k0].begin < g->n_kept) k0++;
    if (k0 == pm->n) return MMRT_OK;
    if (!(g->segments = calloc(pm->n - k0, sizeof *g->segments)))
        return mmrt_error_oom(&s->err, (pm->n - k0) * sizeof *g->segments, "media segments");
    for (size_t k = k0; k < pm->n; k++) {
        g->segments[g->n_segments] = pm->segments[k];
        g->segments[g->n_segments].begin -= g->n_kept;
        g->segments[g->n_segments++].end -= g->n_kept;
    }
    return mmrt_prompt_media_encode(pm, k0, s->be, params, &s->err);
}

static mmrt_status generate(mmrt_session *s, const mmrt_prompt_in *in0, const mmrt_generate_params *params,
                            gen_loop *g) {
    const mmrt_model *m = s->model;
    mmrt_prompt_in in = *in0;
    mmrt_message *msgs = NULL; /* a conversation's messages, which may lose their oldest turns */
    if (in.msgs) {
        if (!(msgs = malloc((in.n_msgs ? in.n_msgs : 1) * sizeof *msgs)))
            return mmrt_error_oom(&s->err, in.n_msgs * sizeof *msgs, "conversation");
        if (in.n_msgs) memcpy(msgs, in.msgs, in.n_msgs * sizeof *msgs);
        in.msgs = msgs;
    }
    mmrt_prompt_media pm = {0};
    int32_t *ids = NULL;
    size_t n_ids = 0;
    mmrt_status st = fitting_prompt(s, &in, msgs, params, &pm, &ids, &n_ids, g->r);
    free(msgs);
    if (st != MMRT_OK || params->max_tokens == 0) {
        free(ids);
        mmrt_prompt_media_free(&pm);
        return st;
    }
    g->r->n_prompt_tokens = (int32_t)n_ids;
    /* the adapter the media need is on for the whole call, prompt and generated tokens, as
     * GraniteSpeech's generate() enables it for the call whenever input_features are given */
    const char *lora = mmrt_prompt_media_lora(&pm);
    if (lora && (!m->llm.lora || strcmp(lora, m->llm.lora->name) != 0))
        st = mmrt_error_set(&s->err, MMRT_ERR_UNSUPPORTED, "%s: the prompt's media need the LoRA adapter \"%s\", which "
                            "this checkpoint does not have (no adapter_config.json)", m->dir, lora);
    g->adapter = lora;
    if (st == MMRT_OK && !(g->history = realloc(ids, history_bytes(s->state.n_ctx))))
        st = mmrt_error_oom(&s->err, history_bytes(s->state.n_ctx), "token history");
    if (st == MMRT_OK) ids = NULL;
    mmrt_kv_prompt kp = {.ids = g->history, .n = (int64_t)n_ids, .segments = pm.segments, .inputs = pm.inputs,
                         .n_media = pm.n, .adapter = lora};
    if (st == MMRT_OK) st = keep_prefix(s, &pm, &kp, params, g);
    if (st != MMRT_OK) {
        free(ids);
        free(g->history);
        free(g->segments);
        mmrt_prompt_media_free(&pm);
        return st;
    }
    count_media(&pm, g->r);
    g->n_history = n_ids;
    g->stop.stop = params->stop_strings;
    g->stop.n_stop = params->n_stop;
    /* from here the cache changes: its record is valid again only once the run has succeeded */
    mmrt_kv_prefix_clear(&s->cache);
    s->state.n_past = g->n_kept;

    mmrt_sampler_params sp = {.temperature = params->temperature, .top_k = params->top_k,
                              .top_p = params->top_p, .min_p = params->min_p,
                              .repeat_penalty = params->repeat_penalty, .seed = params->seed};
    if (sp.seed == MMRT_SEED_RANDOM) sp.seed = random_seed();
    st = mmrt_sampler_init(&g->sampler, &sp, m->llm.hp.n_vocab, &s->err);
    if (st == MMRT_OK) st = mmrt_detok_init(m->tok, /*skip_special=*/!params->special, &g->detok, &s->err);
    if (st == MMRT_OK) st = run_loop(g);
    if (st == MMRT_OK && s->err.status != MMRT_OK) st = s->err.status; /* from deliver() */
    if (st == MMRT_OK) st = mmrt_kv_prefix_set(&s->cache, &kp, g->history, s->state.n_past, &s->err);
    mmrt_detok_free(g->detok);
    mmrt_sampler_free(&g->sampler);
    free(g->stop.held);
    free(g->history);
    free(g->segments);
    mmrt_prompt_media_free(&pm);
    return st;
}

mmrt_status mmrt_session_run(mmrt_session *s, const mmrt_prompt_in *in, const mmrt_generate_params *params,
                             mmrt_generate_result *result) {
    mmrt_generate_params p;
    mmrt_generate_result r = {.size = sizeof r};
    gen_loop g = {.s = s, .p = &p, .r = &r};
    s->reply.len = 0;
    if (s->reply.s) s->reply.s[0] = '\0';
    mmrt_status st = result ? mmrt_api_struct_check(result, "mmrt_generate_result", &s->err) : MMRT_OK;
    if (st != MMRT_OK) return mmrt_session_fail(s, st);
    st = mmrt_api_struct_in(&p, &generate_defaults, sizeof p, params, "mmrt_generate_params", &s->err);
    if (st == MMRT_OK && !in->msgs && (!in->parts || in->n_parts == 0))
        st = mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "the prompt has no parts");
    if (st == MMRT_OK && in->msgs && in->n_msgs == 0)
        st = mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "the conversation has no messages");
    if (st == MMRT_OK) st = generate(s, in, &p, &g);
    if (result) mmrt_api_struct_out(result, &r, sizeof r);
    return mmrt_session_fail(s, st);
}

mmrt_status mmrt_session_generate_parts(mmrt_session *s, const mmrt_part *parts, size_t n_parts,
                                        const mmrt_generate_params *params, mmrt_generate_result *result) {
    if (!s) return mmrt_session_null("mmrt_session_generate_parts");
    mmrt_error_clear(&s->err);
    mmrt_prompt_in in = {.parts = parts, .n_parts = n_parts};
    return mmrt_session_run(s, &in, params, result);
}

mmrt_status mmrt_session_refuse(mmrt_session *s, mmrt_generate_result *result, mmrt_status st) {
    mmrt_error ignored = {0};
    mmrt_generate_result r = {.size = sizeof r};
    if (result && mmrt_api_struct_check(result, "mmrt_generate_result", &ignored) == MMRT_OK)
        mmrt_api_struct_out(result, &r, sizeof r);
    return mmrt_session_fail(s, st);
}

mmrt_status mmrt_session_generate(mmrt_session *s, const char *prompt,
                                  const mmrt_generate_params *params, mmrt_generate_result *result) {
    if (!s) return mmrt_session_null("mmrt_session_generate");
    if (!prompt) {
        mmrt_error_clear(&s->err);
        return mmrt_session_refuse(s, result,
                                   mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "mmrt_session_generate: NULL prompt"));
    }
    mmrt_part part = mmrt_text_part(prompt);
    return mmrt_session_generate_parts(s, &part, 1, params, result);
}

static mmrt_status one_image(mmrt_session *s, const mmrt_part *image, const char *text, const char *fn,
                             const mmrt_generate_params *params, mmrt_generate_result *result) {
    if (!s) return mmrt_session_null(fn);
    if (!image || !text || image->type == MMRT_PART_TEXT) {
        mmrt_error_clear(&s->err);
        return mmrt_session_refuse(s, result, mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "%s: %s", fn,
                                                             !text ? "NULL question" : "the image part is NULL or text"));
    }
    mmrt_part parts[2] = {*image, mmrt_text_part(text)};
    return mmrt_session_generate_parts(s, parts, 2, params, result);
}

mmrt_status mmrt_session_caption(mmrt_session *s, const mmrt_part *image, const mmrt_generate_params *params,
                                 mmrt_generate_result *result) {
    return one_image(s, image, MMRT_CAPTION_PROMPT, "mmrt_session_caption", params, result);
}

mmrt_status mmrt_session_ask(mmrt_session *s, const mmrt_part *image, const char *question,
                             const mmrt_generate_params *params, mmrt_generate_result *result) {
    return one_image(s, image, question, "mmrt_session_ask", params, result);
}

mmrt_part mmrt_text_part(const char *text) { return (mmrt_part){.type = MMRT_PART_TEXT, .text = text}; }

mmrt_part mmrt_image_file_part(const char *path) {
    return (mmrt_part){.type = MMRT_PART_IMAGE_FILE, .text = path};
}

mmrt_part mmrt_image_bytes_part(const void *bytes, size_t n_bytes, const char *name) {
    return (mmrt_part){.type = MMRT_PART_IMAGE_BYTES, .text = name, .data = bytes, .size = n_bytes};
}

mmrt_part mmrt_image_pixels_part(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels,
                                 size_t stride) {
    return (mmrt_part){.type = MMRT_PART_IMAGE_PIXELS, .data = pixels, .size = stride, .width = width,
                       .height = height, .channels = channels};
}

mmrt_part mmrt_audio_file_part(const char *path) {
    return (mmrt_part){.type = MMRT_PART_AUDIO_FILE, .text = path};
}

mmrt_part mmrt_audio_bytes_part(const void *bytes, size_t n_bytes, const char *name) {
    return (mmrt_part){.type = MMRT_PART_AUDIO_BYTES, .text = name, .data = bytes, .size = n_bytes};
}

mmrt_part mmrt_audio_samples_part(const float *samples, size_t n_frames, int32_t channels, int32_t sample_rate) {
    return (mmrt_part){.type = MMRT_PART_AUDIO_SAMPLES, .data = samples, .size = n_frames, .channels = channels,
                       .sample_rate = sample_rate};
}
