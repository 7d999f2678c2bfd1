#include "bench_audio.h"

#include "bench_common.h"
#include "gemm_peak.h"
#include "membw.h"
#include "op_profile.h"

#include "audio/audio.h"
#include "core/backend.h"
#include "core/cpu/simd.h"
#include "core/json.h"
#include "fusion/encoder.h"
#include "fusion/granite_speech.h"
#include "fusion/llama.h"
#include "fusion/lora.h"

#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define GB 1e9
#define MIB (1024.0 * 1024.0)
#define DECODER_PREFIX "language_model.model." /* save_pretrained's layout (fusion/granite_speech.c) */
#define PEAK_CALLS_PER_SLOT 2  /* timed GEMM calls per shape and way between two reps */
#define BW_READ_PASSES_PER_SLOT 2
#define BW_MIN_BYTES ((size_t)1 << 30)
#define BW_MAX_BYTES ((size_t)2 << 30) /* far beyond any cache; 4x a 3 GB decoder would not fit beside it */
#define MIN_TAIL_SAMPLES 1600          /* fusion/transcribe.c: a shorter last window is not transcribed */
#define PROMPT_TEXT_BEFORE 4           /* of the prompt's text ids, those before the audio rows */
#define MAX_WINDOWS 4096

enum { ST_FEAT, ST_CONF, ST_PROJ, ST_PREFILL, ST_DECODE, N_STAGE };
static const char *const stage_name[N_STAGE] = {"features", "conformer", "projector", "prefill", "decode"};

/* ---- the model -------------------------------------------------------------------------------- */

typedef struct speech_model {
    mmrt_weights *w;
    mmrt_llm_hparams hp;
    mmrt_llm llm;
    mmrt_granite_speech g; /* enc, proj, mel and audio_token: what mmrt_granite_speech_encode reads */
    const char *adapter;   /* "default" when the directory has a LoRA adapter (on while audio is in the call) */
    double load_s;
} speech_model;

static void model_open(const char *dir, speech_model *m) {
    double t0 = bench_now_s();
    mmrt_error err = {0};
    char path[4200], gpath[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *cfg = NULL;
    if (mmrt_json_load_file(path, &cfg, &err) != MMRT_OK) bench_die("loading the model", &err);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "model_type"));
    if (!type || strcmp(type, "granite_speech") != 0) {
        fprintf(stderr, "mmrt-bench: %s: model_type %s%s%s: --audio benches a granite_speech checkpoint "
                        "(bench/make_granite_speech.py writes one)\n",
                path, type ? "\"" : "", type ? type : "missing", type ? "\"" : "");
        exit(1);
    }
    const cJSON *text = NULL, *ec = NULL, *pc = NULL;
    if (mmrt_json_get_object(cfg, "text_config", true, &text, path, &err) != MMRT_OK ||
        mmrt_json_get_object(cfg, "encoder_config", false, &ec, path, &err) != MMRT_OK ||
        mmrt_json_get_object(cfg, "projector_config", false, &pc, path, &err) != MMRT_OK ||
        mmrt_llm_hparams_parse(text, path, &m->hp, &err) != MMRT_OK ||
        mmrt_json_get_bool(cfg, "tie_word_embeddings", false, false, &m->hp.tie_embeddings, path, &err) != MMRT_OK)
        bench_die("config", &err);
    snprintf(gpath, sizeof gpath, "%s/generation_config.json", dir);
    FILE *gf = fopen(gpath, "r");
    if (gf) {
        fclose(gf);
        cJSON *gen = NULL;
        if (mmrt_json_load_file(gpath, &gen, &err) != MMRT_OK ||
            mmrt_llm_hparams_apply_generation_config(&m->hp, gen, gpath, &err) != MMRT_OK)
            bench_die("generation config", &err);
        cJSON_Delete(gen);
    }
    int64_t tok;
    const char *key = cJSON_GetObjectItemCaseSensitive(cfg, "audio_token_index") ? "audio_token_index" : "audio_token_id";
    if (mmrt_json_get_int(cfg, key, false, 49155, 0, m->hp.n_vocab - 1, &tok, path, &err) != MMRT_OK)
        bench_die("config", &err);
    m->g.audio_token = (int32_t)tok;

    if (mmrt_weights_open(dir, &m->w, &err) != MMRT_OK) bench_die("weights", &err);
    if (mmrt_llm_init(&m->llm, &m->hp, m->w, DECODER_PREFIX, &err) != MMRT_OK) bench_die("decoder weights", &err);
    if (mmrt_lora_present(dir)) {
        if (mmrt_llm_load_adapter(&m->llm, dir, DECODER_PREFIX, &err) != MMRT_OK) bench_die("LoRA adapter", &err);
        m->adapter = "default";
    }
    mmrt_conformer_hparams eh;
    mmrt_qformer_hparams ph;
    if (mmrt_conformer_hparams_parse(ec, path, &eh, &err) != MMRT_OK ||
        mmrt_qformer_hparams_parse(cfg, pc, path, eh.n_embd, m->hp.n_embd, &ph, &err) != MMRT_OK)
        bench_die("config", &err);
    bool renamed = !mmrt_weights_find(m->w, "encoder.input_linear.weight") &&
                   mmrt_weights_find(m->w, "model.encoder.input_linear.weight");
    if (mmrt_conformer_init(&m->g.enc, &eh, m->w, renamed ? "model.encoder." : "encoder.", &err) != MMRT_OK)
        bench_die("encoder weights", &err);
    if (mmrt_qformer_init(&m->g.proj, &ph, m->w, renamed ? "model.projector." : "projector.", &err) != MMRT_OK)
        bench_die("projector weights", &err);
    cJSON_Delete(cfg);

    mmrt_log_mel_config mc;
    if (mmrt_log_mel_config_load(dir, &mc, &err) != MMRT_OK) bench_die("feature extractor settings", &err);
    if (mc.sampling_rate != MMRT_AUDIO_SAMPLE_RATE || 2 * (int64_t)mc.n_mels != eh.input_dim ||
        mc.projector_window_size != ph.window || mc.projector_window_size / mc.projector_downsample_rate != ph.n_query) {
        fprintf(stderr, "mmrt-bench: %s: the feature extractor (%d Hz, 2 x %d mel bins, windows of %d frames, %d "
                        "queries) does not fit config.json (16000 Hz, input_dim %lld, window_size %lld, %lld queries)\n",
                dir, mc.sampling_rate, mc.n_mels, mc.projector_window_size,
                mc.projector_window_size / mc.projector_downsample_rate, (long long)eh.input_dim,
                (long long)ph.window, (long long)ph.n_query);
        exit(1);
    }
    if (mmrt_log_mel_init(&mc, &m->g.mel, &err) != MMRT_OK) bench_die("log-mel", &err);
    m->load_s = bench_now_s() - t0;
}

