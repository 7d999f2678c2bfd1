/* Audio input (audio/audio.h) against the Python pipeline's samples (tests/fixtures/audio, made by
 * tools/fixtures_audio.py: soundfile decode -> channel mean -> python-soxr HQ to 16 kHz), from
 * files and bytes, whole and streamed; callers' float samples; and hostile input. */
#include "audio/audio.h"
#include "core/safetensors.h"
#include "helpers/cli_run.h"
#include "helpers/tmpdir.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIO_DIR MMRT_FIXTURES_DIR "/audio"
/* The reference is float32 soxr on float32 input, as ours; what differs is the libsndfile build
 * (the wheel's 1.2.2 with its own codec libraries against Debian's 1.2.0) and soxr's build. */
#define AUDIO_TOL 1e-5

TestSuite(audio);

/* max |got - want|, printing the first mismatches (index, expected, got) beyond tol. */
static double max_abs_diff(const char *what, const float *got, const float *want, int64_t n,
                           double tol) {
    double worst = 0;
    int shown = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= worst)) worst = d;
        if (!(d <= tol) && shown++ < 5)
            fprintf(stderr, "%s: sample %lld: expected %.9g, got %.9g\n", what, (long long)i,
                    (double)want[i], (double)got[i]);
    }
    return worst;
}

/* Reads r to the end in chunks of `chunk` samples (the last read must say 0). */
static float *read_streamed(mmrt_audio_reader *r, int64_t chunk, int64_t *n) {
    int64_t cap = 1 << 14, len = 0;
    float *buf = malloc((size_t)cap * sizeof *buf);
    cr_assert(buf);
    for (;;) {
        if (cap - len < chunk) {
            cap = cap * 2 + chunk;
            buf = realloc(buf, (size_t)cap * sizeof *buf);
            cr_assert(buf);
        }
        int64_t got;
        mmrt_error err = {0};
        mmrt_status st = mmrt_audio_reader_read(r, buf + len, chunk, &got, &err);
        cr_assert_eq(st, MMRT_OK, "%s", err.msg);
        cr_assert_leq(got, chunk);
        if (got == 0) break;
        len += got;
    }
    *n = len;
    return buf;
}

static void expect_same(const char *what, const float *got, int64_t n_got, const float *want,
                        int64_t n_want) {
    cr_assert_eq(n_got, n_want, "%s: %lld samples, expected %lld", what, (long long)n_got,
                 (long long)n_want);
    double d = max_abs_diff(what, got, want, n_got, 0);
    cr_assert_eq(d, 0.0, "%s: differs from the whole-file output by %g", what, d);
}

Test(audio, fixtures_match_python_soxr) {
    mmrt_weights *ref;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weights_open(AUDIO_DIR "/reference.safetensors", &ref, &err), MMRT_OK, "%s",
                 err.msg);
    size_t n_files = mmrt_weights_count(ref);
    cr_assert_geq(n_files, 12, "only %zu reference clips", n_files);
    for (size_t i = 0; i < n_files; i++) {
        const mmrt_st_tensor *t = mmrt_weights_at(ref, i);
        cr_assert(strncmp(t->name, "ref.", 4) == 0 && t->dtype == MMRT_F32 && t->n_dims == 1);
        const char *file = t->name + 4;
        int64_t n_ref = t->shape[0];
        float *want = malloc((size_t)n_ref * sizeof *want + 1);
        cr_assert(want);
        memcpy(want, t->data, (size_t)n_ref * sizeof *want);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", AUDIO_DIR, file);

        mmrt_audio a;
        mmrt_status st = mmrt_audio_load_file(path, NULL, &a, &err);
        cr_assert_eq(st, MMRT_OK, "%s: %s", file, err.msg);
        cr_assert_eq(a.n_samples, n_ref, "%s: %lld samples, the reference has %lld", file,
                     (long long)a.n_samples, (long long)n_ref);
        double d = max_abs_diff(file, a.samples, want, n_ref, AUDIO_TOL);
        printf("audio %-32s %d Hz x %d: %6lld samples, max |mmrt - python-soxr| = %.3g\n", file,
               (int)a.in_rate, (int)a.in_channels, (long long)n_ref, d);
        cr_assert_leq(d, AUDIO_TOL, "%s: max abs error %g", file, d);

        /* Bytes in memory, whole and streamed; the file streamed in odd chunk sizes. All equal
         * the whole-file output exactly: the same decoder and soxr calls on the same samples. */
        size_t n_bytes;
        char *bytes = tmpdir_read(path, &n_bytes);
        mmrt_audio m;
        cr_assert_eq(mmrt_audio_load_memory(bytes, n_bytes, file, NULL, &m, &err), MMRT_OK, "%s",
                     err.msg);
        expect_same("from bytes", m.samples, m.n_samples, a.samples, a.n_samples);
        mmrt_audio_free(&m);
        static const int64_t chunks[] = {1, 7, 333, 4099, 100003};
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            mmrt_audio_reader *r;
            if (c % 2 == 0)
                st = mmrt_audio_reader_open_file(path, NULL, &r, &err);
            else
                st = mmrt_audio_reader_open_memory(bytes, n_bytes, file, NULL, &r, &err);
            cr_assert_eq(st, MMRT_OK, "%s", err.msg);
            int64_t n;
            float *s = read_streamed(r, chunks[c], &n);
            char what[256];
            snprintf(what, sizeof what, "%s streamed by %lld", file, (long long)chunks[c]);
            expect_same(what, s, n, a.samples, a.n_samples);
            free(s);
            mmrt_audio_reader_free(r);
        }
        free(bytes);
        free(want);
        mmrt_audio_free(&a);
    }
    mmrt_weights_free(ref);
}

