#include "weight_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mmrt_status mmrt_weight_list_add(mmrt_weight_list *list, mmrt_tensor *t, const char *name, mmrt_error *err) {
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 64;
        mmrt_weight_entry *p = realloc(list->items, cap * sizeof *p);
        if (!p) return mmrt_error_oom(err, cap * sizeof *p, "weight list");
        list->items = p;
        list->cap = cap;
    }
    list->items[list->n++] = (mmrt_weight_entry){.t = t, .name = name};
    return MMRT_OK;
}

/* The first of the declaration's names present in w, or NULL. */
static const mmrt_st_tensor *find_any(const mmrt_weights *w, const char *prefix, const mmrt_weight_decl *d,
                                      char *name, size_t size) {
    const char *names[1 + MMRT_WEIGHT_MAX_ALIASES] = {d->name, d->aliases[0], d->aliases[1]};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (!names[i]) continue;
        snprintf(name, size, "%s%s", prefix, names[i]);
        const mmrt_st_tensor *t = mmrt_weights_find(w, name);
        if (t) return t;
    }
    snprintf(name, size, "%s%s", prefix, d->name); /* the one the messages name */
    return NULL;
}

static mmrt_status bind_one(const mmrt_weights *w, const char *prefix, const mmrt_weight_decl *d,
                            const int64_t *dims, void *block, mmrt_weight_list *list, mmrt_error *err) {
    char name[512];
    const mmrt_st_tensor *found = find_any(w, prefix, d, name, sizeof name);
    mmrt_tensor *out = (mmrt_tensor *)((char *)block + d->offset);
    if (!found && (d->flags & MMRT_WEIGHT_OPTIONAL)) {
        memset(out, 0, sizeof *out);
        return MMRT_OK;
    }
    int64_t shape[MMRT_MAX_DIMS];
    int n_dims = 0;
    while (n_dims < MMRT_MAX_DIMS && d->shape[n_dims]) {
        shape[n_dims] = dims[d->shape[n_dims]];
        n_dims++;
    }
    const mmrt_st_tensor *t;
    MMRT_TRY(mmrt_weights_get_typed(w, name, d->dtypes ? d->dtypes : MMRT_DTYPES_FLOAT, n_dims, shape, &t, err));
    int64_t ne[MMRT_MAX_DIMS] = {1, 1, 1, 1}; /* innermost first */
    if ((d->flags & MMRT_WEIGHT_FLATTEN) && n_dims > 2) {
        ne[1] = n_dims > 0 ? shape[0] : 1;
        for (int i = 1; i < n_dims; i++) ne[0] *= shape[i];
        n_dims = 2;
    } else {
        for (int i = 0; i < n_dims; i++) ne[i] = shape[n_dims - 1 - i];
    }
    *out = mmrt_tensor_make(t->dtype, (void *)t->data, n_dims ? n_dims : 1, ne);
    list->bytes += t->n_bytes;
    return mmrt_weight_list_add(list, out, t->name, err);
}

mmrt_status mmrt_weight_table_bind(const mmrt_weights *w, const char *prefix, const mmrt_weight_decl *decls,
                                   size_t n_decls, const int64_t *dims, void *block, mmrt_weight_list *list,
                                   mmrt_error *err) {
    for (size_t i = 0; i < n_decls; i++) MMRT_TRY(bind_one(w, prefix, &decls[i], dims, block, list, err));
    return MMRT_OK;
}

mmrt_status mmrt_weight_list_upload(const mmrt_weight_list *list, mmrt_weight_upload *u, mmrt_error *err) {
    for (size_t i = 0; i < list->n; i++)
        MMRT_TRY(mmrt_weight_upload_tensor(u, list->items[i].t, list->items[i].name, err));
    return MMRT_OK;
}

void mmrt_weight_list_free(mmrt_weight_list *list) {
    free(list->items);
    memset(list, 0, sizeof *list);
}