static void model_free(speech_model *m) {
    mmrt_conformer_free(&m->g.enc);
    mmrt_qformer_free(&m->g.proj);
    mmrt_log_mel_free(m->g.mel);
    mmrt_llm_free(&m->llm);
    mmrt_weights_free(m->w);
}

/* ---- the audio -------------------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *x) {
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

static double rng_uniform(uint64_t *x, double lo, double hi) {
    return lo + (hi - lo) * (double)(rng_next(x) >> 11) / 9007199254740992.0;
}

/* Speech-like sound at 16 kHz, the same every run: phrases of syllables (0.12-0.30 s, about 4 a
 * second) with pauses between; each syllable a voiced harmonic series on a gliding pitch (95-220
 * Hz), shaped by two formant peaks that change per syllable, under a raised-sine envelope, some
 * with a fricative noise onset; faint background noise throughout. Its content does not change the
 * work any stage does; it keeps the features in the range real speech gives. */
static float *make_speech(int64_t n) {
    float *s = calloc((size_t)n, sizeof *s);
    if (!s) bench_die("out of memory for the audio", NULL);
    const double sr = MMRT_AUDIO_SAMPLE_RATE, two_pi = 6.283185307179586;
    uint64_t x = 0x5DEECE66Du;
    int64_t pos = 0;
    double base = 140, phase = 0;
    int syllable = 0;
    while (pos < n) {
        if (syllable++ % 9 == 0) base = rng_uniform(&x, 95, 220); /* a new phrase, a new voice height */
        int64_t len = (int64_t)(rng_uniform(&x, 0.12, 0.30) * sr);
        double f1 = rng_uniform(&x, 300, 850), f2 = rng_uniform(&x, 900, 2400);
        double glide = rng_uniform(&x, -0.15, 0.15), amp[40];
        int n_harm = 0;
        for (int k = 1; k <= 40 && k * base * 1.2 < 4000; k++, n_harm++) {
            double f = k * base, g1 = (f - f1) / 110, g2 = (f - f2) / 160;
            amp[k - 1] = (exp(-0.5 * g1 * g1) + 0.6 * exp(-0.5 * g2 * g2) + 0.04) / sqrt((double)k);
        }
        int64_t fric = rng_next(&x) % 3 == 0 ? (int64_t)(0.04 * sr) : 0;
        for (int64_t i = 0; i < len && pos + i < n; i++) {
            double t = (double)i / (double)len, env = sin(3.141592653589793 * t);
            double f0 = base * (1 + glide * t);
            phase += two_pi * f0 / sr;
            if (phase > two_pi) phase -= two_pi;
            double v = 0;
            for (int k = 0; k < n_harm; k++) v += amp[k] * sin((k + 1) * phase);
            if (i < fric) v += 0.5 * rng_uniform(&x, -1, 1) * (1 - (double)i / (double)fric);
            s[pos + i] = (float)(0.12 * env * env * v);
        }
        pos += len;
        pos += (int64_t)(rng_uniform(&x, 0.03, 0.10) * sr) + (syllable % 9 == 0 ? (int64_t)(0.4 * sr) : 0);
    }
    for (int64_t i = 0; i < n; i++) s[i] += (float)rng_uniform(&x, -1e-3, 1e-3);
    return s;
}

/* ---- FLOPs counted from the shapes ------------------------------------------------------------ */

/* Multiply-adds x 2 of the conformer on n frames: input_linear; per block FF1 and FF2, q/k/v/out,
 * the relative-position scores q·Eᵀ (each query against the 2·context + 1 distance rows, as
 * audio/conformer.c computes them), QKᵀ and PV within each block of `context` frames, the
 * pointwise convolutions and the depthwise one; the CTC out and out_mid once. LayerNorms,
 * activations, softmax and BatchNorm (folded) are left out. */
