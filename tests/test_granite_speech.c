/* Granite Speech end to end against transformers, on tests/fixtures/granite_speech (both checkpoint
 * generations: g3 with a PEFT LoRA adapter, g4 without):
 *   - per case, from the fixture's features (or, for the 30 s windows of the long clip and the
 *     multi-format files, from the clip's samples through our log-mel): every conformer layer, the
 *     encoder output, the projector output, every decoder hidden state (g3 with its LoRA adapter
 *     on, as generate() runs it) the fixture has, and the last logits, within 1e-4 · max|ref| (at
 *     least twice transformers' own f32 error against float64, recorded per case), and the 48
 *     greedy tokens identical;
 *   - the BatchNorm folding's error against the unfolded float64 computation;
 *   - from the clip files through the public API: the prompt's ids and the greedy tokens;
 *   - bad input through the seam (a non-audio file, an empty clip, NaN samples, a clip too short
 *     for one feature frame), aborting from the progress callback, the other Granite Speech classes
 *     refused by name. */
#include "audio/audio.h"
#include "core/json.h"
#include "core/ops.h"
#include "core/safetensors.h"
#include "fusion/granite_speech.h"
#include "fusion/model.h"
#include "helpers/compare.h"
#include "helpers/model_fixture.h"
#include "helpers/reply.h"
#include "helpers/test_device.h"
#include "helpers/tmpdir.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOL 1e-4 /* ARCHITECTURE.md: f32 paths */

typedef struct fixture {
    char dir[600];  /* the checkpoint */
    char root[512]; /* tests/fixtures/granite_speech */
    mmrt_model *model;
    mmrt_weights *ref;
    cJSON *json; /* reference.json */
} fixture;

static void fixture_open(fixture *f, const char *name) {
    memset(f, 0, sizeof *f);
    snprintf(f->root, sizeof f->root, "%s/granite_speech", MMRT_FIXTURES_DIR);
    snprintf(f->dir, sizeof f->dir, "%s/%s", f->root, name);
    test_model_open(f->dir, f->root, &f->model, &f->ref, &f->json);
}

static void fixture_close(fixture *f) {
    mmrt_model_free(f->model);
    mmrt_weights_free(f->ref);
    cJSON_Delete(f->json);
}

static const mmrt_granite_speech *speech_of(const mmrt_model *m) {
    cr_assert_eq(m->n_encoders, 1, "%zu encoders", m->n_encoders);
    return m->encoders[0]->impl;
}

/* A copy of a reference tensor (the mapping need not be aligned for its type), or NULL when the
 * fixture does not have it; *n its element count. */
static void *ref_find(const fixture *f, const char *name, int64_t *n) {
    const mmrt_st_tensor *t = mmrt_weights_find(f->ref, name);
    if (!t) return NULL;
    void *p = malloc(t->n_bytes);
    cr_assert_not_null(p);
    memcpy(p, t->data, t->n_bytes);
    if (n) *n = (int64_t)(t->n_bytes / 4);
    return p;
}

static void *ref_copy(const fixture *f, const char *name, int64_t *n) {
    void *p = ref_find(f, name, n);
    cr_assert_not_null(p, "%s: reference tensor %s missing", f->root, name);
    return p;
}

static bool close_to_ref(const fixture *f, const char *name, const float *got, int64_t n) {
    int64_t n_ref = 0;
    float *want = ref_copy(f, name, &n_ref);
    cr_assert_eq(n, n_ref, "%s: %lld values, the reference has %lld", name, (long long)n, (long long)n_ref);
    char label[600];
    snprintf(label, sizeof label, "%s %s", f->root, name);
    bool ok = mmrt_test_close(label, got, want, n, TOL);
    free(want);
    return ok;
}