/* ---- WAV files written here ----------------------------------------------------------------- */

static void put_u16(uint8_t *p, unsigned v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
    put_u16(p, v & 0xffff);
    put_u16(p + 2, v >> 16);
}

/* A canonical 44-byte-header WAV: tag 1 (PCM) or 3 (IEEE float); data_claim is the data chunk's
 * stated size (normally n_data). The caller frees. */
static uint8_t *make_wav(unsigned tag, unsigned channels, uint32_t rate, unsigned bits,
                         const void *data, uint32_t n_data, uint32_t data_claim, size_t *n) {
    uint8_t *w = calloc(1, 44 + (size_t)n_data);
    cr_assert(w);
    memcpy(w, "RIFF", 4);
    put_u32(w + 4, 36 + n_data);
    memcpy(w + 8, "WAVEfmt ", 8);
    put_u32(w + 16, 16);
    put_u16(w + 20, tag);
    put_u16(w + 22, channels);
    put_u32(w + 24, rate);
    put_u32(w + 28, rate * channels * bits / 8);
    put_u16(w + 32, channels * bits / 8);
    put_u16(w + 34, bits);
    memcpy(w + 36, "data", 4);
    put_u32(w + 40, data_claim);
    if (n_data) memcpy(w + 44, data, n_data);
    *n = 44 + (size_t)n_data;
    return w;
}

/* 2 channels x n frames of a 440/300 Hz pair, interleaved. */
static float *stereo_tone(int64_t n, int rate) {
    float *x = malloc((size_t)n * 2 * sizeof *x);
    cr_assert(x);
    for (int64_t i = 0; i < n; i++) {
        x[2 * i] = 0.5f * (float)sin(2 * M_PI * 440.0 * (double)i / rate);
        x[2 * i + 1] = 0.25f * (float)sin(2 * M_PI * 300.0 * (double)i / rate);
    }
    return x;
}

Test(audio, float_samples_equal_a_float_wav) {
    /* The same samples as a caller's buffer and as a float WAV decode to the same output. */
    const int rate = 44100;
    const int64_t n = 20000;
    float *x = stereo_tone(n, rate);
    size_t n_wav;
    uint8_t *wav = make_wav(3, 2, rate, 32, x, (uint32_t)(n * 8), (uint32_t)(n * 8), &n_wav);
    mmrt_error err = {0};
    mmrt_audio a, b;
    cr_assert_eq(mmrt_audio_from_samples(x, n, 2, rate, "tone", NULL, &a, &err), MMRT_OK, "%s",
                 err.msg);
    cr_assert_eq(mmrt_audio_load_memory(wav, n_wav, "tone.wav", NULL, &b, &err), MMRT_OK, "%s",
                 err.msg);
    cr_assert_eq(a.in_rate, rate);
    cr_assert_eq(a.in_channels, 2);
    /* 20000 frames at 44.1 kHz are 7256 samples at 16 kHz (rounded). */
    cr_assert_eq(a.n_samples, 7256, "%lld samples", (long long)a.n_samples);
    expect_same("samples vs float WAV", a.samples, a.n_samples, b.samples, b.n_samples);
    /* Mid-clip, the mix of the two tones at 16 kHz (the resampler passes both). */
    double worst = 0;
    for (int64_t i = 1000; i < 6000; i++) {
        double t = (double)i / 16000;
        double want = (0.5 * sin(2 * M_PI * 440 * t) + 0.25 * sin(2 * M_PI * 300 * t)) / 2;
        worst = fmax(worst, fabs(a.samples[i] - want));
    }
    cr_assert_lt(worst, 1e-3, "the resampled tone is off by %g", worst);
    mmrt_audio_reader *r;
    cr_assert_eq(mmrt_audio_reader_open_samples(x, n, 2, rate, NULL, NULL, &r, &err), MMRT_OK);
    cr_assert_eq(mmrt_audio_reader_n_samples_hint(r), 7256);
    int64_t got;
    float *s = read_streamed(r, 999, &got);
    expect_same("samples streamed", s, got, a.samples, a.n_samples);
    free(s);
    mmrt_audio_reader_free(r);
    mmrt_audio_free(&a);
    mmrt_audio_free(&b);
    free(wav);
    free(x);
}

