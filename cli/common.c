#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mmrt %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'mmrt %s --help'.\n", cmd);
    va_end(ap);
}

const char *cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "mmrt: option %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

bool cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "mmrt: %s expects an integer in [%ld, %ld], got \"%s\"\n", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "mmrt: %s expects a number in [%g, %g], got \"%s\"\n", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

/* The index of s among names[0 .. n), or -1. */
static int cli_pick(const char *s, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

static bool set_log_level(const char *s) {
    static const char *const names[] = {"error", "warn", "info", "debug"}; /* mmrt_log_level's order */
    int k = cli_pick(s, names, 4);
    if (k >= 0) {
        mmrt_log_set(NULL, NULL, (mmrt_log_level)k);
        return true;
    }
    fprintf(stderr, "mmrt: --log-level expects error, warn, info or debug, got \"%s\"\n", s);
    return false;
}

static bool parse_math(const char *what, const char *v, mmrt_math *out) {
    static const char *const names[] = {"f32", "tf32", "bf16", "f16", "auto", "int8"}; /* mmrt_math's order */
    int k = cli_pick(v, names, 6);
    if (k < 0) {
        fprintf(stderr, "mmrt: %s expects auto, f32, bf16, int8, tf32 or f16, got \"%s\"\n", what, v);
        return false;
    }
    *out = (mmrt_math)k;
    return true;
}

int cli_parse_common(int argc, char **argv, int *i, cli_common *c) {
    const char *a = argv[*i], *v;
    long n;
    if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
        if (!(v = cli_value(argc, argv, i))) return -1;
        c->model = v;
    } else if (strcmp(a, "--device") == 0) {
        if (!(v = cli_value(argc, argv, i))) return -1;
        static const char *const names[] = {"auto", "cpu", "cuda"}; /* mmrt_device's order */
        int k = cli_pick(v, names, 3);
        if (k < 0) {
            fprintf(stderr, "mmrt: --device expects cpu, cuda or auto, got \"%s\"\n", v);
            return -1;
        }
        c->device = (mmrt_device)k;
    } else if (strcmp(a, "--quant") == 0) {
        if (!(v = cli_value(argc, argv, i))) return -1;
        static const char *const names[] = {"none", "q8_0", "q4_0", "q4_k"}; /* mmrt_quant's order */
        int k = cli_pick(v, names, 4);
        if (k < 0) {
            fprintf(stderr, "mmrt: --quant expects q8_0, q4_0 or q4_k, got \"%s\"\n", v);
            return -1;
        }
        c->quant = (mmrt_quant)k;
    } else if (strcmp(a, "--math") == 0) {
        if (!(v = cli_value(argc, argv, i)) || !parse_math("--math", v, &c->math)) return -1;
        c->math_set = true;
    } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
        if (!(v = cli_value(argc, argv, i)) || !cli_parse_int(a, v, 1, 1024, &n)) return -1;
        c->n_threads = (int)n;
    } else if (strcmp(a, "--json") == 0) {
        c->json = true;
    } else if (strcmp(a, "--offline") == 0) {
        c->offline = true;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
        mmrt_log_set(NULL, NULL, MMRT_LOG_INFO);
        c->verbose = true;
    } else if (strcmp(a, "--log-level") == 0) {
        if (!(v = cli_value(argc, argv, i)) || !set_log_level(v)) return -1;
    } else {
        return 0;
    }
    return 1;
}

mmrt_model *cli_load_model(const cli_common *c) {
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = c->device;
    if (c->math_set) mp.math = c->math; /* else auto, or $MMRT_MATH (mmrt_model_load) */
    mp.quant = c->quant;
    mp.n_threads = c->n_threads;
    mp.n_threads = c->n_threads;
    mp.offline = c->offline;
    mmrt_model *model = NULL;
    if (mmrt_model_load(c->model, &mp, &model) != MMRT_OK) {
        fprintf(stderr, "mmrt: %s\n", mmrt_last_error());
        return NULL;
    }
    return model;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
               : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))) return 0;
    if (len == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))) return 0;
    return len;
}

void cli_json_string(FILE *f, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char ch = u[i];
        size_t len = utf8_seq(u + i, n - i);
        if (len == 0) { /* JSON must be UTF-8: a stray byte becomes U+FFFD */
            fputs("\\ufffd", f);
            i++;
            continue;
        }
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch == '\r') fputs("\\r", f);
        else if (ch == '\t') fputs("\\t", f);
        else if (ch < 0x20 || ch == 0x7f) fprintf(f, "\\u%04x", ch);
        else fwrite(u + i, 1, len, f);
        i += len;
    }
    fputc('"', f);
}

