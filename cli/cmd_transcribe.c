/* mmrt transcribe: speech to text, as plain text, JSON, SRT or WebVTT; and mmrt ask AUDIO QUESTION's
 * two passes (transcribe, then ask the instruct LLM about the transcript), routed here from
 * cli/cmd_vision.c. */
#define _POSIX_C_SOURCE 200809L /* strdup, clock_gettime, isatty */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmrt transcribe [options] AUDIO|DIR...\n"
            "\n"
            "Transcribes speech, each file's text to stdout (one line per window). A directory stands for the\n"
            "audio files in it (.wav .flac .ogg .oga .opus .mp3 .aif .aiff, sorted by name); with several files\n"
            "each transcript follows a line '# FILE'. Audio is decoded, mixed to mono and resampled to 16 kHz\n"
            "as a stream and cut into windows (30 s: 0-30 s, 30-60 s, ...), each transcribed on its own with\n"
            "greedy decoding, so hours of audio take the memory of one window. A file that fails is reported\n"
            "and the others are still transcribed (exit status 1).\n"
            "\n"
            "  -m, --model M          speech model directory or Hugging Face repo id\n"
            "                         (default %s)\n"
            "      --window S         window length in seconds (default 30; 1 to 3600)\n"
            "  -n, --max-tokens N     tokens at most per window (default 200)\n"
            "      --prompt TEXT      the instruction after the audio (default \"%s\")\n"
            "      --system TEXT      system message (default: the chat template's)\n"
            "      --ctx N            context size in tokens (default min(model's, 4096))\n"
            "      --json             one JSON object per file: segments (start and end in seconds, text,\n"
            "                         token counts), timings per stage (load, encode, prefill, decode)\n"
            "      --srt              SubRip subtitles, one cue per window (one input file)\n"
            "      --vtt              WebVTT subtitles, one cue per window (one input file)\n"
            "  -o, --output FILE      write to FILE instead of stdout\n" CLI_COMMON_HELP
            "\n"
            "Progress goes to stderr: '[i/n] FILE: 12:30 of 58:00 audio, 4.1x real time'.\n"
            "The default models (Granite Speech) transcribe what is said (English, French, German, Spanish,\n"
            "Portuguese; granite-speech-4.1 also Japanese). They hear speech: they do not describe music or sounds,\n"
            "which give empty or made-up text. To ask about what is said: mmrt ask AUDIO \"question\".\n",
            CLI_DEFAULT_SPEECH_MODEL, MMRT_TRANSCRIBE_PROMPT);
}

typedef enum out_format { OUT_TEXT, OUT_JSON, OUT_SRT, OUT_VTT } out_format;

/* "12:30" or "1:02:30". */
static void clock_text(double seconds, char *buf, size_t n) {
    long s = seconds > 0 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, n, "%ld:%02ld", s / 60, s % 60);
}

/* A subtitle time stamp of a 16 kHz sample position: "00:01:02,500" (SRT) or "00:01:02.500". */
static void stamp(int64_t sample, bool srt, char *buf, size_t n) {
    int64_t ms = sample / 16; /* 16 samples per millisecond at 16 kHz: exact */
    snprintf(buf, n, "%02lld:%02lld:%02lld%c%03lld", (long long)(ms / 3600000), (long long)(ms / 60000 % 60),
             (long long)(ms / 1000 % 60), srt ? ',' : '.', (long long)(ms % 1000));
}

/* A cue's text: on one line (a blank line would end the cue: each run of line breaks becomes a
 * space); WebVTT's cue text is HTML-like, so & < > are written as character references (which also
 * keeps "-->" out of it). */
static void cue_text(FILE *f, const char *s, bool vtt) {
    for (; *s; s++) {
        if (*s == '\n' || *s == '\r') {
            while (s[1] == '\n' || s[1] == '\r') s++;
            fputc(' ', f);
        } else if (vtt && (*s == '&' || *s == '<' || *s == '>')) {
            fputs(*s == '&' ? "&amp;" : *s == '<' ? "&lt;" : "&gt;", f);
        } else {
            fputc(*s, f);
        }
    }
}

