/* mmrt-bench --audio: Granite Speech's speed per stage on the CPU backend, at a checkpoint's real
 * shapes (bench/make_granite_speech.py writes random-weight ones), against the CPU's measured f32
 * GEMM peak and read bandwidth.
 *
 * The audio (60 s of generated speech-like sound, or --audio-file) is cut into windows as mmrt
 * transcribe cuts it (30 s: [k·w, (k+1)·w) of the 16 kHz samples, each a fresh conversation), and
 * each window runs: log-mel features → conformer → Q-Former projector → prefill of the prompt with
 * its audio rows spliced in → greedy decode of the window's share of the text tokens. No tokenizer
 * is needed: the prompt's text part is token ids. Reported per stage per window and for the whole
 * audio, with the real-time factor (wall / audio seconds), the counted FLOPs of each stage against
 * the f32 GEMM peak, decode's bytes per token against the read bandwidth, peak RSS and the load
 * of other processes; --profile adds where the time goes, op by op. CPU only. See bench/README.md.
 */
#ifndef MMRT_BENCH_AUDIO_H
#define MMRT_BENCH_AUDIO_H

#include "mmrt.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct bench_audio_opts {
    const char *model;      /* granite_speech checkpoint directory */
    const char *audio_file; /* NULL: generated speech-like sound of `seconds` */
    double seconds;         /* length of the generated audio (60) */
    double window_s;        /* transcription window (30, as mmrt transcribe) */
    int64_t n_text_tokens;  /* text tokens produced over the whole audio (150), shared by the windows
                               in proportion to their length */
    int64_t n_prompt_text;  /* text token ids of the prompt around the audio rows per window (20) */
    int n_threads;
    int reps;               /* timed reps of the whole audio after one warm-up window */
    const char *math;  /* "f32" or "bf16" (--math) */
    mmrt_math math_kind;
    bool profile, json;
} bench_audio_opts;

/* Runs the benchmark and prints the figures; exits on errors. Returns 0. */
int bench_audio_run(const bench_audio_opts *o);

#endif
