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

/* Options every model command takes. */
typedef struct cli_common {
    const char *model;
    const char *device;
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
bool cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *opt, const char *s, double lo, double hi, double *out);
void cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Loads --model, reporting failures on stderr. NULL on failure. */
mmrt_model *cli_load_model(const cli_common *c);
/* The whole of a text file ("-" = standard input), NUL-terminated; NULL (reported) on failure.
 * The caller frees. */
char *cli_read_text(const char *path);
/* Writes s as a JSON string literal (with quotes). */
void cli_json_string(FILE *f, const char *s, size_t n);

int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);

#endif
