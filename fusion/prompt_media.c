#include "prompt_media.h"

#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mmrt_prompt_media_free(mmrt_prompt_media *pm) {
    for (size_t i = 0; i < pm->n; i++) {
        if (pm->rows && pm->rows[i].data) mmrt_media_rows_free(pm->be, &pm->rows[i]);
        mmrt_media_input_free(&pm->inputs[i]);
    }
    free(pm->inputs);
    free(pm->segments);
    free(pm->rows);
    memset(pm, 0, sizeof *pm);
}

mmrt_status mmrt_prompt_media_prepare(mmrt_prompt_media *pm, mmrt_encoder *const *encs, size_t n_encs,
                                      const char *model, const mmrt_part *parts, size_t n_parts,
                                      const mmrt_generate_params *params, int64_t n_ctx, mmrt_error *err) {
    memset(pm, 0, sizeof *pm);
    size_t n = 0;
    for (size_t i = 0; i < n_parts; i++) n += parts[i].type != MMRT_PART_TEXT;
    if (n == 0) return MMRT_OK;
    pm->inputs = calloc(n, sizeof *pm->inputs);
    pm->segments = calloc(n, sizeof *pm->segments);
    pm->rows = calloc(n, sizeof *pm->rows);
    if (!pm->inputs || !pm->segments || !pm->rows) return mmrt_error_oom(err, n * sizeof *pm->inputs, "media");
    int64_t n_tokens = 0;
    for (size_t i = 0; i < n_parts; i++) {
        const mmrt_part *p = &parts[i];
        if (p->type == MMRT_PART_TEXT) continue;
        const mmrt_encoder *e = mmrt_encoder_for_part(encs, n_encs, p->type);
        if (!e && (unsigned)p->type > MMRT_PART_AUDIO_SAMPLES) /* the last type mmrt.h defines */
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "part %zu: unknown part type %d", i, (int)p->type);
        bool audio = p->type >= MMRT_PART_AUDIO_FILE;
        if (!e && !audio && n_encs == 0)
            return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                                  "%s is a text model (no media encoder): part %zu, an image, needs a "
                                  "multimodal model",
                                  model, i);
        if (!e)
            return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s takes no %s (part %zu)%s", model,
                                  audio ? "audio" : "images", i,
                                  audio ? "; audio needs a speech model such as a Granite Speech checkpoint" : "");
        mmrt_media_input *in = &pm->inputs[pm->n++]; /* freed from here on */
        in->enc = e;
        in->part = i;
        double t0 = mmrt_now_ms();
        MMRT_TRY(e->iface->prepare(e, p, i, params, in, err));
        in->prepare_ms = mmrt_now_ms() - t0;
        /* stop before the next input when these already overflow the context */
        n_tokens += in->n_tokens;
        if (n_tokens > n_ctx)
            return mmrt_error_set(err, MMRT_ERR_CONTEXT_FULL,
                                  "the first %zu media input%s of the prompt take %lld tokens but the context "
                                  "holds %lld (raise the context size; fewer or smaller inputs)",
                                  pm->n, pm->n == 1 ? "" : "s", (long long)n_tokens, (long long)n_ctx);
    }
    return MMRT_OK;
}

/* Input k's segment: its encoder's next n_tokens placeholder tokens from *cursor on. */
static bool locate(const mmrt_media_input *in, const int32_t *ids, size_t n_ids, size_t *cursor,
                   mmrt_llm_segment *g) {
    int64_t found = 0;
    size_t i = *cursor;
    for (; i < n_ids && found < in->n_tokens; i++) {
        if (ids[i] != in->enc->token) continue;
        if (found++ == 0) g->begin = (int64_t)i;
    }
    if (found < in->n_tokens || found == 0) return false;
    g->end = (int64_t)i;
    g->token = in->enc->token;
    *cursor = i;
    return true;
}

