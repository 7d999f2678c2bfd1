#include "op_profile.h"

#include <string.h>
#include <time.h>

#define MAX_SHAPES 12

typedef struct shape_time {
    int64_t rows, cols; /* weight (rows, cols) */
    char label[64];     /* the tensor names of this shape */
    double s, bytes, flops;
} shape_time;

static struct {
    const mmrt_backend_i *inner;
    mmrt_backend_i iface; /* inner with compute wrapped */
    bool on;
    bool sync; /* a device backend: synchronize around each timed op */
    double op_s[MMRT_OP_COUNT], op_flops[MMRT_OP_COUNT];
    int64_t op_calls[MMRT_OP_COUNT];
    shape_time mm[MAX_SHAPES];
    int n_mm;
} g;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static shape_time *find(int64_t rows, int64_t cols) {
    for (int i = 0; i < g.n_mm; i++)
        if (g.mm[i].rows == rows && g.mm[i].cols == cols) return &g.mm[i];
    return NULL;
}

void op_profile_name(int64_t rows, int64_t cols, const char *name) {
    shape_time *p = find(rows, cols);
    if (!p) {
        if (g.n_mm == MAX_SHAPES) return;
        p = &g.mm[g.n_mm++];
        p->rows = rows;
        p->cols = cols;
    }
    size_t len = strlen(p->label);
    snprintf(p->label + len, sizeof p->label - len, "%s%s", len ? " " : "", name);
}

static void name_tensor(const mmrt_tensor *w, const char *name) { op_profile_name(w->ne[1], w->ne[0], name); }

void op_profile_name_llm(const mmrt_llm *m) {
    const mmrt_llm_layer *l = &m->layers[0];
    name_tensor(&l->wq, "q_proj"), name_tensor(&l->wk, "k_proj"), name_tensor(&l->wv, "v_proj");
    name_tensor(&l->wo, "o_proj"), name_tensor(&l->w_gate, "gate_proj");
    name_tensor(&l->w_up, "up_proj"), name_tensor(&l->w_down, "down_proj");
    name_tensor(&m->lm_head, "lm_head");
}

/* QKᵀ and PV of an attention op: 4 · hd flops per (query head, visible key). */
static double attention_flops(const mmrt_op *op) {
    const mmrt_tensor *q = op->src[0];
    int64_t n_kv = op->p.attn.n_kv, pairs = 0;
    for (int64_t t = 0; t < q->ne[2]; t++) {
        int64_t n = op->p.attn.causal ? op->p.attn.pos0 + t + 1 : n_kv;
        pairs += n < n_kv ? n : n_kv;
    }
    return 4.0 * (double)q->ne[0] * (double)q->ne[1] * (double)pairs;
}

static mmrt_status timed_compute(mmrt_backend *be, const mmrt_op *op, mmrt_error *err) {
    /* a device backend returns before its kernels finish: time from idle to idle */
    if (g.on && g.sync) MMRT_TRY(g.inner->synchronize(be, err));
    double t0 = now_s();
    mmrt_status st = g.inner->compute(be, op, err);
    if (st == MMRT_OK && g.on && g.sync) st = g.inner->synchronize(be, err);
    double dt = now_s() - t0;
    if (!g.on) return st;
    const mmrt_tensor *w = op->src[1];
    shape_time *p = op->kind == MMRT_OP_MATMUL ? find(w->ne[1], w->ne[0]) : NULL;
    if (p) {
        p->s += dt;
        p->bytes += (double)mmrt_tensor_nbytes(w);
        p->flops += 2.0 * (double)op->src[0]->ne[1] * (double)w->ne[1] * (double)w->ne[0];
    } else {
        g.op_s[op->kind] += dt;
        g.op_calls[op->kind]++;
        if (op->kind == MMRT_OP_ATTENTION) g.op_flops[op->kind] += attention_flops(op);
    }
    return st;
}

void op_profile_install(mmrt_backend *be) {
    g.inner = be->iface;
    g.sync = strcmp(be->iface->name, "cpu") != 0;
    g.iface = *be->iface;
    g.iface.compute = timed_compute;
    be->iface = &g.iface;
}

