#include "op_profile.h"

#include <string.h>
#include <time.h>

#define MAX_SHAPES 12

typedef struct shape_time {
    int64_t rows, cols; /* weight (rows, cols) */
    char label[64];     /* the tensor names of this shape */
    double s, bytes;
} shape_time;

static struct {
    const mmrt_backend_i *inner;
    mmrt_backend_i iface; /* inner with compute wrapped */
    bool on;
    double op_s[MMRT_OP_COUNT];
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

static void name_shape(const mmrt_tensor *w, const char *name) {
    shape_time *p = find(w->ne[1], w->ne[0]);
    if (!p) {
        if (g.n_mm == MAX_SHAPES) return;
        p = &g.mm[g.n_mm++];
        p->rows = w->ne[1];
        p->cols = w->ne[0];
    }
    size_t len = strlen(p->label);
    snprintf(p->label + len, sizeof p->label - len, "%s%s", len ? " " : "", name);
}

static mmrt_status timed_compute(mmrt_backend *be, const mmrt_op *op, mmrt_error *err) {
    double t0 = now_s();
    mmrt_status st = g.inner->compute(be, op, err);
    double dt = now_s() - t0;
    if (!g.on) return st;
    const mmrt_tensor *w = op->src[1];
    shape_time *p = op->kind == MMRT_OP_MATMUL ? find(w->ne[1], w->ne[0]) : NULL;
    if (p) {
        p->s += dt;
        p->bytes += (double)mmrt_tensor_nbytes(w);
    } else {
        g.op_s[op->kind] += dt;
        g.op_calls[op->kind]++;
    }
    return st;
}

void op_profile_install(mmrt_backend *be, const mmrt_llm *m) {
    const mmrt_llm_layer *l = &m->layers[0];
    name_shape(&l->wq, "q_proj"), name_shape(&l->wk, "k_proj"), name_shape(&l->wv, "v_proj");
    name_shape(&l->wo, "o_proj"), name_shape(&l->w_gate, "gate_proj");
    name_shape(&l->w_up, "up_proj"), name_shape(&l->w_down, "down_proj");
    name_shape(&m->lm_head, "lm_head");
    g.inner = be->iface;
    g.iface = *be->iface;
    g.iface.compute = timed_compute;
    be->iface = &g.iface;
}

void op_profile_remove(mmrt_backend *be) {
    if (g.inner) be->iface = g.inner;
}

void op_profile_record(bool on) { g.on = on; }

static double total_op_s(void) {
    double t = 0;
    for (int i = 0; i < g.n_mm; i++) t += g.mm[i].s;
    for (int k = 0; k < MMRT_OP_COUNT; k++) t += g.op_s[k];
    return t;
}

static double gb_s(const shape_time *p) { return p->s > 0 ? p->bytes / p->s / 1e9 : 0.0; }

void op_profile_print_text(FILE *f, int64_t n_tokens, double step_s) {
    double total = total_op_s(), ms = 1e3 / (double)n_tokens;
    fprintf(f, "\n  profile: %lld decode steps of one more rep; ms/token, share of the step\n",
            (long long)n_tokens);
    for (int i = 0; i < g.n_mm; i++) {
        const shape_time *p = &g.mm[i];
        char what[96];
        snprintf(what, sizeof what, "matmul %s (%lldx%lld)", p->label, (long long)p->rows,
                 (long long)p->cols);
        fprintf(f, "    %-44s %7.3f ms %5.1f %%  %5.1f GB/s\n", what, p->s * ms,
                100 * p->s / step_s, gb_s(p));
    }
    for (int k = 0; k < MMRT_OP_COUNT; k++)
        if (g.op_calls[k])
            fprintf(f, "    %-44s %7.3f ms %5.1f %%  %lld calls/token\n",
                    mmrt_op_name((mmrt_op_kind)k), g.op_s[k] * ms, 100 * g.op_s[k] / step_s,
                    (long long)(g.op_calls[k] / n_tokens));
    fprintf(f, "    %-44s %7.3f ms %5.1f %%  argmax on the host, dispatch, timers\n",
            "outside ops", (step_s - total) * ms, 100 * (step_s - total) / step_s);
    fprintf(f, "    %-44s %7.3f ms\n", "decode step (profiled)", step_s * ms);
}

void op_profile_print_json(FILE *f, int64_t n_tokens, double step_s) {
    double ms = 1e3 / (double)n_tokens;
    fprintf(f, "  \"profile_ms_per_token\": {");
    const char *sep = "\n";
    for (int i = 0; i < g.n_mm; i++) {
        fprintf(f, "%s    \"matmul %s\": {\"ms\": %.4f, \"gb_s\": %.2f}", sep, g.mm[i].label,
                g.mm[i].s * ms, gb_s(&g.mm[i]));
        sep = ",\n";
    }
    for (int k = 0; k < MMRT_OP_COUNT; k++)
        if (g.op_calls[k]) {
            fprintf(f, "%s    \"%s\": {\"ms\": %.4f}", sep, mmrt_op_name((mmrt_op_kind)k), g.op_s[k] * ms);
            sep = ",\n";
        }
    fprintf(f, "%s    \"outside ops\": {\"ms\": %.4f},\n    \"decode step\": {\"ms\": %.4f}\n  }", sep,
            (step_s - total_op_s()) * ms, step_s * ms);
}
