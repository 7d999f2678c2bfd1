/* mmrt-bench: prefill and decode speed of a Llama-family checkpoint on the CPU backend, and how
 * close decoding comes to the bound that memory bandwidth puts on it.
 *
 *   mmrt-bench --model DIR [--threads N] [--prompt-tokens P] [--gen-tokens G] [--ctx N]
 *              [--reps R] [--profile] [--json] [--device cpu|cuda] [--math f32|tf32|bf16|f16] [--tbps B]
 *
 * Decoding one token reads every weight once: mmrt_llm.weight_bytes, in the checkpoint's own
 * dtype (every layer matrix, the norms and lm_head; the embedding table only when it is lm_head).
 * So decoding can go no faster than read bandwidth / weight_bytes tokens per second. The
 * bandwidth is measured in the same run, on all cores, over a buffer of at least 1 GiB and 4× the
 * weights (far beyond any cache): best of the passes run between the reps (bench/membw.h). The
 * figure of merit is decode tok/s ÷ that bound.
 *
 * One rep = a prefill of P random token ids in one mmrt_llm_decode call, then G single-token
 * calls with greedy argmax on the returned logits, from an empty KV cache. A first rep warms up
 * (page faults on the mapped weights, thread pools) and is not counted; the best of R reps is
 * reported, with the mean, and the median single decode step over all reps (robust to short
 * bursts of other load). Peak RSS is the benchmark process's own (the bandwidth buffer lives in
 * a child process).
 *
 * --profile adds one more rep whose decode steps have every backend op timed (bench/op_profile.h).
 *
 * --device cuda runs the decoder on the CUDA backend (the weights uploaded once, as mmrt_model_load
 * does, with --math choosing the arithmetic). The host bandwidth probe then does not apply: the
 * bound is --tbps (device memory bandwidth, default 3.0 TB/s, an H100) / the weight bytes one token
 * reads on the device (16-bit weights widened to f32 under --math f32). Timings are host clocks
 * around mmrt_llm_decode, which returns only after the logits are back on the host.
 *
 * A vision-language checkpoint (config.json with a "text_config": SmolVLM / Idefics3) is benched
 * through its text decoder. --vision benches its image side instead (bench/bench_vision.h).
 * --audio benches a Granite Speech checkpoint's whole transcription per stage (bench/bench_audio.h).
 */
#include "bench_common.h"
#include "bench_audio.h"
#include "bench_caption.h"
#include "bench_vision.h"
#include "membw.h"
#include "op_profile.h"

#include "core/backend.h"
#include "core/cpu/simd.h"
#include "core/json.h"
#include "fusion/gguf_model.h"
#include "fusion/llama.h"
#include "fusion/model.h"
#include "fusion/quantize.h"

#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define GB 1e9
#define MIB (1024.0 * 1024.0)
#define BW_MIN_BYTES ((size_t)1 << 30)
#define BW_READ_PASSES_PER_SLOT 2 /* read passes between two reps (and before the first) */

typedef struct options {
    const char *model;
    int n_threads;
    int64_t n_prompt, n_gen, n_ctx;
    int reps;
    bool profile, json;
    bool vision;              /* --vision: bench/bench_vision.h instead */
    int64_t n_tiles;          /* --vision: tiles per encode call */
    int32_t image_w, image_h; /* --vision: the generated photo */
    const char *caption;      /* --caption IMAGE: bench/bench_caption.h instead */
    bool audio;               /* --audio: bench/bench_audio.h instead */
    const char *audio_file;   /* --audio-file: its speech instead of the generated sound */
    double audio_s, window_s; /* --audio: generated seconds, transcription window */
    int64_t n_text;           /* --audio: text tokens produced over the whole audio */
    int64_t n_prompt_text;    /* --audio: text ids of the prompt per window */
    bool gen_given, prompt_given, reps_given;
    const char *device;       /* "cpu" or "cuda" */
    const char *math;         /* "f32", "bf16", "int8"; --device cuda also "tf32", "f16" */
    const char *quant;        /* --quant q8_0|q4_0|q4_k: the decoder quantized at load, or NULL */
    double tbps;              /* --device cuda: device memory bandwidth of the bound, TB/s */
    mmrt_device_kind dev_kind;
    mmrt_math math_kind;
} options;

/* ---- bandwidth, sampled between the reps ----------------------------------------------- */

typedef struct bandwidth {
    int all_threads;
    size_t buf_bytes;
    int n_read;             /* read passes over the buffer on all threads */
    double read_all_s;      /* best pass, all threads: the bound's denominator */
    double read_bench_s;    /* best pass, the benchmark's thread count */
    double copy_s;          /* best memcpy of buf_bytes / 2, all threads */
    double weights_s;       /* best read of the mapped weights, benchmark threads */
    membw_region *weights;  /* the regions one decoded token reads */
    int n_weights;
    size_t weights_bytes;
} bandwidth;

