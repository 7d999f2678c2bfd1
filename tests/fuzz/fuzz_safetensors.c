/* libFuzzer target: the safetensors reader (core/safetensors.h).
 *
 * Input, one of two forms:
 *   - any bytes: written as one .safetensors file and opened by path;
 *   - "#shards\n" INDEX ("\n#--\n" SHARD)*: a model directory holding INDEX as
 *     model.safetensors.index.json and SHARD i (1-based) as s<i>.safetensors. An empty INDEX
 *     leaves the index out and stores the first shard as model.safetensors instead.
 * When the open succeeds every tensor is checked against the contract (shape, byte size, name
 * lookup, mmrt_weights_get) and all its bytes are read; for a single file each tensor's data must
 * also be exactly the bytes its data_offsets name, as read from the input by this harness.
 */
#include "fuzz_common.h"

#include "core/safetensors.h"

#include <cjson/cJSON.h>

#define MAX_SHARDS 4

static const char SHARD_MAGIC[] = "#shards\n";
static const char SHARD_SEP[] = "\n#--\n";

/* The value of key in obj, last occurrence (the reader's rule). */
static const cJSON *last_item(const cJSON *obj, const char *key) {
    const cJSON *found = NULL;
    for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next)
        if (c->string && strcmp(c->string, key) == 0) found = c;
    return found;
}

/* For a single file: the bytes of t must be input[8 + hlen + begin, 8 + hlen + end). */
static void check_against_input(const mmrt_st_tensor *t, const cJSON *header,
                                const uint8_t *data, size_t size) {
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    const cJSON *e = last_item(header, t->name);
    const cJSON *offs = last_item(e, "data_offsets");
    FUZZ_CHECK(cJSON_GetArraySize(offs) == 2);
    double begin = cJSON_GetArrayItem(offs, 0)->valuedouble;
    double end = cJSON_GetArrayItem(offs, 1)->valuedouble;
    FUZZ_CHECK(begin >= 0 && end >= begin && (uint64_t)(end - begin) == t->n_bytes);
    FUZZ_CHECK(8 + hlen + (uint64_t)end <= size);
    FUZZ_CHECK(t->n_bytes == 0 ||
               memcmp(t->data, data + 8 + hlen + (uint64_t)begin, t->n_bytes) == 0);
}

static void check_weights(const mmrt_weights *w, const uint8_t *data, size_t size, bool single) {
    FUZZ_CHECK(mmrt_weights_path(w) != NULL);
    cJSON *header = NULL;
    if (single) {
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
        FUZZ_CHECK(hlen <= size - 8);
        header = cJSON_ParseWithLength((const char *)data + 8, (size_t)hlen);
    }
    size_t n = mmrt_weights_count(w);
    FUZZ_CHECK(mmrt_weights_at(w, n) == NULL);
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        const mmrt_st_tensor *t = mmrt_weights_at(w, i);
        FUZZ_CHECK(t && t->name && t->file);
        FUZZ_CHECK(t->n_dims >= 0 && t->n_dims <= MMRT_MAX_DIMS);
        uint64_t n_elem = 1;
        for (int d = 0; d < MMRT_MAX_DIMS; d++) {
            FUZZ_CHECK(t->shape[d] >= 0);
            FUZZ_CHECK(d < t->n_dims || t->shape[d] == 1);
            FUZZ_CHECK(!__builtin_mul_overflow(n_elem, (uint64_t)t->shape[d], &n_elem) ||
                       t->n_bytes == 0);
        }
        bool has_zero = false;
        for (int d = 0; d < t->n_dims; d++) has_zero |= t->shape[d] == 0;
        FUZZ_CHECK(t->n_bytes == (has_zero ? 0 : n_elem * mmrt_dtype_size(t->dtype)));
        FUZZ_CHECK(mmrt_weights_find(w, t->name) == t);
        const volatile unsigned char *b = t->data;
        for (size_t k = 0; k < t->n_bytes; k++) sum += b[k];
        if (header) check_against_input(t, header, data, size);

        const mmrt_st_tensor *got = NULL;
        mmrt_error err = {0};
        mmrt_status st = mmrt_weights_get(w, t->name, t->n_dims, t->shape, &got, &err);
        bool is_float = t->dtype == MMRT_F32 || t->dtype == MMRT_F16 || t->dtype == MMRT_BF16;
        if (is_float) {
            FUZZ_CHECK(st == MMRT_OK && got == t);
        } else {
            fuzz_check_error(st, &err);
            FUZZ_CHECK(st == MMRT_ERR_MODEL && got == NULL);
        }
        if (t->n_dims > 0) { /* a wrong shape must be refused */
            int64_t other[MMRT_MAX_DIMS];
            memcpy(other, t->shape, sizeof other);
            other[0] += 1;
            err = (mmrt_error){0};
            st = mmrt_weights_get(w, t->name, t->n_dims, other, &got, &err);
            fuzz_check_error(st, &err);
            FUZZ_CHECK(got == NULL);
        }
    }
    (void)sum;
    mmrt_error err = {0};
    const mmrt_st_tensor *got = NULL;
    if (!mmrt_weights_find(w, "")) {
        fuzz_check_error(mmrt_weights_get(w, "", 0, NULL, &got, &err), &err);
        FUZZ_CHECK(got == NULL);
    }
    const char *fmt = mmrt_weights_metadata(w, "format");
    if (fmt) (void)strlen(fmt);
    cJSON_Delete(header);
}

