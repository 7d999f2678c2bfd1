/* Granite Speech log-mel features (audio/log_mel.h) against transformers 5.23 + torchaudio 2.11
 * and a float64 numpy computation of the same formula (tests/fixtures/audio/features, made by
 * tools/fixtures_audio_features.py): the fast path, the float64 oracle, token counts, config files.
 *
 * Tolerances (features are O(1): -1.5 .. 2 here):
 *   - oracle vs numpy f64: 1e-9 absolute. Both are float64 from the definition; they differ only in
 *     summation order (direct DFT vs numpy's FFT), ~1e-13 relative in the power.
 *   - fast path vs f64: 2x transformers' own float32 error on the same signal and config (the
 *     generator measures it; STYLE.md: tolerance = 2x the error of a same-precision
 *     implementation), at least 2e-6. That error is largest (2e-5 to 3e-5) in the deep stop bands
 *     of tones and chirps, where a mel value 1e-7 of the frame's energy carries the float32 FFT's
 *     absolute error (~1e-7 of the energy) as a large relative one, just above the max - 8 floor.
 *   - fast path vs transformers: the sum of both errors against f64, so 3x transformers' error.
 *   - the fast path vs the C oracle: as vs numpy f64. */
#include "audio/log_mel.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "helpers/tmpdir.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIR MMRT_FIXTURES_DIR "/audio/features"

static const char *const SIGNALS[] = {"chirp", "tone", "noise", "silence", "short", "odd", "min"};
#define N_SIGNALS (sizeof SIGNALS / sizeof SIGNALS[0])

typedef struct fixture {
    cJSON *ref;
    mmrt_weights *w;
} fixture;

static fixture open_fixture(void) {
    fixture f = {0};
    mmrt_error err = {0};
    cr_assert_eq(mmrt_json_load_file(DIR "/reference.json", &f.ref, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(mmrt_weights_open(DIR "/features.safetensors", &f.w, &err), MMRT_OK, "%s",
                 err.msg);
    return f;
}

static void close_fixture(fixture *f) {
    cJSON_Delete(f->ref);
    mmrt_weights_free(f->w);
}

static const mmrt_st_tensor *tensor(const fixture *f, const char *fmt, const char *a,
                                    const char *b) {
    char name[128];
    snprintf(name, sizeof name, fmt, a, b);
    const mmrt_st_tensor *t = mmrt_weights_find(f->w, name);
    cr_assert(t && t->dtype == MMRT_F32, "tensor %s missing or not F32", name);
    return t;
}

static double json_num(const cJSON *o, const char *k1, const char *k2, const char *k3) {
    const cJSON *v = mmrt_json_find(mmrt_json_find(mmrt_json_find(o, k1), k2), k3);
    cr_assert(cJSON_IsNumber(v), "reference.json: %s.%s.%s", k1, k2, k3);
    return v->valuedouble;
}

/* max |got - ref| <= tol; prints the first mismatches and the max error. Returns the max error,
 * or -1 when the tolerance is exceeded. */
static double max_err(const char *what, const float *got, const double *ref, size_t n,
                      double tol) {
    double mx = 0.0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= tol) && bad++ < 5)
            fprintf(stderr, "%s: [%zu] expected %.9g, got %.9g\n", what, i, ref[i], got[i]);
        if (e > mx || isnan(e)) mx = e;
    }
    if (bad) fprintf(stderr, "%s: %d values off by more than %g (max %g)\n", what, bad, tol, mx);
    return bad ? -1.0 : mx;
}

static void load_config(const char *name, mmrt_log_mel_config *cfg) {
    mmrt_error err = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/%s", DIR, name);
    cr_assert_eq(mmrt_log_mel_config_load(path, cfg, &err), MMRT_OK, "%s", err.msg);
}

