/* mmrt chat: an interactive conversation, one user turn per line of standard input. The session
 * keeps the conversation and its KV cache, so each turn prefills only what it adds. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHAT_MAX_IMAGES 16

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmrt chat [options]\n"
            "\n"
            "Chats with a model: reads your turns line by line from standard input (a terminal or\n"
            "a pipe) and streams each reply to stdout, followed by a newline. The conversation is\n"
            "rendered whole with the checkpoint's chat template every turn; what the model already\n"
            "computed is kept, so only the new turn is prefilled. Lines that start with '/' are\n"
            "commands:\n"
            "  /image PATH            attach an image to your next turn (repeatable)\n"
            "  /reset                 forget the conversation and start over\n"
            "  /exit                  end the chat (so does end of input)\n"
            "  //TEXT                 send the turn '/TEXT'\n"
            "\n"
            "  -m, --model M          model directory, .gguf file (Llama) or Hugging Face repo id\n"
            "                         (default %s)\n"
            CLI_GEN_HELP
            "      --drop-old-turns   when the conversation outgrows the context, drop its oldest\n"
            "                         turns instead of failing\n"
            "      --json             per turn, one JSON object on stdout instead of the streamed\n"
            "                         text: turn, text, token counts, stop reason, timings\n"
            CLI_COMMON_HELP
            "\n"
            "-v also prints, per turn on stderr, the prompt's tokens: from the cache, prefilled, and\n"
            "generated. --raw does not apply (a chat is always templated). Exit status 1 when a turn failed\n"
            "(its message is on stderr; the chat goes on without it).\n",
            CLI_DEFAULT_TEXT_MODEL);
}

typedef struct chat {
    const cli_common *c;
    mmrt_generate_params gp;
    mmrt_session *s;
    bool vision;    /* the model takes images */
    bool tty;       /* standard input is a terminal: prompt for each line */
    char *images[CHAT_MAX_IMAGES]; /* attached to the next turn */
    int n_images;
    int turn;       /* turns of the current conversation */
    bool failed;    /* a turn failed */
} chat;

static void drop_images(chat *ch) {
    for (int i = 0; i < ch->n_images; i++) free(ch->images[i]);
    ch->n_images = 0;
}

/* /image PATH: checked now (readable, a model that takes images) so that a mistake costs no turn. */
static void attach_image(chat *ch, const char *path) {
    while (*path == ' ' || *path == '\t') path++;
    size_t n = strlen(path);
    if (n >= 2 && (path[0] == '"' || path[0] == '\'') && path[n - 1] == path[0]) { /* a quoted path */
        path++;
        n -= 2;
    }
    if (n == 0) {
        fprintf(stderr, "mmrt chat: /image needs a path: /image photo.jpg\n");
        return;
    }
    if (!ch->vision) {
        fprintf(stderr, "mmrt chat: %s is a text model: it takes no images (a vision model such as %s does)\n",
                ch->c->model, CLI_DEFAULT_VISION_MODEL);
        return;
    }
    if (ch->n_images == CHAT_MAX_IMAGES) {
        fprintf(stderr, "mmrt chat: at most %d images per turn\n", CHAT_MAX_IMAGES);
        return;
    }
    char *p = strndup(path, n);
    FILE *f = p ? fopen(p, "rb") : NULL;
    if (!f) {
        fprintf(stderr, "mmrt chat: /image %s: %s\n", p ? p : path, p ? strerror(errno) : "out of memory");
        free(p);
        return;
    }
    fclose(f);
    ch->images[ch->n_images++] = p;
    if (ch->tty) fprintf(stderr, "(image %s attached to your next turn)\n", p);
}

static void report_json(const chat *ch, const mmrt_generate_result *r) {
    const char *text = mmrt_session_last_reply(ch->s);
    printf("{\"turn\": %d, \"text\": ", ch->turn);
    cli_json_string(stdout, text, strlen(text));
    printf(", \"n_prompt_tokens\": %d, \"n_cached_tokens\": %d, \"n_prefilled\": %d, \"n_generated\": %d, "
           "\"n_images\": %d, \"n_dropped_turns\": %d, \"stop_reason\": \"%s\", \"image_encode_ms\": %.3f, "
           "\"prefill_ms\": %.3f, \"decode_ms\": %.3f}\n",
           r->n_prompt_tokens, r->n_cached_tokens, r->n_prompt_tokens - r->n_cached_tokens, r->n_generated,
           r->n_images, r->n_dropped_turns, cli_stop_name(r->stop_reason), r->image_encode_ms, r->prefill_ms,
           r->decode_ms);
}

