/* mmrt_session_transcribe: audio of any length, cut into fixed windows read one at a time from the
 * streaming reader (audio/audio.h), each window transcribed as its own conversation through the
 * generic media path of the session (its samples an MMRT_PART_AUDIO_SAMPLES part at 16 kHz mono).
 *
 * The cut is IBM's tooling's and the fixture generator's (tools/fixtures_granite_speech.py): the
 * whole input decoded, mixed and resampled to 16 kHz, then samples [k·w, (k+1)·w) for window k, the
 * last one shorter, no overlap. The reader's output equals the whole decode exactly, and libsoxr is
 * the identity from 16 kHz to 16 kHz, so a window's part gives the encoder exactly those samples. */
#include "model.h"

#include "audio/audio.h"
#include "core/clock.h"
#include "core/log.h"
#include "fusion/api_struct.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A last window this short (0.1 s) holds no speech; its features may not even exist (the log-mel
 * front end needs n_fft / 2 + 1 samples). */
#define MIN_TAIL_SAMPLES 1600
#define MIN_WINDOW_SECONDS 1.0
#define MAX_WINDOW_SECONDS 3600.0

static const mmrt_transcribe_params transcribe_defaults = {
    .size = sizeof(mmrt_transcribe_params), .window_seconds = 30.0, .max_tokens = 200};

void mmrt_transcribe_params_init(mmrt_transcribe_params *p, size_t size) {
    mmrt_api_struct_init(p, size, &transcribe_defaults, sizeof transcribe_defaults);
}

/* The input's name for messages. */
static const char *part_name(const mmrt_part *p) {
    if (p->text) return p->text;
    return p->type == MMRT_PART_AUDIO_SAMPLES ? "audio samples" : "audio";
}

static mmrt_status open_reader(const mmrt_part *p, mmrt_audio_reader **r, mmrt_error *err) {
    switch (p->type) {
    case MMRT_PART_AUDIO_FILE:
        if (!p->text) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "the audio file part has no path");
        return mmrt_audio_reader_open_file(p->text, NULL, r, err);
    case MMRT_PART_AUDIO_BYTES:
        if (!p->data) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: the audio bytes are NULL", part_name(p));
        return mmrt_audio_reader_open_memory(p->data, p->size, part_name(p), NULL, r, err);
    case MMRT_PART_AUDIO_SAMPLES:
        if (p->size > (size_t)INT64_MAX)
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: %zu frames", part_name(p), p->size);
        return mmrt_audio_reader_open_samples(p->data, (int64_t)p->size, p->channels, p->sample_rate, part_name(p),
                                              NULL, r, err);
    default:
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_session_transcribe: the part (type %d) is not audio",
                              (int)p->type);
    }
}

/* Fills buf with up to cap samples; *n < cap only at the end of the audio. */
static mmrt_status read_window(mmrt_audio_reader *r, float *buf, int64_t cap, int64_t *n, mmrt_error *err) {
    *n = 0;
    while (*n < cap) {
        int64_t got = 0;
        MMRT_TRY(mmrt_audio_reader_read(r, buf + *n, cap - *n, &got, err));
        if (got == 0) break;
        *n += got;
    }
    return MMRT_OK;
}

/* Length of the white space character at s (Python's str.isspace(): ASCII \t \n \v \f \r, the
 * separators \x1c-\x1f and space, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
 * U+205F, U+3000), or 0. */
static size_t space_len(const unsigned char *s, size_t n) {
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20))) return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (n < 3) return 0;
    uint32_t c = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
    if ((s[0] & 0xf0) != 0xe0) return 0;
    return c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
                   c == 0x205f || c == 0x3000
               ? 3
               : 0;
}

/* The reply without white space at either end, as Python's str.strip() (IBM's tooling and the
 * references strip the decoded text), in place. */
static char *strip(char *s) {
    size_t n = strlen(s), k;
    while ((k = space_len((const unsigned char *)s, n)) > 0) s += k, n -= k;
    for (bool more = true; more && n > 0;) {
        more = false;
        for (k = 1; k <= 3 && k <= n; k++) /* the character ending at n is 1 to 3 bytes long */
            if (space_len((const unsigned char *)s + n - k, k) == k) {
                n -= k;
                more = true;
                break;
            }
    }
    s[n] = '\0';
    return s;
}

typedef struct transcriber {
    mmrt_session *s;
    const mmrt_part *audio;
    const mmrt_transcribe_params *p;
    mmrt_transcribe_result *r;
    double total_seconds; /* < 0: unknown */
} transcriber;

static mmrt_status aborted(transcriber *t, const char *by) {
    return mmrt_error_set(&t->s->err, MMRT_ERR_ABORTED,
                          "%s: transcription aborted by the %s callback after %.1f s of audio",
                          part_name(t->audio), by, t->r->audio_seconds);
}

