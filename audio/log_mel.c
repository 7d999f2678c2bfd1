/* Granite Speech log-mel features (audio/log_mel.h): config, tables, the KissFFT path and the
 * float64 direct-DFT oracle. */
#include "audio/log_mel.h"

#include "core/json.h"

#include <kiss_fftr.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct mmrt_log_mel {
    mmrt_log_mel_config cfg;
    float *window; /* (n_fft): Hann of win_length centred, zeros around it */
    /* Mel filter m is nonzero on bins [f_start[m], f_start[m] + f_len[m]); its weights are
     * f_w[f_off[m] ...]. Sparse: each triangle spans a few bins of n_fft/2 + 1. */
    int32_t *f_start, *f_len, *f_off;
    float *f_w;
};

/* ---- config ---------------------------------------------------------------------------------- */

#define LOG_MEL_MAX_N_FFT 65536
#define LOG_MEL_MAX_N_MELS 1024

/* One mel setting: the top-level key (what transformers 5.x reads), else melspec_kwargs[mk_key]
 * (what published files hold), which must then equal transformers' default. */
static mmrt_status get_mel_setting(const cJSON *fe, const cJSON *mk, const char *key,
                                   const char *mk_key, int64_t dflt, int64_t lo, int64_t hi,
                                   int32_t *out, const char *file, mmrt_error *err) {
    int64_t top = 0, nested = 0;
    MMRT_TRY(mmrt_json_get_int(fe, key, false, 0, lo, hi, &top, file, err));
    if (mmrt_json_find(fe, key)) {
        *out = (int32_t)top;
        return MMRT_OK;
    }
    char label[600];
    snprintf(label, sizeof label, "%s: melspec_kwargs", file);
    MMRT_TRY(mmrt_json_get_int(mk, mk_key, false, 0, lo, hi, &nested, label, err));
    if (!mmrt_json_find(mk, mk_key))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                              "%s: missing field \"%s\" (neither at the top level nor in "
                              "melspec_kwargs)",
                              file, key);
    if (nested != dflt)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: melspec_kwargs.%s is %lld, but transformers ignores "
                              "melspec_kwargs when loading and computes with its default %lld; set "
                              "\"%s\" at the top level to say which",
                              file, mk_key, (long long)nested, (long long)dflt, key);
    *out = (int32_t)nested;
    return MMRT_OK;
}

mmrt_status mmrt_log_mel_config_from_json(const cJSON *fe, const char *file,
                                          mmrt_log_mel_config *out, mmrt_error *err) {
    if (!file) file = "preprocessor_config.json";
    if (!cJSON_IsObject(fe))
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: expected a JSON object", file);
    const char *type = NULL;
    MMRT_TRY(mmrt_json_get_string(fe, "feature_extractor_type", false, &type, file, err));
    if (type && strcmp(type, "GraniteSpeechFeatureExtractor") != 0)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: feature_extractor_type \"%s\" is not "
                              "GraniteSpeechFeatureExtractor",
                              file, type);
    const cJSON *mk = NULL;
    MMRT_TRY(mmrt_json_get_object(fe, "melspec_kwargs", false, &mk, file, err));

    /* Defaults: GraniteSpeechFeatureExtractor.__init__ in transformers 5.23. */
    mmrt_log_mel_config c;
    MMRT_TRY(get_mel_setting(fe, mk, "sampling_rate", "sample_rate", 16000, 1000, 1000000,
                             &c.sampling_rate, file, err));
    MMRT_TRY(get_mel_setting(fe, mk, "n_fft", "n_fft", 512, 2, LOG_MEL_MAX_N_FFT, &c.n_fft, file,
                             err));
    MMRT_TRY(get_mel_setting(fe, mk, "win_length", "win_length", 400, 1, c.n_fft, &c.win_length,
                             file, err));
    MMRT_TRY(get_mel_setting(fe, mk, "hop_length", "hop_length", 160, 1, 65536, &c.hop_length,
                             file, err));
    MMRT_TRY(get_mel_setting(fe, mk, "n_mels", "n_mels", 80, 1, LOG_MEL_MAX_N_MELS, &c.n_mels,
                             file, err));
    int64_t v = 0;
    MMRT_TRY(mmrt_json_get_int(fe, "projector_window_size", true, 0, 1, 65536, &v, file, err));
    c.projector_window_size = (int32_t)v;
    MMRT_TRY(mmrt_json_get_int(fe, "projector_downsample_rate", true, 0, 1,
                               c.projector_window_size, &v, file, err));
    c.projector_downsample_rate = (int32_t)v;
    if (c.n_fft % 2)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: n_fft %d is odd; mmrt's FFT (KissFFT's real transform) needs "
                              "an even size",
                              file, (int)c.n_fft);
    *out = c;
    return MMRT_OK;
}