/* One file's transcription on its way out. */
typedef struct file_run {
    FILE *out;
    out_format format;
    const char *path;
    size_t index, n_files; /* for progress: [index/n_files] */
    double t0;
    int n_cues;            /* subtitle cues written */
    int n_segments;        /* segments written (JSON) */
    bool tty;
    char *transcript;      /* for ask: the segments' text joined by spaces (NULL: not kept) */
    size_t n_transcript;
    bool keep, oom;
} file_run;

static void keep_text(file_run *f, const char *text) {
    size_t n = strlen(text);
    if (n == 0) return;
    char *p = realloc(f->transcript, f->n_transcript + n + 2);
    if (!p) {
        f->oom = true;
        return;
    }
    f->transcript = p;
    if (f->n_transcript) f->transcript[f->n_transcript++] = ' ';
    memcpy(f->transcript + f->n_transcript, text, n + 1);
    f->n_transcript += n;
}

static int on_segment(const mmrt_segment *s, void *user) {
    file_run *f = user;
    if (f->keep) keep_text(f, s->text);
    char a[32], b[32];
    switch (f->format) {
    case OUT_TEXT:
        if (s->text[0]) fprintf(f->out, "%s\n", s->text);
        break;
    case OUT_JSON:
        fprintf(f->out, "%s{\"index\": %d, \"start\": %.3f, \"end\": %.3f, \"text\": ", f->n_segments++ ? ", " : "",
                s->index, s->start, s->end);
        cli_json_string(f->out, s->text, strlen(s->text));
        fprintf(f->out,
                ", \"prompt_tokens\": %d, \"audio_tokens\": %d, \"generated_tokens\": %d, \"stop_reason\": \"%s\"}",
                s->n_prompt_tokens, s->n_audio_tokens, s->n_generated, cli_stop_name(s->stop_reason));
        break;
    case OUT_SRT:
    case OUT_VTT:
        if (!s->text[0]) break; /* an empty cue is no subtitle */
        stamp(s->start_sample, f->format == OUT_SRT, a, sizeof a);
        stamp(s->end_sample, f->format == OUT_SRT, b, sizeof b);
        if (f->format == OUT_SRT) fprintf(f->out, "%d\n", ++f->n_cues);
        fprintf(f->out, "%s --> %s\n", a, b);
        cue_text(f->out, s->text, f->format == OUT_VTT);
        fputs("\n\n", f->out);
        break;
    }
    fflush(f->out);
    return 0;
}

static void progress_line(const file_run *f, double done, double total, const char *end) {
    char a[32], b[32];
    clock_text(done, a, sizeof a);
    double el = cli_now_s() - f->t0;
    fprintf(stderr, "[%zu/%zu] %s: %s", f->index, f->n_files, f->path, a);
    if (total >= 0) {
        clock_text(total, b, sizeof b);
        fprintf(stderr, " of %s", b);
    }
    fprintf(stderr, " audio");
    if (done > 0 && el > 0) fprintf(stderr, ", %.1f× real time", done / el);
    fputs(end, stderr);
}

static int on_progress(double done, double total, void *user) {
    file_run *f = user;
    if (f->tty && f->n_files > 0) {
        fputs("\r\033[K", stderr); /* over the previous one */
        progress_line(f, done, total, "");
    }
    return 0;
}

static void json_file_end(const file_run *f, const mmrt_transcribe_result *r, const char *error) {
    fprintf(f->out, "]");
    if (error) {
        fprintf(f->out, ", \"error\": ");
        cli_json_string(f->out, error, strlen(error));
    }
    fprintf(f->out,
            ", \"audio_seconds\": %.3f, \"prompt_tokens\": %d, \"audio_tokens\": %d, \"generated_tokens\": %d, "
            "\"timings_ms\": {\"load\": %.3f, \"encode\": %.3f, \"prefill\": %.3f, \"decode\": %.3f}}\n",
            r->audio_seconds, r->n_prompt_tokens, r->n_audio_tokens, r->n_generated, r->load_ms, r->encode_ms,
            r->prefill_ms, r->decode_ms);
}

