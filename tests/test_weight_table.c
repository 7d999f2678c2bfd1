/* core/weight_table: one declaration per tensor drives binding (names under a prefix, aliases,
 * optional tensors, shapes from dims, accepted dtypes, flattened kernels), the upload list and the
 * error messages. */
#include "core/weight_table.h"
#include "helpers/st_writer.h"
#include "helpers/tmpdir.h"

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    mmrt_tensor w;    /* (FF, EMBD) */
    mmrt_tensor b;    /* (FF), optional */
    mmrt_tensor conv; /* (EMBD, 2, 2, 2) flattened to (EMBD, 8) */
    mmrt_tensor ids;  /* (FF) i32 */
} block;

enum { D_EMBD = 1, D_FF, D_TWO, N_DIMS };

static const mmrt_weight_decl decls[] = {
    {.name = "mlp.fc1.weight", .offset = offsetof(block, w), .shape = {D_FF, D_EMBD},
     .aliases = {"ffn_up.weight", "base_model.model.mlp.fc1.base_layer.weight"}},
    {.name = "mlp.fc1.bias", .offset = offsetof(block, b), .shape = {D_FF}, .flags = MMRT_WEIGHT_OPTIONAL},
    {.name = "conv.weight", .offset = offsetof(block, conv), .shape = {D_EMBD, D_TWO, D_TWO, D_TWO},
     .flags = MMRT_WEIGHT_FLATTEN},
    {.name = "ids", .offset = offsetof(block, ids), .shape = {D_FF}, .dtypes = 1u << MMRT_I32},
};

static const int64_t dims[N_DIMS] = {[D_EMBD] = 3, [D_FF] = 2, [D_TWO] = 2};

static float g_w[6] = {1, 2, 3, 4, 5, 6}, g_conv[24];
static int32_t g_ids[2] = {7, 8};

static mmrt_weights *open_items(char *dir, const st_item *items, size_t n) {
    char *path = st_write(dir, "model.safetensors", items, n);
    mmrt_weights *w = NULL;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weights_open(path, &w, &err), MMRT_OK, "%s", err.msg);
    free(path);
    return w;
}

/* The GGUF-style alias binds; the optional bias is absent; the conv kernel is a (3, 8) matrix. */
Test(weight_table, binds_aliases_optional_and_flattened) {
    char *dir = tmpdir_make("weight-table");
    const st_item items[] = {
        {"blk.0.ffn_up.weight", "F32", 2, {2, 3}, g_w, sizeof g_w},
        {"blk.0.conv.weight", "F32", 4, {3, 2, 2, 2}, g_conv, sizeof g_conv},
        {"blk.0.ids", "I32", 1, {2}, g_ids, sizeof g_ids},
    };
    mmrt_weights *w = open_items(dir, items, 3);
    block blk;
    memset(&blk, 0xff, sizeof blk);
    mmrt_weight_list list = {0};
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weight_table_bind(w, "blk.0.", decls, 4, dims, &blk, &list, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(blk.w.ne[0], 3);
    cr_assert_eq(blk.w.ne[1], 2);
    cr_assert_eq(((const float *)blk.w.data)[5], 6.0f, "the alias's data");
    cr_assert_null(blk.b.data, "an absent optional tensor is left empty");
    cr_assert_eq(blk.conv.ne[0], 8);
    cr_assert_eq(blk.conv.ne[1], 3);
    cr_assert_eq(blk.conv.ne[2], 1);
    cr_assert_eq(blk.ids.type, MMRT_I32);
    cr_assert_eq(list.n, 3, "three tensors recorded for the upload: %zu", list.n);
    cr_assert_str_eq(list.items[0].name, "blk.0.ffn_up.weight");
    cr_assert_eq(list.items[0].t, &blk.w);
    cr_assert_eq(list.bytes, sizeof g_w + sizeof g_conv + sizeof g_ids);
    mmrt_weight_list_free(&list);
    mmrt_weights_free(w);
    tmpdir_remove(dir);
}

/* Missing, mis-shaped and mis-typed tensors: MMRT_ERR_MODEL naming the tensor, the file and the
 * problem. */
Test(weight_table, errors_name_the_tensor_and_file) {
    static const struct {
        st_item w;
        const char *want[3];
    } cases[] = {
        {{"p.other", "F32", 2, {2, 3}, g_w, sizeof g_w}, {"\"p.mlp.fc1.weight\" not found", "[2, 3]", NULL}},
        {{"p.mlp.fc1.weight", "F32", 2, {3, 2}, g_w, sizeof g_w}, {"p.mlp.fc1.weight", "has shape [3, 2]", "[2, 3]"}},
        {{"p.mlp.fc1.weight", "I32", 2, {2, 3}, g_w, sizeof g_w}, {"p.mlp.fc1.weight", "dtype I32", "float"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *dir = tmpdir_make("weight-table");
        mmrt_weights *w = open_items(dir, &cases[i].w, 1);
        block blk;
        mmrt_weight_list list = {0};
        mmrt_error err = {0};
        cr_assert_eq(mmrt_weight_table_bind(w, "p.", decls, 1, dims, &blk, &list, &err), MMRT_ERR_MODEL);
        cr_assert(strstr(err.msg, dir), "case %zu: the file: %s", i, err.msg);
        for (int k = 0; k < 3 && cases[i].want[k]; k++)
            cr_assert(strstr(err.msg, cases[i].want[k]), "case %zu: \"%s\" in %s", i, cases[i].want[k], err.msg);
        mmrt_weight_list_free(&list);
        mmrt_weights_free(w);
        tmpdir_remove(dir);
    }
    /* a dtype set other than the float types is named in the message */
    char *dir = tmpdir_make("weight-table");
    const st_item f = {"ids", "F32", 1, {2}, g_w, 2 * sizeof(float)};
    mmrt_weights *w = open_items(dir, &f, 1);
    block blk;
    mmrt_weight_list list = {0};
    mmrt_error err = {0};
    cr_assert_eq(mmrt_weight_table_bind(w, "", &decls[3], 1, dims, &blk, &list, &err), MMRT_ERR_MODEL);
    cr_assert(strstr(err.msg, "dtype F32, expected I32"), "%s", err.msg);
    mmrt_weights_free(w);
    tmpdir_remove(dir);
}