/* Every signal through one config file: fast path and oracle against numpy f64 and transformers. */
static void check_case(const char *case_dir, const char *cfg_name) {
    fixture f = open_fixture();
    mmrt_log_mel_config cfg;
    load_config(case_dir, &cfg);
    mmrt_log_mel *m = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_log_mel_init(&cfg, &m, &err), MMRT_OK, "%s", err.msg);
    double worst_fast = 0.0, worst_ref = 0.0, worst_hf = 0.0;
    for (size_t s = 0; s < N_SIGNALS; s++) {
        const char *sig = SIGNALS[s];
        const mmrt_st_tensor *x = tensor(&f, "samples.%s%s", sig, "");
        const mmrt_st_tensor *hf = tensor(&f, "%s.%s.transformers", cfg_name, sig);
        const mmrt_st_tensor *hi = tensor(&f, "%s.%s.f64_hi", cfg_name, sig);
        const mmrt_st_tensor *lo = tensor(&f, "%s.%s.f64_lo", cfg_name, sig);
        int64_t n = x->shape[0], rows = mmrt_log_mel_n_rows(&cfg, n);
        cr_assert_eq(hf->shape[0], rows, "%s %s rows", case_dir, sig);
        cr_assert_eq(hf->shape[1], 2 * cfg.n_mels);
        size_t nv = (size_t)rows * 2 * cfg.n_mels;
        const cJSON *tok = mmrt_json_find(mmrt_json_find(mmrt_json_find(mmrt_json_find(
                                              f.ref, "signals"), sig), "tokens"), cfg_name);
        cr_assert(cJSON_IsNumber(tok));
        cr_assert_eq(mmrt_log_mel_n_audio_tokens(&cfg, n), (int64_t)tok->valuedouble,
                     "%s %s: audio tokens", case_dir, sig);

        const float *xs = (const float *)x->data;
        double *f64 = malloc(nv * sizeof *f64), *oracle = malloc(nv * sizeof *oracle);
        float *fast = malloc(nv * sizeof *fast);
        cr_assert(f64 && oracle && fast);
        for (size_t i = 0; i < nv; i++)
            f64[i] = (double)((const float *)hi->data)[i] + (double)((const float *)lo->data)[i];
        cr_assert_eq(mmrt_log_mel_compute(m, xs, n, fast, &err), MMRT_OK, "%s", err.msg);
        cr_assert_eq(mmrt_log_mel_compute_ref(&cfg, xs, n, oracle, &err), MMRT_OK, "%s",
                     err.msg);

        double hf_err = json_num(f.ref, "transformers_f32_vs_f64_max_abs", cfg_name, sig);
        double tol = fmax(2.0 * hf_err, 2e-6);
        char what[256];
        /* the oracle against numpy f64 */
        double e_or = 0.0;
        for (size_t i = 0; i < nv; i++) e_or = fmax(e_or, fabs(oracle[i] - f64[i]));
        cr_expect_leq(e_or, 1e-9, "%s %s: oracle vs numpy f64: %g", case_dir, sig, e_or);
        snprintf(what, sizeof what, "%s %s fast vs f64", case_dir, sig);
        double e_fast = max_err(what, fast, f64, nv, tol);
        cr_expect_geq(e_fast, 0.0, "%s (tolerance %g)", what, tol);
        snprintf(what, sizeof what, "%s %s fast vs oracle", case_dir, sig);
        cr_expect_geq(max_err(what, fast, oracle, nv, tol), 0.0, "%s (tolerance %g)", what, tol);
        /* against transformers' float32 output */
        double *hfd = malloc(nv * sizeof *hfd);
        cr_assert(hfd);
        for (size_t i = 0; i < nv; i++) hfd[i] = ((const float *)hf->data)[i];
        snprintf(what, sizeof what, "%s %s fast vs transformers", case_dir, sig);
        double e_hf = max_err(what, fast, hfd, nv, fmax(3.0 * hf_err, 3e-6));
        cr_expect_geq(e_hf, 0.0, "%s", what);
        fprintf(stderr,
                "log_mel %s %-7s: max |err| fast-f64 %.2e (tol %.2e), fast-transformers %.2e, "
                "oracle-f64 %.2e; transformers-f64 %.2e\n",
                case_dir, sig, e_fast, tol, e_hf, e_or, hf_err);
        worst_fast = fmax(worst_fast, e_fast);
        worst_ref = fmax(worst_ref, e_or);
        worst_hf = fmax(worst_hf, e_hf);
        free(hfd);
        free(f64);
        free(oracle);
        free(fast);
    }
    fprintf(stderr, "log_mel %s: worst fast-f64 %.2e, fast-transformers %.2e, oracle-f64 %.2e\n",
            case_dir, worst_fast, worst_hf, worst_ref);
    mmrt_log_mel_free(m);
    close_fixture(&f);
}