/* The 16 kHz samples of a case: its clip decoded, cut to its window when it is one. */
static float *case_samples(const fixture *f, const cJSON *c, int64_t *n) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", f->root, cJSON_GetStringValue(mmrt_json_find(c, "clip")));
    mmrt_audio a = {0};
    mmrt_error err = {0};
    cr_assert_eq(mmrt_audio_load_file(path, NULL, &a, &err), MMRT_OK, "%s", err.msg);
    int64_t s0 = 0, s1 = a.n_samples;
    if (mmrt_json_find(c, "window")) {
        s0 = (int64_t)cJSON_GetNumberValue(mmrt_json_find(c, "start_sample"));
        s1 = (int64_t)cJSON_GetNumberValue(mmrt_json_find(c, "end_sample"));
    }
    cr_assert(s0 >= 0 && s1 <= a.n_samples && s0 < s1, "%s: window [%lld, %lld) of %lld samples", path,
              (long long)s0, (long long)s1, (long long)a.n_samples);
    *n = s1 - s0;
    float *x = malloc((size_t)*n * sizeof *x);
    memcpy(x, a.samples + s0, (size_t)*n * sizeof *x);
    mmrt_audio_free(&a);
    return x;
}

/* ---- per stage, from the fixture's features ------------------------------------------------- */

typedef struct stage_check {
    const fixture *f;
    const char *key;
    int64_t n_layer;
    int n_checked;
    bool ok;
} stage_check;

/* enc.<i>: i = 0 input_linear, 1..L the blocks (the CTC add included at L/2); enc.out = enc.<L> */
static void on_encoder_hidden(int index, const mmrt_tensor *x, void *user) {
    stage_check *sc = user;
    char name[300];
    float *got = test_download(x);
    int64_t n = mmrt_tensor_nelements(x);
    snprintf(name, sizeof name, "%s.enc.%d", sc->key, index);
    if (mmrt_weights_find(sc->f->ref, name)) {
        sc->ok &= close_to_ref(sc->f, name, got, n);
        sc->n_checked++;
    }
    snprintf(name, sizeof name, "%s.enc.out", sc->key);
    if (index == sc->n_layer && mmrt_weights_find(sc->f->ref, name)) {
        sc->ok &= close_to_ref(sc->f, name, got, n);
        sc->n_checked++;
    }
    free(got);
}

/* decoder: our 0..L-1 = hidden.i, L = before the final norm (no reference), L+1 = hidden.L */
static void on_decoder_hidden(int index, const mmrt_tensor *x, void *user) {
    stage_check *sc = user;
    int L = (int)sc->n_layer;
    if (index == L) return;
    char name[300];
    snprintf(name, sizeof name, "%s.hidden.%d", sc->key, index < L ? index : L);
    if (!mmrt_weights_find(sc->f->ref, name)) return;
    float *got = test_download(x);
    sc->ok &= close_to_ref(sc->f, name, got, mmrt_tensor_nelements(x));
    sc->n_checked++;
    free(got);
}

/* transformers' features of a case: its own, or those of another case of the same clip and
 * window (the features depend on the audio alone); NULL when no case has them. */
static float *ref_features(const fixture *f, const char *key, const cJSON *c, int64_t *n) {
    char name[300];
    snprintf(name, sizeof name, "%s.features", key);
    float *feat = ref_find(f, name, n);
    const cJSON *other;
    const char *clip = cJSON_GetStringValue(mmrt_json_find(c, "clip"));
    const cJSON *win = mmrt_json_find(c, "window");
    cJSON_ArrayForEach(other, mmrt_json_find(f->json, "cases")) {
        if (feat) break;
        const cJSON *ow = mmrt_json_find(other, "window");
        if (strcmp(cJSON_GetStringValue(mmrt_json_find(other, "clip")), clip) != 0 || !ow != !win ||
            (win && cJSON_GetNumberValue(ow) != cJSON_GetNumberValue(win)))
            continue;
        snprintf(name, sizeof name, "%s.features", other->string);
        feat = ref_find(f, name, n);
    }
    return feat;
}

/* The features of a case: transformers', else (the long clip's windows, which the fixture keeps
 * no features of) ours from the clip's samples. */
static float *case_features(const fixture *f, const char *key, const cJSON *c, int64_t *n_rows, bool *ours) {
    const mmrt_granite_speech *g = speech_of(f->model);
    int64_t n = 0;
    float *feat = ref_features(f, key, c, &n);
    *ours = !feat;
    if (feat) {
        *n_rows = n / g->enc.hp.input_dim;
        return feat;
    }
    int64_t n_samples;
    float *x = case_samples(f, c, &n_samples);
    const mmrt_log_mel_config *mc = mmrt_log_mel_get_config(g->mel);
    *n_rows = mmrt_log_mel_n_rows(mc, n_samples);
    feat = malloc((size_t)(*n_rows * g->enc.hp.input_dim) * sizeof *feat);
    mmrt_error err = {0};
    cr_assert_eq(mmrt_log_mel_compute(g->mel, x, n_samples, feat, &err), MMRT_OK, "%s", err.msg);
    free(x);
    return feat;
}

