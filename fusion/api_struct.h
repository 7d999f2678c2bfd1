/* The public structs that can grow (include/mmrt.h, "Compatibility"): each begins with
 * `size_t size`, the sizeof the caller was compiled with. The library reads and writes only that
 * many bytes of the caller's copy and works on a full-size copy of its own. */
#ifndef MMRT_FUSION_API_STRUCT_H
#define MMRT_FUSION_API_STRUCT_H

#include "core/error.h"

#include <stddef.h>

/* Largest size accepted: a bigger one is an uninitialised struct, not a newer caller. */
#define MMRT_API_STRUCT_MAX_SIZE 65536

/* Fills the first `size` bytes of the caller's struct from `defaults` (full bytes, whose size
 * field is ignored) and sets its size field. */
void mmrt_api_struct_init(void *caller, size_t size, const void *defaults, size_t full);

/* *local (full bytes) = defaults, overwritten by the caller's first min(caller->size, full)
 * bytes; local's size field then says full. caller NULL leaves the defaults. A caller size below
 * sizeof(size_t) or above MMRT_API_STRUCT_MAX_SIZE is MMRT_ERR_INVALID_ARG naming `what`. */
mmrt_status mmrt_api_struct_in(void *local, const void *defaults, size_t full, const void *caller,
                               const char *what, mmrt_error *err);

/* Checks the size field of a struct the library will fill (result, info), as mmrt_api_struct_in. */
mmrt_status mmrt_api_struct_check(const void *caller, const char *what, mmrt_error *err);

/* Copies the first min(caller->size, full) bytes of local (full bytes) to the caller's struct,
 * keeping its size field. */
void mmrt_api_struct_out(void *caller, const void *local, size_t full);

#endif
