/* mmrt — multimodal inference runtime. The one public header.
 *
 * Usage (text generation; error handling shortened):
 *
 *     #include <mmrt.h>
 *
 *     static int on_token(const char *piece, size_t len, int32_t token, void *user) {
 *         fwrite(piece, 1, len, stdout);   // piece is always whole UTF-8 characters
 *         return 0;                         // non-zero stops generation
 *     }
 *
 *     mmrt_model *model = NULL;
 *     if (mmrt_model_load("path/to/SmolLM2-135M-Instruct", NULL, &model) != MMRT_OK) {
 *         fprintf(stderr, "%s\n", mmrt_last_error());   // names the file and the problem
 *         return 1;
 *     }
 *     mmrt_session *s = NULL;
 *     mmrt_session_init(model, NULL, &s);
 *
 *     mmrt_generate_params gp;
 *     mmrt_generate_params_init(&gp, sizeof gp);
 *     gp.max_tokens = 64;
 *     gp.on_token = on_token;
 *     mmrt_session_generate(s, "Tell me a story.", &gp, NULL);
 *
 *     mmrt_session_free(s);
 *     mmrt_model_free(model);
 *
 * Ownership and threads. An mmrt_model is immutable after mmrt_model_load() returns; any number
 * of threads may use it at once (each through its own session). An mmrt_session holds per-request
 * state (KV cache, scratch, the conversation) and must be used by one thread at a time. Every
 * function says which of these applies ("Thread-safe": any thread, any time; "One thread per
 * session": not concurrently with another call on the same session). Every *_free(NULL) is a
 * no-op. Strings returned by the library are owned by it; their lifetime is stated per function.
 *
 * Errors. Every fallible function returns mmrt_status. MMRT_OK is 0. On failure the message
 * (naming the file or argument and the problem) is available from the handle involved
 * (mmrt_session_last_error) or, for calls without a session, from mmrt_last_error(), which is
 * per thread.
 *
 * Compatibility (ABI). libmmrt.so.N: N is MMRT_ABI_VERSION, and a program built against any
 * header of ABI N runs with any later library of ABI N. Within one ABI version:
 *   - functions are only added, never removed or changed;
 *   - enums only gain values, at the end;
 *   - the structs that begin with `size_t size` (params, results, info) only gain fields at their
 *     end. The caller sets `size` to the sizeof it was compiled with: the *_init functions do so
 *     (`mmrt_generate_params_init(&gp, sizeof gp)`), and a result or info struct passed to the
 *     library carries it too (`mmrt_generate_result r = {.size = sizeof r}`, or the init call).
 *     The library reads and writes only the first `size` bytes; fields past them take their
 *     defaults. A size below sizeof(size_t) or above 65536 (an uninitialised struct) is
 *     MMRT_ERR_INVALID_ARG;
 *   - other structs (mmrt_part, mmrt_message) never change; mmrt_part's `ext` is reserved.
 * Anything else bumps MMRT_ABI_VERSION, and with it the soname. CI compares the library with the
 * committed ABI baseline (abi/libmmrt.abi, abidiff) on every change.
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
/* The ABI version: the soname's number (libmmrt.so.1); see "Compatibility" above. */
#define MMRT_ABI_VERSION 1

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


/* ---- devices ----------------------------------------------------------------------------- */

/* What this build and host can run on, one line per device: "cpu: 16 cores, SIMD avx512", then
 * "cuda:0: NVIDIA H100 ...", or "cuda: unavailable: <why>" / "cuda: not in this build". *text is
 * malloc'ed: free it with mmrt_free(). Loads the CUDA module when the build has one. */
MMRT_API mmrt_status mmrt_devices_describe(char **text);

/* ---- model ------------------------------------------------------------------------------- */

/* Weights, tokenizer and configs of one checkpoint. Immutable once loaded: share it freely
 * between threads and sessions. */
typedef struct mmrt_model mmrt_model;

typedef enum mmrt_device {
    MMRT_DEVICE_AUTO = 0, /* CUDA when a device is present and the weights fit, else the CPU */
    MMRT_DEVICE_CPU = 1,
    MMRT_DEVICE_CUDA = 2,
} mmrt_device;