static double conformer_flops(const mmrt_conformer_hparams *hp, int64_t n) {
    double D = (double)hp->n_embd, F = (double)hp->n_ff, A = (double)(hp->n_head * hp->head_dim);
    double I = (double)hp->n_inner, K = (double)hp->kernel, R = (double)(2 * hp->context + 1), N = (double)n;
    double pairs = 0;
    for (int64_t b0 = 0; b0 < n; b0 += hp->context) {
        double m = (double)(n - b0 < hp->context ? n - b0 : hp->context);
        pairs += m * m;
    }
    double block = 8 * N * D * F                       /* FF1, FF2: up and down */
                 + 8 * N * D * A                       /* q, k, v, out */
                 + 2 * N * A * R                       /* q·Eᵀ over the distances, every head */
                 + 4 * pairs * A                       /* QKᵀ and PV */
                 + 2 * N * D * 2 * I + 2 * N * I * D   /* pointwise up (to 2·inner) and down */
                 + 2 * N * I * K;                      /* depthwise */
    return 2 * N * (double)hp->input_dim * D + (double)hp->n_layer * block + 4 * N * D * (double)hp->output_dim;
}

/* The Q-Former over n frames padded to whole windows: per layer the self-attention over the
 * queries (q, k, v, dense and the scores), the cross-attention (q and dense on the queries, k and
 * v on every padded frame, the scores against the window's frames) where the layer has one, the
 * FFN; then the linear projection to the LLM's width. */
static double qformer_flops(const mmrt_qformer_hparams *hp, int64_t n) {
    double nw = (double)mmrt_qformer_n_windows(hp, n), nq = nw * (double)hp->n_query, np = nw * (double)hp->window;
    double E = (double)hp->n_embd;
    double f = 0;
    for (int64_t l = 0; l < hp->n_layer; l++) {
        f += 8 * nq * E * E + 4 * nq * (double)hp->n_query * E + 4 * nq * E * (double)hp->n_ff;
        if (hp->cross_freq > 0 && l % hp->cross_freq == 0)
            f += 4 * nq * E * E + 4 * np * (double)hp->n_enc * E + 4 * nq * (double)hp->window * E;
    }
    return f + 2 * nq * E * (double)hp->text_hidden;
}

/* The decoder's prefill of p tokens from an empty cache: every layer matrix for each token,
 * causal attention (QKᵀ and PV over the keys each token sees), lm_head for the last token only. */
static double prefill_flops(const mmrt_llm_hparams *hp, int64_t p) {
    double D = (double)hp->n_embd, A = (double)(hp->n_head * hp->head_dim), KV = (double)(hp->n_head_kv * hp->head_dim);
    double P = (double)p, per_tok = 2 * (2 * D * A + 2 * D * KV + 3 * D * (double)hp->n_ff);
    return (double)hp->n_layer * (P * per_tok + 4 * A * P * (P + 1) / 2) + 2 * D * (double)hp->n_vocab;
}

/* Bytes one decode step reads from the KV cache (f32 K and V of every layer) at context c. */
static double kv_bytes(const mmrt_llm_hparams *hp, double c) {
    return 2.0 * (double)hp->n_layer * (double)(hp->n_head_kv * hp->head_dim) * 4.0 * c;
}

/* ---- one run ------------------------------------------------------------------------------------ */

typedef struct window {
    int64_t start, n;    /* samples */
    int64_t n_rows;      /* feature rows */
    int64_t n_audio;     /* audio tokens (rows from the projector) */
    int64_t n_gen;       /* decode steps */
    double s[N_STAGE];
} window;

typedef struct bench {
    const bench_audio_opts *o;
    speech_model m;
    mmrt_backend *be;
    mmrt_llm_state st;
    const float *samples;
    int64_t n_samples;
    window win[MAX_WINDOWS];
    int n_win;
    int64_t max_rows, max_audio, n_ctx;
    float *features, *logits;
    int32_t *ids;
} bench;

typedef struct enc_clock {
    int32_t n_layer;
    double t_conformer; /* when the last conformer block returned (CPU ops are synchronous) */
} enc_clock;

static int on_encode_step(int32_t done, void *user) {
    enc_clock *c = user;
    if (done == c->n_layer) c->t_conformer = bench_now_s();
    return 0;
}

static int32_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

/* The prompt's ids for a window: PROMPT_TEXT_BEFORE text ids, n_audio audio tokens, the rest of
 * the text ids (like "<|start_of_role|>user<|end_of_role|><|audio|>can you transcribe the speech
 * into a written format?<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>"). */
static int64_t make_prompt(const bench *b, int64_t n_audio) {
    int64_t n_text = b->o->n_prompt_text, before = n_text < PROMPT_TEXT_BEFORE ? n_text : PROMPT_TEXT_BEFORE;
    uint64_t x = 0x9E3779B97F4A7C15u;
    int64_t k = 0;
    for (int64_t i = 0; i < n_text + n_audio; i++) {
        if (i >= before && i < before + n_audio) {
            b->ids[k++] = b->m.g.audio_token;
            continue;
        }
        int32_t id = (int32_t)(rng_next(&x) % (uint64_t)b->m.hp.n_vocab);
        b->ids[k++] = id == b->m.g.audio_token ? id - 1 : id;
    }
    return before;
}

typedef enum { PHASE_NONE, PHASE_ENCODE, PHASE_PREFILL, PHASE_DECODE } phase;

/* Profiling (--profile): one stage's ops recorded into a text and a JSON report. */
typedef struct profile_out {
    char *text[3], *json[3];
} profile_out;

