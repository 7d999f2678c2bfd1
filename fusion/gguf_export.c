/* Checkpoints written as quantized Llama GGUF files (see gguf_export.h). */
#include "gguf_export.h"

#include "core/fsutil.h"
#include "core/json.h"
#include "core/log.h"
#include "core/quant.h"
#include "core/safetensors.h"
#include "fusion/api_struct.h"
#include "fusion/gguf_model.h"
#include "fusion/quantize.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ARCH "llama"

uint32_t mmrt_gguf_export_file_type(mmrt_dtype qt) {
    switch (qt) {
    case MMRT_Q8_0: return 7;
    case MMRT_Q4_0: return 2;
    default: return 14;
    }
}

/* One export: the writer, the buffers its tensors borrow, the progress count. */
typedef struct exporter {
    mmrt_gguf_writer *w;
    const mmrt_gguf_export_params *p;
    const char *in;
    void **bufs;
    size_t n_bufs, cap_bufs;
    size_t i, n; /* progress: tensors written, in all */
} exporter;

static void exporter_free(exporter *ex) {
    for (size_t i = 0; i < ex->n_bufs; i++) free(ex->bufs[i]);
    free(ex->bufs);
    mmrt_gguf_writer_free(ex->w);
}

/* A buffer of n bytes that lives until the file is written. */
static mmrt_status ex_alloc(exporter *ex, size_t n, void **out, const char *what, mmrt_error *err) {
    if (ex->n_bufs == ex->cap_bufs) {
        size_t cap = ex->cap_bufs ? 2 * ex->cap_bufs : 64;
        void **b = realloc(ex->bufs, cap * sizeof *b);
        if (!b) return mmrt_error_oom(err, cap * sizeof *b, what);
        ex->bufs = b;
        ex->cap_bufs = cap;
    }
    if (!(*out = malloc(n ? n : 1))) return mmrt_error_oom(err, n, what);
    ex->bufs[ex->n_bufs++] = *out;
    return MMRT_OK;
}

/* The rows of a Hugging Face q/k matrix (rows x row_bytes) in the order convert_hf_to_gguf.py
 * permutes them into for ggml's adjacent-pair RoPE: GGUF row h·d + 2i + j = HF row h·d + j·d/2 + i
 * (the inverse of gguf_model.c's unpermute). */
static mmrt_status permute(exporter *ex, const char *name, const void **data, int64_t rows, size_t row_bytes,
                           int64_t n_head, mmrt_error *err) {
    if (n_head <= 0 || rows % (2 * n_head) != 0)
        return mmrt_error_set(err, MMRT_ERR_MODEL, "%s: tensor %s has %lld rows, not a whole number of heads of even "
                              "size for %lld heads", ex->in, name, (long long)rows, (long long)n_head);
    uint8_t *dst;
    MMRT_TRY(ex_alloc(ex, (size_t)rows * row_bytes, (void **)&dst, name, err));
    const uint8_t *src = *data;
    int64_t d = rows / n_head, half = d / 2;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t j = 0; j < 2; j++)
            for (int64_t i = 0; i < half; i++)
                memcpy(dst + (size_t)(h * d + 2 * i + j) * row_bytes, src + (size_t)(h * d + j * half + i) * row_bytes,
                       row_bytes);
    *data = dst;
    return MMRT_OK;
}

/* A tensor to write: GGUF name, the Hugging Face name the quantization rule reads, data. */
typedef struct ex_tensor {
    const char *name, *hf;
    mmrt_dtype dtype;
    int n_dims;
    const int64_t *shape; /* outermost first */
    const void *data;
    int64_t permute_heads; /* 0, or the head count to permute the rows over (HF input) */
    bool norm_f32;         /* 1-D 16-bit tensors become F32, as the converter writes norms */
} ex_tensor;

static void progress(exporter *ex, const char *name, const char *type) {
    if (ex->p->progress) ex->p->progress(ex->i, ex->n, name, type, ex->p->user);
    ex->i++;
}

static mmrt_status to_f32(exporter *ex, ex_tensor *t, int64_t n, mmrt_error *err) {
    float *dst;
    MMRT_TRY(ex_alloc(ex, sizeof(float) * (size_t)n, (void **)&dst, t->name, err));
    mmrt_to_f32(t->dtype, t->data, dst, n);
    t->data = dst;
    t->dtype = MMRT_F32;
    return MMRT_OK;
}

