/* mmrt transcribe and mmrt ask AUDIO as a user runs them, on the tiny Granite Speech checkpoints of
 * tests/fixtures/granite_speech (tools/fixtures_granite_speech.py): each window's text is
 * transformers' greedy text for the same window, cut by the generator before running transformers
 * (story_70s: 0-30, 30-60, 60-70 s); the subtitle time stamps are the reference's sample ranges
 * written out by hand here; ask's two passes equal the reference's (pass 1 with the adapter, pass 2
 * text only without it) on g3, and g4 (no adapter: a base LLM) is refused for ask. */
#include "helpers/cli_run.h"
#include "helpers/tmpdir.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR MMRT_FIXTURES_DIR "/granite_speech"
#define N_TOKENS 48 /* the reference's max_new_tokens */
#define CKPT "g4" /* no adapter: the encoder and the decoder alone */

static cJSON *g_ref;

static void load_reference(void) { g_ref = tmpdir_read_json(DIR "/reference.json"); }
static void free_reference(void) { cJSON_Delete(g_ref); }

static const cJSON *ref_case(const char *key) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g_ref, "cases"), key);
    cr_assert_not_null(c, "reference.json: no case %s", key);
    return c;
}

static const char *str(const cJSON *j, const char *k) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, k));
    cr_assert_not_null(s, "reference.json: no string %s", k);
    return s;
}

static double num(const cJSON *j, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    cr_assert(cJSON_IsNumber(v), "no number %s", k);
    return cJSON_GetNumberValue(v);
}

/* Python's str.isspace() for one code point. */
static bool py_space(uint32_t c) {
    static const uint32_t spaces[] = {0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
                                      0x2028, 0x2029, 0x202f, 0x205f, 0x3000};
    if (c >= 0x2000 && c <= 0x200a) return true;
    for (size_t i = 0; i < sizeof spaces / sizeof *spaces; i++)
        if (spaces[i] == c) return true;
    return false;
}

/* The code point of the UTF-8 character starting at s, its length in *len. */
static uint32_t utf8_at(const unsigned char *s, size_t *len) {
    *len = s[0] < 0x80 ? 1 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    uint32_t c = *len == 1 ? s[0] : (uint32_t)(s[0] & (0x7f >> *len));
    for (size_t i = 1; i < *len; i++) c = c << 6 | (s[i] & 0x3f);
    return c;
}

/* s.strip() as Python does it (the reference's rule for transcripts), malloc'ed. */
static char *stripped(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), first = n, end = 0;
    for (size_t i = 0, len; i < n; i += len)
        if (!py_space(utf8_at(u + i, &len))) {
            if (first == n) first = i;
            end = i + len;
        }
    if (first == n) first = end = 0;
    char *p = malloc(end - first + 1);
    memcpy(p, s + first, end - first);
    p[end - first] = '\0';
    return p;
}

/* The windows of story_70s in the reference: w0, w1, ... */
static int n_windows(const char *ckpt) {
    char key[128];
    int n = 0;
    for (;; n++) {
        snprintf(key, sizeof key, "%s.story_70s.w%d", ckpt, n);
        if (!cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g_ref, "cases"), key)) return n;
    }
}

static const cJSON *window(const char *ckpt, int k) {
    char key[128];
    snprintf(key, sizeof key, "%s.story_70s.w%d", ckpt, k);
    return ref_case(key);
}

/* "HH:MM:SS,mmm" of a 16 kHz sample index. */
static void stamp(long long sample, char sep, char *buf, size_t n) {
    long long ms = sample * 1000 / 16000;
    snprintf(buf, n, "%02lld:%02lld:%02lld%c%03lld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, sep, ms % 1000);
}

/* The system message in the checkpoint's rendered prompt, shell-quoted as --system's value: the
 * Granite 3.3 template writes the date it renders on (strftime_now), so the reference's date is
 * passed as the system message it would render (g4's template has none: ""). */
static void system_option(const char *ckpt, char *out, size_t n) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g_ref, "checkpoints"), ckpt);
    const char *p = str(c, "rendered_prompt"), *tag = "system<|end_of_role|>";
    const char *b = strstr(p, tag), *e = b ? strstr(b, "<|end_of_text|>") : NULL;
    if (!b || !e) {
        out[0] = '\0';
        return;
    }
    b += strlen(tag);
    size_t k = (size_t)snprintf(out, n, "--system '");
    for (; b < e && k + 5 < n; b++) { /* a ' in single quotes: close, \', reopen */
        if (*b == '\'') k += (size_t)snprintf(out + k, n - k, "'\\''");
        else out[k++] = *b;
    }
    cr_assert(k + 2 < n);
    snprintf(out + k, n - k, "'");
}