static void profile_begin(bool on, phase p, const bench *b) {
    if (!on) return;
    op_profile_reset();
    const mmrt_conformer_layer *l = &b->m.g.enc.layers[0];
    const mmrt_qformer_layer *q = &b->m.g.proj.layers[0];
    const mmrt_conformer_hparams *eh = &b->m.g.enc.hp;
#define NAME(t, s) op_profile_name((t).ne[1], (t).ne[0], s)
    if (p == PHASE_ENCODE) {
        NAME(l->ff1.up_w, "ff up"), NAME(l->ff1.down_w, "ff down"), NAME(l->wq, "q k v out");
        NAME(l->up_w, "conv up"), NAME(l->down_w, "conv down"), NAME(b->m.g.enc.in_w, "input_linear");
        NAME(b->m.g.enc.out_w, "ctc out"), NAME(b->m.g.enc.out_mid_w, "ctc out_mid");
        op_profile_name(2 * eh->context + 1, eh->head_dim, "q.E rel_pos");
        NAME(q->self.wq, "| qformer attn"), NAME(q->ff_up_w, "| qformer ffn up");
        NAME(q->ff_down_w, "| qformer ffn down"), NAME(b->m.g.proj.proj_w, "| projector linear");
    } else {
        op_profile_name_llm(&b->m.llm);
    }
#undef NAME
    op_profile_record(true);
}

static void profile_end(bool on, phase p, profile_out *out, int64_t n_units, double s) {
    if (!on) return;
    op_profile_record(false);
    static const char *const unit[] = {"", "encode", "prefill", "token"};
    size_t len;
    FILE *f = open_memstream(&out->text[p - 1], &len);
    if (!f) bench_die("out of memory for the profile", NULL);
    op_profile_print_text(f, unit[p], n_units, s);
    fclose(f);
    f = open_memstream(&out->json[p - 1], &len);
    if (!f) bench_die("out of memory for the profile", NULL);
    op_profile_print_json(f, unit[p], n_units, s);
    fclose(f);
}

/* One window, its time per stage into w->s; with prof, each stage's ops profiled. */
static void run_window(bench *b, window *w, profile_out *prof) {
    mmrt_error err = {0};
    const speech_model *m = &b->m;
    const float *samples = b->samples + w->start;
    bool on = prof != NULL;
    mmrt_tensor rows;
    if (mmrt_media_rows_alloc(b->be, w->n_audio, m->g.proj.hp.text_hidden, &rows, &err) != MMRT_OK)
        bench_die("audio rows", &err);

    double t0 = bench_now_s();
    if (mmrt_log_mel_compute(m->g.mel, samples, w->n, b->features, &err) != MMRT_OK) bench_die("features", &err);
    double t1 = bench_now_s();
    enc_clock clock = {.n_layer = (int32_t)m->g.enc.hp.n_layer, .t_conformer = t1};
    profile_begin(on, PHASE_ENCODE, b);
    if (mmrt_granite_speech_encode(&m->g, b->be, b->features, w->n_rows, &rows, on_encode_step, &clock, NULL, &err) !=
        MMRT_OK)
        bench_die("audio encode", &err);
    double t2 = bench_now_s();
    profile_end(on, PHASE_ENCODE, prof, 1, t2 - t1);

    int64_t before = make_prompt(b, w->n_audio), n_tok = b->o->n_prompt_text + w->n_audio;
    mmrt_llm_segment seg = {.begin = before, .end = before + w->n_audio, .token = m->g.audio_token, .rows = &rows};
    mmrt_llm_batch batch = {.ids = b->ids, .n_tok = n_tok, .segments = &seg, .n_segments = 1,
                            .adapter = m->adapter, .logits = b->logits};
    b->st.n_past = 0; /* a fresh conversation per window, as mmrt_session_transcribe runs them */
    profile_begin(on, PHASE_PREFILL, b);
    double t3 = bench_now_s();
    if (mmrt_llm_decode(&m->llm, &b->st, &batch, &err) != MMRT_OK) bench_die("prefill", &err);
    double t4 = bench_now_s();
    profile_end(on, PHASE_PREFILL, prof, 1, t4 - t3);
    mmrt_media_rows_free(b->be, &rows);

    int32_t tok = argmax(b->logits, m->hp.n_vocab);
    profile_begin(on, PHASE_DECODE, b);
    double t5 = bench_now_s();
    for (int64_t i = 0; i < w->n_gen; i++) {
        mmrt_llm_batch next = {.ids = &tok, .n_tok = 1, .adapter = m->adapter, .logits = b->logits};
        if (mmrt_llm_decode(&m->llm, &b->st, &next, &err) != MMRT_OK) bench_die("decode", &err);
        tok = argmax(b->logits, m->hp.n_vocab);
    }
    double t6 = bench_now_s();
    profile_end(on, PHASE_DECODE, prof, w->n_gen, t6 - t5);

    w->s[ST_FEAT] = t1 - t0;
    w->s[ST_CONF] = clock.t_conformer - t1;
    w->s[ST_PROJ] = t2 - clock.t_conformer;
    w->s[ST_PREFILL] = t4 - t3;
    w->s[ST_DECODE] = t6 - t5;
}

/* The windows mmrt transcribe cuts ([k·w, (k+1)·w), a last one under 0.1 s left out), each with
 * its share of the text tokens. */