/* Quantized by fusion/quantize.h's rule, converted, permuted as the input needs, then added. */
static mmrt_status add_tensor(exporter *ex, ex_tensor t, mmrt_error *err) {
    int64_t k = t.shape[t.n_dims - 1], rows = 1;
    for (int d = 0; d < t.n_dims - 1; d++) rows *= t.shape[d];
    mmrt_dtype qt = ex->p->qtype;
    if (t.n_dims == 1 && t.norm_f32 && (t.dtype == MMRT_F16 || t.dtype == MMRT_BF16)) {
        MMRT_TRY(to_f32(ex, &t, k, err));
    } else if (mmrt_quantize_selects(t.hf, t.dtype, t.n_dims, k, qt)) {
        void *dst;
        MMRT_TRY(ex_alloc(ex, mmrt_dtype_row_bytes(qt, k) * (size_t)rows, &dst, t.name, err));
        MMRT_TRY(mmrt_quantize_rows(ex->in, t.hf, t.dtype, t.data, rows, k, qt, dst, ex->p->n_threads, err));
        t.data = dst;
        t.dtype = qt;
    }
    progress(ex, t.name, mmrt_dtype_name(t.dtype));
    if (t.permute_heads) MMRT_TRY(permute(ex, t.name, &t.data, rows, mmrt_dtype_row_bytes(t.dtype, k), t.permute_heads,
                                          err));
    int64_t ne[MMRT_GGUF_MAX_DIMS];
    for (int d = 0; d < t.n_dims; d++) ne[d] = t.shape[t.n_dims - 1 - d];
    return mmrt_gguf_writer_add_tensor(ex->w, t.name, (mmrt_qtype)mmrt_dtype_qtype(t.dtype), t.n_dims, ne, t.data, err);
}

/* ---- Hugging Face input ------------------------------------------------------------------------ */

/* config.json of a Llama checkpoint, parsed; another model_type is refused by name. */
static mmrt_status hf_config(const char *dir, mmrt_llm_hparams *hp, bool *head_dim_key, mmrt_error *err) {
    char *path = mmrt_fs_path_join(dir, "config.json");
    if (!path) return mmrt_error_oom(err, 0, "path");
    cJSON *c = NULL;
    const char *type = NULL;
    mmrt_status st = mmrt_json_load_file(path, &c, err);
    if (st == MMRT_OK) st = mmrt_json_get_string(c, "model_type", true, &type, path, err);
    if (st == MMRT_OK && strcmp(type, ARCH) != 0)
        st = mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: model_type \"%s\" cannot be written as a GGUF file "
                            "(supported: " ARCH ")", path, type);
    if (st == MMRT_OK) st = mmrt_llm_hparams_parse(c, path, hp, err);
    *head_dim_key = mmrt_json_find(c, "head_dim") != NULL;
    cJSON_Delete(c);
    free(path);
    return st;
}

/* rope_freqs.weight: Llama 3 scaling's per-frequency divisors, as the converter stores them. */
static mmrt_status rope_freqs(exporter *ex, const mmrt_llm_hparams *hp, mmrt_error *err) {
    int64_t n = hp->n_rot / 2;
    float *div;
    MMRT_TRY(ex_alloc(ex, sizeof(float) * (size_t)n, (void **)&div, "rope_freqs.weight", err));
    for (int64_t i = 0; i < n; i++)
        div[i] = (float)mmrt_gguf_llama3_divisor(hp->rope_theta, i, hp->n_rot, hp->rope_factor,
                                                 hp->rope_low_freq_factor, hp->rope_high_freq_factor,
                                                 (double)hp->rope_orig_ctx);
    ex_tensor t = {.name = "rope_freqs.weight", .hf = "rope_freqs.weight", .dtype = MMRT_F32, .n_dims = 1,
                   .shape = &n, .data = div};
    return add_tensor(ex, t, err);
}

static mmrt_status hf_tensors(exporter *ex, const mmrt_weights *wts, const mmrt_llm_hparams *hp, mmrt_error *err) {
    for (size_t i = 0; i < mmrt_weights_count(wts); i++) {
        const mmrt_st_tensor *s = mmrt_weights_at(wts, i);
        char name[128];
        int permuted = 0;
        if (!mmrt_gguf_model_gguf_name(s->name, name, sizeof name, &permuted))
            return mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: tensor %s has no name in llama.cpp's Llama (a "
                                  "feature such as biases a Llama GGUF cannot hold)", s->file, s->name);
        ex_tensor t = {.name = name, .hf = s->name, .dtype = s->dtype, .n_dims = s->n_dims, .shape = s->shape,
                       .data = s->data, .norm_f32 = true};
        t.permute_heads = permuted == 1 ? hp->n_head : permuted == 2 ? hp->n_head_kv : 0;
        MMRT_TRY(add_tensor(ex, t, err));
    }
    return hp->rope_type == MMRT_ROPE_LLAMA3 ? rope_freqs(ex, hp, err) : MMRT_OK;
}

