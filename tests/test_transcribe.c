/* mmrt_session_transcribe's windows, segments and callbacks, with a test-only audio encoder (defined
 * here, registered through mmrt_encoder_register) on a Llama fixture: it records the samples each
 * window's part gave it, so the cut can be checked against an independent one — the whole input
 * decoded at once (mmrt_audio_load_file) and cut at k·w as the fixture generator cuts
 * (tools/fixtures_granite_speech.py) — sample for sample. End to end on the Granite Speech fixtures
 * (the real encoder, transformers' text per window) is in tests/test_cli_transcribe.c. */
#include "helpers/test_encoder.h"
#include "helpers/tmpdir.h"

#include "audio/audio.h"
#include "fusion/encoder.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <mmrt.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODEL MMRT_FIXTURES_DIR "/llama/odd-sizes"
#define RATE MMRT_AUDIO_SAMPLE_RATE

/* ---- the test audio encoder ------------------------------------------------------------------- */

/* What one prepare call saw. */
typedef struct seen_window {
    int64_t n;
    float first, last;
} seen_window;

#define MAX_SEEN 64
static seen_window g_seen[MAX_SEEN];
static int g_n_seen;
static bool g_enabled;

typedef struct test_audio {
    mmrt_audio audio;
} test_audio;

static mmrt_status prepare(const mmrt_encoder *e, const mmrt_part *part, size_t index,
                           const mmrt_generate_params *params, mmrt_media_input *in, mmrt_error *err) {
    (void)e, (void)index, (void)params;
    test_audio *ta = calloc(1, sizeof *ta);
    if (!ta) return mmrt_error_oom(err, sizeof *ta, "test audio");
    in->data = ta;
    mmrt_audio_limits lim = mmrt_audio_default_limits();
    if (part->type == MMRT_PART_AUDIO_FILE) MMRT_TRY(mmrt_audio_load_file(part->text, &lim, &ta->audio, err));
    else if (part->type == MMRT_PART_AUDIO_BYTES)
        MMRT_TRY(mmrt_audio_load_memory(part->data, part->size, part->text, &lim, &ta->audio, err));
    else
        MMRT_TRY(mmrt_audio_from_samples(part->data, (int64_t)part->size, part->channels, part->sample_rate,
                                         part->text, &lim, &ta->audio, err));
    const mmrt_audio *a = &ta->audio;
    if (g_n_seen < MAX_SEEN)
        g_seen[g_n_seen++] = (seen_window){a->n_samples, a->samples[0], a->samples[a->n_samples - 1]};
    in->n_tokens = (a->n_samples + RATE - 1) / RATE; /* one row per second */
    in->n_steps = 1;
    size_t len = strlen("<|endoftext|>") * (size_t)in->n_tokens;
    if (!(in->text = malloc(len + 1))) return mmrt_error_oom(err, len + 1, "test placeholder");
    in->text[0] = '\0';
    for (int64_t i = 0; i < in->n_tokens; i++) strcat(in->text, "<|endoftext|>");
    return mmrt_sha256_buf(a->samples, sizeof(float) * (size_t)a->n_samples, in->hash, err);
}

/* Row i: every element the mean of second i's samples. */
static mmrt_status encode(const mmrt_encoder *e, mmrt_backend *be, const mmrt_media_input *in,
                          mmrt_encoder_progress_fn progress, void *user, mmrt_tensor *rows, mmrt_error *err) {
    const test_audio *ta = in->data;
    const int64_t n_embd = *(const int64_t *)e->impl;
    float *host = calloc((size_t)(in->n_tokens * n_embd), sizeof *host);
    if (!host) return mmrt_error_oom(err, 0, "test rows");
    for (int64_t i = 0; i < in->n_tokens; i++) {
        double sum = 0;
        int64_t end = (i + 1) * RATE < ta->audio.n_samples ? (i + 1) * RATE : ta->audio.n_samples;
        for (int64_t k = i * RATE; k < end; k++) sum += ta->audio.samples[k];
        for (int64_t d = 0; d < n_embd; d++) host[i * n_embd + d] = (float)(sum / (double)(end - i * RATE));
    }
    mmrt_status st =
        test_encoder_upload_rows(be, host, in->n_tokens, n_embd, progress, user, "test audio encoder", rows, err);
    free(host);
    return st;
}