static void plan_windows(bench *b) {
    const bench_audio_opts *o = b->o;
    const mmrt_log_mel_config *mc = mmrt_log_mel_get_config(b->m.g.mel);
    int64_t W = (int64_t)llround(o->window_s * MMRT_AUDIO_SAMPLE_RATE), n = b->n_samples;
    if (n < mmrt_log_mel_min_samples(mc)) {
        fprintf(stderr, "mmrt-bench: %lld samples at 16 kHz are too short for Granite Speech's features (at least %lld)\n",
                (long long)n, (long long)mmrt_log_mel_min_samples(mc));
        exit(1);
    }
    for (int64_t start = 0; start < n; start += W) {
        int64_t len = n - start < W ? n - start : W;
        if (start > 0 && len < MIN_TAIL_SAMPLES) break;
        if (b->n_win == MAX_WINDOWS) bench_die("too many windows (raise --window)", NULL);
        window *w = &b->win[b->n_win++];
        w->start = start, w->n = len;
        w->n_rows = mmrt_log_mel_n_rows(mc, len);
        w->n_audio = mmrt_log_mel_n_audio_tokens(mc, len);
        double T = (double)o->n_text_tokens;
        w->n_gen = llround(T * (double)(start + len) / (double)n) - llround(T * (double)start / (double)n);
        if (w->n_rows > b->max_rows) b->max_rows = w->n_rows;
        if (w->n_audio > b->max_audio) b->max_audio = w->n_audio;
        int64_t ctx = o->n_prompt_text + w->n_audio + w->n_gen;
        if (ctx > b->n_ctx) b->n_ctx = ctx;
    }
}

/* ---- bandwidth and peaks, sampled between the reps ------------------------------------------ */

typedef struct measures {
    gemm_peak f32, bf16;
    bool has_bf16;
    int all_threads;
    size_t buf_bytes;
    double read_all_s, read_bench_s, weights_s;
    membw_region *weights;
    int n_weights;
    size_t weights_bytes;
} measures;

static void sample(const bench_audio_opts *o, membw_probe *probe, measures *ms) {
    gemm_peak_sample(&ms->f32, false, o->n_threads, PEAK_CALLS_PER_SLOT);
    if (ms->has_bf16) gemm_peak_sample(&ms->bf16, true, o->n_threads, PEAK_CALLS_PER_SLOT);
    for (int i = 0; i < BW_READ_PASSES_PER_SLOT; i++)
        bench_keep_min(&ms->read_all_s, membw_probe_pass(probe, 'r', ms->all_threads));
    if (o->n_threads != ms->all_threads)
        bench_keep_min(&ms->read_bench_s, membw_probe_pass(probe, 'r', o->n_threads));
    else ms->read_bench_s = ms->read_all_s;
    bench_keep_min(&ms->weights_s, membw_read_pass(ms->weights, ms->n_weights, o->n_threads));
}

/* ---- report ------------------------------------------------------------------------------------- */

typedef struct results {
    char cpu[128];
    const char *simd;
    double stage_best[N_STAGE]; /* each stage's time over the whole audio, best rep */
    double wall_best, wall_mean;
    window best[MAX_WINDOWS];   /* the windows of the rep with the best wall time */
    double others_cores, others_best; /* over all reps; during the best rep */
    double others_profile;            /* during the profiled window */
    double peak_rss_mib;
    double audio_s;
    int64_t n_gen, n_audio_tok, n_prompt_tok;
    double flops[N_STAGE];      /* counted, whole audio (decode: 0) */
    double decode_bytes;        /* per decode step: weights + the KV cache at the mean context */
    double mean_ctx;
    profile_out prof;
} results;

static double gflops_of(const results *r, int s) { return r->flops[s] / r->stage_best[s] / 1e9; }

