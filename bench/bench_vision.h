/* mmrt-bench --vision: SmolVLM's image side on the CPU backend, against the CPU's GEMM peak.
 *
 * In one run: the f32 (and, where OpenBLAS has sbgemm, bf16) GEMM peak on the benchmark's thread
 * count (bench/gemm_peak.h); the SigLIP encode of random 512x512 tiles through mmrt_siglip_encode
 * (ms per tile, GFLOP/s from the counted FLOPs, % of the f32 peak); and SmolVLM preprocessing of
 * a generated photo-sized RGB image to tiles (ms per image). See bench/README.md.
 */
#ifndef MMRT_BENCH_VISION_H
#define MMRT_BENCH_VISION_H

#include "mmrt.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct bench_vision_opts {
    const char *model; /* checkpoint directory: config.json, processor_config.json, weights */
    int n_threads;
    int reps;          /* timed reps after one warm-up */
    int32_t n_tiles;   /* tiles per encode call */
    int32_t image_w, image_h; /* the generated photo */
    const char *math;  /* "f32" or "bf16" (--math) */
    mmrt_math math_kind;
    bool profile, json;
} bench_vision_opts;

/* Runs the benchmark and prints the figures; exits on errors. Returns 0. */
int bench_vision_run(const bench_vision_opts *o);

#endif
