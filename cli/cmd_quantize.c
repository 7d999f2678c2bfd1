/* mmrt quantize: a checkpoint written as a quantized Llama GGUF file (mmrt_quantize_file). */
#include "cli.h"

#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmrt quantize IN OUT.gguf [options]\n"
            "\n"
            "Writes a Llama checkpoint as a GGUF file (llama.cpp's format) with its decoder quantized: the\n"
            "q/k/v/o, gate/up/down and an untied lm_head matrices, as --quant does at load, so loading OUT\n"
            "gives the weights that loading IN with --quant gives. Embeddings, and matrices whose rows do\n"
            "not fit the format's block, keep their type; norms are written as F32 (as llama.cpp's converter).\n"
            "\n"
            "  IN                 a Hugging Face Llama directory (config.json model_type \"llama\"), or a\n"
            "                     Llama .gguf file (its keys are copied; quantized tensors stay as they are)\n"
            "  OUT.gguf           the file to write (atomically; never IN)\n"
            "      --type T       q8_0 (default: nearly lossless), q4_0 or q4_k (rows of 256)\n"
            "  -t, --threads N    CPU threads (default: all cores)\n"
            "  -q, --quiet        no progress on stderr\n"
            "  -v, --verbose      load details on stderr\n"
            "      --log-level L  error, warn, info or debug\n"
            "\n"
            "exit codes: 0 success, 1 runtime error (naming the file), 2 usage error\n");
}

static void on_progress(size_t i, size_t n, const char *name, const char *type, void *user) {
    (void)user;
    fprintf(stderr, "mmrt quantize: tensor %zu/%zu %s -> %s\n", i + 1, n, name, type);
}

typedef struct quantize_args {
    const char *in, *out;
    mmrt_quantize_params p;
    bool quiet;
} quantize_args;

/* 1 parsed, 0 --help printed, -1 usage error (reported). */
static int parse_args(int argc, char **argv, quantize_args *a) {
    cli_common c = {0};
    for (int i = 1; i < argc; i++) {
        const char *v;
        long n;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--type") == 0) {
            static const char *const names[] = {"q8_0", "q4_0", "q4_k"}; /* mmrt_quant's order from 1 */
            if (!(v = cli_value(argc, argv, &i))) return -1;
            int k = 0;
            while (k < 3 && strcmp(v, names[k]) != 0) k++;
            if (k == 3) {
                cli_usage_error("quantize", "--type expects q8_0, q4_0 or q4_k, got \"%s\"", v);
                return -1;
            }
            a->p.quant = (mmrt_quant)(k + 1);
        } else if (strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--threads") == 0) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(argv[i - 1], v, 1, 1024, &n)) return -1;
            a->p.n_threads = (int)n;
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            a->quiet = true;
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0 ||
                   strcmp(argv[i], "--log-level") == 0) {
            if (cli_parse_common(argc, argv, &i, &c) < 0) return -1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cli_usage_error("quantize", "unknown option %s", argv[i]);
            return -1;
        } else if (!a->in || !a->out) {
            *(a->in ? &a->out : &a->in) = argv[i];
        } else {
            cli_usage_error("quantize", "unexpected argument \"%s\" (IN and OUT are given)", argv[i]);
            return -1;
        }
    }
    if (!a->out) {
        cli_usage_error("quantize", "%s", a->in ? "OUT.gguf is missing" : "IN and OUT.gguf are missing");
        return -1;
    }
    return 1;
}

int cmd_quantize(int argc, char **argv) {
    quantize_args a = {0};
    mmrt_quantize_params_init(&a.p, sizeof a.p);
    int r = parse_args(argc, argv, &a);
    if (r <= 0) return r == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (strcmp(a.in, a.out) == 0) {
        cli_usage_error("quantize", "OUT.gguf is IN (%s): write the quantized file elsewhere", a.in);
        return CLI_EXIT_USAGE;
    }
    if (!a.quiet) a.p.progress = on_progress;
    mmrt_status st = mmrt_quantize_file(a.in, a.out, &a.p);
    if (st == MMRT_ERR_INVALID_ARG) { /* the type is checked above: OUT is IN under another name */
        cli_usage_error("quantize", "%s", mmrt_last_error());
        return CLI_EXIT_USAGE;
    }
    if (st != MMRT_OK) {
        fprintf(stderr, "mmrt quantize: %s\n", mmrt_last_error());
        return CLI_EXIT_RUNTIME;
    }
    if (!a.quiet) fprintf(stderr, "mmrt quantize: wrote %s\n", a.out);
    return CLI_EXIT_OK;
}
