/* libFuzzer target: audio decoding (audio/audio.h) — libsndfile on bytes in memory (WAV, FLAC,
 * OGG Vorbis/Opus, MP3 and whatever else libsndfile sniffs), the header and sample checks, the
 * channel mix and the soxr resampler — whole and streamed.
 *
 * Input: the bytes, decoded whole (mmrt_audio_load_memory) and through a reader in a chunk size
 * picked by the first byte; every 16th input also from a file. max_seconds is small (20 s) so a
 * hostile header cannot make a run slow or big. On success the output must be finite and the
 * streamed samples must equal the whole decode exactly; the three paths must agree on the status;
 * on failure the status and a message naming the input must be there, and the output zeroed.
 */
#include "fuzz_common.h"

#include "audio/audio.h"

#include <math.h>

#define FUZZ_NAME "fuzz-audio"
#define FUZZ_MAX_SECONDS 20.0

static void check_audio(const mmrt_audio *a) {
    FUZZ_CHECK(a->samples != NULL && a->n_samples > 0);
    FUZZ_CHECK(a->n_samples <= (int64_t)(FUZZ_MAX_SECONDS * MMRT_AUDIO_SAMPLE_RATE) + 64);
    FUZZ_CHECK(a->in_channels >= 1 && a->in_channels <= MMRT_AUDIO_MAX_CHANNELS);
    FUZZ_CHECK(a->in_rate >= MMRT_AUDIO_MIN_RATE && a->in_rate <= MMRT_AUDIO_MAX_RATE);
    for (int64_t i = 0; i < a->n_samples; i++) FUZZ_CHECK(isfinite(a->samples[i]));
}

static void check_failure(mmrt_status st, const mmrt_error *err, const char *name) {
    fuzz_check_error(st, err);
    FUZZ_CHECK(strstr(err->msg, name) != NULL);
    FUZZ_CHECK(st == MMRT_ERR_BAD_FORMAT || st == MMRT_ERR_UNSUPPORTED || st == MMRT_ERR_IO);
}

/* Streams the bytes in chunks of `chunk` samples; returns the final status and checks the samples
 * against the whole decode a (when that succeeded). */
static mmrt_status stream(const uint8_t *data, size_t size, const mmrt_audio_limits *lim,
                          int64_t chunk, const mmrt_audio *a, mmrt_status whole,
                          mmrt_error *err) {
    mmrt_audio_reader *r = NULL;
    mmrt_status st = mmrt_audio_reader_open_memory(data, size, FUZZ_NAME, lim, &r, err);
    if (st != MMRT_OK) {
        FUZZ_CHECK(r == NULL);
        return st;
    }
    float *buf = malloc((size_t)chunk * sizeof *buf);
    FUZZ_CHECK(buf);
    int64_t pos = 0;
    for (;;) {
        int64_t got = -1;
        st = mmrt_audio_reader_read(r, buf, chunk, &got, err);
        if (st != MMRT_OK) {
            FUZZ_CHECK(got == 0);
            break;
        }
        FUZZ_CHECK(got >= 0 && got <= chunk);
        if (got == 0) break;
        if (whole == MMRT_OK) {
            FUZZ_CHECK(pos + got <= a->n_samples);
            FUZZ_CHECK(memcmp(buf, a->samples + pos, (size_t)got * sizeof *buf) == 0);
        }
        pos += got;
    }
    if (st == MMRT_OK && whole == MMRT_OK) FUZZ_CHECK(pos == a->n_samples);
    free(buf);
    mmrt_audio_reader_free(r);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint64_t count;
    static const int64_t chunks[] = {1, 3, 64, 1000, 4097, 1 << 16};
    mmrt_audio_limits lim = {.max_seconds = FUZZ_MAX_SECONDS};
    mmrt_error err = {0};
    mmrt_audio a = {.n_samples = -1};
    mmrt_status st = mmrt_audio_load_memory(data, size, FUZZ_NAME, &lim, &a, &err);
    fuzz_note("mmrt_audio_load_memory", st, &err);
    if (st == MMRT_OK) {
        check_audio(&a);
    } else {
        check_failure(st, &err, FUZZ_NAME);
        FUZZ_CHECK(a.samples == NULL && a.n_samples == 0);
    }

    int64_t chunk = chunks[(size ? data[0] : 0) % (sizeof chunks / sizeof chunks[0])];
    mmrt_error serr = {0};
    mmrt_status sst = stream(data, size, &lim, chunk, &a, st, &serr);
    fuzz_note("mmrt_audio_reader_read", sst, &serr);
    FUZZ_CHECK(sst == st);
    if (sst != MMRT_OK) check_failure(sst, &serr, FUZZ_NAME);

    if (count++ % 16 == 0 && size > 0) {
        char path[8192];
        fuzz_write(path, sizeof path, "input.audio", data, size);
        mmrt_audio f = {0};
        mmrt_error ferr = {0};
        mmrt_status fst = mmrt_audio_load_file(path, &lim, &f, &ferr);
        fuzz_note("mmrt_audio_load_file", fst, &ferr);
        FUZZ_CHECK(fst == st);
        if (fst == MMRT_OK) {
            FUZZ_CHECK(f.n_samples == a.n_samples);
            FUZZ_CHECK(memcmp(f.samples, a.samples, (size_t)f.n_samples * sizeof *f.samples) == 0);
        } else {
            check_failure(fst, &ferr, path);
        }
        mmrt_audio_free(&f);
        fuzz_unlink("input.audio");
    }
    mmrt_audio_free(&a);
    return 0;
}