/* max |got − ref| / max |ref| against reference tensor `name`. */
static double error_of(const fixture *f, const char *name, const float *got, int64_t n) {
    int64_t n_ref = 0;
    float *want = ref_copy(f, name, &n_ref);
    cr_assert_eq(n, n_ref, "%s: %lld values, the reference has %lld", name, (long long)n, (long long)n_ref);
    double e = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)got[i] - want[i]));
        m = fmax(m, fabs((double)want[i]));
    }
    free(want);
    return m > 0 ? e / m : e;
}

/* The prompt through the decoder with the audio rows spliced: the hidden states the fixture has and
 * the last logits within TOL, and the greedy tokens. */
static bool check_decoder(const fixture *f, mmrt_session *s, const char *key, const mmrt_tensor *rows) {
    const mmrt_llm *llm = &f->model->llm;
    char name[300];
    snprintf(name, sizeof name, "%s.input_ids", key);
    int64_t n = 0, n_new = 0;
    int32_t *ids = ref_copy(f, name, &n);
    snprintf(name, sizeof name, "%s.greedy_ids", key);
    int32_t *want_greedy = ref_copy(f, name, &n_new);
    int64_t begin = 0;
    while (begin < n && ids[begin] != speech_of(f->model)->audio_token) begin++;
    mmrt_llm_segment seg = {.begin = begin, .end = begin + rows->ne[1], .token = speech_of(f->model)->audio_token,
                            .rows = rows};
    float *logits = malloc(sizeof(float) * (size_t)llm->hp.n_vocab);
    stage_check sc = {.f = f, .key = key, .n_layer = llm->hp.n_layer, .ok = true};
    /* the adapter the audio names (g3's "default") is on for the whole call, as in generate() */
    const char *adapter = f->model->encoders[0]->lora;
    mmrt_llm_batch b = {.ids = ids, .n_tok = n, .segments = &seg, .n_segments = 1, .logits = logits,
                        .on_hidden = on_decoder_hidden, .hidden_user = &sc, .adapter = adapter};
    mmrt_error err = {0};
    s->state.n_past = 0;
    cr_assert_eq(mmrt_llm_decode(llm, &s->state, &b, &err), MMRT_OK, "%s: %s", key, err.msg);
    snprintf(name, sizeof name, "%s.logits", key);
    sc.ok &= close_to_ref(f, name, logits, llm->hp.n_vocab);
    for (int64_t i = 0; i < n_new; i++) {
        int32_t best = 0;
        for (int32_t t = 1; t < llm->hp.n_vocab; t++)
            if (logits[t] > logits[best]) best = t;
        if (best != want_greedy[i]) {
            cr_log_error("%s: greedy token %lld is %d, transformers %d", key, (long long)i, best, want_greedy[i]);
            sc.ok = false;
            break;
        }
        mmrt_llm_batch next = {.ids = &best, .n_tok = 1, .logits = logits, .adapter = adapter};
        if (i + 1 < n_new) cr_assert_eq(mmrt_llm_decode(llm, &s->state, &next, &err), MMRT_OK, "%s", err.msg);
    }
    free(ids);
    free(want_greedy);
    free(logits);
    return sc.ok;
}

/* Every case of checkpoint `name`: encoder, projector and decoder stage by stage from transformers'
 * features; a case the fixture has no features for (the long clip's windows, the multi-format files)
 * runs from ours, whose own difference from transformers (up to 4.1e-5 of max|ref|, test_audio)
 * the well-conditioned fixture encoder does not amplify: the fixture keeps only their last logits
 * (within TOL) and greedy tokens. */