void op_profile_remove(mmrt_backend *be) {
    if (g.inner) be->iface = g.inner;
}

void op_profile_record(bool on) { g.on = on; }

void op_profile_reset(void) {
    memset(g.op_s, 0, sizeof g.op_s);
    memset(g.op_flops, 0, sizeof g.op_flops);
    memset(g.op_calls, 0, sizeof g.op_calls);
    memset(g.mm, 0, sizeof g.mm);
    g.n_mm = 0;
}

static double total_op_s(void) {
    double t = 0;
    for (int i = 0; i < g.n_mm; i++) t += g.mm[i].s;
    for (int k = 0; k < MMRT_OP_COUNT; k++) t += g.op_s[k];
    return t;
}

static double per_s(double x, double s) { return s > 0 ? x / s / 1e9 : 0.0; }

void op_profile_print_text(FILE *f, const char *unit, int64_t n_units, double unit_s) {
    double total = total_op_s(), ms = 1e3 / (double)n_units;
    fprintf(f, "\n  profile: %lld %ss of one more rep; ms/%s, share of the %s\n", (long long)n_units,
            unit, unit, unit);
    for (int i = 0; i < g.n_mm; i++) {
        const shape_time *p = &g.mm[i];
        if (p->s == 0) continue;
        char what[96];
        snprintf(what, sizeof what, "matmul %s (%lldx%lld)", p->label, (long long)p->rows,
                 (long long)p->cols);
        fprintf(f, "    %-44s %8.3f ms %5.1f %%  %5.1f GB/s  %6.1f GFLOP/s\n", what, p->s * ms,
                100 * p->s / unit_s, per_s(p->bytes, p->s), per_s(p->flops, p->s));
    }
    for (int k = 0; k < MMRT_OP_COUNT; k++) {
        if (!g.op_calls[k]) continue;
        fprintf(f, "    %-44s %8.3f ms %5.1f %%  %lld calls/%s", mmrt_op_name((mmrt_op_kind)k),
                g.op_s[k] * ms, 100 * g.op_s[k] / unit_s, (long long)(g.op_calls[k] / n_units), unit);
        if (g.op_flops[k] > 0) fprintf(f, "  %6.1f GFLOP/s", per_s(g.op_flops[k], g.op_s[k]));
        fprintf(f, "\n");
    }
    fprintf(f, "    %-44s %8.3f ms %5.1f %%  host work, dispatch, timers\n", "outside ops",
            (unit_s - total) * ms, 100 * (unit_s - total) / unit_s);
    char what[64];
    snprintf(what, sizeof what, "%s (profiled)", unit);
    fprintf(f, "    %-44s %8.3f ms\n", what, unit_s * ms);
}

void op_profile_print_json(FILE *f, const char *unit, int64_t n_units, double unit_s) {
    double ms = 1e3 / (double)n_units;
    fprintf(f, "  \"profile_ms_per_%s\": {", unit);
    const char *sep = "\n";
    for (int i = 0; i < g.n_mm; i++) {
        if (g.mm[i].s == 0) continue;
        fprintf(f, "%s    \"matmul %s\": {\"ms\": %.4f, \"gb_s\": %.2f, \"gflop_s\": %.2f}", sep,
                g.mm[i].label, g.mm[i].s * ms, per_s(g.mm[i].bytes, g.mm[i].s),
                per_s(g.mm[i].flops, g.mm[i].s));
        sep = ",\n";
    }
    for (int k = 0; k < MMRT_OP_COUNT; k++)
        if (g.op_calls[k]) {
            fprintf(f, "%s    \"%s\": {\"ms\": %.4f}", sep, mmrt_op_name((mmrt_op_kind)k), g.op_s[k] * ms);
            sep = ",\n";
        }
    fprintf(f, "%s    \"outside ops\": {\"ms\": %.4f},\n    \"%s\": {\"ms\": %.4f}\n  }", sep,
            (unit_s - total_op_s()) * ms, unit, unit_s * ms);
}