char *cli_read_text(const char *path) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "mmrt: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *p = realloc(buf, cap *= 2);
        if (!p) {
            free(buf);
            buf = NULL;
        }
        buf = p;
    }
    bool failed = !buf || ferror(f);
    if (f != stdin) fclose(f);
    if (failed) {
        fprintf(stderr, "mmrt: %s: %s\n", path, buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        fprintf(stderr, "mmrt: %s: the prompt contains a NUL byte\n", path);
        free(buf);
        return NULL;
    }
    return buf;
}

void cli_gen_init(cli_gen *g) {
    mmrt_generate_params_init(&g->gp, sizeof g->gp);
    mmrt_session_params_init(&g->sp, sizeof g->sp);
    g->gp.stop_strings = g->stops;
    g->gp.n_stop = 0;
}

int cli_parse_gen(const char *cmd, int argc, char **argv, int *i, cli_gen *g) {
    static const char *const opts[] = {"--system", "-n", "--max-tokens", "--temp", "--top-k", "--top-p",
                                       "--min-p", "--repeat-penalty", "--seed", "--ctx", "--stop"};
    const char *a = argv[*i], *v;
    if (strcmp(a, "--raw") == 0) {
        g->gp.raw = true;
        return 1;
    }
    if (strcmp(a, "--special") == 0) {
        g->gp.special = true;
        return 1;
    }
    bool known = false;
    for (size_t k = 0; k < sizeof opts / sizeof *opts; k++) known |= strcmp(a, opts[k]) == 0;
    if (!known) return 0;
    if (!(v = cli_value(argc, argv, i))) return -1;
    long n;
    double x;
    mmrt_generate_params *gp = &g->gp;
    if (strcmp(a, "--system") == 0) {
        gp->system = v;
    } else if (strcmp(a, "-n") == 0 || strcmp(a, "--max-tokens") == 0) {
        if (!cli_parse_int(a, v, 0, 1 << 24, &n)) return -1;
        gp->max_tokens = (int32_t)n;
    } else if (strcmp(a, "--temp") == 0) {
        if (!cli_parse_float(a, v, 0, 100, &x)) return -1;
        gp->temperature = (float)x;
    } else if (strcmp(a, "--top-k") == 0) {
        if (!cli_parse_int(a, v, 0, 1 << 24, &n)) return -1;
        gp->top_k = (int32_t)n;
    } else if (strcmp(a, "--top-p") == 0) {
        if (!cli_parse_float(a, v, 0, 1, &x)) return -1;
        gp->top_p = (float)x;
    } else if (strcmp(a, "--min-p") == 0) {
        if (!cli_parse_float(a, v, 0, 1, &x)) return -1;
        gp->min_p = (float)x;
    } else if (strcmp(a, "--repeat-penalty") == 0) {
        if (!cli_parse_float(a, v, 0.01, 100, &x)) return -1;
        gp->repeat_penalty = (float)x;
    } else if (strcmp(a, "--seed") == 0) {
        if (!cli_parse_int(a, v, 0, 0x7fffffffL, &n)) return -1;
        gp->seed = (uint64_t)n;
    } else if (strcmp(a, "--ctx") == 0) {
        if (!cli_parse_int(a, v, 1, 1 << 24, &n)) return -1;
        g->sp.n_ctx = (int32_t)n;
    } else { /* --stop */
        if (gp->n_stop == CLI_MAX_STOP) {
            cli_usage_error(cmd, "at most %d --stop strings", CLI_MAX_STOP);
            return -1;
        }
        g->stops[gp->n_stop++] = v;
    }
    return 1;
}

int cli_on_token(const char *piece, size_t len, int32_t token, void *user) {
    (void)token;
    cli_out *o = user;
    if (!o->json) {
        fwrite(piece, 1, len, stdout);
        fflush(stdout);
        return 0;
    }
    if (o->n + len + 1 > o->cap) {
        size_t cap = (o->n + len + 1) * 2;
        char *p = realloc(o->text, cap);
        if (!p) {
            o->oom = true;
            return 1;
        }
        o->text = p;
        o->cap = cap;
    }
    memcpy(o->text + o->n, piece, len);
    o->n += len;
    return 0;
}

const char *cli_stop_name(mmrt_stop_reason r) {
    static const char *const names[] = {"none", "eos", "stop_string", "max_tokens", "callback", "context_full"};
    return (unsigned)r < 6 ? names[r] : "?";
}

double cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
