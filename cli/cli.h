/* The mmrt command: shared helpers of its subcommands. Only cli/ and samples/ parse argv or call
 * exit(). Exit codes: 0 success, 1 runtime error (bad model file, I/O, ...), 2 usage error. */
#ifndef MMRT_CLI_H
#define MMRT_CLI_H

#include <mmrt.h>
#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_RUNTIME 1
#define CLI_EXIT_USAGE 2

#define CLI_DEFAULT_TEXT_MODEL "HuggingFaceTB/SmolLM2-135M-Instruct"
#define CLI_DEFAULT_VISION_MODEL "HuggingFaceTB/SmolVLM-256M-Instruct"
#define CLI_DEFAULT_SPEECH_MODEL "ibm-granite/granite-speech-4.1-2b"     /* transcribe */
#define CLI_DEFAULT_SPEECH_ASK_MODEL "ibm-granite/granite-speech-3.3-2b" /* ask about audio: instruct LLM */
#define CLI_MAX_STOP 16

/* Options every model command takes. */
typedef struct cli_common {
    const char *model;
    mmrt_device device; /* MMRT_DEVICE_AUTO unless --device */
    mmrt_math math;     /* with math_set: --math; else the library's default */
    bool math_set;
    mmrt_quant quant;   /* --quant */
    int n_threads;
    bool json;
    bool offline;
    bool verbose;
} cli_common;

/* Parses an option shared by all commands at argv[*i] (advancing *i past its value). Returns 1 if
 * consumed, 0 if not a common option, -1 on a usage error (already reported). */
int cli_parse_common(int argc, char **argv, int *i, cli_common *c);
/* The value of option argv[*i], advancing *i; NULL (reported) when missing. */
const char *cli_value(int argc, char **argv, int *i);
/* CLOCK_MONOTONIC in seconds (progress rates). */
double cli_now_s(void);
bool cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *opt, const char *s, double lo, double hi, double *out);
void cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Generation options every generating command takes (sampling, limits, chat format). */
typedef struct cli_gen {
    mmrt_generate_params gp;
    mmrt_session_params sp;
    const char *stops[CLI_MAX_STOP];
} cli_gen;

void cli_gen_init(cli_gen *g);
/* Like cli_parse_common, for the generation options. */
int cli_parse_gen(const char *cmd, int argc, char **argv, int *i, cli_gen *g);

/* The --help lines of the generation options. */
#define CLI_GEN_HELP                                                                                 \
    "  -n, --max-tokens N     generate at most N tokens (default 256; 0 prints nothing)\n"          \
    "      --temp T           sampling temperature; 0 = greedy (default 0)\n"                       \
    "      --top-k K          keep the K most likely tokens (default 0 = off)\n"                    \
    "      --top-p P          nucleus sampling mass (default 1 = off)\n"                            \
    "      --min-p P          drop tokens below P × the top probability (default 0 = off)\n"        \
    "      --repeat-penalty R penalise tokens already seen (default 1 = off)\n"                     \
    "      --seed S           random seed for reproducible sampling (default: random)\n"            \
    "      --stop S           stop when S appears (repeatable, up to 16)\n"                         \
    "      --system TEXT      system message for the chat format (default: the template's)\n"      \
    "      --raw              no chat format\n"                                                     \
    "      --special          print special tokens (<|im_end|>, <end_of_utterance>, ...) too\n"     \
    "      --ctx N            context size in tokens (default min(model's, 4096))\n"

/* The --help lines of the options cli_parse_common takes. */
#define CLI_COMMON_HELP                                                                              \
    "  -t, --threads N        CPU threads (default: all cores)\n"                                   \
    "      --device D         cpu, cuda or auto (default auto)\n"                                   \
    "      --math M           auto (default: the checkpoint's dtype, as transformers), f32 (exact),\n"\
    "                         bf16 (bf16 GEMMs and attention, f32 sums), int8 (quantized weights\n"\
    "                         as llama.cpp: 8-bit activations); GPU only: tf32, f16.\n"            \
    "                         The default can be set by the environment: MMRT_MATH=f32\n"          \
    "      --quant Q          quantize the decoder at load: q8_0, q4_0 or q4_k (llama.cpp's formats;\n"\
    "                         the default math then computes them as llama.cpp does)\n"             \
    "      --offline          never download; use the Hugging Face cache only\n"                    \
    "  -v, --verbose          timings and load details on stderr\n"                                 \
    "      --log-level L      error, warn, info or debug\n"

/* Generated text on its way to stdout: streamed, or collected for --json. */
typedef struct cli_out {
    bool json;
    bool oom; /* the collected text could not grow */
    char *text;
    size_t n, cap;
} cli_out;

/* An mmrt_token_fn writing to a cli_out. */
int cli_on_token(const char *piece, size_t len, int32_t token, void *user);
const char *cli_stop_name(mmrt_stop_reason r);

/* Loads --model, reporting failures on stderr. NULL on failure. */
mmrt_model *cli_load_model(const cli_common *c);
/* The whole of a text file ("-" = standard input), NUL-terminated; NULL (reported) on failure.
 * The caller frees. */
char *cli_read_text(const char *path);
/* Writes s as a JSON string literal (with quotes). */
void cli_json_string(FILE *f, const char *s, size_t n);

int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_caption(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_transcribe(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

/* Input files named on the command line: a file as given (its content decides the format), a
 * directory as its image or audio files (by extension), sorted by name. */
typedef struct cli_paths {
    char **paths;
    size_t n, cap;
} cli_paths;

/* Adds path (a directory: its files of that kind; an empty one is a warning). False (reported)
 * only on a directory that cannot be read or out of memory. */
bool cli_paths_add(cli_paths *l, const char *path, bool audio);
void cli_paths_free(cli_paths *l);
/* Whether the file looks like audio (WAV, FLAC, OGG, MP3, AIFF by its first bytes, else by its
 * extension) rather than an image. */
bool cli_is_audio_file(const char *path);

/* mmrt ask AUDIO QUESTION (cli/cmd_transcribe.c): transcribes, then asks the instruct LLM about the
 * transcript. c->model NULL means the default; g holds the answer's generation options. */
int cli_ask_audio(cli_common *c, const cli_gen *g, const char *path, const char *question, long transcript_tokens);

#endif
