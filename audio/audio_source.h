/* Internal: where a reader's input frames come from (audio_decode.c) — a libsndfile handle on a
 * file or on bytes in memory, or a caller's float buffer. audio_reader.c mixes and resamples. */
#ifndef MMRT_AUDIO_AUDIO_SOURCE_H
#define MMRT_AUDIO_AUDIO_SOURCE_H

#include "audio/audio.h"

#include <sndfile.h>
#include <stdbool.h>

typedef struct mmrt_audio_source {
    char name[512];
    SNDFILE *sf;              /* NULL for a float buffer */
    SF_VIRTUAL_IO vio;
    const uint8_t *bytes;     /* memory input */
    sf_count_t n_bytes, pos;
    const float *samples;     /* float-buffer input: (n_frames, channels) */
    int64_t n_frames;         /* frames the header states; -1 when it does not say */
    int64_t done;             /* frames delivered so far */
    int64_t max_frames;       /* the duration limit in input frames */
    int32_t channels, rate;
} mmrt_audio_source;

/* Open and check the header: channels, rate and stated length against the limits. On failure the
 * source holds nothing. name may be NULL ("audio"). */
mmrt_status mmrt_audio_source_open_file(mmrt_audio_source *s, const char *path,
                                        const mmrt_audio_limits *lim, mmrt_error *err);
mmrt_status mmrt_audio_source_open_memory(mmrt_audio_source *s, const void *bytes, size_t n,
                                          const char *name, const mmrt_audio_limits *lim,
                                          mmrt_error *err);
mmrt_status mmrt_audio_source_open_samples(mmrt_audio_source *s, const float *samples,
                                           int64_t n_frames, int32_t channels, int32_t rate,
                                           const char *name, const mmrt_audio_limits *lim,
                                           mmrt_error *err);

/* Reads up to max_frames frames into buf (max_frames * channels floats); *n = 0 at the end.
 * Fails on NaN/Inf samples, decoder errors, truncation, passing the duration limit, and on an
 * input with no frames at all. */
mmrt_status mmrt_audio_source_read(mmrt_audio_source *s, float *buf, int64_t max_frames,
                                   int64_t *n, mmrt_error *err);

void mmrt_audio_source_close(mmrt_audio_source *s);

#endif