static void release(const mmrt_encoder *e, mmrt_media_input *in) {
    (void)e;
    test_audio *ta = in->data;
    if (ta) mmrt_audio_free(&ta->audio);
    free(ta);
    in->data = NULL;
}

static void describe(const mmrt_encoder *e, mmrt_model_info *info) {
    (void)e;
    info->audio = true;
}

static void encoder_free(mmrt_encoder *e) {
    free(e->impl);
    free(e);
}

static const mmrt_encoder_i iface = {
    .prepare = prepare, .encode = encode, .release = release, .describe = describe, .free = encoder_free};

static bool matches(const mmrt_encoder_config *cfg) { return g_enabled && strcmp(cfg->model_type, "llama") == 0; }

static mmrt_status init(const mmrt_encoder_config *cfg, mmrt_encoder **out, mmrt_error *err) {
    int32_t token = mmrt_tokenizer_find(cfg->tok, "<|endoftext|>");
    mmrt_encoder *e = calloc(1, sizeof *e);
    int64_t *n_embd = malloc(sizeof *n_embd);
    if (!e || !n_embd || token < 0) {
        free(e);
        free(n_embd);
        return mmrt_error_set(err, MMRT_ERR_MODEL, "test audio encoder: no memory or no <|endoftext|>");
    }
    *n_embd = cfg->text->n_embd;
    *e = (mmrt_encoder){.iface = &iface, .name = "test audio", .noun = "audio clip",
                        .part_types = 1u << MMRT_PART_AUDIO_FILE | 1u << MMRT_PART_AUDIO_BYTES |
                                      1u << MMRT_PART_AUDIO_SAMPLES,
                        .stage = MMRT_STAGE_AUDIO_ENCODE, .placeholder = "<audio>", .token = token, .impl = n_embd};
    *out = e;
    return MMRT_OK;
}

static const mmrt_encoder_factory factory = {.name = "test audio", .matches = matches, .init = init};

static void enable_encoder(bool on) {
    static bool registered;
    test_encoder_register_once(&factory, &registered);
    g_enabled = on;
}

/* ---- inputs ----------------------------------------------------------------------------------- */

/* Writes `seconds` of audio at `rate` Hz with `channels` channels: a ramp that never repeats a value
 * within a channel (so a window's first and last samples say where it was cut), as 32-bit float
 * WAV (exact) or FLAC. Returns the path (malloc'ed). */
static char *write_ramp(const char *dir, const char *name, double seconds, int rate, int channels, int format) {
    char *path = tmpdir_path(dir, name);
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    cr_assert_not_null(f, "%s: %s", path, sf_strerror(NULL));
    int64_t n = (int64_t)llround(seconds * rate);
    float block[4096 * 2];
    for (int64_t i = 0; i < n;) {
        int64_t m = n - i < 4096 ? n - i : 4096;
        for (int64_t k = 0; k < m; k++)
            for (int c = 0; c < channels; c++)
                block[k * channels + c] = (float)(0.9 * ((double)(i + k) / (double)n * 2.0 - 1.0)) * (c ? -0.5f : 1.0f);
        cr_assert_eq(sf_writef_float(f, block, m), m);
        i += m;
    }
    sf_close(f);
    return path;
}