static mmrt_status check_token_counts(const mmrt_prompt_media *pm, const char *model, const int32_t *ids,
                                      size_t n_ids, mmrt_error *err) {
    for (size_t k = 0; k < pm->n; k++) {
        const mmrt_encoder *e = pm->inputs[k].enc;
        size_t got = 0, want = 0;
        for (size_t i = 0; i < n_ids; i++) got += ids[i] == e->token;
        for (size_t j = 0; j < pm->n; j++) want += pm->inputs[j].enc == e ? (size_t)pm->inputs[j].n_tokens : 0;
        if (got != want)
            return mmrt_error_set(err, MMRT_ERR_MODEL,
                                  "%s: the prompt tokenizes to %zu %s tokens but its %ss give %zu "
                                  "rows (does the tokenizer split \"%s\"?)",
                                  model, got, e->noun, e->noun, want, e->placeholder);
    }
    return MMRT_OK;
}

mmrt_status mmrt_prompt_media_ids(mmrt_prompt_media *pm, const mmrt_tokenizer *tok, const char *model,
                                  const char *text, int32_t **ids, size_t *n_ids, mmrt_error *err) {
    *ids = NULL;
    *n_ids = 0;
    char *expanded = NULL;
    if (pm->n) MMRT_TRY(mmrt_media_expand_prompt(text, pm->inputs, pm->n, &expanded, err));
    const char *t = expanded ? expanded : text;
    mmrt_status st = mmrt_tokenizer_encode(tok, t, strlen(t), /*parse_special=*/true, ids, n_ids, err);
    free(expanded);
    MMRT_TRY(st);
    MMRT_TRY(check_token_counts(pm, model, *ids, *n_ids, err));
    /* each encoder's inputs take its placeholder tokens in order */
    for (size_t k = 0; k < pm->n; k++) {
        size_t cursor = 0;
        for (size_t j = k; j-- > 0;)
            if (pm->inputs[j].enc == pm->inputs[k].enc) {
                cursor = (size_t)pm->segments[j].end;
                break;
            }
        if (!locate(&pm->inputs[k], *ids, *n_ids, &cursor, &pm->segments[k]))
            return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: media input %zu has no tokens in the prompt", model, k);
        pm->segments[k].rows = &pm->rows[k];
    }
    /* the batch takes segments in prompt order */
    for (size_t k = 1; k < pm->n; k++)
        if (pm->segments[k].begin < pm->segments[k - 1].end)
            return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: the tokens of media inputs %zu and %zu interleave", model,
                                  k - 1, k);
    return MMRT_OK;
}

/* Progress over all inputs of one stage, from each input's step counts. */
typedef struct progress_relay {
    const mmrt_generate_params *p;
    mmrt_stage stage;
    int32_t done_before, total;
} progress_relay;

static int relay_progress(int32_t done, void *user) {
    const progress_relay *r = user;
    return r->p->on_progress(r->stage, r->done_before + done, r->total, r->p->user);
}

mmrt_status mmrt_prompt_media_encode(mmrt_prompt_media *pm, size_t first, mmrt_backend *be,
                                     const mmrt_generate_params *params, mmrt_error *err) {
    pm->be = be;
    for (size_t k = first; k < pm->n; k++) {
        mmrt_media_input *in = &pm->inputs[k];
        progress_relay relay = {.p = params, .stage = in->enc->stage};
        for (size_t j = first; j < pm->n; j++) {
            if (pm->inputs[j].enc->stage != relay.stage) continue;
            relay.total += pm->inputs[j].n_steps;
            if (j < k) relay.done_before += pm->inputs[j].n_steps;
        }
        double t0 = mmrt_now_ms();
        MMRT_TRY(in->enc->iface->encode(in->enc, be, in, params->on_progress ? relay_progress : NULL, &relay,
                                        &pm->rows[k], err));
        in->encode_ms = mmrt_now_ms() - t0;
    }
    return MMRT_OK;
}

const char *mmrt_prompt_media_lora(const mmrt_prompt_media *pm) {
    for (size_t k = 0; k < pm->n; k++)
        if (pm->inputs[k].enc->lora) return pm->inputs[k].enc->lora;
    return NULL;
}