static void bw_sample(membw_probe *probe, int bench_threads, bandwidth *bw) {
    for (int i = 0; i < BW_READ_PASSES_PER_SLOT; i++, bw->n_read++)
        bench_keep_min(&bw->read_all_s, membw_probe_pass(probe, 'r', bw->all_threads));
    if (bench_threads != bw->all_threads)
        bench_keep_min(&bw->read_bench_s, membw_probe_pass(probe, 'r', bench_threads));
    bench_keep_min(&bw->copy_s, membw_probe_pass(probe, 'c', bw->all_threads));
    bench_keep_min(&bw->weights_s, membw_read_pass(bw->weights, bw->n_weights, bench_threads));
    if (bench_threads == bw->all_threads) bw->read_bench_s = bw->read_all_s;
}

/* ---- the model -------------------------------------------------------------------------- */

typedef struct bench_model {
    mmrt_llm_hparams hp;
    mmrt_weights *w;
    mmrt_llm llm;
    const char *prefix; /* of the decoder's weights */
    double load_s;
} bench_model;

static void load_json(const char *dir, const char *name, cJSON **out, char *path, size_t n_path) {
    mmrt_error err = {0};
    snprintf(path, n_path, "%s/%s", dir, name);
    if (mmrt_json_load_file(path, out, &err) != MMRT_OK) bench_die("loading the model", &err);
}

/* A .gguf file: its weights and the config built from its keys (fusion/gguf_model.h). */
static void model_open_gguf(const char *path, bench_model *m) {
    mmrt_error err = {0};
    mmrt_gguf_model g;
    if (mmrt_gguf_model_open(path, &g, &err) != MMRT_OK) bench_die("loading the model", &err);
    if (mmrt_llm_hparams_parse(g.config, path, &m->hp, &err) != MMRT_OK) bench_die("config", &err);
    m->w = g.weights;
    g.weights = NULL;
    mmrt_gguf_model_free(&g);
}

static void model_open(const char *dir, bench_model *m) {
    double t0 = bench_now_s();
    mmrt_error err = {0};
    const char *prefix = "model.";
    if (mmrt_gguf_model_is_path(dir)) {
        model_open_gguf(dir, m);
    } else {
        char path[4200];
        cJSON *cfg = NULL, *gen = NULL;
        load_json(dir, "config.json", &cfg, path, sizeof path);
        /* a vision-language checkpoint (SmolVLM / Idefics3): its decoder is "text_config" and its
         * weights are under model.text_model. (lm_head.weight stays at the top) */
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(cfg, "text_config");
        if (cJSON_IsObject(text)) prefix = "model.text_model.";
        if (mmrt_llm_hparams_parse(cJSON_IsObject(text) ? text : cfg, path, &m->hp, &err) != MMRT_OK)
            bench_die("config", &err);
        cJSON_Delete(cfg);
        load_json(dir, "generation_config.json", &gen, path, sizeof path);
        if (mmrt_llm_hparams_apply_generation_config(&m->hp, gen, path, &err) != MMRT_OK)
            bench_die("generation config", &err);
        cJSON_Delete(gen);
        if (mmrt_weights_open(dir, &m->w, &err) != MMRT_OK) bench_die("weights", &err);
    }
    m->prefix = prefix;
    if (mmrt_llm_init(&m->llm, &m->hp, m->w, prefix, &err) != MMRT_OK) bench_die("weights", &err);
    m->load_s = bench_now_s() - t0;
}

/* --quant: the decoder quantized as mmrt_model_load does it (fusion/quantize.h). It runs OpenMP
 * threads, so it comes after the bandwidth probe has forked. */
static void model_quantize(bench_model *m, const char *quant, int n_threads) {
    mmrt_error err = {0};
    mmrt_dtype qt;
    double t0 = bench_now_s();
    if (mmrt_quant_type_parse(quant, &qt, &err) != MMRT_OK) bench_die("--quant", &err);
    mmrt_llm_free(&m->llm);
    mmrt_weights *src = m->w;
    if (mmrt_weights_quantize(src, qt, n_threads, &m->w, &err) != MMRT_OK) bench_die("--quant", &err);
    if (mmrt_llm_init(&m->llm, &m->hp, m->w, m->prefix, &err) != MMRT_OK) bench_die("weights", &err);
    m->load_s += bench_now_s() - t0;
}

static int32_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

typedef struct rep_time {
    double prefill_s, decode_s;
} rep_time;