/* Transcribes samples [start, start + n) of the 16 kHz audio as the next segment. */
static mmrt_status transcribe_window(transcriber *t, const float *samples, int64_t start, int64_t n) {
    mmrt_session *s = t->s;
    char label[600];
    snprintf(label, sizeof label, "%s [%.2f s, %.2f s)", part_name(t->audio), (double)start / MMRT_AUDIO_SAMPLE_RATE,
             (double)(start + n) / MMRT_AUDIO_SAMPLE_RATE);
    mmrt_part parts[2] = {mmrt_audio_samples_part(samples, (size_t)n, 1, MMRT_AUDIO_SAMPLE_RATE),
                          mmrt_text_part(t->p->prompt ? t->p->prompt : MMRT_TRANSCRIBE_PROMPT)};
    parts[0].text = label;
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = t->p->max_tokens;
    gp.temperature = 0.0f; /* greedy, as IBM's tooling and the references */
    gp.seed = 0;
    gp.system = t->p->system;
    mmrt_generate_result gr = {.size = sizeof gr};
    mmrt_session_reset(s);
    MMRT_TRY(mmrt_session_generate_parts(s, parts, 2, &gp, &gr));

    mmrt_transcribe_result *r = t->r;
    r->load_ms += gr.audio_load_ms;
    r->encode_ms += gr.audio_encode_ms;
    r->prefill_ms += gr.prefill_ms;
    r->decode_ms += gr.decode_ms;
    r->n_prompt_tokens += gr.n_prompt_tokens;
    r->n_audio_tokens += gr.n_audio_tokens;
    r->n_generated += gr.n_generated;
    mmrt_segment seg = {.size = sizeof seg, .index = r->n_segments, .start_sample = start, .end_sample = start + n,
                        .start = (double)start / MMRT_AUDIO_SAMPLE_RATE,
                        .end = (double)(start + n) / MMRT_AUDIO_SAMPLE_RATE, .n_prompt_tokens = gr.n_prompt_tokens,
                        .n_audio_tokens = gr.n_audio_tokens, .n_generated = gr.n_generated,
                        .stop_reason = gr.stop_reason};
    r->n_segments++;
    if (!t->p->on_segment) return MMRT_OK;
    char *text = strdup(mmrt_session_last_reply(s));
    if (!text) return mmrt_error_oom(&s->err, strlen(mmrt_session_last_reply(s)) + 1, "segment text");
    seg.text = strip(text);
    int stop = t->p->on_segment(&seg, t->p->user);
    free(text);
    return stop ? aborted(t, "segment") : MMRT_OK;
}

static mmrt_status transcribe(transcriber *t) {
    mmrt_session *s = t->s;
    const mmrt_transcribe_params *p = t->p;
    const mmrt_model *m = s->model;
    if (!(p->window_seconds >= MIN_WINDOW_SECONDS && p->window_seconds <= MAX_WINDOW_SECONDS))
        return mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "window_seconds is %g: give %g to %g seconds",
                              p->window_seconds, MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS);
    if (p->max_tokens < 1)
        return mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "max_tokens is %d: give at least 1 token per window",
                              p->max_tokens);
    if (!mmrt_encoder_for_part(m->encoders, m->n_encoders, MMRT_PART_AUDIO_SAMPLES))
        return mmrt_error_set(&s->err, MMRT_ERR_UNSUPPORTED,
                              "%s takes no audio: transcription needs a speech model such as "
                              "ibm-granite/granite-speech-4.1-2b", m->dir);
    int64_t window = (int64_t)llround(p->window_seconds * MMRT_AUDIO_SAMPLE_RATE);
    float *buf = malloc(sizeof(float) * (size_t)window); /* (window,) the one window in memory */
    if (!buf) return mmrt_error_oom(&s->err, sizeof(float) * (size_t)window, "audio window");
    mmrt_audio_reader *reader = NULL;
    double t0 = mmrt_now_ms();
    mmrt_status st = open_reader(t->audio, &reader, &s->err);
    if (st == MMRT_OK) {
        int64_t hint = mmrt_audio_reader_n_samples_hint(reader);
        t->total_seconds = hint >= 0 ? (double)hint / MMRT_AUDIO_SAMPLE_RATE : -1.0;
        if (p->on_progress && p->on_progress(0.0, t->total_seconds, p->user) != 0) st = aborted(t, "progress");
    }
    t->r->load_ms += mmrt_now_ms() - t0;
    for (int64_t start = 0; st == MMRT_OK; start += window) {
        int64_t n = 0;
        t0 = mmrt_now_ms();
        st = read_window(reader, buf, window, &n, &s->err);
        t->r->load_ms += mmrt_now_ms() - t0;
        if (st != MMRT_OK || n == 0) break;
        t->r->audio_seconds = (double)(start + n) / MMRT_AUDIO_SAMPLE_RATE;
        if (start > 0 && n < MIN_TAIL_SAMPLES)
            MMRT_LOG_I("%s: the last %.3f s are too short to hold speech: not transcribed", part_name(t->audio),
                       (double)n / MMRT_AUDIO_SAMPLE_RATE);
        else
            st = transcribe_window(t, buf, start, n);
        if (st == MMRT_OK && p->on_progress && p->on_progress(t->r->audio_seconds, t->total_seconds, p->user) != 0)
            st = aborted(t, "progress");
        if (n < window) break;
    }
    mmrt_audio_reader_free(reader);
    free(buf);
    return st;
}

mmrt_status mmrt_session_transcribe(mmrt_session *s, const mmrt_part *audio, const mmrt_transcribe_params *params,
                                    mmrt_transcribe_result *result) {
    if (!s) return mmrt_session_null("mmrt_session_transcribe");
    mmrt_error_clear(&s->err);
    mmrt_transcribe_params p;
    mmrt_transcribe_result r = {.size = sizeof r};
    transcriber t = {.s = s, .audio = audio, .p = &p, .r = &r};
    mmrt_status st = result ? mmrt_api_struct_check(result, "mmrt_transcribe_result", &s->err) : MMRT_OK;
    if (st != MMRT_OK) return mmrt_session_fail(s, st);
    st = mmrt_api_struct_in(&p, &transcribe_defaults, sizeof p, params, "mmrt_transcribe_params", &s->err);
    if (st == MMRT_OK && !audio)
        st = mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "mmrt_session_transcribe: the audio part is NULL");
    if (st == MMRT_OK) st = transcribe(&t);
    if (result) mmrt_api_struct_out(result, &r, sizeof r);
    return mmrt_session_fail(s, st);
}
