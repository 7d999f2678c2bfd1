/* mmrt-bench --caption IMAGE: the whole captioning path through the public API (mmrt.h), as
 * `mmrt caption` runs it — decode + preprocess, ViT + connector per tile, prefill of the prompt
 * with its image tokens, greedy decode — timed per stage over several reps. See bench/README.md. */
#ifndef MMRT_BENCH_CAPTION_H
#define MMRT_BENCH_CAPTION_H

#include <mmrt.h>
#include <stdbool.h>

typedef struct bench_caption_opts {
    const char *model; /* a vision checkpoint with tokenizer (bench/make_smolvlm_256m.py writes one) */
    const char *image;
    int n_threads;
    int reps;          /* timed reps after one warm-up */
    int n_gen;         /* tokens to generate (greedy; fewer if the model ends) */
    bool json;
    const char *device; /* for the report: "cpu" or "cuda" */
    const char *math;   /* for the report: "f32", "tf32", "bf16" or "f16" */
    mmrt_device device_kind; /* mmrt_model_params.device */
    mmrt_math math_kind;     /* mmrt_model_params.math */
} bench_caption_opts;

/* Runs the benchmark and prints the figures; exits on errors. Returns 0. */
int bench_caption_run(const bench_caption_opts *o);

#endif
