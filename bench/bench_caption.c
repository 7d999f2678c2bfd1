#include "bench_caption.h"

#include "bench_common.h"

#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>

static void die(const char *what, const char *msg) {
    fprintf(stderr, "mmrt-bench: %s: %s\n", what, msg);
    exit(1);
}

/* Per stage, the best (least disturbed) of the timed reps. */
typedef struct best {
    double load, encode, prefill, decode, total;
} best;

static double min_d(double a, double b) { return a < b ? a : b; }

int bench_caption_run(const bench_caption_opts *o) {
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = o->device_kind;
    mp.math = o->math_kind;
    mp.n_threads = o->n_threads;
    mp.offline = true;
    mmrt_model *model = NULL;
    if (mmrt_model_load(o->model, &mp, &model) != MMRT_OK) die(o->model, mmrt_last_error());
    mmrt_session *s = NULL;
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = o->n_gen;
    mmrt_part image = mmrt_image_file_part(o->image);
    mmrt_generate_result r = {.size = sizeof r};
    best b = {1e30, 1e30, 1e30, 1e30, 1e30};
    double others = 0;
    for (int rep = 0; rep <= o->reps; rep++) { /* rep 0 warms up */
        /* a new session each rep: a session's KV cache would keep the image's prefix and skip its
         * encoding the second time */
        mmrt_session_free(s);
        if (mmrt_session_init(model, NULL, &s) != MMRT_OK) die("session", mmrt_last_error());
        bench_load l0 = bench_load_now();
        double t0 = bench_now_s();
        if (mmrt_session_caption(s, &image, &gp, &r) != MMRT_OK) die(o->image, mmrt_session_last_error(s));
        double total = (bench_now_s() - t0) * 1e3;
        if (rep == 0) continue;
        double busy = bench_load_others(l0, bench_load_now());
        if (busy > others) others = busy;
        b.load = min_d(b.load, r.image_load_ms);
        b.encode = min_d(b.encode, r.image_encode_ms);
        b.prefill = min_d(b.prefill, r.prefill_ms);
        b.decode = min_d(b.decode, r.decode_ms);
        b.total = min_d(b.total, total);
    }
    /* the first generated token comes out of the prefill pass; the others each cost a decode */
    int n_dec = r.n_generated > 1 ? r.n_generated - 1 : 0;
    double per_tile = r.n_image_tiles ? b.encode / r.n_image_tiles : 0;
    double prefill_tps = r.n_prompt_tokens / (b.prefill / 1e3);
    double decode_tps = n_dec / (b.decode / 1e3 + 1e-12);
    if (o->json) {
        printf("{\n");
        bench_json_str("model", o->model);
        bench_json_str("image", o->image);
        bench_json_str("device", o->device);
        bench_json_str("math", o->math);
        printf("  \"threads\": %d, \"reps\": %d, \"tiles\": %d, \"prompt_tokens\": %d, \"image_tokens\": %d,\n"
               "  \"generated_tokens\": %d, \"load_preprocess_ms\": %.1f, \"encode_ms\": %.1f, \"encode_ms_per_tile\": %.1f,\n"
               "  \"prefill_ms\": %.1f, \"prefill_tok_s\": %.1f, \"decode_ms\": %.1f, \"decode_tok_s\": %.1f,\n"
               "  \"total_ms\": %.1f, \"other_load_cores\": %.2f\n}\n",
               o->n_threads, o->reps, r.n_image_tiles, r.n_prompt_tokens, r.n_image_tokens, r.n_generated, b.load,
               b.encode, per_tile, b.prefill, prefill_tps, b.decode, decode_tps, b.total, others);
    } else {
        printf("caption of %s with %s on %s (math %s), %d threads, best of %d reps:\n", o->image, o->model, o->device,
               o->math, o->n_threads, o->reps);
        printf("  decode + preprocess   %8.1f ms\n", b.load);
        printf("  ViT + connector       %8.1f ms  (%d tiles, %.1f ms per tile)\n", b.encode, r.n_image_tiles, per_tile);
        printf("  prefill               %8.1f ms  (%d tokens, %d of them image tokens: %.1f tok/s)\n", b.prefill,
               r.n_prompt_tokens, r.n_image_tokens, prefill_tps);
        printf("  decode                %8.1f ms  (%d tokens: %.1f tok/s)\n", b.decode, n_dec, decode_tps);
        printf("  total                 %8.1f ms  (other processes used up to %.2f cores meanwhile)\n", b.total,
               others);
    }
    mmrt_session_free(s);
    mmrt_model_free(model);
    return 0;
}
