/* Granite Speech's log-mel features and audio token count: 16 kHz mono float samples -> the
 * conformer's input_features, equal to transformers 5.23's GraniteSpeechFeatureExtractor
 * (torchaudio 2.11 MelSpectrogram) for one clip.
 *
 * Steps, as the extractor runs them (tests/fixtures/audio/features checks each against
 * transformers and a float64 numpy computation of the same formula):
 *   1. center=True: the clip is reflect-padded by n_fft/2 on each side (no edge repeat), so frame t
 *      is centred on sample t*hop_length and there are n_frames = 1 + n_samples / hop_length.
 *   2. Periodic Hann window of win_length, w[i] = 0.5 - 0.5 cos(2 pi i / win_length), centred in
 *      n_fft with (n_fft - win_length) / 2 zeros on the left (torch.stft's window padding).
 *   3. Power spectrum |rfft(n_fft)|^2 (power 2, not normalised), n_fft/2 + 1 bins.
 *   4. n_mels triangular HTK mel filters (mel = 2595 log10(1 + f/700)) between f_min 0 and f_max =
 *      sampling_rate/2 (integer division), no area norm; bin k is at k * (sampling_rate/2) /
 *      (n_fft/2) Hz (torchaudio.functional.melscale_fbanks). These are torchaudio's fixed
 *      defaults: the extractor does not pass f_min, f_max, window, power, norm or mel_scale.
 *   5. log10(max(mel, 1e-10)); the utterance max M over ALL frames (the odd last one included);
 *      max(v, M - 8) / 4 + 1.
 *   6. An odd last frame is dropped; pairs of frames are concatenated: row r of the output is
 *      [frame 2r || frame 2r + 1], (n_frames / 2, 2 n_mels). Frame-major storage makes this the
 *      same memory as (n_frames_kept, n_mels).
 * The processor expands each <|audio|> to mmrt_log_mel_n_audio_tokens placeholder tokens.
 *
 * Windows: one call is one clip. Its edges are reflect-padded and its max (step 5) is its own, so
 * the features of a window equal transformers' features of that window cut out as a clip, not a
 * slice of the whole recording's features. Long audio is cut into windows (30 s by default) by the
 * caller first, as IBM's tooling does; each window is then computed in memory bounded by its size.
 *
 * FFT: KissFFT (Debian's libkissfft-dev, BSD-3-Clause, float build; FFTW is GPL). Its real
 * transform needs an even n_fft; 512 (Granite) is 256 complex points in radix-4 stages. Sizes with
 * factors 2, 3, 4, 5 are fast; a large prime factor takes KissFFT's generic O(p^2) butterfly.
 *
 * Threads: a mmrt_log_mel is immutable after init; any number of threads may compute with it at
 * once (each call allocates its own FFT plan and scratch).
 */
#ifndef MMRT_AUDIO_LOG_MEL_H
#define MMRT_AUDIO_LOG_MEL_H

#include "core/error.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* The extractor's settings (GraniteSpeechFeatureExtractor.__init__ arguments). */
typedef struct mmrt_log_mel_config {
    int32_t sampling_rate; /* of the input samples, Hz */
    int32_t n_fft, win_length, hop_length, n_mels;
    int32_t projector_window_size;     /* Q-Former window, in encoder frames */
    int32_t projector_downsample_rate; /* queries per window = window / downsample */
} mmrt_log_mel_config;