static void check_forward(const char *name) {
    fixture f;
    fixture_open(&f, name);
    const mmrt_granite_speech *g = speech_of(f.model);
    mmrt_session *s = test_model_session(f.model, 1024);
    const cJSON *c;
    int n_cases = 0, n_failed = 0;
    cJSON_ArrayForEach(c, mmrt_json_find(f.json, "cases")) {
        if (strcmp(cJSON_GetStringValue(mmrt_json_find(c, "checkpoint")), name) != 0) continue;
        const char *key = c->string;
        int64_t n_rows;
        bool ours;
        float *feat = case_features(&f, key, c, &n_rows, &ours);
        int64_t n_tok = mmrt_qformer_n_windows(&g->proj.hp, n_rows) * g->proj.hp.n_query;
        cr_assert_eq(n_tok, (int64_t)cJSON_GetNumberValue(mmrt_json_find(c, "n_audio_tokens")), "%s: audio tokens",
                     key);
        mmrt_tensor rows;
        mmrt_error err = {0};
        cr_assert_eq(mmrt_media_rows_alloc(s->be, n_tok, g->proj.hp.text_hidden, &rows, &err), MMRT_OK);
        stage_check sc = {.f = &f, .key = key, .n_layer = g->enc.hp.n_layer, .ok = true};
        const mmrt_granite_speech_hooks hooks = {.on_hidden = on_encoder_hidden, .user = &sc};
        cr_assert_eq(mmrt_granite_speech_encode(g, s->be, feat, n_rows, &rows, NULL, NULL, ours ? NULL : &hooks, &err),
                     MMRT_OK, "%s: %s", key, err.msg);
        float *got = test_download(&rows);
        char pname[300];
        snprintf(pname, sizeof pname, "%s.proj", key);
        bool ok = sc.ok, has_proj = mmrt_weights_find(f.ref, pname) != NULL; /* only cases with features */
        if (has_proj && !ours) ok &= close_to_ref(&f, pname, got, mmrt_tensor_nelements(&rows));
        else if (has_proj)
            cr_log_info("%s: projector within %.2g of max|ref| from our features", key,
                        error_of(&f, pname, got, mmrt_tensor_nelements(&rows)));
        ok &= check_decoder(&f, s, key, &rows);
        /* STYLE.md: the tolerance is at least twice what separates transformers' own f32 from f64 */
        const cJSON *cond = mmrt_json_find(mmrt_json_find(c, "f32_vs_f64"), "max");
        cr_assert(cJSON_IsNumber(cond), "%s: reference.json has no f32_vs_f64.max", key);
        double f64_err = cJSON_GetNumberValue(cond);
        cr_assert_leq(2 * f64_err, TOL, "%s: transformers' f32 is %.2g of max|ref| from f64, TOL %.2g", key, f64_err,
                     TOL);
        cr_log_info("%s: %lld frames (%s features), %d encoder stages, projector, decoder: %s (transformers' f32 "
                    "within %.2g of f64)",
                    key, (long long)n_rows, ours ? "our" : "transformers'", sc.n_checked, ok ? "ok" : "DIFFER",
                    f64_err);
        n_failed += !ok;
        n_cases++;
        free(got);
        free(feat);
        mmrt_media_rows_free(s->be, &rows);
    }
    test_assert_no_fallback(s->be, f.dir);
    mmrt_session_free(s);
    fixture_close(&f);
    cr_assert_gt(n_cases, 0, "%s: no cases in reference.json", name);
    cr_assert_eq(n_failed, 0, "%s: %d of %d cases differ from transformers", name, n_failed, n_cases);
}

/* g3: 3.x style, its decoder with the LoRA adapter on while audio is in the prompt */
Test(granite_speech, g3_every_stage_matches_transformers) { check_forward("g3"); }

/* g4: 4.x style, no adapter */
Test(granite_speech, g4_every_stage_matches_transformers) { check_forward("g4"); }

/* ---- the BatchNorm folding ------------------------------------------------------------------ */

/* Layer 0's depthwise conv + BatchNorm on random input: the folded f32 op against the unfolded
 * computation in float64 from the checkpoint's own weights and running statistics. */