/* Arithmetic; the same meaning on every backend (ARCHITECTURE.md, "Arithmetic on the CPU").
 * The CPU runs F32, BF16 and INT8; there TF32 and F16 compute as F32. */
typedef enum mmrt_math {
    MMRT_MATH_F32 = 0,  /* exact f32: 16-bit weights widened (exactly), quantized ones dequantized
                           (exactly), f32 products, no TF32; what the fixtures check against
                           transformers in float32 */
    MMRT_MATH_TF32 = 1, /* GPU: f32 GEMMs on TF32 tensor cores */
    MMRT_MATH_BF16 = 2, /* GEMMs and attention with bf16 inputs (activations, weights, q, k, v and
                           the softmax weights rounded to bf16) and f32 accumulation; norms,
                           activations and the residual stream stay f32. 16-bit weights are kept
                           as stored. CPU: oneDNN's bf16 GEMMs (AMX / AVX512-BF16 where present);
                           GPU: bf16 tensor cores. f32 or f16 weights (an explicit choice: auto
                           never picks BF16 for them) differ by backend: the CPU rounds them to
                           bf16, a GPU uses TF32 / f16 tensor cores */
    MMRT_MATH_F16 = 3,  /* GPU: as BF16 in the weights' type, attention on f16 tensor cores */
    MMRT_MATH_AUTO = 4, /* the default, like transformers' dtype="auto": the checkpoint's dtype
                           (config.json "dtype"/"torch_dtype", else its weights'): bf16 → BF16,
                           f16 → F16, f32 or mixed → F32; quantized weights (GGUF, --quant) →
                           INT8. mmrt_model_info.math tells which runs. MMRT_MATH=f32|bf16|...
                           in the environment replaces it (tests, scripts; another math in the
                           params wins) */
    MMRT_MATH_INT8 = 5, /* quantized weights (GGUF block formats) as llama.cpp computes them:
                           activations quantized per block to 8 bits (Q8_0 / Q8_1 / Q8_K), integer
                           dot products, block scales in f32; every other GEMM and attention as
                           BF16 */
} mmrt_math;

/* Quantizing a checkpoint at load (mmrt_model_params.quant): the decoder's linear layers (q/k/v/o,
 * gate/up/down, an untied lm_head) become llama.cpp's block format, quantized as llama-quantize's
 * reference quantizers do; rows that are not a multiple of the block, norms, embeddings and media
 * encoders keep their dtype. Already quantized weights (GGUF) are left as they are. */
typedef enum mmrt_quant {
    MMRT_QUANT_NONE = 0, /* weights as stored */
    MMRT_QUANT_Q8_0 = 1, /* 8.5 bits per weight */
    MMRT_QUANT_Q4_0 = 2, /* 4.5 bits per weight */
    MMRT_QUANT_Q4_K = 3, /* 4.5 bits per weight, 256-weight super-blocks */
} mmrt_quant;

typedef struct mmrt_model_params {
    size_t size;          /* sizeof as the caller compiled it (set by mmrt_model_params_init) */
    mmrt_device device;   /* default MMRT_DEVICE_AUTO */
    mmrt_math math;       /* default MMRT_MATH_AUTO */
    int32_t n_threads;    /* CPU threads of its sessions (each may set its own); 0 (default) = one
                             per core. Threads come from the calling thread's OpenMP pool */
    const char *revision; /* for repo ids: branch, tag or commit (default NULL = "main") */
    bool offline;         /* for repo ids: use the Hugging Face cache only, never the network */
    bool progress;        /* for repo ids: progress bar on stderr when it is a terminal (default) */
    mmrt_quant quant;     /* quantize at load (mmrt_quant); default MMRT_QUANT_NONE. The default
                             math (auto) then runs them as llama.cpp does (MMRT_MATH_INT8) */
} mmrt_model_params;

/* Fills the first size bytes of *params with the defaults and sets params->size = size.
 * Thread-safe. */
MMRT_API void mmrt_model_params_init(mmrt_model_params *params, size_t size);