/* The extractor's object in a parsed file: a nested "feature_extractor" / "audio_processor"
 * (processor_config.json, 5.x), else the root itself. */
static const cJSON *nested_extractor(const cJSON *root, const char **which) {
    static const char *const keys[] = {"feature_extractor", "audio_processor"};
    for (int i = 0; i < 2; i++) {
        const cJSON *o = mmrt_json_find(root, keys[i]);
        if (cJSON_IsObject(o)) {
            *which = keys[i];
            return o;
        }
    }
    *which = NULL;
    return root;
}

static mmrt_status load_file(const char *path, bool need_nested, mmrt_log_mel_config *out,
                             bool *found, mmrt_error *err) {
    cJSON *root = NULL;
    MMRT_TRY(mmrt_json_load_file(path, &root, err));
    const char *which = NULL;
    const cJSON *fe = nested_extractor(root, &which);
    mmrt_status st = MMRT_OK;
    *found = !need_nested || which;
    if (*found) {
        char label[700];
        if (which)
            snprintf(label, sizeof label, "%s (%s)", path, which);
        else
            snprintf(label, sizeof label, "%s", path);
        st = mmrt_log_mel_config_from_json(fe, label, out, err);
    }
    cJSON_Delete(root);
    return st;
}

mmrt_status mmrt_log_mel_config_load(const char *path, mmrt_log_mel_config *out, mmrt_error *err) {
    if (!path || !out)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_log_mel_config_load: NULL argument");
    struct stat sb;
    bool found = false;
    if (stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return load_file(path, false, out, &found, err);
    char file[4096];
    snprintf(file, sizeof file, "%s/processor_config.json", path);
    if (access(file, F_OK) == 0) {
        MMRT_TRY(load_file(file, true, out, &found, err));
        if (found) return MMRT_OK;
    }
    snprintf(file, sizeof file, "%s/preprocessor_config.json", path);
    if (access(file, F_OK) != 0)
        return mmrt_error_set(err, MMRT_ERR_IO,
                              "%s: no audio feature-extractor settings (neither "
                              "processor_config.json with \"audio_processor\" nor "
                              "preprocessor_config.json)",
                              path);
    return load_file(file, false, out, &found, err);
}

/* ---- counts ---------------------------------------------------------------------------------- */

int64_t mmrt_log_mel_min_samples(const mmrt_log_mel_config *cfg) { return cfg->n_fft / 2 + 1; }

int64_t mmrt_log_mel_n_rows(const mmrt_log_mel_config *cfg, int64_t n_samples) {
    return n_samples < 0 ? 0 : (1 + n_samples / cfg->hop_length) / 2;
}

int64_t mmrt_log_mel_n_audio_tokens(const mmrt_log_mel_config *cfg, int64_t n_samples) {
    if (n_samples < 0) return -1;
    int64_t mel = n_samples / cfg->hop_length + 1;
    int64_t enc = mel / 2; /* two mel frames per encoder frame; an odd last one is dropped */
    int64_t w = cfg->projector_window_size;
    int64_t blocks = (enc + w - 1) / w; /* the projector pads the last window */
    return blocks * (w / cfg->projector_downsample_rate);
}

/* ---- tables shared by both paths ------------------------------------------------------------- */

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }

/* torchaudio.functional.melscale_fbanks(n_fft/2 + 1, 0, sr/2, n_mels, sr, None, "htk") in
 * float64, transposed: fb[m * n_freqs + k]. */
