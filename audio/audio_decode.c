/* Audio input sources: libsndfile on a file or on bytes in memory (sf_open_virtual), or a caller's
 * float buffer, with the header and sample checks of audio/audio.h.
 *
 * libsndfile trusts some headers more than the data: a WAV whose data chunk claims more bytes than
 * the file holds is opened with the length cut to the file (and a note in its log), so truncation
 * is detected from that log note as well as from a short read with sf_error set.
 */
#include "audio/audio_source.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

mmrt_audio_limits mmrt_audio_default_limits(void) {
    return (mmrt_audio_limits){.max_seconds = MMRT_AUDIO_DEFAULT_MAX_SECONDS};
}

static void set_name(mmrt_audio_source *s, const char *name) {
    snprintf(s->name, sizeof s->name, "%s", name && *name ? name : "audio");
}

/* Channels, rate and stated length, common to every input. */
static mmrt_status check_header(mmrt_audio_source *s, const mmrt_audio_limits *lim,
                                mmrt_error *err) {
    double max_seconds = lim ? lim->max_seconds : MMRT_AUDIO_DEFAULT_MAX_SECONDS;
    if (s->channels < 1)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: the header says %d channels", s->name,
                              (int)s->channels);
    if (s->channels > MMRT_AUDIO_MAX_CHANNELS)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: %d channels, at most %d are read",
                              s->name, (int)s->channels, MMRT_AUDIO_MAX_CHANNELS);
    if (s->rate <= 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: the header says %d Hz", s->name,
                              (int)s->rate);
    if (s->rate < MMRT_AUDIO_MIN_RATE || s->rate > MMRT_AUDIO_MAX_RATE)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: sample rate %d Hz is outside %d..%d Hz", s->name, (int)s->rate,
                              MMRT_AUDIO_MIN_RATE, MMRT_AUDIO_MAX_RATE);
    if (!(max_seconds > 0))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: limits->max_seconds is %g", s->name,
                              max_seconds);
    double max_frames = max_seconds * s->rate;
    s->max_frames = max_frames >= 9.0e18 ? INT64_MAX : (int64_t)max_frames;
    if (s->n_frames == 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: no samples", s->name);
    if (s->n_frames > s->max_frames)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: %.1f s long (%lld frames at %d Hz), the limit (max_seconds) "
                              "is %.1f s",
                              s->name, (double)s->n_frames / s->rate, (long long)s->n_frames,
                              (int)s->rate, max_seconds);
    return MMRT_OK;
}

/* ---- libsndfile ------------------------------------------------------------------------------ */

static sf_count_t vio_length(void *user) { return ((mmrt_audio_source *)user)->n_bytes; }

static sf_count_t vio_seek(sf_count_t off, int whence, void *user) {
    mmrt_audio_source *s = user;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? s->pos : s->n_bytes;
    /* Positions past the end are allowed (reads there return 0), negative ones are not. */
    if ((off < 0 && -off > base) || (off > 0 && off > INT64_MAX - base)) return -1;
    s->pos = base + off;
    return s->pos;
}

static sf_count_t vio_read(void *ptr, sf_count_t count, void *user) {
    mmrt_audio_source *s = user;
    if (count <= 0 || s->pos >= s->n_bytes) return 0;
    sf_count_t n = s->n_bytes - s->pos < count ? s->n_bytes - s->pos : count;
    memcpy(ptr, s->bytes + s->pos, (size_t)n);
    s->pos += n;
    return n;
}

static sf_count_t vio_write(const void *ptr, sf_count_t count, void *user) {
    (void)ptr;
    (void)count;
    (void)user;
    return 0;
}

static sf_count_t vio_tell(void *user) { return ((mmrt_audio_source *)user)->pos; }

/* True when libsndfile's log says the data chunk claims more bytes than the file holds: a WAV or
 * AIFF "data : 4294967280 (should be 32000)", a W64 "data : N" past the file's "Length : L", an
 * RF64 ds64 count that "does not match" the data. libsndfile then reads what is there; we call it
 * truncated. The size streamed WAVs write while the length is unknown (0xffffffff) is no lie.
 * Container sizes (RIFF, FORM) are often wrong in real files and are not checked. */
static bool log_says_truncated(SNDFILE *sf) {
    char log[8192];
    log[0] = '\0';
    sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log);
    if (strstr(log, "does not match value from 'ds64'")) return true;
    long long length = -1;
    for (const char *line = log; *line;) {
        long long claim, real;
        if (sscanf(line, "Length : %lld", &claim) == 1 && length < 0) length = claim;
        if ((sscanf(line, "data : %lld (should be %lld)", &claim, &real) == 2 ||
             sscanf(line, "SSND : %lld (should be %lld)", &claim, &real) == 2) &&
            claim > real && claim != 0xffffffffLL)
            return true;
        if (sscanf(line, "data : %lld", &claim) == 1 && length >= 0 && claim > length &&
            claim != 0xffffffffLL)
            return true;
        const char *next = strchr(line, '\n');
        if (!next) break;
        line = next + 1;
    }
    return false;
}