/* Loads a model from a Hugging Face model directory (config.json, *.safetensors, tokenizer.json,
 * ...) or a repo id ("HuggingFaceTB/SmolLM2-135M-Instruct"), found in the Hugging Face cache or
 * downloaded into it. params may be NULL (defaults). On failure *out is NULL and
 * mmrt_last_error() names the file and the problem. Thread-safe. */
MMRT_API mmrt_status mmrt_model_load(const char *path_or_repo, const mmrt_model_params *params,
                                     mmrt_model **out);
/* Frees the model; its sessions must be freed first. Not concurrently with any use of it. */
MMRT_API void mmrt_model_free(mmrt_model *model);

typedef struct mmrt_model_info {
    size_t size;              /* sizeof as the caller compiled it: set it before the call */
    const char *path;         /* the model directory */
    const char *architecture; /* config.json model_type, e.g. "llama" */
    const char *dtype;        /* the weights' dtype ("BF16", "F32", "F16" or "mixed") */
    int64_t n_params;         /* parameters stored in the checkpoint */
    int64_t n_tensors;
    int64_t weight_bytes;     /* bytes of the weights in the checkpoint */
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx_train;
    bool tied_embeddings;
    const char *chat_format;  /* "jinja" (the checkpoint's chat template, rendered as transformers
                                 does); "none" (no template); "unsupported" (a template mmrt cannot
                                 parse: raw prompts only) */
    bool vision;              /* takes images */
    int32_t image_tile;       /* vision: tile side in pixels (the encoder's image_size) */
    int32_t image_seq_len;    /* vision: prompt tokens per tile */
    int32_t image_longest_edge; /* vision: images are resized to this longest edge before tiling */
    bool audio;               /* takes audio */
    mmrt_math math;           /* the arithmetic its sessions run (MMRT_MATH_AUTO resolved) */
} mmrt_model_info;

/* Fills the first info->size bytes of *info; its strings live as long as the model.
 * Thread-safe. */
MMRT_API mmrt_status mmrt_model_get_info(const mmrt_model *model, mmrt_model_info *info);

/* Bytes a session with context n_ctx (0 = the default) and the default batch needs besides the
 * weights (KV cache, scratch, logits, sampler); 0 when n_ctx is out of range. Thread-safe. */
MMRT_API int64_t mmrt_model_session_bytes(const mmrt_model *model, int32_t n_ctx);

/* Token ids of len bytes of text as the model's tokenizer makes them, with no chat template and
 * no BOS added; with parse_special, special tokens written in the text ("<|im_end|>") become their
 * ids, else they are plain text. *ids is malloc'ed: free it with mmrt_free(). Thread-safe; errors
 * go to mmrt_last_error(). */
MMRT_API mmrt_status mmrt_model_tokenize(const mmrt_model *model, const char *text, size_t len,
                                         bool parse_special, int32_t **ids, size_t *n_ids);

/* The text of n ids (invalid UTF-8 bytes become U+FFFD); with special, special tokens' text is
 * included (transformers' decode(skip_special_tokens=not special)). *text is malloc'ed,
 * NUL-terminated: free it with mmrt_free(). Ids the tokenizer has no text for give none.
 * Thread-safe; errors go to mmrt_last_error(). */
MMRT_API mmrt_status mmrt_model_detokenize(const mmrt_model *model, const int32_t *ids, size_t n,
                                           bool special, char **text);

/* ---- quantized GGUF files (mmrt quantize) ------------------------------------------------- */

/* Called as tensor i (0-based) of n is added: its GGUF name and the type it gets ("Q8_0", "F32"). */
typedef void (*mmrt_quantize_progress_fn)(size_t i, size_t n, const char *tensor, const char *type, void *user);

typedef struct mmrt_quantize_params {
    size_t size;                        /* sizeof as the caller compiled it (mmrt_quantize_params_init) */
    mmrt_quant quant;                   /* default MMRT_QUANT_Q8_0; MMRT_QUANT_NONE is refused */
    int32_t n_threads;                  /* 0 (default) = one per core */
    mmrt_quantize_progress_fn progress; /* default NULL: none; called on the calling thread */
    void *user;                         /* passed to progress */
} mmrt_quantize_params;