Test(log_mel, granite_features) { check_case("granite", "granite"); }
Test(log_mel, granite_5x_layout_features) { check_case("granite-5x", "granite"); }
Test(log_mel, custom_features) { check_case("custom", "custom"); }

/* The three files load to the settings transformers ran with. */
Test(log_mel, config_files) {
    fixture f = open_fixture();
    static const char *const cases[][2] = {
        {"granite", "granite"}, {"granite-5x", "granite"}, {"custom", "custom"}};
    for (int i = 0; i < 3; i++) {
        mmrt_log_mel_config c;
        load_config(cases[i][0], &c);
        const char *k = cases[i][1];
        cr_expect_eq(c.sampling_rate, (int)json_num(f.ref, "configs", k, "sampling_rate"));
        cr_expect_eq(c.n_fft, (int)json_num(f.ref, "configs", k, "n_fft"), "%s", cases[i][0]);
        cr_expect_eq(c.win_length, (int)json_num(f.ref, "configs", k, "win_length"));
        cr_expect_eq(c.hop_length, (int)json_num(f.ref, "configs", k, "hop_length"));
        cr_expect_eq(c.n_mels, (int)json_num(f.ref, "configs", k, "n_mels"));
        cr_expect_eq(c.projector_window_size,
                     (int)json_num(f.ref, "configs", k, "projector_window_size"));
        cr_expect_eq(c.projector_downsample_rate,
                     (int)json_num(f.ref, "configs", k, "projector_downsample_rate"));
    }
    /* A file path reads that file. */
    mmrt_log_mel_config c;
    load_config("granite-5x/processor_config.json", &c);
    cr_expect_eq(c.n_mels, 80);
    close_fixture(&f);
}

/* _get_num_audio_features at every sample count where the count changes, up to 2 hours. */
Test(log_mel, token_counts) {
    fixture f = open_fixture();
    static const char *const cfgs[] = {"granite", "custom"};
    for (int c = 0; c < 2; c++) {
        mmrt_log_mel_config cfg;
        load_config(cfgs[c], &cfg);
        const cJSON *tab = mmrt_json_find(mmrt_json_find(f.ref, "token_counts"), cfgs[c]);
        cr_assert(cJSON_IsArray(tab) && cJSON_GetArraySize(tab) > 50);
        int bad = 0;
        for (int i = 0; i < cJSON_GetArraySize(tab); i++) {
            const cJSON *e = cJSON_GetArrayItem(tab, i);
            int64_t n = (int64_t)cJSON_GetArrayItem(e, 0)->valuedouble;
            int64_t want = (int64_t)cJSON_GetArrayItem(e, 1)->valuedouble;
            int64_t got = mmrt_log_mel_n_audio_tokens(&cfg, n);
            if (got != want && bad++ < 5)
                fprintf(stderr, "%s: %lld samples: expected %lld tokens, got %lld\n", cfgs[c],
                        (long long)n, (long long)want, (long long)got);
        }
        cr_expect_eq(bad, 0, "%s: %d token counts differ", cfgs[c], bad);
    }
    mmrt_log_mel_config g;
    load_config("granite", &g);
    cr_expect_eq(mmrt_log_mel_n_audio_tokens(&g, 30 * 16000), 300); /* 10 tokens per second */
    cr_expect_eq(mmrt_log_mel_n_audio_tokens(&g, -1), -1);
    close_fixture(&f);
}