/* After sf_open*: the header checks, or the failure with libsndfile's reason. */
static mmrt_status opened(mmrt_audio_source *s, SNDFILE *sf, const SF_INFO *info,
                          const mmrt_audio_limits *lim, mmrt_error *err) {
    if (!sf)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: not a readable audio file (%s)",
                              s->name, sf_strerror(NULL));
    s->sf = sf;
    s->channels = info->channels;
    s->rate = info->samplerate;
    s->n_frames = info->frames >= SF_COUNT_MAX || info->frames < 0 ? -1 : info->frames;
    mmrt_status st = check_header(s, lim, err);
    if (st == MMRT_OK && log_says_truncated(sf))
        st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                            "%s: truncated (the header claims more data than the file holds)",
                            s->name);
    if (st != MMRT_OK) mmrt_audio_source_close(s);
    return st;
}

mmrt_status mmrt_audio_source_open_file(mmrt_audio_source *s, const char *path,
                                        const mmrt_audio_limits *lim, mmrt_error *err) {
    *s = (mmrt_audio_source){0};
    set_name(s, path);
    if (!path) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "audio: path is NULL");
    struct stat st;
    if (stat(path, &st) != 0)
        return mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot open: %s", s->name, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return mmrt_error_set(err, MMRT_ERR_IO, "%s: not a regular file", s->name);
    if (st.st_size == 0) return mmrt_error_set(err, MMRT_ERR_IO, "%s: empty file", s->name);
    if (st.st_size > MMRT_AUDIO_MAX_FILE_BYTES)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: %lld bytes, the limit is %lld",
                              s->name, (long long)st.st_size,
                              (long long)MMRT_AUDIO_MAX_FILE_BYTES);
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    return opened(s, sf, &info, lim, err);
}

mmrt_status mmrt_audio_source_open_memory(mmrt_audio_source *s, const void *bytes, size_t n,
                                          const char *name, const mmrt_audio_limits *lim,
                                          mmrt_error *err) {
    *s = (mmrt_audio_source){0};
    set_name(s, name);
    if (!bytes && n) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: bytes is NULL", s->name);
    if (n == 0) return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: no bytes", s->name);
    if ((uint64_t)n > (uint64_t)MMRT_AUDIO_MAX_FILE_BYTES)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: %zu bytes, the limit is %lld",
                              s->name, n, (long long)MMRT_AUDIO_MAX_FILE_BYTES);
    s->bytes = bytes;
    s->n_bytes = (sf_count_t)n;
    s->vio = (SF_VIRTUAL_IO){.get_filelen = vio_length, .seek = vio_seek, .read = vio_read,
                             .write = vio_write, .tell = vio_tell};
    SF_INFO info = {0};
    /* s lives at a fixed address for the handle's life (inside the reader). */
    SNDFILE *sf = sf_open_virtual(&s->vio, SFM_READ, &info, s);
    return opened(s, sf, &info, lim, err);
}

mmrt_status mmrt_audio_source_open_samples(mmrt_audio_source *s, const float *samples,
                                           int64_t n_frames, int32_t channels, int32_t rate,
                                           const char *name, const mmrt_audio_limits *lim,
                                           mmrt_error *err) {
    *s = (mmrt_audio_source){0};
    set_name(s, name);
    if (n_frames < 0 || (n_frames > 0 && !samples) || channels < 1)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "%s: samples %s, n_frames %lld, channels %d", s->name,
                              samples ? "given" : "NULL", (long long)n_frames, (int)channels);
    s->samples = samples;
    s->n_frames = n_frames;
    s->channels = channels;
    s->rate = rate;
    return check_header(s, lim, err);
}

void mmrt_audio_source_close(mmrt_audio_source *s) {
    if (s->sf) sf_close(s->sf);
    s->sf = NULL;
}

mmrt_status mmrt_audio_source_read(mmrt_audio_source *s, float *buf, int64_t max_frames,
                                   int64_t *n, mmrt_error *err) {
    *n = 0;
    int64_t got;
    if (s->sf) {
        got = sf_readf_float(s->sf, buf, max_frames);
        if (got < 0) got = 0;
        int e = sf_error(s->sf);
        if (got < max_frames && e != SF_ERR_NO_ERROR)
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "%s: corrupt or truncated after %lld frames (%s)", s->name,
                                  (long long)(s->done + got), sf_error_number(e));
    } else {
        got = s->n_frames - s->done < max_frames ? s->n_frames - s->done : max_frames;
        memcpy(buf, s->samples + s->done * s->channels, (size_t)(got * s->channels) * sizeof *buf);
    }
    /* Huge finite values would overflow the resampler's sums into infinities. */
    for (int64_t i = 0; i < got * s->channels; i++) {
        if (!(fabsf(buf[i]) <= MMRT_AUDIO_MAX_ABS_SAMPLE)) {
            int64_t frame = s->done + i / s->channels;
            char what[64];
            if (isnan(buf[i])) snprintf(what, sizeof what, "NaN");
            else if (isinf(buf[i])) snprintf(what, sizeof what, "infinite");
            else snprintf(what, sizeof what, "%g, beyond +-%g", (double)buf[i],
                          (double)MMRT_AUDIO_MAX_ABS_SAMPLE);
            return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                  "%s: sample %lld of channel %d (at %.3f s) is %s", s->name,
                                  (long long)frame, (int)(i % s->channels), (double)frame / s->rate,
                                  what);
        }
    }
    if (got > s->max_frames - s->done)
        return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED,
                              "%s: longer than the limit (max_seconds) of %.1f s", s->name,
                              (double)s->max_frames / s->rate);
    s->done += got;
    if (got == 0 && s->done == 0)
        return mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: no samples", s->name);
    *n = got;
    return MMRT_OK;
}