TestSuite(cli_transcribe, .init = load_reference, .fini = free_reference);

static void check_json_windows(const char *ckpt) {
    char args[2048], sys[1024];
    system_option(ckpt, sys, sizeof sys);
    snprintf(args, sizeof args, "transcribe -m '%s/%s' -n %d --json %s '%s/clips/story_70s.flac'", DIR, ckpt, N_TOKENS,
             sys, DIR);
    result r = run(args);
    cr_assert_eq(r.rc, 0, "%s: exit %d, stderr: %s", args, r.rc, r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "not JSON: %s", r.out);
    const cJSON *segs = cJSON_GetObjectItemCaseSensitive(j, "segments");
    int n = n_windows(ckpt);
    cr_assert_eq(n, 3, "reference.json: %d windows of story_70s, 0-30-60-70 s expected", n);
    cr_assert_eq(cJSON_GetArraySize(segs), n, "%s", r.out);
    double prev_end = 0;
    for (int k = 0; k < n; k++) {
        const cJSON *w = window(ckpt, k), *s = cJSON_GetArrayItem(segs, k);
        char *want = stripped(str(w, "text"));
        cr_expect_str_eq(str(s, "text"), want, "%s window %d", ckpt, k);
        cr_expect_float_eq(num(s, "start"), num(w, "start_sample") / 16000.0, 1e-3, "window %d", k);
        cr_expect_float_eq(num(s, "end"), num(w, "end_sample") / 16000.0, 1e-3, "window %d", k);
        cr_expect_float_eq(num(s, "start"), prev_end, 1e-9, "window %d does not start where %d ended", k, k - 1);
        prev_end = num(s, "end");
        cr_expect_eq(num(s, "audio_tokens"), num(w, "n_audio_tokens"), "window %d", k);
        cr_expect_eq(num(s, "prompt_tokens"), num(w, "n_prompt_tokens"), "window %d", k);
        cr_expect_eq(num(s, "generated_tokens"), cJSON_GetArraySize(cJSON_GetObjectItem(w, "greedy_ids")));
        free(want);
    }
    cr_expect_float_eq(num(j, "audio_seconds"), num(window(ckpt, n - 1), "end_sample") / 16000.0, 1e-3);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "timings_ms");
    cr_expect(num(t, "load") > 0 && num(t, "encode") > 0 && num(t, "prefill") > 0 && num(t, "decode") > 0, "%s",
              r.out);
    cJSON_Delete(j);
    result_free(&r);
}

Test(cli_transcribe, each_window_is_transformers_text) { check_json_windows("g4"); }
Test(cli_transcribe, each_window_is_transformers_text_with_the_adapter) { check_json_windows("g3"); }

/* The multi-format inputs of tests/fixtures/audio (8 to 48 kHz, stereo, PCM/float/u-law/A-law WAV,
 * FLAC, Vorbis, Opus, MP3) in one run: each file's text is transformers' after soundfile, the
 * channel mean and python-soxr to 16 kHz. */
Test(cli_transcribe, every_audio_format_gives_transformers_text) {
    char args[8192];
    int n = snprintf(args, sizeof args, "transcribe -m '%s/g4' -n %d --json", DIR, N_TOKENS);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(g_ref, "cases"), *c;
    int n_files = 0;
    cJSON_ArrayForEach(c, cases) {
        if (strncmp(c->string, "g4.audio/", 9) != 0) continue;
        n += snprintf(args + n, sizeof args - (size_t)n, " '%s/%s'", DIR, str(c, "clip"));
        n_files++;
    }
    cr_assert(n_files >= 10, "reference.json: %d g4.audio/ cases", n_files);
    result r = run(args);
    cr_assert_eq(r.rc, 0, "exit %d, stderr: %s", r.rc, r.err);
    char *line = r.out;
    cJSON_ArrayForEach(c, cases) {
        if (strncmp(c->string, "g4.audio/", 9) != 0) continue;
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl, "%s: no line", c->string);
        *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "not JSON: %s", line);
        cr_assert(strstr(str(j, "file"), c->string + 9), "%s: %s", c->string, line);
        const cJSON *segs = cJSON_GetObjectItemCaseSensitive(j, "segments");
        cr_assert_eq(cJSON_GetArraySize(segs), 1, "%s", line);
        char *want = stripped(str(c, "text"));
        cr_expect_str_eq(str(cJSON_GetArrayItem(segs, 0), "text"), want, "%s", c->string);
        cr_expect_float_eq(num(j, "audio_seconds"), num(c, "n_samples_16k") / 16000.0, 1e-3, "%s", c->string);
        free(want);
        cJSON_Delete(j);
        line = nl + 1;
    }
    result_free(&r);
}