/* Transcribes one file; false when it failed (reported on stderr, and in the JSON). */
static bool transcribe_file(mmrt_session *s, const mmrt_transcribe_params *tp0, file_run *f,
                            mmrt_transcribe_result *r, bool verbose) {
    mmrt_transcribe_params tp = *tp0;
    tp.on_segment = on_segment;
    tp.on_progress = on_progress;
    tp.user = f;
    f->t0 = cli_now_s();
    f->tty = isatty(STDERR_FILENO);
    if (f->format == OUT_JSON) {
        fprintf(f->out, "{\"file\": ");
        cli_json_string(f->out, f->path, strlen(f->path));
        fprintf(f->out, ", \"segments\": [");
    }
    mmrt_part audio = mmrt_audio_file_part(f->path);
    *r = (mmrt_transcribe_result){.size = sizeof *r};
    mmrt_status st = mmrt_session_transcribe(s, &audio, &tp, r);
    if (f->tty) fputs("\r\033[K", stderr);
    const char *msg = st == MMRT_OK ? NULL : mmrt_session_last_error(s);
    if (f->format == OUT_JSON) json_file_end(f, r, msg);
    fflush(f->out);
    if (msg) {
        if (strstr(msg, f->path)) fprintf(stderr, "mmrt: %s\n", msg);
        else fprintf(stderr, "mmrt: %s: %s\n", f->path, msg);
        return false;
    }
    if (f->n_files > 0) progress_line(f, r->audio_seconds, r->audio_seconds, "\n");
    if (verbose)
        fprintf(stderr,
                "mmrt: %d window(s), %.1f s of audio: load+features %.1f ms, encode %.1f ms, prefill %d tokens "
                "(%d audio) in %.1f ms, generated %d tokens in %.1f ms\n",
                r->n_segments, r->audio_seconds, r->load_ms, r->encode_ms, r->n_prompt_tokens, r->n_audio_tokens,
                r->prefill_ms, r->n_generated, r->decode_ms);
    return true;
}

/* The model, refused unless it takes audio. NULL (reported) on failure. */
static mmrt_model *load_speech_model(const cli_common *c, const char *cmd, const char *suggest,
                                     mmrt_model_info *info) {
    mmrt_model *model = cli_load_model(c);
    if (!model) return NULL;
    *info = (mmrt_model_info){.size = sizeof *info};
    if (mmrt_model_get_info(model, info) != MMRT_OK || !info->audio) {
        fprintf(stderr, "mmrt: %s takes no audio (a %s model): %s needs a speech model such as %s\n", c->model,
                info->architecture ? info->architecture : "?", cmd, suggest);
        mmrt_model_free(model);
        return NULL;
    }
    return model;
}