static double *mel_filters_f64(const mmrt_log_mel_config *c) {
    int n_freqs = c->n_fft / 2 + 1, n_mels = c->n_mels;
    double *fb = malloc(sizeof *fb * (size_t)n_freqs * n_mels);
    double *f_pts = malloc(sizeof *f_pts * (size_t)(n_mels + 2));
    if (!fb || !f_pts) {
        free(fb);
        free(f_pts);
        return NULL;
    }
    double f_max = (double)(c->sampling_rate / 2), m_max = hz_to_mel(f_max);
    for (int i = 0; i < n_mels + 2; i++) {
        double m = m_max * i / (n_mels + 1); /* linspace(mel(0) = 0, mel(f_max), n_mels + 2) */
        f_pts[i] = 700.0 * (pow(10.0, m / 2595.0) - 1.0);
    }
    for (int m = 0; m < n_mels; m++) {
        double lo = f_pts[m], mid = f_pts[m + 1], hi = f_pts[m + 2];
        for (int k = 0; k < n_freqs; k++) {
            double f = f_max * k / (n_freqs - 1); /* linspace(0, sr // 2, n_freqs) */
            double down = (f - lo) / (mid - lo), up = (hi - f) / (hi - mid);
            double w = down < up ? down : up;
            fb[(size_t)m * n_freqs + k] = w > 0.0 ? w : 0.0;
        }
    }
    free(f_pts);
    return fb;
}

/* Periodic Hann of win_length centred in n_fft (torch.stft pads a shorter window). */
static double window_at(const mmrt_log_mel_config *c, int j) {
    int left = (c->n_fft - c->win_length) / 2, i = j - left;
    if (i < 0 || i >= c->win_length) return 0.0;
    return 0.5 - 0.5 * cos(2.0 * M_PI * i / c->win_length);
}

/* Index into the clip of padded position p (p = sample index - n_fft/2 handled by the caller):
 * reflect without repeating the edge sample, valid while n > n_fft/2. */
static int64_t reflect(int64_t i, int64_t n) {
    if (i < 0) return -i;
    if (i >= n) return 2 * (n - 1) - i;
    return i;
}

static mmrt_status check_clip(const mmrt_log_mel_config *c, const float *x, int64_t n,
                              const void *out, mmrt_error *err) {
    if (!x || !out)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "log-mel features: NULL argument");
    if (n < mmrt_log_mel_min_samples(c))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "log-mel features: a clip of %lld samples is shorter than the "
                              "%lld that reflect padding by n_fft/2 = %d needs",
                              (long long)n, (long long)mmrt_log_mel_min_samples(c), c->n_fft / 2);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                                  "log-mel features: sample %lld (%.3f s) is %s", (long long)i,
                                  (double)i / c->sampling_rate, isnan(x[i]) ? "NaN" : "infinite");
    return MMRT_OK;
}

static mmrt_status check_config(const mmrt_log_mel_config *c, mmrt_error *err) {
    if (!c) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "log-mel: NULL config");
    bool ok = c->sampling_rate >= 1000 && c->sampling_rate <= 1000000 && c->n_fft >= 2 &&
              c->n_fft <= LOG_MEL_MAX_N_FFT && c->n_fft % 2 == 0 && c->win_length >= 1 &&
              c->win_length <= c->n_fft && c->hop_length >= 1 && c->hop_length <= 65536 &&
              c->n_mels >= 1 && c->n_mels <= LOG_MEL_MAX_N_MELS && c->projector_window_size >= 1 &&
              c->projector_window_size <= 65536 && c->projector_downsample_rate >= 1 &&
              c->projector_downsample_rate <= c->projector_window_size;
    if (!ok)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "log-mel: bad config (sampling_rate %d, n_fft %d, win_length %d, "
                              "hop_length %d, n_mels %d, projector window %d / downsample %d)",
                              (int)c->sampling_rate, (int)c->n_fft, (int)c->win_length,
                              (int)c->hop_length, (int)c->n_mels, (int)c->projector_window_size,
                              (int)c->projector_downsample_rate);
    return MMRT_OK;
}

/* ---- fast path ------------------------------------------------------------------------------- */

void mmrt_log_mel_free(mmrt_log_mel *m) {
    if (!m) return;
    free(m->window);
    free(m->f_start);
    free(m->f_len);
    free(m->f_off);
    free(m->f_w);
    free(m);
}