/* text as a cue holds it: line breaks (runs of them) as one space; in WebVTT & < > escaped. */
static void append_cue_text(char *out, const char *text, bool vtt) {
    char *o = out + strlen(out);
    for (const char *s = text; *s; s++) {
        bool nl = *s == '\n' || *s == '\r';
        if (nl && s > text && (s[-1] == '\n' || s[-1] == '\r')) continue; /* the run's space is written */
        if (nl) *o++ = ' ';
        else if (vtt && *s == '&') o += sprintf(o, "&amp;");
        else if (vtt && *s == '<') o += sprintf(o, "&lt;");
        else if (vtt && *s == '>') o += sprintf(o, "&gt;");
        else *o++ = *s;
    }
    *o = '\0';
}

/* SRT and WebVTT: one cue per window, time stamps from the reference's samples, text as above. */
Test(cli_transcribe, srt_and_vtt_cues_are_the_windows) {
    for (int vtt = 0; vtt < 2; vtt++) {
        char want[16384] = "", line[4096], a[32], b[32];
        if (vtt) strcat(want, "WEBVTT\n\n");
        for (int k = 0, cue = 0; k < n_windows(CKPT); k++) {
            const cJSON *w = window(CKPT, k);
            char *text = stripped(str(w, "text"));
            if (!text[0]) { /* no cue for an empty window */
                free(text);
                continue;
            }
            stamp((long long)num(w, "start_sample"), vtt ? '.' : ',', a, sizeof a);
            stamp((long long)num(w, "end_sample"), vtt ? '.' : ',', b, sizeof b);
            if (vtt) snprintf(line, sizeof line, "%s --> %s\n", a, b);
            else snprintf(line, sizeof line, "%d\n%s --> %s\n", ++cue, a, b);
            strcat(want, line);
            append_cue_text(want, text, vtt);
            strcat(want, "\n\n");
            free(text);
        }
        cr_assert(strstr(want, vtt ? "00:01:00.000 --> 00:01:10." : "00:01:00,000 --> 00:01:10,"), "%s", want);
        char args[1024];
        snprintf(args, sizeof args, "transcribe -m '%s/" CKPT "' -n %d %s '%s/clips/story_70s.flac'", DIR, N_TOKENS,
                 vtt ? "--vtt" : "--srt", DIR);
        result r = run(args);
        cr_assert_eq(r.rc, 0, "%s: exit %d, stderr: %s", args, r.rc, r.err);
        cr_assert_str_eq(r.out, want);
        /* progress on stderr, with the file's length */
        cr_assert(strstr(r.err, "[1/1] ") && strstr(r.err, "story_70s.flac: 1:10 of 1:10 audio"), "%s", r.err);
        result_free(&r);
    }
}

/* -o FILE, text mode: one line per window. */
Test(cli_transcribe, output_file_holds_the_text) {
    char *dir = tmpdir_make("cli-transcribe");
    char *out = tmpdir_path(dir, "out.txt");
    char args[1024];
    snprintf(args, sizeof args, "transcribe -m '%s/" CKPT "' -n %d -o '%s' '%s/clips/story_70s.flac'", DIR, N_TOKENS,
             out, DIR);
    result r = run(args);
    cr_assert_eq(r.rc, 0, "exit %d, stderr: %s", r.rc, r.err);
    cr_assert_eq(r.n_out, 0, "stdout: %s", r.out);
    char *got = tmpdir_read(out, NULL), want[8192] = "";
    for (int k = 0; k < n_windows(CKPT); k++) {
        char *t = stripped(str(window(CKPT, k), "text"));
        if (t[0]) strcat(strcat(want, t), "\n");
        free(t);
    }
    cr_assert_str_eq(got, want);
    free(got);
    free(out);
    result_free(&r);
    tmpdir_remove(dir);
}