Test(granite_speech, batch_norm_folding_error) {
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/granite_speech/g3", MMRT_FIXTURES_DIR);
    snprintf(path, sizeof path, "%s/config.json", dir);
    mmrt_error err = {0};
    cJSON *cfg = NULL;
    mmrt_weights *w = NULL;
    cr_assert_eq(mmrt_json_load_file(path, &cfg, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_weights_open(dir, &w, &err), MMRT_OK, "%s", err.msg);
    mmrt_conformer_hparams hp;
    cr_assert_eq(mmrt_conformer_hparams_parse(mmrt_json_find(cfg, "encoder_config"), path, &hp, &err), MMRT_OK);
    mmrt_conformer c;
    cr_assert_eq(mmrt_conformer_init(&c, &hp, w, "encoder.", &err), MMRT_OK, "%s", err.msg);
    const mmrt_conformer_layer *l = &c.layers[0];
    int64_t T = 37, C = hp.n_inner, K = hp.kernel, pl = K / 2, pr = K / 2 - (K + 1) % 2;
    float *x = malloc(sizeof(float) * (size_t)(T * C)), *got = malloc(sizeof(float) * (size_t)(T * C));
    float *wt = malloc(sizeof(float) * (size_t)(C * K)), *st = malloc(sizeof(float) * (size_t)(4 * C));
    mmrt_test_fill(x, T * C, 7, -2.0f, 2.0f);
    mmrt_to_f32(l->dw_w.type, l->dw_w.data, wt, C * K);
    mmrt_to_f32(l->bn_w.type, l->bn_w.data, st, C);
    mmrt_to_f32(l->bn_b.type, l->bn_b.data, st + C, C);
    mmrt_to_f32(l->bn_mean.type, l->bn_mean.data, st + 2 * C, C);
    mmrt_to_f32(l->bn_var.type, l->bn_var.data, st + 3 * C, C);

    mmrt_backend *cpu = NULL;
    mmrt_backend_params bp = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = 1};
    cr_assert_eq(mmrt_backend_init(&bp, &cpu, &err), MMRT_OK, "%s", err.msg);
    mmrt_tensor xt = mmrt_tensor_2d(MMRT_F32, x, C, T), yt = mmrt_tensor_2d(MMRT_F32, got, C, T);
    xt.backend = yt.backend = cpu;
    cr_assert_eq(mmrt_conv1d_dw(cpu, &yt, &xt, &l->dw_fold_w, &l->dw_fold_b, (int32_t)pl, (int32_t)pr, &err),
                 MMRT_OK, "%s", err.msg);
    double max_err = 0, max_ref = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t ch = 0; ch < C; ch++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++) {
                int64_t src = t + k - pl;
                if (src >= 0 && src < T) acc += (double)wt[ch * K + k] * x[src * C + ch];
            }
            double y = (acc - st[2 * C + ch]) / sqrt((double)st[3 * C + ch] + 1e-5) * st[ch] + st[C + ch];
            max_err = fmax(max_err, fabs(y - got[t * C + ch]));
            max_ref = fmax(max_ref, fabs(y));
        }
    cr_log_info("BatchNorm folded into the depthwise conv: max |folded f32 - unfolded f64| = %.3g, %.3g of "
                "max|ref| %.3g (T %lld, C %lld, K %lld)",
                max_err, max_err / max_ref, max_ref, (long long)T, (long long)C, (long long)K);
    /* f32 rounding of w', b', the K products and sums: a few ulps of the largest terms */
    cr_assert_lt(max_err / max_ref, 1e-6, "folding error %.3g of max|ref|", max_err / max_ref);
    mmrt_backend_free(cpu);
    mmrt_conformer_free(&c);
    mmrt_weights_free(w);
    cJSON_Delete(cfg);
    free(x);
    free(got);
    free(wt);
    free(st);
}

/* ---- through the public API ----------------------------------------------------------------- */

static const char *const PROMPT_TEXT = "can you transcribe the speech into a written format?";