/* Bad clips: 0 samples and too-short clips (transformers raises for both), NaN and Inf. */
Test(log_mel, bad_clips) {
    mmrt_log_mel_config cfg;
    load_config("granite", &cfg);
    mmrt_log_mel *m = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_log_mel_init(&cfg, &m, &err), MMRT_OK, "%s", err.msg);
    float x[1600], out[10 * 160];
    double outd[10 * 160];
    for (int i = 0; i < 1600; i++) x[i] = sinf(0.05f * i);
    cr_assert_eq(mmrt_log_mel_min_samples(&cfg), 257);
    cr_expect_eq(mmrt_log_mel_compute(m, x, 0, out, &err), MMRT_ERR_INVALID_ARG);
    cr_expect(strstr(err.msg, "0 samples"), "%s", err.msg);
    cr_expect_eq(mmrt_log_mel_compute(m, x, 256, out, &err), MMRT_ERR_INVALID_ARG);
    cr_expect_eq(mmrt_log_mel_compute_ref(&cfg, x, 256, outd, &err), MMRT_ERR_INVALID_ARG);
    cr_expect_eq(mmrt_log_mel_compute(m, x, 257, out, &err), MMRT_OK, "%s", err.msg);
    cr_expect_eq(mmrt_log_mel_compute(m, NULL, 1600, out, &err), MMRT_ERR_INVALID_ARG);
    x[800] = NAN;
    cr_expect_eq(mmrt_log_mel_compute(m, x, 1600, out, &err), MMRT_ERR_INVALID_ARG);
    cr_expect(strstr(err.msg, "sample 800") && strstr(err.msg, "NaN"), "%s", err.msg);
    cr_expect_eq(mmrt_log_mel_compute_ref(&cfg, x, 1600, outd, &err), MMRT_ERR_INVALID_ARG);
    x[800] = -INFINITY;
    cr_expect_eq(mmrt_log_mel_compute(m, x, 1600, out, &err), MMRT_ERR_INVALID_ARG);
    cr_expect(strstr(err.msg, "infinite"), "%s", err.msg);
    mmrt_log_mel_config bad = cfg;
    bad.n_mels = 0;
    mmrt_log_mel *m2 = NULL;
    cr_expect_eq(mmrt_log_mel_init(&bad, &m2, &err), MMRT_ERR_INVALID_ARG);
    cr_expect_null(m2);
    mmrt_log_mel_free(m);
    mmrt_log_mel_free(NULL);
}