/* One rep from an empty cache: prefill n_prompt ids, then n_gen greedy single-token steps, each
 * step's seconds written to step_s when not NULL. */
static rep_time run_rep(const bench_model *m, mmrt_llm_state *s, const int32_t *prompt,
                        int64_t n_prompt, int64_t n_gen, float *logits, double *step_s,
                        bool profile) {
    mmrt_error err = {0};
    rep_time r;
    s->n_past = 0; /* the cache rows are overwritten; nothing else depends on old contents */
    mmrt_llm_batch b = {.ids = prompt, .n_tok = n_prompt, .logits = logits};
    double t0 = bench_now_s();
    if (mmrt_llm_decode(&m->llm, s, &b, &err) != MMRT_OK) bench_die("prefill", &err);
    double t1 = bench_now_s(), ts = t1;
    int32_t tok = argmax(logits, m->hp.n_vocab);
    op_profile_record(profile);
    for (int64_t i = 0; i < n_gen; i++) {
        mmrt_llm_batch next = {.ids = &tok, .n_tok = 1, .logits = logits};
        if (mmrt_llm_decode(&m->llm, s, &next, &err) != MMRT_OK) bench_die("decode", &err);
        tok = argmax(logits, m->hp.n_vocab);
        double te = bench_now_s();
        if (step_s) step_s[i] = te - ts;
        ts = te;
    }
    op_profile_record(false);
    r.prefill_s = t1 - t0;
    r.decode_s = ts - t1;
    return r;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- report ----------------------------------------------------------------------------- */

typedef struct results {
    char cpu[128];
    const char *simd;
    bool has_bf16;
    int64_t n_ctx;
    double prefill_best, prefill_mean; /* tok/s */
    double decode_best, decode_mean;   /* tok/s over a whole rep */
    double decode_median_step_s;       /* over every timed decode step */
    double peak_rss_mib;
    double others_cores; /* CPU other processes used during the timed reps, in cores */
    double profile_step_s;
    bandwidth bw;
} results;

static void print_text(const options *o, const bench_model *m, const results *r) {
    const bandwidth *bw = &r->bw;
    double wb = (double)m->llm.weight_bytes, read_all = (double)bw->buf_bytes / bw->read_all_s;
    double bound = read_all / wb;
    printf("mmrt-bench  %s\n", o->model);
    printf("  cpu                %s, %d cores; SIMD %s, avx512_bf16 %s\n", r->cpu, bw->all_threads,
           r->simd, r->has_bf16 ? "yes" : "no");
    printf("  model              %s, %lld layers, n_embd %lld, n_ff %lld, vocab %lld, %s; loaded in %.2f s\n",
           m->hp.model_type, (long long)m->hp.n_layer, (long long)m->hp.n_embd,
           (long long)m->hp.n_ff, (long long)m->hp.n_vocab, mmrt_dtype_name(m->llm.layers[0].wq.type),
           m->load_s);
    printf("  run                %d threads, prompt %lld, gen %lld, ctx %lld, %d reps\n\n",
           o->n_threads, (long long)o->n_prompt, (long long)o->n_gen, (long long)r->n_ctx, o->reps);
    printf("  prefill            %9.1f tok/s    best rep (mean %.1f)\n", r->prefill_best, r->prefill_mean);
    printf("  decode             %9.1f tok/s    best rep (mean %.1f; median step %.1f tok/s)\n",
           r->decode_best, r->decode_mean, 1.0 / r->decode_median_step_s);
    printf("  decode latency     %9.2f ms/token\n", 1e3 / r->decode_best);
    printf("  weight bytes/token %9.1f MB\n", wb / 1e6);
    printf("  read bandwidth     %9.1f GB/s     %d threads, %s loads, %.0f MiB, best of %d passes",
           read_all / GB, bw->all_threads, membw_kernel_name(), (double)bw->buf_bytes / MIB, bw->n_read);
    if (o->n_threads != bw->all_threads)
        printf(" (%d threads: %.1f GB/s)", o->n_threads, (double)bw->buf_bytes / bw->read_bench_s / GB);
    printf("\n  memcpy             %9.1f GB/s     bytes copied, %d threads\n",
           (double)(bw->buf_bytes / 2) / bw->copy_s / GB, bw->all_threads);
    printf("  weights read       %9.1f GB/s     the mapped weights themselves, %d threads\n",
           (double)bw->weights_bytes / bw->weights_s / GB, o->n_threads);
    printf("  decode bound       %9.1f tok/s    read bandwidth / weight bytes\n", bound);
    printf("  fraction of bound  %9.1f %%        target >= 60 %%\n", 100 * r->decode_best / bound);
    printf("  peak RSS           %9.1f MiB\n", r->peak_rss_mib);
    if (r->others_cores >= 0)
        printf("  other load         %9.2f cores    used by other processes during the reps%s\n",
               r->others_cores,
               r->others_cores > 0.1 * bw->all_threads ? ": figures disturbed, rerun when idle" : "");
    if (o->profile) op_profile_print_text(stdout, "token", o->n_gen, r->profile_step_s);
}

static void print_json(const options *o, const bench_model *m, const results *r) {
    const bandwidth *bw = &r->bw;
    double wb = (double)m->llm.weight_bytes, read_all = (double)bw->buf_bytes / bw->read_all_s;
    double bound = read_all / wb;
    printf("{\n");
    bench_json_str("model", o->model);
    bench_json_str("cpu", r->cpu);
    printf("  \"cores\": %d,\n", bw->all_threads);
    printf("  \"simd\": \"%s\",\n  \"avx512_bf16\": %s,\n  \"threads\": %d,\n", r->simd,
           r->has_bf16 ? "true" : "false", o->n_threads);
    printf("  \"prompt_tokens\": %lld,\n  \"gen_tokens\": %lld,\n  \"ctx\": %lld,\n  \"reps\": %d,\n",
           (long long)o->n_prompt, (long long)o->n_gen, (long long)r->n_ctx, o->reps);
    printf("  \"prefill_tok_s\": %.2f,\n  \"prefill_tok_s_mean\": %.2f,\n", r->prefill_best,
           r->prefill_mean);
    printf("  \"decode_tok_s\": %.2f,\n  \"decode_tok_s_mean\": %.2f,\n", r->decode_best, r->decode_mean);
    printf("  \"decode_tok_s_median_step\": %.2f,\n  \"decode_ms_per_token\": %.3f,\n",
           1.0 / r->decode_median_step_s, 1e3 / r->decode_best);
    printf("  \"weight_bytes_per_token\": %zu,\n", m->llm.weight_bytes);
    printf("  \"read_bw_gb_s\": %.2f,\n  \"read_bw_gb_s_bench_threads\": %.2f,\n", read_all / GB,
           (double)bw->buf_bytes / bw->read_bench_s / GB);
    printf("  \"memcpy_gb_s\": %.2f,\n  \"weights_read_gb_s\": %.2f,\n",
           (double)(bw->buf_bytes / 2) / bw->copy_s / GB, (double)bw->weights_bytes / bw->weights_s / GB);
    printf("  \"bound_tok_s\": %.2f,\n  \"fraction_of_bound\": %.4f,\n", bound, r->decode_best / bound);
    printf("  \"peak_rss_mib\": %.1f,\n  \"other_load_cores\": %.2f", r->peak_rss_mib, r->others_cores);
    if (o->profile) {
        printf(",\n");
        op_profile_print_json(stdout, "token", o->n_gen, r->profile_step_s);
    }
    printf("\n}\n");
}

/* Bytes one decoded token reads where the weights will live, called before the upload: on a
 * device under exact f32 math, 16-bit weights are widened to f32. */
static double device_weight_bytes(const bench_model *m, mmrt_math math) {
    double wb = (double)m->llm.weight_bytes;
    size_t es = mmrt_dtype_size(m->llm.layers[0].wq.type);
    return math == MMRT_MATH_F32 && es < 4 ? wb * 4.0 / (double)es : wb;
}

static void print_device(const options *o, const bench_model *m, const results *r, double dev_wb,
                         int64_t n_fallback) {
    double bound = o->tbps * 1e12 / dev_wb;
    printf("mmrt-bench  %s\n", o->model);
    printf("  device             %s, math %s\n", o->device, o->math);
    printf("  model              %s, %lld layers, n_embd %lld, n_ff %lld, vocab %lld, %s; loaded in %.2f s\n",
           m->hp.model_type, (long long)m->hp.n_layer, (long long)m->hp.n_embd, (long long)m->hp.n_ff,
           (long long)m->hp.n_vocab, mmrt_dtype_name(m->llm.layers[0].wq.type), m->load_s);
    printf("  run                prompt %lld, gen %lld, ctx %lld, %d reps\n\n", (long long)o->n_prompt,
           (long long)o->n_gen, (long long)r->n_ctx, o->reps);
    printf("  prefill            %9.1f tok/s    best rep (mean %.1f)\n", r->prefill_best, r->prefill_mean);
    printf("  decode             %9.1f tok/s    best rep (mean %.1f; median step %.1f tok/s)\n",
           r->decode_best, r->decode_mean, 1.0 / r->decode_median_step_s);
    printf("  decode latency     %9.3f ms/token\n", 1e3 / r->decode_best);
    printf("  weight bytes/token %9.1f MB       on the device\n", dev_wb / 1e6);
    printf("  decode bound       %9.1f tok/s    %.2f TB/s (--tbps) / weight bytes\n", bound, o->tbps);
    printf("  fraction of bound  %9.1f %%\n", 100 * r->decode_best / bound);
    printf("  CPU fallbacks      %9lld ops       ops the device backend did not run (should be 0)\n",
           (long long)n_fallback);
    if (o->profile) op_profile_print_text(stdout, "token", o->n_gen, r->profile_step_s);
}

static void print_device_json(const options *o, const results *r, double dev_wb) {
    double bound = o->tbps * 1e12 / dev_wb;
    printf("{\n");
    bench_json_str("model", o->model);
    bench_json_str("device", o->device);
    bench_json_str("math", o->math);
    printf("  \"prompt_tokens\": %lld,\n  \"gen_tokens\": %lld,\n  \"ctx\": %lld,\n  \"reps\": %d,\n",
           (long long)o->n_prompt, (long long)o->n_gen, (long long)r->n_ctx, o->reps);
    printf("  \"prefill_tok_s\": %.2f,\n  \"prefill_tok_s_mean\": %.2f,\n", r->prefill_best, r->prefill_mean);
    printf("  \"decode_tok_s\": %.2f,\n  \"decode_tok_s_mean\": %.2f,\n", r->decode_best, r->decode_mean);
    printf("  \"decode_tok_s_median_step\": %.2f,\n  \"decode_ms_per_token\": %.4f,\n",
           1.0 / r->decode_median_step_s, 1e3 / r->decode_best);
    printf("  \"weight_bytes_per_token\": %.0f,\n  \"tbps\": %.3f,\n", dev_wb, o->tbps);
    printf("  \"bound_tok_s\": %.2f,\n  \"fraction_of_bound\": %.4f", bound, r->decode_best / bound);
    if (o->profile) {
        printf(",\n");
        op_profile_print_json(stdout, "token", o->n_gen, r->profile_step_s);
    }
    printf("\n}\n");
}

/* ---- main ------------------------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmrt-bench --model DIR [--threads N] [--prompt-tokens P] [--gen-tokens G]\n"
            "                  [--ctx N] [--reps R] [--profile] [--json]\n"
            "       mmrt-bench --vision --model DIR [--threads N] [--tiles T] [--image WxH]\n"
            "                  [--reps R] [--profile] [--json]\n"
            "       mmrt-bench --caption IMAGE --model DIR [--threads N] [--gen-tokens G] [--reps R] [--json]\n"
            "       mmrt-bench --audio --model DIR [--threads N] [--audio-file F | --seconds S] [--window W]\n"
            "                  [--gen-tokens G] [--prompt-tokens P] [--reps R] [--profile] [--json]\n"
            "  (decode and --caption also take [--device cpu|cuda] [--math f32|tf32|bf16|f16]; decode [--tbps B])\n"
            "  --threads N        CPU threads (default: all cores)\n"
            "  --prompt-tokens P  prefill length (default 128)\n"
            "  --gen-tokens G     decoded tokens per rep (default 64)\n"
            "  --ctx N            KV cache rows (default P + G)\n"
            "  --reps R           timed reps after one warm-up rep (default 3)\n"
            "  --profile          time every backend op in the decode steps of one more rep\n"
            "  --json             print the results as JSON\n"
            "  --vision           SmolVLM image side: GEMM peaks, ViT encode, preprocessing\n"
            "  --tiles T          --vision: 512x512 tiles per encode call (default 1)\n"
            "  --image WxH        --vision: size of the generated photo to preprocess (1024x768)\n"
            "  --caption IMAGE    the whole caption of IMAGE through the public API, per stage\n"
            "                     (with --gen-tokens, --reps, --threads, --json)\n"
            "  --audio            Granite Speech (bench/make_granite_speech.py): features, conformer,\n"
            "                     projector, prefill and decode per 30 s window, the real-time factor,\n"
            "                     each stage against the f32 GEMM peak / read bandwidth; CPU only\n"
            "  --audio-file F     --audio: transcribe F's speech (any format mmrt reads) instead of\n"
            "  --seconds S        S seconds of generated speech-like sound (default 60)\n"
            "  --window W         --audio: window length in seconds, as mmrt transcribe --window (30)\n"
            "                     --audio takes --gen-tokens as the text tokens of the whole audio (150),\n"
            "                     shared by the windows, --prompt-tokens as the prompt's text ids per\n"
            "                     window beside its audio tokens (20), --reps default 2\n"
            "  --device D         cpu (default) or cuda: the backend the decoder runs on\n"
            "  --math M           f32 (default), bf16, int8 (quantized weights as llama.cpp), tf32 or f16 (GPU)\n"
            "  --quant Q          quantize the decoder at load: q8_0, q4_0 or q4_k (--model may also be a .gguf)\n"
            "  --tbps B           --device cuda: memory bandwidth of the decode bound, TB/s (3.0)\n");
}

static int64_t int_arg(int argc, char **argv, int *i, int64_t min) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "mmrt-bench: %s needs a value\n", argv[*i]);
        exit(2);
    }
    char *end;
    long long v = strtoll(argv[++*i], &end, 10);
    if (*end || v < min) {
        fprintf(stderr, "mmrt-bench: %s: expected an integer >= %lld, got \"%s\"\n", argv[*i - 1],
                (long long)min, argv[*i]);
        exit(2);
    }
    return v;
}

static options parse_args(int argc, char **argv) {
    options o = {.n_threads = omp_get_num_procs(), .n_prompt = 128, .n_gen = 64, .reps = 3,
                 .n_tiles = 1, .image_w = 1024, .image_h = 768, .device = "cpu", .math = "f32",
                 .tbps = 3.0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--model") == 0 && i + 1 < argc) o.model = argv[++i];
        else if (strcmp(a, "--threads") == 0) o.n_threads = (int)int_arg(argc, argv, &i, 1);
        else if (strcmp(a, "--prompt-tokens") == 0) o.n_prompt = int_arg(argc, argv, &i, 1), o.prompt_given = true;
        else if (strcmp(a, "--gen-tokens") == 0) o.n_gen = int_arg(argc, argv, &i, 1), o.gen_given = true;
        else if (strcmp(a, "--ctx") == 0) o.n_ctx = int_arg(argc, argv, &i, 1);
        else if (strcmp(a, "--reps") == 0) o.reps = (int)int_arg(argc, argv, &i, 1), o.reps_given = true;
        else if (strcmp(a, "--profile") == 0) o.profile = true;
        else if (strcmp(a, "--json") == 0) o.json = true;
        else if (strcmp(a, "--vision") == 0) o.vision = true;
        else if (strcmp(a, "--audio") == 0) o.audio = true;
        else if (strcmp(a, "--audio-file") == 0 && i + 1 < argc) o.audio_file = argv[++i];
        else if ((strcmp(a, "--seconds") == 0 || strcmp(a, "--window") == 0) && i + 1 < argc) {
            char *end;
            double v = strtod(argv[++i], &end);
            if (*end || !(v >= 1.0 && v <= 36000.0)) {
                fprintf(stderr, "mmrt-bench: %s: expected seconds from 1 to 36000, got \"%s\"\n", a, argv[i]);
                exit(2);
            }
            if (a[2] == 's') o.audio_s = v;
            else o.window_s = v;
        }
        else if (strcmp(a, "--caption") == 0 && i + 1 < argc) o.caption = argv[++i];
        else if (strcmp(a, "--device") == 0 && i + 1 < argc) o.device = argv[++i];
        else if (strcmp(a, "--math") == 0 && i + 1 < argc) o.math = argv[++i];
        else if (strcmp(a, "--quant") == 0 && i + 1 < argc) o.quant = argv[++i];
        else if (strcmp(a, "--tbps") == 0 && i + 1 < argc) {
            char *end;
            o.tbps = strtod(argv[++i], &end);
            if (*end || !(o.tbps > 0)) {
                fprintf(stderr, "mmrt-bench: --tbps: expected a positive number, got \"%s\"\n", argv[i]);
                exit(2);
            }
        }
        else if (strcmp(a, "--tiles") == 0) o.n_tiles = int_arg(argc, argv, &i, 1);
        else if (strcmp(a, "--image") == 0 && i + 1 < argc) {
            int w = 0, h = 0;
            char tail;
            if (sscanf(argv[++i], "%dx%d%c", &w, &h, &tail) != 2 || w < 1 || h < 1 || w > 16384 || h > 16384) {
                fprintf(stderr, "mmrt-bench: --image: expected WxH (1..16384), got \"%s\"\n", argv[i]);
                exit(2);
            }
            o.image_w = w, o.image_h = h;
        }
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) usage(stdout), exit(0);
        else {
            fprintf(stderr, "mmrt-bench: unknown or incomplete argument \"%s\"\n", a);
            usage(stderr);
            exit(2);
        }
    }
    if (!o.model) {
        usage(stderr);
        exit(2);
    }
    if (o.n_tiles > 64) {
        fprintf(stderr, "mmrt-bench: --tiles %lld: at most 64\n", (long long)o.n_tiles);
        exit(2);
    }
    mmrt_device_kind dk;
    mmrt_math mk;
    mmrt_error err = {0};
    if (mmrt_device_parse(o.device, &dk, &err) != MMRT_OK || dk == MMRT_DEVICE_KIND_AUTO ||
        mmrt_math_parse(o.math, &mk, &err) != MMRT_OK) {
        fprintf(stderr, "mmrt-bench: --device %s --math %s: %s\n", o.device, o.math,
                err.msg[0] ? err.msg : "expected cpu or cuda");
        exit(2);
    }
    if (o.vision && dk != MMRT_DEVICE_KIND_CPU) {
        fprintf(stderr, "mmrt-bench: --vision runs on the CPU only (--caption takes --device)\n");
        exit(2);
    }
    if (o.audio && dk != MMRT_DEVICE_KIND_CPU) {
        fprintf(stderr, "mmrt-bench: --audio runs on the CPU only\n");
        exit(2);
    }
    if ((o.audio_file || o.audio_s > 0 || o.window_s > 0) && !o.audio) {
        fprintf(stderr, "mmrt-bench: --audio-file, --seconds and --window go with --audio\n");
        exit(2);
    }
    if (o.audio_file && o.audio_s > 0) {
        fprintf(stderr, "mmrt-bench: --audio-file and --seconds: give one (the file sets the length)\n");
        exit(2);
    }
    o.dev_kind = dk, o.math_kind = mk;
    if (o.audio) {
        o.n_text = o.gen_given ? o.n_gen : 150;
        o.n_prompt_text = o.prompt_given ? o.n_prompt : 20;
        if (!o.reps_given) o.reps = 2;
        if (o.audio_s == 0) o.audio_s = 60;
        if (o.window_s == 0) o.window_s = 30;
        return o;
    }
    if (o.n_ctx == 0) o.n_ctx = o.n_prompt + o.n_gen;
    if (o.n_ctx < o.n_prompt + o.n_gen) {
        fprintf(stderr, "mmrt-bench: --ctx %lld is smaller than prompt + gen tokens (%lld)\n",
                (long long)o.n_ctx, (long long)(o.n_prompt + o.n_gen));
        exit(2);
    }
    return o;
}

int main(int argc, char **argv) {
    options o = parse_args(argc, argv);
    if (o.audio) {
        bench_audio_opts ao = {.model = o.model, .audio_file = o.audio_file, .seconds = o.audio_s,
                               .window_s = o.window_s, .n_text_tokens = o.n_text, .n_prompt_text = o.n_prompt_text,
                               .n_threads = o.n_threads, .reps = o.reps, .profile = o.profile, .json = o.json,
                               .math = o.math, .math_kind = o.math_kind};
        return bench_audio_run(&ao);
    }
    if (o.caption) {
        bench_caption_opts co = {.model = o.model, .image = o.caption, .n_threads = o.n_threads, .reps = o.reps,
                                 .n_gen = (int)o.n_gen, .json = o.json, .device = o.device, .math = o.math,
                                 .device_kind = o.dev_kind == MMRT_DEVICE_KIND_CUDA ? MMRT_DEVICE_CUDA : MMRT_DEVICE_CPU,
                                 .math_kind = o.math_kind};
        return bench_caption_run(&co);
    }
    if (o.vision) {
        bench_vision_opts vo = {.model = o.model, .n_threads = o.n_threads, .reps = o.reps,
                                .n_tiles = (int32_t)o.n_tiles,
                                .image_w = o.image_w, .image_h = o.image_h,
                                .profile = o.profile, .json = o.json, .math = o.math, .math_kind = o.math_kind};
        return bench_vision_run(&vo);
    }
    signal(SIGPIPE, SIG_IGN); /* a dead probe process shows as a failed write, not a kill */
    results r = {0};
    bench_cpu_name(r.cpu, sizeof r.cpu);
    mmrt_simd_detect(&r.has_bf16);
    r.simd = mmrt_simd_level_name(mmrt_simd_level_get());
    r.n_ctx = o.n_ctx;

    bench_model m;
    model_open(o.model, &m); /* runs no OpenMP region, so the probe can be forked next */
    const bool on_cpu = o.dev_kind == MMRT_DEVICE_KIND_CPU;
    bandwidth *bw = &r.bw;
    bw->all_threads = omp_get_num_procs();
    size_t n = 4 * m.llm.weight_bytes > BW_MIN_BYTES ? 4 * m.llm.weight_bytes : BW_MIN_BYTES;
    bw->buf_bytes = (n + 4095) & ~(size_t)4095;
    membw_probe probe;
    if (on_cpu) { /* host memory bandwidth bounds the CPU only */
        if (membw_probe_start(&probe, bw->buf_bytes, bw->all_threads) != 0)
            bench_die("cannot start the bandwidth probe process (fork, or no memory for its buffer)", NULL);
    }
    if (o.quant) model_quantize(&m, o.quant, o.n_threads);
    if (on_cpu) bw->weights = bench_llm_weight_regions(&m.llm, &bw->n_weights, &bw->weights_bytes);

    mmrt_error err = {0};
    mmrt_backend *be = NULL;
    mmrt_backend_params bp = {.device = o.dev_kind, .n_threads = o.n_threads, .math = o.math_kind};
    if (mmrt_backend_init(&bp, &be, &err) != MMRT_OK) bench_die("backend", &err);
    const double dev_wb = device_weight_bytes(&m, o.math_kind);
    mmrt_weight_upload up; /* the weights on the device, as mmrt_model_load puts them there */
    mmrt_weight_upload_init(&up, be, o.math_kind);
    if (mmrt_llm_upload(&m.llm, &up, &err) != MMRT_OK || mmrt_weight_upload_finish(&up, &err) != MMRT_OK)
        bench_die("uploading the weights", &err);
    mmrt_llm_state st;
    if (mmrt_llm_state_init(&st, &m.llm, be, o.n_ctx, 0, &err) != MMRT_OK) bench_die("state", &err);

    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)o.n_prompt);
    float *logits = malloc(sizeof(float) * (size_t)m.hp.n_vocab);
    double *steps = malloc(sizeof(double) * (size_t)(o.n_gen * o.reps));
    if (!prompt || !logits || !steps) bench_die("out of memory", NULL);
    uint64_t x = 0x9E3779B97F4A7C15u; /* xorshift64: the same prompt every run */
    for (int64_t i = 0; i < o.n_prompt; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        prompt[i] = (int32_t)(x % (uint64_t)m.hp.n_vocab);
    }

    run_rep(&m, &st, prompt, o.n_prompt, o.n_gen, logits, NULL, false); /* warm-up */
    if (on_cpu) bw_sample(&probe, o.n_threads, bw);
    double pf_sum = 0, dc_sum = 0, others_s = 0, reps_s = 0;
    for (int i = 0; i < o.reps; i++) {
        /* load is sampled around the reps only: the probe's passes are not "other" load */
        bench_load l0 = bench_load_now();
        rep_time t = run_rep(&m, &st, prompt, o.n_prompt, o.n_gen, logits, steps + i * o.n_gen, false);
        bench_load l1 = bench_load_now();
        double others = bench_load_others(l0, l1);
        others_s = others < 0 || others_s < 0 ? -1 : others_s + others * (l1.wall - l0.wall);
        reps_s += l1.wall - l0.wall;
        double pf = (double)o.n_prompt / t.prefill_s, dc = (double)o.n_gen / t.decode_s;
        pf_sum += pf, dc_sum += dc;
        if (pf > r.prefill_best) r.prefill_best = pf;
        if (dc > r.decode_best) r.decode_best = dc;
        if (on_cpu) bw_sample(&probe, o.n_threads, bw);
    }
    r.others_cores = others_s < 0 ? -1 : others_s / reps_s;
    r.prefill_mean = pf_sum / o.reps;
    r.decode_mean = dc_sum / o.reps;
    qsort(steps, (size_t)(o.n_gen * o.reps), sizeof *steps, cmp_double);
    r.decode_median_step_s = steps[o.n_gen * o.reps / 2];
    if (o.profile) {
        op_profile_install(be);
        op_profile_name_llm(&m.llm);
        r.profile_step_s = run_rep(&m, &st, prompt, o.n_prompt, o.n_gen, logits, NULL, true).decode_s;
        op_profile_remove(be);
    }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r.peak_rss_mib = (double)ru.ru_maxrss * 1024.0 / MIB; /* ru_maxrss is in KiB on Linux */
    if (on_cpu) membw_probe_stop(&probe);

    if (!on_cpu && o.json) print_device_json(&o, &r, dev_wb);
    else if (!on_cpu) print_device(&o, &m, &r, dev_wb, be->n_fallback);
    else if (o.json) print_json(&o, &m, &r);
    else print_text(&o, &m, &r);

    free(prompt);
    free(logits);
    free(steps);
    free(bw->weights);
    mmrt_llm_state_free(&st);
    mmrt_weight_upload_free(&up);
    mmrt_backend_free(be);
    mmrt_llm_free(&m.llm);
    mmrt_weights_free(m.w);
    return 0;
}