static void print_text(const bench *b, const measures *ms, const results *r) {
    const bench_audio_opts *o = b->o;
    const speech_model *m = &b->m;
    const mmrt_conformer_hparams *eh = &m->g.enc.hp;
    const mmrt_qformer_hparams *ph = &m->g.proj.hp;
    const mmrt_llm_hparams *hp = &m->hp;
    double nw = b->n_win, read_bw = (double)ms->buf_bytes / ms->read_all_s;
    double bound = read_bw / r->decode_bytes, dec_tps = (double)r->n_gen / r->stage_best[ST_DECODE];
    printf("mmrt-bench --audio  %s\n", o->model);
    printf("  cpu                %s, %d cores; SIMD %s, avx512_bf16 %s\n", r->cpu, ms->all_threads, r->simd,
           ms->has_bf16 ? "yes" : "no");
    printf("  blas               %s\n", gemm_blas_config());
    printf("  encoder            conformer %lld layers x %lld (%lld heads x %lld, FF %lld, conv %lld k%lld, context %lld); "
           "Q-Former %lld layers x %lld, %lld frames -> %lld queries; %s; loaded in %.2f s\n",
           (long long)eh->n_layer, (long long)eh->n_embd, (long long)eh->n_head, (long long)eh->head_dim,
           (long long)eh->n_ff, (long long)eh->n_inner, (long long)eh->kernel, (long long)eh->context,
           (long long)ph->n_layer, (long long)ph->n_embd, (long long)ph->window, (long long)ph->n_query,
           mmrt_dtype_name(m->g.enc.layers[0].wq.type), m->load_s);
    printf("  decoder            %s %lld layers, n_embd %lld, n_ff %lld, %lld/%lld heads, vocab %lld, %s%s; LoRA %s\n",
           hp->model_type, (long long)hp->n_layer, (long long)hp->n_embd, (long long)hp->n_ff, (long long)hp->n_head,
           (long long)hp->n_head_kv, (long long)hp->n_vocab, mmrt_dtype_name(m->llm.layers[0].wq.type),
           hp->tie_embeddings ? ", tied" : "", m->adapter ? "on with audio" : "none");
    printf("  audio              %.1f s, %s; %d window%s of up to %.0f s (as mmrt transcribe cuts them)\n", r->audio_s,
           o->audio_file ? o->audio_file : "generated speech-like sound", b->n_win, b->n_win == 1 ? "" : "s",
           o->window_s);
    printf("  run                %d threads, math %s; per window %lld prompt text ids + its audio tokens, "
           "%lld text tokens in all; %d reps after a warm-up window\n\n",
           o->n_threads, o->math, (long long)o->n_prompt_text, (long long)o->n_text_tokens, o->reps);

    printf("  window (best rep)      audio tok   features  conformer  projector    prefill          decode\n");
    for (int i = 0; i < b->n_win; i++) {
        const window *w = &r->best[i];
        printf("    %3d %6.1f-%6.1f s   %5lld    %7.1f ms %7.2f s %7.3f s %7.2f s (%4lld tok) %6.2f s (%lld steps, %.2f tok/s)\n",
               i + 1, (double)w->start / MMRT_AUDIO_SAMPLE_RATE, (double)(w->start + w->n) / MMRT_AUDIO_SAMPLE_RATE,
               (long long)w->n_audio, 1e3 * w->s[ST_FEAT], w->s[ST_CONF], w->s[ST_PROJ], w->s[ST_PREFILL],
               (long long)(o->n_prompt_text + w->n_audio), w->s[ST_DECODE], (long long)w->n_gen,
               (double)w->n_gen / w->s[ST_DECODE]);
    }
    printf("\n  stage (best rep of each)  per window    in all   share  counted work per window        rate\n");
    double sum = 0;
    for (int s = 0; s < N_STAGE; s++) sum += r->stage_best[s];
    for (int s = 0; s < N_STAGE; s++) {
        printf("    %-10s %12.3f s %9.2f s %6.1f %%  ", stage_name[s], r->stage_best[s] / nw, r->stage_best[s],
               100 * r->stage_best[s] / sum);
        if (s == ST_FEAT) printf("%-30s %.0f x real time\n", "FFT + mel filters (not GEMM)", r->audio_s / r->stage_best[s]);
        else if (s == ST_DECODE)
            printf("%6.0f MB/token (weights + KV)   %.2f tok/s = %.1f %% of the bandwidth bound %.2f tok/s\n",
                   r->decode_bytes / 1e6, dec_tps, 100 * dec_tps / bound, bound);
        else {
            char work[64];
            snprintf(work, sizeof work, "%8.1f GFLOP", r->flops[s] / nw / 1e9);
            printf("%-30s %6.1f GFLOP/s = %.1f %% of the f32 GEMM peak", work, gflops_of(r, s),
                   100 * gflops_of(r, s) / ms->f32.gflops);
            if (s == ST_PREFILL) printf(", %.1f tok/s", (double)r->n_prompt_tok / r->stage_best[s]);
            printf("\n");
        }
    }
    double rtf = r->wall_best / r->audio_s;
    printf("    %-10s %12.3f s %9.2f s          wall of the best rep (mean %.2f s)\n", "total", r->wall_best / nw,
           r->wall_best, r->wall_mean);
    printf("\n  real-time factor   %9.3f        wall / audio seconds: %.2fx %s than real time (mean rep %.3f)\n", rtf,
           rtf < 1 ? 1 / rtf : rtf, rtf < 1 ? "faster" : "SLOWER", r->wall_mean / r->audio_s);
    printf("  f32 GEMM peak      %9.1f GFLOP/s  cblas_sgemm, %d threads, best of the ViT-like shapes and 2048^3, "
           "sampled between the reps\n", ms->f32.gflops, o->n_threads);
    if (ms->bf16.available)
        printf("  bf16 GEMM peak     %9.1f GFLOP/s  %s (the encoder and prefill compute in f32)\n", ms->bf16.gflops,
               ms->bf16.own_kernel ? "bench/gemm_bf16.c, vdpbf16ps" : "cblas_sbgemm");
    printf("  read bandwidth     %9.1f GB/s     %d threads, %s loads, %.0f MiB", read_bw / GB, ms->all_threads,
           membw_kernel_name(), (double)ms->buf_bytes / MIB);
    if (o->n_threads != ms->all_threads)
        printf(" (%d threads: %.1f GB/s)", o->n_threads, (double)ms->buf_bytes / ms->read_bench_s / GB);
    printf("\n  weights read       %9.1f GB/s     the decoder's mapped weights, %d threads\n",
           (double)ms->weights_bytes / ms->weights_s / GB, o->n_threads);
    printf("  decode bound       %9.2f tok/s    read bandwidth / (%.0f MB weights + %.1f MB KV cache at context %.0f)\n",
           bound, (double)m->llm.weight_bytes / 1e6, kv_bytes(hp, r->mean_ctx) / 1e6, r->mean_ctx);
    printf("  peak RSS           %9.1f MiB\n", r->peak_rss_mib);
    if (r->others_cores >= 0)
        printf("  other load         %9.2f cores    used by other processes during the reps (%.2f during the best)%s\n",
               r->others_cores, r->others_best,
               r->others_best > 0.1 * ms->all_threads ? ": figures disturbed, rerun when idle" : "");
    if (o->profile) {
        printf("\n  profile of window 1, one more run (other load %.2f cores): encoder = conformer + projector ('|' "
               "marks the Q-Former's names on a shape both use)", r->others_profile);
        for (int p = 0; p < 3; p++) printf("%s", r->prof.text[p]);
    }
}