/* ---- hostile input -------------------------------------------------------------------------- */

/* Loads bytes from memory and from a file named `name`: both must fail with want and a message
 * naming the input and containing `says`. */
static void expect_refused(const char *name, const void *bytes, size_t n, mmrt_status want,
                           const char *says) {
    mmrt_error err = {0};
    mmrt_audio a = {.n_samples = 1};
    mmrt_status st = mmrt_audio_load_memory(bytes, n, name, NULL, &a, &err);
    cr_assert_eq(st, want, "%s from memory: %s, want %s: %s", name, mmrt_status_str(st),
                 mmrt_status_str(want), err.msg);
    cr_assert(strstr(err.msg, name), "%s: the message does not name it: %s", name, err.msg);
    cr_assert(strstr(err.msg, says), "%s: the message does not say '%s': %s", name, says, err.msg);
    cr_assert(a.samples == NULL && a.n_samples == 0);
    printf("refused %s: %s\n", name, err.msg);

    char *dir = tmpdir_make("audio");
    char *path = tmpdir_write(dir, name, bytes, n);
    /* as users meet it: `mmrt transcribe` names the file and exits 1 (under ASan+UBSan in that build) */
    char args[2048];
    snprintf(args, sizeof args, "transcribe -m '%s' '%s'", MMRT_FIXTURES_DIR "/granite_speech/g4", path);
    result cli = run(args);
    cr_assert_eq(cli.rc, 1, "%s: exit %d, stderr: %s", args, cli.rc, cli.err);
    cr_assert(strstr(cli.err, path) && !cli.out[0], "%s: stderr does not name the file, or output: %s%s", args,
              cli.err, cli.out);
    result_free(&cli);
    st = mmrt_audio_load_file(path, NULL, &a, &err);
    mmrt_status want_file = n == 0 ? MMRT_ERR_IO : want;
    cr_assert_eq(st, want_file, "%s: %s: %s", path, mmrt_status_str(st), err.msg);
    cr_assert(strstr(err.msg, path), "%s: the message does not name it: %s", path, err.msg);
    /* A reader opened on the bytes fails at open or on a read, never later than the first
     * read that reaches the problem, and keeps failing. */
    mmrt_audio_reader *r = NULL;
    st = mmrt_audio_reader_open_memory(bytes, n, name, NULL, &r, &err);
    if (st == MMRT_OK) {
        float buf[100];
        int64_t got = 1;
        while (st == MMRT_OK && got > 0) st = mmrt_audio_reader_read(r, buf, 100, &got, &err);
        cr_assert_eq(st, want, "%s streamed: %s", name, err.msg);
        cr_assert_eq(mmrt_audio_reader_read(r, buf, 100, &got, &err), want);
        mmrt_audio_reader_free(r);
    }
    free(path);
    tmpdir_remove(dir);
}

static int16_t *pcm16_tone(int64_t n) {
    int16_t *x = malloc((size_t)n * sizeof *x);
    cr_assert(x);
    for (int64_t i = 0; i < n; i++) x[i] = (int16_t)(8000 * sin((double)i * 0.1));
    return x;
}

Test(audio, garbage_and_empty) {
    uint8_t junk[3000];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 2654435761u >> 13);
    expect_refused("junk.bin", junk, sizeof junk, MMRT_ERR_BAD_FORMAT, "not a readable audio");
    static const char text[] = "this is a text file, not audio\n";
    expect_refused("notes.wav", text, sizeof text - 1, MMRT_ERR_BAD_FORMAT, "not a readable audio");
    expect_refused("empty.wav", "", 0, MMRT_ERR_BAD_FORMAT, "no bytes");
    mmrt_error err = {0};
    mmrt_audio a;
    cr_assert_eq(mmrt_audio_load_file(AUDIO_DIR "/missing.wav", NULL, &a, &err), MMRT_ERR_IO);
    cr_assert(strstr(err.msg, "missing.wav"), "%s", err.msg);
}

