#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

_Noreturn void bench_die(const char *what, const mmrt_error *err) {
    fprintf(stderr, "mmrt-bench: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    exit(1);
}

void bench_cpu_name(char *out, size_t n) {
    snprintf(out, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 1 + (colon[1] == ' ');
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(out, n, "%s", colon);
            break;
        }
    }
    fclose(f);
}

void bench_json_str(const char *key, const char *s) {
    printf("  \"%s\": \"", key);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    printf("\",\n");
}

/* CPU seconds the whole machine spent busy (steal included: a hypervisor running other guests
 * takes the same cores), from /proc/stat; -1 when unreadable. */
static double machine_busy_s(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 8) return -1;
    /* user nice system idle iowait irq softirq steal */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

bench_load bench_load_now(void) { return (bench_load){bench_now_s(), machine_busy_s(), self_cpu_s()}; }

double bench_load_others(bench_load a, bench_load b) {
    if (a.busy < 0 || b.busy < 0 || b.wall <= a.wall) return -1;
    double others = (b.busy - a.busy) - (b.self - a.self);
    return others > 0 ? others / (b.wall - a.wall) : 0;
}

void bench_keep_min(double *best, double s) {
    if (s < 0) bench_die("the bandwidth probe process ended unexpectedly", NULL);
    if (*best <= 0 || s < *best) *best = s;
}

membw_region *bench_llm_weight_regions(const mmrt_llm *m, int *n, size_t *bytes) {
    membw_region *r = malloc(sizeof *r * (size_t)(9 * m->hp.n_layer + 2));
    if (!r) bench_die("out of memory", NULL);
    *n = 0;
    *bytes = 0;
#define ADD(t) (r[(*n)++] = (membw_region){(t).data, mmrt_tensor_nbytes(&(t))}, *bytes += mmrt_tensor_nbytes(&(t)))
    for (int64_t i = 0; i < m->hp.n_layer; i++) {
        const mmrt_llm_layer *l = &m->layers[i];
        ADD(l->attn_norm), ADD(l->wq), ADD(l->wk), ADD(l->wv), ADD(l->wo);
        ADD(l->ffn_norm), ADD(l->w_gate), ADD(l->w_up), ADD(l->w_down);
    }
    ADD(m->out_norm), ADD(m->lm_head);
#undef ADD
    return r;
}
