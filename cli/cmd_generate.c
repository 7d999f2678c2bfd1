/* mmrt generate: text in, text out, streamed as it is generated. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define MAX_STOP 16

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmrt generate [options] -p TEXT | -f FILE\n"
            "\n"
            "Generates a reply to TEXT, streaming it to stdout. By default the prompt is wrapped in\n"
            "the checkpoint's chat format (ChatML for SmolLM2); --raw continues TEXT as is.\n"
            "\n"
            "  -m, --model M          model directory or Hugging Face repo id\n"
            "                         (default %s)\n"
            "  -p, --prompt TEXT      the prompt\n"
            "  -f, --file FILE        read the prompt from FILE ('-' for standard input)\n"
            "  -n, --max-tokens N     generate at most N tokens (default 256; 0 prints nothing)\n"
            "      --temp T           sampling temperature; 0 = greedy (default 0)\n"
            "      --top-k K          keep the K most likely tokens (default 0 = off)\n"
            "      --top-p P          nucleus sampling mass (default 1 = off)\n"
            "      --min-p P          drop tokens below P × the top probability (default 0 = off)\n"
            "      --repeat-penalty R penalise tokens already seen (default 1 = off)\n"
            "      --seed S           random seed for reproducible sampling (default: random)\n"
            "      --stop S           stop when S appears (repeatable, up to %d)\n"
            "      --system TEXT      system message for the chat format (default: the template's)\n"
            "      --raw              no chat format\n"
            "      --ctx N            context size in tokens (default min(model's, 4096))\n"
            "  -t, --threads N        CPU threads (default: all cores)\n"
            "      --device D         cpu, cuda or auto (default auto)\n"
            "      --offline          never download; use the Hugging Face cache only\n"
            "      --json             print one JSON object (text, token counts, timings) at the end\n"
            "  -v, --verbose          timings and load details on stderr\n"
            "      --log-level L      error, warn, info or debug\n",
            CLI_DEFAULT_TEXT_MODEL, MAX_STOP);
}

/* The options of this command that take a value (the common ones are parsed before). */
static bool takes_value(const char *a) {
    static const char *const opts[] = {"-p", "--prompt", "-f", "--file", "--system", "-n", "--max-tokens",
                                       "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty",
                                       "--seed", "--ctx", "--stop"};
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
        if (strcmp(a, opts[i]) == 0) return true;
    return false;
}

typedef struct out_state {
    bool json;
    bool oom; /* the JSON text buffer could not grow */
    char *text;
    size_t n, cap;
} out_state;

static int on_token(const char *piece, size_t len, int32_t token, void *user) {
    out_state *o = user;
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

static const char *stop_name(mmrt_stop_reason r) {
    static const char *const names[] = {"none", "eos", "stop_string", "max_tokens", "callback", "context_full"};
    return (unsigned)r < 6 ? names[r] : "?";
}

int cmd_generate(int argc, char **argv) {
    cli_common c = {.model = CLI_DEFAULT_TEXT_MODEL};
    mmrt_generate_params gp = mmrt_generate_default_params();
    mmrt_session_params sp = mmrt_session_default_params();
    const char *prompt = NULL, *prompt_file = NULL, *stops[MAX_STOP];
    char *file_text = NULL;
    int n_stop = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        double x;
        int r = cli_parse_common(argc, argv, &i, &c);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(a, "--raw") == 0) {
            gp.raw = true;
            continue;
        }
        if (!takes_value(a)) {
            cli_usage_error("generate", "unknown option %s", a);
            return CLI_EXIT_USAGE;
        }
        if (!(v = cli_value(argc, argv, &i))) return CLI_EXIT_USAGE;
        if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) prompt = v;
        else if (strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) prompt_file = v;
        else if (strcmp(a, "--system") == 0) gp.system = v;
        else if (strcmp(a, "-n") == 0 || strcmp(a, "--max-tokens") == 0) {
            if (!cli_parse_int(a, v, 0, 1 << 24, &n)) return CLI_EXIT_USAGE;
            gp.max_tokens = (int32_t)n;
        } else if (strcmp(a, "--temp") == 0) {
            if (!cli_parse_float(a, v, 0, 100, &x)) return CLI_EXIT_USAGE;
            gp.temperature = (float)x;
        } else if (strcmp(a, "--top-k") == 0) {
            if (!cli_parse_int(a, v, 0, 1 << 24, &n)) return CLI_EXIT_USAGE;
            gp.top_k = (int32_t)n;
        } else if (strcmp(a, "--top-p") == 0) {
            if (!cli_parse_float(a, v, 0, 1, &x)) return CLI_EXIT_USAGE;
            gp.top_p = (float)x;
        } else if (strcmp(a, "--min-p") == 0) {
            if (!cli_parse_float(a, v, 0, 1, &x)) return CLI_EXIT_USAGE;
            gp.min_p = (float)x;
        } else if (strcmp(a, "--repeat-penalty") == 0) {
            if (!cli_parse_float(a, v, 0.01, 100, &x)) return CLI_EXIT_USAGE;
            gp.repeat_penalty = (float)x;
        } else if (strcmp(a, "--seed") == 0) {
            if (!cli_parse_int(a, v, 0, 0x7fffffffL, &n)) return CLI_EXIT_USAGE;
            gp.seed = (uint64_t)n;
        } else if (strcmp(a, "--ctx") == 0) {
            if (!cli_parse_int(a, v, 1, 1 << 24, &n)) return CLI_EXIT_USAGE;
            sp.n_ctx = (int32_t)n;
        } else if (strcmp(a, "--stop") == 0) {
            if (n_stop == MAX_STOP) {
                cli_usage_error("generate", "at most %d --stop strings", MAX_STOP);
                return CLI_EXIT_USAGE;
            }
            stops[n_stop++] = v;
        } else {
            cli_usage_error("generate", "unknown option %s", a);
            return CLI_EXIT_USAGE;
        }
    }
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
    if (mmrt_session_init(model, &sp, &s) != MMRT_OK) {
        fprintf(stderr, "mmrt: %s\n", mmrt_last_error());
        rc = CLI_EXIT_RUNTIME;
        goto done;
    }
    out_state out = {.json = c.json};
    gp.on_token = on_token;
    gp.user = &out;
    gp.stop_strings = stops;
    gp.n_stop = n_stop;
    mmrt_generate_result r;
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
               r.n_prompt_tokens, r.n_generated, stop_name(r.stop_reason), r.prefill_ms, r.decode_ms);
    } else if (r.n_generated > 0) {
        fputc('\n', stdout);
    }
    if (st == MMRT_OK && c.verbose) {
        /* the first generated token comes from the prefill pass; the others each cost a decode */
        int32_t n_dec = r.n_generated > 1 ? r.n_generated - 1 : 0;
        fprintf(stderr, "mmrt: prompt %d tokens in %.1f ms (%.1f tok/s); generated %d tokens, "
                        "decode %.1f ms (%.1f tok/s); stop: %s\n",
                r.n_prompt_tokens, r.prefill_ms, r.n_prompt_tokens / (r.prefill_ms / 1e3 + 1e-12),
                r.n_generated, r.decode_ms, n_dec / (r.decode_ms / 1e3 + 1e-12), stop_name(r.stop_reason));
    }
    free(out.text);
done:
    mmrt_session_free(s);
    mmrt_model_free(model);
    free(file_text);
    return rc;
}
