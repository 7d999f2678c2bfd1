/* The streaming reader: input frames from a source (audio_decode.c), mixed to mono by their mean,
 * resampled to 16 kHz by libsoxr at SOXR_HQ as python-soxr's soxr.resample() does, handed out in
 * whatever amounts the caller asks for; and the load-all helpers on top of it.
 *
 * Memory is bounded by the block sizes: one block of input frames (IN_BLOCK x channels floats),
 * its mono mix, soxr's own state (its filter and a few blocks of history) and one block of output
 * (at most IN_BLOCK x 16000 / MMRT_AUDIO_MIN_RATE samples plus soxr's slack).
 *
 * soxr's output does not depend on how its input is split into calls (it buffers internally and
 * runs the same filter over the same samples), so reading in any chunk sizes gives exactly the
 * samples python-soxr's one-call resample gives from the whole signal.
 */
#include "audio/audio_source.h"

#include <soxr.h>
#include <stdlib.h>
#include <string.h>

enum { IN_BLOCK = 4096 };

struct mmrt_audio_reader {
    mmrt_audio_source src; /* first: its address is libsndfile's virtual-I/O user pointer */
    soxr_t soxr;
    float *in;     /* (IN_BLOCK, channels) */
    float *mono;   /* (IN_BLOCK,) */
    int64_t mono_n, mono_off;
    float *out;    /* (out_cap,) resampled, not yet handed out */
    int64_t out_cap, out_n, out_off;
    int64_t n_out; /* samples handed out so far */
    bool eof, done;
    mmrt_status failed;
    mmrt_error failure;
};

int32_t mmrt_audio_reader_in_rate(const mmrt_audio_reader *r) { return r->src.rate; }
int32_t mmrt_audio_reader_in_channels(const mmrt_audio_reader *r) { return r->src.channels; }

int64_t mmrt_audio_reader_n_samples_hint(const mmrt_audio_reader *r) {
    if (r->src.n_frames < 0) return -1;
    return (int64_t)((double)r->src.n_frames * MMRT_AUDIO_SAMPLE_RATE / r->src.rate + 0.5);
}

void mmrt_audio_reader_free(mmrt_audio_reader *r) {
    if (!r) return;
    mmrt_audio_source_close(&r->src);
    if (r->soxr) soxr_delete(r->soxr);
    free(r->in);
    free(r->mono);
    free(r->out);
    free(r);
}

/* The resampler and buffers for an opened source; frees the source on failure. */
static mmrt_status reader_start(mmrt_audio_reader *r, mmrt_audio_reader **out, mmrt_error *err) {
    mmrt_audio_source *s = &r->src;
    r->out_cap = IN_BLOCK * (int64_t)MMRT_AUDIO_SAMPLE_RATE / s->rate + 1024;
    size_t n_in = (size_t)IN_BLOCK * (size_t)s->channels * sizeof(float);
    r->in = malloc(n_in);
    r->mono = malloc(IN_BLOCK * sizeof(float));
    r->out = malloc((size_t)r->out_cap * sizeof(float));
    if (!r->in || !r->mono || !r->out) {
        mmrt_status st = mmrt_error_oom(err, n_in + (size_t)r->out_cap * sizeof(float), s->name);
        mmrt_audio_reader_free(r);
        return st;
    }
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1);
    soxr_error_t e = NULL;
    r->soxr = soxr_create(s->rate, MMRT_AUDIO_SAMPLE_RATE, 1, &e, &io, &q, &rt);
    if (!r->soxr || e) {
        mmrt_status st = mmrt_error_set(err, MMRT_ERR_INTERNAL, "%s: soxr_create(%d -> %d Hz): %s",
                                        s->name, (int)s->rate, MMRT_AUDIO_SAMPLE_RATE,
                                        e ? e : "failed");
        mmrt_audio_reader_free(r);
        return st;
    }
    *out = r;
    return MMRT_OK;
}

static mmrt_audio_reader *reader_alloc(mmrt_audio_reader **out, mmrt_error *err) {
    *out = NULL;
    mmrt_audio_reader *r = calloc(1, sizeof *r);
    if (!r) mmrt_error_oom(err, sizeof *r, "an audio reader");
    return r;
}