/* Fills the first size bytes of *params with the defaults and sets params->size = size.
 * Thread-safe. */
MMRT_API void mmrt_quantize_params_init(mmrt_quantize_params *params, size_t size);

/* Writes the checkpoint in — a local Hugging Face Llama directory (model_type "llama") or a Llama
 * .gguf file — to out as a GGUF file (llama.cpp's format; written atomically) whose decoder is
 * quantized as mmrt_model_params.quant quantizes it at load: loading out gives the weights that
 * loading in with the same quant gives, bit for bit. A GGUF input keeps its keys and its already
 * quantized tensors. out must not be in (MMRT_ERR_INVALID_ARG); other failures (another
 * architecture, unreadable files, a missing output directory) name the file in mmrt_last_error().
 * params may be NULL (defaults). Thread-safe. */
MMRT_API mmrt_status mmrt_quantize_file(const char *in, const char *out, const mmrt_quantize_params *params);

/* ---- prompts ------------------------------------------------------------------------------ */

typedef enum mmrt_part_type {
    MMRT_PART_TEXT = 0,
    MMRT_PART_IMAGE_FILE = 1,    /* a PNG, JPEG or WebP file (EXIF orientation applied) */
    MMRT_PART_IMAGE_BYTES = 2,   /* an encoded PNG, JPEG or WebP image in memory */
    MMRT_PART_IMAGE_PIXELS = 3,  /* rows of RGB8 or RGBA8 pixels (alpha composited on white) */
    MMRT_PART_AUDIO_FILE = 4,    /* an audio file */
    MMRT_PART_AUDIO_BYTES = 5,   /* an encoded audio file in memory */
    MMRT_PART_AUDIO_SAMPLES = 6, /* float samples in [-1, 1], channels interleaved */
} mmrt_part_type;

/* One piece of a prompt: text or a media input. Build them with the mmrt_*_part functions below;
 * the library reads them only during the call they are passed to. A model takes the media types
 * of its encoders (mmrt_model_info.vision, .audio); another type is MMRT_ERR_UNSUPPORTED naming
 * the part ("... takes no audio"). This struct never changes within an ABI version. */
typedef struct mmrt_part {
    mmrt_part_type type;
    const char *text;      /* TEXT: UTF-8 text. *_FILE: the path. Otherwise a name for messages
                              (may be NULL). */
    const void *data;      /* *_BYTES: the encoded bytes; IMAGE_PIXELS: the first pixel;
                              AUDIO_SAMPLES: the first float sample */
    size_t size;           /* *_BYTES: the number of bytes; IMAGE_PIXELS: bytes from one row to
                              the next (0 = width · channels); AUDIO_SAMPLES: frames (samples per
                              channel) */
    int32_t width, height; /* IMAGE_PIXELS */
    int32_t channels;      /* IMAGE_PIXELS: 3 (RGB8) or 4 (RGBA8, straight alpha);
                              AUDIO_SAMPLES: interleaved channels (1 = mono) */
    int32_t sample_rate;   /* AUDIO_SAMPLES: samples per second per channel */
    const void *ext;       /* reserved: NULL */
} mmrt_part;

/* Part constructors. Thread-safe. */
MMRT_API mmrt_part mmrt_text_part(const char *text);
MMRT_API mmrt_part mmrt_image_file_part(const char *path);
MMRT_API mmrt_part mmrt_image_bytes_part(const void *bytes, size_t n_bytes, const char *name);
MMRT_API mmrt_part mmrt_image_pixels_part(const uint8_t *pixels, int32_t width, int32_t height,
                                          int32_t channels, size_t stride);
MMRT_API mmrt_part mmrt_audio_file_part(const char *path);
MMRT_API mmrt_part mmrt_audio_bytes_part(const void *bytes, size_t n_bytes, const char *name);
MMRT_API mmrt_part mmrt_audio_samples_part(const float *samples, size_t n_frames, int32_t channels,
                                           int32_t sample_rate);

/* ---- session ----------------------------------------------------------------------------- */