const mmrt_log_mel_config *mmrt_log_mel_get_config(const mmrt_log_mel *m) { return &m->cfg; }

mmrt_status mmrt_log_mel_init(const mmrt_log_mel_config *cfg, mmrt_log_mel **out,
                              mmrt_error *err) {
    if (!out) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_log_mel_init: NULL out");
    *out = NULL;
    MMRT_TRY(check_config(cfg, err));
    int n_fft = cfg->n_fft, n_freqs = n_fft / 2 + 1, n_mels = cfg->n_mels;
    mmrt_log_mel *m = calloc(1, sizeof *m);
    double *fb = mel_filters_f64(cfg);
    if (m) {
        m->cfg = *cfg;
        m->window = malloc(sizeof *m->window * (size_t)n_fft);
        m->f_start = malloc(sizeof(int32_t) * (size_t)n_mels);
        m->f_len = malloc(sizeof(int32_t) * (size_t)n_mels);
        m->f_off = malloc(sizeof(int32_t) * (size_t)n_mels);
        m->f_w = malloc(sizeof *m->f_w * (size_t)n_freqs * n_mels); /* an upper bound */
    }
    if (!m || !fb || !m->window || !m->f_start || !m->f_len || !m->f_off || !m->f_w) {
        free(fb);
        mmrt_log_mel_free(m);
        return mmrt_error_oom(err, sizeof(double) * (size_t)n_freqs * n_mels, "mel filters");
    }
    for (int j = 0; j < n_fft; j++) m->window[j] = (float)window_at(cfg, j);
    int32_t off = 0;
    for (int f = 0; f < n_mels; f++) {
        const double *row = fb + (size_t)f * n_freqs;
        int lo = 0, hi = n_freqs;
        while (lo < n_freqs && row[lo] == 0.0) lo++;
        while (hi > lo && row[hi - 1] == 0.0) hi--;
        m->f_start[f] = lo;
        m->f_len[f] = hi - lo; /* 0 for a filter between two bins: its mel is 0, clamped */
        m->f_off[f] = off;
        for (int k = lo; k < hi; k++) m->f_w[off++] = (float)row[k];
    }
    free(fb);
    *out = m;
    return MMRT_OK;
}

mmrt_status mmrt_log_mel_compute(const mmrt_log_mel *m, const float *samples, int64_t n_samples,
                                 float *out, mmrt_error *err) {
    if (!m) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "log-mel features: NULL state");
    const mmrt_log_mel_config *c = &m->cfg;
    MMRT_TRY(check_clip(c, samples, n_samples, out, err));
    const int n_fft = c->n_fft, n_freqs = n_fft / 2 + 1, n_mels = c->n_mels;
    const int left = (n_fft - c->win_length) / 2, win = c->win_length;
    const int64_t n_frames = 1 + n_samples / c->hop_length, n_keep = n_frames & ~(int64_t)1;

    kiss_fftr_cfg plan = kiss_fftr_alloc(n_fft, 0, NULL, NULL);
    float *frame = calloc((size_t)n_fft, sizeof *frame); /* zeros outside the window stay */
    kiss_fft_cpx *spec = malloc(sizeof *spec * (size_t)n_freqs);
    float *power = malloc(sizeof *power * (size_t)n_freqs);
    float *last = malloc(sizeof *last * (size_t)n_mels); /* the odd frame: only for the max */
    mmrt_status st = MMRT_OK;
    if (!plan || !frame || !spec || !power || !last) {
        st = mmrt_error_oom(err, sizeof(float) * (size_t)n_fft * 4, "log-mel FFT scratch");
        goto done;
    }
    float mx = -INFINITY;
    for (int64_t t = 0; t < n_frames; t++) {
        /* Window tap j reads padded position t*hop + j, i.e. clip sample t*hop + j - n_fft/2. */
        int64_t s0 = t * c->hop_length + left - n_fft / 2;
        if (s0 >= 0 && s0 + win <= n_samples) {
            const float *x = samples + s0;
            for (int i = 0; i < win; i++) frame[left + i] = x[i] * m->window[left + i];
        } else {
            for (int i = 0; i < win; i++)
                frame[left + i] = samples[reflect(s0 + i, n_samples)] * m->window[left + i];
        }
        kiss_fftr(plan, frame, spec);
        for (int k = 0; k < n_freqs; k++) power[k] = spec[k].r * spec[k].r + spec[k].i * spec[k].i;
        float *row = t < n_keep ? out + (size_t)t * n_mels : last; // (n_mels)
        for (int f = 0; f < n_mels; f++) {
            const float *w = m->f_w + m->f_off[f], *p = power + m->f_start[f];
            float s = 0.0f;
            for (int k = 0; k < m->f_len[f]; k++) s += w[k] * p[k];
            float v = log10f(s > 1e-10f ? s : 1e-10f);
            row[f] = v;
            if (v > mx) mx = v;
        }
    }
    /* Step 5's floor and scale in float32, as torch.maximum(v, mx - 8).div_(4).add_(1). */
    for (size_t i = 0; i < (size_t)n_keep * n_mels; i++)
        out[i] = (out[i] > mx - 8.0f ? out[i] : mx - 8.0f) / 4.0f + 1.0f;
