/* Creating the CPU backend (called by the registry only). */
#ifndef MMRT_CORE_CPU_BACKEND_H
#define MMRT_CORE_CPU_BACKEND_H

#include "core/backend.h"

/* params->n_threads <= 0: one per core; use_ref: run the naive _ref ops (oracle); math: BF16 is
 * the bf16 mode (core/cpu/cpu.h), every other value computes in f32. */
mmrt_status mmrt_cpu_backend_init(const mmrt_backend_params *params, mmrt_backend **out, mmrt_error *err);

#endif