/* Per-request state: KV cache, scratch, sampler, the conversation. One thread at a time. */
typedef struct mmrt_session mmrt_session;

typedef struct mmrt_session_params {
    size_t size;     /* sizeof as the caller compiled it (set by mmrt_session_params_init) */
    int32_t n_ctx;   /* context size in tokens; 0 = min(model's trained context, 4096); < 0 is an error */
    int32_t n_batch; /* most prompt tokens per forward pass; 0 = 512; < 0 is an error */
    int32_t n_threads; /* CPU threads of this session's calls; 0 = the model's (mmrt_model_params.
                          n_threads); < 0 is an error. Per session: sessions with different counts
                          may run at once (no process-wide setting changes) */
} mmrt_session_params;

/* Fills the first size bytes with the defaults, sets params->size. Thread-safe. */
MMRT_API void mmrt_session_params_init(mmrt_session_params *params, size_t size);

/* The session keeps a pointer to model: free the session first. params may be NULL.
 * Thread-safe (sessions of one model may be made on many threads at once). */
MMRT_API mmrt_status mmrt_session_init(const mmrt_model *model, const mmrt_session_params *params,
                                       mmrt_session **out);
/* One thread per session. */
MMRT_API void mmrt_session_free(mmrt_session *session);
/* The message of the session's last failed call ("" if none). Valid until its next call. One
 * thread per session. */
MMRT_API const char *mmrt_session_last_error(const mmrt_session *session);

/* Receives each piece of generated text as soon as it is complete UTF-8 (a token may yield an
 * empty piece when it ends mid-character). Return non-zero to stop generation. */
typedef int (*mmrt_token_fn)(const char *piece, size_t len, int32_t token, void *user);

#define MMRT_SEED_RANDOM UINT64_MAX

typedef enum mmrt_stop_reason {
    MMRT_STOP_NONE = 0,
    MMRT_STOP_EOS = 1,         /* the model produced an end-of-sequence token */
    MMRT_STOP_STRING = 2,      /* a stop string appeared (it is not passed to the callback) */
    MMRT_STOP_MAX_TOKENS = 3,  /* max_tokens were generated */
    MMRT_STOP_CALLBACK = 4,    /* the callback returned non-zero */
    MMRT_STOP_CONTEXT = 5,     /* the context is full */
} mmrt_stop_reason;

/* Stages reported to mmrt_progress_fn. */
typedef enum mmrt_stage {
    MMRT_STAGE_IMAGE_ENCODE = 1, /* done/total count image tiles through the vision encoder */
    MMRT_STAGE_AUDIO_ENCODE = 2, /* done/total count audio chunks through the audio encoder */
} mmrt_stage;

/* Progress of a long stage; return non-zero to stop the call with MMRT_ERR_ABORTED. */
typedef int (*mmrt_progress_fn)(mmrt_stage stage, int32_t done, int32_t total, void *user);

typedef struct mmrt_generate_params {
    size_t size;            /* sizeof as the caller compiled it (set by mmrt_generate_params_init) */
    int32_t max_tokens;     /* new tokens at most (default 256); 0 generates nothing */
    float temperature;      /* default 0: greedy (transformers' default without do_sample) */
    int32_t top_k;          /* 0 = off */
    float top_p;            /* 1 = off */
    float min_p;            /* 0 = off */
    float repeat_penalty;   /* 1 = off */
    uint64_t seed;          /* MMRT_SEED_RANDOM (default) or a fixed seed: reproducible */
    const char *const *stop_strings; /* n_stop strings that end generation when they appear */
    int32_t n_stop;
    bool raw;               /* false (default): wrap the prompt in the checkpoint's chat template */
    const char *system;     /* system message for the chat template; NULL = none (the template
                               may add its own default) */
    mmrt_token_fn on_token; /* may be NULL */
    void *user;             /* passed to on_token and on_progress */
    mmrt_progress_fn on_progress; /* may be NULL */
    bool no_split;          /* images as one tile, not split (the processor's do_image_splitting=False) */
    int64_t max_pixels;     /* images with more pixels are refused before decoding (0 = 100 million) */
    bool special;           /* false (default): special tokens (added tokens marked "special" in
                             * tokenizer.json, e.g. <|im_start|>, <end_of_utterance>) are not printed:
                             * their text is in no piece passed to on_token (which still gets their
                             * ids), as transformers' decode(skip_special_tokens=True);
                             * true: their text is passed too (skip_special_tokens=False) */
    bool drop_old_turns;    /* conversations (mmrt_session_generate_messages, mmrt_session_chat)
                             * whose prompt does not fit the context: false (default) fails with
                             * MMRT_ERR_CONTEXT_FULL; true drops the oldest user turns with their
                             * replies (system messages stay) until it fits, logs a warning and
                             * reports it in mmrt_generate_result.n_dropped_turns */
} mmrt_generate_params;