/* The case's clip file and the prompt text: prompt ids and greedy tokens as transformers. */
static void check_pipeline(const char *name, const char *case_key) {
    fixture f;
    fixture_open(&f, name);
    const cJSON *c = mmrt_json_find(mmrt_json_find(f.json, "cases"), case_key);
    cr_assert_not_null(c, "reference.json has no case %s", case_key);
    char path[700], key[300];
    snprintf(path, sizeof path, "%s/%s", f.root, cJSON_GetStringValue(mmrt_json_find(c, "clip")));
    int64_t n = 0, n_new = 0;
    snprintf(key, sizeof key, "%s.input_ids", case_key);
    int32_t *want_ids = ref_copy(&f, key, &n);
    snprintf(key, sizeof key, "%s.greedy_ids", case_key);
    int32_t *want_greedy = ref_copy(&f, key, &n_new);
    /* the Granite 3.3 template writes today's date: the instant transformers rendered */
    int Y, M, D, h, mi, sec;
    const char *now = cJSON_GetStringValue(mmrt_json_find(f.json, "now_utc"));
    cr_assert(now && sscanf(now, "%d-%d-%dT%d:%d:%d", &Y, &M, &D, &h, &mi, &sec) == 6, "reference.json now_utc");
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    f.model->chat.now = (int64_t)timegm(&tm);
    mmrt_session *s = test_model_session(f.model, (int32_t)(n + n_new));
    const mmrt_part parts[2] = {mmrt_audio_file_part(path), mmrt_text_part(PROMPT_TEXT)};
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    cr_assert_eq(mmrt_session_prompt_ids(s, parts, 2, &gp, &ids, &n_ids), MMRT_OK, "%s", mmrt_session_last_error(s));
    cr_assert_eq((int64_t)n_ids, n, "%s: %zu prompt tokens, transformers %lld", case_key, n_ids, (long long)n);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(ids[i], want_ids[i], "%s: prompt token %lld is %d, transformers %d", case_key, (long long)i,
                     ids[i], want_ids[i]);
    free(ids);
    test_reply got = {0};
    gp.max_tokens = (int32_t)n_new;
    gp.on_token = test_reply_collect;
    gp.user = &got;
    mmrt_generate_result r = {.size = sizeof r};
    cr_assert_eq(mmrt_session_generate_parts(s, parts, 2, &gp, &r), MMRT_OK, "%s", mmrt_session_last_error(s));
    cr_assert_eq(got.n, n_new, "%s: %d tokens generated", case_key, got.n);
    for (int64_t i = 0; i < n_new; i++)
        cr_assert_eq(got.ids[i], want_greedy[i], "%s: greedy token %lld is %d, transformers %d", case_key,
                     (long long)i, got.ids[i], want_greedy[i]);
    const char *want_text = cJSON_GetStringValue(mmrt_json_find(c, "text"));
    cr_assert_str_eq(got.text, want_text, "%s: on_token's text", case_key);
    int64_t n_audio_tokens = (int64_t)cJSON_GetNumberValue(mmrt_json_find(c, "n_audio_tokens"));
    cr_assert(r.n_audio == 1 && r.n_audio_tokens == n_audio_tokens && r.n_images == 0 && r.n_image_tokens == 0,
              "%s: the result counts %d audio input(s), %d audio tokens (want %lld), %d images", case_key, r.n_audio,
              r.n_audio_tokens, (long long)n_audio_tokens, r.n_images);
    cr_assert(r.audio_load_ms > 0 && r.audio_encode_ms > 0 && r.image_load_ms == 0 && r.image_encode_ms == 0,
              "%s: audio load %g ms, encode %g ms; image %g / %g ms", case_key, r.audio_load_ms, r.audio_encode_ms,
              r.image_load_ms, r.image_encode_ms);
    test_assert_no_fallback(s->be, f.dir);
    free(want_ids);
    free(want_greedy);
    mmrt_session_free(s);
    fixture_close(&f);
}

Test(granite_speech, g3_files_to_tokens_match_transformers) { check_pipeline("g3", "g3.hello_us"); }
Test(granite_speech, g4_files_to_tokens_match_transformers) { check_pipeline("g4", "g4.hello_us"); }

/* ---- bad input and other checkpoints -------------------------------------------------------- */

static mmrt_part samples_part(const float *x, size_t n, int32_t rate, const char *name) {
    mmrt_part p = mmrt_audio_samples_part(x, n, 1, rate);
    p.text = name;
    return p;
}

static mmrt_status generate_one(mmrt_session *s, const mmrt_part *audio) {
    const mmrt_part parts[2] = {*audio, mmrt_text_part(PROMPT_TEXT)};
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 2;
    return mmrt_session_generate_parts(s, parts, 2, &gp, NULL);
}