/* Each bad preprocessor_config.json: the status, and a message naming the file and the field. */
Test(log_mel, bad_configs) {
#define MK "\"melspec_kwargs\": {\"hop_length\": 160, \"n_fft\": 512, \"n_mels\": 80, " \
           "\"sample_rate\": 16000, \"win_length\": 400}"
#define PROJ "\"projector_window_size\": 15, \"projector_downsample_rate\": 5"
    static const struct {
        const char *json;
        mmrt_status st;
        const char *needle;
    } cases[] = {
        {"{" PROJ ", \"sampling_rate\": 16000}", MMRT_ERR_BAD_FORMAT, "\"n_fft\""},
        {"{" MK ", \"sampling_rate\": 16000, \"projector_downsample_rate\": 5}",
         MMRT_ERR_BAD_FORMAT, "projector_window_size"},
        {"{" MK ", " PROJ ", \"n_mels\": 0}", MMRT_ERR_BAD_FORMAT, "n_mels"},
        {"{" MK ", " PROJ ", \"n_fft\": 511}", MMRT_ERR_UNSUPPORTED, "n_fft 511 is odd"},
        {"{" MK ", " PROJ ", \"n_fft\": 1000000000}", MMRT_ERR_BAD_FORMAT, "n_fft"},
        {"{" MK ", " PROJ ", \"win_length\": 600}", MMRT_ERR_BAD_FORMAT, "win_length"},
        {"{" MK ", " PROJ ", \"hop_length\": -160}", MMRT_ERR_BAD_FORMAT, "hop_length"},
        {"{" MK ", " PROJ ", \"sampling_rate\": \"16k\"}", MMRT_ERR_BAD_FORMAT, "sampling_rate"},
        {"{" MK ", " PROJ ", \"sampling_rate\": 1e12}", MMRT_ERR_BAD_FORMAT, "sampling_rate"},
        {"{\"melspec_kwargs\": {\"hop_length\": 160, \"n_fft\": 512, \"n_mels\": 40, "
         "\"sample_rate\": 16000, \"win_length\": 400}, \"sampling_rate\": 16000, " PROJ "}",
         MMRT_ERR_UNSUPPORTED, "melspec_kwargs.n_mels is 40"},
        {"{" MK ", \"sampling_rate\": 16000, \"projector_window_size\": 15, "
         "\"projector_downsample_rate\": 30}",
         MMRT_ERR_BAD_FORMAT, "projector_downsample_rate"},
        {"{" MK ", \"sampling_rate\": 16000, \"projector_window_size\": 0, "
         "\"projector_downsample_rate\": 1}",
         MMRT_ERR_BAD_FORMAT, "projector_window_size"},
        {"{\"feature_extractor_type\": \"WhisperFeatureExtractor\", " MK ", " PROJ "}",
         MMRT_ERR_UNSUPPORTED, "WhisperFeatureExtractor"},
        {"{\"melspec_kwargs\": 5, " PROJ "}", MMRT_ERR_BAD_FORMAT, "melspec_kwargs"},
        {"[1, 2]", MMRT_ERR_BAD_FORMAT, "object"},
        {"{\"n_fft\": ", MMRT_ERR_BAD_FORMAT, "JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = tmpdir_make("log-mel");
        char *p = tmpdir_write_str(dir, "preprocessor_config.json", cases[i].json);
        mmrt_log_mel_config c;
        mmrt_error err = {0};
        mmrt_status st = mmrt_log_mel_config_load(dir, &c, &err);
        cr_expect_eq(st, cases[i].st, "case %zu (%s): status %d, %s", i, cases[i].json, st,
                     err.msg);
        cr_expect(strstr(err.msg, p) && strstr(err.msg, cases[i].needle),
                  "case %zu: message should name %s and %s: %s", i, p, cases[i].needle, err.msg);
        free(p);
        tmpdir_remove(dir);
    }
    /* The good file, as a control: the cases above fail for their own reason. */
    char *dir = tmpdir_make("log-mel");
    char *p = tmpdir_write_str(dir, "preprocessor_config.json", "{" MK ", " PROJ "}");
    mmrt_log_mel_config c;
    mmrt_error err = {0};
    cr_expect_eq(mmrt_log_mel_config_load(dir, &c, &err), MMRT_OK, "%s", err.msg);
    free(p);
    /* processor_config.json without a nested extractor falls through to preprocessor_config. */
    p = tmpdir_write_str(dir, "processor_config.json", "{\"audio_token\": \"<|audio|>\"}");
    cr_expect_eq(mmrt_log_mel_config_load(dir, &c, &err), MMRT_OK, "%s", err.msg);
    free(p);
    tmpdir_remove(dir);
    dir = tmpdir_make("log-mel");
    cr_expect_eq(mmrt_log_mel_config_load(dir, &c, &err), MMRT_ERR_IO);
    cr_expect(strstr(err.msg, dir), "%s", err.msg);
    tmpdir_remove(dir);
#undef MK
#undef PROJ
}

/* Speed (informational; never asserted): microseconds of work per second of audio. */
Test(log_mel, speed_report) {
    mmrt_log_mel_config cfg;
    load_config("granite", &cfg);
    mmrt_log_mel *m = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_log_mel_init(&cfg, &m, &err), MMRT_OK, "%s", err.msg);
    const int64_t n = 30 * 16000;
    float *x = malloc(n * sizeof *x);
    float *out = malloc((size_t)mmrt_log_mel_n_rows(&cfg, n) * 160 * sizeof *out);
    cr_assert(x && out);
    for (int64_t i = 0; i < n; i++) x[i] = 0.3f * sinf(0.01f * (float)i * (1.0f + 1e-5f * i));
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int r = 0; r < 3; r++)
        cr_assert_eq(mmrt_log_mel_compute(m, x, n, out, &err), MMRT_OK, "%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3) / 3;
    fprintf(stderr, "log_mel speed: 30 s window in %.0f us, %.1f us per second of audio\n", us,
            us / 30);
    free(x);
    free(out);
    mmrt_log_mel_free(m);
}
