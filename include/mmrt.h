/* mmrt — multimodal inference runtime. The one public header.
 *
 * Usage (text generation; error handling shortened):
 *
 *     #include <mmrt.h>
 *
 *     static int on_token(const char *piece, int32_t token, void *user) {
 *         fputs(piece, stdout);            // piece is always whole UTF-8 characters
 *         return 0;                         // non-zero stops generation
 *     }
 *
 *     mmrt_model_params mp = mmrt_model_default_params();
 *     mmrt_model *model = NULL;
 *     if (mmrt_model_load("path/to/SmolLM2-135M-Instruct", &mp, &model) != MMRT_OK) {
 *         fprintf(stderr, "%s\n", mmrt_last_error());   // names the file and the problem
 *         return 1;
 *     }
 *     mmrt_session_params sp = mmrt_session_default_params();
 *     mmrt_session *s = NULL;
 *     mmrt_session_init(model, &sp, &s);
 *
 *     mmrt_generate_params gp = mmrt_generate_default_params();
 *     gp.max_tokens = 64;
 *     gp.on_token = on_token;
 *     mmrt_session_generate(s, "Tell me a story.", &gp, NULL);
 *
 *     mmrt_session_free(s);
 *     mmrt_model_free(model);
 *
 * Ownership and threads. An mmrt_model is immutable after mmrt_model_load() returns; any number
 * of threads may use it at once (each through its own session). An mmrt_session holds per-request
 * state (KV cache, scratch) and must be used by one thread at a time. Every *_free(NULL) is a
 * no-op. Strings returned by the library are owned by it; their lifetime is stated per function.
 *
 * Errors. Every fallible function returns mmrt_status. MMRT_OK is 0. On failure the message
 * (naming the file or argument and the problem) is available from the handle involved
 * (mmrt_session_last_error) or, for calls without a handle, from mmrt_last_error(), which is
 * per thread.
 */
#ifndef MMRT_H
#define MMRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MMRT_VERSION_MAJOR 0
#define MMRT_VERSION_MINOR 1
#define MMRT_VERSION_PATCH 0
#define MMRT_VERSION_STRING "0.1.0"
/* Bumped whenever a public struct or function changes incompatibly. */
#define MMRT_API_VERSION 1

#if defined(_WIN32) && defined(MMRT_SHARED_BUILD)
#define MMRT_API __declspec(dllexport)
#elif defined(__GNUC__)
#define MMRT_API __attribute__((visibility("default")))
#else
#define MMRT_API
#endif

/* ---- status ------------------------------------------------------------------------------ */

/* Values are stable; new ones are appended. */
typedef enum mmrt_status {
    MMRT_OK = 0,
    MMRT_ERR_INVALID_ARG = 1,  /* a caller-supplied argument is wrong (NULL, out of range) */
    MMRT_ERR_OOM = 2,          /* host or device allocation failed */
    MMRT_ERR_IO = 3,           /* a file could not be opened, read or written */
    MMRT_ERR_BAD_FORMAT = 4,   /* a file's content is malformed (safetensors, JSON, tokenizer) */
    MMRT_ERR_UNSUPPORTED = 5,  /* well-formed but not supported (architecture, dtype, op) */
    MMRT_ERR_MODEL = 6,        /* checkpoint inconsistent: missing tensor, wrong shape */
    MMRT_ERR_CONTEXT_FULL = 7, /* the prompt or generation does not fit the context size */
    MMRT_ERR_NETWORK = 8,      /* download failed or no network */
    MMRT_ERR_BACKEND = 9,      /* a compute backend failed (e.g. CUDA error) */
    MMRT_ERR_ABORTED = 10,     /* a callback asked to stop */
    MMRT_ERR_INTERNAL = 11,    /* a bug in mmrt; please report it */
} mmrt_status;

/* A short static description of a status ("invalid argument"). Never NULL. Thread-safe. */
MMRT_API const char *mmrt_status_str(mmrt_status status);

/* The message of the last failed call made on this thread without a handle to hold it
 * (mmrt_model_load, mmrt_session_init, ...). Valid until the next mmrt call on this thread.
 * Never NULL ("" when there is none). */
MMRT_API const char *mmrt_last_error(void);

/* "0.1.0". Thread-safe. */
MMRT_API const char *mmrt_version(void);

/* ---- logging ----------------------------------------------------------------------------- */

typedef enum mmrt_log_level {
    MMRT_LOG_ERROR = 0,
    MMRT_LOG_WARN = 1,
    MMRT_LOG_INFO = 2,
    MMRT_LOG_DEBUG = 3,
} mmrt_log_level;

/* Receives each log line (no trailing newline). May be called from any thread. */
typedef void (*mmrt_log_fn)(mmrt_log_level level, const char *msg, void *user);

/* Process-wide: routes log lines to fn (NULL restores the default, which writes to stderr) and
 * drops lines above max_level. Not thread-safe with respect to concurrent logging: call it before
 * starting work. */
MMRT_API void mmrt_log_set(mmrt_log_fn fn, void *user, mmrt_log_level max_level);

#ifdef __cplusplus
}
#endif

#endif /* MMRT_H */