Test(granite_speech, bad_audio_is_named) {
    fixture f;
    fixture_open(&f, "g3");
    mmrt_session *s = test_model_session(f.model, 512);
    char *dir = tmpdir_make("granite-speech");
    char *text = tmpdir_write_str(dir, "notes.wav", "these are not audio samples, only some words\n");
    mmrt_part not_audio = mmrt_audio_file_part(text);
    cr_assert_eq(generate_one(s, &not_audio), MMRT_ERR_BAD_FORMAT, "%s", mmrt_session_last_error(s));
    cr_assert(strstr(mmrt_session_last_error(s), "notes.wav"), "%s", mmrt_session_last_error(s));

    float samples[400] = {0};
    mmrt_part empty = samples_part(samples, 0, 16000, "mic-empty");
    cr_assert_eq(generate_one(s, &empty), MMRT_ERR_BAD_FORMAT, "%s", mmrt_session_last_error(s));
    cr_assert(strstr(mmrt_session_last_error(s), "mic-empty"), "%s", mmrt_session_last_error(s));

    samples[123] = NAN;
    mmrt_part nan = samples_part(samples, 400, 16000, "mic-nan");
    cr_assert_eq(generate_one(s, &nan), MMRT_ERR_BAD_FORMAT, "%s", mmrt_session_last_error(s));
    cr_assert(strstr(mmrt_session_last_error(s), "mic-nan"), "%s", mmrt_session_last_error(s));

    /* 100 samples: fewer than the log-mel's reflect padding needs (n_fft / 2 + 1) */
    samples[123] = 0.0f;
    mmrt_part tiny = samples_part(samples, 100, 16000, NULL);
    cr_assert_eq(generate_one(s, &tiny), MMRT_ERR_BAD_FORMAT, "%s", mmrt_session_last_error(s));
    cr_assert(strstr(mmrt_session_last_error(s), "audio part 0"), "%s", mmrt_session_last_error(s));

    /* the session is usable afterwards: 0.1 s of silence gives tokens */
    mmrt_part ok = samples_part(samples, 400, 4000, "quiet");
    cr_assert_eq(generate_one(s, &ok), MMRT_OK, "%s", mmrt_session_last_error(s));
    test_assert_no_fallback(s->be, f.dir);
    free(text);
    tmpdir_remove(dir);
    mmrt_session_free(s);
    fixture_close(&f);
}

Test(granite_speech, progress_per_layer_and_abort) {
    fixture f;
    fixture_open(&f, "g3");
    const mmrt_granite_speech *g = speech_of(f.model);
    int32_t steps = (int32_t)g->enc.hp.n_layer + 1;
    mmrt_session *s = test_model_session(f.model, 512);
    char path[700];
    snprintf(path, sizeof path, "%s/clips/yes_fast.flac", f.root);
    const mmrt_part parts[2] = {mmrt_audio_file_part(path), mmrt_text_part(PROMPT_TEXT)};
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 1;
    test_progress a = {.stage = MMRT_STAGE_AUDIO_ENCODE, .after = 1000};
    gp.on_progress = test_progress_abort;
    gp.user = &a;
    cr_assert_eq(mmrt_session_generate_parts(s, parts, 2, &gp, NULL), MMRT_OK, "%s", mmrt_session_last_error(s));
    cr_assert_eq(a.calls, steps, "one call per conformer layer and one for the projector: %d", a.calls);
    cr_assert_eq(a.last_total, steps);
    mmrt_session_reset(s);
    a = (test_progress){.stage = MMRT_STAGE_AUDIO_ENCODE, .after = 2};
    cr_assert_eq(mmrt_session_generate_parts(s, parts, 2, &gp, NULL), MMRT_ERR_ABORTED);
    cr_assert_eq(a.calls, 2);
    cr_assert(strstr(mmrt_session_last_error(s), "progress callback"), "%s", mmrt_session_last_error(s));
    mmrt_session_free(s);
    fixture_close(&f);
}

/* Copies checkpoint g3's files (reference.json's list) into a temporary directory with config.json
 * edited by `edit`. */
