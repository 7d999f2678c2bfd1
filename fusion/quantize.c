#include "quantize.h"

#include "core/log.h"
#include "core/quant.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const linear_suffixes[] = {
    ".q_proj.weight", ".k_proj.weight",  ".v_proj.weight",    ".o_proj.weight",
    ".gate_proj.weight", ".up_proj.weight", ".down_proj.weight",
};

/* A decoder linear layer: "...layers.N.self_attn.q_proj.weight", "lm_head.weight", ... Media
 * encoders' projections (names under a vision/audio tower) are not. */
static bool is_decoder_linear(const char *name) {
    if (strstr(name, "vision") || strstr(name, "encoder.") || strstr(name, "projector.")) return false;
    if (strcmp(name, "lm_head.weight") == 0 || strcmp(name, "language_model.lm_head.weight") == 0) return true;
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof linear_suffixes / sizeof *linear_suffixes; i++) {
        size_t m = strlen(linear_suffixes[i]);
        if (n > m && strcmp(name + n - m, linear_suffixes[i]) == 0) return true;
    }
    return false;
}

static mmrt_qtype qtype_of(mmrt_dtype t) {
    switch (t) {
    case MMRT_Q8_0: return MMRT_QTYPE_Q8_0;
    case MMRT_Q4_0: return MMRT_QTYPE_Q4_0;
    default: return MMRT_QTYPE_Q4_K;
    }
}

mmrt_status mmrt_quant_type_parse(const char *name, mmrt_dtype *out, mmrt_error *err) {
    static const struct { const char *name; mmrt_dtype t; } types[] = {
        {"q8_0", MMRT_Q8_0}, {"q4_0", MMRT_Q4_0}, {"q4_k", MMRT_Q4_K}};
    for (size_t i = 0; name && i < sizeof types / sizeof *types; i++)
        if (strcasecmp(name, types[i].name) == 0) {
            *out = types[i].t;
            return MMRT_OK;
        }
    return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "unknown quantization \"%s\" (use q8_0, q4_0 or q4_k)",
                          name ? name : "(null)");
}

mmrt_status mmrt_quantize_rows(const char *file, const char *name, mmrt_dtype src_dtype, const void *src, int64_t rows,
                               int64_t k, mmrt_dtype qt, void *dst, int n_threads, mmrt_error *err) {
    size_t src_row = (size_t)k * mmrt_dtype_size(src_dtype), dst_row = mmrt_dtype_row_bytes(qt, k);
    mmrt_status st = MMRT_OK;
#pragma omp parallel num_threads(n_threads > 0 ? n_threads : omp_get_num_procs())
    {
        float *tmp = malloc(sizeof(float) * (size_t)k);
        mmrt_error e = {0};
        mmrt_status mine = tmp ? MMRT_OK : mmrt_error_oom(&e, sizeof(float) * (size_t)k, "quantization row");
#pragma omp for schedule(dynamic, 16)
        for (int64_t r = 0; r < rows; r++) {
            if (mine != MMRT_OK) continue;
            mmrt_to_f32(src_dtype, (const char *)src + (size_t)r * src_row, tmp, k);
            mine = mmrt_quantize_row(qtype_of(qt), tmp, (char *)dst + (size_t)r * dst_row, k, &e);
        }
        free(tmp);
        if (mine != MMRT_OK) {
#pragma omp critical
            if (st == MMRT_OK) st = mmrt_error_set(err, e.status, "%s: %s: %s", file, name, e.msg);
        }
    }
    return st;
}

bool mmrt_quantize_selects(const char *name, mmrt_dtype dtype, int n_dims, int64_t k, mmrt_dtype qt) {
    bool fl = dtype == MMRT_F32 || dtype == MMRT_F16 || dtype == MMRT_BF16;
    if (!fl || n_dims != 2 || !is_decoder_linear(name)) return false;
    if (k % mmrt_dtype_block(qt) == 0) return true;
    MMRT_LOG_I("--quant %s: %s keeps %s (rows of %lld are not a multiple of %lld)", mmrt_dtype_name(qt), name,
               mmrt_dtype_name(dtype), (long long)k, (long long)mmrt_dtype_block(qt));
    return false;
}

/* Adds src's tensor t to w: quantized when it is a decoder linear layer that fits the format. */
static mmrt_status add_one(mmrt_weights *w, const mmrt_st_tensor *t, mmrt_dtype qt, int n_threads, size_t *n_done,
                           mmrt_error *err) {
    if (!mmrt_quantize_selects(t->name, t->dtype, t->n_dims, t->n_dims == 2 ? t->shape[1] : 0, qt))
        return mmrt_weights_add(w, t->name, t->dtype, t->n_dims, t->shape, t->data, t->n_bytes, err);
    int64_t rows = t->shape[0], k = t->shape[1];
    size_t n_bytes = mmrt_dtype_row_bytes(qt, k) * (size_t)rows;
    void *dst = malloc(n_bytes ? n_bytes : 1);
    if (!dst) return mmrt_error_oom(err, n_bytes, t->name);
    MMRT_TRY(mmrt_weights_keep(w, dst, free, err)); /* freed with w from here on */
    MMRT_TRY(mmrt_quantize_rows(t->file, t->name, t->dtype, t->data, rows, k, qt, dst, n_threads, err));
    (*n_done)++;
    return mmrt_weights_add(w, t->name, qt, 2, t->shape, dst, n_bytes, err);
}

static void weights_free(void *p) { mmrt_weights_free(p); }

mmrt_status mmrt_weights_quantize(mmrt_weights *src, mmrt_dtype qtype, int n_threads, mmrt_weights **out,
                                  mmrt_error *err) {
    *out = NULL;
    mmrt_weights *w = NULL;
    mmrt_status st = mmrt_weights_new(mmrt_weights_path(src), &w, err);
    if (st != MMRT_OK) {
        mmrt_weights_free(src);
        return st;
    }
    st = mmrt_weights_keep(w, src, weights_free, err); /* src's mapping outlives the tensors over it */
    size_t n_done = 0;
    for (size_t i = 0; st == MMRT_OK && i < mmrt_weights_count(src); i++)
        st = add_one(w, mmrt_weights_at(src, i), qtype, n_threads, &n_done, err);
    if (st == MMRT_OK) st = mmrt_weights_finish(w, err);
    if (st != MMRT_OK) {
        mmrt_weights_free(w);
        return st;
    }
    MMRT_LOG_I("quantized %zu decoder weights to %s", n_done, mmrt_dtype_name(qtype));
    *out = w;
    return MMRT_OK;
}