mmrt_status mmrt_audio_reader_open_file(const char *path, const mmrt_audio_limits *lim,
                                        mmrt_audio_reader **out, mmrt_error *err) {
    mmrt_audio_reader *r = reader_alloc(out, err);
    if (!r) return MMRT_ERR_OOM;
    mmrt_status st = mmrt_audio_source_open_file(&r->src, path, lim, err);
    if (st != MMRT_OK) {
        free(r);
        return st;
    }
    return reader_start(r, out, err);
}

mmrt_status mmrt_audio_reader_open_memory(const void *bytes, size_t n, const char *name,
                                          const mmrt_audio_limits *lim, mmrt_audio_reader **out,
                                          mmrt_error *err) {
    mmrt_audio_reader *r = reader_alloc(out, err);
    if (!r) return MMRT_ERR_OOM;
    mmrt_status st = mmrt_audio_source_open_memory(&r->src, bytes, n, name, lim, err);
    if (st != MMRT_OK) {
        free(r);
        return st;
    }
    return reader_start(r, out, err);
}

mmrt_status mmrt_audio_reader_open_samples(const float *samples, int64_t n_frames,
                                           int32_t channels, int32_t rate, const char *name,
                                           const mmrt_audio_limits *lim, mmrt_audio_reader **out,
                                           mmrt_error *err) {
    mmrt_audio_reader *r = reader_alloc(out, err);
    if (!r) return MMRT_ERR_OOM;
    mmrt_status st = mmrt_audio_source_open_samples(&r->src, samples, n_frames, channels, rate,
                                                    name, lim, err);
    if (st != MMRT_OK) {
        free(r);
        return st;
    }
    return reader_start(r, out, err);
}

/* The next block of input, mixed to mono: sum the channels, then divide, as numpy's
 * x.mean(axis=1) does for a handful of float32 channels. */
static mmrt_status read_mono(mmrt_audio_reader *r, mmrt_error *err) {
    int64_t n;
    MMRT_TRY(mmrt_audio_source_read(&r->src, r->in, IN_BLOCK, &n, err));
    int32_t c = r->src.channels;
    for (int64_t i = 0; i < n; i++) {
        float acc = r->in[i * c];
        for (int32_t k = 1; k < c; k++) acc += r->in[i * c + k];
        r->mono[i] = c == 1 ? acc : acc / (float)c;
    }
    r->mono_n = n;
    r->mono_off = 0;
    if (n == 0) r->eof = true;
    return MMRT_OK;
}

/* Refills r->out with the next resampled block; sets r->done when soxr has flushed everything. */
static mmrt_status resample_block(mmrt_audio_reader *r, mmrt_error *err) {
    if (r->mono_off == r->mono_n && !r->eof) MMRT_TRY(read_mono(r, err));
    size_t idone = 0, odone = 0;
    soxr_error_t e;
    if (r->mono_off < r->mono_n) {
        e = soxr_process(r->soxr, r->mono + r->mono_off, (size_t)(r->mono_n - r->mono_off), &idone,
                         r->out, (size_t)r->out_cap, &odone);
        r->mono_off += (int64_t)idone;
    } else {
        /* End of input: a NULL input tells soxr to flush its filter tail. */
        e = soxr_process(r->soxr, NULL, 0, NULL, r->out, (size_t)r->out_cap, &odone);
        if (odone == 0) r->done = true;
    }
    if (e)
        return mmrt_error_set(err, MMRT_ERR_INTERNAL, "%s: soxr_process: %s", r->src.name, e);
    r->out_n = (int64_t)odone;
    r->out_off = 0;
    return MMRT_OK;
}