int cmd_transcribe(int argc, char **argv) {
    cli_common c = {.model = CLI_DEFAULT_SPEECH_MODEL};
    mmrt_transcribe_params tp;
    mmrt_transcribe_params_init(&tp, sizeof tp);
    mmrt_session_params sp;
    mmrt_session_params_init(&sp, sizeof sp);
    out_format format = OUT_TEXT;
    const char *output = NULL;
    cli_paths files = {0};
    int rc = CLI_EXIT_USAGE;
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        double x;
        if (options_done || a[0] != '-' || a[1] == '\0') {
            if (!cli_paths_add(&files, a, true)) {
                rc = CLI_EXIT_RUNTIME;
                goto done;
            }
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        int r = cli_parse_common(argc, argv, &i, &c);
        if (r < 0) goto done;
        if (r > 0) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            rc = CLI_EXIT_OK;
            goto done;
        } else if (strcmp(a, "--window") == 0) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_float(a, v, 1, 3600, &x)) goto done;
            tp.window_seconds = x;
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--max-tokens") == 0) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 1, 1 << 24, &n)) goto done;
            tp.max_tokens = (int32_t)n;
        } else if (strcmp(a, "--prompt") == 0) {
            if (!(tp.prompt = cli_value(argc, argv, &i))) goto done;
        } else if (strcmp(a, "--system") == 0) {
            if (!(tp.system = cli_value(argc, argv, &i))) goto done;
        } else if (strcmp(a, "--ctx") == 0) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 1, 1 << 24, &n)) goto done;
            sp.n_ctx = (int32_t)n;
        } else if (strcmp(a, "--srt") == 0 || strcmp(a, "--vtt") == 0) {
            format = a[2] == 's' ? OUT_SRT : OUT_VTT;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (!(output = cli_value(argc, argv, &i))) goto done;
        } else {
            cli_usage_error("transcribe", "unknown option %s (put -- before file names that start with -)", a);
            goto done;
        }
    }
    if (c.json && format != OUT_TEXT) {
        cli_usage_error("transcribe", "give one of --json, --srt and --vtt");
        goto done;
    }
    if (c.json) format = OUT_JSON;
    if (files.n == 0) {
        cli_usage_error("transcribe", "give one or more audio files or directories");
        goto done;
    }
    if ((format == OUT_SRT || format == OUT_VTT) && files.n > 1) {
        cli_usage_error("transcribe", "subtitles (--srt, --vtt) are for one audio file; %zu were given", files.n);
        goto done;
    }
    rc = CLI_EXIT_RUNTIME;
    mmrt_model_info info;
    mmrt_model *model = load_speech_model(&c, "transcribe", CLI_DEFAULT_SPEECH_MODEL, &info);
    if (!model) goto done;
    mmrt_session *s = NULL;
    FILE *out = stdout;
    if (mmrt_session_init(model, &sp, &s) != MMRT_OK) {
        fprintf(stderr, "mmrt: %s\n", mmrt_last_error());
    } else if (output && !(out = fopen(output, "w"))) {
        fprintf(stderr, "mmrt: %s: %s\n", output, strerror(errno));
    } else {
        if (format == OUT_VTT) fprintf(out, "WEBVTT\n\n");
        size_t n_failed = 0;
        for (size_t k = 0; k < files.n; k++) {
            if (files.n > 1 && format == OUT_TEXT) fprintf(out, "# %s\n", files.paths[k]);
            file_run f = {.out = out, .format = format, .path = files.paths[k], .index = k + 1, .n_files = files.n};
            mmrt_transcribe_result r;
            if (!transcribe_file(s, &tp, &f, &r, c.verbose)) n_failed++;
            if (files.n > 1 && format == OUT_TEXT && k + 1 < files.n) fputc('\n', out);
        }
        rc = CLI_EXIT_OK;
        if (n_failed > 0) {
            if (files.n > 1) fprintf(stderr, "mmrt: %zu of %zu files failed\n", n_failed, files.n);
            rc = CLI_EXIT_RUNTIME;
        }
        if (out != stdout && (ferror(out) | fclose(out)) != 0) {
            fprintf(stderr, "mmrt: %s: writing failed: %s\n", output, strerror(errno));
            rc = CLI_EXIT_RUNTIME;
        }
    }
    mmrt_session_free(s);
    mmrt_model_free(model);
done:
    cli_paths_free(&files);
    return rc;
}

/* ---- mmrt ask AUDIO QUESTION ------------------------------------------------------------------ */

/* The second pass's user turn (IBM's two-pass spoken QA; tools/fixtures_granite_speech.py stores the
 * same format in tests/fixtures/granite_speech/reference.json). */
static char *transcript_question(const char *transcript, const char *question) {
    static const char head[] = "Here is the transcript of an audio recording:\n\n";
    size_t n = sizeof head + strlen(transcript) + 2 + strlen(question);
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s\n\n%s", head, transcript, question);
    return p;
}

/* Instruct checkpoints carry the adapter their audio path needs; one without (granite-speech-4.x)
 * has a base LLM, which answers with more transcription. */