static mmrt_status export_hf(exporter *ex, const char *dir, const char *out, mmrt_error *err) {
    mmrt_llm_hparams hp;
    bool head_dim_key = false;
    MMRT_TRY(hf_config(dir, &hp, &head_dim_key, err));
    MMRT_TRY(mmrt_gguf_export_hf_kvs(ex->w, dir, &hp, head_dim_key, ex->p->qtype, err));
    mmrt_weights *wts = NULL;
    MMRT_TRY(mmrt_weights_open(dir, &wts, err));
    ex->n = mmrt_weights_count(wts) + (hp.rope_type == MMRT_ROPE_LLAMA3);
    mmrt_status st = hf_tensors(ex, wts, &hp, err);
    if (st == MMRT_OK) st = mmrt_gguf_writer_write(ex->w, out, err);
    mmrt_weights_free(wts);
    return st;
}

/* ---- GGUF input ---------------------------------------------------------------------------------- */

/* Every KV of g in its order, general.file_type replaced (added when absent, with
 * general.quantization_version). */
static mmrt_status gguf_kvs(exporter *ex, const mmrt_gguf *g, mmrt_error *err) {
    bool has_ft = false;
    for (size_t i = 0; i < mmrt_gguf_kv_count(g); i++) {
        if (strcmp(mmrt_gguf_kv_key(g, i), "general.file_type") == 0) {
            has_ft = true;
            MMRT_TRY(mmrt_gguf_writer_set_u32(ex->w, "general.file_type", mmrt_gguf_export_file_type(ex->p->qtype),
                                              err));
            continue;
        }
        MMRT_TRY(mmrt_gguf_writer_copy_kv(ex->w, g, i, err));
    }
    if (!has_ft)
        MMRT_TRY(mmrt_gguf_writer_set_u32(ex->w, "general.file_type", mmrt_gguf_export_file_type(ex->p->qtype), err));
    if (mmrt_gguf_find_key(g, "general.quantization_version") < 0)
        MMRT_TRY(mmrt_gguf_writer_set_u32(ex->w, "general.quantization_version", 2, err));
    return MMRT_OK;
}

/* mmrt's dtype of a float GGUF type; false for the others (copied as they are). */
static bool float_dtype(mmrt_qtype t, mmrt_dtype *out) {
    static const mmrt_dtype fl[] = {MMRT_F32, MMRT_F16, MMRT_BF16};
    for (size_t i = 0; i < 3; i++)
        if (mmrt_dtype_qtype(fl[i]) == (int)t) {
            *out = fl[i];
            return true;
        }
    return false;
}

static mmrt_status gguf_tensors(exporter *ex, const mmrt_gguf *g, int64_t n_layer, mmrt_error *err) {
    for (size_t i = 0; i < mmrt_gguf_tensor_count(g); i++) {
        const mmrt_gguf_tensor *s = mmrt_gguf_tensor_at(g, i);
        char hf[128];
        int permuted; /* the rows stay in the file's order: quantizing works row by row */
        mmrt_dtype dt;
        if (!float_dtype(s->type, &dt)) {
            const mmrt_qtype_info *info = mmrt_qtype_get((uint32_t)s->type);
            progress(ex, s->name, info && info->name ? info->name : "?");
            MMRT_TRY(mmrt_gguf_writer_add_tensor(ex->w, s->name, s->type, s->n_dims, s->ne, s->data, err));
            continue;
        }
        if (!mmrt_gguf_model_hf_name(s->name, n_layer, hf, sizeof hf, &permuted))
            snprintf(hf, sizeof hf, "%s", s->name); /* not a decoder matrix: kept */
        int64_t shape[MMRT_GGUF_MAX_DIMS];
        for (int d = 0; d < s->n_dims; d++) shape[d] = s->ne[s->n_dims - 1 - d];
        ex_tensor t = {.name = s->name, .hf = hf, .dtype = dt, .n_dims = s->n_dims, .shape = shape, .data = s->data};
        MMRT_TRY(add_tensor(ex, t, err));
    }
    return MMRT_OK;
}