static void open_and_check(const char *path, const uint8_t *data, size_t size, bool single) {
    mmrt_weights *w = (mmrt_weights *)1;
    mmrt_error err = {0};
    mmrt_status st = mmrt_weights_open(path, &w, &err);
    fuzz_note("mmrt_weights_open", st, &err);
    if (st != MMRT_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(w == NULL);
        return;
    }
    FUZZ_CHECK(w != NULL);
    check_weights(w, data, size, single);
    mmrt_weights_free(w);
}

/* Finds the next separator in [p, end), or end. */
static const uint8_t *next_part(const uint8_t *p, const uint8_t *end) {
    size_t k = sizeof SHARD_SEP - 1;
    for (const uint8_t *q = p; q + k <= end; q++)
        if (memcmp(q, SHARD_SEP, k) == 0) return q;
    return end;
}

static void run_sharded(const uint8_t *data, size_t size) {
    const uint8_t *p = data + sizeof SHARD_MAGIC - 1, *end = data + size;
    const uint8_t *part[MAX_SHARDS + 1];
    size_t len[MAX_SHARDS + 1];
    int n_parts = 0;
    while (n_parts <= MAX_SHARDS) {
        const uint8_t *q = next_part(p, end);
        part[n_parts] = p;
        len[n_parts++] = (size_t)(q - p);
        if (q == end) break;
        p = q + sizeof SHARD_SEP - 1;
    }
    char path[8192], name[64];
    bool has_index = len[0] > 0;
    if (has_index)
        fuzz_write(path, sizeof path, "model.safetensors.index.json", part[0], len[0]);
    else
        fuzz_unlink("model.safetensors.index.json");
    fuzz_unlink("model.safetensors");
    for (int i = 1; i <= MAX_SHARDS; i++) {
        snprintf(name, sizeof name, "s%d.safetensors", i);
        fuzz_unlink(name);
        if (i >= n_parts) continue;
        fuzz_write(path, sizeof path, i == 1 && !has_index ? "model.safetensors" : name, part[i],
                   len[i]);
    }
    open_and_check(fuzz_dir(), data, size, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= sizeof SHARD_MAGIC - 1 && memcmp(data, SHARD_MAGIC, sizeof SHARD_MAGIC - 1) == 0) {
        run_sharded(data, size);
        return 0;
    }
    char path[8192];
    fuzz_write(path, sizeof path, "single.safetensors", data, size);
    open_and_check(path, data, size, true);
    return 0;
}