static void user_turn(chat *ch, const char *text) {
    mmrt_part parts[CHAT_MAX_IMAGES + 1];
    int n = 0;
    for (int i = 0; i < ch->n_images; i++) parts[n++] = mmrt_image_file_part(ch->images[i]);
    parts[n++] = mmrt_text_part(text);
    cli_out out = {.json = false};
    mmrt_generate_params gp = ch->gp;
    gp.on_token = ch->c->json ? NULL : cli_on_token;
    gp.user = &out;
    mmrt_generate_result r = {.size = sizeof r};
    mmrt_status st = mmrt_session_chat(ch->s, parts, (size_t)n, &gp, &r);
    drop_images(ch); /* attached to this turn, whether it worked or not */
    if (st != MMRT_OK) {
        if (!ch->c->json && r.n_generated > 0) fputc('\n', stdout);
        fflush(stdout);
        fprintf(stderr, "mmrt chat: %s\n", mmrt_session_last_error(ch->s));
        ch->failed = true;
        return;
    }
    ch->turn++;
    if (ch->c->json) report_json(ch, &r);
    else fputc('\n', stdout);
    fflush(stdout);
    if (ch->c->verbose)
        fprintf(stderr, "mmrt: turn %d: prompt %d tokens, %d from the cache, %d prefilled, %d generated%s\n", ch->turn,
                r.n_prompt_tokens, r.n_cached_tokens, r.n_prompt_tokens - r.n_cached_tokens, r.n_generated,
                r.n_dropped_turns ? " (oldest turns dropped)" : "");
}

/* One line of input; false at /exit. */
static bool chat_line(chat *ch, char *line) {
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n == 0) return true;
    if (line[0] == '/' && line[1] != '/') {
        if (strcmp(line, "/exit") == 0 || strcmp(line, "/quit") == 0) return false;
        if (strcmp(line, "/reset") == 0) {
            mmrt_session_reset(ch->s);
            drop_images(ch);
            ch->turn = 0;
            fprintf(stderr, "(the conversation starts over)\n");
        } else if (strncmp(line, "/image", 6) == 0 && (line[6] == ' ' || line[6] == '\t' || line[6] == '\0')) {
            attach_image(ch, line + 6);
        } else {
            fprintf(stderr, "mmrt chat: unknown command %s (/image PATH, /reset, /exit; //TEXT sends /TEXT)\n", line);
        }
        return true;
    }
    user_turn(ch, line[0] == '/' ? line + 1 : line);
    return true;
}

int cmd_chat(int argc, char **argv) {
    cli_common c = {.model = CLI_DEFAULT_TEXT_MODEL};
    cli_gen g;
    cli_gen_init(&g);
    bool drop = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_parse_common(argc, argv, &i, &c);
        if (r == 0) r = cli_parse_gen("chat", argc, argv, &i, &g);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(a, "--drop-old-turns") == 0) {
            drop = true;
            continue;
        }
        cli_usage_error("chat", "unknown option %s", a);
        return CLI_EXIT_USAGE;
    }
    if (g.gp.raw) {
        cli_usage_error("chat", "--raw does not apply: a chat is always rendered with the chat template");
        return CLI_EXIT_USAGE;
    }
    chat ch = {.c = &c, .gp = g.gp, .tty = isatty(STDIN_FILENO)};
    ch.gp.drop_old_turns = drop;
    mmrt_model *model = cli_load_model(&c);
    if (!model) return CLI_EXIT_RUNTIME;
    mmrt_model_info info = {.size = sizeof info};
    ch.vision = mmrt_model_get_info(model, &info) == MMRT_OK && info.vision;
    if (mmrt_session_init(model, &g.sp, &ch.s) != MMRT_OK) {
        fprintf(stderr, "mmrt: %s\n", mmrt_last_error());
        mmrt_model_free(model);
        return CLI_EXIT_RUNTIME;
    }
    if (ch.tty)
        fprintf(stderr, "mmrt chat with %s: type a message; /image PATH, /reset, /exit (or Ctrl-D)\n", c.model);
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (ch.tty) fprintf(stderr, "> ");
        if (getline(&line, &cap, stdin) < 0) {
            if (ch.tty) fputc('\n', stderr);
            break;
        }
        if (!chat_line(&ch, line)) break;
    }
    free(line);
    drop_images(&ch);
    mmrt_session_free(ch.s);
    mmrt_model_free(model);
    return ch.failed ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
}
