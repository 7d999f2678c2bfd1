/* Audio input: files or encoded bytes decoded by libsndfile (WAV PCM 8/16/24/32-bit, float,
 * mu-law, A-law; FLAC; OGG Vorbis and Opus; MP3), or a caller's float samples, mixed to mono and
 * resampled to 16 kHz, as float samples equal (within 1e-5) to what this Python pipeline gives:
 *
 *     x, rate = soundfile.read(path, dtype="float32", always_2d=True)
 *     y = soxr.resample(x.mean(axis=1), rate, 16000)        # python-soxr, quality "HQ"
 *
 * Channels are mixed by their mean; resampling is libsoxr at SOXR_HQ (20-bit, linear phase), the
 * resampler python-soxr and librosa use, run even at 16 kHz (soxr's filter is then the identity
 * only up to its passband, as in Python).
 *
 * Streaming: a reader decodes, mixes and resamples a bounded block at a time (a few hundred KiB
 * whatever the file's length), so a multi-hour file never sits in memory; mmrt_audio_load_* are
 * the convenience for short clips. A reader's output equals the load-all output exactly.
 *
 * The container is sniffed by libsndfile from the bytes, never the file name. Every failure
 * returns a status and a message naming the file (or the name given for memory input) and the
 * problem: MMRT_ERR_IO (missing, unreadable, empty file); MMRT_ERR_BAD_FORMAT (not audio, corrupt
 * or truncated data, a data size past the end of the file, 0 channels, no samples or too few to
 * give one at 16 kHz, a NaN, infinite or huge (MMRT_AUDIO_MAX_ABS_SAMPLE) sample, a rate <= 0);
 * MMRT_ERR_UNSUPPORTED (a rate outside [MMRT_AUDIO_MIN_RATE, MMRT_AUDIO_MAX_RATE], more than
 * MMRT_AUDIO_MAX_CHANNELS channels, longer than limits->max_seconds: refused from the header
 * before decoding when it states the length, else once decoding passes the limit); MMRT_ERR_OOM.
 * Nothing is leaked on failure and outputs are zeroed. Functions on different readers may run on
 * different threads at once; one reader is used by one thread at a time.
 */
#ifndef MMRT_AUDIO_AUDIO_H
#define MMRT_AUDIO_AUDIO_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

#define MMRT_AUDIO_SAMPLE_RATE 16000 /* every output is mono at this rate */
#define MMRT_AUDIO_MIN_RATE 1000
#define MMRT_AUDIO_MAX_RATE 384000
#define MMRT_AUDIO_MAX_CHANNELS 64
#define MMRT_AUDIO_DEFAULT_MAX_SECONDS (4.0 * 3600.0)
/* Decoded samples are nominally within +-1; float files beyond this magnitude are refused (their
 * sums would overflow the resampler). Integer-scaled float files (+-32768) pass. */
#define MMRT_AUDIO_MAX_ABS_SAMPLE 1.0e6f
/* Largest encoded file or byte buffer accepted (bytes). */
#define MMRT_AUDIO_MAX_FILE_BYTES ((int64_t)1 << 34)

typedef struct mmrt_audio_limits {
    double max_seconds; /* input longer than this is refused (from the header when it says) */
} mmrt_audio_limits;

/* max_seconds = MMRT_AUDIO_DEFAULT_MAX_SECONDS. */
mmrt_audio_limits mmrt_audio_default_limits(void);

typedef struct mmrt_audio {
    float *samples;    /* (n_samples,) mono at MMRT_AUDIO_SAMPLE_RATE, malloc'd */
    int64_t n_samples;
    int32_t in_rate;     /* the input's rate and channel count, for messages and metadata */
    int32_t in_channels;
} mmrt_audio;

/* ---- streaming ------------------------------------------------------------------------------ */

typedef struct mmrt_audio_reader mmrt_audio_reader;

/* Opens path for streaming. lim may be NULL (defaults). The header is checked here (channels,
 * rate, stated length); the samples are checked as they are read. */
mmrt_status mmrt_audio_reader_open_file(const char *path, const mmrt_audio_limits *lim,
                                        mmrt_audio_reader **out, mmrt_error *err);

/* Opens n encoded bytes; name labels messages (NULL reads as "audio"). The bytes are not copied:
 * they must stay valid and unchanged until mmrt_audio_reader_free. */
mmrt_status mmrt_audio_reader_open_memory(const void *bytes, size_t n, const char *name,
                                          const mmrt_audio_limits *lim, mmrt_audio_reader **out,
                                          mmrt_error *err);

/* Opens a caller's samples: n_frames frames of `channels` interleaved floats (nominally in
 * [-1, 1]) at `rate` Hz. Not copied: valid until mmrt_audio_reader_free. n_frames = 0 is
 * MMRT_ERR_BAD_FORMAT like an empty file; NULL samples or channels < 1 are MMRT_ERR_INVALID_ARG. */
mmrt_status mmrt_audio_reader_open_samples(const float *samples, int64_t n_frames,
                                           int32_t channels, int32_t rate, const char *name,
                                           const mmrt_audio_limits *lim, mmrt_audio_reader **out,
                                           mmrt_error *err);

/* Writes up to cap output samples (16 kHz mono) to out and their count to *n; *n = 0 only at the
 * end of the audio. Decodes no more input than it needs for them. After a failure the reader only
 * repeats that failure. */
mmrt_status mmrt_audio_reader_read(mmrt_audio_reader *r, float *out, int64_t cap, int64_t *n,
                                   mmrt_error *err);

/* The input's rate and channel count. */
int32_t mmrt_audio_reader_in_rate(const mmrt_audio_reader *r);
int32_t mmrt_audio_reader_in_channels(const mmrt_audio_reader *r);

/* Output samples the whole input gives when the header states its length, else -1. */
int64_t mmrt_audio_reader_n_samples_hint(const mmrt_audio_reader *r);

/* Closes the input and frees r. NULL is fine. */
void mmrt_audio_reader_free(mmrt_audio_reader *r);

/* ---- whole clips ---------------------------------------------------------------------------- */

/* Decodes the whole file at path into *out. Statuses as above. */
mmrt_status mmrt_audio_load_file(const char *path, const mmrt_audio_limits *lim, mmrt_audio *out,
                                 mmrt_error *err);

/* Decodes n encoded bytes (name as for mmrt_audio_reader_open_memory). */
mmrt_status mmrt_audio_load_memory(const void *bytes, size_t n, const char *name,
                                   const mmrt_audio_limits *lim, mmrt_audio *out, mmrt_error *err);

/* Mixes and resamples a caller's samples (arguments as for mmrt_audio_reader_open_samples). */
mmrt_status mmrt_audio_from_samples(const float *samples, int64_t n_frames, int32_t channels,
                                    int32_t rate, const char *name, const mmrt_audio_limits *lim,
                                    mmrt_audio *out, mmrt_error *err);

/* Frees a->samples and zeroes *a. NULL and zeroed values are fine. */
void mmrt_audio_free(mmrt_audio *a);

#endif
