/* Per-op timing for mmrt-bench --profile.
 *
 * Wraps a backend's compute entry so that every op it runs is timed (wall clock around the call;
 * the CPU backend is synchronous, so that is the op's time). Matmuls are grouped by weight shape
 * and labelled with the decoder's tensor names of that shape, with the bandwidth each achieved
 * (weight bytes / time); every other op is grouped by kind. Only ops run while recording is on
 * count, so a rep's prefill can be left out. One profile per process (global state): a benchmark
 * tool, not library code.
 */
#ifndef MMRT_BENCH_OP_PROFILE_H
#define MMRT_BENCH_OP_PROFILE_H

#include "fusion/llama.h"

#include <stdio.h>

/* Replaces be's interface with a timed copy; names the weight shapes of m. */
void op_profile_install(mmrt_backend *be, const mmrt_llm *m);
/* Restores be's own interface. */
void op_profile_remove(mmrt_backend *be);
void op_profile_record(bool on);

/* Per token over n_tokens recorded steps whose wall time was step_s in all: a table to f, or
 * JSON members ("profile_ms_per_token": {...}) without the enclosing braces. */
void op_profile_print_text(FILE *f, int64_t n_tokens, double step_s);
void op_profile_print_json(FILE *f, int64_t n_tokens, double step_s);

#endif