static void print_json(const bench *b, const measures *ms, const results *r) {
    const bench_audio_opts *o = b->o;
    const speech_model *m = &b->m;
    double nw = b->n_win, read_bw = (double)ms->buf_bytes / ms->read_all_s;
    double bound = read_bw / r->decode_bytes, dec_tps = (double)r->n_gen / r->stage_best[ST_DECODE];
    printf("{\n");
    bench_json_str("model", o->model);
    bench_json_str("audio", o->audio_file ? o->audio_file : "generated");
    bench_json_str("cpu", r->cpu);
    bench_json_str("blas", gemm_blas_config());
    printf("  \"cores\": %d,\n  \"simd\": \"%s\",\n  \"avx512_bf16\": %s,\n  \"threads\": %d,\n  \"math\": \"%s\",\n",
           ms->all_threads, r->simd, ms->has_bf16 ? "true" : "false", o->n_threads, o->math);
    printf("  \"lora\": %s,\n  \"reps\": %d,\n  \"audio_seconds\": %.3f,\n  \"window_seconds\": %.3f,\n  \"windows\": %d,\n",
           m->adapter ? "true" : "false", o->reps, r->audio_s, o->window_s, b->n_win);
    printf("  \"prompt_text_tokens_per_window\": %lld,\n  \"audio_tokens\": %lld,\n  \"text_tokens\": %lld,\n",
           (long long)o->n_prompt_text, (long long)r->n_audio_tok, (long long)r->n_gen);
    printf("  \"per_window\": [");
    for (int i = 0; i < b->n_win; i++) {
        const window *w = &r->best[i];
        printf("%s\n    {\"start_s\": %.3f, \"end_s\": %.3f, \"audio_tokens\": %lld, \"decode_steps\": %lld", i ? "," : "",
               (double)w->start / MMRT_AUDIO_SAMPLE_RATE, (double)(w->start + w->n) / MMRT_AUDIO_SAMPLE_RATE,
               (long long)w->n_audio, (long long)w->n_gen);
        for (int s = 0; s < N_STAGE; s++) printf(", \"%s_s\": %.4f", stage_name[s], w->s[s]);
        printf("}");
    }
    printf("\n  ],\n");
    for (int s = 0; s < N_STAGE; s++)
        printf("  \"%s_s\": %.4f,\n  \"%s_s_per_window\": %.4f,\n", stage_name[s], r->stage_best[s], stage_name[s],
               r->stage_best[s] / nw);
    for (int s = ST_CONF; s <= ST_PREFILL; s++)
        printf("  \"%s_gflop_per_window\": %.3f,\n  \"%s_gflop_s\": %.2f,\n  \"%s_fraction_of_f32_peak\": %.4f,\n",
               stage_name[s], r->flops[s] / nw / 1e9, stage_name[s], gflops_of(r, s), stage_name[s],
               gflops_of(r, s) / ms->f32.gflops);
    printf("  \"prefill_tok_s\": %.2f,\n  \"decode_tok_s\": %.3f,\n", (double)r->n_prompt_tok / r->stage_best[ST_PREFILL],
           dec_tps);
    printf("  \"decode_bytes_per_token\": %.0f,\n  \"weight_bytes_per_token\": %zu,\n  \"decode_bound_tok_s\": %.3f,\n"
           "  \"decode_fraction_of_bound\": %.4f,\n", r->decode_bytes, m->llm.weight_bytes, bound, dec_tps / bound);
    printf("  \"wall_s\": %.3f,\n  \"wall_s_mean\": %.3f,\n  \"rtf\": %.4f,\n  \"rtf_mean\": %.4f,\n", r->wall_best,
           r->wall_mean, r->wall_best / r->audio_s, r->wall_mean / r->audio_s);
    printf("  \"gemm_peak_f32_gflop_s\": %.2f,\n", ms->f32.gflops);
    if (ms->bf16.available) printf("  \"gemm_peak_bf16_gflop_s\": %.2f,\n", ms->bf16.gflops);
    else printf("  \"gemm_peak_bf16_gflop_s\": null,\n");
    printf("  \"read_bw_gb_s\": %.2f,\n  \"read_bw_gb_s_bench_threads\": %.2f,\n  \"weights_read_gb_s\": %.2f,\n",
           read_bw / GB, (double)ms->buf_bytes / ms->read_bench_s / GB, (double)ms->weights_bytes / ms->weights_s / GB);
    printf("  \"peak_rss_mib\": %.1f,\n  \"other_load_cores\": %.2f,\n  \"other_load_cores_best_rep\": %.2f",
           r->peak_rss_mib, r->others_cores, r->others_best);
    if (o->profile)
    {
        printf(",\n  \"other_load_cores_profile\": %.2f", r->others_profile);
        for (int p = 0; p < 3; p++) printf(",\n%s", r->prof.json[p]);
    }
    printf("\n}\n");
}

/* ---- main --------------------------------------------------------------------------------------- */

static bench b; /* large (the window table): static */