/* Reads the settings from a feature-extractor JSON object; `file` labels messages. Each of
 * sampling_rate, n_fft, win_length, hop_length, n_mels is read at the top level, else from
 * "melspec_kwargs" (where published checkpoints keep them; its "sample_rate" is sampling_rate).
 * transformers 5.x reads only the top level and otherwise uses its defaults (16000, 512, 400, 160,
 * 80), so a melspec_kwargs value that differs from that default with no top-level field is refused
 * (MMRT_ERR_UNSUPPORTED: transformers would silently compute something else). A setting found in
 * neither place, and a missing projector_window_size / projector_downsample_rate, is
 * MMRT_ERR_BAD_FORMAT "missing field" (every published file has them; mmrt does not guess).
 * Ranges: sampling_rate 1000..1000000; n_fft 2..65536 and even (MMRT_ERR_UNSUPPORTED when odd);
 * win_length 1..n_fft; hop_length 1..65536; n_mels 1..1024; projector_window_size 1..65536;
 * projector_downsample_rate 1..projector_window_size. A feature_extractor_type other than
 * GraniteSpeechFeatureExtractor is MMRT_ERR_UNSUPPORTED. *out is written only on success. */
mmrt_status mmrt_log_mel_config_from_json(const cJSON *fe, const char *file,
                                          mmrt_log_mel_config *out, mmrt_error *err);

/* Reads a model directory in transformers' order: processor_config.json when it nests a
 * "feature_extractor" or "audio_processor" object (the 5.x save layout), else
 * preprocessor_config.json (published checkpoints). A path to a file reads that file (its nested
 * object if it has one). MMRT_ERR_IO when nothing holds the settings; messages name the file. */
mmrt_status mmrt_log_mel_config_load(const char *path, mmrt_log_mel_config *out, mmrt_error *err);

/* The shortest clip: n_fft/2 + 1 samples (torch's reflect pad needs more samples than the pad;
 * transformers raises for shorter ones, and for 0 samples). */
int64_t mmrt_log_mel_min_samples(const mmrt_log_mel_config *cfg);
/* Output rows (stacked frames) for a clip of n_samples: (1 + n_samples / hop_length) / 2. */
int64_t mmrt_log_mel_n_rows(const mmrt_log_mel_config *cfg, int64_t n_samples);
/* The processor's <|audio|> count for a clip (GraniteSpeechFeatureExtractor.
 * _get_num_audio_features): mel = n/hop + 1; enc = mel / 2; blocks = ceil(enc / window);
 * tokens = blocks * (window / downsample). Defined for every n_samples >= 0 (0 -> 0 tokens, though
 * features need mmrt_log_mel_min_samples); -1 for n_samples < 0. */
int64_t mmrt_log_mel_n_audio_tokens(const mmrt_log_mel_config *cfg, int64_t n_samples);

/* The precomputed window and mel filters for one config. */
typedef struct mmrt_log_mel mmrt_log_mel;

/* Checks cfg as mmrt_log_mel_config_from_json does (MMRT_ERR_INVALID_ARG) and builds the tables.
 * Free with mmrt_log_mel_free (NULL is a no-op). */
mmrt_status mmrt_log_mel_init(const mmrt_log_mel_config *cfg, mmrt_log_mel **out,
                              mmrt_error *err);
void mmrt_log_mel_free(mmrt_log_mel *m);
const mmrt_log_mel_config *mmrt_log_mel_get_config(const mmrt_log_mel *m);

/* Features of one clip of n_samples float samples at cfg.sampling_rate into out, which holds
 * mmrt_log_mel_n_rows * 2 * n_mels floats: // (n_rows, 2 n_mels). Float32 arithmetic like
 * transformers. MMRT_ERR_INVALID_ARG for NULL pointers, fewer than mmrt_log_mel_min_samples
 * samples (0 included: transformers raises too), and a NaN or infinite sample (transformers would
 * return all-NaN features: the max is NaN); MMRT_ERR_OOM. */
mmrt_status mmrt_log_mel_compute(const mmrt_log_mel *m, const float *samples, int64_t n_samples,
                                 float *out, mmrt_error *err);

/* The oracle: the same features straight from the definition in float64, a direct DFT (no FFT),
 * dense mel filters, one thread. Slow on purpose (about n_rows * n_fft * win_length operations);
 * tests compare the fast path with it. Same arguments and errors; out is double. */
mmrt_status mmrt_log_mel_compute_ref(const mmrt_log_mel_config *cfg, const float *samples,
                                     int64_t n_samples, double *out, mmrt_error *err);

#endif