/* Several files, a bad one in the middle: the others are transcribed, the bad one is named, exit 1;
 * a directory is its audio files, sorted. */
Test(cli_transcribe, a_bad_file_in_the_middle_does_not_stop_the_others) {
    char *dir = tmpdir_make("cli-transcribe");
    char *junk = tmpdir_write_str(dir, "junk.wav", "RIFF....WAVE but not really a wave file at all");
    char args[2048];
    snprintf(args, sizeof args,
             "transcribe -m '%s/" CKPT "' -n 4 --json '%s/clips/hello_us.flac' '%s' '%s/clips/yes_fast.flac'",
             DIR, DIR, junk, DIR);
    result r = run(args);
    cr_assert_eq(r.rc, 1, "exit %d, stderr: %s", r.rc, r.err);
    cr_assert(strstr(r.err, junk), "the bad file is not named: %s", r.err);
    cr_assert(strstr(r.err, "1 of 3 files failed"), "%s", r.err);
    const char *names[] = {"hello_us", "junk", "yes_fast"};
    char *line = r.out;
    for (int k = 0; k < 3; k++) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl, "line %d missing: %s", k + 1, r.out);
        *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "not JSON: %s", line);
        cr_assert(strstr(str(j, "file"), names[k]));
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
        cr_assert_eq(err != NULL, k == 1, "%s", line);
        if (k != 1) {
            char key[64];
            snprintf(key, sizeof key, CKPT ".%s", names[k]);
            const cJSON *segs = cJSON_GetObjectItemCaseSensitive(j, "segments");
            cr_assert_eq(cJSON_GetArraySize(segs), 1);
            cr_assert_eq(num(cJSON_GetArrayItem(segs, 0), "generated_tokens"), 4);
            cr_assert_eq(num(cJSON_GetArrayItem(segs, 0), "prompt_tokens"), num(ref_case(key), "n_prompt_tokens"));
        }
        cJSON_Delete(j);
        line = nl + 1;
    }
    result_free(&r);

    /* a directory: its audio files sorted by name (the .txt is not one) */
    char *sub = tmpdir_mkdir(dir, "clips");
    const char *files[] = {"b.flac", "a.flac"}, *from[] = {"yes_fast", "hello_us"};
    for (int k = 0; k < 2; k++) {
        char src[512];
        snprintf(src, sizeof src, "%s/clips/%s.flac", DIR, from[k]);
        free(tmpdir_copy(sub, files[k], src));
    }
    free(tmpdir_write_str(sub, "notes.txt", "not audio"));
    snprintf(args, sizeof args, "transcribe -m '%s/" CKPT "' -n 4 '%s'", DIR, sub);
    r = run(args);
    cr_assert_eq(r.rc, 0, "exit %d, stderr: %s", r.rc, r.err);
    char *a = strstr(r.out, "# "), *b = a ? strstr(a + 1, "# ") : NULL;
    cr_assert(a && b && strstr(a, "a.flac") < b && strstr(b, "b.flac") && !strstr(r.out, "notes"), "%s", r.out);
    cr_assert(strstr(r.err, "[1/2] ") && strstr(r.err, "[2/2] "), "%s", r.err);
    result_free(&r);
    free(sub);
    free(junk);
    tmpdir_remove(dir);
}