int bench_audio_run(const bench_audio_opts *o) {
    mmrt_error err = {0};
    results *r = calloc(1, sizeof *r);
    measures ms = {0};
    if (!r) bench_die("out of memory", NULL);
    b.o = o;
    bench_cpu_name(r->cpu, sizeof r->cpu);
    mmrt_simd_detect(&ms.has_bf16);
    r->simd = mmrt_simd_level_name(mmrt_simd_level_get());
    signal(SIGPIPE, SIG_IGN); /* a dead probe process shows as a failed write, not a kill */

    model_open(o->model, &b.m); /* runs no OpenMP region, so the probe can be forked next */
    mmrt_audio a = {0};
    if (o->audio_file) {
        if (mmrt_audio_load_file(o->audio_file, NULL, &a, &err) != MMRT_OK) bench_die("audio", &err);
    } else {
        a.n_samples = llround(o->seconds * MMRT_AUDIO_SAMPLE_RATE);
        a.samples = make_speech(a.n_samples);
    }
    b.samples = a.samples, b.n_samples = a.n_samples;
    r->audio_s = (double)a.n_samples / MMRT_AUDIO_SAMPLE_RATE;
    plan_windows(&b);

    ms.all_threads = omp_get_num_procs();
    size_t n = 4 * b.m.llm.weight_bytes;
    n = n < BW_MIN_BYTES ? BW_MIN_BYTES : n > BW_MAX_BYTES ? BW_MAX_BYTES : n;
    ms.buf_bytes = (n + 4095) & ~(size_t)4095;
    membw_probe probe;
    if (membw_probe_start(&probe, ms.buf_bytes, ms.all_threads) != 0)
        bench_die("cannot start the bandwidth probe process (fork, or no memory for its buffer)", NULL);
    ms.weights = bench_llm_weight_regions(&b.m.llm, &ms.n_weights, &ms.weights_bytes);

    mmrt_backend_params bp = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = o->n_threads, .math = o->math_kind};
    if (mmrt_backend_init(&bp, &b.be, &err) != MMRT_OK) bench_die("backend", &err);
    mmrt_weight_upload up;
    mmrt_weight_upload_init(&up, b.be, MMRT_MATH_F32);
    if (mmrt_llm_upload(&b.m.llm, &up, &err) != MMRT_OK || mmrt_weight_list_upload(&b.m.g.enc.weights, &up, &err) != MMRT_OK ||
        mmrt_weight_list_upload(&b.m.g.proj.weights, &up, &err) != MMRT_OK || mmrt_weight_upload_finish(&up, &err) != MMRT_OK)
        bench_die("uploading the weights", &err);
    if (mmrt_llm_state_init(&b.st, &b.m.llm, b.be, b.n_ctx, 0, &err) != MMRT_OK) bench_die("decoder state", &err);
    int64_t in_dim = b.m.g.enc.hp.input_dim;
    b.features = malloc(sizeof(float) * (size_t)(b.max_rows * in_dim));
    b.logits = malloc(sizeof(float) * (size_t)b.m.hp.n_vocab);
    b.ids = malloc(sizeof(int32_t) * (size_t)(o->n_prompt_text + b.max_audio));
    if (!b.features || !b.logits || !b.ids) bench_die("out of memory", NULL);

    double ctx_sum = 0;
    for (int i = 0; i < b.n_win; i++) {
        const window *w = &b.win[i];
        double n_tok = (double)(o->n_prompt_text + w->n_audio);
        r->flops[ST_CONF] += conformer_flops(&b.m.g.enc.hp, w->n_rows);
        r->flops[ST_PROJ] += qformer_flops(&b.m.g.proj.hp, w->n_rows);
        r->flops[ST_PREFILL] += prefill_flops(&b.m.hp, (int64_t)n_tok);
        r->n_gen += w->n_gen, r->n_audio_tok += w->n_audio, r->n_prompt_tok += (int64_t)n_tok;
        ctx_sum += (double)w->n_gen * (n_tok + ((double)w->n_gen + 1) / 2); /* each step sees n_tok + i + 1 keys */
    }
    r->mean_ctx = r->n_gen ? ctx_sum / (double)r->n_gen : 0;
    r->decode_bytes = (double)b.m.llm.weight_bytes + kv_bytes(&b.m.hp, r->mean_ctx);

    window warm = b.win[0];
    run_window(&b, &warm, NULL); /* warm-up: page faults on the mapped weights, thread pools */
    sample(o, &probe, &ms);
    double others_s = 0, reps_s = 0;
    for (int rep = 0; rep < o->reps; rep++) {
        double st[N_STAGE] = {0};
        bench_load l0 = bench_load_now();
        for (int i = 0; i < b.n_win; i++) {
            run_window(&b, &b.win[i], NULL);
            for (int s = 0; s < N_STAGE; s++) st[s] += b.win[i].s[s];
        }
        bench_load l1 = bench_load_now();
        double wall = l1.wall - l0.wall, others = bench_load_others(l0, l1);
        others_s = others < 0 || others_s < 0 ? -1 : others_s + others * wall;
        reps_s += wall;
        r->wall_mean += wall / o->reps;
        if (rep == 0 || wall < r->wall_best) {
            r->wall_best = wall;
            r->others_best = others;
            memcpy(r->best, b.win, sizeof(window) * (size_t)b.n_win);
        }
        for (int s = 0; s < N_STAGE; s++)
            if (rep == 0 || st[s] < r->stage_best[s]) r->stage_best[s] = st[s];
        sample(o, &probe, &ms);
    }
    r->others_cores = others_s < 0 ? -1 : others_s / reps_s;
    if (o->profile) {
        window w = b.win[0];
        op_profile_install(b.be);
        bench_load l0 = bench_load_now();
        run_window(&b, &w, &r->prof);
        r->others_profile = bench_load_others(l0, bench_load_now());
        op_profile_remove(b.be);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r->peak_rss_mib = (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
    membw_probe_stop(&probe);

    if (o->json) print_json(&b, &ms, r);
    else print_text(&b, &ms, r);

    for (int p = 0; p < 3; p++) free(r->prof.text[p]), free(r->prof.json[p]);
    free(r);
    free(ms.weights);
    free(b.features);
    free(b.logits);
    free(b.ids);
    mmrt_audio_free(&a);
    mmrt_llm_state_free(&b.st);
    mmrt_weight_upload_free(&up);
    mmrt_backend_free(b.be);
    model_free(&b.m);
    return 0;
}