/* Fills the first size bytes with the defaults, sets params->size. Thread-safe. */
MMRT_API void mmrt_generate_params_init(mmrt_generate_params *params, size_t size);

typedef struct mmrt_generate_result {
    size_t size;             /* sizeof as the caller compiled it: set it before the call */
    int32_t n_prompt_tokens; /* tokens of the whole prompt (the conversation so far) */
    int32_t n_generated;
    mmrt_stop_reason stop_reason;
    double prefill_ms;
    double decode_ms;
    int32_t n_images;
    int32_t n_image_tiles;   /* tiles through the vision encoder, global images included */
    int32_t n_image_tokens;  /* prompt tokens filled with image features */
    double image_load_ms;    /* decoding and preprocessing the images */
    double image_encode_ms;  /* the vision encoder and connector */
    int32_t n_audio;         /* audio inputs */
    int32_t n_audio_tokens;  /* prompt tokens filled with audio features */
    double audio_load_ms;    /* decoding, resampling and feature extraction */
    double audio_encode_ms;  /* the audio encoder and projector */
    int32_t n_cached_tokens; /* prompt tokens kept from the KV cache (the common prefix with what
                                the session computed before); n_prompt_tokens - n_cached_tokens
                                were prefilled */
    int32_t n_dropped_turns; /* user turns (with their replies) dropped for the conversation to fit
                                the context (params.drop_old_turns) */
} mmrt_generate_result;

/* Generates a reply to prompt (UTF-8; invalid bytes become U+FFFD, as Python's
 * errors="replace"): the user turn {prompt} of a new conversation. A prompt longer than the
 * context is MMRT_ERR_CONTEXT_FULL, giving both numbers; it is never truncated. result may be
 * NULL. One thread per session. */
MMRT_API mmrt_status mmrt_session_generate(mmrt_session *session, const char *prompt,
                                           const mmrt_generate_params *params,
                                           mmrt_generate_result *result);

/* Generates a reply to a user turn made of n_parts ordered parts, e.g. {image, "What is on the
 * table?"} or {"Compare ", image, " and ", image, "."}, as a new conversation. Media parts need
 * a model with an encoder for their type, else MMRT_ERR_UNSUPPORTED. Each media input is
 * prepared as the checkpoint's processor does (images split into tiles unless
 * params->no_split), encoded (progress through params->on_progress) and spliced into the prompt
 * where it is. With params->raw the parts are concatenated without the chat template, media as
 * their placeholders ("<image>"). A bad input fails before any encoding with a message naming it;
 * media whose tokens alone overflow the context are MMRT_ERR_CONTEXT_FULL before the next one is
 * read. Text parts (and the system message) must not contain a media placeholder themselves:
 * MMRT_ERR_INVALID_ARG naming the part. max_tokens = 0 checks the parameters and text parts and
 * returns without reading media. One thread per session. */
MMRT_API mmrt_status mmrt_session_generate_parts(mmrt_session *session, const mmrt_part *parts,
                                                 size_t n_parts, const mmrt_generate_params *params,
                                                 mmrt_generate_result *result);

/* The prompt mmrt_session_caption uses. */
#define MMRT_CAPTION_PROMPT "Can you describe this image?"

/* A description of one image: the user turn {image, MMRT_CAPTION_PROMPT}. One thread per
 * session. */
MMRT_API mmrt_status mmrt_session_caption(mmrt_session *session, const mmrt_part *image,
                                          const mmrt_generate_params *params,
                                          mmrt_generate_result *result);
