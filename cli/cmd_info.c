/* mmrt info: what a checkpoint is and what running it costs. */
#include "cli.h"

#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmrt info [options]\n"
            "\n"
            "Describes a model: architecture, sizes, dtypes, tensor count and memory needed.\n"
            "\n"
            "  -m, --model M     model directory, .gguf file or Hugging Face repo id (default %s)\n"
            "      --devices     list the devices this build can run on instead (CPU, CUDA)\n"
            "      --ctx N       context size used for the memory estimate (default min(model's, 4096))\n"
            "      --offline     never download\n"
            "      --json        machine-readable output\n",
            CLI_DEFAULT_TEXT_MODEL);
}

/* mmrt info --devices: one line per device, or a JSON list of those lines. */
static int print_devices(bool json) {
    char *text = NULL;
    if (mmrt_devices_describe(&text) != MMRT_OK) {
        fprintf(stderr, "mmrt: %s\n", mmrt_last_error());
        return CLI_EXIT_RUNTIME;
    }
    if (!json) {
        fputs(text, stdout);
    } else {
        printf("{\"devices\": [");
        int k = 0;
        for (char *line = text, *nl; *line; line = nl + 1) {
            nl = strchr(line, '\n');
            if (k++) printf(", ");
            cli_json_string(stdout, line, (size_t)(nl - line));
        }
        printf("]}\n");
    }
    mmrt_free(text);
    return CLI_EXIT_OK;
}

static const char *math_name(mmrt_math m) {
    static const char *const names[] = {"f32", "tf32", "bf16", "f16", "auto", "int8"}; /* mmrt_math's order */
    return (unsigned)m < sizeof names / sizeof *names ? names[m] : "?";
}

int cmd_info(int argc, char **argv) {
    cli_common c = {.model = CLI_DEFAULT_TEXT_MODEL};
    long n_ctx = 0;
    bool devices = false;
    for (int i = 1; i < argc; i++) {
        int r = cli_parse_common(argc, argv, &i, &c);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--devices") == 0) {
            devices = true;
            continue;
        }
        if (strcmp(argv[i], "--ctx") == 0) {
            const char *v = cli_value(argc, argv, &i);
            if (!v || !cli_parse_int("--ctx", v, 1, 1 << 24, &n_ctx)) return CLI_EXIT_USAGE;
            continue;
        }
        cli_usage_error("info", "unknown option %s", argv[i]);
        return CLI_EXIT_USAGE;
    }
    if (devices) return print_devices(c.json);
    mmrt_model *model = cli_load_model(&c);
    if (!model) return CLI_EXIT_RUNTIME;
    mmrt_model_info mi = {.size = sizeof mi};
    mmrt_model_get_info(model, &mi);
    int64_t session = mmrt_model_session_bytes(model, (int32_t)n_ctx);
    double mib = 1048576.0;
    if (c.json) {
        printf("{\"path\": ");
        cli_json_string(stdout, mi.path, strlen(mi.path));
        printf(", \"architecture\": \"%s\", \"dtype\": \"%s\", \"parameters\": %lld, \"tensors\": %lld, "
               "\"weight_bytes\": %lld, \"session_bytes\": %lld, \"vocab\": %lld, \"hidden\": %lld, "
               "\"layers\": %lld, \"heads\": %lld, \"kv_heads\": %lld, \"head_dim\": %lld, "
               "\"ffn\": %lld, \"max_context\": %lld, \"tied_embeddings\": %s, \"chat_format\": \"%s\", "
               "\"vision\": %s, \"image_tile\": %d, \"image_tokens_per_tile\": %d, \"image_longest_edge\": %d, "
               "\"math\": \"%s\"}\n",
               mi.architecture, mi.dtype, (long long)mi.n_params, (long long)mi.n_tensors,
               (long long)mi.weight_bytes, (long long)session, (long long)mi.n_vocab,
               (long long)mi.n_embd, (long long)mi.n_layer, (long long)mi.n_head,
               (long long)mi.n_head_kv, (long long)mi.head_dim, (long long)mi.n_ff,
               (long long)mi.n_ctx_train, mi.tied_embeddings ? "true" : "false", mi.chat_format,
               mi.vision ? "true" : "false", mi.image_tile, mi.image_seq_len, mi.image_longest_edge,
               math_name(mi.math));
    } else {
        printf("model:          %s\n", mi.path);
        printf("architecture:   %s%s\n", mi.architecture, mi.vision ? " (vision encoder + decoder)" : " decoder");
        printf("parameters:     %.2f M in %lld tensors (%s)\n", (double)mi.n_params / 1e6,
               (long long)mi.n_tensors, mi.dtype);
        printf("layers:         %lld, hidden %lld, ffn %lld\n", (long long)mi.n_layer,
               (long long)mi.n_embd, (long long)mi.n_ff);
        printf("attention:      %lld heads, %lld KV heads, head dim %lld\n", (long long)mi.n_head,
               (long long)mi.n_head_kv, (long long)mi.head_dim);
        printf("vocabulary:     %lld%s\n", (long long)mi.n_vocab,
               mi.tied_embeddings ? " (lm_head tied to the embeddings)" : "");
        printf("max context:    %lld tokens\n", (long long)mi.n_ctx_train);
        printf("chat format:    %s\n", mi.chat_format);
        printf("arithmetic:     %s%s\n", math_name(mi.math), c.math_set ? "" : " (auto: the checkpoint's dtype)");
        if (mi.vision)
            printf("images:         resized to %d px on the long side, %d x %d tiles + a global image, "
                   "%d tokens per tile\n",
                   mi.image_longest_edge, mi.image_tile, mi.image_tile, mi.image_seq_len);
        printf("memory:         %.1f MiB weights + %.1f MiB per session\n",
               (double)mi.weight_bytes / mib, (double)session / mib);
    }
    mmrt_model_free(model);
    return CLI_EXIT_OK;
}