static bool has_adapter(const char *dir) {
    size_t n = strlen(dir) + sizeof "/adapter_config.json";
    char *p = malloc(n);
    if (!p) return false;
    snprintf(p, n, "%s/adapter_config.json", dir);
    struct stat st;
    bool ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

int cli_ask_audio(cli_common *c, const cli_gen *g, const char *path, const char *question, long transcript_tokens) {
    bool given = c->model != NULL;
    if (!given) c->model = CLI_DEFAULT_SPEECH_ASK_MODEL;
    mmrt_model_info info;
    mmrt_model *model = load_speech_model(c, "ask with audio", CLI_DEFAULT_SPEECH_ASK_MODEL, &info);
    if (!model) return CLI_EXIT_RUNTIME;
    if (!has_adapter(info.path)) {
        fprintf(stderr,
                "mmrt: %s has no LoRA adapter (adapter_config.json): its language model is a base model, not "
                "instruction-tuned, and answers questions with more transcription. Ask with an instruct "
                "checkpoint such as %s (mmrt ask -m %s AUDIO QUESTION), or transcribe with this one (mmrt "
                "transcribe)\n",
                c->model, CLI_DEFAULT_SPEECH_ASK_MODEL, CLI_DEFAULT_SPEECH_ASK_MODEL);
        mmrt_model_free(model);
        return CLI_EXIT_RUNTIME;
    }
    int rc = CLI_EXIT_RUNTIME;
    mmrt_session *s = NULL;
    char *prompt = NULL;
    cli_out out = {.json = c->json};
    file_run f = {.format = OUT_TEXT, .path = path, .keep = true};
    if (mmrt_session_init(model, &g->sp, &s) != MMRT_OK) {
        fprintf(stderr, "mmrt: %s\n", mmrt_last_error());
        goto done;
    }
    /* pass 1: the transcript, adapter on */
    mmrt_transcribe_params tp;
    mmrt_transcribe_params_init(&tp, sizeof tp);
    tp.max_tokens = (int32_t)transcript_tokens;
    tp.system = g->gp.system; /* --system: both passes' system message */
    FILE *sink = fopen("/dev/null", "w"); /* the segments go to the transcript only */
    if (!sink) {
        fprintf(stderr, "mmrt: /dev/null: %s\n", strerror(errno));
        goto done;
    }
    f.out = sink;
    mmrt_transcribe_result tr;
    bool ok = transcribe_file(s, &tp, &f, &tr, c->verbose);
    fclose(sink);
    if (!ok) goto done;
    if (f.oom || !(prompt = transcript_question(f.transcript ? f.transcript : "", question))) {
        fprintf(stderr, "mmrt: out of memory\n");
        goto done;
    }
    if (c->verbose) fprintf(stderr, "mmrt: transcript: %s\n", f.transcript ? f.transcript : "");
    /* pass 2: text only, so the adapter is off */
    mmrt_generate_params gp = g->gp;
    gp.on_token = cli_on_token;
    gp.user = &out;
    mmrt_generate_result r = {.size = sizeof r};
    mmrt_session_reset(s);
    if (mmrt_session_generate(s, prompt, &gp, &r) != MMRT_OK) {
        if (!c->json && r.n_generated > 0) fputc('\n', stdout);
        fprintf(stderr, "mmrt: %s\n", mmrt_session_last_error(s));
        goto done;
    }
    if (out.oom) {
        fprintf(stderr, "mmrt: out of memory collecting the generated text\n");
        goto done;
    }
    if (c->json) {
        printf("{\"file\": ");
        cli_json_string(stdout, path, strlen(path));
        printf(", \"transcript\": ");
        cli_json_string(stdout, f.transcript ? f.transcript : "", f.n_transcript);
        printf(", \"text\": ");
        cli_json_string(stdout, out.text ? out.text : "", out.n);
        printf(", \"audio_seconds\": %.3f, \"transcript_tokens\": %d, \"prompt_tokens\": %d, \"generated_tokens\": %d, "
               "\"stop_reason\": \"%s\", \"timings_ms\": {\"load\": %.3f, \"encode\": %.3f, \"transcribe_prefill\": "
               "%.3f, \"transcribe_decode\": %.3f, \"prefill\": %.3f, \"decode\": %.3f}}\n",
               tr.audio_seconds, tr.n_generated, r.n_prompt_tokens, r.n_generated, cli_stop_name(r.stop_reason),
               tr.load_ms, tr.encode_ms, tr.prefill_ms, tr.decode_ms, r.prefill_ms, r.decode_ms);
    } else {
        fputc('\n', stdout);
    }
    rc = CLI_EXIT_OK;
done:
    free(f.transcript);
    free(out.text);
    free(prompt);
    mmrt_session_free(s);
    mmrt_model_free(model);
    return rc;
}
