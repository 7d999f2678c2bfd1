/* The block formats' layouts (core/quant.h): no kernels, no CPU dispatch — the GGUF reader and
 * the fuzz targets link this alone. */
#include "quant.h"

static const mmrt_qtype_info qtypes[MMRT_QTYPE_COUNT] = {
    [MMRT_QTYPE_F32] = {"f32", 1, 4, true},
    [MMRT_QTYPE_F16] = {"f16", 1, 2, true},
    [MMRT_QTYPE_BF16] = {"bf16", 1, 2, true},
    [MMRT_QTYPE_Q4_0] = {"q4_0", 32, 2 + 16, true},
    [MMRT_QTYPE_Q4_1] = {"q4_1", 32, 2 + 2 + 16, true},
    [MMRT_QTYPE_Q5_0] = {"q5_0", 32, 2 + 4 + 16, true},
    [MMRT_QTYPE_Q5_1] = {"q5_1", 32, 2 + 2 + 4 + 16, true},
    [MMRT_QTYPE_Q8_0] = {"q8_0", 32, 2 + 32, true},
    [MMRT_QTYPE_Q8_1] = {"q8_1", 32, 4 + 32, false},
    [MMRT_QTYPE_Q2_K] = {"q2_K", 256, 2 + 2 + 16 + 64, false},
    [MMRT_QTYPE_Q3_K] = {"q3_K", 256, 2 + 12 + 32 + 64, false},
    [MMRT_QTYPE_Q4_K] = {"q4_K", 256, 2 + 2 + 12 + 128, true},
    [MMRT_QTYPE_Q5_K] = {"q5_K", 256, 2 + 2 + 12 + 32 + 128, true},
    [MMRT_QTYPE_Q6_K] = {"q6_K", 256, 128 + 64 + 16 + 2, true},
    [MMRT_QTYPE_Q8_K] = {"q8_K", 256, 4 + 256 + 32, false},
};

const mmrt_qtype_info *mmrt_qtype_get(uint32_t type) {
    if (type >= MMRT_QTYPE_COUNT || !qtypes[type].name) return 0;
    return &qtypes[type];
}

size_t mmrt_qtype_row_bytes(mmrt_qtype t, int64_t k) {
    const mmrt_qtype_info *q = mmrt_qtype_get((uint32_t)t);
    if (!q || k < 0 || k % q->block_size) return 0;
    int64_t blocks = k / q->block_size;
    if (blocks > INT64_MAX / q->block_bytes) return 0;
    return (size_t)(blocks * q->block_bytes);
}
