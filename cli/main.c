/* mmrt: the command-line front end of libmmrt. */
#include "cli.h"

#include <errno.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmrt <command> [options]\n"
            "\n"
            "Runs Hugging Face checkpoints on the CPU, faithfully to transformers.\n"
            "\n"
            "commands:\n"
            "  caption    describe images (mmrt caption photo.jpg)\n"
            "  ask        answer a question about images or speech (mmrt ask photo.jpg \"How many people?\")\n"
            "  transcribe speech to text, SRT or WebVTT (mmrt transcribe talk.mp3)\n"
            "  generate   continue or answer a text prompt (mmrt generate -p \"Hello\")\n"
            "  chat       a conversation, one turn per line (mmrt chat; /image PATH, /reset)\n"
            "  info       describe a model: architecture, sizes, dtypes, memory\n"
            "  quantize   write a Llama checkpoint as a quantized GGUF file (mmrt quantize DIR out.gguf)\n"
            "\n"
            "options:\n"
            "  -h, --help     this help; 'mmrt <command> --help' for a command's options\n"
            "  --version      print the version\n"
            "\n"
            "--model takes a Hugging Face model directory, a Llama .gguf file or a repo id (default for images:\n"
            "%s; for text: %s; for speech: %s, and %s to ask about it).\n"
            "exit codes: 0 success, 1 runtime error, 2 usage error\n",
            CLI_DEFAULT_VISION_MODEL, CLI_DEFAULT_TEXT_MODEL, CLI_DEFAULT_SPEECH_MODEL, CLI_DEFAULT_SPEECH_ASK_MODEL);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("mmrt %s (ABI %d)\n", mmrt_version(), MMRT_ABI_VERSION);
        return CLI_EXIT_OK;
    }
    int rc;
    if (strcmp(cmd, "generate") == 0) rc = cmd_generate(argc - 1, argv + 1);
    else if (strcmp(cmd, "info") == 0) rc = cmd_info(argc - 1, argv + 1);
    else if (strcmp(cmd, "caption") == 0) rc = cmd_caption(argc - 1, argv + 1);
    else if (strcmp(cmd, "ask") == 0) rc = cmd_ask(argc - 1, argv + 1);
    else if (strcmp(cmd, "chat") == 0) rc = cmd_chat(argc - 1, argv + 1);
    else if (strcmp(cmd, "transcribe") == 0) rc = cmd_transcribe(argc - 1, argv + 1);
    else if (strcmp(cmd, "quantize") == 0) rc = cmd_quantize(argc - 1, argv + 1);
    else {
        fprintf(stderr, "mmrt: unknown command \"%s\"\n\n", cmd);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    /* output that never arrived (a full disk, a closed pipe) is a failure, not a success */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "mmrt: writing the output failed: %s\n", strerror(errno));
        return CLI_EXIT_RUNTIME;
    }
    return rc;
}