done:
    kiss_fftr_free(plan);
    free(frame);
    free(spec);
    free(power);
    free(last);
    return st;
}

/* ---- oracle ---------------------------------------------------------------------------------- */

mmrt_status mmrt_log_mel_compute_ref(const mmrt_log_mel_config *cfg, const float *samples,
                                     int64_t n_samples, double *out, mmrt_error *err) {
    MMRT_TRY(check_config(cfg, err));
    MMRT_TRY(check_clip(cfg, samples, n_samples, out, err));
    const int n_fft = cfg->n_fft, n_freqs = n_fft / 2 + 1, n_mels = cfg->n_mels;
    const int64_t n_frames = 1 + n_samples / cfg->hop_length, n_keep = n_frames & ~(int64_t)1;
    double *fb = mel_filters_f64(cfg);
    double *xw = malloc(sizeof *xw * (size_t)n_fft);
    double *cs = malloc(sizeof *cs * (size_t)n_fft), *sn = malloc(sizeof *sn * (size_t)n_fft);
    double *power = malloc(sizeof *power * (size_t)n_freqs);
    double *last = malloc(sizeof *last * (size_t)n_mels);
    mmrt_status st = MMRT_OK;
    if (!fb || !xw || !cs || !sn || !power || !last) {
        st = mmrt_error_oom(err, sizeof(double) * (size_t)n_freqs * n_mels, "log-mel oracle");
        goto done;
    }
    for (int j = 0; j < n_fft; j++) { /* exp(-2 pi i j / n_fft), indexed by (k j) mod n_fft */
        cs[j] = cos(2.0 * M_PI * j / n_fft);
        sn[j] = sin(2.0 * M_PI * j / n_fft);
    }
    double mx = -INFINITY;
    for (int64_t t = 0; t < n_frames; t++) {
        for (int j = 0; j < n_fft; j++) {
            int64_t p = t * cfg->hop_length + j; /* position in the padded clip */
            xw[j] = window_at(cfg, j) * samples[reflect(p - n_fft / 2, n_samples)];
        }
        for (int k = 0; k < n_freqs; k++) {
            double re = 0.0, im = 0.0;
            for (int j = 0; j < n_fft; j++) {
                int r = (int)(((int64_t)k * j) % n_fft);
                re += xw[j] * cs[r];
                im -= xw[j] * sn[r];
            }
            power[k] = re * re + im * im;
        }
        double *row = t < n_keep ? out + (size_t)t * n_mels : last; // (n_mels)
        for (int f = 0; f < n_mels; f++) {
            double s = 0.0;
            for (int k = 0; k < n_freqs; k++) s += fb[(size_t)f * n_freqs + k] * power[k];
            row[f] = log10(s > 1e-10 ? s : 1e-10);
            if (row[f] > mx) mx = row[f];
        }
    }
    for (size_t i = 0; i < (size_t)n_keep * n_mels; i++)
        out[i] = (out[i] > mx - 8.0 ? out[i] : mx - 8.0) / 4.0 + 1.0;
done:
    free(fb);
    free(xw);
    free(cs);
    free(sn);
    free(power);
    free(last);
    return st;
}