Test(audio, lying_headers) {
    const int64_t n = 16000;
    int16_t *x = pcm16_tone(n);
    size_t nw;
    uint8_t *w;

    w = make_wav(1, 1, 16000, 16, x, (uint32_t)(n * 2), (uint32_t)(n * 2), &nw);
    put_u16(w + 22, 0);
    expect_refused("zero_channels.wav", w, nw, MMRT_ERR_BAD_FORMAT, "zero_channels.wav");
    put_u16(w + 22, 1);
    put_u32(w + 24, 0);
    expect_refused("rate_0.wav", w, nw, MMRT_ERR_BAD_FORMAT, "rate_0.wav");
    put_u32(w + 24, 10000000);
    expect_refused("rate_10mhz.wav", w, nw, MMRT_ERR_UNSUPPORTED, "10000000 Hz");
    put_u32(w + 24, 500);
    expect_refused("rate_500.wav", w, nw, MMRT_ERR_UNSUPPORTED, "500 Hz");
    free(w);

    /* The data chunk claims ~2^31 frames (37 h at 16 kHz) but holds one second. */
    w = make_wav(1, 1, 16000, 16, x, (uint32_t)(n * 2), 0xfffffff0u, &nw);
    expect_refused("lying_size.wav", w, nw, MMRT_ERR_BAD_FORMAT, "truncated");
    free(w);

    /* RF64 whose ds64 chunk claims 10^12 frames (17 years at 16 kHz) over one second of data. */
    {
        uint8_t *rf = calloc(1, 80 + (size_t)n * 2);
        cr_assert(rf);
        memcpy(rf, "RF64\xff\xff\xff\xffWAVEds64", 16);
        put_u32(rf + 16, 28);
        const uint64_t frames = 1000000000000ULL, bytes = 2 * frames;
        for (int k = 0; k < 8; k++) {
            rf[20 + k] = (uint8_t)((bytes + 72) >> (8 * k)); /* RIFF size */
            rf[28 + k] = (uint8_t)(bytes >> (8 * k));        /* data size */
            rf[36 + k] = (uint8_t)(frames >> (8 * k));       /* sample count */
        }
        memcpy(rf + 48, "fmt ", 4);
        put_u32(rf + 52, 16);
        put_u16(rf + 56, 1);
        put_u16(rf + 58, 1);
        put_u32(rf + 60, 16000);
        put_u32(rf + 64, 32000);
        put_u16(rf + 68, 2);
        put_u16(rf + 70, 16);
        memcpy(rf + 72, "data\xff\xff\xff\xff", 8);
        memcpy(rf + 80, x, (size_t)n * 2);
        expect_refused("huge_rf64.wav", rf, 80 + (size_t)n * 2, MMRT_ERR_BAD_FORMAT, "truncated");
        free(rf);
    }

    /* Cut in the middle of the data. */
    w = make_wav(1, 1, 16000, 16, x, (uint32_t)(n * 2), (uint32_t)(n * 2), &nw);
    expect_refused("truncated.wav", w, nw / 2, MMRT_ERR_BAD_FORMAT, "truncated");
    /* Cut inside the header. */
    expect_refused("cut_header.wav", w, 30, MMRT_ERR_BAD_FORMAT, "cut_header.wav");
    free(w);

    /* A FLAC stream cut at a third: the decoder loses sync. (A cut OGG Vorbis file is refused
     * too, but Debian's libsndfile 1.2.0 leaks libvorbis's setup on that path:
     * tests/fuzz/lsan.supp.
     * A cut MP3 decodes to the frames that are there.) */
    size_t n_flac;
    char *flac = tmpdir_read(AUDIO_DIR "/speech_b_22k.flac", &n_flac);
    expect_refused("cut.flac", flac, n_flac / 3, MMRT_ERR_BAD_FORMAT, "truncated");
    free(flac);

    /* A valid header with no samples. */
    w = make_wav(1, 1, 16000, 16, x, 0, 0, &nw);
    expect_refused("no_samples.wav", w, nw, MMRT_ERR_BAD_FORMAT, "no_samples.wav");
    free(w);
    free(x);
}