mmrt_status mmrt_audio_reader_read(mmrt_audio_reader *r, float *out, int64_t cap, int64_t *n,
                                   mmrt_error *err) {
    *n = 0;
    if (!r || (!out && cap > 0) || cap < 0)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "audio reader: NULL reader or output");
    if (r->failed != MMRT_OK) {
        if (err) *err = r->failure;
        return r->failed;
    }
    int64_t got = 0;
    while (got < cap) {
        if (r->out_off < r->out_n) {
            int64_t k = r->out_n - r->out_off < cap - got ? r->out_n - r->out_off : cap - got;
            memcpy(out + got, r->out + r->out_off, (size_t)k * sizeof *out);
            r->out_off += k;
            got += k;
            continue;
        }
        if (r->done) break;
        mmrt_status st = resample_block(r, &r->failure);
        /* A few input frames can resample to nothing (one frame at 44.1 kHz is 0.36 samples):
         * no caller can use an empty clip, so it is refused like an empty file. */
        if (st == MMRT_OK && r->done && r->n_out + got == 0)
            st = mmrt_error_set(&r->failure, MMRT_ERR_BAD_FORMAT,
                                "%s: too short: %lld frames at %d Hz give no sample at %d Hz",
                                r->src.name, (long long)r->src.done, (int)r->src.rate,
                                MMRT_AUDIO_SAMPLE_RATE);
        if (st != MMRT_OK) {
            r->failed = st;
            if (err) *err = r->failure;
            return st;
        }
    }
    r->n_out += got;
    *n = got;
    return MMRT_OK;
}

/* ---- whole clips ---------------------------------------------------------------------------- */

void mmrt_audio_free(mmrt_audio *a) {
    if (!a) return;
    free(a->samples);
    *a = (mmrt_audio){0};
}

/* Reads r to the end into *out and frees r. */
static mmrt_status load_all(mmrt_audio_reader *r, mmrt_audio *out, mmrt_error *err) {
    int64_t hint = mmrt_audio_reader_n_samples_hint(r);
    int64_t cap = hint > 0 && hint < ((int64_t)1 << 28) ? hint + 64 : 1 << 16, n = 0;
    float *buf = malloc((size_t)cap * sizeof *buf);
    mmrt_status st = buf ? MMRT_OK : mmrt_error_oom(err, (size_t)cap * sizeof *buf, r->src.name);
    while (st == MMRT_OK) {
        if (n == cap) {
            size_t bytes = (size_t)cap * 2 * sizeof *buf;
            float *grown = realloc(buf, bytes);
            if (!grown) {
                st = mmrt_error_oom(err, bytes, r->src.name);
                break;
            }
            buf = grown;
            cap *= 2;
        }
        int64_t got;
        st = mmrt_audio_reader_read(r, buf + n, cap - n, &got, err);
        if (st == MMRT_OK && got == 0) break;
        n += got;
    }
    if (st == MMRT_OK)
        *out = (mmrt_audio){.samples = buf, .n_samples = n, .in_rate = r->src.rate,
                            .in_channels = r->src.channels};
    else
        free(buf);
    mmrt_audio_reader_free(r);
    return st;
}

mmrt_status mmrt_audio_load_file(const char *path, const mmrt_audio_limits *lim, mmrt_audio *out,
                                 mmrt_error *err) {
    *out = (mmrt_audio){0};
    mmrt_audio_reader *r;
    MMRT_TRY(mmrt_audio_reader_open_file(path, lim, &r, err));
    return load_all(r, out, err);
}

mmrt_status mmrt_audio_load_memory(const void *bytes, size_t n, const char *name,
                                   const mmrt_audio_limits *lim, mmrt_audio *out, mmrt_error *err) {
    *out = (mmrt_audio){0};
    mmrt_audio_reader *r;
    MMRT_TRY(mmrt_audio_reader_open_memory(bytes, n, name, lim, &r, err));
    return load_all(r, out, err);
}

mmrt_status mmrt_audio_from_samples(const float *samples, int64_t n_frames, int32_t channels,
                                    int32_t rate, const char *name, const mmrt_audio_limits *lim,
                                    mmrt_audio *out, mmrt_error *err) {
    *out = (mmrt_audio){0};
    mmrt_audio_reader *r;
    MMRT_TRY(mmrt_audio_reader_open_samples(samples, n_frames, channels, rate, name, lim, &r, err));
    return load_all(r, out, err);
}