/* `seconds` of a quiet 50 Hz tone as 16-bit FLAC at 1 kHz (small: two hours are a few MB). */
static char *write_tone(const char *dir, const char *name, double seconds) {
    char *path = tmpdir_path(dir, name);
    SF_INFO info = {.samplerate = 1000, .channels = 1, .format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    cr_assert_not_null(f, "%s: %s", path, sf_strerror(NULL));
    float block[1000];
    for (int k = 0; k < 1000; k++) block[k] = 0.2f * (float)sin(2.0 * M_PI * 50.0 * k / 1000.0);
    for (int64_t i = 0; i < (int64_t)seconds; i++) cr_assert_eq(sf_writef_float(f, block, 1000), 1000);
    sf_close(f);
    return path;
}

typedef struct collected {
    mmrt_segment seg[64];
    char text[64][512];
    int n;
    int stop_after;          /* on_segment returns 1 after this many segments (0: never) */
    int progress_calls;
    double done[70], total[70];
    int stop_progress_after; /* on_progress returns 1 at this call (0: never) */
} collected;

static int on_segment(const mmrt_segment *s, void *user) {
    collected *c = user;
    cr_assert_eq(s->size, sizeof *s);
    if (c->n < 64) {
        c->seg[c->n] = *s;
        snprintf(c->text[c->n], sizeof c->text[c->n], "%s", s->text);
        c->seg[c->n].text = c->text[c->n];
        c->n++;
    }
    return c->stop_after && c->n >= c->stop_after;
}

static int on_progress(double done, double total, void *user) {
    collected *c = user;
    if (c->progress_calls < 70) {
        c->done[c->progress_calls] = done;
        c->total[c->progress_calls] = total;
    }
    c->progress_calls++;
    return c->stop_progress_after && c->progress_calls >= c->stop_progress_after;
}

static mmrt_model *g_model;
static mmrt_session *g_session;
static char *g_dir;

static void setup(void) {
    enable_encoder(true);
    cr_assert_eq(mmrt_model_load(MODEL, NULL, &g_model), MMRT_OK, "%s", mmrt_last_error());
    cr_assert_eq(mmrt_session_init(g_model, NULL, &g_session), MMRT_OK, "%s", mmrt_last_error());
    g_dir = tmpdir_make("transcribe");
    g_n_seen = 0;
}

static void teardown(void) {
    mmrt_session_free(g_session);
    mmrt_model_free(g_model);
    tmpdir_remove(g_dir);
}

static mmrt_status transcribe(const mmrt_part *audio, double window, collected *c, mmrt_transcribe_result *r) {
    mmrt_transcribe_params p;
    mmrt_transcribe_params_init(&p, sizeof p);
    if (window > 0) p.window_seconds = window;
    p.max_tokens = 4;
    p.on_segment = on_segment;
    p.on_progress = on_progress;
    p.user = c;
    *r = (mmrt_transcribe_result){.size = sizeof *r};
    return mmrt_session_transcribe(g_session, audio, &p, r);
}

/* The windows the encoder saw equal the cut at k·window of the whole decode, and the segments say
 * where they are. */
static void check_cut(const char *path, int64_t window, const collected *c, const mmrt_transcribe_result *r) {
    mmrt_audio whole = {0};
    mmrt_error err = {0};
    mmrt_audio_limits lim = mmrt_audio_default_limits();
    cr_assert_eq(mmrt_audio_load_file(path, &lim, &whole, &err), MMRT_OK, "%s", err.msg);
    int64_t n_windows = (whole.n_samples + window - 1) / window;
    cr_assert_eq(g_n_seen, n_windows, "encoder saw %d windows, want %lld", g_n_seen, (long long)n_windows);
    cr_assert_eq(c->n, n_windows);
    cr_assert_eq(r->n_segments, n_windows);
    cr_assert_float_eq(r->audio_seconds, (double)whole.n_samples / RATE, 1e-9);
    for (int64_t k = 0; k < n_windows; k++) {
        int64_t begin = k * window, end = begin + window < whole.n_samples ? begin + window : whole.n_samples;
        cr_expect_eq(g_seen[k].n, end - begin, "window %lld: %lld samples, want %lld", (long long)k,
                     (long long)g_seen[k].n, (long long)(end - begin));
        cr_expect_eq(g_seen[k].first, whole.samples[begin], "window %lld: first sample %.9g, want %.9g", (long long)k,
                     g_seen[k].first, whole.samples[begin]);
        cr_expect_eq(g_seen[k].last, whole.samples[end - 1], "window %lld: last sample %.9g, want %.9g", (long long)k,
                     g_seen[k].last, whole.samples[end - 1]);
        cr_expect_eq(c->seg[k].index, k);
        cr_expect_eq(c->seg[k].start_sample, begin);
        cr_expect_eq(c->seg[k].end_sample, end);
        cr_expect_float_eq(c->seg[k].start, (double)begin / RATE, 1e-12);
        cr_expect_float_eq(c->seg[k].end, (double)end / RATE, 1e-12);
        cr_expect_eq(c->seg[k].n_audio_tokens, (end - begin + RATE - 1) / RATE, "window %lld: %d audio tokens",
                     (long long)k, c->seg[k].n_audio_tokens);
        cr_expect(c->seg[k].n_generated >= 1 && c->seg[k].n_generated <= 4);
    }
    mmrt_audio_free(&whole);
}

TestSuite(transcribe, .init = setup, .fini = teardown);

Test(transcribe, a_70_s_clip_is_cut_at_0_30_60_70_s) {
    char *path = write_ramp(g_dir, "ramp.wav", 70.0, RATE, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    collected c = {0};
    mmrt_transcribe_result r;
    mmrt_part audio = mmrt_audio_file_part(path);
    cr_assert_eq(transcribe(&audio, 0, &c, &r), MMRT_OK, "%s", mmrt_session_last_error(g_session));
    check_cut(path, 30 * RATE, &c, &r);
    /* written at 16 kHz as floats: the windows are the file's own samples */
    cr_assert_float_eq(c.seg[2].end, 70.0, 1e-12);
    cr_assert_eq(g_seen[1].first, (float)(0.9 * ((double)(30 * RATE) / (70.0 * RATE) * 2.0 - 1.0)));
    /* progress: 0 before the first window, then after each, of a known total */
    cr_assert_eq(c.progress_calls, 4);
    for (int k = 0; k < 4; k++) {
        cr_expect_float_eq(c.done[k], k < 3 ? 30.0 * k : 70.0, 1e-9, "call %d: %g", k, c.done[k]);
        cr_expect_float_eq(c.total[k], 70.0, 1e-9);
    }
    cr_assert_eq(r.n_generated, c.seg[0].n_generated + c.seg[1].n_generated + c.seg[2].n_generated);
    cr_assert(r.prefill_ms > 0 && r.decode_ms >= 0 && r.load_ms > 0);
    free(path);
}

Test(transcribe, a_resampled_stereo_flac_is_cut_after_resampling_the_whole) {
    char *path = write_ramp(g_dir, "ramp.flac", 7.3, 44100, 2, SF_FORMAT_FLAC | SF_FORMAT_PCM_24);
    collected c = {0};
    mmrt_transcribe_result r;
    mmrt_part audio = mmrt_audio_file_part(path);
    cr_assert_eq(transcribe(&audio, 2.0, &c, &r), MMRT_OK, "%s", mmrt_session_last_error(g_session));
    check_cut(path, 2 * RATE, &c, &r);
    free(path);
}

Test(transcribe, bytes_and_samples_parts_give_the_file_s_windows) {
    char *path = write_ramp(g_dir, "ramp.wav", 5.5, 22050, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    size_t n_bytes = 0;
    char *bytes = tmpdir_read(path, &n_bytes);
    collected c = {0};
    mmrt_transcribe_result r;
    mmrt_part audio = mmrt_audio_bytes_part(bytes, n_bytes, "ramp bytes");
    cr_assert_eq(transcribe(&audio, 2.0, &c, &r), MMRT_OK, "%s", mmrt_session_last_error(g_session));
    check_cut(path, 2 * RATE, &c, &r);
    /* the same as samples */
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    float *x = malloc(sizeof(float) * (size_t)info.frames);
    cr_assert_eq(sf_readf_float(f, x, info.frames), info.frames);
    sf_close(f);
    collected c2 = {0};
    g_n_seen = 0;
    mmrt_part samples = mmrt_audio_samples_part(x, (size_t)info.frames, 1, 22050);
    cr_assert_eq(transcribe(&samples, 2.0, &c2, &r), MMRT_OK, "%s", mmrt_session_last_error(g_session));
    check_cut(path, 2 * RATE, &c2, &r);
    for (int k = 0; k < c.n; k++) cr_expect_str_eq(c2.text[k], c.text[k], "segment %d", k);
    free(x);
    free(bytes);
    free(path);
}

/* A segment's text is the reply to {window, MMRT_TRANSCRIBE_PROMPT} as a new conversation, stripped. */
Test(transcribe, a_segment_is_the_reply_to_the_window_and_the_transcription_prompt) {
    char *path = write_ramp(g_dir, "ramp.wav", 2.5, RATE, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    collected c = {0};
    mmrt_transcribe_result r;
    mmrt_part audio = mmrt_audio_file_part(path);
    cr_assert_eq(transcribe(&audio, 0, &c, &r), MMRT_OK, "%s", mmrt_session_last_error(g_session));
    cr_assert_eq(c.n, 1);

    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(g_model, NULL, &s), MMRT_OK);
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 4;
    mmrt_part parts[2] = {audio, mmrt_text_part(MMRT_TRANSCRIBE_PROMPT)};
    mmrt_generate_result gr = {.size = sizeof gr};
    cr_assert_eq(mmrt_session_generate_parts(s, parts, 2, &gp, &gr), MMRT_OK, "%s", mmrt_session_last_error(s));
    char want[512];
    const char *reply = mmrt_session_last_reply(s);
    while (*reply == ' ' || *reply == '\n' || *reply == '\t' || *reply == '\r') reply++;
    snprintf(want, sizeof want, "%s", reply);
    for (size_t n = strlen(want); n > 0 && strchr(" \n\t\r", want[n - 1]); n--) want[n - 1] = '\0';
    cr_assert_str_eq(c.text[0], want);
    cr_assert_eq(c.seg[0].n_prompt_tokens, gr.n_prompt_tokens);
    cr_assert_eq(c.seg[0].n_generated, gr.n_generated);
    cr_assert_eq(c.seg[0].stop_reason, gr.stop_reason);
    mmrt_session_free(s);
    free(path);
}

Test(transcribe, a_last_window_under_a_tenth_of_a_second_is_not_transcribed) {
    char *path = write_ramp(g_dir, "ramp.wav", 4.05, RATE, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    collected c = {0};
    mmrt_transcribe_result r;
    mmrt_part audio = mmrt_audio_file_part(path);
    cr_assert_eq(transcribe(&audio, 2.0, &c, &r), MMRT_OK, "%s", mmrt_session_last_error(g_session));
    cr_assert_eq(c.n, 2);
    cr_assert_eq(g_n_seen, 2);
    cr_assert_float_eq(r.audio_seconds, 4.05, 1e-9);
    cr_assert_eq(c.seg[1].end_sample, 4 * RATE);
    free(path);
}

Test(transcribe, the_progress_callback_aborts) {
    char *path = write_ramp(g_dir, "ramp.wav", 7.0, RATE, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    collected c = {.stop_progress_after = 2}; /* after the first window */
    mmrt_transcribe_result r;
    mmrt_part audio = mmrt_audio_file_part(path);
    cr_assert_eq(transcribe(&audio, 2.0, &c, &r), MMRT_ERR_ABORTED);
    cr_assert(strstr(mmrt_session_last_error(g_session), "aborted by the progress callback"), "%s",
              mmrt_session_last_error(g_session));
    cr_assert_eq(c.n, 1);
    cr_assert_eq(r.n_segments, 1);
    cr_assert_eq(g_n_seen, 1);
    /* before any window */
    collected c0 = {.stop_progress_after = 1};
    cr_assert_eq(transcribe(&audio, 2.0, &c0, &r), MMRT_ERR_ABORTED);
    cr_assert_eq(c0.n, 0);
    cr_assert_eq(g_n_seen, 1);
    free(path);
}

Test(transcribe, the_segment_callback_aborts) {
    char *path = write_ramp(g_dir, "ramp.wav", 7.0, RATE, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    collected c = {.stop_after = 2};
    mmrt_transcribe_result r;
    mmrt_part audio = mmrt_audio_file_part(path);
    cr_assert_eq(transcribe(&audio, 2.0, &c, &r), MMRT_ERR_ABORTED);
    cr_assert(strstr(mmrt_session_last_error(g_session), "aborted by the segment callback"), "%s",
              mmrt_session_last_error(g_session));
    cr_assert_eq(c.n, 2);
    cr_assert_eq(g_n_seen, 2);
    free(path);
}

Test(transcribe, bad_input_names_the_file) {
    char *junk = tmpdir_write_str(g_dir, "junk.wav", "this is not audio at all, just text in a .wav file");
    collected c = {0};
    mmrt_transcribe_result r;
    mmrt_part audio = mmrt_audio_file_part(junk);
    cr_assert_eq(transcribe(&audio, 0, &c, &r), MMRT_ERR_BAD_FORMAT);
    cr_assert(strstr(mmrt_session_last_error(g_session), junk), "%s", mmrt_session_last_error(g_session));
    cr_assert_eq(c.n, 0);
    char *missing = tmpdir_path(g_dir, "missing.flac");
    audio = mmrt_audio_file_part(missing);
    cr_assert_eq(transcribe(&audio, 0, &c, &r), MMRT_ERR_IO);
    cr_assert(strstr(mmrt_session_last_error(g_session), missing), "%s", mmrt_session_last_error(g_session));
    free(junk);
    free(missing);
}

Test(transcribe, bad_arguments_are_refused) {
    char *path = write_ramp(g_dir, "ramp.wav", 1.5, RATE, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    mmrt_part audio = mmrt_audio_file_part(path);
    collected c = {0};
    mmrt_transcribe_result r;
    cr_assert_eq(transcribe(&audio, 0.5, &c, &r), MMRT_ERR_INVALID_ARG);
    cr_assert(strstr(mmrt_session_last_error(g_session), "window_seconds"));
    cr_assert_eq(transcribe(&audio, 4000, &c, &r), MMRT_ERR_INVALID_ARG);
    mmrt_transcribe_params p;
    mmrt_transcribe_params_init(&p, sizeof p);
    cr_assert_float_eq(p.window_seconds, 30.0, 0);
    cr_assert_eq(p.max_tokens, 200);
    cr_assert_null(p.prompt);
    p.max_tokens = 0;
    cr_assert_eq(mmrt_session_transcribe(g_session, &audio, &p, NULL), MMRT_ERR_INVALID_ARG);
    mmrt_part text = mmrt_text_part("hello");
    cr_assert_eq(mmrt_session_transcribe(g_session, &text, NULL, NULL), MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_session_transcribe(g_session, NULL, NULL, NULL), MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_session_transcribe(NULL, &audio, NULL, NULL), MMRT_ERR_INVALID_ARG);
    mmrt_transcribe_result garbage = {.size = 1};
    cr_assert_eq(mmrt_session_transcribe(g_session, &audio, NULL, &garbage), MMRT_ERR_INVALID_ARG);
    /* an older caller's smaller params: the defaults for the rest */
    mmrt_transcribe_params old;
    mmrt_transcribe_params_init(&old, offsetof(mmrt_transcribe_params, max_tokens));
    cr_assert_eq(old.size, offsetof(mmrt_transcribe_params, max_tokens));
    cr_assert_eq(mmrt_session_transcribe(g_session, &audio, &old, NULL), MMRT_OK, "%s",
                 mmrt_session_last_error(g_session));
    free(path);
}

Test(transcribe, a_model_without_an_audio_encoder_is_refused) {
    enable_encoder(false);
    mmrt_model *m = NULL;
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_model_load(MODEL, NULL, &m), MMRT_OK, "%s", mmrt_last_error());
    cr_assert_eq(mmrt_session_init(m, NULL, &s), MMRT_OK);
    char *path = write_ramp(g_dir, "ramp.wav", 1.5, RATE, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    mmrt_part audio = mmrt_audio_file_part(path);
    cr_assert_eq(mmrt_session_transcribe(s, &audio, NULL, NULL), MMRT_ERR_UNSUPPORTED);
    cr_assert(strstr(mmrt_session_last_error(s), "takes no audio"), "%s", mmrt_session_last_error(s));
    mmrt_session_free(s);
    mmrt_model_free(m);
    free(path);
}

/* ---- memory: hours of audio in the memory of one window ---------------------------------------- */

#define SPEECH_MODEL MMRT_FIXTURES_DIR "/granite_speech/g4"

/* Peak RSS (KiB) of a child process that loads the tiny Granite Speech checkpoint and transcribes
 * path in 30 s windows. */
static long transcribe_peak_rss_kib(const char *path) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        mmrt_model_params mp;
        mmrt_model_params_init(&mp, sizeof mp);
        mp.device = MMRT_DEVICE_CPU;
        mmrt_model *m = NULL;
        mmrt_session *s = NULL;
        mmrt_status st = mmrt_model_load(SPEECH_MODEL, &mp, &m);
        if (st == MMRT_OK) st = mmrt_session_init(m, NULL, &s);
        mmrt_transcribe_params p;
        mmrt_transcribe_params_init(&p, sizeof p);
        p.max_tokens = 2;
        mmrt_part audio = mmrt_audio_file_part(path);
        mmrt_transcribe_result r = {.size = sizeof r};
        if (st == MMRT_OK) st = mmrt_session_transcribe(s, &audio, &p, &r);
        if (st != MMRT_OK) fprintf(stderr, "%s\n", s ? mmrt_session_last_error(s) : mmrt_last_error());
        else if (r.n_segments != (int32_t)ceil(r.audio_seconds / 30.0)) st = MMRT_ERR_INTERNAL;
        mmrt_session_free(s);
        mmrt_model_free(m);
        _exit(st == MMRT_OK ? 0 : 1);
    }
    int status = 0;
    struct rusage ru;
    cr_assert_eq(wait4(pid, &status, 0, &ru), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "transcribing %s failed", path);
    return ru.ru_maxrss;
}

/* Release builds only: sanitizers change both the memory and the time. The audio is a 1 kHz-rate
 * FLAC (a 50 Hz tone: a few MB for two hours) resampled to 16 kHz on the way, so every window is a
 * full 30 s of 16 kHz samples through decoding, resampling, features, the conformer, the projector
 * and the decoder (2 new tokens a window: the prompt is what grows with the audio). About 15 s in
 * all on 2 cores (the tiny checkpoint runs about 500x real time). */
Test(transcribe_memory, two_hours_take_the_memory_of_ten_minutes, .timeout = 600) {
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
    cr_skip_test("Release builds only (the sanitizers change the memory)");
#endif
    char *dir = tmpdir_make("transcribe-rss");
    char *short_path = write_tone(dir, "10min.flac", 600.0);
    char *long_path = write_tone(dir, "2h.flac", 7200.0);
    long a = transcribe_peak_rss_kib(short_path), b = transcribe_peak_rss_kib(long_path);
    cr_log_info("peak RSS: 10 min %ld KiB, 2 h %ld KiB", a, b);
    cr_assert_lt(labs(b - a), 16 * 1024, "peak RSS: 10 min %ld KiB, 2 h %ld KiB: differ by %ld KiB", a, b, labs(b - a));
    free(short_path);
    free(long_path);
    tmpdir_remove(dir);
}