/* An answer about one image: the user turn {image, question}. One thread per session. */
MMRT_API mmrt_status mmrt_session_ask(mmrt_session *session, const mmrt_part *image,
                                      const char *question, const mmrt_generate_params *params,
                                      mmrt_generate_result *result);

/* ---- conversations -------------------------------------------------------------------------- */

/* Every generate call of a session keeps what its KV cache already holds: the longest common
 * prefix of the new prompt's tokens with the tokens computed before (the previous prompt and the
 * reply tokens fed back), where a position inside a media input's tokens matches only if it is
 * the same input (same content, same place), is not computed again, and media inputs wholly
 * inside it are not encoded again (mmrt_generate_result.n_cached_tokens says how many tokens were
 * kept). A conversation rendered whole each turn therefore prefills only its new turn. */

/* One message of a conversation: role ("system", "user", "assistant") and content as ordered
 * parts. The library reads it only during the call it is passed to. This struct never changes
 * within an ABI version. */
typedef struct mmrt_message {
    const char *role;
    const mmrt_part *parts;
    size_t n_parts;
} mmrt_message;

/* Generates the next assistant reply to the conversation msgs[0 .. n) (system, user, assistant
 * messages as given; the last is usually a user turn), rendered whole with the checkpoint's chat
 * template and add_generation_prompt. The system message, if any, is one of msgs: params->system
 * and params->raw are MMRT_ERR_INVALID_ARG here. A conversation whose prompt does not fit the
 * context is MMRT_ERR_CONTEXT_FULL giving both numbers, unless params->drop_old_turns (then the
 * oldest user turns and their replies are left out of this call's prompt; msgs is not changed).
 * One thread per session. */
MMRT_API mmrt_status mmrt_session_generate_messages(mmrt_session *session, const mmrt_message *msgs, size_t n,
                                                    const mmrt_generate_params *params,
                                                    mmrt_generate_result *result);

/* The session's own conversation, for chat programs: appends the user turn parts[0 .. n_parts)
 * (copied: texts, paths and in-memory data), generates the reply (streamed to params->on_token)
 * and appends it as the assistant turn, whose text is exactly what on_token received (special
 * tokens left out unless params->special). params->system becomes the conversation's system
 * message on its first turn and is ignored afterwards. A call that fails leaves the conversation
 * as it was (the user turn is not kept), and so does max_tokens = 0 (which checks the turn). With
 * params->drop_old_turns, the turns dropped to fit the context are gone from the conversation.
 * One thread per session. */
MMRT_API mmrt_status mmrt_session_chat(mmrt_session *session, const mmrt_part *parts, size_t n_parts,
                                       const mmrt_generate_params *params, mmrt_generate_result *result);

/* The text of the last reply mmrt_session_chat or a generate call produced ("" if none), owned by
 * the session: valid until the next call on it. One thread per session. */
MMRT_API const char *mmrt_session_last_reply(const mmrt_session *session);

/* Forgets the conversation and the KV cache: the next call starts anew. One thread per
 * session. */
MMRT_API void mmrt_session_reset(mmrt_session *session);

/* Frees memory the library handed out (token arrays, text). NULL is a no-op. Thread-safe. */
MMRT_API void mmrt_free(void *p);

/* ---- transcription ------------------------------------------------------------------------ */

/* The transcription prompt of Granite Speech checkpoints (IBM's usage): the user turn
 * {audio, MMRT_TRANSCRIBE_PROMPT}, i.e. "<|audio|>can you transcribe ...". */
#define MMRT_TRANSCRIBE_PROMPT "can you transcribe the speech into a written format?"

/* One transcribed window, as mmrt_session_transcribe hands it to on_segment. Filled by the
 * library: fields past `size` (a newer caller's) are not there. */
