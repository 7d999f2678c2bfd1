/* Weights declared once: one table per block of a model (a decoder layer, a vision layer, a
 * connector) drives binding from the checkpoint, the device upload and the error messages.
 *
 *   enum { D_EMBD = 1, D_FF };                       dimension names; 0 is "no dimension"
 *   static const mmrt_weight_decl layer[] = {
 *       MMRT_WEIGHT(my_layer, fc1_w, "mlp.fc1.weight", D_FF, D_EMBD),
 *       {.name = "mlp.fc1.bias", .offset = offsetof(my_layer, fc1_b), .shape = {D_FF},
 *        .flags = MMRT_WEIGHT_OPTIONAL, .aliases = {"ffn_up.bias"}},
 *   };
 *   int64_t dims[] = {[D_EMBD] = hp->n_embd, [D_FF] = hp->n_ff};   from the hyper-parameters
 *   mmrt_weight_table_bind(w, "model.layers.3.", layer, 2, dims, &layers[3], &list, err);
 *
 * A declaration names the tensor under the block's prefix, where its mmrt_tensor sits in the
 * block's struct (offsetof), its shape (outermost first, as the file stores it) as indexes into
 * the block's dims, the dtypes it may have, other names it may go by (GGUF names, PEFT adapter
 * tensors: tried after the name, in order) and whether it may be absent. Every tensor bound is
 * recorded in an mmrt_weight_list, which uploads them (core/weight_upload.h) under their
 * checkpoint names. A missing tensor, a wrong shape or dtype is MMRT_ERR_MODEL naming the tensor
 * and the file (mmrt_weights_get_typed's messages).
 */
#ifndef MMRT_CORE_WEIGHT_TABLE_H
#define MMRT_CORE_WEIGHT_TABLE_H

#include "safetensors.h"
#include "weight_upload.h"

#include <stddef.h>
#include <stdint.h>

enum {
    MMRT_WEIGHT_OPTIONAL = 1 << 0, /* absent: the tensor is left zeroed (data NULL), no error */
    MMRT_WEIGHT_FLATTEN = 1 << 1,  /* bound as a 2-D (shape[0], product of the rest) matrix, e.g.
                                      a Conv2d kernel (d, C, p, p) as its im2col (d, C·p·p) */
};

#define MMRT_WEIGHT_MAX_ALIASES 2

typedef struct mmrt_weight_decl {
    const char *name;                  /* under the block's prefix */
    size_t offset;                     /* of the mmrt_tensor in the block's struct */
    uint8_t shape[MMRT_MAX_DIMS];      /* outermost first: indexes into dims; 0 ends the shape */
    uint32_t dtypes;                   /* accepted dtypes (MMRT_DTYPES_FLOAT when 0) */
    unsigned flags;                    /* MMRT_WEIGHT_* */
    const char *aliases[MMRT_WEIGHT_MAX_ALIASES]; /* other names under the prefix, or NULL */
} mmrt_weight_decl;

/* The common declaration: field `field` of struct `type`, named `name`, shape dims... (outermost
 * first), float dtypes, required, no alias. */
#define MMRT_WEIGHT(type, field, name_, ...) \
    { .name = (name_), .offset = offsetof(type, field), .shape = {__VA_ARGS__} }

/* A tensor bound from the checkpoint (or added by hand, like a tied lm_head) and its name. */
typedef struct mmrt_weight_entry {
    mmrt_tensor *t;
    const char *name; /* the checkpoint's name (valid as long as the mmrt_weights), or a literal */
} mmrt_weight_entry;

typedef struct mmrt_weight_list {
    mmrt_weight_entry *items;
    size_t n, cap;
    size_t bytes; /* checkpoint bytes of the tensors bound */
} mmrt_weight_list;

/* Binds each of decls[0 .. n_decls) from w, named prefix + name (or + an alias), into the
 * mmrt_tensor at block + offset, checking dtype and shape (dims[shape[i]]), and appends it to
 * list. The data stays in w's mapping. A missing optional tensor is skipped. */
mmrt_status mmrt_weight_table_bind(const mmrt_weights *w, const char *prefix, const mmrt_weight_decl *decls,
                                   size_t n_decls, const int64_t *dims, void *block, mmrt_weight_list *list,
                                   mmrt_error *err);

/* Appends t (named `name`, which must outlive the list) without binding it. */
mmrt_status mmrt_weight_list_add(mmrt_weight_list *list, mmrt_tensor *t, const char *name, mmrt_error *err);

/* Moves every tensor of the list to u's backend (mmrt_weight_upload_tensor, in list order). */
mmrt_status mmrt_weight_list_upload(const mmrt_weight_list *list, mmrt_weight_upload *u, mmrt_error *err);

void mmrt_weight_list_free(mmrt_weight_list *list);

#endif