/* mmrt ask AUDIO QUESTION on g3: pass 1's transcript and pass 2's answer equal the reference's. */
Test(cli_transcribe, ask_about_audio_is_the_reference_two_passes) {
    const cJSON *ask = cJSON_GetObjectItemCaseSensitive(g_ref, "ask");
    cr_assert_not_null(ask, "reference.json: no ask");
    cr_assert_str_eq(str(ask, "format"), "Here is the transcript of an audio recording:\n\n{transcript}\n\n{question}");
    const cJSON *pass1 = ref_case(str(ask, "pass1_case"));
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(ask, "questions");
    cr_assert(cJSON_GetArraySize(qs) >= 1);
    char sys[1024];
    system_option("g3", sys, sizeof sys);
    for (int k = 0; k < cJSON_GetArraySize(qs); k++) {
        const cJSON *q = cJSON_GetArrayItem(qs, k);
        char args[2048];
        snprintf(args, sizeof args, "ask -m '%s/g3' --transcript-tokens %d -n %d %s --json '%s/%s' '%s'", DIR,
                 N_TOKENS, N_TOKENS, sys, DIR, str(pass1, "clip"), str(q, "question"));
        result r = run(args);
        cr_assert_eq(r.rc, 0, "%s: exit %d, stderr: %s", args, r.rc, r.err);
        cJSON *j = cJSON_Parse(r.out);
        cr_assert_not_null(j, "not JSON: %s", r.out);
        cr_expect_str_eq(str(j, "transcript"), str(ask, "transcript"));
        cr_expect_str_eq(str(j, "text"), str(q, "text"), "question %d", k);
        cr_expect_eq(num(j, "prompt_tokens"), cJSON_GetArraySize(cJSON_GetObjectItem(q, "input_ids")));
        cJSON_Delete(j);
        result_free(&r);
    }
    /* plain: the answer and a newline */
    const cJSON *q = cJSON_GetArrayItem(qs, 0);
    char args[2048], want[8192];
    snprintf(args, sizeof args, "ask -m '%s/g3' --transcript-tokens %d -n %d %s '%s/%s' '%s'", DIR, N_TOKENS,
             N_TOKENS, sys, DIR, str(pass1, "clip"), str(q, "question"));
    result r = run(args);
    cr_assert_eq(r.rc, 0, "exit %d, stderr: %s", r.rc, r.err);
    snprintf(want, sizeof want, "%s\n", str(q, "text"));
    cr_assert_str_eq(r.out, want);
    result_free(&r);
}

/* A checkpoint without an adapter (g4, as granite-speech-4.x: has_lora_adapter false, a base LLM) is
 * refused for ask, naming one that works. */
Test(cli_transcribe, ask_refuses_a_checkpoint_without_an_instruct_llm) {
    char args[1024];
    snprintf(args, sizeof args, "ask -m '%s/g4' '%s/clips/hello_us.flac' 'What is said?'", DIR, DIR);
    result r = run(args);
    cr_assert_eq(r.rc, 1, "exit %d, stderr: %s", r.rc, r.err);
    cr_assert(strstr(r.err, "ibm-granite/granite-speech-3.3-2b") && strstr(r.err, "not instruction-tuned"), "%s",
              r.err);
    cr_assert_eq(r.n_out, 0, "%s", r.out);
    result_free(&r);
    /* audio is told by its content, not its name */
    char *dir = tmpdir_make("cli-transcribe");
    char *renamed = tmpdir_copy(dir, "clip.png", DIR "/clips/hello_us.flac");
    snprintf(args, sizeof args, "ask -m '%s/g4' '%s' 'What is said?'", DIR, renamed);
    r = run(args);
    cr_assert_eq(r.rc, 1, "exit %d, stderr: %s", r.rc, r.err);
    cr_assert(strstr(r.err, "not instruction-tuned"), "%s", r.err);
    result_free(&r);
    free(renamed);
    tmpdir_remove(dir);
}

Test(cli_transcribe, help_and_usage_errors) {
    result r = run("transcribe --help");
    cr_assert_eq(r.rc, 0);
    cr_assert(strstr(r.out, "ibm-granite/granite-speech-4.1-2b") && strstr(r.out, "not describe music or sounds") &&
                  strstr(r.out, "--srt") && strstr(r.out, "--window"),
              "%s", r.out);
    result_free(&r);
    r = run("ask --help");
    cr_assert(strstr(r.out, "ibm-granite/granite-speech-3.3-2b") && strstr(r.out, "AUDIO QUESTION"), "%s", r.out);
    result_free(&r);
    const char *bad[] = {"transcribe", "transcribe --srt a.flac b.flac", "transcribe --json --vtt a.flac",
                         "transcribe --window 0.5 a.flac", "transcribe --bogus a.flac"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        r = run(bad[k]);
        cr_expect_eq(r.rc, 2, "%s: exit %d, stderr %s", bad[k], r.rc, r.err);
        result_free(&r);
    }
    /* a text model takes no audio */
    r = run("transcribe -m '" MMRT_FIXTURES_DIR "/llama/odd-sizes' '" DIR "/clips/hello_us.flac'");
    cr_assert_eq(r.rc, 1);
    cr_assert(strstr(r.err, "takes no audio"), "%s", r.err);
    result_free(&r);
}