typedef struct mmrt_segment {
    size_t size;               /* sizeof as the library was compiled: read no field past it */
    int32_t index;             /* 0, 1, ... in time order */
    int64_t start_sample;      /* the window's samples [start_sample, end_sample) of the 16 kHz
                                  mono audio (the input decoded, mixed and resampled) */
    int64_t end_sample;
    double start;              /* the same in seconds: start_sample / 16000 */
    double end;
    const char *text;          /* what the model wrote for the window (special tokens left out),
                                  white space at both ends removed; valid during the callback */
    int32_t n_prompt_tokens;   /* the window's prompt, its audio tokens included */
    int32_t n_audio_tokens;    /* prompt tokens filled with the window's audio features */
    int32_t n_generated;       /* tokens generated for the window */
    mmrt_stop_reason stop_reason;
} mmrt_segment;

/* Receives each window's segment as soon as it is transcribed; non-zero stops the call with
 * MMRT_ERR_ABORTED. */
typedef int (*mmrt_segment_fn)(const mmrt_segment *segment, void *user);

/* Progress of a transcription: seconds of audio done so far and in all (total is negative when
 * the input does not state its length: some MP3 and OGG streams). Called before the first window
 * (done 0) and after each; non-zero stops the call with MMRT_ERR_ABORTED. */
typedef int (*mmrt_transcribe_progress_fn)(double done_seconds, double total_seconds, void *user);

typedef struct mmrt_transcribe_params {
    size_t size;            /* sizeof as the caller compiled it (set by mmrt_transcribe_params_init) */
    double window_seconds;  /* audio is cut into windows of this length, each transcribed on its
                               own (default 30, IBM's tooling; 1 to 3600) */
    const char *prompt;     /* the text after the audio in each window's user turn (default NULL:
                               MMRT_TRANSCRIBE_PROMPT) */
    const char *system;     /* system message; NULL (default): the chat template's own default */
    int32_t max_tokens;     /* new tokens at most per window (default 200, IBM's tooling) */
    mmrt_segment_fn on_segment;            /* may be NULL */
    mmrt_transcribe_progress_fn on_progress; /* may be NULL */
    void *user;             /* passed to on_segment and on_progress */
} mmrt_transcribe_params;

/* Fills the first size bytes with the defaults, sets params->size. Thread-safe. */
MMRT_API void mmrt_transcribe_params_init(mmrt_transcribe_params *params, size_t size);

typedef struct mmrt_transcribe_result {
    size_t size;             /* sizeof as the caller compiled it: set it before the call */
    int32_t n_segments;      /* windows transcribed (segments passed to on_segment) */
    double audio_seconds;    /* audio read (16 kHz samples / 16000) */
    int32_t n_prompt_tokens; /* over all windows */
    int32_t n_audio_tokens;
    int32_t n_generated;
    double load_ms;          /* decoding, resampling and feature extraction */
    double encode_ms;        /* the audio encoder and projector */
    double prefill_ms;
    double decode_ms;
} mmrt_transcribe_result;

/* Transcribes one audio part (MMRT_PART_AUDIO_FILE, _BYTES or _SAMPLES) of any length with greedy
 * decoding. The audio is decoded, mixed to mono and resampled to 16 kHz as a stream and cut into
 * windows of params->window_seconds: [0, w), [w, 2w), ... in samples, the last one shorter; one
 * window at a time is in memory, so hours of audio take the memory of one window. Each window is a
 * new conversation (the session is reset before it) whose user turn is {the window's samples,
 * params->prompt} through the checkpoint's chat template, with the audio encoder's adapter on;
 * its text goes to params->on_segment. A last window under 0.1 s (1600 samples) holds no speech
 * and is not transcribed (its samples still count in audio_seconds). The model must take audio
 * (mmrt_model_info.audio), else MMRT_ERR_UNSUPPORTED. A bad input fails before its first window
 * is transcribed when the header shows it, else at the window where decoding fails (segments
 * before it were delivered); either way the message names the input and the problem. params may
 * be NULL (defaults), result too. The session's conversation (mmrt_session_chat's) is reset. One
 * thread per session. */
MMRT_API mmrt_status mmrt_session_transcribe(mmrt_session *session, const mmrt_part *audio,
                                             const mmrt_transcribe_params *params,
                                             mmrt_transcribe_result *result);

#ifdef __cplusplus
}
#endif

#endif /* MMRT_H */
