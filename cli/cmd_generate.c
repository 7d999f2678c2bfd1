/* mmrt generate: text in, text out, streamed as it is generated. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmrt generate [options] -p TEXT | -f FILE\n"
            "\n"
            "Generates a reply to TEXT, streaming it to stdout. By default the prompt is wrapped in\n"
            "the checkpoint's chat format (ChatML for SmolLM2); --raw continues TEXT as is.\n"
            "\n"
            "  -m, --model M          model directory, .gguf file (Llama) or Hugging Face repo id\n"
            "                         (default %s)\n"
            "  -p, --prompt TEXT      the prompt\n"
            "  -f, --file FILE        read the prompt from FILE ('-' for standard input)\n"
            CLI_GEN_HELP
            "      --json             print one JSON object (text, token counts, timings) at the end\n"
            CLI_COMMON_HELP,
            CLI_DEFAULT_TEXT_MODEL);
}

int cmd_generate(int argc, char **argv) {
    cli_common c = {.model = CLI_DEFAULT_TEXT_MODEL};
    cli_gen g;
    cli_gen_init(&g);
    mmrt_generate_params gp;
    const char *prompt = NULL, *prompt_file = NULL;
    char *file_text = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = cli_parse_common(argc, argv, &i, &c);
        if (r == 0) r = cli_parse_gen("generate", argc, argv, &i, &g);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        bool is_prompt = strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0;
        bool is_file = strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0;
        if (!is_prompt && !is_file) {
            cli_usage_error("generate", "unknown option %s", a);
            return CLI_EXIT_USAGE;
        }
        if (!(v = cli_value(argc, argv, &i))) return CLI_EXIT_USAGE;
        if (is_prompt) prompt = v;
        else prompt_file = v;
    }
    gp = g.gp;
    if (!prompt == !prompt_file) {
        cli_usage_error("generate", "give the prompt with either -p TEXT or -f FILE");
        return CLI_EXIT_USAGE;
    }
    if (prompt_file) {
        if (!(file_text = cli_read_text(prompt_file))) return CLI_EXIT_RUNTIME;
        prompt = file_text;
    }
    int rc = CLI_EXIT_OK;
    mmrt_model *model = NULL;
    mmrt_session *s = NULL;
    if (gp.max_tokens == 0 && !c.json) goto done; /* -n 0: nothing to do, nothing to load */
    if (!(model = cli_load_model(&c))) {
        rc = CLI_EXIT_RUNTIME;
        goto done;
    }
    if (mmrt_session_init(model, &g.sp, &s) != MMRT_OK) {
        fprintf(stderr, "mmrt: %s\n", mmrt_last_error());
        rc = CLI_EXIT_RUNTIME;
        goto done;
    }
    cli_out out = {.json = c.json};
    gp.on_token = cli_on_token;
    gp.user = &out;
    mmrt_generate_result r = {.size = sizeof r};
    mmrt_status st = mmrt_session_generate(s, prompt, &gp, &r);
    if (st == MMRT_OK && out.oom) {
        fprintf(stderr, "mmrt: out of memory collecting the generated text\n");
        rc = CLI_EXIT_RUNTIME;
    } else if (st != MMRT_OK) {
        if (!c.json && r.n_generated > 0) fputc('\n', stdout);
        fprintf(stderr, "mmrt: %s\n", mmrt_session_last_error(s));
        rc = CLI_EXIT_RUNTIME; /* options were checked above: this is the model or the input */
    } else if (c.json) {
        printf("{\"model\": ");
        cli_json_string(stdout, c.model, strlen(c.model));
        printf(", \"text\": ");
        cli_json_string(stdout, out.text ? out.text : "", out.n);
        printf(", \"prompt_tokens\": %d, \"generated_tokens\": %d, \"stop_reason\": \"%s\", "
               "\"prefill_ms\": %.3f, \"decode_ms\": %.3f}\n",
               r.n_prompt_tokens, r.n_generated, cli_stop_name(r.stop_reason), r.prefill_ms, r.decode_ms);
    } else if (r.n_generated > 0) {
        fputc('\n', stdout);
    }
    if (st == MMRT_OK && c.verbose) {
        /* the first generated token comes from the prefill pass; the others each cost a decode */
        int32_t n_dec = r.n_generated > 1 ? r.n_generated - 1 : 0;
        fprintf(stderr, "mmrt: prompt %d tokens in %.1f ms (%.1f tok/s); generated %d tokens, "
                        "decode %.1f ms (%.1f tok/s); stop: %s\n",
                r.n_prompt_tokens, r.prefill_ms, r.n_prompt_tokens / (r.prefill_ms / 1e3 + 1e-12),
                r.n_generated, r.decode_ms, n_dec / (r.decode_ms / 1e3 + 1e-12), cli_stop_name(r.stop_reason));
    }
    free(out.text);
done:
    mmrt_session_free(s);
    mmrt_model_free(model);
    free(file_text);
    return rc;
}
