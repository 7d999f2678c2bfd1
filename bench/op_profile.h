/* Per-op timing for mmrt-bench --profile.
 *
 * Wraps a backend's compute entry so that every op it runs is timed (wall clock around the call;
 * the CPU backend is synchronous, so that is the op's time). Matmuls are grouped by weight shape
 * and labelled with the names given for that shape, with the bandwidth (weight bytes / time) and
 * the arithmetic rate (2·m·n·k / time) each achieved; attention shows its rate too (QKᵀ and PV,
 * over the visible keys); every other op is grouped by kind. Only ops run while recording is on
 * count, so a rep's prefill can be left out. One profile per process (global state): a benchmark
 * tool, not library code.
 */
#ifndef MMRT_BENCH_OP_PROFILE_H
#define MMRT_BENCH_OP_PROFILE_H

#include "fusion/llama.h"

#include <stdio.h>

/* Replaces be's interface with a timed copy. */
void op_profile_install(mmrt_backend *be);
/* Labels matmuls by a weight of shape (rows, cols) with name (names of one shape are joined). */
void op_profile_name(int64_t rows, int64_t cols, const char *name);
/* op_profile_name for the decoder's weights. */
void op_profile_name_llm(const mmrt_llm *m);
/* Restores be's own interface. */
void op_profile_remove(mmrt_backend *be);
void op_profile_record(bool on);
/* Forgets every time and name recorded so far, so that another phase can be profiled on its own. */
void op_profile_reset(void);

/* Per unit ("token", "tile") over n_units recorded units whose wall time was unit_s in all: a
 * table to f, or JSON members ("profile_ms_per_<unit>": {...}) without the enclosing braces. */
void op_profile_print_text(FILE *f, const char *unit, int64_t n_units, double unit_s);
void op_profile_print_json(FILE *f, const char *unit, int64_t n_units, double unit_s);

#endif