Test(audio, non_finite_samples) {
    const int64_t n = 10000;
    float *x = stereo_tone(n / 2, 16000);
    size_t nw;
    x[6001] = NAN;
    uint8_t *w = make_wav(3, 2, 16000, 32, x, (uint32_t)(n * 4), (uint32_t)(n * 4), &nw);
    expect_refused("nan.wav", w, nw, MMRT_ERR_BAD_FORMAT, "sample 3000 of channel 1");
    free(w);
    x[6001] = 0;
    x[8000] = -INFINITY;
    w = make_wav(3, 2, 16000, 32, x, (uint32_t)(n * 4), (uint32_t)(n * 4), &nw);
    expect_refused("inf.wav", w, nw, MMRT_ERR_BAD_FORMAT, "infinite");
    free(w);
    x[8000] = 3e38f; /* finite, but it would overflow the resampler into infinities */
    w = make_wav(3, 2, 16000, 32, x, (uint32_t)(n * 4), (uint32_t)(n * 4), &nw);
    expect_refused("huge.wav", w, nw, MMRT_ERR_BAD_FORMAT, "beyond");
    free(w);
    x[8000] = -INFINITY;
    mmrt_error err = {0};
    mmrt_audio a;
    cr_assert_eq(mmrt_audio_from_samples(x, n / 2, 2, 16000, "buffer", NULL, &a, &err),
                 MMRT_ERR_BAD_FORMAT);
    cr_assert(strstr(err.msg, "buffer") && strstr(err.msg, "infinite"), "%s", err.msg);
    x[8000] = 32767.0f; /* integer-scaled float samples pass */
    cr_assert_eq(mmrt_audio_from_samples(x, n / 2, 2, 16000, "scaled", NULL, &a, &err), MMRT_OK,
                 "%s", err.msg);
    mmrt_audio_free(&a);
    free(x);
}

Test(audio, limits) {
    mmrt_error err = {0};
    mmrt_audio a;
    float x[64] = {0};
    /* 10^12 frames are refused from the stated length, before a sample is read. */
    cr_assert_eq(mmrt_audio_from_samples(x, 1000000000000LL, 1, 16000, "huge", NULL, &a, &err),
                 MMRT_ERR_UNSUPPORTED);
    cr_assert(strstr(err.msg, "huge") && strstr(err.msg, "max_seconds"), "%s", err.msg);
    cr_assert_eq(mmrt_audio_from_samples(x, 0, 1, 16000, "nothing", NULL, &a, &err),
                 MMRT_ERR_BAD_FORMAT);
    cr_assert(strstr(err.msg, "no samples"), "%s", err.msg);
    cr_assert_eq(mmrt_audio_from_samples(x, 64, 0, 16000, "c0", NULL, &a, &err),
                 MMRT_ERR_INVALID_ARG);
    cr_assert_eq(mmrt_audio_from_samples(x, 64, 1, 100, "slow", NULL, &a, &err),
                 MMRT_ERR_UNSUPPORTED);
    cr_assert_eq(mmrt_audio_from_samples(x, 32, 2, 400000, "fast", NULL, &a, &err),
                 MMRT_ERR_UNSUPPORTED);

    /* One frame at 44.1 kHz resamples to no sample at all. */
    cr_assert_eq(mmrt_audio_from_samples(x, 1, 1, 44100, "blip", NULL, &a, &err),
                 MMRT_ERR_BAD_FORMAT);
    cr_assert(strstr(err.msg, "blip") && strstr(err.msg, "too short"), "%s", err.msg);
    cr_assert(a.samples == NULL && a.n_samples == 0);

    /* A 1 s file against a 0.5 s limit: refused from the header. */
    mmrt_audio_limits lim = {.max_seconds = 0.5};
    cr_assert_eq(mmrt_audio_load_file(AUDIO_DIR "/speech_a_16k_pcm16.wav", &lim, &a, &err),
                 MMRT_ERR_UNSUPPORTED);
    cr_assert(strstr(err.msg, "speech_a_16k_pcm16.wav") && strstr(err.msg, "max_seconds"), "%s",
              err.msg);
    lim.max_seconds = 1.5;
    cr_assert_eq(mmrt_audio_load_file(AUDIO_DIR "/speech_a_16k_pcm16.wav", &lim, &a, &err),
                 MMRT_OK, "%s", err.msg);
    mmrt_audio_free(&a);
    mmrt_audio_free(NULL);
    mmrt_audio_reader_free(NULL);
}