static mmrt_status export_gguf(exporter *ex, const char *in, const char *out, mmrt_error *err) {
    mmrt_gguf *g = NULL;
    MMRT_TRY(mmrt_gguf_open(in, &g, err));
    const char *arch = NULL;
    size_t len = 0;
    int64_t n_layer = 0;
    mmrt_status st = mmrt_gguf_get_str(g, "general.architecture", &arch, &len, NULL, err);
    if (st == MMRT_OK && !(len == strlen(ARCH) && memcmp(arch, ARCH, len) == 0))
        st = mmrt_error_set(err, MMRT_ERR_UNSUPPORTED, "%s: general.architecture \"%.*s\" is not supported (supported: "
                            ARCH ")", in, (int)(len > 64 ? 64 : len), arch);
    if (st == MMRT_OK) st = mmrt_gguf_get_int(g, ARCH ".block_count", &n_layer, NULL, err);
    ex->n = mmrt_gguf_tensor_count(g);
    if (st == MMRT_OK) st = gguf_kvs(ex, g, err);
    if (st == MMRT_OK) st = gguf_tensors(ex, g, n_layer, err);
    if (st == MMRT_OK) st = mmrt_gguf_writer_write(ex->w, out, err);
    mmrt_gguf_free(g); /* after the write: the tensors borrow its mapping */
    return st;
}

/* ---- entry ------------------------------------------------------------------------------------- */

/* in exists; out is not in (by inode, so another spelling of the path is caught too) and its
 * directory exists, checked before any work. */
static mmrt_status check_paths(const char *in, const char *out, mmrt_error *err) {
    struct stat si, so;
    if (stat(in, &si) != 0)
        return mmrt_error_set(err, MMRT_ERR_IO, "%s: %s", in, strerror(errno));
    if (stat(out, &so) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: the output is the input", out);
    const char *slash = strrchr(out, '/');
    if (!slash) return MMRT_OK;
    char dir[PATH_MAX];
    size_t n = slash == out ? 1 : (size_t)(slash - out);
    if (n >= sizeof dir) return mmrt_error_set(err, MMRT_ERR_IO, "%s: path too long", out);
    memcpy(dir, out, n);
    dir[n] = '\0';
    if (!mmrt_fs_is_dir(dir))
        return mmrt_error_set(err, MMRT_ERR_IO, "%s: the directory %s does not exist", out, dir);
    return MMRT_OK;
}

mmrt_status mmrt_gguf_export(const char *in, const char *out, const mmrt_gguf_export_params *p, mmrt_error *err) {
    if (p->qtype != MMRT_Q8_0 && p->qtype != MMRT_Q4_0 && p->qtype != MMRT_Q4_K)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "mmrt_gguf_export: type %s is not q8_0, q4_0 or q4_k",
                              mmrt_dtype_name(p->qtype));
    MMRT_TRY(check_paths(in, out, err));
    exporter ex = {.p = p, .in = in};
    mmrt_status st = mmrt_gguf_writer_new(&ex.w, err);
    if (st == MMRT_OK) st = mmrt_fs_is_dir(in) ? export_hf(&ex, in, out, err) : export_gguf(&ex, in, out, err);
    exporter_free(&ex);
    if (st == MMRT_OK) MMRT_LOG_I("wrote %s (%zu tensors, decoder %s)", out, ex.n, mmrt_dtype_name(p->qtype));
    return st;
}

/* ---- public API (include/mmrt.h) ---------------------------------------------------------------- */

static const mmrt_quantize_params quantize_defaults = {.quant = MMRT_QUANT_Q8_0};

void mmrt_quantize_params_init(mmrt_quantize_params *p, size_t size) {
    mmrt_api_struct_init(p, size, &quantize_defaults, sizeof quantize_defaults);
}

mmrt_status mmrt_quantize_file(const char *in, const char *out, const mmrt_quantize_params *caller) {
    mmrt_error err = {0};
    mmrt_quantize_params q;
    mmrt_status st = mmrt_api_struct_in(&q, &quantize_defaults, sizeof q, caller, "mmrt_quantize_params", &err);
    static const mmrt_dtype types[] = {MMRT_F32, MMRT_Q8_0, MMRT_Q4_0, MMRT_Q4_K}; /* mmrt_quant's order */
    if (st == MMRT_OK && (!in || !out))
        st = mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "mmrt_quantize_file: NULL path");
    if (st == MMRT_OK && (q.quant <= MMRT_QUANT_NONE || (unsigned)q.quant >= sizeof types / sizeof *types))
        st = mmrt_error_set(&err, MMRT_ERR_INVALID_ARG, "mmrt_quantize_params.quant: %d is not q8_0, q4_0 or q4_k",
                            (int)q.quant);
    if (st == MMRT_OK) {
        mmrt_gguf_export_params p = {.qtype = types[q.quant], .n_threads = q.n_threads, .progress = q.progress,
                                     .user = q.user};
        st = mmrt_gguf_export(in, out, &p, &err);
    }
    if (st != MMRT_OK) mmrt_error_publish(&err);
    return st;
}
