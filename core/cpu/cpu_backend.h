/* Creating the CPU backend (called by the registry only). */
#ifndef MMRT_CORE_CPU_BACKEND_H
#define MMRT_CORE_CPU_BACKEND_H

#include "core/backend.h"

/* n_threads <= 0: one per core. use_ref: run the naive _ref ops (oracle). */
mmrt_status mmrt_cpu_backend_init(int n_threads, bool use_ref, mmrt_backend **out, mmrt_error *err);

#endif