static char *edited_checkpoint(void (*edit)(cJSON *cfg)) {
    char root[600];
    snprintf(root, sizeof root, "%s/granite_speech", MMRT_FIXTURES_DIR);
    char *ref_path = tmpdir_path(root, "reference.json");
    cJSON *ref = tmpdir_read_json(ref_path);
    const cJSON *files = mmrt_json_find(mmrt_json_find(mmrt_json_find(ref, "checkpoints"), "g3"), "files"), *file;
    cr_assert(cJSON_IsArray(files), "reference.json checkpoints.g3.files");
    char *dir = tmpdir_make("granite-speech");
    cJSON_ArrayForEach(file, files) {
        const char *name = cJSON_GetStringValue(file);
        char src[700];
        snprintf(src, sizeof src, "%s/g3/%s", root, name);
        size_t n;
        char *data = tmpdir_read(src, &n);
        if (strcmp(name, "config.json") == 0) {
            cJSON *cfg = cJSON_Parse(data);
            edit(cfg);
            free(data);
            data = cJSON_Print(cfg);
            n = strlen(data);
            cJSON_Delete(cfg);
        }
        free(tmpdir_write(dir, name, data, n));
        free(data);
    }
    cJSON_Delete(ref);
    free(ref_path);
    return dir;
}

static void plus(cJSON *cfg) { cJSON_SetValuestring(cJSON_GetObjectItem(cfg, "model_type"), "granite_speech_plus"); }
static void nar(cJSON *cfg) {
    cJSON_ReplaceItemInObject(cfg, "architectures", cJSON_CreateStringArray((const char *[]){"GraniteSpeechNLE"}, 1));
}
static void other_audio_token(cJSON *cfg) {
    cJSON_DeleteItemFromObject(cfg, "audio_token_index");
    cJSON_DeleteItemFromObject(cfg, "audio_token_id");
    cJSON_AddNumberToObject(cfg, "audio_token_index", 7);
}
static void wider_encoder(cJSON *cfg) {
    cJSON_SetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "encoder_config"), "hidden_dim"), 48);
}

Test(granite_speech, other_classes_and_bad_configs_are_refused) {
    static const struct {
        void (*edit)(cJSON *);
        mmrt_status st;
        const char *expect;
    } cases_[] = {
        {plus, MMRT_ERR_UNSUPPORTED, "granite_speech_plus is not supported"},
        {nar, MMRT_ERR_UNSUPPORTED, "GraniteSpeechNLE is not supported"},
        {other_audio_token, MMRT_ERR_MODEL, "audio_token_index is 7"},
        {wider_encoder, MMRT_ERR_BAD_FORMAT, "encoder_hidden_size"},
    };
    for (size_t i = 0; i < sizeof cases_ / sizeof *cases_; i++) {
        char *dir = edited_checkpoint(cases_[i].edit);
        mmrt_model *m = NULL;
        mmrt_status st = mmrt_model_load(dir, NULL, &m);
        cr_assert_eq(st, cases_[i].st, "case %zu: status %d: %s", i, st, mmrt_last_error());
        cr_assert_null(m);
        cr_assert(strstr(mmrt_last_error(), cases_[i].expect), "case %zu: %s", i, mmrt_last_error());
        if (i < 2) cr_assert(strstr(mmrt_last_error(), "granite-speech-3.3"), "names what works: %s", mmrt_last_error());
        tmpdir_remove(dir);
    }
}

Test(granite_speech, model_info_and_encoder_declaration) {
    fixture f;
    fixture_open(&f, "g3");
    mmrt_model_info info = {.size = sizeof info};
    cr_assert_eq(mmrt_model_get_info(f.model, &info), MMRT_OK);
    cr_assert(info.audio);
    cr_assert(!info.vision);
    const mmrt_encoder *e = f.model->encoders[0];
    cr_assert_str_eq(e->placeholder, "<|audio|>");
    cr_assert(!e->typed_content);
    cr_assert_str_eq(e->lora, "default", "g3 has_lora_adapter");
    const cJSON *ck = mmrt_json_find(mmrt_json_find(f.json, "checkpoints"), "g3");
    cr_assert_eq(e->token, (int32_t)cJSON_GetNumberValue(mmrt_json_find(ck, "audio_token_id")));
    fixture_close(&f);
}

Test(granite_speech, g4_has_no_adapter) {
    fixture f;
    fixture_open(&f, "g4");
    cr_assert_null(f.model->encoders[0]->lora, "g4 has_lora_adapter false");
    fixture_close(&f);
}
